/**
 * `tally usage --tenant <id> --from --to [--group-by …] [--granularity …] [--format json|table|csv]`:
 * spend and tokens of a period from the hourly rollups (the same numbers GraphQL's usage queries
 * read), summed per bucket of time and per group. Cost is exact and per currency: a group that
 * spent in two currencies is two rows.
 */
import { writeFileSync } from "node:fs"
import { Csv, Money, Usage } from "@tally/core"
import { Rollups, Store } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { CliError, ExitCode, invalidInput, Printed } from "../CliError.ts"
import type * as Commands from "../Commands.ts"
import { requireTenant, withDatabase } from "../CommandDatabase.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import * as Table from "../Table.ts"
import { parseAt } from "./Cost.ts"

const command = "usage"

export const Dimensions = ["provider", "model", "project", "environment", "feature", "team", "customer", "costCenter", "apiKey"] as const
export type Dimension = typeof Dimensions[number]
export const Granularities = ["hour", "day", "month", "total"] as const
export type Granularity = typeof Granularities[number]
const Formats = ["json", "table", "csv"] as const

const valueOf = (row: Rollups.RollupRow, dimension: Dimension): string | null =>
  dimension === "apiKey" ? row.apiKeyId : row[dimension]

/** The start of the row's bucket, ISO; `null` for `total`. */
const bucketOf = (hour: DateTime.Utc, granularity: Granularity, from: Date): string | null => {
  if (granularity === "total") return null
  const d = new Date(DateTime.toEpochMillis(hour))
  if (granularity === "day") d.setUTCHours(0, 0, 0, 0)
  if (granularity === "month") {
    d.setUTCDate(1)
    d.setUTCHours(0, 0, 0, 0)
  }
  // The first bucket starts at --from, not before it.
  return new Date(Math.max(d.getTime(), from.getTime())).toISOString()
}

export interface UsageRow {
  readonly bucket: string | null
  readonly group: Record<string, string | null>
  readonly currency: string | null
  requests: number
  unpriced: number
  cost: Money.Decimal
  inputTokens: number
  outputTokens: number
  readonly tokens: Record<string, number>
}

const inputBuckets: ReadonlySet<Usage.TokenBucket> = new Set(Usage.TokenBuckets.filter((b) => b.startsWith("input") || b.startsWith("cache") || b === "embedding"))
const outputBuckets: ReadonlySet<Usage.TokenBucket> = new Set(Usage.TokenBuckets.filter((b) => b.startsWith("output") || b === "reasoning"))

export const aggregate = (rows: ReadonlyArray<Rollups.RollupRow>, groupBy: ReadonlyArray<Dimension>, granularity: Granularity, from: Date): Array<UsageRow> => {
  const out = new Map<string, UsageRow>()
  for (const row of rows) {
    const bucket = bucketOf(row.hour, granularity, from)
    const group = Object.fromEntries(groupBy.map((d) => [d, valueOf(row, d)]))
    const key = JSON.stringify([bucket, groupBy.map((d) => group[d]), row.currency])
    let acc = out.get(key)
    if (acc === undefined) {
      acc = { bucket, group, currency: row.currency, requests: 0, unpriced: 0, cost: Money.ZERO, inputTokens: 0, outputTokens: 0, tokens: {} }
      out.set(key, acc)
    }
    acc.requests += row.requestCount
    acc.unpriced += row.unpricedCount
    acc.cost = acc.cost.plus(row.cost)
    for (const bucketName of Usage.TokenBuckets) {
      const n = row.tokens[bucketName]
      if (n === 0) continue
      acc.tokens[bucketName] = (acc.tokens[bucketName] ?? 0) + n
      if (inputBuckets.has(bucketName)) acc.inputTokens += n
      if (outputBuckets.has(bucketName)) acc.outputTokens += n
    }
  }
  return [...out.values()].sort((a, b) =>
    (a.bucket ?? "").localeCompare(b.bucket ?? "") || (b.cost.comparedTo(a.cost)) || JSON.stringify(a.group).localeCompare(JSON.stringify(b.group))
  )
}

const json = (row: UsageRow) => ({
  ...(row.bucket === null ? {} : { bucket: row.bucket }),
  ...row.group,
  currency: row.currency,
  requests: row.requests,
  unpriced: row.unpriced,
  cost: Money.format(row.cost),
  inputTokens: row.inputTokens,
  outputTokens: row.outputTokens,
  tokens: row.tokens
})

