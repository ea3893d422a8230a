/**
 * `tally cost --provider <id> <payload.json|->`: normalize a raw provider payload, match its model
 * in the catalog at the event time and price it. An unmatched or unpriceable call still prints its
 * usage, with `costSource: "unpriced"` and the reason, and exits 3.
 */
import { Catalog } from "@tally/catalog"
import { Costing } from "@tally/engine"
import { Effect, Result } from "effect"
import * as Args from "../Args.ts"
import { type CliError, ExitCode, invalidInput, WithExitCode } from "../CliError.ts"
import { normalizeOrFail, payloadFlags, readNormalizeInput } from "./Normalize.ts"

export const usage =
  "tally cost --provider <id> [--at <ISO time>] [--catalog <custom-catalog.json>] [--no-builtin] [--model <model>] [--api <api>] [--request <request.json>] [--batch] <payload.json|->"

const isoTime = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):(\d{2})))?$/

/**
 * An ISO 8601 date or date-time with its calendar fields in range. `Date` alone would roll
 * 2026-02-30 over to March 2 and 24:00 to the next day: an event silently priced on another day.
 */
const parseIso = (value: string): Date | undefined => {
  const m = isoTime.exec(value)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second, offsetHour, offsetMinute] = m.slice(1).map((part) => part === undefined ? 0 : Number(part))
  const calendarDay = new Date(Date.UTC(year!, month! - 1, day!))
  if (calendarDay.getUTCFullYear() !== year || calendarDay.getUTCMonth() !== month! - 1 || calendarDay.getUTCDate() !== day) return undefined
  if (hour! > 23 || minute! > 59 || second! > 59 || offsetHour! > 23 || offsetMinute! > 59) return undefined
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? undefined : date
}

/** Parses `--at` (or the flag or field `what` names); the default is now, the time a live call happens. */
export const parseAt = (command: string, value: string | undefined, what = "--at"): Effect.Effect<Date, CliError> => {
  if (value === undefined) return Effect.sync(() => new Date())
  const date = parseIso(value)
  return date === undefined
    ? Effect.fail(invalidInput(`${command}: ${what} must be an ISO 8601 date or date-time such as 2026-05-01 or 2026-05-01T12:00:00Z, got "${value}"`))
    : Effect.succeed(date)
}

export const loadBook = (catalogPath: string | undefined, builtIn: boolean) => {
  const loaded = Catalog.loadBookSync({ customCatalogPath: catalogPath, builtIn: builtIn ? "default" : "none" })
  return Result.isSuccess(loaded)
    ? Effect.succeed(loaded.success)
    : Effect.fail(invalidInput(loaded.failure.message))
}

export const run = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { values, positionals } = yield* Args.parse("cost", args, {
      ...payloadFlags,
      at: { type: "string" },
      catalog: { type: "string" },
      "no-builtin": { type: "boolean" }
    })
    const at = yield* parseAt("cost", values.at)
    const input = yield* readNormalizeInput("cost", values, positionals)
    const call = yield* normalizeOrFail(input)
    const book = yield* loadBook(values.catalog, values["no-builtin"] !== true)
    const costed = Costing.cost(book, call, { at })
    const json = Costing.toJson(costed)
    if (costed.costSource === "unpriced" || costed.costSource === "partial") {
      return new WithExitCode({
        value: json,
        exitCode: ExitCode.unpriced,
        stderr: `${costed.costSource} (${costed.unpriced?.reason ?? "unknown"}): ${costed.unpriced?.message ?? ""}`
      })
    }
    return json
  })
