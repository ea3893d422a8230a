/**
 * `tally ingest --tenant <id> <events|->`: usage events into the ledger from a file or stdin, the
 * same pipeline as `POST /api/v1/usage/ingest` (normalize, match, price, store, budgets). NDJSON is
 * streamed line by line; a JSON array is read whole. Events go in batches of `--batch-size`, one
 * transaction each. The ledger is idempotent on (tenant, requestId), so rerunning an interrupted
 * load inserts only what is missing and counts the rest as duplicates.
 */
import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"
import { Catalog } from "@tally/catalog"
import { Ingest } from "@tally/engine"
import { Store } from "@tally/store"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CliError, ExitCode, invalidInput, WithExitCode } from "../CliError.ts"
import type * as Commands from "../Commands.ts"
import { type DatabaseFlags, type Failure, requireTenant, withDatabase } from "../CommandDatabase.ts"
import * as Progress from "../Progress.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"

const defaultBatchSize = 500
const maxBatchSize = 5000
/** Rejected events listed in the output (all are counted, and all are in the dead-letter table). */
const listedRejections = 20

/** One event and where it came from: its line (NDJSON) or index (array), 1-based. */
export interface Sourced {
  readonly at: number
  readonly event: unknown
}

/** An unparseable line: not an event, reported with its line number and skipped. */
export interface Unreadable {
  readonly at: number
  readonly reason: string
}

type Item = Sourced | Unreadable

const lines = (path: string) =>
  createInterface({ input: path === "-" ? process.stdin : createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity })

/**
 * The events of a file, in order: NDJSON line by line, or the elements of a JSON array (told by
 * the first non-blank character, `[`).
 */
export async function* readEvents(path: string): AsyncGenerator<Item> {
  const reader = lines(path)
  let array: Array<string> | undefined
  let n = 0
  for await (const line of reader) {
    n += 1
    if (array !== undefined) {
      array.push(line)
      continue
    }
    const trimmed = line.trim()
    if (trimmed === "") continue
    if (trimmed.startsWith("[")) {
      array = [line]
      continue
    }
    try {
      yield { at: n, event: JSON.parse(trimmed) as unknown }
    } catch (cause) {
      yield { at: n, reason: `not valid JSON: ${(cause as Error).message}` }
    }
  }
  if (array === undefined) return
  const parsed = JSON.parse(array.join("\n")) as unknown
  if (!Array.isArray(parsed)) throw new Error("expected a JSON array of events")
  for (const [i, event] of parsed.entries()) yield { at: i + 1, event }
}

export interface Totals {
  events: number
  inserted: number
  duplicates: number
  conflicts: number
  rejected: number
  batches: number
  readonly rejections: Array<{ readonly at: number; readonly requestId: string | null; readonly status: string; readonly reason: string }>
}

export const emptyTotals = (): Totals => ({ events: 0, inserted: 0, duplicates: 0, conflicts: 0, rejected: 0, batches: 0, rejections: [] })

const rate = (n: number, ms: number) => (ms <= 0 ? "" : `, ${Progress.count(Math.round((n * 1000) / ms))}/s`)

export const describeTotals = (t: Totals) =>
  `${Progress.count(t.events)} events: ${Progress.count(t.inserted)} inserted, ${Progress.count(t.duplicates)} duplicates, ${Progress.count(t.conflicts)} conflicts, ${
    Progress.count(t.rejected)
  } rejected`

/**
 * Streams `items` into the ledger of `tenantId` in batches. `where` names the input in messages
 * ("line" for NDJSON, "event" for an array). Fails only when the database does; bad events are
 * counted and listed.
 */
