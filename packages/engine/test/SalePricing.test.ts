import { assert, describe, layer } from "@effect/vitest"
import { Catalog } from "@tally/catalog"
import { Money, type SalePrice } from "@tally/core"
import { Database, SalePrices, UsageLedger } from "@tally/store"
import { DateTime, Effect, Exit, Layer, Option } from "effect"
import * as Ingest from "../src/Ingest.ts"
import * as Reprice from "../src/Reprice.ts"
import * as SalePricing from "../src/SalePricing.ts"
import * as TenantPricing from "../src/TenantPricing.ts"
import { backend, layerOptions, newTenant, storeLayer, testTimeout } from "./TestStore.ts"

const at = "2026-01-15T10:00:00Z"

/** gpt-4o-mini: 1000 input tokens at 0.15 per 1M and 200 output at 0.60 per 1M cost 0.00015 + 0.00012 = 0.00027 USD. */
const event = (requestId: string, customer: string | undefined, extra: Record<string, unknown> = {}) => ({
  requestId,
  occurredAt: at,
  provider: "openai",
  model: "gpt-4o-mini",
  usage: { tokens: { inputText: 1000, outputText: 200 } },
  ...(customer === undefined ? {} : { labels: { customer, feature: "chat" } }),
  ...extra
})

const rule = (tenantId: string, input: Omit<SalePrice.RuleInput, "effectiveFrom">) =>
  SalePricing.SalePricing.use((s) => s.addRule(tenantId, { effectiveFrom: DateTime.makeUnsafe("2026-01-01T00:00:00Z"), ...input }))

/** Ingest with the sale pricing it writes through, and the store, in one context. */
const testLayer = Layer.provideMerge(
  Layer.mergeAll(Ingest.Ingest.layer, SalePricing.SalePricing.layer, TenantPricing.TenantPricing.layer, Reprice.Repricing.layer),
  Layer.merge(storeLayer, Catalog.Catalog.layer)
)

const priceOf = (tenantId: string, requestId: string) =>
  Effect.map(SalePricing.SalePricing.use((s) => s.priceOf(tenantId, requestId)), Option.getOrThrow)

const priceRows = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    const rows = yield* sql<{ n: string }>`SELECT count(*)::text AS n FROM tally.usage_prices WHERE tenant_id = ${tenantId}`
    return Number(rows[0]!.n)
  })

const d = (text: string) => new Money.Decimal(text)

