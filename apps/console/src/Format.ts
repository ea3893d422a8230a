/**
 * How figures and instants are shown. Amounts are shown exactly as the API returns them (a decimal
 * string and its currency), with only thousands separators added; the one place figures are
 * rounded is a chart's axis and tooltip, which says so. Instants are shown in the tenant's time
 * zone, which is also the zone days and months of usage are cut in.
 */

/** `-1234567.5` → `-1,234,567.5`: digits grouped, nothing rounded. */
export const groupDigits = (amount: string): string => {
  const negative = amount.startsWith("-")
  const [whole = "0", fraction] = (negative ? amount.slice(1) : amount).split(".")
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")
  return `${negative ? "-" : ""}${grouped}${fraction === undefined ? "" : `.${fraction}`}`
}

/** An exact amount with its currency: `1,234.0045 USD`. */
export const money = (amount: string, currency: string | null | undefined): string =>
  `${groupDigits(amount)}${currency ? ` ${currency}` : ""}`

/** For charts only: a float is good enough to place a bar; never for a figure shown as text. */
export const toNumber = (amount: string | null | undefined): number => (amount == null ? 0 : Number(amount))

/** A chart's rounded label: `1,234.57` (2 decimals, or more for tiny values so they do not read 0). */
export const rounded = (value: number): string => {
  const abs = Math.abs(value)
  const digits = abs === 0 || abs >= 1 ? 2 : Math.min(8, 2 - Math.floor(Math.log10(abs)))
  return value.toLocaleString("en-US", { minimumFractionDigits: Math.min(2, digits), maximumFractionDigits: digits })
}

export const count = (value: number | null | undefined): string => (value ?? 0).toLocaleString("en-US")

/** A share for display: `42.1%` (rounded to 0.1). */
export const percent = (part: number, whole: number): string => (whole === 0 ? "–" : `${((part / whole) * 100).toFixed(1)}%`)

// ---------------------------------------------------------------------------------------------
// Time zones, with the browser's own zone data (Intl).

const partsFormat = new Map<string, Intl.DateTimeFormat>()
const partsIn = (zone: string) => {
  let format = partsFormat.get(zone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit"
    })
    partsFormat.set(zone, format)
  }
  return format
}

/** The wall-clock fields of an instant in a zone. */
export const wallClock = (millis: number, zone: string) => {
  const fields: Record<string, number> = {}
  for (const part of partsIn(zone).formatToParts(new Date(millis))) {
    if (part.type !== "literal") fields[part.type] = Number(part.value)
  }
  return { year: fields["year"]!, month: fields["month"]!, day: fields["day"]!, hour: fields["hour"]! % 24, minute: fields["minute"]!, second: fields["second"]! }
}

/** How far the zone's wall clock is ahead of UTC at an instant, in milliseconds. */
export const offsetAt = (millis: number, zone: string): number => {
  const w = wallClock(millis, zone)
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(millis / 1000) * 1000
}

/** The instant a wall-clock time of the zone happens (the later one in a gap, the first in an overlap). */
export const instantOf = (year: number, month: number, day: number, hour: number, zone: string): number => {
  const guess = Date.UTC(year, month - 1, day, hour)
  const first = guess - offsetAt(guess, zone)
  return guess - offsetAt(first, zone)
}

/** `YYYY-MM-DD` of an instant in the zone. */
export const localDate = (millis: number, zone: string): string => {
  const w = wallClock(millis, zone)
  return `${w.year}-${String(w.month).padStart(2, "0")}-${String(w.day).padStart(2, "0")}`
}

/** The instant a `YYYY-MM-DD` day of the zone starts; undefined for another text. */
export const startOfLocalDate = (date: string, zone: string): number | undefined => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date)
  if (match === null) return undefined
  return instantOf(Number(match[1]), Number(match[2]), Number(match[3]), 0, zone)
}

/** `YYYY-MM-DD` plus some days (calendar arithmetic, no zone involved). */
export const addDays = (date: string, days: number): string => {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number]
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10)
}

const displayFormats = new Map<string, Intl.DateTimeFormat>()
const display = (zone: string, kind: "instant" | "day" | "hour") => {
  const id = `${zone}|${kind}`
  let format = displayFormats.get(id)
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone,
      ...(kind === "day"
        ? { day: "numeric", month: "short", year: "numeric" }
        : kind === "hour"
        ? { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
        : { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" })
    })
    displayFormats.set(id, format)
  }
  return format
}

/** `2 Nov 2026, 09:15:00` in the zone. */
export const instant = (iso: string | null | undefined, zone: string): string => (iso == null ? "–" : display(zone, "instant").format(new Date(iso)))

/** `2 Nov 2026` in the zone. */
export const day = (iso: string | number, zone: string): string => display(zone, "day").format(new Date(iso))

/** `2 Nov, 09:00` in the zone. */
export const hour = (iso: string | number, zone: string): string => display(zone, "hour").format(new Date(iso))
