/**
 * The read side of usage: spend and usage grouped by any label, model or provider and cut into
 * hours, days or months of the tenant's time zone; ledger records page by page; unit costs; the
 * calls behind a record (its raw payload) and the snapshots it cites.
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
import { Money, Usage, type UsageRecord } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { Buffer } from "node:buffer"
import { Database, type DatabaseService } from "./Database.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"
import * as RollupSql from "./internal/RollupSql.ts"
import * as TimeZones from "./internal/TimeZones.ts"
import { notFound, type TenantNotFound } from "./Tenants.ts"

// ---------------------------------------------------------------------------------------------
// Dimensions, filters, measures

/** What usage can be grouped and filtered by. */
export const Dimension = Schema.Literals([
  "provider",
  "model",
  "project",
  "environment",
  "feature",
  "team",
  "customer",
  "costCenter",
  "apiKeyId",
  "endUser",
  "workflow",
  "currency"
])
export type Dimension = typeof Dimension.Type
export const dimensions: ReadonlyArray<Dimension> = Dimension.literals

/** Ledger column of each dimension. */
const ledgerColumn: Record<Dimension, string> = {
  provider: "provider",
  model: "model",
  project: "project",
  environment: "environment",
  feature: "feature",
  team: "team",
  customer: "customer",
  costCenter: "cost_center",
  apiKeyId: "api_key_id",
  endUser: "end_user",
  workflow: "workflow",
  currency: "currency"
}

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

export const Granularity = Schema.Literals(["hour", "day", "month", "total"])
export type Granularity = typeof Granularity.Type

/**
 * Filters: each listed dimension keeps only calls whose value is one of the given values; `""`
 * stands for calls without that label. Tags match exactly (every given tag must be present with
 * that value).
 */
export type UsageFilter = { readonly [K in Dimension]?: ReadonlyArray<string> | undefined } & {
  readonly tags?: Readonly<Record<string, string>> | undefined
}

/** What a report can sum; a query may ask for some only (the rest then read as zero). */
export type MeasureName =
  | "requests"
  | "estimatedRequests"
  | "unpricedRequests"
  | "spend"
  | keyof typeof LedgerRow.tokenColumns
  | "billableRequests"
  | "webSearches"
  | "imagesGenerated"
  | "toolCalls"
  | "audioSeconds"
  | "videoSeconds"

const measureColumnOf: Record<MeasureName, string> = {
  requests: "request_count",
  estimatedRequests: "estimated_count",
  unpricedRequests: "unpriced_count",
  spend: "cost",
  ...LedgerRow.tokenColumns,
  billableRequests: "billable_requests",
  webSearches: "web_searches",
  imagesGenerated: "images_generated",
  toolCalls: "tool_calls",
  audioSeconds: "audio_seconds",
  videoSeconds: "video_seconds"
}

export const measureNames = Object.keys(measureColumnOf) as ReadonlyArray<MeasureName>

export interface UsageQuery {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly granularity: Granularity
  readonly groupBy?: ReadonlyArray<Dimension> | undefined
  /** Tag keys to group by (ledger only). */
  readonly groupByTags?: ReadonlyArray<string> | undefined
  readonly filter?: UsageFilter | undefined
  /** The zone that cuts days and months; the tenant's by default. */
  readonly timeZone?: string | undefined
  /** Answer from the ledger alone (slow; for audits and for checking the summaries). */
  readonly ledgerOnly?: boolean | undefined
  /** Answer without the daily summaries (hours and the ledger), to check or measure them. */
  readonly noDaily?: boolean | undefined
  /**
   * Only these sums (all by default): a report over many buckets reads and returns only what its
   * caller shows. Measures not asked for read as zero.
   */
  readonly measures?: ReadonlyArray<MeasureName> | undefined
}

export interface Amount {
  readonly currency: string
  readonly amount: Money.Decimal
}

export type TokenCounts = { readonly [K in keyof typeof LedgerRow.tokenColumns]: number }

export interface UsageMeasures {
  readonly requests: number
  readonly estimatedRequests: number
  readonly unpricedRequests: number
  /** Billed spend per currency (never summed across currencies), by currency code. */
  readonly spend: ReadonlyArray<Amount>
  readonly tokens: TokenCounts
  readonly billableRequests: number
  readonly webSearches: number
  readonly imagesGenerated: number
  readonly toolCalls: number
  readonly audioSeconds: Money.Decimal
  readonly videoSeconds: Money.Decimal
}

