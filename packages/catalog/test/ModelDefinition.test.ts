import fc from "fast-check"
import { Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as ModelDefinition from "../src/ModelDefinition.ts"
import { entry } from "./support/Builders.ts"

const decodeEntry = Schema.decodeUnknownSync(ModelDefinition.HistoryEntry)
const history = (...entries: ReadonlyArray<ModelDefinition.HistoryEntryEncoded>) => entries.map((e) => decodeEntry(e))
const ms = (iso: string) => ModelDefinition.parseInstant(iso)!
const versionAt = (h: ReadonlyArray<ModelDefinition.HistoryEntry>, iso: string) => ModelDefinition.entryAt(h, ms(iso))?.entry.version

describe("effective dating", () => {
  const h = history(entry(1, "10", { to: "2025-06-10" }), entry(2, "2", { from: "2025-06-10", to: "2026-01-01T12:00:00Z" }), entry(3, "3", { from: "2026-01-01T12:00:00Z" }))

  it("effectiveFrom is inclusive and effectiveTo exclusive, to the millisecond", () => {
    expect(versionAt(h, "2025-06-09T23:59:59.999Z")).toBe(1)
    expect(versionAt(h, "2025-06-10T00:00:00.000Z")).toBe(2)
    expect(versionAt(h, "2026-01-01T11:59:59.999Z")).toBe(2)
    expect(versionAt(h, "2026-01-01T12:00:00Z")).toBe(3)
    expect(versionAt(h, "2026-01-01T13:00:00+01:00")).toBe(3)
    expect(versionAt(h, "2026-01-01T12:59:59.999+01:00")).toBe(2)
  })

  it("open ends reach to any time", () => {
    expect(versionAt(h, "1970-01-01")).toBe(1)
    expect(versionAt(h, "2999-12-31")).toBe(3)
  })

  it("a gap in the history has no snapshot", () => {
    const gap = history(entry(1, "1", { to: "2025-01-01" }), entry(2, "2", { from: "2025-02-01" }))
    expect(versionAt(gap, "2025-01-15")).toBeUndefined()
  })

  it("dates are midnight UTC and finer fractions of a second are truncated", () => {
    expect(ModelDefinition.parseInstant("2025-06-10")).toBe(Date.UTC(2025, 5, 10))
    expect(ModelDefinition.parseInstant("2025-06-10T00:00:00.999999999Z")).toBe(Date.UTC(2025, 5, 10) + 999)
    expect(ModelDefinition.parseInstant("not a date")).toBeUndefined()
  })
})

describe("time-of-day windows", () => {
  const h = history(
    entry(1, "0.135"),
    entry(2, "0.27", {}, { fromUtc: "00:30:00", toUtc: "16:30:00" })
  )

  it("a windowed entry wins inside its window, from inclusive and to exclusive", () => {
    expect(versionAt(h, "2026-05-01T00:29:59Z")).toBe(1)
    expect(versionAt(h, "2026-05-01T00:30:00Z")).toBe(2)
    expect(versionAt(h, "2026-05-01T16:29:59.999Z")).toBe(2)
    expect(versionAt(h, "2026-05-01T16:30:00Z")).toBe(1)
  })

  it("windows wrap past midnight", () => {
    const night = history(entry(1, "1"), entry(2, "0.5", {}, { fromUtc: "22:00", toUtc: "06:00" }))
    expect(versionAt(night, "2026-05-01T23:00:00Z")).toBe(2)
    expect(versionAt(night, "2026-05-01T05:59:59Z")).toBe(2)
    expect(versionAt(night, "2026-05-01T06:00:00Z")).toBe(1)
    expect(versionAt(night, "2026-05-01T21:59:59Z")).toBe(1)
  })
})

describe("history validation", () => {
  const definition = (entries: ReadonlyArray<ModelDefinition.HistoryEntryEncoded>) => ModelDefinition.decodeResult({
    id: "acme/m",
    provider: "acme",
    modelKey: "m",
    match: { equals: "m" },
    maintainer: "custom",
    history: entries
  })

  it("accepts adjacent ranges and windows next to a base entry", () => {
    expect(Result.isSuccess(definition([entry(1, "1", { to: "2025-01-01" }), entry(2, "2", { from: "2025-01-01" }), entry(3, "3", {}, { fromUtc: "01:00", toUtc: "02:00" })]))).toBe(true)
  })

  it.each([
    [[], "at least one history entry"],
    [[entry(1, "1"), entry(2, "2", { from: "2025-01-01" })], "overlap in time"],
    [[entry(1, "1", { from: "2025-02-01", to: "2025-01-01" })], "before effectiveTo"],
    [[entry(1, "1", {}, { fromUtc: "01:00", toUtc: "03:00" }), entry(2, "2", {}, { fromUtc: "02:00", toUtc: "04:00" })], "overlapping dates and time-of-day windows"],
    [[entry(1, "1", {}, { fromUtc: "01:00", toUtc: "01:00" })], "empty time-of-day window"]
  ])("rejects %j", (entries, message) => {
    const result = definition(entries as ReadonlyArray<ModelDefinition.HistoryEntryEncoded>)
    expect(Result.isFailure(result)).toBe(true)
    if (Result.isFailure(result)) expect(result.failure.message).toContain(message)
  })

  it("rejects unknown keys in a definition", () => {
    const result = ModelDefinition.decodeResult({ id: "a", provider: "p", modelKey: "m", match: { equals: "m" }, maintainer: "custom", history: [entry(1, "1")], price: 3 })
    expect(Result.isFailure(result)).toBe(true)
  })
})

describe("back-dated changes", () => {
  const day = 86_400_000
  const base = Date.UTC(2025, 0, 1)
  const iso = (d: number) => new Date(base + d * day).toISOString().slice(0, 10)

  it("a new entry takes over exactly its range; outside it the old prices stay", () => {
    // Histories: consecutive versions over day boundaries, then one inserted change.
    const cuts = fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 4 }).map((xs) => [...xs].sort((a, b) => a - b))
    fc.assert(fc.property(cuts, fc.integer({ min: 0, max: 70 }), fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }), (points, from, length) => {
      const bounds = [undefined, ...points, undefined]
      const old = history(...bounds.slice(0, -1).map((start, i) => entry(i + 1, String(i + 1), {
        ...(start === undefined ? {} : { from: iso(start) }),
        ...(bounds[i + 1] === undefined ? {} : { to: iso(bounds[i + 1]!) })
      })))
      const change = decodeEntry(entry(99, "99", { from: iso(from), ...(length === undefined ? {} : { to: iso(from + length) }) }))
      const next = ModelDefinition.insertEntry(old, change)
      expect(ModelDefinition.historyProblem(next)).toBeUndefined()
      for (let d = -2; d <= 95; d++) {
        const at = base + d * day + 3_600_000
        const inChange = d >= from && (length === undefined || d < from + length)
        const got = ModelDefinition.entryAt(next, at)?.entry.version
        expect(got).toBe(inChange ? 99 : ModelDefinition.entryAt(old, at)?.entry.version)
      }
    }))
  })

  it("an unwindowed change also replaces time-of-day windows in its range", () => {
    const old = history(entry(1, "0.135"), entry(2, "0.27", {}, { fromUtc: "00:30:00", toUtc: "16:30:00" }))
    const next = ModelDefinition.insertEntry(old, decodeEntry(entry(3, "0.2", { from: "2026-01-01" })))
    expect(versionAt(next, "2025-12-31T12:00:00Z")).toBe(2)
    expect(versionAt(next, "2026-01-01T12:00:00Z")).toBe(3)
    expect(versionAt(next, "2026-01-01T20:00:00Z")).toBe(3)
  })
})
