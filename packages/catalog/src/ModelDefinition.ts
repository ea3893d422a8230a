/**
 * A model definition: which names it prices (a match rule), for which provider, and an
 * effective-dated history of pricing snapshots. The snapshot used for an event is the one in
 * force at the event's time: `effectiveFrom` inclusive, `effectiveTo` exclusive, both in UTC.
 *
 * A history entry may also carry a daily UTC time-of-day window (off-peak prices): within its
 * date range a windowed entry wins over an unwindowed one while the event's time of day is in
 * the window.
 */
import { PricingSnapshot } from "@tally/core"
import { Schema } from "effect"
import * as MatchRule from "./MatchRule.ts"

export const Maintainer = Schema.Literals(["built-in", "custom"])
export type Maintainer = typeof Maintainer.Type

const ClockTime = Schema.String.check(
  Schema.isPattern(/^(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?$/, { message: "expected a UTC time of day such as \"16:30\" or \"16:30:00\"" })
)

/** A daily window in UTC, `from` inclusive, `to` exclusive; wraps past midnight when `to` <= `from`. */
export const TimeOfDayWindow = Schema.Struct({
  fromUtc: ClockTime,
  toUtc: ClockTime
})
export type TimeOfDayWindow = typeof TimeOfDayWindow.Type

/**
 * Where some of a snapshot's prices came from. `fields` are snapshot paths ("rates.inputAudio",
 * "batchDiscountPercent", "serviceTierMultipliers.priority", "units.perImage"); "*" means every
 * price no other provenance entry of the same history entry names.
 */
export const Provenance = Schema.Struct({
  fields: Schema.Array(Schema.NonEmptyString),
  /** The source: a package and version ("@pydantic/genai-prices@0.1.8") or a supplement entry ("supplement:openai-batch"). */
  source: Schema.NonEmptyString,
  /** A page a person can check: the provider's published price page. */
  reference: Schema.NonEmptyString,
  /** The date the reference stated the figure, when known. */
  asOf: Schema.optionalKey(Schema.String)
})
export type Provenance = typeof Provenance.Type

export const HistoryEntry = Schema.Struct({
  /** Price version: increases by one with each price decision; split pieces of one decision share it. */
  version: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1, { message: "expected a version >= 1" })),
  snapshot: PricingSnapshot.PricingSnapshot,
  timeOfDay: Schema.optionalKey(TimeOfDayWindow),
  /** Why this version exists, e.g. "contract 2026 discount" or the source it was converted from. */
  note: Schema.optionalKey(Schema.String),
  /** Where each price came from (the built-in catalog sets it for every entry). */
  provenance: Schema.optionalKey(Schema.Array(Provenance))
})
export type HistoryEntry = typeof HistoryEntry.Type
export type HistoryEntryEncoded = typeof HistoryEntry.Encoded

export const ClonedFrom = Schema.Struct({
  definitionId: Schema.NonEmptyString,
  /** The source's latest version when the clone was taken. */
  version: Schema.optionalKey(Schema.Int)
})
export type ClonedFrom = typeof ClonedFrom.Type

// ---------------------------------------------------------------------------------------------
// Time

const NEG_INF = Number.NEGATIVE_INFINITY
const POS_INF = Number.POSITIVE_INFINITY

/** Epoch milliseconds of an ISO date ("2025-06-10" is midnight UTC) or date-time. */
export const parseInstant = (iso: string): number | undefined => {
  const date = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? `${iso}T00:00:00Z` : iso
  const fraction = /^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$/.exec(date)
  // Date.parse keeps milliseconds only; finer fractions are truncated, never rounded up.
  const text = fraction === null ? date : `${fraction[1]}.${fraction[2]!.slice(0, 3).padEnd(3, "0")}${fraction[3]}`
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? undefined : ms
}

export interface Interval {
  readonly from: number
  readonly to: number
}

