/**
 * The usage report: spend and usage grouped by any label, model or provider and cut into hours,
 * days or months of the tenant's time zone (the question and the answer's shape are core's
 * `UsageQuery`).
 *
 * Every query runs in the tenant's scope (`Database.withTenant`), so row-level security decides
 * what is visible, whatever the filters say.
 *
 * Where usage comes from. A query range is cut into parts that each source answers exactly:
 * - whole local days from a daily summary (days of the tenant's time zone), when the query
 *   groups and filters only by what it keeps: `usage_rollups_daily_teams` (provider, model, team,
 *   cost center, currency; about one row per bucket of a team-and-model report) or else
 *   `usage_rollups_daily` (those and project, environment and feature);
 * - whole UTC hours from the hourly rollups (every rollup dimension);
 * - everything else from the ledger: the parts of the range that do not fill an hour, and whole
 *   queries that group or filter by end user, workflow or tags (the rollups do not keep them),
 *   or whose time zone has offsets that are not whole hours in the range (its days cannot be
 *   cut from UTC hours).
 * The parts never overlap, so sums are the ledger's sums.
 */
import { Money, type Tenant, UsageQuery } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { ledgerColumn, Params } from "./internal/LedgerQuery.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"
import * as RollupSql from "./internal/RollupSql.ts"
import * as TimeZones from "./internal/TimeZones.ts"
import { Tenants } from "./Tenants.ts"

type Query = UsageQuery.UsageQuery
type Dimension = UsageQuery.Dimension
type Granularity = UsageQuery.Granularity
type Source = UsageQuery.Source
type UsageMeasures = UsageQuery.UsageMeasures
type TokenCounts = UsageQuery.TokenCounts
type Amount = UsageQuery.Amount

const { addSpend, dimensions, emptyMeasures, invalid, maxBuckets } = UsageQuery

// ---------------------------------------------------------------------------------------------
// Dimensions and measures as the summaries keep them

/** Dimensions the hourly rollups keep (absent values as ''). */
const hourlyDimensions: ReadonlySet<Dimension> = new Set([
  "provider",
  "model",
  "project",
  "environment",
  "feature",
  "team",
  "customer",
  "costCenter",
  "apiKeyId",
  "currency"
])

/** Dimensions the daily summary keeps: the hourly ones without the many-valued customer and API key. */
export const dailyDimensions: ReadonlySet<Dimension> = new Set([
  "provider",
  "model",
  "project",
  "environment",
  "feature",
  "team",
  "costCenter",
  "currency"
])

const measureColumnOf: Record<UsageQuery.MeasureName, string> = {
  requests: "request_count",
  estimatedRequests: "estimated_count",
  unpricedRequests: "unpriced_count",
  partialRequests: "partial_count",
  spend: "cost",
  ...LedgerRow.tokenColumns,
  billableRequests: "billable_requests",
  webSearches: "web_searches",
  imagesGenerated: "images_generated",
  toolCalls: "tool_calls",
  audioSeconds: "audio_seconds",
  videoSeconds: "video_seconds"
}

const HOUR = 3_600_000

const measureColumns = RollupSql.measures.map(([column]) => column)

const tokenBuckets = Object.entries(LedgerRow.tokenColumns) as ReadonlyArray<readonly [keyof TokenCounts, string]>

type MutableMeasures = { -readonly [K in keyof UsageMeasures]: UsageMeasures[K] } & {
  tokens: { -readonly [K in keyof TokenCounts]: number }
  spend: Array<Amount>
}

const mutable = (): MutableMeasures => emptyMeasures() as MutableMeasures

type Adder = (into: MutableMeasures, row: Record<string, unknown>) => void

