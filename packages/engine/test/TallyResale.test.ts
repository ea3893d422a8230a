/**
 * Resale through the embeddable facade (`createTally`), on PGlite and, with TALLY_TEST_DATABASE_URL,
 * a fresh PostgreSQL database: rules and a plan from promises, ingest priced at sale, margin, a
 * statement and its correction after late usage. Amounts by hand in the comments.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createTally } from "../src/Tally.ts"
import { backend, layerOptions, postgresOnlyLayer, testDatabaseUrl } from "./TestStore.ts"

/** gpt-4o-mini, 1000 input and 200 output tokens: cost 0.00015 + 0.00012 = 0.00027 USD. */
const event = (requestId: string, customer: string, occurredAt: string) => ({
  requestId,
  occurredAt,
  provider: "openai",
  model: "gpt-4o-mini",
  labels: { customer, feature: "chat" },
  usage: { tokens: { inputText: 1000, outputText: 200 } }
})

describe(`createTally resale on ${backend}`, () => {
  layer(postgresOnlyLayer, layerOptions)((it) => {
    it.effect("rules, a plan, prices at ingest, margin, a statement and its correction, all from promises", () =>
      Effect.gen(function*() {
        const database = yield* testDatabaseUrl
        const out = yield* Effect.promise(async () => {
          const tally = createTally({ database })
          try {
            const { tenantId } = await tally.createTenant({ name: "Resale Facade" })
            const rule = await tally.resale.addRule(tenantId, {
              name: "pro list",
              plan: "pro",
              kind: "list-price",
              rates: { inputText: "2", outputText: "8" },
              currency: "USD",
              effectiveFrom: "2026-01-01T00:00:00Z"
            })
            const bad = await tally.resale.addRule(tenantId, { name: "x", kind: "markup-percent", effectiveFrom: "2026-01-01T00:00:00Z" }).then(
              () => null,
              (error: { readonly _tag: string; readonly field: string }) => [error._tag, error.field]
            )
            await tally.resale.assignPlan(tenantId, { customer: "initech", plan: "pro", effectiveFrom: "2026-01-01T00:00:00Z" })
            await tally.ingest(tenantId, [event("a", "initech", "2026-01-03T00:00:00Z"), event("b", "initech", "2026-01-04T00:00:00Z")])
            const price = await tally.resale.price(tenantId, "a")
            const margin = await tally.resale.margin(tenantId, { from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", groupBy: ["customer"] })
            const period = { customer: "initech", from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", currency: "USD" }
            const final = await tally.resale.finalizeStatement(tenantId, period, { finalizedBy: "alice" })
            await tally.ingest(tenantId, [event("late", "initech", "2026-01-20T00:00:00Z")])
            const correction = await tally.resale.finalizeStatement(tenantId, period)
            const listed = await tally.resale.statements(tenantId, { customer: "initech" })
            return { rule, bad, price, margin, final, correction, listed }
          } finally {
            await tally.close()
          }
        })
        assert.strictEqual(out.rule.kind, "list-price")
        assert.deepStrictEqual(out.bad, ["InvalidSaleRule", "percent"])
        // 1000 x 2/1M + 200 x 8/1M = 0.002 + 0.0016 = 0.0036 against a cost of 0.00027.
        assert.deepInclude(out.price!, { status: "priced", plan: "pro", total: "0.0036", costTotal: "0.00027", margin: "0.00333" })
        assert.deepStrictEqual(out.margin, [
          { customer: "initech", currency: "USD", costCurrency: "USD", requests: 2, unpriced: 0, price: "0.0072", cost: "0.00054", margin: "0.00666", marginPercent: "92.5" }
        ])
        // Two calls: 0.004 -> 0.00 and 0.0032 -> 0.00 floors, 0.0072 rounds to 0.01, the cent to the larger remainder.
        assert.deepStrictEqual(out.final!.lines.map((l) => [l.component, l.amount]), [["inputText", "0.01"], ["outputText", "0.00"]])
        assert.deepInclude(out.final!, { kind: "statement", total: "0.01", exactTotal: "0.0072", finalizedBy: "alice" })
        // The late call: 0.002 + 0.0016 = 0.0036 -> 0.00 (half-even of 0.0036 is 0.00).
        assert.deepInclude(out.correction!, { kind: "correction", correctsId: out.final!.id, total: "0.00", exactTotal: "0.0036" })
        assert.deepStrictEqual(out.listed.map((s) => s.kind), ["statement", "correction"])
      }), 180_000)
  })
})
