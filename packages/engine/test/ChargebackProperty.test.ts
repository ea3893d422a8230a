/**
 * The laws of chargeback money, as fast-check properties: on random spend (pure allocation) and on
 * random ledgers written to the real database, the lines sum exactly to the rounded ledger total,
 * each line is within one minor unit of its exact value, and the shared pool is split without a
 * trace lost.
 */
import { assert, describe, it as vitestIt } from "@effect/vitest"
import { layer } from "@effect/vitest"
import { Money } from "@tally/core"
import { Tenants, type UsageLedger } from "@tally/store"
import { Effect } from "effect"
import fc from "fast-check"
import * as Allocate from "../src/chargeback/Allocate.ts"
import * as Chargeback from "../src/chargeback/Run.ts"
import type * as Rules from "../src/chargeback/Rules.ts"
import { backend } from "./TestStore.ts"
import { call, claude, costOf, gpt, insert, layer as chargebackLayer, layerOptions, utc } from "./ChargebackSupport.ts"

const owners = ["alpha", "beta", "gamma", "delta", "platform"] as const

/** A cost as the ledger holds one: up to 15 decimals, up to a few hundred currency units. */
const costArb = fc.tuple(fc.bigInt({ min: 0n, max: 500_000_000_000_000_000n }), fc.integer({ min: 9, max: 15 }))
  .map(([mantissa, scale]) => new Money.Decimal(mantissa.toString()).div(new Money.Decimal(10).pow(scale)))

const spendArb = fc.array(
  fc.record({
    owner: fc.option(fc.constantFrom(...owners), { nil: null }),
    cost: costArb,
    requests: fc.integer({ min: 0, max: 1000 })
  }),
  { maxLength: 40 }
)

/** Percentages in hundredths that sum to exactly 100 over a random set of owners. */
const fixedArb: fc.Arbitrary<Rules.RuleInput> = fc.uniqueArray(fc.constantFrom("alpha", "beta", "gamma", "zeta"), { minLength: 1, maxLength: 4 })
  .chain((names) =>
    fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: names.length - 1, maxLength: names.length - 1 }).map((cuts) => {
      const points = [0, ...[...cuts].sort((a, b) => a - b), 10_000]
      const shares: Record<string, Money.Decimal> = {}
      names.forEach((name, i) => (shares[name] = new Money.Decimal(points[i + 1]! - points[i]!).div(100)))
      return { kind: "fixed", shares } as const
    })
  )

const ruleArb: fc.Arbitrary<Rules.RuleInput> = fc.oneof(
  fc.constant<Rules.RuleInput>({ kind: "proportional" }),
  fc.constant<Rules.RuleInput>({ kind: "even" }),
  fc.constant<Rules.RuleInput>({ kind: "even", among: ["alpha", "zeta"] }),
  fc.constant<Rules.RuleInput>({ kind: "none" }),
  fixedArb
)

const sharedArb = fc.oneof(fc.constant<ReadonlyArray<string>>([]), fc.constant<ReadonlyArray<string>>(["platform"]))

describe("chargeback allocation laws", () => {
  vitestIt("lines sum exactly to the rounded total; each is within one minor unit of its exact value", () => {
    fc.assert(
      fc.property(spendArb, ruleArb, sharedArb, fc.constantFrom(0, 2, 3), (spend, rule, shared, minorUnits) => {
        const result = Allocate.allocate({ spend, rule, shared: new Set(shared), minorUnits })
        const exactTotal = Money.sum(spend.map((s) => s.cost))
        const rounded = exactTotal.toDecimalPlaces(minorUnits, Money.Decimal.ROUND_HALF_EVEN)
        const unit = new Money.Decimal(10).pow(-minorUnits)
        assert.isTrue(result.ledgerTotal.equals(exactTotal))
        assert.isTrue(result.roundedTotal.equals(rounded))
        assert.isTrue(Money.sum(result.lines.map((l) => l.amount)).equals(rounded))
        for (const line of result.lines) {
          assert.isTrue(line.amount.decimalPlaces() <= minorUnits)
          assert.isTrue(line.amount.minus(line.direct.plus(line.allocated)).abs().lt(unit))
        }
        // The pool is split to the last decimal, or kept whole on the unallocated line.
        const pool = Money.sum(spend.filter((s) => s.owner === null || shared.includes(s.owner)).map((s) => s.cost))
        assert.isTrue(result.pool.equals(pool))
        const allocated = Money.sum(result.lines.map((l) => l.allocated))
        const unallocated = Money.sum(result.lines.filter((l) => l.kind === "unallocated").map((l) => l.direct))
        assert.isTrue(allocated.plus(unallocated).equals(pool) || (pool.isZero() && allocated.isZero()))
        if (rule.kind === "fixed" && !pool.isZero()) {
          for (const [owner, percent] of Object.entries(rule.shares)) {
            const line = result.lines.find((l) => l.owner === owner)!
            assert.isTrue(line.allocated.minus(pool.times(percent).div(100)).abs().lte(new Money.Decimal(10).pow(-(minorUnits + 12))))
          }
        }
        // Shared owners never get a line of their own.
        for (const owner of shared) assert.isUndefined(result.lines.find((l) => l.owner === owner))
      }),
      { numRuns: 2000 }
    )
  })

  vitestIt("corrections carry exactly the difference between what a period costs now and what was charged", () => {
    fc.assert(
      fc.property(spendArb, spendArb, ruleArb, fc.constantFrom(0, 2), (first, late, rule, minorUnits) => {
        const then = Allocate.allocate({ spend: first, rule, shared: new Set(), minorUnits })
        const now = Allocate.allocate({ spend: [...first, ...late], rule, shared: new Set(), minorUnits })
        const corrections = Allocate.corrections("run-1", now.lines, then.lines)
        assert.isTrue(
          Money.sum(corrections.map((c) => c.amount)).equals(now.roundedTotal.minus(then.roundedTotal))
        )
        // Charged plus corrections is the current allocation, owner by owner; nothing left to correct.
        const again = Allocate.corrections("run-1", now.lines, [...then.lines, ...corrections])
        assert.deepStrictEqual(again, [])
      }),
      { numRuns: 1000 }
    )
  })
})

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
