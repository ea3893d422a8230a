import { assert, describe, it } from "@effect/vitest"
import * as Forecast from "../src/Forecast.ts"
import * as Money from "../src/Money.ts"

const decimal = (value: string) => new Money.Decimal(value)
const DAY = 86_400_000

describe("Forecast", () => {
  it("the linear forecast carries the trailing rate to the period's end", () => {
    const forecast = Forecast.linear({
      spent: decimal("10"),
      amount: decimal("40"),
      trailingSpend: decimal("14"),
      trailingMillis: 7 * DAY,
      now: 0,
      periodEnd: 10 * DAY
    })
    assert.deepStrictEqual(
      { ...forecast, trailingSpend: Money.format(forecast.trailingSpend), dailyRate: Money.format(forecast.dailyRate), projectedSpend: Money.format(forecast.projectedSpend), projectedPercent: Money.format(forecast.projectedPercent) },
      { method: "linear-trailing-7d", trailingDays: 7, trailingSpend: "14", dailyRate: "2", projectedSpend: "30", projectedPercent: "75", exceeds: false }
    )
    assert.isTrue(Forecast.linear({ spent: decimal("39"), amount: decimal("40"), trailingSpend: decimal("7"), trailingMillis: 7 * DAY, now: 0, periodEnd: 2 * DAY }).exceeds)
  })

  it("a suggested budget is 115% of the per-period baseline, rounded up to the currency's minor unit", () => {
    const suggestion = Forecast.suggest({ baselineTotal: decimal("160"), lookbackDays: 60, periodDays: 1, currency: "USD" })
    assert.deepStrictEqual(
      [suggestion.suggested, suggestion.low, suggestion.high].map((d) => Money.format(d!)),
      ["3.07", "2.94", "3.2"]
    )
    assert.isNull(Forecast.suggest({ baselineTotal: Money.ZERO, lookbackDays: 30, periodDays: 7, currency: "JPY" }).suggested)
    assert.strictEqual(Money.format(Forecast.percent(decimal("1"), decimal("3"))), "33.33")
    assert.strictEqual(Money.format(Forecast.percent(decimal("1"), Money.ZERO)), "0")
  })
})
