/**
 * `tally cost --provider <id> <payload.json|->`: normalize a raw provider payload, match its model
 * in the catalog at the event time and price it. An unmatched or unpriceable call still prints its
 * usage, with `costSource: "unpriced"` and the reason, and exits 3.
 */
import { Catalog, type PriceBook } from "@tally/catalog"
import { CalendarTime, Money } from "@tally/core"
import { Costing } from "@tally/engine"
import { Normalize } from "@tally/providers"
import { Effect, Result } from "effect"
import type * as Commands from "../Commands.ts"
import type { Parsed } from "../Spec.ts"
import { type CliError, ExitCode, invalidInput, WithExitCode } from "../CliError.ts"
import { normalizeOrFail, readNormalizeInput } from "./Normalize.ts"

const isoTime = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):(\d{2})))?$/

/**
 * An ISO 8601 date or date-time with its calendar fields in range (`CalendarTime`). `Date` alone
 * would roll 2026-02-30 over to March 2 and 24:00 to the next day: an event silently priced on
 * another day.
 */
const parseIso = (value: string): Date | undefined => {
  if (!isoTime.test(value) || CalendarTime.problemOf(value) !== undefined) return undefined
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

/** A Batch API output / results file: several JSONL lines, each a `custom_id` line. */
const isBatchFile = (payload: unknown): payload is string => {
  if (typeof payload !== "string") return false
  const lines = payload.split(/\r?\n/).filter((line) => line.trim() !== "")
  return lines.length > 1 && lines.every((line) => {
    try {
      const value: unknown = JSON.parse(line)
      return value !== null && typeof value === "object" && "custom_id" in value
    } catch {
      return false
    }
  })
}

/**
 * Every line of a batch file priced as a batch call. A failed line (errored, expired, status >= 400)
 * bills nothing and is listed with its reason; the total adds the billed lines. Exit 2 when a line
 * breaks its provider's rules, 3 when a billed line cannot be priced.
 */
const costBatchFile = (book: PriceBook.PriceBook, input: { provider: string; text: string; model?: string | undefined }, at: Date) => {
  const lines = Normalize.normalizeBatchOutput(input).map((line) => {
    if (Result.isFailure(line.result)) return { line: line.line, customId: line.customId ?? null, cost: null, error: { reason: line.result.failure.reason, message: line.result.failure.message } }
    return { line: line.line, customId: line.customId ?? null, costed: Costing.cost(book, line.result.success, { at }), error: null }
  })
  const billed = lines.flatMap((l) => "costed" in l && l.costed !== undefined ? [l.costed] : [])
  const currencies = new Set(billed.map((c) => c.currency))
  const priced = billed.every((c) => c.total !== null) && currencies.size <= 1
  const value = {
    batchFile: true,
    lines: lines.map((l) => ({ line: l.line, customId: l.customId, cost: "costed" in l && l.costed !== undefined ? Costing.toJson(l.costed) : null, error: l.error })),
    billedLines: billed.length,
    notBillableLines: lines.filter((l) => l.error?.reason === "failed-response").length,
    total: priced ? Money.format(Money.sum(billed.map((c) => c.total!))) : null,
    currency: priced ? ([...currencies][0] ?? null) : null
  }
  const broken = lines.find((l) => l.error !== null && l.error.reason !== "failed-response")
  if (broken !== undefined) {
    return new WithExitCode({ value, exitCode: ExitCode.invalidInput, stderr: `line ${broken.line}: ${broken.error!.message}` })
  }
  const unpriced = billed.find((c) => c.costSource === "unpriced")
  if (unpriced !== undefined) {
    return new WithExitCode({ value, exitCode: ExitCode.unpriced, stderr: `unpriced (${unpriced.unpriced?.reason ?? "unknown"}): ${unpriced.unpriced?.message ?? ""}` })
  }
  return value
}

export const run = ({ values, positionals }: Parsed<typeof Commands.cost.flags>) =>
  Effect.gen(function*() {
    // The instant priced at: --at, else the event's occurredAt, else now; the output says which.
    const flagAt = values.at === undefined ? undefined : yield* parseAt("cost", values.at)
    const input = yield* readNormalizeInput("cost", values, positionals)
    const at = flagAt ?? (input.occurredAt === undefined ? yield* parseAt("cost", undefined) : yield* parseAt("cost", input.occurredAt, "occurredAt"))
    const priced = { pricedAt: at.toISOString(), pricedAtFrom: flagAt !== undefined ? "--at" : input.occurredAt !== undefined ? "occurredAt" : "now" }
    if (isBatchFile(input.payload)) {
      const book = yield* loadBook(values.catalog, values["no-builtin"] !== true)
      const result = costBatchFile(book, { provider: input.provider, text: input.payload, model: input.model }, at)
      return result instanceof WithExitCode
        ? new WithExitCode({ value: { ...(result.value as object), ...priced }, exitCode: result.exitCode, stderr: result.stderr })
        : { ...result, ...priced }
    }
    const call = yield* normalizeOrFail(input)
    const book = yield* loadBook(values.catalog, values["no-builtin"] !== true)
    const costed = Costing.cost(book, call, { at })
    const json = { ...Costing.toJson(costed), ...priced }
    if (costed.costSource === "unpriced" || costed.costSource === "partial") {
      return new WithExitCode({
        value: json,
        exitCode: ExitCode.unpriced,
        stderr: `${costed.costSource} (${costed.unpriced?.reason ?? "unknown"}): ${costed.unpriced?.message ?? ""}`
      })
    }
    return json
  })
