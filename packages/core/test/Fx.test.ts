import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Fx, Money } from "../src/index.ts"

const dec = (text: string) => new Money.Decimal(text)

const rate = (id: string, date: string, value: string, recordedAt: string, base = "EUR", quote = "USD"): Fx.Rate => ({
  id,
  base,
  quote,
  date,
  rate: dec(value),
  source: "test",
  observedAt: `${date}T00:00:00.000Z`,
  recordedAt,
  recordedBy: "test"
})

/** An amount with up to 12 decimals, as money enters Tally (cents to sub-micro-cents). */
const amount = fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.integer({ min: 0, max: 12 }))
  .map(([units, scale]) => new Money.Decimal(units.toString()).div(new Money.Decimal(10).pow(scale)))
const positiveRate = fc.tuple(fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.integer({ min: 0, max: 8 }))
  .map(([units, scale]) => new Money.Decimal(units.toString()).div(new Money.Decimal(10).pow(scale)))

describe("Fx", () => {
  it("converting is exact: the converted parts sum to the converted whole, and nothing is rounded", () => {
    fc.assert(fc.property(fc.array(amount, { minLength: 1, maxLength: 20 }), positiveRate, (parts, r) => {
      const whole = Money.sum(parts)
      expect(Money.sum(parts.map((p) => Fx.convert(p, r))).equals(Fx.convert(whole, r))).toBe(true)
      // Exact: dividing back gives the original amount.
      expect(Fx.convert(whole, r).div(r).equals(whole)).toBe(true)
    }))
  })

  it("convertAvailable never fails: every day is converted at its rate or listed as not converted, and the total is the converted sum", () => {
    const days = ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.constantFrom(...days), fc.constantFrom("EUR", "USD"), amount), { maxLength: 12 }),
      fc.array(fc.tuple(fc.constantFrom(...days), positiveRate), { maxLength: 4 }),
      (spend, recorded) => {
        const rates = recorded.map(([date, r], i) => rate(`r${i}`, date, Money.format(r), "2025-03-05T00:00:00.000Z"))
        const input = spend.map(([date, currency, a]) => ({ date, currency, amount: a }))
        const out = Fx.convertAvailable(input, "USD", rates, "2025-03-06T00:00:00.000Z")
        expect(out.converted.length + out.notConverted.length).toBe(input.length)
        expect(out.total.equals(Money.sum(out.converted.map((d) => d.converted)))).toBe(true)
        for (const d of out.converted) {
          const picked = Fx.pick(rates, "EUR", "USD", d.date, "2025-03-06T00:00:00.000Z")
          expect(d.converted.equals(d.currency === "USD" ? d.amount : d.amount.times(picked!.rate))).toBe(true)
        }
        for (const d of out.notConverted) {
          expect(d.currency).toBe("EUR")
          expect(Fx.pick(rates, "EUR", "USD", d.date, "2025-03-06T00:00:00.000Z")).toBeUndefined()
        }
        // convertDays agrees where every day has a rate, and names the first day without one otherwise.
        const strict = Fx.convertDays(input, "USD", rates, "2025-03-06T00:00:00.000Z")
        if (out.notConverted.length === 0) expect(strict).toEqual(out.converted)
        else expect(strict instanceof Fx.RateMissing && strict.date).toBe(out.notConverted[0]!.date)
      }
    ))
  })

  it("a day's rate is the one recorded last by the conversion's instant; later rates never change it", () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(positiveRate, fc.integer({ min: 0, max: 1000 })), { minLength: 1, maxLength: 10 }),
      fc.integer({ min: 0, max: 1000 }),
      (recorded, at) => {
        const rates = recorded.map(([r, second], i) => rate(`r${String(i).padStart(3, "0")}`, "2025-03-02", Money.format(r), new Date(Date.UTC(2025, 2, 2, 0, 0, second)).toISOString()))
        const asOf = new Date(Date.UTC(2025, 2, 2, 0, 0, at)).toISOString()
        const picked = Fx.pick(rates, "EUR", "USD", "2025-03-02", asOf)
        const eligible = rates.filter((r) => Date.parse(r.recordedAt) <= Date.parse(asOf))
        if (eligible.length === 0) {
          expect(picked).toBeUndefined()
          return
        }
        expect(Date.parse(picked!.recordedAt)).toBeLessThanOrEqual(Date.parse(asOf))
        for (const r of eligible) expect(Date.parse(r.recordedAt)).toBeLessThanOrEqual(Date.parse(picked!.recordedAt))
        // A rate recorded after the instant does not change what was picked as of it.
        const later = [...rates, rate("zzz", "2025-03-02", "9", "2030-01-01T00:00:00.000Z")]
        expect(Fx.pick(later, "EUR", "USD", "2025-03-02", asOf)).toEqual(picked)
      }
    ))
  })

  it("converts amounts by day at each day's rate, keeps the reporting currency, and names a missing rate", () => {
    const rates = [
      rate("a", "2025-03-02", "1.08", "2025-03-02T16:00:00.000Z"),
      rate("b", "2025-03-03", "1.0825", "2025-03-03T16:00:00.000Z"),
      rate("c", "2025-03-02", "1.09", "2025-03-10T00:00:00.000Z")
    ]
    const days = [
      { date: "2025-03-02", currency: "EUR", amount: dec("5") },
      { date: "2025-03-03", currency: "EUR", amount: dec("1.1") },
      { date: "2025-03-02", currency: "USD", amount: dec("3.5") }
    ]
    const before = Fx.convertDays(days, "USD", rates, "2025-03-05T00:00:00.000Z")
    if (before instanceof Fx.RateMissing) throw before
    expect(before.map((d) => Money.format(d.converted))).toEqual(["5.4", "1.19075", "3.5"])
    expect(before.map((d) => d.rate?.id ?? null)).toEqual(["a", "b", null])
    const after = Fx.convertDays(days, "USD", rates, "2025-03-11T00:00:00.000Z")
    if (after instanceof Fx.RateMissing) throw after
    expect(after.map((d) => Money.format(d.converted))).toEqual(["5.45", "1.19075", "3.5"])
    const missing = Fx.convertDays([{ date: "2025-03-04", currency: "EUR", amount: dec("1") }], "USD", rates, "2025-03-11T00:00:00.000Z")
    expect(missing).toBeInstanceOf(Fx.RateMissing)
    expect((missing as Fx.RateMissing).message).toBe("no EUR->USD exchange rate for 2025-03-04: add one (tally fx add or fx import)")
  })

  it("validates rates by field and imports CSV and JSON files all or nothing", () => {
    const ok = Fx.validate({ base: "EUR", quote: "USD", date: "2025-03-02", rate: "1.08", source: "ECB" })
    expect(ok).not.toBeInstanceOf(Fx.InvalidRate)
    const bad = (input: unknown) => {
      const result = Fx.validate(input)
      if (!(result instanceof Fx.InvalidRate)) throw new Error("expected InvalidRate")
      return [result.field, result.message]
    }
    expect(bad({ base: "EUR", quote: "USD", date: "2025-03-02", rate: "0", source: "ECB" })[0]).toBe("rate")
    expect(bad({ base: "EUR", quote: "USD", date: "2025-03-02", rate: "1.08", source: "ECB" , extra: 1 })[0]).toBe("extra")
    expect(bad({ base: "eur", quote: "USD", date: "2025-03-02", rate: "1.08", source: "ECB" })[0]).toBe("base")
    expect(bad({ base: "EUR", quote: "USD", date: "2025-02-30", rate: "1.08", source: "ECB" })[0]).toBe("date")
    expect(bad({ base: "USD", quote: "USD", date: "2025-03-02", rate: "1", source: "ECB" })).toEqual(["quote", "quote: expected another currency than base"])
    expect(bad({ base: "EUR", quote: "USD", date: "2025-03-02", rate: 1.08, source: "ECB" })[0]).toBe("rate")

    const csv = Fx.parseImport("base,quote,date,rate,observedAt\r\nEUR,USD,2025-03-02,1.08,2025-03-02T16:00:00Z\r\nGBP,USD,2025-03-02,1.27,\r\n", "csv", "ECB")
    if (csv instanceof Fx.InvalidRate) throw csv
    expect(csv.map((r) => [r.base, Money.format(r.rate), r.source, r.observedAt ?? null])).toEqual([
      ["EUR", "1.08", "ECB", "2025-03-02T16:00:00Z"],
      ["GBP", "1.27", "ECB", null]
    ])
    const json = Fx.parseImport(JSON.stringify({ rates: [{ base: "EUR", quote: "USD", date: "2025-03-03", rate: "1.0825", source: "manual" }] }), "json")
    if (json instanceof Fx.InvalidRate) throw json
    expect(json).toHaveLength(1)
    const badRow = Fx.parseImport("base,quote,date,rate,source\nEUR,USD,2025-03-02,1.08,ECB\nEUR,USD,2025-03-03,-1,ECB\n", "csv")
    expect(badRow).toMatchObject({ _tag: "InvalidRate", field: "row 3.rate" })
    expect(Fx.parseImport("base,quote,day,rate\n", "csv")).toMatchObject({ field: "(header)" })
    expect(Fx.parseImport("{\"rate\": 1}", "json")).toMatchObject({ field: "(file)" })
  })
})
