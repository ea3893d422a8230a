/**
 * Customer statements and the margin report over prices recorded at ingest, on PGlite and (with
 * TALLY_TEST_DATABASE_URL) PostgreSQL. Amounts are computed by hand in the comments.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Catalog } from "@tally/catalog"
import { Money, Statement } from "@tally/core"
import { CustomerStatements, Database } from "@tally/store"
import { DateTime, Effect, Exit, Layer } from "effect"
import * as Ingest from "../src/Ingest.ts"
import * as SalePricing from "../src/SalePricing.ts"
import * as TenantPricing from "../src/TenantPricing.ts"
import { backend, layerOptions, newTenant, storeLayer, testTimeout } from "./TestStore.ts"

const testLayer = Layer.provideMerge(
  Layer.mergeAll(Ingest.Ingest.layer, SalePricing.SalePricing.layer, TenantPricing.TenantPricing.layer),
  Layer.merge(storeLayer, Catalog.Catalog.layer)
)

const utc = (text: string) => DateTime.makeUnsafe(text)
const january = { from: utc("2026-01-01T00:00:00Z"), to: utc("2026-02-01T00:00:00Z") }
const d = (text: string) => new Money.Decimal(text)

/** 1M input and 100k output tokens of m1 (cost 0.1 + 0.05 = 0.15; list 0.333 + 0.1111 = 0.4441). */
const call = (requestId: string, feature: string, occurredAt = "2026-01-10T12:00:00Z") => ({
  requestId,
  occurredAt,
  provider: "openai",
  model: "m1",
  labels: { customer: "globex", feature },
  usage: { tokens: { inputText: 1_000_000, outputText: 100_000 } }
})

const setup = Effect.gen(function*() {
  const tenantId = yield* newTenant()
  yield* TenantPricing.TenantPricing.use((p) =>
    p.createDefinition(tenantId, { id: "acme/m1", provider: "openai", modelKey: "m1", price: { rates: { inputText: "0.1", outputText: "0.5" } } })
  )
  yield* SalePricing.SalePricing.use((s) =>
    s.addRule(tenantId, {
      name: "globex list",
      customer: "globex",
      kind: "list-price",
      rates: { inputText: d("0.333"), outputText: d("1.111") },
      currency: "USD",
      effectiveFrom: utc("2026-01-01T00:00:00Z")
    })
  )
  yield* Ingest.Ingest.use((i) => i.ingest(tenantId, [call("c1", "chat"), call("c2", "chat"), call("c3", "search")]))
  return tenantId
})

const statements = CustomerStatements.CustomerStatements
const input = (groupBy: Statement.GroupBy) => ({ customer: "globex", ...january, currency: "USD", groupBy })
const amounts = (s: Statement.Statement) => s.lines.map((l) => [l.group, l.component, Money.format(l.quantity), l.amount.toFixed(2)])