export const load = (
  command: string,
  tenantId: string,
  items: AsyncIterable<Item>,
  batchSize: number,
  progress: Progress.Progress
): Effect.Effect<Totals, Failure, Ingest.Ingest> =>
  Effect.gen(function*() {
    const ingest = yield* Ingest.Ingest
    const totals = emptyTotals()
    const iterator = items[Symbol.asyncIterator]()
    const note = (at: number, requestId: string | null, status: string, reason: string) => {
      if (totals.rejections.length < listedRejections) totals.rejections.push({ at, requestId, status, reason })
    }
    while (true) {
      const batch: Array<Sourced> = []
      let finished = false
      while (batch.length < batchSize) {
        const next = yield* Effect.tryPromise({
          try: () => iterator.next(),
          catch: (cause) => invalidInput(`${command}: ${cause instanceof Error ? cause.message : String(cause)}`)
        })
        if (next.done === true) {
          finished = true
          break
        }
        const item = next.value
        if ("event" in item) batch.push(item)
        else {
          totals.events += 1
          totals.rejected += 1
          note(item.at, null, "rejected", item.reason)
        }
      }
      if (batch.length > 0) {
        const result = yield* ingest.ingest(tenantId, batch.map((item) => item.event)).pipe(
          Effect.mapError((failure) =>
            failure.reason === "unknown-tenant"
              ? invalidInput(`${command}: tenant "${tenantId}" does not exist`)
              : new CliError({ message: `${command}: ${failure.message} (${describeTotals(totals)} before it; rerun to resume)`, exitCode: ExitCode.unexpected })
          )
        )
        totals.batches += 1
        totals.events += batch.length
        totals.inserted += result.inserted
        totals.duplicates += result.duplicates
        totals.conflicts += result.conflicts
        totals.rejected += result.rejected
        for (const item of result.items) {
          if (item.status === "rejected" || item.status === "conflict") note(batch[item.index]!.at, item.requestId, item.status, item.reason ?? item.status)
        }
        progress.report(() => `${describeTotals(totals)}${rate(totals.events, progress.elapsed())}`)
      }
      if (finished) return totals
    }
  })

/** The summary: exit 0 when every event landed or was there already, else 2 naming the first bad one. */
export const outcome = (command: string, value: Record<string, unknown>, totals: Totals, progress: Progress.Progress) => {
  const first = totals.rejections[0]
  if (first === undefined) {
    progress.done(`${describeTotals(totals)} in ${(progress.elapsed() / 1000).toFixed(1)} s`)
    return value
  }
  return new WithExitCode({
    value,
    exitCode: ExitCode.invalidInput,
    stderr: `${command}: ${describeTotals(totals)}; first not stored, at ${first.at}: ${first.reason}`
  })
}

export const batchSizeOf = (command: string, text: string | undefined) =>
  Effect.gen(function*() {
    const n = (yield* Spec.nonNegativeInt(command, "batch-size", text)) ?? defaultBatchSize
    if (n < 1 || n > maxBatchSize) return yield* invalidInput(`${command}: --batch-size must be from 1 to ${maxBatchSize}, got ${n}`)
    return n
  })

/** Runs `effect` with the ingest pipeline over the configured database (the built-in catalog ships with Tally: failing to load it is a defect, exit 1). */
export const withIngest = <A>(command: string, values: DatabaseFlags, tenantId: string, effect: Effect.Effect<A, Failure, Ingest.Ingest>) =>
  withDatabase(
    command,
    values,
    (database) =>
      Ingest.Ingest.layer.pipe(
        Layer.provideMerge(Layer.orDie(Catalog.Catalog.layer)),
        Layer.provideMerge(Store.layerWith(database))
      ),
    Effect.andThen(requireTenant(command, tenantId), effect)
  )

export const run = ({ positionals, values }: Parsed<typeof Commands.ingest.flags>) =>
  Effect.gen(function*() {
    const command = "ingest"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const batchSize = yield* batchSizeOf(command, values["batch-size"])
    if (positionals.length !== 1) return yield* invalidInput(`${command}: expected one events file (or - for stdin), got ${positionals.length}`)
    const path = positionals[0]!
    const progress = Progress.make(command, { quiet: values.quiet })
    const totals = yield* withIngest(command, values, tenantId, load(command, tenantId, readEvents(path), batchSize, progress))
    const { rejections, ...counts } = totals
    return outcome(command, { tenant: tenantId, input: path, ...counts, rejections }, totals, progress)
  })