const countAdders: Record<string, Adder> = {
  request_count: (m, r) => (m.requests += Number(r.request_count)),
  estimated_count: (m, r) => (m.estimatedRequests += Number(r.estimated_count)),
  unpriced_count: (m, r) => (m.unpricedRequests += Number(r.unpriced_count)),
  partial_count: (m, r) => (m.partialRequests += Number(r.partial_count)),
  billable_requests: (m, r) => (m.billableRequests += Number(r.billable_requests)),
  web_searches: (m, r) => (m.webSearches += Number(r.web_searches)),
  images_generated: (m, r) => (m.imagesGenerated += Number(r.images_generated)),
  tool_calls: (m, r) => (m.toolCalls += Number(r.tool_calls)),
  audio_seconds: (m, r) => (m.audioSeconds = m.audioSeconds.plus(r.audio_seconds as string)),
  video_seconds: (m, r) => (m.videoSeconds = m.videoSeconds.plus(r.video_seconds as string)),
  // Calls without a currency are the unpriced ones: counted, with no spend.
  cost: (m, r) => {
    if (r.currency !== "") addSpend(m.spend, r.currency as string, new Money.Decimal(r.cost as string))
  },
  ...Object.fromEntries(tokenBuckets.map(([bucket, column]): [string, Adder] => [column, (m, r) => (m.tokens[bucket] += Number(r[column]))]))
}

/** Adds one result row (one currency of one group) to a bucket, touching only the sums selected. */
const adderOf = (columns: ReadonlyArray<string>): Adder => {
  const adders = columns.map((column) => countAdders[column]!)
  return (into, row) => {
    for (const add of adders) add(into, row)
  }
}

// ---------------------------------------------------------------------------------------------
// Planning

interface Part {
  readonly source: Source
  readonly from: number
  readonly to: number
  /** The summary table of a daily part. */
  readonly table?: string | undefined
}

const needsLedger = (query: Query, groupBy: ReadonlyArray<Dimension>): boolean => {
  if ((query.groupByTags ?? []).length > 0) return true
  if (query.filter?.tags !== undefined && Object.keys(query.filter.tags).length > 0) return true
  const filtered = dimensions.filter((d) => query.filter?.[d] !== undefined)
  return [...groupBy, ...filtered].some((d) => !hourlyDimensions.has(d))
}

/** Dimensions the team summary keeps. */
export const teamDimensions: ReadonlySet<Dimension> = new Set(["provider", "model", "team", "costCenter", "currency"])

/** The narrowest daily summary that keeps every dimension the query groups or filters by. */
const dailyTable = (query: Query, groupBy: ReadonlyArray<Dimension>): string | undefined => {
  if (query.granularity === "hour") return undefined
  const used = [...groupBy, ...dimensions.filter((d) => query.filter?.[d] !== undefined)]
  if (used.every((d) => teamDimensions.has(d))) return "tally.usage_rollups_daily_teams"
  if (used.every((d) => dailyDimensions.has(d))) return "tally.usage_rollups_daily"
  return undefined
}

/**
 * Cuts `[from, to)` into parts: whole local days (daily summary, when eligible), whole UTC hours
 * (hourly rollups) and the rest (ledger). Ordered by time, never overlapping.
 */
export const plan = (
  from: number,
  to: number,
  options: {
    readonly ledgerOnly: boolean
    /** The whole local days inside the range, when a daily summary (`table`) may answer for them. */
    readonly days?: { readonly from: number; readonly to: number; readonly table: string } | undefined
  }
): ReadonlyArray<Part> => {
  if (options.ledgerOnly) return [{ source: "ledger", from, to }]
  const parts: Array<Part> = []
  const hourly = (a: number, b: number) => {
    if (b <= a) return
    const hourFrom = Math.ceil(a / HOUR) * HOUR
    const hourTo = Math.floor(b / HOUR) * HOUR
    if (hourFrom >= hourTo) {
      parts.push({ source: "ledger", from: a, to: b })
      return
    }
    if (a < hourFrom) parts.push({ source: "ledger", from: a, to: hourFrom })
    parts.push({ source: "hourly", from: hourFrom, to: hourTo })
    if (hourTo < b) parts.push({ source: "ledger", from: hourTo, to: b })
  }
  const days = options.days
  if (days !== undefined && from <= days.from && days.from < days.to && days.to <= to) {
    hourly(from, days.from)
    parts.push({ source: "daily", from: days.from, to: days.to, table: days.table })
    hourly(days.to, to)
    return parts
  }
  hourly(from, to)
  return parts
}

// ---------------------------------------------------------------------------------------------
// SQL

interface Statement {
  readonly text: string
  readonly params: Array<unknown>
}

const bucketExpression = (
  granularity: Granularity,
  column: string,
  names: { readonly tz: string; readonly from: string }
): string => granularity === "total" ? `${names.from}::timestamptz` : `date_trunc('${granularity}', ${column}, ${names.tz})`

