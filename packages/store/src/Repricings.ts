/**
 * Repricing as the store keeps it: the calls of a period read back with their raw payloads, a
 * batch of new prices applied to the ledger with the price before and after kept for each call,
 * and the audit record of a run.
 *
 * `apply` is one transaction in the tenant's scope. It updates only ledger rows whose price is
 * still the one the caller repriced from (a concurrent reprice or a rebuild cannot be applied
 * twice), records each change in `tally.usage_repricings` (append-only), and moves each changed
 * call's contribution in the hourly rollups from its old price to its new one with the same
 * aggregate the batch insert uses, in one upsert in key order; the daily summaries follow through
 * their triggers. Lock order is the batch insert's: the tenant's shared rollup lock, hourly
 * rollups in key order, the tenant's summary lock (0013), daily summaries. Repricings of one
 * tenant also hold a lock of their own, so two runs never interleave.
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { CostBreakdown, Money, UsageRecord } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import * as CheckedRecord from "./internal/CheckedRecord.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"
import * as RollupSql from "./internal/RollupSql.ts"

export interface ScanQuery {
  readonly from: DateTime.Utc
  /** Exclusive. */
  readonly to: DateTime.Utc
  /** Only calls recorded `unpriced` or `partial`. */
  readonly onlyUnpriced: boolean
  /** The key of the last call of the previous page; null for the first page. */
  readonly after: { readonly occurredAt: DateTime.Utc; readonly requestId: string } | null
  readonly limit: number
}

/** `priced`: an unpriced or partial call gained priced lines; `correction`: a priced call's price changed. */
export type ChangeKind = "priced" | "correction"

export interface Change {
  readonly kind: ChangeKind
  /** The call as the ledger holds it now (what `scan` returned). */
  readonly before: UsageRecord.UsageRecord
  /** The same call priced again: only its price fields differ. */
  readonly after: UsageRecord.UsageRecord
}

export interface ApplyInput {
  readonly runId: string
  readonly actor: string
  readonly changes: ReadonlyArray<Change>
}

/** The price of a call as kept before or after a repricing. */
export interface Price {
  readonly costSource: UsageRecord.CostSource
  readonly total: Money.Decimal | null
  readonly currency: string | null
  readonly definitionId: string | null
  readonly snapshotId: string | null
  readonly unpricedReason: string | null
}

/** One call's repricing, as recorded. */
export interface Repricing {
  readonly runId: string
  readonly actor: string
  readonly repricedAt: DateTime.Utc
  readonly occurredAt: DateTime.Utc
  readonly requestId: string
  readonly kind: ChangeKind
  readonly before: Price
  readonly after: Price
}

/** The audit record of a run that changed something. */
export interface RunRecord {
  readonly id: string
  readonly actor: string
  readonly startedAt: DateTime.Utc
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly onlyUnpriced: boolean
  readonly priceBookVersion: number
  /** The run's summary as JSON (decimals as strings). */
  readonly summary: Readonly<Record<string, unknown>>
}

export interface StoredRun extends RunRecord {
  readonly finishedAt: DateTime.Utc
}

const priceColumns = [
  ["cost_source", "text"],
  ["total", "numeric"],
  ["currency", "text"],
  ["definition_id", "text"],
  ["snapshot_id", "text"],
  ["unpriced_reason", "text"],
  ["cost_breakdown", "jsonb"],
  ["cost_difference", "numeric"]
] as const

const inputColumns: ReadonlyArray<readonly [string, string]> = [
  ["request_id", "text"],
  ["occurred_at", "timestamptz"],
  ["kind", "text"],
  ...priceColumns.map(([c, t]) => [`before_${c}`, t] as const),
  ...priceColumns.map(([c, t]) => [`after_${c}`, t] as const)
]

/** Where a rollup row takes the old price of a changed call from. */
const beforeSource: Readonly<Record<string, string>> = {
  currency: "i.before_currency",
  cost_source: "i.before_cost_source",
  total: "i.before_total"
}

const sourceList = (pick: (column: string) => string) =>
  RollupSql.sourceColumns.map((c) => `${pick(c)} AS ${c}`).join(", ")

const jsonInput = `SELECT * FROM jsonb_to_recordset($2::jsonb) AS i(${inputColumns.map(([c, t]) => `${c} ${t}`).join(", ")})`

