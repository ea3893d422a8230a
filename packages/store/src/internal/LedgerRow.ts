/**
 * The one place where a priced call meets the ledger's columns: which column holds what, its
 * PostgreSQL type for array binding, how a checked call fills it, and how a row reads back.
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { CostBreakdown, Money, type Usage, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import type { Checked } from "./CheckedRecord.ts"

/** Ledger and rollup column of each token bucket. */
export const tokenColumns = {
  inputText: "input_text",
  cacheRead: "cache_read",
  cacheReadImage: "cache_read_image",
  cacheReadAudio: "cache_read_audio",
  cacheReadVideo: "cache_read_video",
  cacheWrite5m: "cache_write_5m",
  cacheWrite1h: "cache_write_1h",
  inputImage: "input_image",
  inputAudio: "input_audio",
  inputVideo: "input_video",
  outputText: "output_text",
  reasoning: "reasoning",
  outputImage: "output_image",
  outputAudio: "output_audio",
  outputVideo: "output_video",
  embedding: "embedding",
  training: "training"
} as const satisfies Record<Usage.TokenBucket, string>

/** Ledger column of each attribution label. */
export const labelColumns = {
  project: "project",
  environment: "environment",
  feature: "feature",
  team: "team",
  customer: "customer",
  endUser: "end_user",
  workflow: "workflow",
  costCenter: "cost_center",
  apiKeyId: "api_key_id"
} as const satisfies Record<keyof UsageRecord.Labels, string>

interface Column {
  readonly name: string
  /** OID of the array's elements as bound. */
  readonly oid: number
  /** The parameter's SQL type: the column's array type, or a cast to it. */
  readonly parameter: string
  readonly get: (checked: Checked) => unknown
}

const { OID } = PgTypes

const int8 = (value: number | undefined): bigint | null => (value === undefined ? null : BigInt(value))
const orNull = <A>(value: A | undefined): A | null => (value === undefined ? null : value)

const column = (name: string, oid: number, type: string, get: (checked: Checked) => unknown): Column => ({
  name,
  oid,
  parameter: `${type}[]`,
  get
})

/**
 * A jsonb column bound as the JSON text the event hash was computed from and cast by PostgreSQL,
 * so that the driver does not serialize the value a second time.
 */
const jsonb = (name: string, get: (checked: Checked) => string | null): Column => ({
  name,
  oid: OID.text,
  parameter: "text[]::jsonb[]",
  get
})