export const intervalOf = (entry: HistoryEntry): Interval => ({
  from: entry.snapshot.effectiveFrom === undefined ? NEG_INF : parseInstant(entry.snapshot.effectiveFrom) ?? NaN,
  to: entry.snapshot.effectiveTo === undefined ? POS_INF : parseInstant(entry.snapshot.effectiveTo) ?? NaN
})

const inInterval = (interval: Interval, at: number): boolean => at >= interval.from && at < interval.to

const secondsOf = (clock: string): number => {
  const [h, m, s] = clock.split(":")
  return Number(h) * 3600 + Number(m) * 60 + Number(s ?? 0)
}

export const inWindow = (window: TimeOfDayWindow, at: number): boolean => {
  const day = 86_400_000
  const second = Math.floor((((at % day) + day) % day) / 1000)
  const from = secondsOf(window.fromUtc)
  const to = secondsOf(window.toUtc)
  return to > from ? second >= from && second < to : second >= from || second < to
}

const windowsOverlap = (a: TimeOfDayWindow, b: TimeOfDayWindow): boolean => {
  // Compare minute by minute over one day: windows are whole seconds, so test each window start.
  const starts = [secondsOf(a.fromUtc), secondsOf(b.fromUtc)]
  const probe = (w: TimeOfDayWindow, s: number) => inWindow(w, s * 1000)
  return starts.some((s) => probe(a, s) && probe(b, s))
}

const intervalsOverlap = (a: Interval, b: Interval): boolean => a.from < b.to && b.from < a.to

/** Why a history is not well formed, or undefined. */
export const historyProblem = (history: ReadonlyArray<HistoryEntry>): string | undefined => {
  for (const [i, entry] of history.entries()) {
    const { from, to } = intervalOf(entry)
    if (Number.isNaN(from) || Number.isNaN(to)) return `history[${i}]: effectiveFrom/effectiveTo is not a valid instant`
    if (!(from < to)) return `history[${i}]: effectiveFrom must be before effectiveTo`
    if (entry.timeOfDay !== undefined && secondsOf(entry.timeOfDay.fromUtc) === secondsOf(entry.timeOfDay.toUtc)) {
      return `history[${i}]: an empty time-of-day window`
    }
  }
  for (let i = 0; i < history.length; i++) {
    for (let j = i + 1; j < history.length; j++) {
      const a = history[i]!
      const b = history[j]!
      if (!intervalsOverlap(intervalOf(a), intervalOf(b))) continue
      if (a.timeOfDay === undefined && b.timeOfDay === undefined) {
        return `history[${i}] and history[${j}] overlap in time: at most one snapshot may be in force at any instant`
      }
      if (a.timeOfDay !== undefined && b.timeOfDay !== undefined && windowsOverlap(a.timeOfDay, b.timeOfDay)) {
        return `history[${i}] and history[${j}] have overlapping dates and time-of-day windows`
      }
    }
  }
  return undefined
}

const History = Schema.Array(HistoryEntry).check(
  Schema.makeFilter<ReadonlyArray<HistoryEntry>>((history) =>
    history.length === 0 ? "expected at least one history entry" : historyProblem(history)
  , { identifier: "History" })
)

export const ModelDefinition = Schema.Struct({
  id: Schema.NonEmptyString,
  provider: Schema.NonEmptyString,
  /** The canonical model name, e.g. "gpt-4o" or "claude-sonnet-4-5". */
  modelKey: Schema.NonEmptyString,
  displayName: Schema.optionalKey(Schema.String),
  match: MatchRule.MatchRule,
  /** Tokenizer used to estimate unreported usage, e.g. "o200k_base"; absent when unknown. */
  tokenizer: Schema.optionalKey(Schema.NonEmptyString),
  maintainer: Maintainer,
  clonedFrom: Schema.optionalKey(ClonedFrom),
  deprecated: Schema.optionalKey(Schema.Boolean),
  contextWindow: Schema.optionalKey(Schema.Int),
  history: History
}).annotate({ identifier: "ModelDefinition" })
export type ModelDefinition = typeof ModelDefinition.Type
export type ModelDefinitionEncoded = typeof ModelDefinition.Encoded

