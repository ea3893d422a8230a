/**
 * Hourly usage rollups per tenant, by provider, model, project, environment, feature, team,
 * customer, cost center, API key and currency: call counts, every token bucket, counted units
 * and cost. Batches increment them as they insert; `rebuild` recomputes a range from the ledger
 * with the same aggregate, so a rebuild of an intact range changes nothing.
 *
 * Hours are UTC: any time zone with whole-hour offsets cuts its days from them.
 */
import { Money, type Usage } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { tokenColumns } from "./internal/LedgerRow.ts"
import * as RollupSql from "./internal/RollupSql.ts"

export interface RollupRow {
  readonly tenantId: string
  /** Start of the UTC hour. */
  readonly hour: DateTime.Utc
  readonly provider: string
  readonly model: string
  /** Labels; null where the calls had none. */
  readonly project: string | null
  readonly environment: string | null
  readonly feature: string | null
  readonly team: string | null
  readonly customer: string | null
  readonly costCenter: string | null
  readonly apiKeyId: string | null
  /** Currency of `cost`; null for rows of unpriced calls only. */
  readonly currency: string | null
  readonly requestCount: number
  readonly estimatedCount: number
  readonly unpricedCount: number
  readonly partialCount: number
  readonly cost: Money.Decimal
  readonly tokens: { readonly [K in Usage.TokenBucket]: number }
  readonly billableRequests: number
  readonly webSearches: number
  readonly imagesGenerated: number
  readonly toolCalls: number
  readonly audioSeconds: Money.Decimal
  readonly videoSeconds: Money.Decimal
}

export interface Range {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
}

export interface RebuildResult {
  /** The range actually rebuilt: `from` rounded down and `to` rounded up to whole UTC hours. */
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly tenants: number
  /** Rollup rows written. */
  readonly rows: number
}

export class InvalidRange extends Schema.TaggedError<InvalidRange>()("InvalidRange", {
  message: Schema.String
}) {}

const HOUR = 3_600_000

/** `[from, to)` widened to whole UTC hours. */
const hourRange = (range: Range): { readonly from: number; readonly to: number } => ({
  from: Math.floor(DateTime.toEpochMillis(range.from) / HOUR) * HOUR,
  to: Math.ceil(DateTime.toEpochMillis(range.to) / HOUR) * HOUR
})

const validateRange = (range: Range): InvalidRange | undefined =>
  DateTime.toEpochMillis(range.to) > DateTime.toEpochMillis(range.from)
    ? undefined
    : new InvalidRange({ message: "expected `to` after `from`" })

const blank = (value: unknown): string | null => (value === "" ? null : (value as string))
const num = (value: unknown): number => Number(value as bigint | string)

const fromRow = (row: Record<string, unknown>): RollupRow => ({
  tenantId: row.tenant_id as string,
  hour: DateTime.fromDateUnsafe(row.hour as Date),
  provider: row.provider as string,
  model: row.model as string,
  project: blank(row.project),
  environment: blank(row.environment),
  feature: blank(row.feature),
  team: blank(row.team),
  customer: blank(row.customer),
  costCenter: blank(row.cost_center),
  apiKeyId: blank(row.api_key_id),
  currency: blank(row.currency),
  requestCount: num(row.request_count),
  estimatedCount: num(row.estimated_count),
  unpricedCount: num(row.unpriced_count),
  partialCount: num(row.partial_count),
  cost: new Money.Decimal(row.cost as string),
  tokens: Object.fromEntries(
    Object.entries(tokenColumns).map(([bucket, column]) => [bucket, num(row[column])])
  ) as RollupRow["tokens"],
  billableRequests: num(row.billable_requests),
  webSearches: num(row.web_searches),
  imagesGenerated: num(row.images_generated),
  toolCalls: num(row.tool_calls),
  audioSeconds: new Money.Decimal(row.audio_seconds as string),
  videoSeconds: new Money.Decimal(row.video_seconds as string)
})

const orderBy = RollupSql.keyColumns.join(", ")

export interface RollupsService {
  /** Rollup rows of the hours that start in `[from, to)`, in key order. */
  readonly list: (tenantId: string, range: Range) => Effect.Effect<ReadonlyArray<RollupRow>, InvalidRange | SqlError>
  /**
   * Recomputes the rollups of `[from, to)` (widened to whole hours) from the ledger, for one
   * tenant or, without `tenantId`, for every tenant (one transaction per tenant). Runs exclusive
   * of batch inserts for that tenant, so no increment is lost or counted twice.
   */
  readonly rebuild: (
    options: Range & { readonly tenantId?: string | undefined }
  ) => Effect.Effect<RebuildResult, InvalidRange | SqlError>
}

export class Rollups extends Context.Service<Rollups, RollupsService>()("@tally/store/Rollups") {
  static readonly layer: Layer.Layer<Rollups, never, Database> = Layer.effect(
    Rollups,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const list = Effect.fn("Rollups.list")(function*(tenantId: string, range: Range) {
        const invalid = validateRange(range)
        if (invalid !== undefined) return yield* invalid
        const { from, to } = hourRange(range)
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<Record<string, unknown>>(
            `SELECT * FROM tally.usage_rollups_hourly
              WHERE tenant_id = $1 AND hour >= $2 AND hour < $3
              ORDER BY ${orderBy}`,
            [tenantId, new Date(from), new Date(to)]
          )
        )
        return rows.map(fromRow)
      })

      const rebuildTenant = (tenantId: string, from: number, to: number) =>
        db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${`tally.rollups:${tenantId}`}, 0))`
            yield* sql`DELETE FROM tally.usage_rollups_hourly
              WHERE tenant_id = ${tenantId} AND hour >= ${new Date(from)} AND hour < ${new Date(to)}`
            const rows = yield* sql.unsafe<{ hour: Date }>(
              `INSERT INTO tally.usage_rollups_hourly (${RollupSql.insertColumns.join(", ")})
                ${RollupSql.aggregate("tally.usage_ledger", "WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3")}
                RETURNING hour`,
              [tenantId, new Date(from), new Date(to)]
            )
            return rows.length
          })
        )

      const rebuild = Effect.fn("Rollups.rebuild")(function*(
        options: Range & { readonly tenantId?: string | undefined }
      ) {
        const invalid = validateRange(options)
        if (invalid !== undefined) return yield* invalid
        const { from, to } = hourRange(options)
        const tenantIds = options.tenantId !== undefined
          ? [options.tenantId]
          : (yield* sql<{ id: string }>`SELECT id FROM tally.tenants ORDER BY id`).map((row) => row.id)
        let rows = 0
        for (const tenantId of tenantIds) rows += yield* rebuildTenant(tenantId, from, to)
        return {
          from: DateTime.makeUnsafe(from),
          to: DateTime.makeUnsafe(to),
          tenants: tenantIds.length,
          rows
        } satisfies RebuildResult
      })

      return Rollups.of({ list, rebuild })
    })
  )
}