/** Every ledger column the batch insert writes, except `tenant_id` (one value per batch). */
export const columns: ReadonlyArray<Column> = [
  column("request_id", OID.text, "text", (c) => c.call.requestId),
  column("occurred_at", OID.timestamptz, "timestamptz", (c) => c.occurredAtMillis),
  column("event_hash", OID.bytea, "bytea", (c) => c.eventHash),
  column("provider", OID.text, "text", (c) => c.call.provider),
  column("api", OID.text, "text", (c) => orNull(c.call.api)),
  column("model", OID.text, "text", (c) => c.call.model),
  column("definition_id", OID.text, "text", (c) => c.call.definitionId),
  column("snapshot_id", OID.text, "text", (c) => c.call.snapshotId),
  ...Object.entries(tokenColumns).map(([bucket, name]) =>
    column(name, OID.int8, "int8", (c) => int8(c.call.usage.tokens[bucket as Usage.TokenBucket]))
  ),
  column("requests", OID.int8, "int8", (c) => int8(c.call.usage.requests)),
  jsonb("images_generated", (c) => c.json.imagesGenerated),
  column("audio_seconds", OID.numeric, "numeric", (c) => orNull(c.encoded.usage.audioSeconds)),
  column("video_seconds", OID.numeric, "numeric", (c) => orNull(c.encoded.usage.videoSeconds)),
  column("web_searches", OID.int8, "int8", (c) => int8(c.call.usage.webSearches)),
  jsonb("tool_calls", (c) => c.json.toolCalls),
  column("prompt_tokens", OID.int8, "int8", (c) => int8(c.call.usage.promptTokens)),
  column("batch", OID.bool, "bool", (c) => orNull(c.call.usage.batch)),
  column("fine_tuned", OID.bool, "bool", (c) => orNull(c.call.usage.fineTuned)),
  column("service_tier", OID.text, "text", (c) => orNull(c.call.usage.serviceTier)),
  column("region", OID.text, "text", (c) => orNull(c.call.usage.region)),
  column("cost_source", OID.text, "text", (c) => c.call.costSource),
  column("unpriced_reason", OID.text, "text", (c) => c.call.unpricedReason),
  column("currency", OID.text, "text", (c) => c.currency),
  column("total", OID.numeric, "numeric", (c) => c.encoded.total),
  jsonb("cost_breakdown", (c) => c.json.breakdown),
  column("reported_cost", OID.numeric, "numeric", (c) => c.encoded.reportedCost),
  column("reported_currency", OID.text, "text", (c) => c.call.reportedCurrency),
  column("cost_difference", OID.numeric, "numeric", (c) => c.encoded.difference),
  ...Object.entries(labelColumns).map(([label, name]) =>
    column(name, OID.text, "text", (c) => orNull(c.call.labels[label as keyof UsageRecord.Labels]))
  ),
  jsonb("tags", (c) => c.json.tags),
  jsonb("raw", (c) => c.json.raw),
  column("raw_text", OID.text, "text", (c) => orNull(c.call.rawText))
]

/** Columns of `usage_request_ids` that come from the input (besides the tenant). */
export const idColumns = ["request_id", "event_hash", "occurred_at"] as const

/** Columns of `usage_payloads` (0022): the raw payload, kept out of the ledger's heap. */
export const payloadColumns = ["raw", "raw_text"] as const

const isPayload = (name: string): boolean => (payloadColumns as ReadonlyArray<string>).includes(name)

/**
 * Ledger columns (those written by the insert, minus the hash, which lives with the request id,
 * and the raw payload, which lives in `usage_payloads`).
 */
export const ledgerColumns: ReadonlyArray<string> = columns.map((c) => c.name).filter((name) =>
  name !== "event_hash" && !isPayload(name)
)

/**
 * `LEFT JOIN` of the payload row of the ledger rows aliased `ledger`, as `alias`; a call without
 * a raw payload has no payload row, and reads back with `raw` null.
 */
export const payloadJoin = (ledger: string, alias = "p"): string =>
  `LEFT JOIN tally.usage_payloads ${alias} ON ${alias}.tenant_id = ${ledger}.tenant_id
    AND ${alias}.occurred_at = ${ledger}.occurred_at AND ${alias}.request_id = ${ledger}.request_id`

/** `l.*, p.raw, p.raw_text`: a whole ledger row with its payload, for `payloadJoin("l")`. */
export const rowWithPayload = (ledger = "l", alias = "p"): string =>
  [`${ledger}.*`, ...payloadColumns.map((c) => `${alias}.${c}`)].join(", ")

/** One array parameter per column, each typed, so PostgreSQL receives them in binary form. */
export const arrays = (items: ReadonlyArray<Checked>): ReadonlyArray<PgTypes.Parameter> =>
  columns.map((col) => {
    const values = new Array<unknown>(items.length)
    for (let i = 0; i < items.length; i++) values[i] = col.get(items[i]!)
    return Result.getOrThrow(PgTypes.array(values, col.oid))
  })

/** `unnest($2::text[], ...) AS input(request_id, ...)`, parameters numbered from `first`. */
export const unnestInput = (first: number): string =>
  `unnest(${columns.map((col, i) => `$${first + i}::${col.parameter}`).join(", ")}) AS input(${
    columns.map((col) => col.name).join(", ")
  })`

// Reading rows back ----------------------------------------------------------------------------