export const decode = Schema.decodeUnknownSync(ModelDefinition, { onExcessProperty: "error" })
export const decodeResult = Schema.decodeUnknownResult(ModelDefinition, { onExcessProperty: "error" })
export const encode = Schema.encodeSync(ModelDefinition)

// ---------------------------------------------------------------------------------------------
// Effective dating

export interface InForce {
  readonly entry: HistoryEntry
  readonly index: number
  /** Why this entry: its date range and, for windowed entries, the window that contains the time. */
  readonly reason: string
}

const rangeText = (entry: HistoryEntry): string =>
  `[${entry.snapshot.effectiveFrom ?? "-∞"}, ${entry.snapshot.effectiveTo ?? "+∞"})`

/**
 * The history entry in force at `at` (epoch ms): among the entries whose date range contains
 * `at`, one whose time-of-day window contains `at` wins over one without a window.
 */
export const entryAt = (history: ReadonlyArray<HistoryEntry>, at: number): InForce | undefined => {
  let plain: InForce | undefined
  for (const [index, entry] of history.entries()) {
    if (!inInterval(intervalOf(entry), at)) continue
    if (entry.timeOfDay !== undefined) {
      if (inWindow(entry.timeOfDay, at)) {
        return {
          entry,
          index,
          reason: `version ${entry.version} in force ${rangeText(entry)} during ${entry.timeOfDay.fromUtc}-${entry.timeOfDay.toUtc} UTC`
        }
      }
    } else if (plain === undefined) {
      plain = { entry, index, reason: `version ${entry.version} in force ${rangeText(entry)}` }
    }
  }
  return plain
}

/** The unwindowed entry in force at `at`: the day's base price, ignoring time-of-day windows. */
export const baseEntryAt = (history: ReadonlyArray<HistoryEntry>, at: number): HistoryEntry | undefined =>
  history.find((entry) => entry.timeOfDay === undefined && inInterval(intervalOf(entry), at))

export const latestVersion = (history: ReadonlyArray<HistoryEntry>): number =>
  history.reduce((max, entry) => Math.max(max, entry.version), 0)

const withRange = (entry: HistoryEntry, from: string | undefined, to: string | undefined): HistoryEntry => {
  const { effectiveFrom: _from, effectiveTo: _to, ...rest } = entry.snapshot
  return {
    ...entry,
    snapshot: { ...rest, ...(from === undefined ? {} : { effectiveFrom: from }), ...(to === undefined ? {} : { effectiveTo: to }) }
  }
}

/**
 * Adds `entry` to a history. An unwindowed entry takes over its whole date range: every older
 * entry overlapping it (windowed or not) is trimmed or split around it. A windowed entry takes
 * over only from older entries whose windows overlap its own. This is how a back-dated price change re-rates history:
 * events after the new `effectiveFrom` now resolve to the new snapshot.
 */
export const insertEntry = (history: ReadonlyArray<HistoryEntry>, entry: HistoryEntry): ReadonlyArray<HistoryEntry> => {
  const range = intervalOf(entry)
  const out: Array<HistoryEntry> = []
  for (const existing of history) {
    const conflicts = entry.timeOfDay === undefined ||
      (existing.timeOfDay !== undefined && windowsOverlap(existing.timeOfDay, entry.timeOfDay))
    const own = intervalOf(existing)
    if (!conflicts || !intervalsOverlap(own, range)) {
      out.push(existing)
      continue
    }
    if (own.from < range.from) out.push(withRange(existing, existing.snapshot.effectiveFrom, entry.snapshot.effectiveFrom))
    if (range.to < own.to) out.push(withRange(existing, entry.snapshot.effectiveTo, existing.snapshot.effectiveTo))
  }
  out.push(entry)
  return out.sort((a, b) => intervalOf(a).from - intervalOf(b).from || a.version - b.version)
}