/** The SELECT of one part, producing `bucket, g0.., t0.., currency, measures...`. */
const partSelect = (
  part: Part,
  query: Query,
  groupBy: ReadonlyArray<Dimension>,
  tags: ReadonlyArray<string>,
  columns: ReadonlyArray<string>,
  params: Params,
  names: { readonly tenant: string; readonly tz: string; readonly from: string }
): string => {
  const a = params.add(new Date(part.from))
  const b = params.add(new Date(part.to))
  const filterSql: Array<string> = []
  const dimExpr = (d: Dimension) =>
    part.source === "ledger"
      ? `coalesce(${ledgerColumn[d]}, '')`
      : part.source === "daily"
      ? (d === "costCenter" ? "cost_center" : ledgerColumn[d])
      : ledgerColumn[d]
  for (const d of dimensions) {
    const values = query.filter?.[d]
    if (values === undefined) continue
    filterSql.push(`${dimExpr(d)} = ANY(${params.add([...values])}::text[])`)
  }
  if (part.source === "ledger" && query.filter?.tags !== undefined && Object.keys(query.filter.tags).length > 0) {
    filterSql.push(`tags @> ${params.add(JSON.stringify(query.filter.tags))}::jsonb`)
  }
  const groups = groupBy.map((d, i) => `${dimExpr(d)} AS g${i}`)
  const tagGroups = tags.map((key, i) => `coalesce(tags ->> ${params.add(key)}, '') AS t${i}`)
  const where = filterSql.length === 0 ? "" : ` AND ${filterSql.join(" AND ")}`
  const keyCount = 1 + groups.length + tagGroups.length + 1
  const groupPositions = Array.from({ length: keyCount }, (_, i) => String(i + 1)).join(", ")
  if (part.source === "ledger") {
    return `SELECT ${bucketExpression(query.granularity, "occurred_at", names)} AS bucket, ${
      [...groups, ...tagGroups].map((g) => `${g}, `).join("")
    }coalesce(currency, '') AS currency, ${
      RollupSql.measures.filter(([column]) => columns.includes(column)).map(([column, aggregate]) => `${aggregate} AS ${column}`).join(", ")
    }
      FROM tally.usage_ledger
      WHERE tenant_id = ${names.tenant} AND occurred_at >= ${a} AND occurred_at < ${b}${where}
      GROUP BY ${groupPositions}`
  }
  const table = part.source === "daily" ? part.table ?? "tally.usage_rollups_daily" : "tally.usage_rollups_hourly"
  const time = part.source === "daily" ? "day" : "hour"
  return `SELECT ${bucketExpression(query.granularity, time, names)} AS bucket, ${
    groups.map((g) => `${g}, `).join("")
  }currency, ${columns.map((column) => `sum(${column}) AS ${column}`).join(", ")}
    FROM ${table}
    WHERE tenant_id = ${names.tenant} AND ${time} >= ${a} AND ${time} < ${b}${where}${
    // A day whose calls were all rebuilt away nets to zero rows of nothing; it is not a bucket.
    part.source === "daily" ? " AND request_count <> 0" : ""}
    GROUP BY ${groupPositions}`
}

/** The sums a query asks for, as summary columns. */
const selectedColumns = (query: Query): ReadonlyArray<string> => {
  if (query.measures === undefined) return measureColumns
  const selected = measureColumns.filter((column) => query.measures!.some((m) => measureColumnOf[m] === column))
  // A report that asks for no measure (only bucket keys, or `__typename`) still needs one column:
  // the statement lists measures after the keys and would otherwise end in a dangling comma.
  return selected.length > 0 ? selected : ["request_count"]
}