/**
 * The correction entries of the calls whose price is still the one they were repriced from, with
 * their request ids. First, because the ledger's trigger (0016) lets a price change only with its
 * entry of the same transaction.
 */
const recordStatement = `WITH input AS (${jsonInput})
  INSERT INTO tally.usage_repricings (tenant_id, run_id, actor, occurred_at, request_id, kind, ${
  inputColumns.slice(3).map(([c]) => c).join(", ")
})
  SELECT $1, $3::uuid, $4, i.occurred_at, i.request_id, i.kind, ${inputColumns.slice(3).map(([c]) => `i.${c}`).join(", ")}
  FROM input i
  JOIN tally.usage_ledger l ON l.tenant_id = $1 AND l.occurred_at = i.occurred_at AND l.request_id = i.request_id
  WHERE l.cost_source = i.before_cost_source
    AND l.total IS NOT DISTINCT FROM i.before_total
    AND l.currency IS NOT DISTINCT FROM i.before_currency
    AND l.definition_id IS NOT DISTINCT FROM i.before_definition_id
    AND l.snapshot_id IS NOT DISTINCT FROM i.before_snapshot_id
  ORDER BY i.occurred_at, i.request_id
  RETURNING id, request_id`

/** The new prices of the recorded entries into the ledger, and each call moved in the rollups. */
const applyStatement = `WITH input AS (
    SELECT * FROM tally.usage_repricings WHERE id = ANY($2::int8[]) AND tenant_id = $1
  ),
  updated AS (
    UPDATE tally.usage_ledger l SET ${priceColumns.map(([c]) => `${c} = i.after_${c}`).join(", ")}
    FROM input i
    WHERE l.tenant_id = $1 AND l.occurred_at = i.occurred_at AND l.request_id = i.request_id
    RETURNING l.request_id, ${RollupSql.sourceColumns.map((c) => `l.${c}`).join(", ")},
      ${Object.values(beforeSource).map((c) => `${c} AS ${c.slice(2)}`).join(", ")}
  ),
  moved AS (
    SELECT ${sourceList((c) => (beforeSource[c] ?? `u.${c}`).replace(/^i\./, "u."))}, -1 AS sign FROM updated u
    UNION ALL
    SELECT ${sourceList((c) => `u.${c}`)}, 1 AS sign FROM updated u
  ),
  rollup AS (
    ${RollupSql.upsert(RollupSql.signedAggregate("moved"))}
    RETURNING ${RollupSql.keyColumns.join(", ")}, request_count
  )
  SELECT
    (SELECT count(*) FROM updated)::int AS updated,
    coalesce((SELECT jsonb_agg(jsonb_build_object(${
  RollupSql.keyColumns.map((c) => `'${c}', ${c}`).join(", ")
})) FROM rollup WHERE request_count = 0), '[]') AS emptied`

/** Rollup rows a repricing emptied (every call moved to another currency): gone, as a rebuild would have them. */
const deleteEmptied = `DELETE FROM tally.usage_rollups_hourly r
  USING jsonb_to_recordset($2::jsonb) AS k(${
  RollupSql.keyColumns.map((c) => `${c} ${c === "hour" ? "timestamptz" : "text"}`).join(", ")
})
  WHERE r.tenant_id = $1 AND ${RollupSql.keyColumns.map((c) => `r.${c} = k.${c}`).join(" AND ")} AND r.request_count = 0`

const numeric = (value: Money.Decimal | null): string | null => (value === null ? null : Money.format(value))

const priceJson = (prefix: string, call: UsageRecord.UsageRecord, breakdown: unknown, currency: string | null) => ({
  [`${prefix}_cost_source`]: call.costSource,
  [`${prefix}_total`]: numeric(call.total),
  [`${prefix}_currency`]: currency,
  [`${prefix}_definition_id`]: call.definitionId,
  [`${prefix}_snapshot_id`]: call.snapshotId,
  [`${prefix}_unpriced_reason`]: call.unpricedReason,
  [`${prefix}_cost_breakdown`]: breakdown,
  [`${prefix}_cost_difference`]: numeric(call.difference)
})