describe(`SalePricing on ${backend}`, () => {
  layer(testLayer, layerOptions)((it) => {
    it.effect("each call keeps its cost and its price: 25% for globex, list price for initech, none for a call without a customer rule", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest.Ingest
        const tenantId = yield* newTenant()
        const markup = yield* rule(tenantId, { name: "globex +25%", customer: "globex", kind: "markup-percent", percent: d("25") })
        const list = yield* rule(tenantId, {
          name: "pro plan list",
          plan: "pro",
          kind: "list-price",
          rates: { inputText: d("2"), outputText: d("8") },
          currency: "USD"
        })
        yield* SalePricing.SalePricing.use((s) => s.assignPlan(tenantId, { customer: "initech", plan: "pro", effectiveFrom: Date.UTC(2026, 0, 1) }))

        const result = yield* ingest.ingest(tenantId, [event("g1", "globex"), event("i1", "initech"), event("n1", undefined)])
        assert.deepStrictEqual(result.items.map((i) => [i.status, i.total]), [["inserted", "0.00027"], ["inserted", "0.00027"], ["inserted", "0.00027"]])

        const g1 = yield* priceOf(tenantId, "g1")
        assert.strictEqual(g1.status, "priced")
        assert.strictEqual(g1.ruleId, markup.id)
        assert.strictEqual(Money.format(g1.costTotal!), "0.00027")
        // 0.00015 x 1.25 = 0.0001875, 0.00012 x 1.25 = 0.00015
        assert.strictEqual(Money.format(g1.total!), "0.0003375")
        assert.deepStrictEqual(g1.lines.map((l) => [l.component, Money.format(l.cost!), Money.format(l.amount)]), [
          ["inputText", "0.00015", "0.0001875"],
          ["outputText", "0.00012", "0.00015"]
        ])
        assert.strictEqual(g1.feature, "chat")

        const i1 = yield* priceOf(tenantId, "i1")
        // 1000 x 2/1M + 200 x 8/1M = 0.002 + 0.0016
        assert.deepStrictEqual([i1.status, i1.plan, i1.ruleId, Money.format(i1.total!)], ["priced", "pro", list.id, "0.0036"])

        const n1 = yield* priceOf(tenantId, "n1")
        assert.deepStrictEqual([n1.status, n1.reason, n1.total], ["unpriced", "no sale price rule applies to this call", null])
        assert.strictEqual(Money.format(n1.costTotal!), "0.00027")

        // What a call is charged: its price when priced, else its cost (what credits draw down).
        const book = yield* SalePricing.SalePricing.use((s) => s.book(tenantId))
        const charge = (id: string) =>
          Effect.map(UsageLedger.UsageLedger.use((l) => l.get(tenantId, id)), (found) => {
            const record = Option.getOrThrow(found).call
            const c = SalePricing.chargeOf(record, SalePricing.priceRecord(book, record))
            return c === null ? null : [Money.format(c.amount), c.currency, c.basis]
          })
        assert.deepStrictEqual(yield* charge("g1"), ["0.0003375", "USD", "price"])
        assert.deepStrictEqual(yield* charge("n1"), ["0.00027", "USD", "cost"])
      }), testTimeout)

    it.effect("a replayed event gets no second price and keeps its first one, even after the rule changed", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest.Ingest
        const tenantId = yield* newTenant()
        const first = yield* rule(tenantId, { name: "+10%", kind: "markup-percent", percent: d("10") })
        yield* ingest.ingest(tenantId, [event("a", "globex"), event("a", "globex")])
        assert.strictEqual(yield* priceRows(tenantId), 1)
        yield* SalePricing.SalePricing.use((s) => s.archiveRule(tenantId, first.id))
        yield* rule(tenantId, { name: "+90%", kind: "markup-percent", percent: d("90") })
        const replay = yield* ingest.ingest(tenantId, [event("a", "globex"), event("b", "globex")])
        assert.deepStrictEqual(replay.items.map((i) => i.status), ["duplicate", "inserted"])
        assert.strictEqual(yield* priceRows(tenantId), 2)
        // 0.00027 x 1.1 and 0.00027 x 1.9
        assert.strictEqual(Money.format((yield* priceOf(tenantId, "a")).total!), "0.000297")
        assert.strictEqual(Money.format((yield* priceOf(tenantId, "b")).total!), "0.000513")
      }), testTimeout)

    it.effect("a tenant without sale rules stores no prices", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest.Ingest
        const tenantId = yield* newTenant()
        yield* ingest.ingest(tenantId, [event("x", "globex")])
        assert.strictEqual(yield* priceRows(tenantId), 0)
        assert.isTrue(Option.isNone(yield* SalePricing.SalePricing.use((s) => s.priceOf(tenantId, "x"))))
        assert.isTrue(Option.isSome(yield* UsageLedger.UsageLedger.use((l) => l.get(tenantId, "x"))))
      }), testTimeout)

    it.effect("a bad rule is refused with the field named", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const error = yield* Effect.flip(rule(tenantId, { name: "both", customer: "a", plan: "b", kind: "markup-percent", percent: d("1") }))
        assert.deepStrictEqual([error._tag, error._tag === "InvalidSaleRule" && error.field], ["InvalidSaleRule", "plan"])
        const stored = yield* SalePrices.SalePrices.use((s) => s.listRules(tenantId))
        assert.strictEqual(stored.length, 0)
      }), testTimeout)

    it.effect("repricing moves the sale price with the cost: a markup follows it, a list price keeps its amounts, an unpriced call gets its first price", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest.Ingest
        const pricing = yield* TenantPricing.TenantPricing
        const tenantId = yield* newTenant()
        yield* pricing.createDefinition(tenantId, { id: "acme/m1", provider: "openai", modelKey: "m1", price: { rates: { inputText: "1", outputText: "2" } } })
        yield* rule(tenantId, { name: "a +20%", customer: "a", kind: "markup-percent", percent: d("20") })
        yield* rule(tenantId, { name: "b list", customer: "b", kind: "list-price", rates: { inputText: d("3"), outputText: d("10") }, currency: "USD" })
        const big = { usage: { tokens: { inputText: 1_000_000, outputText: 100_000 } }, occurredAt: "2026-01-20T09:00:00Z" }
        yield* ingest.ingest(tenantId, [
          event("a1", "a", { model: "m1", ...big }),
          event("b1", "b", { model: "m1", ...big }),
          event("u1", "a", { model: "m2", ...big })
        ])
        // cost 1M x 1 + 100k x 2 per 1M = 1.2; a: 1.2 x 1.2 = 1.44; b: 1M x 3 + 100k x 10 per 1M = 4
        const totals = (id: string) =>
          Effect.map(priceOf(tenantId, id), (p) => [p.status, p.total === null ? null : Money.format(p.total), p.costTotal === null ? null : Money.format(p.costTotal)])
        assert.deepStrictEqual(yield* totals("a1"), ["priced", "1.44", "1.2"])
        assert.deepStrictEqual(yield* totals("b1"), ["priced", "4", "1.2"])
        assert.deepStrictEqual(yield* totals("u1"), ["unpriced", null, null])

        // Input at 1.50 from January 15th, and m2 defined: cost 1M x 1.5 + 100k x 2 per 1M = 1.7; m2 costs 1.2.
        yield* pricing.updateDefinition(tenantId, { id: "acme/m1", price: { effectiveFrom: "2026-01-15", rates: { inputText: "1.50" } } })
        yield* pricing.createDefinition(tenantId, { id: "acme/m2", provider: "openai", modelKey: "m2", price: { rates: { inputText: "1", outputText: "2" } } })
        const run = yield* Reprice.Repricing.use((r) =>
          r.reprice(tenantId, { from: DateTime.makeUnsafe("2026-01-01T00:00:00Z"), to: DateTime.makeUnsafe("2026-02-01T00:00:00Z") })
        )
        assert.strictEqual(run.repriced, 3)
        assert.deepStrictEqual(yield* totals("a1"), ["priced", "2.04", "1.7"])
        assert.deepStrictEqual(yield* totals("b1"), ["priced", "4", "1.7"])
        assert.deepStrictEqual(yield* totals("u1"), ["priced", "1.44", "1.2"])
        assert.isNotNull((yield* priceOf(tenantId, "a1")).repricedAt)
      }), testTimeout)

    it.effect("the price is written in the call's own transaction: a failing price write leaves no call either; another tenant sees no price", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const other = yield* newTenant()
        yield* rule(tenantId, { name: "+10%", kind: "markup-percent", percent: d("10") })
        const ingest = yield* Ingest.Ingest
        yield* ingest.ingest(tenantId, [event("seen", "globex")])
        assert.isTrue(Option.isNone(yield* SalePricing.SalePricing.use((s) => s.priceOf(other, "seen"))))

        const { sql } = yield* Database.Database
        const [call] = (yield* UsageLedger.UsageLedger.use((l) => l.get(tenantId, "seen"))).pipe(Option.toArray)
        const failing = yield* Effect.exit(UsageLedger.UsageLedger.use((l) =>
          l.insertBatch(tenantId, [{ ...call!.call, requestId: "rolled-back" }], [], {
            afterInsert: () => Effect.asVoid(sql`SELECT 1 / 0`)
          })
        ))
        assert.isTrue(Exit.isFailure(failing))
        assert.isTrue(Option.isNone(yield* UsageLedger.UsageLedger.use((l) => l.get(tenantId, "rolled-back"))))
        assert.strictEqual(yield* priceRows(tenantId), 1)
      }), testTimeout)
  })
})
