import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Schema } from "effect"
import { Money, PricingSnapshot, Usage } from "../src/index.ts"

const failure = (run: () => unknown): string => {
  try {
    run()
  } catch (error) {
    return (error as Error).message
  }
  throw new Error("expected a decoding failure")
}

describe("Money", () => {
  it("is configured for exact money: precision >= 40, half-even", () => {
    expect(Money.Decimal.precision).toBeGreaterThanOrEqual(40)
    expect(Money.Decimal.rounding).toBe(Money.Decimal.ROUND_HALF_EVEN)
    expect(Money.format(new Money.Decimal("0.1").plus("0.2"))).toBe("0.3")
    expect(Money.format(new Money.Decimal("2.5").toDecimalPlaces(0))).toBe("2")
    expect(Money.format(new Money.Decimal("3.5").toDecimalPlaces(0))).toBe("4")
  })

  it("formats without exponent notation at any magnitude", () => {
    expect(Money.format(new Money.Decimal("1").div(1e12))).toBe("0.000000000001")
    expect(Money.format(new Money.Decimal("123456789").times(1e15))).toBe("123456789000000000000000")
  })

  it("round-trips every canonical decimal string exactly", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 20 }), (n, scale) => {
        const value = new Money.Decimal(n.toString()).div(new Money.Decimal(10).pow(scale))
        const text = Money.format(value)
        expect(Schema.encodeSync(Money.DecimalFromString)(Schema.decodeUnknownSync(Money.DecimalFromString)(text))).toBe(text)
      })
    )
  })

  it.each([
    ["", "got \"\""],
    ["NaN", "got \"NaN\""],
    ["Infinity", "got \"Infinity\""],
    ["1e-6", "got \"1e-6\""],
    ["1E3", "got \"1E3\""],
    [" 1", "got \" 1\""],
    ["1.", "got \"1.\""],
    ["0x10", "got \"0x10\""]
  ])("rejects %j as a decimal", (input, expected) => {
    expect(failure(() => Schema.decodeUnknownSync(Money.DecimalFromString)(input))).toContain(expected)
  })

  it("rejects a JSON number for a rate: floats never carry prices", () => {
    expect(failure(() => Schema.decodeUnknownSync(Money.DecimalFromString)(0.1))).toContain("Expected string")
  })

  it("names the field of a bad rate in a snapshot", () => {
    const message = failure(() => PricingSnapshot.decodeSnapshot({ provider: "p", modelKey: "m", rates: { cacheWrite1h: "1e3" } }))
    expect(message).toContain(`["rates"]["cacheWrite1h"]`)
    expect(failure(() => PricingSnapshot.decodeSnapshot({ provider: "p", modelKey: "m", rates: { inputText: "-1" } })))
      .toContain("expected a non-negative decimal")
    expect(failure(() => PricingSnapshot.decodeSnapshot({ provider: "p", modelKey: "m", rates: {}, batchDiscountPercent: "150" })))
      .toContain(`expected a percentage between 0 and 100, got 150`)
    expect(failure(() => PricingSnapshot.decodeSnapshot({ provider: "p", modelKey: "m", rates: {}, currency: "usd" })))
      .toContain(`["currency"]`)
  })

  it("names the field of a bad token count in a usage", () => {
    expect(failure(() => Usage.decodeUsage({ tokens: { reasoning: -3 } }))).toMatch(/non-negative integer[\s\S]*\["tokens"\]\["reasoning"\]/)
    expect(failure(() => Usage.decodeUsage({ tokens: { inputText: 1.5 } }))).toMatch(/integer[\s\S]*\["tokens"\]\["inputText"\]/)
    expect(failure(() => Usage.decodeUsage({ tokens: { inputText: 2 ** 53 } }))).toContain(`["tokens"]["inputText"]`)
    expect(failure(() => Usage.decodeUsage({ tokens: {}, toolCalls: { web: "1" } }))).toContain(`["toolCalls"]["web"]`)
  })

  it("knows each currency's minor unit", () => {
    expect(Money.minorUnits("USD")).toBe(2)
    expect(Money.minorUnits("JPY")).toBe(0)
    expect(Money.minorUnits("KWD")).toBe(3)
  })
})

describe("strict decoding", () => {
  it("rejects unknown keys instead of dropping them", () => {
    expect(failure(() => Usage.decodeUsage({ tokens: { input_tokens: 10 } }))).toContain(`["tokens"]["input_tokens"]`)
    expect(failure(() => PricingSnapshot.decodeSnapshot({ provider: "p", modelKey: "m", rates: {}, batchDiscount: "50" })))
      .toContain(`["batchDiscount"]`)
  })
})