const inputOf = (change: Change) => {
  const checked = CheckedRecord.check(change.after)
  if (CheckedRecord.isRejection(checked)) {
    // The pricer made a record the ledger refuses: a bug, not input.
    throw new Error(`repriced call ${JSON.stringify(change.after.requestId)} breaks ${checked.field}: ${checked.message}`)
  }
  const before = change.before
  return {
    request_id: before.requestId,
    occurred_at: DateTime.formatIso(before.occurredAt),
    kind: change.kind,
    ...priceJson(
      "before",
      before,
      before.breakdown === null ? null : CostBreakdown.encode(before.breakdown),
      UsageRecord.currencyOf(before)
    ),
    ...priceJson("after", change.after, checked.encoded.breakdown, checked.currency)
  }
}

const text = (value: unknown): string | null => (typeof value === "string" ? value : null)

const priceOf = (row: Record<string, unknown>, prefix: string): Price => ({
  costSource: row[`${prefix}_cost_source`] as UsageRecord.CostSource,
  total: typeof row[`${prefix}_total`] === "string" ? new Money.Decimal(row[`${prefix}_total`] as string) : null,
  currency: text(row[`${prefix}_currency`]),
  definitionId: text(row[`${prefix}_definition_id`]),
  snapshotId: text(row[`${prefix}_snapshot_id`]),
  unpricedReason: text(row[`${prefix}_unpriced_reason`])
})

const repricingOf = (row: Record<string, unknown>): Repricing => ({
  runId: row.run_id as string,
  actor: row.actor as string,
  repricedAt: DateTime.fromDateUnsafe(row.repriced_at as Date),
  occurredAt: DateTime.fromDateUnsafe(row.occurred_at as Date),
  requestId: row.request_id as string,
  kind: row.kind as ChangeKind,
  before: priceOf(row, "before"),
  after: priceOf(row, "after")
})

const runOf = (row: Record<string, unknown>): StoredRun => ({
  id: row.id as string,
  actor: row.actor as string,
  startedAt: DateTime.fromDateUnsafe(row.started_at as Date),
  finishedAt: DateTime.fromDateUnsafe(row.finished_at as Date),
  from: DateTime.fromDateUnsafe(row.period_from as Date),
  to: DateTime.fromDateUnsafe(row.period_to as Date),
  onlyUnpriced: row.only_unpriced as boolean,
  priceBookVersion: Number(row.price_book_version),
  summary: row.summary as Record<string, unknown>
})

const toDate = (dt: DateTime.Utc): Date => DateTime.toDateUtc(dt)

export interface RepricingsService {
  /** A fresh run id. */
  readonly newRunId: Effect.Effect<string, SqlError>
  /** Calls of `[from, to)` with their raw payloads, in (occurred_at, request_id) order, a page at a time. */
  readonly scan: (tenantId: string, query: ScanQuery) => Effect.Effect<ReadonlyArray<UsageRecord.UsageRecord>, SqlError>
  /**
   * Applies a batch of new prices; see the module comment. Returns the request ids really changed:
   * a call whose price moved since it was scanned is left alone.
   */
  readonly apply: (tenantId: string, input: ApplyInput) => Effect.Effect<ReadonlyArray<string>, SqlError>
  /** Records the audit record of a run. */
  readonly recordRun: (tenantId: string, run: RunRecord) => Effect.Effect<void, SqlError>
  /** Runs of the tenant, newest first. */
  readonly runs: (tenantId: string, limit: number) => Effect.Effect<ReadonlyArray<StoredRun>, SqlError>
  /** Every repricing of one call, oldest first. */
  readonly history: (tenantId: string, requestId: string) => Effect.Effect<ReadonlyArray<Repricing>, SqlError>
  /** The repricings of one run, in (occurred_at, request_id) order. */
  readonly ofRun: (tenantId: string, runId: string) => Effect.Effect<ReadonlyArray<Repricing>, SqlError>
}

