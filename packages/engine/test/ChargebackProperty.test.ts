/**
 * The laws of chargeback money on random ledgers written to the real database: the lines of a run
 * sum exactly to the rounded ledger total, stored as computed. (The laws of the allocation itself,
 * on random spend: core's `CostAllocation.test.ts`.)
 */
import { assert, describe, layer } from "@effect/vitest"
import { Money } from "@tally/core"
import { Tenants, type UsageLedger } from "@tally/store"
import { Effect } from "effect"
import fc from "fast-check"
import { ruleArb, sharedArb } from "../../core/test/AllocationArbitraries.ts"
import * as Chargeback from "../src/chargeback/index.ts"
import { backend } from "./TestStore.ts"
import { call, claude, costOf, gpt, insert, layer as chargebackLayer, layerOptions, utc } from "./ChargebackSupport.ts"

/** A random ledger: calls of random teams (or none), models and token counts in March 2025. */
const ledgerArb = fc.array(
  fc.record({
    team: fc.option(fc.constantFrom("alpha", "beta", "gamma", "platform"), { nil: undefined }),
    model: fc.constantFrom(gpt, claude),
    minute: fc.integer({ min: 0, max: 31 * 24 * 60 - 1 }),
    inputText: fc.integer({ min: 0, max: 400_000 }),
    cacheRead: fc.integer({ min: 0, max: 50_000 }),
    outputText: fc.integer({ min: 0, max: 40_000 }),
    provider: fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: undefined, freq: 5 })
  }),
  { minLength: 0, maxLength: 40 }
)

describe(`chargeback on random ledgers (${backend})`, () => {
  layer(chargebackLayer, layerOptions)((it) => {
    it.effect("the lines of a run over a random ledger sum exactly to the rounded ledger total", () =>
      Effect.gen(function*() {
        const context = yield* Effect.context<Chargeback.Chargeback | UsageLedger.UsageLedger | Tenants.Tenants>()
        const runPromise = Effect.runPromiseWith(context)
        let seq = 0
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(ledgerArb, ruleArb, sharedArb, (rows, rule, shared) =>
              runPromise(Effect.gen(function*() {
                const tenantId = (yield* Tenants.Tenants.use((t) => t.create({ name: "prop" }))).id
                const calls = rows.map((r, i) =>
                  call({
                    requestId: `r${seq++}-${i}`,
                    at: new Date(Date.UTC(2025, 2, 1) + r.minute * 60_000).toISOString(),
                    labels: r.team === undefined ? {} : { team: r.team },
                    snapshot: r.model,
                    tokens: { inputText: r.inputText, cacheRead: r.cacheRead, outputText: r.outputText },
                    ...(r.provider === undefined ? {} : { costSource: "provider", reportedCost: new Money.Decimal(r.provider).div(1e6).toFixed() })
                  })
                )
                yield* insert(tenantId, calls)
                const service = yield* Chargeback.Chargeback
                const result = yield* service.run(tenantId, {
                  from: utc("2025-03-01T00:00:00Z"),
                  to: utc("2025-04-01T00:00:00Z"),
                  dimension: "team",
                  rule,
                  shared
                })
                const exact = Money.sum(calls.map(costOf))
                const rounded = exact.toDecimalPlaces(2, Money.Decimal.ROUND_HALF_EVEN)
                assert.isTrue(result.inputs.ledgerTotal.equals(exact))
                assert.isTrue(Money.sum(result.lines.map((l) => l.amount)).equals(rounded))
                assert.isTrue(result.total.equals(rounded))
                const stored = yield* service.get(tenantId, result.id)
                assert.isTrue(Money.sum(stored.lines.map((l) => l.amount)).equals(rounded))
                assert.strictEqual(stored.inputs.requestCount, calls.length)
              }))
            ),
            { numRuns: 25 }
          )
        )
      }), { timeout: 300_000 })
  })
})
