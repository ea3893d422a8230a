/**
 * Budget periods: the day, ISO week (Monday first) or month that contains an instant, cut in the
 * tenant's IANA time zone. Pure functions over instants.
 *
 * Boundaries are local midnights, found with the zone's own rules through `DateTime`, so a period
 * is as long as the calendar makes it: a Berlin day is 23 hours on the spring DST change and 25
 * on the autumn one, a Lord Howe day 23.5 or 24.5, and where midnight itself is skipped (Santiago
 * in September) the day starts at the first instant that exists, 01:00.
 */
import * as DateTime from "effect/DateTime"
import type { Budget, Period, PeriodKind } from "./Budget.ts"

export interface PeriodWindow {
  readonly period: PeriodKind
  /** First instant of the period. */
  readonly start: DateTime.Utc
  /** First instant of the next period (exclusive end). */
  readonly end: DateTime.Utc
  readonly timeZone: string
  /** The period in local terms: `2025-03-30`, `2025-W14`, `2025-03`; `last 60s` for a rolling window. */
  readonly label: string
  /**
   * What a crossing in this window is recorded under (its "period start"): the start of a calendar
   * period; for a rolling window, the start of the window-long slot (counted from the Unix epoch)
   * that contains the instant, so each threshold is announced at most once per window length.
   */
  readonly crossingStart: DateTime.Utc
  /**
   * What holds against this window are keyed by: the start of a calendar period; for a rolling
   * window the epoch, so every live hold of the budget counts whenever it was made.
   */
  readonly holdStart: DateTime.Utc
}

const zones = new Map<string, DateTime.TimeZone>()

/** The named zone, built once per name (constructing one builds an `Intl` formatter). */
export const zone = (timeZone: string): DateTime.TimeZone => {
  let found = zones.get(timeZone)
  if (found === undefined) {
    found = DateTime.zoneMakeNamedUnsafe(timeZone)
    zones.set(timeZone, found)
  }
  return found
}

const unit = { day: "day", week: "week", month: "month" } as const
const step = { day: { days: 1 }, week: { weeks: 1 }, month: { months: 1 } } as const

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/** ISO 8601 week-numbering year and week of a local calendar date. */
const isoWeek = (year: number, month: number, day: number): { year: number; week: number } => {
  const date = new Date(Date.UTC(year, month - 1, day))
  const weekday = (date.getUTCDay() + 6) % 7 // Monday 0
  date.setUTCDate(date.getUTCDate() - weekday + 3) // the Thursday of this week decides the year
  const weekYear = date.getUTCFullYear()
  const firstThursday = new Date(Date.UTC(weekYear, 0, 4))
  const firstWeekday = (firstThursday.getUTCDay() + 6) % 7
  firstThursday.setUTCDate(firstThursday.getUTCDate() - firstWeekday + 3)
  return { year: weekYear, week: 1 + Math.round((date.getTime() - firstThursday.getTime()) / (7 * 86_400_000)) }
}

const label = (period: Period, start: DateTime.Zoned): string => {
  const parts = DateTime.toParts(start)
  switch (period) {
    case "day":
      return `${parts.year}-${pad(parts.month)}-${pad(parts.day)}`
    case "month":
      return `${parts.year}-${pad(parts.month)}`
    case "week": {
      const { week, year } = isoWeek(parts.year, parts.month, parts.day)
      return `${year}-W${pad(week)}`
    }
  }
}

const startOf = (period: Period, at: DateTime.Zoned): DateTime.Zoned =>
  DateTime.startOf(at, unit[period], { weekStartsOn: 1 })

