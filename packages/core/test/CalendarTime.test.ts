import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as CalendarTime from "../src/CalendarTime.ts"

const pad = (value: number, width: number) => String(value).padStart(width, "0")

/** Whether the Gregorian calendar has that day, asked of `Date` with the year set exactly. */
const realDay = (year: number, month: number, day: number): boolean => {
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

describe("CalendarTime.problemOf", () => {
  it("accepts exactly the days each month has, leap years included (years 1-9999)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 32 }), (year, month, day) => {
        const text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T10:20:30Z`
        assert.strictEqual(CalendarTime.problemOf(text) === undefined, realDay(year, month, day), text)
      }),
      { numRuns: 5000 }
    )
  })

  it("names the field at fault", () => {
    assert.strictEqual(CalendarTime.problemOf("2026-02-29T00:00:00Z"), "2026-02 has no day 29")
    assert.strictEqual(CalendarTime.problemOf("2024-02-29T00:00:00Z"), undefined)
    assert.strictEqual(CalendarTime.problemOf("2100-02-29"), "2100-02 has no day 29")
    assert.strictEqual(CalendarTime.problemOf("2000-02-29"), undefined)
    assert.strictEqual(CalendarTime.problemOf("2026-13-01"), "month 13 does not exist")
    assert.strictEqual(CalendarTime.problemOf("2026-05-01T24:00:00Z"), "hour 24 does not exist (use 00:00 of the next day, not 24:00)")
    assert.strictEqual(CalendarTime.problemOf("2026-05-01T12:60:00Z"), "minute 60 does not exist")
    assert.strictEqual(CalendarTime.problemOf("2026-05-01T12:00:60Z"), "second 60 does not exist")
    assert.strictEqual(CalendarTime.problemOf("2026-05-01T12:00:00+24:00"), "the zone offset 24:00 does not exist")
    // Years 0-99 are counted as Date.UTC counts them (1900-1999): year 0 has no February 29.
    assert.strictEqual(CalendarTime.problemOf("0000-02-29"), "0000-02 has no day 29")
    assert.strictEqual(CalendarTime.problemOf("not a date"), undefined)
  })
})