export class Repricings extends Context.Service<Repricings, RepricingsService>()("@tally/store/Repricings") {
  static readonly layer: Layer.Layer<Repricings, never, Database> = Layer.effect(
    Repricings,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const newRunId = Effect.map(sql<{ id: string }>`SELECT gen_random_uuid()::text AS id`, (rows) => rows[0]!.id)

      const scan = Effect.fn("Repricings.scan")(function*(tenantId: string, q: ScanQuery) {
        const afterAt = q.after === null ? toDate(q.from) : toDate(q.after.occurredAt)
        const afterId = q.after === null ? "" : q.after.requestId
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<LedgerRow.Row>(
            `SELECT ${LedgerRow.rowWithPayload()} FROM tally.usage_ledger l ${LedgerRow.payloadJoin("l")}
              WHERE l.tenant_id = $1 AND l.occurred_at >= $2 AND l.occurred_at < $3
                AND (l.occurred_at, l.request_id) > ($4::timestamptz, $5::text)
                ${q.onlyUnpriced ? "AND l.cost_source IN ('unpriced', 'partial')" : ""}
              ORDER BY l.occurred_at, l.request_id
              LIMIT $6`,
            [tenantId, toDate(q.from), toDate(q.to), afterAt, afterId, q.limit]
          )
        )
        return rows.map(LedgerRow.toUsageRecord)
      })

      const apply = Effect.fn("Repricings.apply")(function*(tenantId: string, input: ApplyInput) {
        if (input.changes.length === 0) return []
        const rows = yield* Effect.sync(() => input.changes.map(inputOf))
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            // Runs of one tenant one at a time; then the shared lock a rebuild takes exclusively.
            yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${`tally.reprice:${tenantId}`}, 0))`
            yield* sql`SELECT pg_advisory_xact_lock_shared(hashtextextended(${`tally.rollups:${tenantId}`}, 0))`
            const recorded = yield* sql.unsafe<{ id: bigint | string; request_id: string }>(
              recordStatement,
              [tenantId, JSON.stringify(rows), input.runId, input.actor]
            )
            const ids = recorded.map((row) => row.request_id)
            if (ids.length === 0) return ids
            const [result] = yield* sql.unsafe<{ updated: number; emptied: ReadonlyArray<unknown> }>(
              applyStatement,
              [tenantId, Result.getOrThrow(PgTypes.array(recorded.map((row) => BigInt(row.id)), PgTypes.OID.int8))]
            )
            if (result!.updated !== ids.length) {
              // Each entry was written against this transaction's view of its row: a broken invariant.
              return yield* Effect.die(new Error(`repricing updated ${result!.updated} ledger rows for ${ids.length} entries`))
            }
            if (result!.emptied.length > 0) {
              yield* sql.unsafe(deleteEmptied, [tenantId, JSON.stringify(result!.emptied)])
            }
            return ids
          })
        )
      })

      const recordRun = Effect.fn("Repricings.recordRun")(function*(tenantId: string, run: RunRecord) {
        yield* db.withTenant(
          tenantId,
          sql`INSERT INTO tally.reprice_runs
            (id, tenant_id, actor, started_at, period_from, period_to, only_unpriced, price_book_version, summary)
            VALUES (${run.id}::uuid, ${tenantId}, ${run.actor}, ${toDate(run.startedAt)}, ${toDate(run.from)},
              ${toDate(run.to)}, ${run.onlyUnpriced}, ${run.priceBookVersion}, ${JSON.stringify(run.summary)}::jsonb)`
        )
      })

      const runs = Effect.fn("Repricings.runs")(function*(tenantId: string, limit: number) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<Record<string, unknown>>`SELECT * FROM tally.reprice_runs
            WHERE tenant_id = ${tenantId} ORDER BY started_at DESC, id LIMIT ${limit}`
        )
        return rows.map(runOf)
      })

      const entryColumns = `run_id::text AS run_id, actor, repriced_at, occurred_at, request_id, kind, ${
        inputColumns.slice(3).map(([c, t]) => (t === "numeric" ? `${c}::text AS ${c}` : c)).join(", ")
      }`

      const history = Effect.fn("Repricings.history")(function*(tenantId: string, requestId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<Record<string, unknown>>(
            `SELECT ${entryColumns} FROM tally.usage_repricings WHERE tenant_id = $1 AND request_id = $2 ORDER BY id`,
            [tenantId, requestId]
          )
        )
        return rows.map(repricingOf)
      })

      const ofRun = Effect.fn("Repricings.ofRun")(function*(tenantId: string, runId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<Record<string, unknown>>(
            `SELECT ${entryColumns} FROM tally.usage_repricings WHERE tenant_id = $1 AND run_id = $2::uuid
              ORDER BY occurred_at, request_id`,
            [tenantId, runId]
          )
        )
        return rows.map(repricingOf)
      })

      return Repricings.of({ newRunId, scan, apply, recordRun, runs, history, ofRun })
    })
  )
}