const columnsOf = (granularity: Granularity, groupBy: ReadonlyArray<Dimension>) => [
  ...(granularity === "total" ? [] : ["bucket"]),
  ...groupBy,
  "currency",
  "requests",
  "unpriced",
  "cost",
  "inputTokens",
  "outputTokens"
]

const cellsOf = (row: UsageRow, granularity: Granularity, groupBy: ReadonlyArray<Dimension>, cost: (d: Money.Decimal) => string) => [
  ...(granularity === "total" ? [] : [row.bucket ?? ""]),
  ...groupBy.map((d) => row.group[d] ?? ""),
  row.currency ?? "",
  String(row.requests),
  String(row.unpriced),
  cost(row.cost),
  String(row.inputTokens),
  String(row.outputTokens)
]

/** `--group-by a --group-by b,c` as [a, b, c], each checked. */
const groupByOf = (values: ReadonlyArray<string>): Effect.Effect<Array<Dimension>, CliError> => {
  const out: Array<Dimension> = []
  for (const part of values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "")) {
    if (!(Dimensions as ReadonlyArray<string>).includes(part)) return Effect.fail(invalidInput(`${command}: --group-by must be among ${Dimensions.join(", ")}, got "${part}"`))
    if (!out.includes(part as Dimension)) out.push(part as Dimension)
  }
  return Effect.succeed(out)
}

const oneOf = <const L extends ReadonlyArray<string>>(flag: string, allowed: L, value: string | undefined, fallback: L[number]): Effect.Effect<L[number], CliError> =>
  value === undefined
    ? Effect.succeed(fallback)
    : allowed.includes(value)
    ? Effect.succeed(value as L[number])
    : Effect.fail(invalidInput(`${command}: --${flag} must be one of ${allowed.join(", ")}, got "${value}"`))

export const run = ({ positionals, values }: Parsed<typeof Commands.usage.flags>) =>
  Effect.gen(function*() {
    if (positionals.length > 0) return yield* invalidInput(`${command}: unexpected argument "${positionals[0]}"`)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const to = yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")
    if (to.getTime() <= from.getTime()) return yield* invalidInput(`${command}: --to (${to.toISOString()}) must be after --from (${from.toISOString()})`)
    const groupBy = yield* groupByOf(values["group-by"] ?? [])
    const granularity = yield* oneOf("granularity", Granularities, values.granularity, "total")
    const format = yield* oneOf("format", Formats, values.format, "json")

    const rows = yield* withDatabase(
      command,
      values,
      (database) => Store.layerWith(database),
      Effect.gen(function*() {
        yield* requireTenant(command, tenantId)
        return yield* Rollups.Rollups.use((r) => r.list(tenantId, { from: DateTime.fromDateUnsafe(from), to: DateTime.fromDateUnsafe(to) })).pipe(
          Effect.catchTag("InvalidRange", (error) => Effect.fail(invalidInput(`${command}: ${error.message}`)))
        )
      })
    )
    const aggregated = aggregate(rows, groupBy, granularity, from)
    const columns = columnsOf(granularity, groupBy)
    const text = format === "csv"
      ? Csv.stringify([columns, ...aggregated.map((row) => cellsOf(row, granularity, groupBy, Money.format))])
      : format === "table"
      ? Table.render(
        columns.map((header) => ({ header, align: ["requests", "unpriced", "cost", "inputTokens", "outputTokens"].includes(header) ? "right" as const : "left" as const })),
        aggregated.map((row) => cellsOf(row, granularity, groupBy, (d) => d.toFixed(4)))
      )
      : undefined
    const result = {
      tenant: tenantId,
      from: from.toISOString(),
      to: to.toISOString(),
      groupBy,
      granularity,
      rows: aggregated.map(json)
    }
    if (values.out !== undefined && values.out !== "-") {
      const out = values.out
      yield* Effect.try({
        try: () => writeFileSync(out, text ?? `${JSON.stringify(result, null, 2)}\n`),
        catch: (cause) => new CliError({ message: `${command}: cannot write ${out}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, exitCode: ExitCode.unexpected })
      })
      return { ...result, rows: aggregated.length, out }
    }
    return text === undefined ? result : new Printed(text)
  })