describe(`Customer statements on ${backend}`, () => {
  layer(testLayer, layerOptions)((it) => {
    it.effect("a statement by model rounds by largest remainder: 0.999 -> 1.00 and 0.3333 -> 0.33 sum to 1.33", () =>
      Effect.gen(function*() {
        const tenantId = yield* setup
        const s = (yield* statements.use((c) => c.preview(tenantId, input("model"))))!
        // 3 x 1M x 0.333/1M = 0.999; 3 x 100k x 1.111/1M = 0.3333; exact 1.3323 -> 1.33.
        // Floors 0.99 + 0.33 = 1.32; the one cent left goes to the larger remainder (0.009).
        assert.deepStrictEqual(amounts(s), [["m1", "inputText", "3000000", "1.00"], ["m1", "outputText", "300000", "0.33"]])
        assert.deepStrictEqual([s.total.toFixed(2), Money.format(s.exactTotal), s.kind, s.status, s.requestCount], ["1.33", "1.3323", "statement", "preview", 3])
        assert.deepStrictEqual(s.lines.map((l) => [Money.format(l.unitPrice!), l.unitPricePer, l.averaged]), [["0.333", "1M tokens", false], ["1.111", "1M tokens", false]])
      }), testTimeout)

    it.effect("by feature: chat 0.666 + 0.2222, search 0.333 + 0.1111 round to 0.67, 0.22, 0.33, 0.11 = 1.33", () =>
      Effect.gen(function*() {
        const tenantId = yield* setup
        const s = (yield* statements.use((c) => c.preview(tenantId, input("feature"))))!
        assert.deepStrictEqual(amounts(s), [
          ["chat", "inputText", "2000000", "0.67"],
          ["chat", "outputText", "200000", "0.22"],
          ["search", "inputText", "1000000", "0.33"],
          ["search", "outputText", "100000", "0.11"]
        ])
        assert.strictEqual(s.total.toFixed(2), "1.33")
        const csv = Statement.toCsv(s)
        assert.strictEqual(csv.split("\r\n")[0], Statement.csvHeader.join(","))
        assert.include(csv, "chat,inputText,token,2000000,0.333,1M tokens,false,0.67,USD\r\n")
        assert.include(csv, "total,,,,,,,1.33,USD\r\n")
        const html = Statement.toHtml(s)
        assert.include(html, "<td class=\"n\">1.33</td>")
        assert.include(html, "taxes not included")
      }), testTimeout)

    it.effect("a final statement never changes; late usage in its period becomes a correction of 0.44; nothing new, nothing kept", () =>
      Effect.gen(function*() {
        const tenantId = yield* setup
        const final = (yield* statements.use((c) => c.finalize(tenantId, input("model"), "alice")))!
        assert.deepStrictEqual([final.status, final.kind, final.total.toFixed(2), final.finalizedBy], ["final", "statement", "1.33", "alice"])
        assert.isNull(yield* statements.use((c) => c.finalize(tenantId, input("model"), "alice")))

        // The database refuses to change a final statement, even to its owner.
        const { sql } = yield* Database.Database
        const update = yield* Effect.exit(sql`UPDATE tally.customer_statements SET total = 0 WHERE id = ${final.id}`)
        assert.isTrue(Exit.isFailure(update))

        // A call of January 20th arrives late: 0.333 + 0.1111 = 0.4441 -> 0.33 + 0.11 = 0.44.
        yield* Ingest.Ingest.use((i) => i.ingest(tenantId, [call("late", "chat", "2026-01-20T08:00:00Z")]))
        const correction = (yield* statements.use((c) => c.finalize(tenantId, input("model"), "bob")))!
        assert.deepStrictEqual([correction.kind, correction.correctsId, correction.total.toFixed(2)], ["correction", final.id, "0.44"])
        assert.deepStrictEqual(amounts(correction), [["m1", "inputText", "1000000", "0.33"], ["m1", "outputText", "100000", "0.11"]])
        assert.deepStrictEqual((yield* statements.use((c) => c.list(tenantId, "globex"))).map((s) => s.kind), ["statement", "correction"])
        assert.deepStrictEqual(Statement.toJson(yield* statements.use((c) => c.get(tenantId, correction.id!))), Statement.toJson(correction))

        // Another tenant sees none of it.
        const other = yield* newTenant()
        assert.deepStrictEqual(yield* statements.use((c) => c.list(other)), [])
        const hidden = yield* Effect.flip(statements.use((c) => c.get(other, final.id!)))
        assert.strictEqual(hidden._tag, "StatementNotFound")

        // Another period that overlaps the final one is refused with the statement named.
        const overlap = yield* Effect.flip(statements.use((c) => c.finalize(tenantId, { ...input("model"), from: utc("2026-01-15T00:00:00Z"), to: utc("2026-02-15T00:00:00Z") }, "bob")))
        assert.deepStrictEqual([overlap._tag, overlap._tag === "StatementOverlap" && overlap.statementId], ["StatementOverlap", final.id])
      }), testTimeout)

    it.effect("margin by customer and model: price 1.3323 - cost 0.45 = 0.8823 (66.2238%)", () =>
      Effect.gen(function*() {
        const tenantId = yield* setup
        yield* Ingest.Ingest.use((i) => i.ingest(tenantId, [{ ...call("x", "chat"), labels: { customer: "initech" } }]))
        const rows = yield* statements.use((c) => c.margin(tenantId, { ...january, groupBy: ["customer", "model"] }))
        assert.deepStrictEqual(rows.map(CustomerStatements.marginJson), [
          { customer: "globex", model: "m1", currency: "USD", costCurrency: "USD", requests: 3, unpriced: 0, price: "1.3323", cost: "0.45", margin: "0.8823", marginPercent: "66.2238" },
          { customer: "initech", model: "m1", currency: null, costCurrency: "USD", requests: 1, unpriced: 1, price: null, cost: "0.15", margin: null, marginPercent: null }
        ])
        const days = yield* statements.use((c) => c.margin(tenantId, { ...january, groupBy: ["day"], customer: "globex" }))
        assert.deepStrictEqual(days.map((r) => [r.keys.day, Money.format(r.margin!)]), [["2026-01-10", "0.8823"]])
        const bad = yield* Effect.flip(statements.use((c) => c.margin(tenantId, { ...january, groupBy: ["colour" as never] })))
        assert.strictEqual(bad._tag === "InvalidStatement" && bad.field, "groupBy")
      }), testTimeout)
  })
})
