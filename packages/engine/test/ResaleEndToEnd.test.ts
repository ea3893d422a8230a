/**
 * The worked example of docs/worked-example.md, end to end on a real database: one tenant (USD)
 * reselling to two customers on different sale price books, with calls in a second currency
 * (EUR), from raw provider payloads to customer statements and FOCUS 1.3 exports whose totals are
 * computed by hand below (and in the docs). The set-up and the calls are ResaleExample.ts.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Catalog } from "@tally/catalog"
import { CostAllocation, Money, type Statement } from "@tally/core"
import { Credits as CreditStore, CustomerStatements } from "@tally/store"
import { Effect, Layer, Stream } from "effect"
import * as Chargeback from "../src/chargeback/index.ts"
import * as Commitments from "../src/Commitments.ts"
import * as Currencies from "../src/Currencies.ts"
import * as FocusCommitments from "../src/FocusCommitments.ts"
import * as FocusSold from "../src/FocusSold.ts"
import * as Ingest from "../src/Ingest.ts"
import * as SalePricing from "../src/SalePricing.ts"
import * as TenantPricing from "../src/TenantPricing.ts"
import * as FocusSpec from "./FocusSpec.ts"
import { d, march, N, setup } from "./ResaleExample.ts"
import { backend, layerOptions, storeLayer, testTimeout } from "./TestStore.ts"

const testLayer = Layer.provideMerge(
  Layer.mergeAll(Ingest.Ingest.layer, SalePricing.SalePricing.layer, TenantPricing.TenantPricing.layer, Currencies.Currencies.layer, Chargeback.Chargeback.layer),
  Layer.merge(storeLayer, Catalog.Catalog.layer)
)

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
        // After the lines, the credit its calls drew from acme's pack (0.10, see below), and 0.18 - 0.10 = 0.08 due.
        assert.deepStrictEqual(acmeUsd.credits.map((c) => [c.grantId, c.name, Money.format(c.exactAmount), c.amount.toFixed(2)]), [[tenant.pack.id, "starter pack", "0.1", "0.10"]])
        assert.deepStrictEqual([acmeUsd.creditTotal.toFixed(2), acmeUsd.amountDue.toFixed(2)], ["0.10", "0.08"])
        // acme EUR: 1,000 x (13 x 0.10 + 434 x 0.30) / 1M x 1.25 = 1,000 x 0.000164375 = 0.164375 -> 0.16
        const acmeEur = (yield* statementOf(tenant.id, "acme", "EUR"))!
        assert.deepStrictEqual([Money.format(acmeEur.exactTotal), acmeEur.total.toFixed(2)], ["0.164375", "0.16"])
        // The pack is in USD: the EUR calls drew nothing from it.
        assert.deepStrictEqual([acmeEur.credits, acmeEur.amountDue.toFixed(2)], [[], "0.16"])
        // globex USD: gpt-4o 1,000 x (86 x 4 + 1,920 x 2 + 300 x 16) / 1M = 8.984;
        // nano 1,000 x (16 x 4 + 363 x 16) / 1M = 5.872; 14.856 -> 14.86
        const globex = (yield* statementOf(tenant.id, "globex", "USD"))!
        assert.deepStrictEqual([Money.format(globex.exactTotal), globex.total.toFixed(2), globex.requestCount], ["14.856", "14.86", 2 * N])
        assert.isTrue(Money.sum(globex.lines.map((l) => l.amount)).equals(globex.total))
        assert.deepStrictEqual([globex.credits, globex.amountDue.toFixed(2)], [[], "14.86"])

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

        // FOCUS 1.3, resale side (what the tenant charges its customers), converted into USD, as the
        // export serves it: acme 0.1835 + 0.164375 x 1.08 = 0.1835 + 0.177525 = 0.361025; globex 14.856;
        // total 15.217025. The pack's Purchase row comes first.
        const sold = yield* FocusSold.stream(tenant.id, { ...march, convert: true, pageSize: 700 })
        assert.strictEqual(sold.unpriced, 0)
        const resale = FocusSpec.parseCsv((yield* Stream.runCollect(sold.csv)).join(""))
        const packId = `credit:${tenant.pack.id}`
        assert.deepStrictEqual([resale.rows[0]!["BilledCost"], resale.rows[0]!["EffectiveCost"], resale.rows[0]!["SubAccountName"], resale.rows[0]!["ChargeDescription"], resale.rows[0]!["ResourceId"]], [
          "0.1",
          "0",
          "acme",
          "acme starter pack, 0.1 USD of credit",
          packId
        ])
        assert.deepStrictEqual(FocusSpec.problems(resale.header, resale.rows, "1.3"), [])
        // One row per price line: a1, a2, g2 two lines each, g1 three.
        assert.strictEqual(resale.rows.length, 1 + 9 * N)
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
        // Every row of a customer bills that customer's account, the pack's purchase too.
        assert.deepStrictEqual([...new Set(byCustomer("acme").map((r) => r["BillingAccountId"]))], [`${tenant.id}/customer:acme`])
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