export interface UsageBucket extends UsageMeasures {
  /** The bucket's start and end, clipped to the query range (null for granularity `total`). */
  readonly start: DateTime.Utc
  readonly end: DateTime.Utc
  /** The bucket in the tenant's zone: `2025-03-14T15`, `2025-03-14`, `2025-03`, or `total`. */
  readonly label: string
  /** The value of each grouped dimension; null where the calls had none. */
  readonly group: { readonly [K in Dimension]?: string | null }
  readonly tags: Readonly<Record<string, string | null>>
}

export type Source = "daily" | "hourly" | "ledger"

export interface UsageReport {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly timeZone: string
  readonly granularity: Granularity
  readonly groupBy: ReadonlyArray<Dimension>
  readonly groupByTags: ReadonlyArray<string>
  readonly buckets: ReadonlyArray<UsageBucket>
  readonly totals: UsageMeasures
  /** Which sources answered, for people wondering about speed. */
  readonly sources: ReadonlyArray<Source>
}

export class InvalidQuery extends Schema.TaggedError<InvalidQuery>()("InvalidQuery", {
  field: Schema.String,
  message: Schema.String
}) {}

const invalid = (field: string, message: string) => new InvalidQuery({ field, message: `${field}: ${message}` })

/** The most buckets (groups × time buckets) one usage query returns. */
export const maxBuckets = 50_000
/** The most time buckets one query may span. */
export const maxTimeBuckets = 10_000
/** Most tag keys to group by. */
export const maxTagGroups = 5

const HOUR = 3_600_000
const DAY = 24 * HOUR

const measureColumns = RollupSql.measures.map(([column]) => column)

const tokenBuckets = Object.entries(LedgerRow.tokenColumns) as ReadonlyArray<readonly [keyof TokenCounts, string]>

const zeroTokens = (): TokenCounts => Usage.allTokens({})

export const emptyMeasures = (): UsageMeasures => ({
  requests: 0,
  estimatedRequests: 0,
  unpricedRequests: 0,
  spend: [],
  tokens: zeroTokens(),
  billableRequests: 0,
  webSearches: 0,
  imagesGenerated: 0,
  toolCalls: 0,
  audioSeconds: Money.ZERO,
  videoSeconds: Money.ZERO
})

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

