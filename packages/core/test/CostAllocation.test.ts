/**
 * The laws of chargeback money, as fast-check properties on random spend: the lines sum exactly
 * to the rounded ledger total, each line is within one minor unit of its exact value, the shared
 * pool is split without a trace lost, and corrections carry exactly the difference. (The same
 * sums on random ledgers in the database: the engine's `ChargebackProperty.test.ts`.)
 */
import { assert, describe, it as vitestIt } from "@effect/vitest"
import fc from "fast-check"
import { CostAllocation, Money } from "../src/index.ts"
import { ruleArb, sharedArb, spendArb } from "./AllocationArbitraries.ts"

const { Allocate } = CostAllocation

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
