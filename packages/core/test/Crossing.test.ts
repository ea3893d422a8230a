import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import fc from "fast-check"
import * as Crossing from "../src/Crossing.ts"
import * as Money from "../src/Money.ts"

const decimal = (value: string) => new Money.Decimal(value)

/** Non-negative decimals with up to 4 places. */
const amount = fc.bigInt({ min: 0n, max: 10n ** 10n }).map((n) => new Money.Decimal(n.toString()).div(10_000))

describe("Crossing", () => {
  it("a threshold is reached exactly at its share of the amount, not a unit of the last place before", () => {
    assert.isTrue(Crossing.reached(decimal("8"), decimal("10"), decimal("80")))
    assert.isFalse(Crossing.reached(decimal("7.9999999999"), decimal("10"), decimal("80")))
    assert.isTrue(Crossing.reached(decimal("0.1"), decimal("0.3"), decimal("33.3333")))
    assert.isTrue(Crossing.reached(decimal("25"), decimal("10"), decimal("250")))
  })

  it("the reached thresholds are the ascending ones up to the first not reached", () => {
    const thresholds = [decimal("50"), decimal("80"), decimal("100"), decimal("150")]
    assert.deepStrictEqual(Crossing.reachedThresholds(thresholds, decimal("10"), decimal("9.99")).map(Money.format), ["50", "80"])
    assert.deepStrictEqual(Crossing.reachedThresholds(thresholds, decimal("10"), decimal("4")), [])
    assert.deepStrictEqual(Crossing.reachedThresholds(thresholds, decimal("10"), decimal("15")).map(Money.format), ["50", "80", "100", "150"])
  })

  it("for ascending thresholds, the reached ones are exactly those whose share spend has reached", () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 10 }),
      amount.filter((a) => a.gt(0)),
      amount,
      (percents, budget, spent) => {
        const thresholds = [...percents].sort((a, b) => a - b).map((p) => new Money.Decimal(p))
        const expected = thresholds.filter((t) => spent.div(budget).times(100).gte(t))
        assert.deepStrictEqual(Crossing.reachedThresholds(thresholds, budget, spent).map(Money.format), expected.map(Money.format))
      }
    ))
  })

  it("a crossing's outbox key names the budget, the period's start and the threshold", () => {
    assert.strictEqual(
      Crossing.key("b-1", DateTime.makeUnsafe("2025-05-01T00:00:00Z"), decimal("80.50")),
      "b-1:2025-05-01T00:00:00.000Z:80.5"
    )
  })
})