const addSpend = (spend: Array<Amount>, currency: string, amount: Money.Decimal) => {
  const index = spend.findIndex((s) => s.currency === currency)
  if (index === -1) {
    spend.push({ currency, amount })
    spend.sort((a, b) => (a.currency < b.currency ? -1 : 1))
  } else spend[index] = { currency, amount: spend[index]!.amount.plus(amount) }
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

const needsLedger = (query: UsageQuery, groupBy: ReadonlyArray<Dimension>): boolean => {
  if ((query.groupByTags ?? []).length > 0) return true
  if (query.filter?.tags !== undefined && Object.keys(query.filter.tags).length > 0) return true
  const filtered = dimensions.filter((d) => query.filter?.[d] !== undefined)
  return [...groupBy, ...filtered].some((d) => !hourlyDimensions.has(d))
}

/** Dimensions the team summary keeps. */
export const teamDimensions: ReadonlySet<Dimension> = new Set(["provider", "model", "team", "costCenter", "currency"])

/** The narrowest daily summary that keeps every dimension the query groups or filters by. */
const dailyTable = (query: UsageQuery, groupBy: ReadonlyArray<Dimension>): string | undefined => {
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

class Params {
  readonly values: Array<unknown> = []
  add(value: unknown): string {
    this.values.push(value)
    return `$${this.values.length}`
  }
}

const bucketExpression = (
  granularity: Granularity,
  column: string,
  names: { readonly tz: string; readonly from: string }
): string => granularity === "total" ? `${names.from}::timestamptz` : `date_trunc('${granularity}', ${column}, ${names.tz})`

/** The SELECT of one part, producing `bucket, g0.., t0.., currency, measures...`. */
const partSelect = (
  part: Part,
  query: UsageQuery,
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
const selectedColumns = (query: UsageQuery): ReadonlyArray<string> =>
  query.measures === undefined
    ? measureColumns
    : measureColumns.filter((column) => query.measures!.some((m) => measureColumnOf[m] === column))

const usageStatement = (
  tenantId: string,
  query: UsageQuery,
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
// Validation

const checkRange = (from: DateTime.Utc, to: DateTime.Utc): InvalidQuery | undefined =>
  DateTime.toEpochMillis(to) > DateTime.toEpochMillis(from) ? undefined : invalid("to", "expected `to` after `from`")

const timeBuckets = (granularity: Granularity, from: number, to: number): number =>
  granularity === "hour"
    ? Math.ceil((to - from) / HOUR) + 1
    : granularity === "day"
    ? Math.ceil((to - from) / DAY) + 1
    : granularity === "month"
    ? Math.ceil((to - from) / (28 * DAY)) + 1
    : 1

const validateUsage = (query: UsageQuery): InvalidQuery | undefined => {
  const range = checkRange(query.from, query.to)
  if (range !== undefined) return range
  const from = DateTime.toEpochMillis(query.from)
  const to = DateTime.toEpochMillis(query.to)
  if (timeBuckets(query.granularity, from, to) > maxTimeBuckets) {
    return invalid("granularity", `the range spans more than ${maxTimeBuckets} ${query.granularity}s; use a coarser granularity or a shorter range`)
  }
  const groupBy = query.groupBy ?? []
  if (new Set(groupBy).size !== groupBy.length) return invalid("groupBy", "a dimension is listed twice")
  const tags = query.groupByTags ?? []
  if (tags.length > maxTagGroups) return invalid("groupByTags", `at most ${maxTagGroups} tag keys`)
  if (tags.some((t) => t.length === 0 || t.length > 200)) return invalid("groupByTags", "expected tag keys of 1 to 200 characters")
  for (const d of dimensions) {
    const values = query.filter?.[d]
    if (values !== undefined && (values.length === 0 || values.length > 1000)) {
      return invalid(`filter.${d}`, "expected 1 to 1000 values")
    }
  }
  if (query.timeZone !== undefined && !TimeZones.isValid(query.timeZone)) {
    return invalid("timeZone", `expected an IANA time zone such as "Europe/Berlin", got ${JSON.stringify(query.timeZone)}`)
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Records

export interface RecordFilter extends UsageFilter {
  readonly from?: DateTime.Utc | undefined
  readonly to?: DateTime.Utc | undefined
  readonly costSource?: ReadonlyArray<UsageRecord.CostSource> | undefined
  readonly requestId?: ReadonlyArray<string> | undefined
}

/** Where a page starts: after this record in (occurredAt, requestId) descending order. */
export interface RecordCursor {
  readonly occurredAt: DateTime.Utc
  readonly requestId: string
}

export interface LedgerRecord {
  /** The call as recorded; `raw` is null here (see `rawPayloads`). */
  readonly call: UsageRecord.UsageRecord
  readonly ingestedAt: DateTime.Utc
  readonly currency: string | null
  readonly cursor: RecordCursor
}

export interface RecordPage {
  readonly records: ReadonlyArray<LedgerRecord>
  readonly hasNextPage: boolean
}

export const maxPageSize = 500

export interface RawPayload {
  readonly raw: unknown
  readonly rawText: string | null
}

/** Cursor text: opaque to clients, but only an instant and a request id. */
export const encodeCursor = (cursor: RecordCursor): string =>
  Buffer.from(JSON.stringify([DateTime.toEpochMillis(cursor.occurredAt), cursor.requestId]), "utf8").toString("base64url")

export const decodeCursor = (text: string): RecordCursor | undefined => {
  try {
    const value = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as unknown
    if (!Array.isArray(value) || value.length !== 2) return undefined
    const [millis, requestId] = value as [unknown, unknown]
    if (typeof millis !== "number" || !Number.isSafeInteger(millis) || typeof requestId !== "string") return undefined
    return { occurredAt: DateTime.makeUnsafe(millis), requestId }
  } catch {
    return undefined
  }
}

const recordColumns = LedgerRow.ledgerColumns.filter((c) => c !== "raw" && c !== "raw_text")

// ---------------------------------------------------------------------------------------------
// Unit costs

export const UnitKind = Schema.Literals(["request", "workflow", "endUser", "customer", "feature"])
export type UnitKind = typeof UnitKind.Type
export const unitKinds: ReadonlyArray<UnitKind> = UnitKind.literals

export interface UnitCost {
  readonly kind: UnitKind
  /** Distinct units (requests, workflows, ...) with spend or usage in the period. */
  readonly units: number
  /** Calls attributed to a unit (for `request`, every call). */
  readonly requests: number
  /** Spend of the attributed calls, per currency. */
  readonly spend: ReadonlyArray<Amount>
  /** Calls without the unit's label, and their spend: not in the average. */
  readonly unattributedRequests: number
  readonly unattributedSpend: ReadonlyArray<Amount>
}

export interface UnitCostEntry {
  readonly unit: string
  readonly requests: number
  readonly spend: Money.Decimal
}

// ---------------------------------------------------------------------------------------------
// Snapshots

export interface SnapshotRow {
  readonly id: string
  readonly tenantId: string | null
  readonly definitionId: string | null
  readonly provider: string
  readonly modelKey: string
  readonly currency: string
  readonly snapshot: unknown
  readonly createdAt: DateTime.Utc
}

// ---------------------------------------------------------------------------------------------
// The service

export interface QueriesService {
  /** Usage and spend grouped and bucketed; see the module comment for where it comes from. */
  readonly usage: (
    tenantId: string,
    query: UsageQuery
  ) => Effect.Effect<UsageReport, InvalidQuery | TenantNotFound | SqlError>
  /** Ledger records, newest first, `first` at a time after `after`. */
  readonly records: (
    tenantId: string,
    options: { readonly filter?: RecordFilter | undefined; readonly first: number; readonly after?: RecordCursor | undefined }
  ) => Effect.Effect<RecordPage, InvalidQuery | SqlError>
  /** The raw payloads of records, by request id (absent ids are missing from the map). */
  readonly rawPayloads: (
    tenantId: string,
    keys: ReadonlyArray<RecordCursor>
  ) => Effect.Effect<ReadonlyMap<string, RawPayload>, SqlError>
  /** Stored snapshots visible to the tenant (its own first, then built-in), by id. */
  readonly snapshots: (tenantId: string, ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, SnapshotRow>, SqlError>
  /** Cost per request, workflow, end user, customer and feature in `[from, to)`. */
  readonly unitCosts: (
    tenantId: string,
    options: { readonly from: DateTime.Utc; readonly to: DateTime.Utc; readonly filter?: UsageFilter | undefined; readonly kinds?: ReadonlyArray<UnitKind> | undefined }
  ) => Effect.Effect<ReadonlyArray<UnitCost>, InvalidQuery | SqlError>
  /** The units of one kind with the most spend in `currency`, most first. */
  readonly topUnits: (
    tenantId: string,
    options: {
      readonly kind: Exclude<UnitKind, "request">
      readonly from: DateTime.Utc
      readonly to: DateTime.Utc
      readonly currency: string
      readonly limit: number
      readonly filter?: UsageFilter | undefined
    }
  ) => Effect.Effect<ReadonlyArray<UnitCostEntry>, InvalidQuery | SqlError>
}

export class Queries extends Context.Service<Queries, QueriesService>()("@tally/store/Queries") {
  static readonly layer: Layer.Layer<Queries, never, Database> = Layer.effect(
    Queries,
    Effect.gen(function*() {
      return make(yield* Database)
    })
  )
}

const filterOnLedger = (filter: UsageFilter | undefined, params: Params): Array<string> => {
  const out: Array<string> = []
  for (const d of dimensions) {
    const values = filter?.[d]
    if (values === undefined) continue
    out.push(`coalesce(${ledgerColumn[d]}, '') = ANY(${params.add([...values])}::text[])`)
  }
  if (filter?.tags !== undefined && Object.keys(filter.tags).length > 0) {
    out.push(`tags @> ${params.add(JSON.stringify(filter.tags))}::jsonb`)
  }
  return out
}

function make(db: DatabaseService): QueriesService {
  const sql = db.sql
  // JIT off for the rest of the transaction: scans of a month's ledger or rollups cross
  // jit_above_cost, and compiling their expressions costs more than running them.
  const jitOff = sql`SELECT set_config('jit', 'off', true)`

  const usage = Effect.fn("Queries.usage")(function*(tenantId: string, query: UsageQuery) {
    const bad = validateUsage(query)
    if (bad !== undefined) return yield* bad
    const groupBy = query.groupBy ?? []
    const tags = query.groupByTags ?? []
    const from = DateTime.toEpochMillis(query.from)
    const to = DateTime.toEpochMillis(query.to)
    return yield* db.withTenant(
      tenantId,
      Effect.gen(function*() {
        const zone = yield* zoneAndDays(sql, tenantId, query)
        const timeZone = zone.timeZone
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
        const buckets: Array<UsageBucket & MutableMeasures> = []
        const totals = mutable()
        const groupColumns = groupBy.map((_, i) => `g${i}`)
        const tagColumns = tags.map((_, i) => `t${i}`)
        // Rows come ordered by bucket, group, then currency: a bucket's rows are consecutive.
        let last: Record<string, unknown> | undefined
        let current: (UsageBucket & MutableMeasures) | undefined
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
            const bucket = mutable() as UsageBucket & MutableMeasures
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
        return {
          from: query.from,
          to: query.to,
          timeZone,
          granularity: query.granularity,
          groupBy,
          groupByTags: tags,
          buckets,
          totals,
          sources: [...new Set(parts.map((p) => p.source))]
        } satisfies UsageReport
      })
    )
  })

  const records = Effect.fn("Queries.records")(function*(
    tenantId: string,
    options: { readonly filter?: RecordFilter | undefined; readonly first: number; readonly after?: RecordCursor | undefined }
  ) {
    if (!Number.isInteger(options.first) || options.first < 0 || options.first > maxPageSize) {
      return yield* invalid("first", `expected 0 to ${maxPageSize}`)
    }
    const filter = options.filter
    if (filter?.from !== undefined && filter.to !== undefined) {
      const bad = checkRange(filter.from, filter.to)
      if (bad !== undefined) return yield* bad
    }
    const params = new Params()
    const where = [`tenant_id = ${params.add(tenantId)}`, ...filterOnLedger(filter, params)]
    if (filter?.from !== undefined) where.push(`occurred_at >= ${params.add(DateTime.toDateUtc(filter.from))}`)
    if (filter?.to !== undefined) where.push(`occurred_at < ${params.add(DateTime.toDateUtc(filter.to))}`)
    if (filter?.costSource !== undefined) where.push(`cost_source = ANY(${params.add([...filter.costSource])}::text[])`)
    if (filter?.requestId !== undefined) where.push(`request_id = ANY(${params.add([...filter.requestId])}::text[])`)
    if (options.after !== undefined) {
      where.push(
        `(occurred_at, request_id) < (${params.add(DateTime.toDateUtc(options.after.occurredAt))}::timestamptz, ${
          params.add(options.after.requestId)
        }::text)`
      )
    }
    const rows = yield* db.withTenant(
      tenantId,
      Effect.andThen(jitOff, sql.unsafe<LedgerRow.Row>(
        `SELECT ${recordColumns.join(", ")}, ingested_at FROM tally.usage_ledger
          WHERE ${where.join(" AND ")}
          ORDER BY occurred_at DESC, request_id DESC
          LIMIT ${options.first + 1}`,
        params.values
      ))
    )
    const page = rows.slice(0, options.first).map((row): LedgerRecord => {
      const call = LedgerRow.toUsageRecord({ ...row, raw: null })
      return {
        call,
        ingestedAt: LedgerRow.ingestedAt(row),
        currency: (row.currency as string | null) ?? null,
        cursor: { occurredAt: call.occurredAt, requestId: call.requestId }
      }
    })
    return { records: page, hasNextPage: rows.length > options.first } satisfies RecordPage
  })

  const rawPayloads = Effect.fn("Queries.rawPayloads")(function*(tenantId: string, keys: ReadonlyArray<RecordCursor>) {
    if (keys.length === 0) return new Map<string, RawPayload>()
    const rows = yield* db.withTenant(
      tenantId,
      sql.unsafe<{ request_id: string; raw: unknown; raw_text: string | null }>(
        `SELECT l.request_id, l.raw, l.raw_text
          FROM unnest($2::timestamptz[], $3::text[]) AS k(occurred_at, request_id)
          JOIN tally.usage_ledger l
            ON l.tenant_id = $1 AND l.occurred_at = k.occurred_at AND l.request_id = k.request_id`,
        [tenantId, keys.map((k) => DateTime.toDateUtc(k.occurredAt)), keys.map((k) => k.requestId)]
      )
    )
    return new Map(rows.map((row) => [row.request_id, { raw: row.raw ?? null, rawText: row.raw_text ?? null }]))
  })

  const snapshots = Effect.fn("Queries.snapshots")(function*(tenantId: string, ids: ReadonlyArray<string>) {
    if (ids.length === 0) return new Map<string, SnapshotRow>()
    const rows = yield* db.withTenant(
      tenantId,
      sql<{
        id: string
        tenant_id: string | null
        definition_id: string | null
        provider: string
        model_key: string
        currency: string
        snapshot: unknown
        created_at: Date
      }>`SELECT DISTINCT ON (id) id, tenant_id, definition_id, provider, model_key, currency, snapshot, created_at
        FROM tally.pricing_snapshots WHERE id = ANY(${[...ids]}::text[])
        ORDER BY id, tenant_id NULLS LAST`
    )
    return new Map(rows.map((row) => [row.id, {
      id: row.id,
      tenantId: row.tenant_id,
      definitionId: row.definition_id,
      provider: row.provider,
      modelKey: row.model_key,
      currency: row.currency,
      snapshot: row.snapshot,
      createdAt: DateTime.fromDateUnsafe(row.created_at)
    } satisfies SnapshotRow]))
  })

  const unitColumn: Record<UnitKind, string | null> = {
    request: null,
    workflow: "workflow",
    endUser: "end_user",
    customer: "customer",
    feature: "feature"
  }

  const unitCosts = Effect.fn("Queries.unitCosts")(function*(
    tenantId: string,
    options: { readonly from: DateTime.Utc; readonly to: DateTime.Utc; readonly filter?: UsageFilter | undefined; readonly kinds?: ReadonlyArray<UnitKind> | undefined }
  ) {
    const bad = checkRange(options.from, options.to)
    if (bad !== undefined) return yield* bad
    const kinds = options.kinds ?? unitKinds
    const params = new Params()
    const where = [
      `tenant_id = ${params.add(tenantId)}`,
      `occurred_at >= ${params.add(DateTime.toDateUtc(options.from))}`,
      `occurred_at < ${params.add(DateTime.toDateUtc(options.to))}`,
      ...filterOnLedger(options.filter, params)
    ]
    // One scan: per kind, the distinct units and attributed calls over all currencies (the
    // grand-total grouping set), and the spend per currency (one set per currency).
    const selects = kinds.map((kind, k) => {
      const column = unitColumn[kind]
      if (column === null) {
        return `count(*) AS k${k}_requests, count(*) AS k${k}_units, coalesce(sum(total), 0)::text AS k${k}_spend,
          0 AS k${k}_unattributed, '0' AS k${k}_unattributed_spend`
      }
      const has = `${column} IS NOT NULL AND ${column} <> ''`
      return `count(*) FILTER (WHERE ${has}) AS k${k}_requests,
        count(DISTINCT ${column}) FILTER (WHERE ${has}) AS k${k}_units,
        coalesce(sum(total) FILTER (WHERE ${has}), 0)::text AS k${k}_spend,
        count(*) FILTER (WHERE NOT (${has})) AS k${k}_unattributed,
        coalesce(sum(total) FILTER (WHERE NOT (${has})), 0)::text AS k${k}_unattributed_spend`
    })
    const rows = yield* db.withTenant(
      tenantId,
      Effect.andThen(jitOff, sql.unsafe<Record<string, unknown>>(
        `SELECT GROUPING(cur) AS whole, coalesce(cur, '') AS currency, ${selects.join(", ")}
          FROM (SELECT coalesce(currency, '') AS cur, * FROM tally.usage_ledger WHERE ${where.join(" AND ")}) AS l
          GROUP BY GROUPING SETS ((), (cur))`,
        params.values
      ))
    )
    return kinds.map((kind, k): UnitCost => {
      let units = 0
      let requests = 0
      let unattributedRequests = 0
      const spend: Array<Amount> = []
      const unattributedSpend: Array<Amount> = []
      for (const row of rows) {
        const currency = row.currency as string
        if (Number(row.whole) === 1) {
          units = Number(row[`k${k}_units`])
          requests = Number(row[`k${k}_requests`])
          unattributedRequests = Number(row[`k${k}_unattributed`])
          continue
        }
        // Unpriced calls have no currency and no spend.
        if (currency === "") continue
        addSpend(spend, currency, new Money.Decimal(row[`k${k}_spend`] as string))
        addSpend(unattributedSpend, currency, new Money.Decimal(row[`k${k}_unattributed_spend`] as string))
      }
      return { kind, units, requests, spend, unattributedRequests, unattributedSpend }
    })
  })

  const topUnits = Effect.fn("Queries.topUnits")(function*(
    tenantId: string,
    options: {
      readonly kind: Exclude<UnitKind, "request">
      readonly from: DateTime.Utc
      readonly to: DateTime.Utc
      readonly currency: string
      readonly limit: number
      readonly filter?: UsageFilter | undefined
    }
  ) {
    const bad = checkRange(options.from, options.to)
    if (bad !== undefined) return yield* bad
    if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > maxPageSize) {
      return yield* invalid("first", `expected 1 to ${maxPageSize}`)
    }
    const column = unitColumn[options.kind]!
    const params = new Params()
    const where = [
      `tenant_id = ${params.add(tenantId)}`,
      `occurred_at >= ${params.add(DateTime.toDateUtc(options.from))}`,
      `occurred_at < ${params.add(DateTime.toDateUtc(options.to))}`,
      `${column} IS NOT NULL AND ${column} <> ''`,
      ...filterOnLedger(options.filter, params)
    ]
    const currency = params.add(options.currency)
    const rows = yield* db.withTenant(
      tenantId,
      Effect.andThen(jitOff, sql.unsafe<{ unit: string; requests: string; spend: string }>(
        `SELECT ${column} AS unit, count(*)::text AS requests,
            coalesce(sum(total) FILTER (WHERE currency = ${currency}), 0)::text AS spend
          FROM tally.usage_ledger WHERE ${where.join(" AND ")}
          GROUP BY 1 ORDER BY sum(total) FILTER (WHERE currency = ${currency}) DESC NULLS LAST, 1
          LIMIT ${options.limit}`,
        params.values
      ))
    )
    return rows.map((row) => ({ unit: row.unit, requests: Number(row.requests), spend: new Money.Decimal(row.spend) }))
  })

  return { usage, records, rawPayloads, snapshots, unitCosts, topUnits }
}

/**
 * The zone of a query (its own or the tenant's), whether it is the tenant's (the daily summary is
 * cut in that one), and the whole days of the range as PostgreSQL cuts them, so that the parts
 * agree with the summary's day keys to the microsecond.
 */
const zoneAndDays = (sql: SqlClient.SqlClient, tenantId: string, query: UsageQuery) =>
  Effect.flatMap(
    // JIT off for the statement that follows in this transaction: a month of rows pushes its cost
    // estimate over jit_above_cost, and compiling the sums takes far longer than running them.
    sql<{ time_zone: string; zone: string; from_day: Date; to_day: Date; next_day: Date }>`SELECT set_config('jit', 'off', true), t.time_zone, z.zone,
        date_trunc('day', ${DateTime.toDateUtc(query.from)}::timestamptz, z.zone) AS from_day,
        date_trunc('day', ${DateTime.toDateUtc(query.to)}::timestamptz, z.zone) AS to_day,
        date_trunc('day', ((date_trunc('day', ${DateTime.toDateUtc(query.from)}::timestamptz, z.zone) AT TIME ZONE z.zone)
          + interval '1 day') AT TIME ZONE z.zone, z.zone) AS next_day
      FROM tally.tenants t, LATERAL (SELECT coalesce(${query.timeZone ?? null}::text, t.time_zone) AS zone) z
      WHERE t.id = ${tenantId}`,
    (rows) => {
      const row = rows[0]
      if (row === undefined) return Effect.fail(notFound(tenantId))
      const from = DateTime.toEpochMillis(query.from)
      const fromDay = row.from_day.getTime()
      return Effect.succeed({
        timeZone: row.zone,
        tenantZone: row.zone === row.time_zone,
        days: { from: fromDay === from ? fromDay : row.next_day.getTime(), to: row.to_day.getTime() }
      })
    }
  )
