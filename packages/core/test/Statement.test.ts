import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as Money from "../src/Money.ts"
import * as Statement from "../src/Statement.ts"

const d = (text: string) => new Money.Decimal(text)
const line = (group: string, component: string, quantity: string, amount: string): Statement.ExactLine => ({
  group,
  component,
  unit: "token",
  quantity: d(quantity),
  amount: d(amount),
  unitPrice: null
})

/** An exact amount with up to 9 decimals, negative for correction lines when asked. */
const amount = (negative: boolean) =>
  fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 999_999_999 }), fc.boolean()).map(([whole, fraction, sign]) =>
    d(`${negative && sign ? "-" : ""}${whole}.${String(fraction).padStart(9, "0")}`)
  )

describe("Statement", () => {
  it("sums calls' lines by group and component with one unit price while every call had the same", () => {
    const calls: Array<Statement.PricedCall> = [
      { group: "m1", lines: [{ component: "inputText", unit: "token", quantity: d("10"), unitPrice: d("0.5"), amount: d("5") }] },
      { group: "m1", lines: [{ component: "inputText", unit: "token", quantity: d("4"), unitPrice: d("0.5"), amount: d("2") }] },
      { group: "m0", lines: [{ component: "outputText", unit: "token", quantity: d("1"), unitPrice: d("1"), amount: d("1") }, { component: "outputText", unit: "token", quantity: d("1"), unitPrice: d("3"), amount: d("3") }] }
    ]
    const lines = Statement.exactLines(calls)
    assert.deepStrictEqual(lines.map((l) => [l.group, l.component, Money.format(l.quantity), Money.format(l.amount), l.unitPrice && Money.format(l.unitPrice)]), [
      ["m0", "outputText", "2", "4", null],
      ["m1", "inputText", "14", "7", "0.5"]
    ])
    // An averaged unit price per 1M tokens: 4 / 2 x 1M.
    assert.strictEqual(Money.format(Statement.round(lines, "USD").lines[0]!.unitPrice!), "2000000")
  })

  it("a correction is what changed: new lines, changed lines, and lines that went away (negated)", () => {
    const stated = [line("a", "in", "10", "1.5"), line("b", "in", "5", "2")]
    const now = [line("a", "in", "12", "1.8"), line("c", "in", "1", "0.1")]
    assert.deepStrictEqual(Statement.difference(now, stated).map((l) => [l.group, Money.format(l.quantity), Money.format(l.amount)]), [
      ["a", "2", "0.3"],
      ["b", "-5", "-2"],
      ["c", "1", "0.1"]
    ])
    assert.deepStrictEqual(Statement.difference(stated, stated), [])
  })

  it("rounds to the currency's minor unit: yen to whole units, dollars to cents", () => {
    const lines = [line("a", "x", "1", "0.5"), line("a", "y", "1", "0.5"), line("a", "z", "1", "0.5")]
    // 1.5 -> 2 yen: floors 0 + 0 + 0, two units to the earliest equal remainders.
    assert.deepStrictEqual(Statement.round(lines, "JPY").lines.map((l) => Money.format(l.amount)), ["1", "1", "0"])
    assert.strictEqual(Money.format(Statement.round(lines, "USD").total), "1.5")
  })

  it("property: the rounded lines sum exactly to the total, each within one minor unit of its exact amount", () => {
    fc.assert(
      fc.property(fc.boolean().chain((negative) => fc.array(amount(negative), { minLength: 1, maxLength: 20 })), fc.constantFrom("USD", "JPY", "BHD"), (amounts, currency) => {
        const exact = amounts.map((a, i) => line("g", `c${String(i).padStart(2, "0")}`, "1", Money.format(a)))
        const { lines, total, exactTotal } = Statement.round(exact, currency)
        const unit = new Money.Decimal(10).pow(-Money.minorUnits(currency))
        assert.isTrue(Money.sum(lines.map((l) => l.amount)).equals(total))
        assert.isTrue(exactTotal.equals(Money.sum(amounts)))
        for (const l of lines) {
          assert.isTrue(l.amount.minus(l.exactAmount).abs().lessThan(unit))
          assert.isTrue(l.amount.toDecimalPlaces(Money.minorUnits(currency)).equals(l.amount))
        }
        // All lines of one sign: the total is the exact total rounded half-even.
        if (amounts.every((a) => !a.isNegative())) {
          assert.isTrue(total.equals(exactTotal.toDecimalPlaces(Money.minorUnits(currency), Money.Decimal.ROUND_HALF_EVEN)))
        }
      })
    )
  })
})
