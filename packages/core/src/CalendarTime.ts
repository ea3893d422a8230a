/**
 * ISO 8601 dates and date-times whose calendar fields are in range. `Date` and `DateTime.make`
 * roll 2026-02-30 over to March 2 and `T24:00` to the next day, so an event would be priced and
 * counted on a day nobody sent. Every place a date enters (events, query parameters, the CLI)
 * checks it with `problemOf` first.
 */

const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|[+-](\d{2}):?(\d{2}))?)?$/

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * Days of `month` (1-12) in `year`, as `Date.UTC(year, month, 0)` counts them (without building a
 * Date: this runs for every ingested event). `Date.UTC` reads years 0-99 as 1900-1999, so year 0
 * has no February 29 there; that is kept.
 */
const daysIn = (year: number, month: number): number => {
  if (month !== 2) return MONTH_DAYS[month - 1]!
  const y = year >= 0 && year <= 99 ? year + 1900 : year
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28
}

const numberOf = (part: string | undefined): number => (part === undefined ? 0 : Number(part))

/**
 * Why `text` is not a real calendar date or date-time (month 1-12, a day the month has, hour
 * 0-23, minute and second 0-59, zone offset at most 23:59), or undefined when it is one. Text that
 * is not ISO-shaped at all is left to the caller's own pattern and message.
 */
export const problemOf = (text: string): string | undefined => {
  const m = iso.exec(text)
  if (m === null) return undefined
  const year = numberOf(m[1])
  const month = numberOf(m[2])
  const day = numberOf(m[3])
  const hour = numberOf(m[4])
  const minute = numberOf(m[5])
  const second = numberOf(m[6])
  const offsetHour = numberOf(m[7])
  const offsetMinute = numberOf(m[8])
  if (month < 1 || month > 12) return `month ${month} does not exist`
  if (day < 1 || day > daysIn(year, month)) return `${m[1]}-${m[2]} has no day ${day}`
  if (hour > 23) return `hour ${hour} does not exist (use 00:00 of the next day, not 24:00)`
  if (minute > 59) return `minute ${minute} does not exist`
  if (second > 59) return `second ${second} does not exist`
  if (offsetHour > 23 || offsetMinute > 59) return `the zone offset ${m[7]}:${m[8]} does not exist`
  return undefined
}

/** True when `text` is ISO-shaped with every calendar field in range. */
export const isValid = (text: string): boolean => iso.test(text) && problemOf(text) === undefined
