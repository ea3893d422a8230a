/**
 * The usage ledger: idempotent batch insert of priced calls, and reading a call back.
 *
 * A batch is one transaction in the tenant's scope, and on the normal path one statement: the
 * request ids are inserted `ON CONFLICT DO NOTHING RETURNING`, the ledger rows for exactly the ids
 * that came back are inserted, and the hourly rollups are incremented from exactly those rows.
 * A replayed, retried or redelivered call therefore changes no total. Only when some ids were
 * already known does a second statement read their stored hashes, to tell a duplicate (same
 * event) from a conflict (same request id, different event). Invalid calls and conflicts go to
 * dead letters in the same transaction, and so do the events the caller refused before they
 * became calls (`insertBatch`'s `refused`); the rest of the batch lands.
 */
import { Tenant, UsageRecord } from "@tally/core"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { type DeadLetterInput, DeadLetters } from "./DeadLetters.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"
import * as RollupSql from "./internal/RollupSql.ts"
import * as CheckedRecord from "./internal/CheckedRecord.ts"

export type ItemResult =
  | { readonly status: "inserted"; readonly requestId: string }
  /** The same event was recorded before (or earlier in this batch). */
  | { readonly status: "duplicate"; readonly requestId: string }
  /** The request id was recorded before with a different event; this one went to dead letters. */
  | {
    readonly status: "conflict"
    readonly requestId: string
    /** sha256 of the recorded event and of this one, hex. */
    readonly recordedHash: string
    readonly eventHash: string
  }
  /** The call breaks a rule of `UsageRecord`; it went to dead letters. */
  | {
    readonly status: "rejected"
    readonly requestId: string | null
    readonly field: string
    readonly reason: string
  }

export interface BatchResult {
  /** One result per call, in input order. */
  readonly items: ReadonlyArray<ItemResult>
  readonly inserted: number
  readonly duplicates: number
  readonly conflicts: number
  readonly rejected: number
}

/** A call as recorded, with when it was ingested and the hash idempotency compares. */
export interface RecordedCall {
  readonly call: UsageRecord.UsageRecord
  readonly ingestedAt: DateTime.Utc
  readonly eventHash: string
}

/** Which source the dead letters of a batch name. */
export const deadLetterSource = "usage-batch"

const { OID } = PgTypes

const monthStart = (millis: number): number => {
  const date = new Date(millis)
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)
}

const insertStatement = (() => {
  const ledger = LedgerRow.ledgerColumns
  return `WITH input AS (
      SELECT * FROM ${LedgerRow.unnestInput(2)}
    ),
    ids AS (
      INSERT INTO tally.usage_request_ids (tenant_id, ${LedgerRow.idColumns.join(", ")})
      SELECT $1, ${LedgerRow.idColumns.join(", ")} FROM input ORDER BY request_id
      ON CONFLICT DO NOTHING
      RETURNING request_id
    ),
    ledger AS (
      INSERT INTO tally.usage_ledger (tenant_id, ${ledger.join(", ")})
      SELECT $1, ${ledger.map((c) => `input.${c}`).join(", ")} FROM input JOIN ids USING (request_id)
      ORDER BY input.occurred_at, input.request_id
      RETURNING ${RollupSql.sourceColumns.join(", ")}
    ),
    payloads AS (
      INSERT INTO tally.usage_payloads (tenant_id, occurred_at, request_id, ${LedgerRow.payloadColumns.join(", ")})
      SELECT $1, input.occurred_at, input.request_id, ${LedgerRow.payloadColumns.map((c) => `input.${c}`).join(", ")}
      FROM input JOIN ids USING (request_id)
      WHERE ${LedgerRow.payloadColumns.map((c) => `input.${c} IS NOT NULL`).join(" OR ")}
      ORDER BY input.occurred_at, input.request_id
    ),
    rollup AS (
      ${RollupSql.upsert(RollupSql.aggregate("ledger"))}
    )
    SELECT request_id FROM ids`
})()

