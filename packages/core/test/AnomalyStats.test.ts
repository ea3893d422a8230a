import { assert, describe, it } from "@effect/vitest"
import * as Stats from "../src/AnomalyStats.ts"
import * as Money from "../src/Money.ts"

const d = (...values: ReadonlyArray<string | number>) => values.map((v) => new Money.Decimal(v))
const text = (value: Money.Decimal | undefined) => (value === undefined ? undefined : Money.format(value))

describe("robust statistics", () => {
  it("median: the middle value, or the mean of the two middle ones, exactly", () => {
    assert.strictEqual(text(Stats.median(d(3, 1, 2))), "2")
    assert.strictEqual(text(Stats.median(d(4, 1, 3, 2))), "2.5")
    assert.strictEqual(text(Stats.median(d("0.1", "0.2"))), "0.15")
    assert.strictEqual(Stats.median([]), undefined)
  })

  it("MAD ignores a minority of outliers that drag mean and standard deviation", () => {
    // Iglewicz and Hoaglin's example shape: median 2, absolute deviations 1 1 0 0 2 4 7.
    assert.strictEqual(text(Stats.mad(d(1, 1, 2, 2, 4, 6, 9))), "1")
    const week = d("10.00", "10.20", "9.80", "10.10", "9.90", "10.00", "250.00")
    const robust = Stats.robust(week)!
    assert.strictEqual(text(robust.median), "10")
    assert.strictEqual(text(robust.mad), "0.1")
    assert.strictEqual(robust.n, 7)
  })

  it("quantile interpolates between order statistics (type 7, as R and NumPy)", () => {
    assert.strictEqual(text(Stats.quantile(d(1, 2, 3, 4), 0.25)), "1.75")
    assert.strictEqual(text(Stats.quantile(d(1, 2, 3, 4), 1)), "4")
    assert.strictEqual(text(Stats.quantile(d(5), 0.99)), "5")
    assert.strictEqual(Stats.Numbers.quantile([1, 2, 3, 4], 0.25), 1.75)
    assert.strictEqual(Stats.Numbers.quantile([10, 0, 30, 20], 0.5), 15)
    assert.throws(() => Stats.quantile(d(1), 1.5))
  })

  it("modified z-score: 0.6745 (x − median) / MAD, with a floor under the scale", () => {
    const baseline = Stats.robust(d(1, 1, 2, 2, 4, 6, 9))!
    // (10 − 2) / (1 / 0.6745) = 5.396
    assert.strictEqual(text(Stats.modifiedZ(new Money.Decimal(10), baseline, new Money.Decimal("0.01"))), "5.396")
    // A flat history (MAD 0) is judged against the floor, not divided by zero.
    const flat = Stats.robust(d(10, 10, 10, 10, 10))!
    assert.strictEqual(text(Stats.modifiedZ(new Money.Decimal("10.01"), flat, new Money.Decimal(1))), "0.01")
    assert.throws(() => Stats.modifiedZ(new Money.Decimal(1), flat, Money.ZERO))
    const numbers = Stats.Numbers.robust([1, 1, 2, 2, 4, 6, 9])!
    assert.closeTo(Stats.Numbers.modifiedZ(10, numbers, 0.01), 5.396, 1e-12)
  })

  it("total variation distance between mixes: 0 for equal, 1 for disjoint", () => {
    const mix = (entries: Record<string, number>) => new Map(Object.entries(entries))
    assert.strictEqual(Stats.Numbers.totalVariation(mix({ a: 0.5, b: 0.5 }), mix({ b: 0.5, a: 0.5 })), 0)
    assert.strictEqual(Stats.Numbers.totalVariation(mix({ mini: 1 }), mix({ frontier: 1 })), 1)
    assert.closeTo(Stats.Numbers.totalVariation(mix({ a: 0.8, b: 0.2 }), mix({ a: 0.5, b: 0.3, c: 0.2 })), 0.3, 1e-12)
    assert.deepStrictEqual([...Stats.Numbers.shares(mix({ a: 3, b: 1 }))], [["a", 0.75], ["b", 0.25]])
    assert.strictEqual(Stats.Numbers.shares(mix({ a: 0 })).size, 0)
  })
})
