/**
 * The maths of budget forecasts and suggested budgets: plain functions over exact decimals.
 *
 * Forecast (linear on trailing days): the spend rate of the scope over the last 7 × 24 hours
 * before now, carried to the end of the period and added to what is spent so far:
 *   projected = spent + (trailing spend / trailing ms) × (period end − now).
 * It ignores weekday seasonality on purpose; a week of history is what the FinOps guidance asks
 * for before a budget means anything.
 *
 * Suggested budget: the scope's average spend per local day over the trailing 30 to 60 complete
 * days (default 30), times the calendar days of the period, is the baseline; the suggestion is
 * 115% of it, within the 110-120% band the guidance recommends, rounded up to the currency's
 * minor unit.
 *
 * Forecast figures are estimates and are shown to 6 decimal places (rounded half-even); spend
 * itself is never rounded here.
 */
import * as Money from "./Money.ts"

export const trailingDays = 7
export const method = "linear-trailing-7d"
const DAY = 86_400_000

export const presentDigits = 6
const present = (value: Money.Decimal): Money.Decimal => value.toDecimalPlaces(presentDigits)

export interface Forecast {
  readonly method: string
  readonly trailingDays: number
  /** Spend of the scope over the trailing window. */
  readonly trailingSpend: Money.Decimal
  /** Trailing spend per 24 hours. */
  readonly dailyRate: Money.Decimal
  /** Spend expected by the end of the period. */
  readonly projectedSpend: Money.Decimal
  /** `projectedSpend` as a percentage of the budget, 2 decimals. */
  readonly projectedPercent: Money.Decimal
  /** Whether the projection exceeds the budget. */
  readonly exceeds: boolean
}

export const linear = (input: {
  readonly spent: Money.Decimal
  readonly amount: Money.Decimal
  readonly trailingSpend: Money.Decimal
  readonly trailingMillis: number
  readonly now: number
  readonly periodEnd: number
}): Forecast => {
  const remaining = Math.max(0, input.periodEnd - input.now)
  const perMilli = input.trailingMillis > 0 ? input.trailingSpend.div(input.trailingMillis) : Money.ZERO
  const projected = input.spent.plus(perMilli.times(remaining))
  return {
    method,
    trailingDays: input.trailingMillis / DAY,
    trailingSpend: input.trailingSpend,
    dailyRate: present(perMilli.times(DAY)),
    projectedSpend: present(projected),
    projectedPercent: percent(projected, input.amount),
    exceeds: projected.gt(input.amount)
  }
}

/** `part` as a percentage of `whole`, 2 decimals (half-even). */
export const percent = (part: Money.Decimal, whole: Money.Decimal): Money.Decimal =>
  whole.isZero() ? Money.ZERO : part.times(100).div(whole).toDecimalPlaces(2)

export const minLookbackDays = 30
export const maxLookbackDays = 60
export const factors = {
  low: new Money.Decimal("1.10"),
  suggested: new Money.Decimal("1.15"),
  high: new Money.Decimal("1.20")
} as const

export interface Suggestion {
  readonly lookbackDays: number
  readonly periodDays: number
  /** Spend over the lookback window. */
  readonly baselineTotal: Money.Decimal
  /** Average per local day. */
  readonly baselinePerDay: Money.Decimal
  /** Average per period: per day × the period's calendar days. */
  readonly baselinePerPeriod: Money.Decimal
  /** 110%, 115% and 120% of the per-period baseline, rounded up to minor units; null without spend. */
  readonly low: Money.Decimal | null
  readonly suggested: Money.Decimal | null
  readonly high: Money.Decimal | null
}

export const suggest = (input: {
  readonly baselineTotal: Money.Decimal
  readonly lookbackDays: number
  readonly periodDays: number
  readonly currency: string
}): Suggestion => {
  const perDay = input.baselineTotal.div(input.lookbackDays)
  const perPeriod = perDay.times(input.periodDays)
  const digits = Money.minorUnits(input.currency)
  const scaled = (factor: Money.Decimal) =>
    perPeriod.isZero() ? null : perPeriod.times(factor).toDecimalPlaces(digits, Money.Decimal.ROUND_UP)
  return {
    lookbackDays: input.lookbackDays,
    periodDays: input.periodDays,
    baselineTotal: input.baselineTotal,
    baselinePerDay: present(perDay),
    baselinePerPeriod: present(perPeriod),
    low: scaled(factors.low),
    suggested: scaled(factors.suggested),
    high: scaled(factors.high)
  }
}
