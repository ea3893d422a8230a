/**
 * What the usage report needs to know about a time zone: whether its UTC offset is a whole number
 * of hours throughout a range (then its days and months are unions of UTC hours, and the hourly
 * rollups can answer for them). Whether a zone exists is core's `UsageQuery.validate`.
 */

const formatters = new Map<string, Intl.DateTimeFormat>()

const formatter = (zone: string): Intl.DateTimeFormat => {
  let f = formatters.get(zone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" })
    formatters.set(zone, f)
  }
  return f
}

/** The zone's offset from UTC at `millis`, in minutes east ("GMT+05:30" is 330). */
export const offsetMinutes = (zone: string, millis: number): number => {
  const name = formatter(zone).formatToParts(millis).find((p) => p.type === "timeZoneName")?.value ?? "GMT"
  const match = /^GMT([+-])(\d{2}):?(\d{2})?/.exec(name)
  if (match === null) return 0
  const minutes = Number(match[2]) * 60 + Number(match[3] ?? 0)
  return match[1] === "-" ? -minutes : minutes
}

const HOUR = 3_600_000

/**
 * Whether every offset the zone has in `[from, to)` is a whole number of hours. Offsets change at
 * most a few times a year, so probing every six hours (and both ends) finds any that is not.
 */
export const wholeHourOffsets = (zone: string, from: number, to: number): boolean => {
  if (zone === "UTC" || zone === "Etc/UTC") return true
  const step = 6 * HOUR
  for (let t = from; t < to; t += step) if (offsetMinutes(zone, t) % 60 !== 0) return false
  return offsetMinutes(zone, Math.max(from, to - 1)) % 60 === 0
}