const recordedSelect = `SELECT ${LedgerRow.rowWithPayload()}, r.event_hash
  FROM tally.usage_request_ids r
  JOIN tally.usage_ledger l
    ON l.tenant_id = r.tenant_id AND l.occurred_at = r.occurred_at AND l.request_id = r.request_id
  ${LedgerRow.payloadJoin("l")}
  WHERE r.tenant_id = $1 AND r.request_id = $2`

const hex = CheckedRecord.hashHex

const sameHash = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((byte, i) => byte === b[i])

const isRetryable = (error: SqlError): boolean =>
  error.reason._tag === "DeadlockError" || error.reason._tag === "SerializationError"

/**
 * Retries of a batch that PostgreSQL aborted (deadlock, serialization failure): 8 more attempts,
 * 10 ms doubling up to 640 ms, each delay jittered (80-120%) so that transactions that collided
 * do not collide again in step. About 1.3 s in all before the failure is reported.
 */
export const retrySchedule = Schedule.max([
  Schedule.exponential("10 millis").pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.millis(640)))),
    Schedule.jittered
  ),
  Schedule.recurs(8)
])

const isMissingPartition = (error: SqlError): boolean =>
  error.reason._tag === "ConstraintError" && /no partition of relation/i.test(describe(error))

const describe = (error: SqlError): string => {
  const cause = error.reason.cause
  return `${error.reason.message ?? ""} ${cause instanceof Error ? cause.message : String(cause)}`
}

/** Transactions retried after PostgreSQL aborted them, by reason. */
export interface Contention {
  readonly deadlocks: number
  readonly serializationFailures: number
}

/** What a caller adds to a batch's transaction (see `insertBatch`). */
export interface InsertHooks {
  /**
   * Runs in the batch's transaction, in the tenant's scope, after the ledger rows were inserted,
   * with exactly the calls really inserted (never a duplicate): a row of another table that must
   * commit with its call, such as its sale price. Runs again if the transaction is retried.
   */
  readonly afterInsert?: ((inserted: ReadonlyArray<UsageRecord.UsageRecord>) => Effect.Effect<void, SqlError>) | undefined
}

export interface UsageLedgerService {
  /**
   * Records a batch for one tenant; see the module comment. `refused` are the dead letters of the
   * batch's events that never became calls: they are recorded in the same transaction, after the
   * batch's own, and have no result. Fails only as a whole (database failure, unknown tenant), in
   * which case nothing of the batch was written.
   */
  readonly insertBatch: (
    tenantId: string,
    calls: ReadonlyArray<UsageRecord.UsageRecord>,
    refused?: ReadonlyArray<DeadLetterInput>,
    hooks?: InsertHooks
  ) => Effect.Effect<BatchResult, Tenant.TenantNotFound | SqlError>
  /**
   * How many batch transactions this process ran again after PostgreSQL aborted them with a
   * deadlock or a serialization failure, since the layer was built (each is also logged).
   */
  readonly contention: Effect.Effect<Contention>
  /** The recorded call with this request id, if any. */
  readonly get: (tenantId: string, requestId: string) => Effect.Effect<Option.Option<RecordedCall>, SqlError>
}

