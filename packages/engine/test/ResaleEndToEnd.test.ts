/**
 * The worked example of docs/worked-example.md, end to end on a real database: one tenant (USD)
 * reselling to two customers on different sale price books, with calls in a second currency
 * (EUR), from raw provider payloads to customer statements and FOCUS 1.3 exports whose totals are
 * computed by hand below (and in the docs).
 *
 * 1,000 calls of each of four raw payloads (shipped in fixtures/payloads):
 *   a1  acme    openai gpt-4.1-nano      16 input, 363 output tokens            2026-03-02 10:00
 *   a2  acme    mistral-small-latest     13 input, 434 output tokens (EUR)      2026-03-03 10:00
 *   g1  globex  openai gpt-4o Scale Tier 86 input, 1,920 cache read, 300 output 2026-03-02 12:00
 *   g2  globex  openai gpt-4.1-nano      16 input, 363 output tokens            2026-03-03 12:00
 * acme holds a 0.10 USD credit pack; the tenant bought provisioned throughput for gpt-4o
 * (1 USD per hour, 12:00-13:00 on 2 March), which serves the Scale Tier calls g1.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Catalog } from "@tally/catalog"
import { CostAllocation, Money, type Statement } from "@tally/core"
import { Credits as CreditStore, CustomerStatements, SalePrices, Tenants } from "@tally/store"
import { DateTime, Effect, Layer, Stream } from "effect"
import * as Chargeback from "../src/chargeback/index.ts"
import * as Commitments from "../src/Commitments.ts"
import * as Credits from "../src/Credits.ts"
import * as Currencies from "../src/Currencies.ts"
import * as FocusCommitments from "../src/FocusCommitments.ts"
import * as Ingest from "../src/Ingest.ts"
import * as SalePricing from "../src/SalePricing.ts"
import * as TenantPricing from "../src/TenantPricing.ts"
import { fixtureJson } from "./FixtureFiles.ts"
import * as FocusSpec from "./FocusSpec.ts"
import { backend, layerOptions, storeLayer, testTimeout } from "./TestStore.ts"

const testLayer = Layer.provideMerge(
  Layer.mergeAll(Ingest.Ingest.layer, SalePricing.SalePricing.layer, TenantPricing.TenantPricing.layer, Currencies.Currencies.layer, Chargeback.Chargeback.layer),
  Layer.merge(storeLayer, Catalog.Catalog.layer)
)

const utc = (text: string) => DateTime.makeUnsafe(text)
const d = (text: string) => new Money.Decimal(text)
const march = { from: utc("2026-03-01T00:00:00Z"), to: utc("2026-04-01T00:00:00Z") }
const payload = (name: string) => fixtureJson<{ payload: unknown }>(`payloads/${name}`).payload
const N = 1000

const kinds = [
  { id: "a1", customer: "acme", provider: "openai", file: "openai-chat-nano.json", at: "2026-03-02T10:00:00Z" },
  { id: "a2", customer: "acme", provider: "mistral", file: "mistral-chat-small.json", at: "2026-03-03T10:00:00Z" },
  { id: "g1", customer: "globex", provider: "openai", file: "openai-chat-gpt-4o-scale-tier.json", at: "2026-03-02T12:00:00Z" },
  { id: "g2", customer: "globex", provider: "openai", file: "openai-chat-nano.json", at: "2026-03-03T12:00:00Z" }
] as const

const events = kinds.flatMap((k) =>
  Array.from({ length: N }, (_, i) => ({
    requestId: `${k.id}-${String(i).padStart(4, "0")}`,
    occurredAt: k.at,
    provider: k.provider,
    labels: { customer: k.customer },
    payload: payload(k.file)
  }))
)

/** The tenant, its cost price book, its sale price book and its exchange rate, then the calls. */
const setup = Effect.gen(function*() {
  const tenant = yield* Tenants.Tenants.use((t) => t.create({ name: "Reseller Inc", currency: "USD" }))
  const pricing = yield* TenantPricing.TenantPricing
  // What the providers charge the tenant, per 1M tokens.
  yield* pricing.createDefinition(tenant.id, { id: "reseller/nano", provider: "openai", modelKey: "gpt-4.1-nano-2025-04-14", price: { rates: { inputText: "0.10", outputText: "0.40" } } })
  yield* pricing.createDefinition(tenant.id, { id: "reseller/4o", provider: "openai", modelKey: "gpt-4o-2024-08-06", price: { rates: { inputText: "2.50", cacheRead: "1.25", outputText: "10" } } })
  yield* pricing.createDefinition(tenant.id, { id: "reseller/mistral-small", provider: "mistral", modelKey: "mistral-small-latest", price: { currency: "EUR", rates: { inputText: "0.10", outputText: "0.30" } } })
  const sale = yield* SalePricing.SalePricing
  const common = { plan: null, provider: null, model: null, effectiveTo: null, effectiveFrom: utc("2026-01-01T00:00:00Z") }
  // acme pays cost + 25%; globex a list price per 1M tokens.
  yield* sale.addRule(tenant.id, { ...common, name: "acme cost plus 25%", customer: "acme", kind: "markup-percent", percent: d("25"), perUnit: null, rates: null, currency: null })
  yield* sale.addRule(tenant.id, { ...common, name: "globex list", customer: "globex", kind: "list-price", percent: null, perUnit: null, rates: { inputText: d("4"), cacheRead: d("2"), outputText: d("16") }, currency: "USD" })
  yield* Currencies.Currencies.use((fx) =>
    fx.import(tenant.id, "base,quote,date,rate,source\nEUR,USD,2026-03-03,1.08,ECB reference rate\n", "csv")
  )
  // acme's credit pack, drawn by sale price; the tenant's provisioned throughput for gpt-4o.
  const pack = yield* Credits.grant(tenant.id, { customer: "acme", unit: "USD", amount: "0.10", effectiveAt: "2026-03-01T00:00:00Z", note: "starter pack" })
  const pt = yield* Commitments.create(tenant.id, {
    name: "pt-4o",
    kind: "provisioned",
    provider: "openai",
    model: "gpt-4o-2024-08-06",
    currency: "USD",
    fee: "1",
    feePeriod: "hour",
    startsAt: "2026-03-02T12:00:00Z",
    endsAt: "2026-03-02T13:00:00Z"
  })
  const ingest = yield* Ingest.Ingest
  for (let i = 0; i < events.length; i += 1000) {
    const result = yield* ingest.ingest(tenant.id, events.slice(i, i + 1000))
    assert.strictEqual(result.inserted, Math.min(1000, events.length - i))
  }
  return { ...tenant, pack, pt }
})