const usageStatement = (
  tenantId: string,
  query: Query,
  parts: ReadonlyArray<Part>,
  groupBy: ReadonlyArray<Dimension>,
  tags: ReadonlyArray<string>,
  timeZone: string
): Statement => {
  const params = new Params()
  // A parameter PostgreSQL never sees used has no type, so the zone is bound only when used.
  let tz: string | undefined
  const names = {
    tenant: params.add(tenantId),
    get tz() {
      return (tz ??= `${params.add(timeZone)}::text`)
    },
    from: params.add(new Date(DateTime.toEpochMillis(query.from)))
  }
  const toName = params.add(new Date(DateTime.toEpochMillis(query.to)))
  const columns = selectedColumns(query)
  const selects = parts.map((part) => partSelect(part, query, groupBy, tags, columns, params, names))
  const keys = [
    "bucket",
    ...groupBy.map((_, i) => `g${i}`),
    ...tags.map((_, i) => `t${i}`),
    "currency"
  ]
  const step = query.granularity === "total" ? null : `interval '1 ${query.granularity}'`
  const end = step === null
    ? `${toName}::timestamptz`
    : `least(((bucket AT TIME ZONE ${names.tz}) + ${step}) AT TIME ZONE ${names.tz}, ${toName}::timestamptz)`
  const labelFormat = { hour: "YYYY-MM-DD\"T\"HH24", day: "YYYY-MM-DD", month: "YYYY-MM" } as const
  const label = query.granularity === "total"
    ? `'total'`
    : `to_char(bucket AT TIME ZONE ${names.tz}, '${labelFormat[query.granularity]}')`
  // One part is already grouped by every key: no second aggregation.
  const single = selects.length === 1
  const text = `SELECT greatest(bucket, ${names.from}::timestamptz) AS start_at, ${end} AS end_at, ${label} AS label, ${
    keys.slice(1).join(", ")
  }${columns.map((c) => `, ${single ? c : `sum(${c})`}::text AS ${c}`).join("")}
    FROM (${selects.join("\n    UNION ALL\n    ")}) AS parts
    ${single ? "" : `GROUP BY ${keys.join(", ")}`}
    ORDER BY ${keys.join(", ")}
    LIMIT ${maxBuckets * 4 + 1}`
  return { text, params: params.values }
}

// ---------------------------------------------------------------------------------------------
// The service

export interface UsageReportService {
  /** Usage and spend grouped and bucketed; see the module comment for where it comes from. */
  readonly usage: (
    tenantId: string,
    query: Query
  ) => Effect.Effect<UsageQuery.UsageReport, UsageQuery.InvalidQuery | Tenant.TenantNotFound | SqlError>
  /**
   * What a usage answer of the tenant is read from, as one string: the tenant's time zone (the
   * answers' default zone) and its write version (see `versionProbe`), read under row-level
   * security from the database this service reads. Null while a write is within the settle
   * window: nothing may be cached or served from a cache then. Caches of answers built from the
   * ledger (the worker's GraphQL answer cache) key on it.
   */
  readonly writeVersion: (tenantId: string) => Effect.Effect<string | null, SqlError>
}

// ---------------------------------------------------------------------------------------------
// The answer cache

/**
 * Ingest and repricing transactions are assumed to commit within this long of their start (their
 * `now()`, which stamps `ingested_at` and `repriced_at`). An answer is cached only when the newest
 * stamps are older than this: a transaction still in flight then started after them, and its
 * commit moves the newest stamp.
 */
export const settleSeconds = 60

/**
 * The tenant's write version, read in the query's own transaction (under row-level security) from
 * the ledger's (tenant, ingested_at) and the repricings' (tenant, repriced_at) indexes: the newest
 * stamp of each. Every write that changes what a usage answer reads moves it: ingest inserts
 * ledger rows (the hourly rollups and daily summaries are written in the same transaction), a
 * repricing updates ledger rows and inserts its entries in the same transaction (a trigger
 * enforces it), and the ledger is never deleted from. Null (no caching) while either stamp is
 * within the settle window of the statement's `now()`.
 */
const versionProbe = (settle: number) => `(SELECT CASE WHEN l.at >= now() - interval '${settle} seconds' OR r.at >= now() - interval '${settle} seconds' THEN NULL
    ELSE concat_ws('/', coalesce(l.at::text, '-'), coalesce(r.at::text, '-')) END
  FROM (SELECT max(ingested_at) AS at FROM tally.usage_ledger WHERE tenant_id = current_setting('tally.tenant_id')) l,
       (SELECT max(repriced_at) AS at FROM tally.usage_repricings WHERE tenant_id = current_setting('tally.tenant_id')) r)`

/** The cache's size: buckets held over all answers (each answer counts its buckets plus one). */
export const cacheBuckets = 200_000