export class UsageLedger extends Context.Service<UsageLedger, UsageLedgerService>()("@tally/store/UsageLedger") {
  static readonly layer: Layer.Layer<UsageLedger, never, Database> = Layer.effect(
    UsageLedger,
    Effect.gen(function*() {
      const db = yield* Database
      const deadLetters = yield* DeadLetters
      const sql = db.sql
      /** Month partitions known to exist (UTC month start, epoch millis). */
      const partitions = new Set<number>()
      const contention = { deadlocks: 0, serializationFailures: 0 }

      const ensurePartitions = (months: ReadonlyArray<number>): Effect.Effect<void, SqlError> =>
        Effect.suspend(() => {
          const missing = months.filter((month) => !partitions.has(month)).sort((a, b) => a - b)
          if (missing.length === 0) return Effect.void
          return sql.unsafe(
            `SELECT tally.ensure_usage_partition(month) FROM unnest($1::timestamptz[]) AS month`,
            [Result.getOrThrow(PgTypes.array(missing, OID.timestamptz))]
          ).pipe(
            Effect.andThen(Effect.sync(() => missing.forEach((month) => partitions.add(month))))
          )
        })

      /** The batch transaction, given calls that passed their checks. Pure apart from the database. */
      const write = (
        tenantId: string,
        candidates: ReadonlyArray<CheckedRecord.Checked>,
        replays: ReadonlyArray<CheckedRecord.Checked>,
        rejected: ReadonlyArray<DeadLetterInput>,
        refused: ReadonlyArray<DeadLetterInput>,
        hooks: InsertHooks | undefined
      ) =>
        db.withTenant(
          tenantId,
          Effect.gen(function*() {
            // A shared lock per tenant that `Rollups.rebuild` takes exclusively, so a rebuild
            // never interleaves with increments; and the tenant's existence, in the same trip.
            const [found] = yield* sql<{ found: boolean }>`SELECT
                pg_advisory_xact_lock_shared(hashtextextended(${`tally.rollups:${tenantId}`}, 0)) IS NULL AS locked,
                EXISTS (SELECT 1 FROM tally.tenants WHERE id = ${tenantId}) AS found`
            if (found?.found !== true) return yield* Tenant.notFound(tenantId)

            const inserted = new Set<string>()
            if (candidates.length > 0) {
              const rows = yield* sql.unsafe<{ request_id: string }>(insertStatement, [
                tenantId,
                ...LedgerRow.arrays(candidates)
              ])
              for (const row of rows) inserted.add(row.request_id)
            }
            if (hooks?.afterInsert !== undefined && inserted.size > 0) {
              yield* hooks.afterInsert(candidates.filter((c) => inserted.has(c.call.requestId)).map((c) => c.call))
            }

            // What is recorded for each id now: this batch's event where it was inserted, else
            // the stored hash of an earlier or concurrent batch's event.
            const recorded = new Map<string, Uint8Array>()
            for (const c of candidates) if (inserted.has(c.call.requestId)) recorded.set(c.call.requestId, c.eventHash)
            const known = [...new Set([...candidates, ...replays].map((c) => c.call.requestId))].filter((id) =>
              !inserted.has(id)
            )
            if (known.length > 0) {
              const rows = yield* sql<{ request_id: string; event_hash: Uint8Array }>`SELECT request_id, event_hash
                FROM tally.usage_request_ids
                WHERE tenant_id = ${tenantId} AND request_id = ANY(${Result.getOrThrow(PgTypes.array(known, OID.text))})`
              for (const row of rows) recorded.set(row.request_id, row.event_hash)
            }

            const conflicts: Array<DeadLetterInput> = []
            const outcome = new Map<CheckedRecord.Checked, ItemResult>()
            const judge = (c: CheckedRecord.Checked): ItemResult => {
              const requestId = c.call.requestId
              const stored = recorded.get(requestId)
              if (stored === undefined) {
                // Neither inserted nor found: the database broke its own unique key. Stop here.
                throw new Error(`request id ${JSON.stringify(requestId)} is neither new nor recorded`)
              }
              if (sameHash(stored, c.eventHash)) return { status: "duplicate", requestId }
              conflicts.push({
                source: deadLetterSource,
                kind: "conflict",
                requestId,
                field: "requestId",
                reason: `request id already recorded with a different event (recorded ${hex(stored)}, this ${
                  hex(c.eventHash)
                })`,
                item: UsageRecord.encode(c.call),
                raw: c.call.raw,
                rawText: c.call.rawText ?? null
              })
              return { status: "conflict", requestId, recordedHash: hex(stored), eventHash: hex(c.eventHash) }
            }
            yield* Effect.sync(() => {
              for (const c of candidates) {
                outcome.set(c, inserted.has(c.call.requestId) ? { status: "inserted", requestId: c.call.requestId } : judge(c))
              }
              for (const c of replays) outcome.set(c, judge(c))
            })
            yield* deadLetters.record(tenantId, [...rejected, ...conflicts])
            // A statement of their own, so they read as received after the batch's own letters.
            yield* deadLetters.record(tenantId, refused)
            return outcome
          })
        )

      const insertBatch = Effect.fn("UsageLedger.insertBatch")(function*(
        tenantId: string,
        calls: ReadonlyArray<UsageRecord.UsageRecord>,
        refused: ReadonlyArray<DeadLetterInput> = [],
        hooks?: InsertHooks
      ) {
        const checked = calls.map(CheckedRecord.check)
        // The first valid occurrence of each request id is the candidate; later ones are replays
        // within the batch, judged against whatever ends up recorded for that id.
        const firstById = new Map<string, CheckedRecord.Checked>()
        const candidates: Array<CheckedRecord.Checked> = []
        const replays: Array<CheckedRecord.Checked> = []
        const rejected: Array<DeadLetterInput> = []
        for (const [index, c] of checked.entries()) {
          if (CheckedRecord.isRejection(c)) {
            const call = calls[index]
            rejected.push({
              source: deadLetterSource,
              kind: "rejected",
              requestId: typeof call?.requestId === "string" ? call.requestId : null,
              field: c.field,
              reason: c.message,
              item: call,
              raw: call?.raw,
              rawText: typeof call?.rawText === "string" ? call.rawText : null
            })
            continue
          }
          if (firstById.has(c.call.requestId)) replays.push(c)
          else {
            firstById.set(c.call.requestId, c)
            candidates.push(c)
          }
        }

        const months = [...new Set(candidates.map((c) => monthStart(c.occurredAtMillis)))]
        const attempt = Effect.andThen(
          ensurePartitions(months),
          write(tenantId, candidates, replays, rejected, refused, hooks)
        )
        const outcome = yield* attempt.pipe(
          // A partition detached by an operator since this process cached it: forget and redo.
          Effect.catchIf(
            (error) => error._tag === "SqlError" && isMissingPartition(error),
            () =>
              Effect.suspend(() => {
                partitions.clear()
                return attempt
              })
          ),
          Effect.tapError((error) =>
            error._tag === "SqlError" && isRetryable(error)
              ? Effect.andThen(
                Effect.sync(() => {
                  if (error.reason._tag === "DeadlockError") contention.deadlocks++
                  else contention.serializationFailures++
                }),
                Effect.logWarning(`UsageLedger.insertBatch: retrying a batch of ${calls.length} after ${error.reason._tag}: ${describe(error)}`)
              )
              : Effect.void
          ),
          // The whole transaction rolled back; running it again is safe.
          Effect.retry({ schedule: retrySchedule, while: (error) => error._tag === "SqlError" && isRetryable(error) })
        )

        let rejectedIndex = 0
        const items = checked.map((c): ItemResult => {
          if (CheckedRecord.isRejection(c)) {
            const letter = rejected[rejectedIndex++]!
            return { status: "rejected", requestId: letter.requestId ?? null, field: c.field, reason: c.message }
          }
          return outcome.get(c)!
        })
        const count = (status: ItemResult["status"]) => items.filter((item) => item.status === status).length
        return {
          items,
          inserted: count("inserted"),
          duplicates: count("duplicate"),
          conflicts: count("conflict"),
          rejected: count("rejected")
        } satisfies BatchResult
      })

      const get = Effect.fn("UsageLedger.get")(function*(tenantId: string, requestId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<LedgerRow.Row & { event_hash: Uint8Array }>(recordedSelect, [tenantId, requestId])
        )
        const row = rows[0]
        if (row === undefined) return Option.none()
        return Option.some<RecordedCall>({
          call: LedgerRow.toUsageRecord(row),
          ingestedAt: LedgerRow.ingestedAt(row),
          eventHash: hex(row.event_hash)
        })
      })

      return UsageLedger.of({ insertBatch, contention: Effect.sync(() => ({ ...contention })), get })
    })
  ).pipe(Layer.provide(DeadLetters.layer))
}