export interface Row {
  readonly [column: string]: unknown
}

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)
const count = (value: unknown): number | undefined =>
  typeof value === "bigint" ? Number(value) : typeof value === "number" ? value : undefined
const decimal = (value: unknown): Money.Decimal | null => (typeof value === "string" ? new Money.Decimal(value) : null)

const usageOf = (row: Row): Usage.Usage => {
  const tokens: Partial<Record<Usage.TokenBucket, number>> = {}
  for (const [bucket, name] of Object.entries(tokenColumns)) {
    const value = count(row[name])
    if (value !== undefined) tokens[bucket as Usage.TokenBucket] = value
  }
  const usage: { -readonly [K in keyof Usage.Usage]: Usage.Usage[K] } = { tokens }
  const requests = count(row.requests)
  if (requests !== undefined) usage.requests = requests
  if (row.images_generated !== null && row.images_generated !== undefined) {
    usage.imagesGenerated = row.images_generated as Record<string, number>
  }
  const audioSeconds = decimal(row.audio_seconds)
  if (audioSeconds !== null) usage.audioSeconds = audioSeconds
  const videoSeconds = decimal(row.video_seconds)
  if (videoSeconds !== null) usage.videoSeconds = videoSeconds
  const webSearches = count(row.web_searches)
  if (webSearches !== undefined) usage.webSearches = webSearches
  if (row.tool_calls !== null && row.tool_calls !== undefined) usage.toolCalls = row.tool_calls as Record<string, number>
  const promptTokens = count(row.prompt_tokens)
  if (promptTokens !== undefined) usage.promptTokens = promptTokens
  if (typeof row.batch === "boolean") usage.batch = row.batch
  if (typeof row.fine_tuned === "boolean") usage.fineTuned = row.fine_tuned
  const serviceTier = text(row.service_tier)
  if (serviceTier !== undefined) usage.serviceTier = serviceTier
  const region = text(row.region)
  if (region !== undefined) usage.region = region
  return usage
}

const labelsOf = (row: Row): UsageRecord.Labels => {
  const labels: { -readonly [K in keyof UsageRecord.Labels]: string } = {}
  for (const [label, name] of Object.entries(labelColumns)) {
    const value = text(row[name])
    if (value !== undefined) labels[label as keyof UsageRecord.Labels] = value
  }
  return labels
}

const instant = (value: unknown): DateTime.Utc => DateTime.fromDateUnsafe(value as Date)

/** A ledger row back as the call that was written. */
export const toUsageRecord = (row: Row): UsageRecord.UsageRecord => {
  const api = text(row.api)
  const rawText = text(row.raw_text)
  return {
    requestId: row.request_id as string,
    occurredAt: instant(row.occurred_at),
    provider: row.provider as string,
    ...(api === undefined ? {} : { api }),
    model: row.model as string,
    definitionId: text(row.definition_id) ?? null,
    snapshotId: text(row.snapshot_id) ?? null,
    usage: usageOf(row),
    breakdown: row.cost_breakdown === null || row.cost_breakdown === undefined
      ? null
      : CostBreakdown.decode(row.cost_breakdown),
    total: decimal(row.total),
    costSource: row.cost_source as UsageRecord.CostSource,
    unpricedReason: text(row.unpriced_reason) ?? null,
    reportedCost: decimal(row.reported_cost),
    reportedCurrency: text(row.reported_currency) ?? null,
    difference: decimal(row.cost_difference),
    labels: labelsOf(row),
    tags: row.tags as Record<string, string>,
    raw: (row.raw ?? null) as UsageRecord.UsageRecord["raw"],
    ...(rawText === undefined ? {} : { rawText })
  }
}

export const ingestedAt = (row: Row): DateTime.Utc => instant(row.ingested_at)

/**
 * Ledger columns of a record without its raw payload, for reads that never show it: since 0022
 * every column of the ledger itself.
 */
export const columnsWithoutPayload: ReadonlyArray<string> = ledgerColumns