/** A query with its instants as epoch milliseconds, fields in a fixed order: equal questions, equal keys. */
const cacheKey = (tenantId: string, timeZone: string, version: string, query: Query): string =>
  JSON.stringify([
    tenantId,
    timeZone,
    version,
    DateTime.toEpochMillis(query.from),
    DateTime.toEpochMillis(query.to),
    query.granularity,
    query.groupBy ?? [],
    query.groupByTags ?? [],
    query.filter ?? null,
    [...(query.measures ?? [])].sort(),
    query.noDaily === true,
    query.ledgerOnly === true
  ])

/** A least-recently-used map of answers, bounded by the buckets it holds. */
const answerCache = (capacity: number) => {
  const entries = new Map<string, UsageQuery.UsageReport>()
  let size = 0
  const weight = (report: UsageQuery.UsageReport) => report.buckets.length + 1
  return {
    get: (key: string) => {
      const found = entries.get(key)
      if (found !== undefined) {
        entries.delete(key)
        entries.set(key, found)
      }
      return found
    },
    set: (key: string, report: UsageQuery.UsageReport) => {
      if (weight(report) > capacity) return
      const old = entries.get(key)
      if (old !== undefined) {
        entries.delete(key)
        size -= weight(old)
      }
      entries.set(key, report)
      size += weight(report)
      for (const [oldest, value] of entries) {
        if (size <= capacity) break
        entries.delete(oldest)
        size -= weight(value)
      }
    }
  }
}

