/**
 * The period a page shows: whole days of the tenant's time zone, from `from` (first day) to `to`
 * (last day, inclusive), and the granularity its charts use.
 *
 * With nothing chosen, a page opens on the last 30 days when they hold calls, else on the days the
 * tenant's calls span (so a demo's sample calls show whatever today's date is).
 */
import { addDays, localDate, startOfLocalDate } from "./Format.ts"

export interface Period {
  /** First day, `YYYY-MM-DD` in the zone. */
  readonly from: string
  /** Last day, inclusive. */
  readonly to: string
}

export type Granularity = "HOUR" | "DAY" | "MONTH"

export interface Range {
  readonly from: string
  readonly to: string
}

/** The instants `[from, to)` the API is asked about. */
export const toRange = (period: Period, zone: string): Range => ({
  from: new Date(startOfLocalDate(period.from, zone)!).toISOString(),
  to: new Date(startOfLocalDate(addDays(period.to, 1), zone)!).toISOString()
})

export const days = (period: Period): number =>
  Math.round((Date.parse(`${period.to}T00:00:00Z`) - Date.parse(`${period.from}T00:00:00Z`)) / 86_400_000) + 1

/** Hours up to 3 days, days up to 120, then months: a chart of 24 to ~120 bars. */
export const granularityFor = (period: Period): Granularity => {
  const n = days(period)
  return n <= 3 ? "HOUR" : n <= 120 ? "DAY" : "MONTH"
}

export const lastDays = (n: number, now: number, zone: string): Period => {
  const today = localDate(now, zone)
  return { from: addDays(today, -(n - 1)), to: today }
}

/** The days the tenant's calls span. */
export const ofSpan = (span: { readonly first: string; readonly last: string }, zone: string): Period => ({
  from: localDate(Date.parse(span.first), zone),
  to: localDate(Date.parse(span.last), zone)
})

/** The default period: the last 30 days when the latest call is in them, else the days the calls span. */
export const initial = (now: number, zone: string, span: { readonly first: string; readonly last: string } | null): Period => {
  const recent = lastDays(30, now, zone)
  if (span === null) return recent
  const last = Date.parse(span.last)
  if (last >= startOfLocalDate(recent.from, zone)!) return recent
  return ofSpan(span, zone)
}

const datePattern = /^\d{4}-\d{2}-\d{2}$/

/** A period from a page's query string (`?from=2026-11-01&to=2026-11-30`), when it is one. */
export const fromQuery = (query: URLSearchParams): Period | undefined => {
  const from = query.get("from")
  const to = query.get("to")
  if (from === null || to === null || !datePattern.test(from) || !datePattern.test(to) || from > to) return undefined
  return { from, to }
}
