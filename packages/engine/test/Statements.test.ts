/**
 * Customer statements and the margin report over prices recorded at ingest, on PGlite and (with
 * TALLY_TEST_DATABASE_URL) PostgreSQL. Amounts are computed by hand in the comments.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Catalog } from "@tally/catalog"
import { Money, Statement } from "@tally/core"
import { CustomerStatements, Database } from "@tally/store"
import { DateTime, Effect, Exit, Layer } from "effect"
import * as Credits from "../src/Credits.ts"
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

    it.effect("credit drawn by the calls is listed per pack after the lines: 1.33 less 1.00 + 0.20 = 0.13 due; a late call's draw is in the correction", () =>
      Effect.gen(function*() {
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
        const a = yield* Credits.grant(tenantId, { customer: "globex", unit: "USD", amount: "1", effectiveAt: "2026-01-01T00:00:00Z", note: "pack A" })
        const b = yield* Credits.grant(tenantId, { customer: "globex", unit: "USD", amount: "0.2", effectiveAt: "2026-01-01T00:00:00Z", note: "pack B" })
        // A team's pack is not the customer's money: what it pays is not on the customer's statement.
        yield* Credits.grant(tenantId, { team: "sales", unit: "USD", amount: "5", effectiveAt: "2026-01-01T00:00:00Z" })
        const sales = (c: ReturnType<typeof call>) => ({ ...c, labels: { ...c.labels, team: "sales" } })
        // Each call sells at 0.4441: c1 and c2 draw 0.8882 of A, c3 the 0.1118 left of A, all of B,
        // and the 0.1323 left from the team's pack.
        yield* Ingest.Ingest.use((i) => i.ingest(tenantId, [sales(call("c1", "chat")), sales(call("c2", "chat")), sales(call("c3", "search"))]))
        const final = (yield* statements.use((c) => c.finalize(tenantId, input("model"), "alice")))!
        const credits = (s: Statement.Statement) => s.credits.map((c) => [c.grantId, c.name, Money.format(c.exactAmount), c.amount.toFixed(2)])
        assert.deepStrictEqual(credits(final), [[a.id, "pack A", "1", "1.00"], [b.id, "pack B", "0.2", "0.20"]].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)))
        // Total 1.3323 -> 1.33; credit 1.20; due 0.13.
        assert.deepStrictEqual([final.total.toFixed(2), final.creditTotal.toFixed(2), final.amountDue.toFixed(2)], ["1.33", "1.20", "0.13"])
        const json = Statement.toJson(final)
        assert.deepStrictEqual([json.creditTotal, json.amountDue, json.credits.map((c) => c.amount)].flat(), ["1.20", "0.13", ...credits(final).map((c) => c[3])])
        const csv = Statement.toCsv(final).split("\r\n")
        assert.includeMembers(csv, [`credit,${a.id},,,,,,-1.00,USD`, `credit,${b.id},,,,,,-0.20,USD`, "amount_due,,,,,,,0.13,USD"])
        assert.include(Statement.toHtml(final), "Prepaid credit applied: pack A")
        assert.include(Statement.toHtml(final), "<td class=\"n\">0.13</td>")
        // Read back as kept: the same credits.
        assert.deepStrictEqual(Statement.toJson(yield* statements.use((c) => c.get(tenantId, final.id!))), json)

        // A pack granted later that late calls of January draw: 0.05 of the late call's 0.4441.
        const c = yield* Credits.grant(tenantId, { customer: "globex", unit: "USD", amount: "0.05", effectiveAt: "2026-01-01T00:00:00Z", note: "top-up" })
        yield* Ingest.Ingest.use((i) => i.ingest(tenantId, [call("late", "chat", "2026-01-20T08:00:00Z")]))
        const correction = (yield* statements.use((s) => s.finalize(tenantId, input("model"), "bob")))!
        assert.deepStrictEqual([correction.kind, correction.total.toFixed(2), correction.creditTotal.toFixed(2), correction.amountDue.toFixed(2)], ["correction", "0.44", "0.05", "0.39"])
        assert.deepStrictEqual(credits(correction), [[c.id, "top-up", "0.05", "0.05"]])
        // The statement kept before is unchanged.
        assert.deepStrictEqual(Statement.toJson(yield* statements.use((s) => s.get(tenantId, final.id!))), json)
      }), testTimeout)

    it.effect("a statement kept before statements recorded credits keeps what it had: no credits, amount due = total", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const { sql } = yield* Database.Database
        // As the previous version wrote it: only lines in `lines`.
        const line = { group: "m1", component: "inputText", unit: "token", quantity: "1000000", unitPrice: "0.333", unitPricePer: "1M tokens", averaged: false, exactAmount: "0.333", amount: "0.33" }
        const [row] = yield* sql<{ id: string }>`INSERT INTO tally.customer_statements
            (tenant_id, customer, period_from, period_to, currency, group_by, kind, status, lines, total, exact_total,
             request_count, unpriced_count, as_of, finalized_at, finalized_by)
          VALUES (${tenantId}, 'globex', '2025-12-01T00:00:00Z', '2026-01-01T00:00:00Z', 'USD', 'model', 'statement', 'final',
            ${JSON.stringify([line])}::jsonb, 0.33, 0.333, 1, 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'alice')
          RETURNING id::text AS id`
        const old = yield* statements.use((c) => c.get(tenantId, row!.id))
        assert.deepStrictEqual([old.lines.length, old.credits, old.creditTotal.toFixed(2), old.amountDue.toFixed(2)], [1, [], "0.00", "0.33"])
        assert.notInclude(Statement.toCsv(old), "amount_due")
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