/** The period of kind `period` that contains `at`, in `timeZone`. */
export const containing = (period: Period, at: DateTime.DateTime | number, timeZone: string): PeriodWindow => {
  const zoned = DateTime.makeZonedUnsafe(typeof at === "number" ? at : DateTime.toEpochMillis(at), {
    timeZone: zone(timeZone)
  })
  const start = startOf(period, zoned)
  // One calendar step on, then back to that period's own start: lands on the next local midnight
  // even when the step landed in a DST gap.
  const end = startOf(period, DateTime.add(start, step[period]))
  const startUtc = DateTime.toUtc(start)
  return {
    period,
    start: startUtc,
    end: DateTime.toUtc(end),
    timeZone,
    label: label(period, start),
    crossingStart: startUtc,
    holdStart: startUtc
  }
}

const epoch = DateTime.makeUnsafe(0)

/**
 * The rolling window of `windowSeconds` that ends at `at` (inclusive): `(at − window, at]`, as the
 * half-open `[at − window + 1 ms, at + 1 ms)` that spend reads take.
 */
export const rolling = (windowSeconds: number, at: DateTime.DateTime | number, timeZone: string): PeriodWindow => {
  const millis = typeof at === "number" ? at : DateTime.toEpochMillis(at)
  const length = windowSeconds * 1000
  return {
    period: "rolling",
    start: DateTime.makeUnsafe(millis - length + 1),
    end: DateTime.makeUnsafe(millis + 1),
    timeZone,
    label: `last ${windowSeconds}s`,
    crossingStart: DateTime.makeUnsafe(Math.floor(millis / length) * length),
    holdStart: epoch
  }
}

/** The window of `budget` that counts at `at`: its calendar period, or its rolling window ending at `at`. */
export const ofBudget = (
  budget: Pick<Budget, "period" | "windowSeconds">,
  at: DateTime.DateTime | number,
  timeZone: string
): PeriodWindow =>
  budget.period === "rolling"
    ? rolling(budget.windowSeconds ?? 60, at, timeZone)
    : containing(budget.period, at, timeZone)

/** The period after `window` (a calendar period). */
export const next = (window: PeriodWindow): PeriodWindow =>
  window.period === "rolling" ? window : containing(window.period, window.end, window.timeZone)

/** Whether `at` lies in `[start, end)`. */
export const contains = (window: PeriodWindow, at: DateTime.DateTime | number): boolean => {
  const millis = typeof at === "number" ? at : DateTime.toEpochMillis(at)
  return millis >= DateTime.toEpochMillis(window.start) && millis < DateTime.toEpochMillis(window.end)
}

/** Length in milliseconds. */
export const lengthMillis = (window: { readonly start: DateTime.Utc; readonly end: DateTime.Utc }): number =>
  DateTime.toEpochMillis(window.end) - DateTime.toEpochMillis(window.start)

/** Local calendar days in the period (1, 7 or the month's 28 to 31), whatever its hours. */
export const calendarDays = (window: PeriodWindow): number => {
  if (window.period === "rolling") return lengthMillis(window) / 86_400_000
  if (window.period === "day") return 1
  if (window.period === "week") return 7
  const parts = DateTime.toParts(DateTime.makeZonedUnsafe(DateTime.toEpochMillis(window.start), { timeZone: zone(window.timeZone) }))
  return new Date(Date.UTC(parts.year, parts.month, 0)).getUTCDate()
}

/** The start of the local day `days` before the day that contains `at` (DST-correct). */
export const localDayStart = (at: DateTime.DateTime | number, timeZone: string, daysBack = 0): DateTime.Utc => {
  const today = containing("day", at, timeZone)
  if (daysBack === 0) return today.start
  const zoned = DateTime.makeZonedUnsafe(DateTime.toEpochMillis(today.start), { timeZone: zone(timeZone) })
  return DateTime.toUtc(DateTime.startOf(DateTime.subtract(zoned, { days: daysBack }), "day"))
}

/** JSON form: instants as ISO strings. */
export const toJson = (window: PeriodWindow) => ({
  period: window.period,
  start: DateTime.formatIso(window.start),
  end: DateTime.formatIso(window.end),
  timeZone: window.timeZone,
  label: window.label
})