export class UsageReport extends Context.Service<UsageReport, UsageReportService>()("@tally/store/UsageReport") {
  /** The report with an answer cache of `cacheBuckets` buckets (0: no cache) and its settle window (default `settleSeconds`). */
  static readonly layerWith = (options: { readonly cacheBuckets: number; readonly settleSeconds?: number | undefined }): Layer.Layer<UsageReport, never, Database> => Layer.effect(
    UsageReport,
    Effect.gen(function*() {
      const db = yield* Database
      const tenants = yield* Tenants
      const sql = db.sql
      const cache = answerCache(options.cacheBuckets)

      /**
       * The zone of a query (its own or the tenant's), whether it is the tenant's (the daily
       * summary is cut in that one), and the whole days of the range as PostgreSQL cuts them, so
       * that the parts agree with the summary's day keys to the microsecond.
       */
      const zoneAndDays = (tenantId: string, query: Query) =>
        Effect.gen(function*() {
          const tenant = yield* tenants.get(tenantId)
          const zone = query.timeZone ?? tenant.timeZone
          // JIT off for the statement that follows in this transaction: a month of rows pushes its
          // cost estimate over jit_above_cost, and compiling the sums takes far longer than running them.
          // The same statement probes the tenant's write version for the answer cache (see `versionProbe`).
          const [row] = yield* sql<{ from_day: Date; to_day: Date; next_day: Date; version: string }>`SELECT set_config('jit', 'off', true),
              ${sql.literal(options.cacheBuckets > 0 ? versionProbe(options.settleSeconds ?? settleSeconds) : "NULL::text")} AS version,
              date_trunc('day', ${DateTime.toDateUtc(query.from)}::timestamptz, ${zone}::text) AS from_day,
              date_trunc('day', ${DateTime.toDateUtc(query.to)}::timestamptz, ${zone}::text) AS to_day,
              date_trunc('day', ((date_trunc('day', ${DateTime.toDateUtc(query.from)}::timestamptz, ${zone}::text) AT TIME ZONE ${zone}::text)
                + interval '1 day') AT TIME ZONE ${zone}::text, ${zone}::text) AS next_day`
          const from = DateTime.toEpochMillis(query.from)
          const fromDay = row!.from_day.getTime()
          return {
            timeZone: zone,
            version: row!.version,
            tenantZone: zone === tenant.timeZone,
            days: { from: fromDay === from ? fromDay : row!.next_day.getTime(), to: row!.to_day.getTime() }
          }
        })

      const usage = Effect.fn("UsageReport.usage")(function*(tenantId: string, query: Query) {
        const bad = UsageQuery.validate(query)
        if (bad !== undefined) return yield* bad
        const groupBy = query.groupBy ?? []
        const tags = query.groupByTags ?? []
        const from = DateTime.toEpochMillis(query.from)
        const to = DateTime.toEpochMillis(query.to)
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const zone = yield* zoneAndDays(tenantId, query)
            const timeZone = zone.timeZone
            // No version (a write within the settle window): neither read nor stored.
            const key = zone.version === null ? undefined : cacheKey(tenantId, timeZone, zone.version, query)
            const cached = key === undefined ? undefined : cache.get(key)
            if (cached !== undefined) return cached
            const wholeHours = TimeZones.wholeHourOffsets(timeZone, from, to)
            const table = query.noDaily === true ? undefined : dailyTable(query, groupBy)
            const parts = plan(from, to, {
              ledgerOnly: query.ledgerOnly === true || needsLedger(query, groupBy) || !wholeHours,
              // The daily summaries are kept in the tenant's own zone only.
              days: wholeHours && zone.tenantZone && table !== undefined ? { ...zone.days, table } : undefined
            })
            const statement = usageStatement(tenantId, query, parts, groupBy, tags, timeZone)
            const rows = yield* sql.unsafe<Record<string, unknown>>(statement.text, statement.params)
            const add = adderOf(selectedColumns(query))
            const buckets: Array<UsageQuery.UsageBucket & MutableMeasures> = []
            const totals = mutable()
            const groupColumns = groupBy.map((_, i) => `g${i}`)
            const tagColumns = tags.map((_, i) => `t${i}`)
            // Rows come ordered by bucket, group, then currency: a bucket's rows are consecutive.
            let last: Record<string, unknown> | undefined
            let current: (UsageQuery.UsageBucket & MutableMeasures) | undefined
            const sameBucket = (row: Record<string, unknown>) =>
              last !== undefined && (last.start_at as Date).getTime() === (row.start_at as Date).getTime() &&
              groupColumns.every((c) => last![c] === row[c]) && tagColumns.every((c) => last![c] === row[c])
            for (const row of rows) {
              if (current === undefined || !sameBucket(row)) {
                if (buckets.length >= maxBuckets) {
                  return yield* invalid("groupBy", `more than ${maxBuckets} buckets; group by fewer dimensions, filter, or use a coarser granularity`)
                }
                const group: { [K in Dimension]?: string | null } = {}
                for (let i = 0; i < groupBy.length; i++) {
                  const value = row[groupColumns[i]!] as string
                  group[groupBy[i]!] = value === "" ? null : value
                }
                const tagValues: Record<string, string | null> = {}
                for (let i = 0; i < tags.length; i++) {
                  const value = row[tagColumns[i]!] as string
                  tagValues[tags[i]!] = value === "" ? null : value
                }
                const bucket = mutable() as UsageQuery.UsageBucket & MutableMeasures
                Object.assign(bucket, {
                  start: DateTime.fromDateUnsafe(row.start_at as Date),
                  end: DateTime.fromDateUnsafe(row.end_at as Date),
                  label: row.label as string,
                  group,
                  tags: tagValues
                })
                buckets.push(bucket)
                current = bucket
              }
              last = row
              add(current, row)
              add(totals, row)
            }
            const report: UsageQuery.UsageReport = {
              from: query.from,
              to: query.to,
              timeZone,
              granularity: query.granularity,
              groupBy,
              groupByTags: tags,
              buckets,
              totals,
              sources: [...new Set(parts.map((p) => p.source))]
            }
            if (key !== undefined) cache.set(key, report)
            return report
          })
        )
      })

      const writeVersion = Effect.fn("UsageReport.writeVersion")(function*(tenantId: string) {
        const [row] = yield* db.withTenant(
          tenantId,
          sql<{ version: string | null; zone: string | null }>`SELECT ${sql.literal(versionProbe(options.settleSeconds ?? settleSeconds))} AS version,
              (SELECT time_zone FROM tally.tenants WHERE id = current_setting('tally.tenant_id')) AS zone`
        )
        const version = row?.version ?? null
        return version === null ? null : `${row?.zone ?? "-"}/${version}`
      })

      return UsageReport.of({ usage, writeVersion })
    })
  ).pipe(Layer.provide(Tenants.layer))

  static readonly layer: Layer.Layer<UsageReport, never, Database> = UsageReport.layerWith({ cacheBuckets })
}