const statementOf = (tenantId: string, customer: string, currency: string, groupBy: Statement.GroupBy = "model") =>
  CustomerStatements.CustomerStatements.use((s) => s.finalize(tenantId, { customer, ...march, currency, groupBy }, "finance"))

describe(`resale worked example on ${backend}`, () => {
  layer(testLayer, layerOptions)((it) => {
    it.effect("raw payloads -> statements per customer and currency, and FOCUS 1.3 cost and resale exports that add up by hand", () =>
      Effect.gen(function*() {
        const tenant = yield* setup

        // Statements (sell): rounded once, to cents, lines by largest remainder.
        // acme USD: 1,000 x (16 x 0.10 + 363 x 0.40) / 1M x 1.25 = 1,000 x 0.0001835 = 0.1835 -> 0.18
        const acmeUsd = (yield* statementOf(tenant.id, "acme", "USD"))!
        assert.deepStrictEqual([Money.format(acmeUsd.exactTotal), acmeUsd.total.toFixed(2), acmeUsd.requestCount], ["0.1835", "0.18", N])
        // acme EUR: 1,000 x (13 x 0.10 + 434 x 0.30) / 1M x 1.25 = 1,000 x 0.000164375 = 0.164375 -> 0.16
        const acmeEur = (yield* statementOf(tenant.id, "acme", "EUR"))!
        assert.deepStrictEqual([Money.format(acmeEur.exactTotal), acmeEur.total.toFixed(2)], ["0.164375", "0.16"])
        // globex USD: gpt-4o 1,000 x (86 x 4 + 1,920 x 2 + 300 x 16) / 1M = 8.984;
        // nano 1,000 x (16 x 4 + 363 x 16) / 1M = 5.872; 14.856 -> 14.86
        const globex = (yield* statementOf(tenant.id, "globex", "USD"))!
        assert.deepStrictEqual([Money.format(globex.exactTotal), globex.total.toFixed(2), globex.requestCount], ["14.856", "14.86", 2 * N])
        assert.isTrue(Money.sum(globex.lines.map((l) => l.amount)).equals(globex.total))

        // Provisioned throughput: g1 runs on the capacity at 0 (on demand 1,000 x 0.005615 = 5.615).
        const report = yield* Commitments.report(tenant.id, tenant.pt.id, march.from, march.to)
        assert.deepStrictEqual(
          [Money.format(report.fee), report.covered.calls, Money.format(report.covered.onDemand), Money.format(report.covered.charged)],
          ["1", N, "5.615", "0"]
        )
        // The credit pack: acme's USD calls draw 0.0001835 each by price; 544 calls draw 0.099824,
        // the 545th the 0.000176 left. 0.10 drawn, 0 remaining.
        const draws = yield* CreditStore.Credits.use((c) => c.drawdowns(tenant.id, { grantId: tenant.pack.id, limit: 10000 }))
        assert.deepStrictEqual([draws.length, Money.format(Money.sum(draws.map((x) => x.amount)))], [545, "0.1"])
        assert.isTrue(draws.every((x) => x.basis === "price"))

        // FOCUS 1.3, cost side (what the providers charge the tenant), converted into USD:
        // a1 0.1468 + g1 0 (on the capacity) + g2 0.1468 USD, and a2 0.1315 EUR x 1.08 = 0.14202 USD:
        // 0.43562; plus the capacity's fee, a Purchase of 1: 1.43562.
        const cost = yield* Chargeback.Chargeback.use((c) => c.usage(tenant.id, { ...march, convert: true }))
        const usageRows = FocusSpec.parseCsv((yield* Stream.runCollect(cost.csv)).join(""))
        // The commitments and purchases of March, as the exports serve them (FocusCommitments).
        const assembled = yield* FocusCommitments.assemble(tenant.id, march.from, march.to)
        const ptFee = CostAllocation.Focus.purchaseRows({ id: tenant.id, name: tenant.name }, assembled.purchases.filter((p) => p.commitment.category === "Usage"))
        assert.deepStrictEqual(ptFee.map((r) => [r.BilledCost, r.PricingQuantity, r.PricingUnit, r.ChargeDescription]), [["1", "1", "Hours", "pt-4o provisioned throughput, 1 hour"]])
        const costRows = FocusSpec.parseCsv(CostAllocation.Csv.focus(ptFee))
        const allCost = [...costRows.rows, ...usageRows.rows]
        assert.deepStrictEqual(FocusSpec.problems(usageRows.header, allCost, "1.3"), [])
        assert.strictEqual(Money.format(FocusSpec.total(usageRows.rows, "BilledCost")), "0.43562")
        assert.strictEqual(Money.format(FocusSpec.total(allCost, "BilledCost")), "1.43562")
        // The capacity's calls name it in ContractApplied: 2,306 tokens each, 5.615 on demand in all.
        const onCapacity = usageRows.rows.filter((r) => r["ContractApplied"] !== null)
        assert.strictEqual(onCapacity.length, 3 * N)
        const elements = onCapacity.flatMap((r) => FocusSpec.contractApplied(r["ContractApplied"]!))
        assert.strictEqual(Money.format(Money.sum(elements.map((e) => d(e["ContractCommitmentAppliedQuantity"]!)))), String(2306 * N))
        assert.strictEqual(Money.format(Money.sum(elements.map((e) => d(e["x_OnDemandCost"]!)))), "5.615")
        assert.isTrue(elements.every((e) => e["ContractCommitmentId"] === "commitment:pt-4o"))
        const eurRows = usageRows.rows.filter((r) => r["PricingCurrency"] === "EUR")
        assert.strictEqual(Money.format(FocusSpec.total(eurRows, "PricingCurrencyEffectiveCost")), "0.1315")
        assert.strictEqual(Money.format(FocusSpec.total(eurRows, "EffectiveCost")), "0.14202")

        // FOCUS 1.3, resale side (what the tenant charges its customers), converted into USD:
        // acme 0.1835 + 0.164375 x 1.08 = 0.1835 + 0.177525 = 0.361025; globex 14.856; total 15.217025.
        const prices = yield* SalePrices.SalePrices.use((s) => s.getMany(tenant.id, events.map((e) => e.requestId)))
        assert.strictEqual(prices.length, events.length)
        const rates = yield* Currencies.Currencies.use((fx) => fx.rates(tenant.id, { base: "EUR", quote: "USD" }))
        const packId = `credit:${tenant.pack.id}`
        const drawn = new Map(draws.map((x) => [x.requestId, x.amount]))
        const sold = prices.flatMap((p) => {
          if (p.status !== "priced" || p.currency === null) return []
          const conversion = p.currency === "EUR"
            ? { from: "EUR", to: "USD", rate: rates[0]!.rate, rateId: rates[0]!.id, date: "2026-03-03" }
            : undefined
          const amount = drawn.get(p.requestId)
          const applied = amount === undefined ? [] : [{ contractId: packId, commitmentId: packId, cost: amount, quantity: null, unit: null, prepaid: true }]
          return CostAllocation.Focus.soldRows({ id: tenant.id, name: tenant.name }, { ...p, currency: p.currency }, { conversion, applied })
        })
        const purchase = CostAllocation.Focus.purchaseRows({ id: tenant.id, name: tenant.name }, assembled.purchases.filter((p) => p.commitment.category === "Spend"))
        assert.deepStrictEqual(purchase.map((r) => [r.BilledCost, r.EffectiveCost, r.SubAccountName, r.ChargeDescription]), [["0.1", "0", "acme", "acme starter pack, 0.1 USD of credit"]])
        const resale = FocusSpec.parseCsv(CostAllocation.Csv.focus([...purchase, ...sold]))
        assert.deepStrictEqual(FocusSpec.problems(resale.header, resale.rows, "1.3"), [])
        const byCustomer = (customer: string) => resale.rows.filter((r) => r["SubAccountName"] === customer)
        // acme's usage bills 0.361025 - 0.10 drawn from the pack = 0.261025, plus the pack's 0.10.
        const acmeUsage = byCustomer("acme").filter((r) => r["ChargeCategory"] === "Usage")
        assert.strictEqual(Money.format(FocusSpec.total(acmeUsage, "BilledCost")), "0.261025")
        assert.strictEqual(Money.format(FocusSpec.total(acmeUsage, "EffectiveCost")), "0.361025")
        assert.strictEqual(Money.format(FocusSpec.total(byCustomer("acme"), "BilledCost")), "0.361025")
        assert.strictEqual(Money.format(FocusSpec.total(byCustomer("globex"), "BilledCost")), "14.856")
        assert.strictEqual(Money.format(FocusSpec.total(resale.rows, "BilledCost")), "15.217025")
        assert.strictEqual(Money.format(FocusSpec.total(resale.rows, "EffectiveCost")), "15.217025")
        const drawnInRows = resale.rows.filter((r) => r["ChargeCategory"] === "Usage" && r["ContractApplied"] !== null)
          .flatMap((r) => FocusSpec.contractApplied(r["ContractApplied"]!))
        assert.strictEqual(Money.format(Money.sum(drawnInRows.map((e) => d(e["ContractCommitmentAppliedCost"]!)))), "0.1")
        // The Contract Commitment dataset: the pack and the capacity.
        const dataset = CostAllocation.Focus.contractCommitmentRows(assembled.commitments)
        assert.deepStrictEqual(dataset.map((c) => [c.ContractCommitmentId, c.ContractCommitmentCategory, c.ContractCommitmentCost, c.ContractCommitmentQuantity]), [
          ["commitment:pt-4o", "Usage", "1", "1"],
          [packId, "Spend", "0.1", null]
        ])
        assert.isTrue(resale.rows.every((r) => r["ServiceProviderName"] === "Reseller Inc" && r["BillingCurrency"] === "USD"))
        // Margin in USD: 15.217025 - 1.43562 = 13.781405.
        assert.strictEqual(Money.format(FocusSpec.total(resale.rows, "EffectiveCost").minus(FocusSpec.total(allCost, "BilledCost"))), "13.781405")
      }), testTimeout)
  })
})
