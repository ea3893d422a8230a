import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import type * as Budget from "../src/Budget.ts"
import * as BudgetPeriod from "../src/BudgetPeriod.ts"

const HOUR = 3_600_000

const window = (period: Budget.Period, at: string, zone: string) => {
  const w = BudgetPeriod.containing(period, DateTime.makeUnsafe(at), zone)
  return {
    start: DateTime.formatIso(w.start),
    end: DateTime.formatIso(w.end),
    hours: BudgetPeriod.lengthMillis(w) / HOUR,
    label: w.label
  }
}

describe("BudgetPeriod", () => {
  it("a Berlin day is 23 hours on the spring DST change and 25 on the autumn one", () => {
    assert.deepStrictEqual(window("day", "2025-03-30T12:00:00Z", "Europe/Berlin"), {
      start: "2025-03-29T23:00:00.000Z",
      end: "2025-03-30T22:00:00.000Z",
      hours: 23,
      label: "2025-03-30"
    })
    assert.deepStrictEqual(window("day", "2025-10-26T12:00:00Z", "Europe/Berlin"), {
      start: "2025-10-25T22:00:00.000Z",
      end: "2025-10-26T23:00:00.000Z",
      hours: 25,
      label: "2025-10-26"
    })
  })

  it("the instant of local midnight belongs to the new day, the instant before to the old one", () => {
    assert.strictEqual(window("day", "2025-03-29T23:00:00.000Z", "Europe/Berlin").label, "2025-03-30")
    assert.strictEqual(window("day", "2025-03-29T22:59:59.999Z", "Europe/Berlin").label, "2025-03-29")
  })

  it("Kolkata's days start at 18:30 UTC", () => {
    assert.deepStrictEqual(window("day", "2025-01-15T18:29:59.999Z", "Asia/Kolkata"), {
      start: "2025-01-14T18:30:00.000Z",
      end: "2025-01-15T18:30:00.000Z",
      hours: 24,
      label: "2025-01-15"
    })
    assert.strictEqual(window("day", "2025-01-15T18:30:00.000Z", "Asia/Kolkata").label, "2025-01-16")
    assert.strictEqual(window("month", "2025-03-31T18:30:00.000Z", "Asia/Kolkata").label, "2025-04")
  })

  it("a half-hour DST change makes a Lord Howe day 24.5 hours", () => {
    assert.strictEqual(window("day", "2025-04-05T20:00:00Z", "Australia/Lord_Howe").hours, 24.5)
  })

  it("where midnight is skipped (Santiago, September) the day starts at 01:00", () => {
    assert.deepStrictEqual(window("day", "2024-09-08T12:00:00Z", "America/Santiago"), {
      start: "2024-09-08T04:00:00.000Z",
      end: "2024-09-09T03:00:00.000Z",
      hours: 23,
      label: "2024-09-08"
    })
    // The day before ends where that one starts.
    assert.strictEqual(window("day", "2024-09-07T12:00:00Z", "America/Santiago").end, "2024-09-08T04:00:00.000Z")
  })

  it("weeks start on Monday and carry ISO week labels; months are calendar months", () => {
    assert.deepStrictEqual(window("week", "2025-04-06T21:59:59Z", "Europe/Berlin"), {
      start: "2025-03-30T22:00:00.000Z",
      end: "2025-04-06T22:00:00.000Z",
      hours: 168,
      label: "2025-W14"
    })
    // 2024-12-30 is in ISO week 1 of 2025.
    assert.strictEqual(window("week", "2024-12-31T12:00:00Z", "UTC").label, "2025-W01")
    assert.deepStrictEqual(window("month", "2025-10-15T00:00:00Z", "Europe/Berlin"), {
      start: "2025-09-30T22:00:00.000Z",
      end: "2025-10-31T23:00:00.000Z",
      hours: 745,
      label: "2025-10"
    })
    assert.strictEqual(
      BudgetPeriod.calendarDays(BudgetPeriod.containing("month", DateTime.makeUnsafe("2024-02-10T00:00:00Z"), "UTC")),
      29
    )
  })

  it.effect("the period of now follows the TestClock across a Berlin midnight", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2025-03-29T22:59:00Z"))
      const before = BudgetPeriod.containing("day", yield* DateTime.now, "Europe/Berlin")
      yield* TestClock.adjust("1 minute")
      const after = BudgetPeriod.containing("day", yield* DateTime.now, "Europe/Berlin")
      assert.strictEqual(before.label, "2025-03-29")
      assert.strictEqual(after.label, "2025-03-30")
      assert.isTrue(DateTime.toEpochMillis(before.end) === DateTime.toEpochMillis(after.start))
    }))

  it("periods tile time: every instant lies in its period, and consecutive periods meet", () => {
    const zones = ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Asia/Kathmandu"]
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2035, 0, 1) }),
        fc.constantFrom(...zones),
        fc.constantFrom<Budget.Period>("day", "week", "month"),
        (at, zone, period) => {
          const w = BudgetPeriod.containing(period, at, zone)
          const next = BudgetPeriod.next(w)
          return BudgetPeriod.contains(w, at) &&
            DateTime.toEpochMillis(next.start) === DateTime.toEpochMillis(w.end) &&
            BudgetPeriod.containing(period, DateTime.toEpochMillis(w.end) - 1, zone).label === w.label
        }
      ),
      { numRuns: 500 }
    )
  })
})
