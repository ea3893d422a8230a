/**
 * `tally import litellm-spend-logs --tenant <id> <file|->`: a LiteLLM proxy SpendLogs export (a
 * JSON array of `LiteLLM_SpendLogs` rows, or NDJSON) as Tally usage. Each row becomes one raw
 * event of provider `litellm` whose payload is the row verbatim (see
 * packages/providers/src/providers/LiteLlm.ts): Tally prices the usage with its catalog and keeps
 * LiteLLM's `spend` as the reported cost, so `tally reconcile` lists where the two disagree.
 * Rows of failed calls (`status` other than `success`) bill nothing and are skipped.
 *
 * The request id is LiteLLM's `request_id`: importing the same export twice inserts nothing new.
 */
import { writeFileSync } from "node:fs"
import * as Effect from "effect/Effect"
import { CliError, ExitCode, invalidInput, Printed } from "../CliError.ts"
import type * as Commands from "../Commands.ts"
import * as Progress from "../Progress.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { load, outcome, readEvents, type Sourced, withIngest } from "./Ingest.ts"

const command = "import litellm-spend-logs"

const text = (value: unknown): string | undefined => (typeof value === "string" && value.trim() !== "" ? value : undefined)

/** LiteLLM stores `startTime` as a UTC timestamp and may print it without a zone: read as UTC. */
const instantOf = (value: unknown): string | undefined => {
  const s = text(value)
  if (s === undefined) return undefined
  return /(?:Z|[+-]\d{2}:\d{2})$/i.test(s) ? s : `${s.replace(" ", "T")}Z`
}

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {}

/** A field value bounded as event labels are (at most 200 characters), or nothing. */
const label = (value: unknown): string | undefined => {
  const s = text(value)
  return s === undefined ? undefined : s.slice(0, 200)
}

export type Converted =
  | { readonly _tag: "Event"; readonly event: Record<string, unknown> }
  | { readonly _tag: "Skipped"; readonly reason: string }

/**
 * One SpendLogs row as an ingest event. The team is the key's team alias (else its team id), the
 * customer LiteLLM's `end_user`, the user LiteLLM's `user`; the row's tags stay in the payload.
 */
export const toEvent = (row: unknown): Converted => {
  const r = record(row)
  const status = text(r["status"])
  if (status !== undefined && status !== "success") return { _tag: "Skipped", reason: `status ${status}` }
  const metadata = record(r["metadata"])
  const labels = Object.fromEntries(
    Object.entries({
      team: label(metadata["user_api_key_team_alias"]) ?? label(r["team_id"]) ?? label(metadata["user_api_key_team_id"]),
      customer: label(r["end_user"]),
      user: label(r["user"]) ?? label(metadata["user_api_key_user_id"])
    }).filter(([, v]) => v !== undefined)
  )
  return {
    _tag: "Event",
    event: {
      requestId: r["request_id"],
      occurredAt: instantOf(r["startTime"]) ?? instantOf(r["endTime"]),
      ...(Object.keys(labels).length === 0 ? {} : { labels }),
      provider: "litellm",
      api: "spend-log",
      payload: row
    }
  }
}

async function* converted(items: AsyncIterable<Sourced | { readonly at: number; readonly reason: string }>, skipped: Array<{ at: number; reason: string }>) {
  for await (const item of items) {
    if (!("event" in item)) {
      yield item
      continue
    }
    const result = toEvent(item.event)
    if (result._tag === "Skipped") skipped.push({ at: item.at, reason: result.reason })
    else yield { at: item.at, event: result.event }
  }
}

export const run = ({ positionals, values }: Parsed<typeof Commands.importLitellm.flags>) =>
  Effect.gen(function*() {
    if (positionals.length !== 1) return yield* invalidInput(`${command}: expected one SpendLogs export (or - for stdin), got ${positionals.length}`)
    const path = positionals[0]!
    const skipped: Array<{ at: number; reason: string }> = []
    if (values.out !== undefined) {
      // Events only: NDJSON for `tally ingest` or `tally publish`, nothing stored.
      const lines: Array<string> = []
      const errors: Array<string> = []
      yield* Effect.tryPromise({
        try: async () => {
          for await (const item of converted(readEvents(path), skipped)) {
            if ("event" in item) lines.push(JSON.stringify(item.event))
            else errors.push(`at ${item.at}: ${item.reason}`)
          }
        },
        catch: (cause) => invalidInput(`${command}: ${path}: ${cause instanceof Error ? cause.message : String(cause)}`)
      })
      if (errors.length > 0) return yield* invalidInput(`${command}: ${path}: ${errors.length} unreadable row(s); first ${errors[0]}`)
      const ndjson = lines.map((line) => `${line}\n`).join("")
      if (values.out === "-") return new Printed(ndjson)
      const out = values.out
      yield* Effect.try({
        try: () => writeFileSync(out, ndjson),
        catch: (cause) => new CliError({ message: `${command}: cannot write ${out}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, exitCode: ExitCode.unexpected })
      })
      return { input: path, events: lines.length, skipped: skipped.length, out }
    }
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const progress = Progress.make(command, { quiet: values.quiet })
    const totals = yield* withIngest(command, values, tenantId, load(command, tenantId, converted(readEvents(path), skipped), 500, progress))
    const { rejections, ...counts } = totals
    return outcome(command, { tenant: tenantId, input: path, ...counts, skipped: skipped.length, rejections }, totals, progress)
  })
