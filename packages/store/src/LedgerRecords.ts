/**
 * Ledger records a page at a time, newest first (by time, then request id), and the raw payloads
 * of records, read only when asked for. The record's shape is core's `LedgerRecord`; the cursor
 * text given to clients is made here.
 *
 * Every read runs in the tenant's scope (`Database.withTenant`): row-level security decides what
 * is visible, whatever the filter says.
 */
import { LedgerRecord, UsageQuery } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Buffer } from "node:buffer"
import { Database } from "./Database.ts"
import { filterOnLedger, jitOff, Params } from "./internal/LedgerQuery.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"

/** Cursor text: opaque to clients, but only an instant and a request id. */
export const encodeCursor = (cursor: LedgerRecord.Cursor): string =>
  Buffer.from(JSON.stringify([DateTime.toEpochMillis(cursor.occurredAt), cursor.requestId]), "utf8").toString("base64url")

export const decodeCursor = (text: string): LedgerRecord.Cursor | undefined => {
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

const recordColumns = LedgerRow.columnsWithoutPayload

export interface PageOptions {
  readonly filter?: LedgerRecord.Filter | undefined
  readonly first: number
  readonly after?: LedgerRecord.Cursor | undefined
}

export interface LedgerRecordsService {
  /** Ledger records, newest first, `first` at a time after `after`. */
  readonly page: (tenantId: string, options: PageOptions) => Effect.Effect<LedgerRecord.Page, UsageQuery.InvalidQuery | SqlError>
  /** The raw payloads of records, by request id (absent ids are missing from the map). */
  /** When the first and the last recorded call occurred; undefined before any call. */
  readonly span: (tenantId: string) => Effect.Effect<LedgerRecord.Span | undefined, SqlError>
  readonly rawPayloads: (
    tenantId: string,
    keys: ReadonlyArray<LedgerRecord.Cursor>
  ) => Effect.Effect<ReadonlyMap<string, LedgerRecord.RawPayload>, SqlError>
}

export class LedgerRecords extends Context.Service<LedgerRecords, LedgerRecordsService>()("@tally/store/LedgerRecords") {
  static readonly layer: Layer.Layer<LedgerRecords, never, Database> = Layer.effect(
    LedgerRecords,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const page = Effect.fn("LedgerRecords.page")(function*(
        tenantId: string,
        options: PageOptions
      ) {
        if (!Number.isInteger(options.first) || options.first < 0 || options.first > LedgerRecord.maxPageSize) {
          return yield* UsageQuery.invalid("first", `expected 0 to ${LedgerRecord.maxPageSize}`)
        }
        const filter = options.filter
        if (filter?.from !== undefined && filter.to !== undefined) {
          const bad = UsageQuery.checkRange(filter.from, filter.to)
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
          Effect.andThen(jitOff(sql), sql.unsafe<LedgerRow.Row>(
            `SELECT ${recordColumns.join(", ")}, ingested_at FROM tally.usage_ledger
              WHERE ${where.join(" AND ")}
              ORDER BY occurred_at DESC, request_id DESC
              LIMIT ${options.first + 1}`,
            params.values
          ))
        )
        const records = rows.slice(0, options.first).map((row): LedgerRecord.LedgerRecord => {
          const call = LedgerRow.toUsageRecord({ ...row, raw: null })
          return {
            call,
            ingestedAt: LedgerRow.ingestedAt(row),
            currency: (row.currency as string | null) ?? null,
            cursor: { occurredAt: call.occurredAt, requestId: call.requestId }
          }
        })
        return { records, hasNextPage: rows.length > options.first } satisfies LedgerRecord.Page
      })

      // min and max of the primary key's second column: one index probe per monthly partition.
      const span = Effect.fn("LedgerRecords.span")(function*(tenantId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<{ first: Date | null; last: Date | null }>`SELECT min(occurred_at) AS first, max(occurred_at) AS last
            FROM tally.usage_ledger WHERE tenant_id = ${tenantId}`
        )
        const row = rows[0]
        if (row?.first == null || row.last == null) return undefined
        return { first: DateTime.fromDateUnsafe(row.first), last: DateTime.fromDateUnsafe(row.last) } satisfies LedgerRecord.Span
      })

      const rawPayloads = Effect.fn("LedgerRecords.rawPayloads")(function*(tenantId: string, keys: ReadonlyArray<LedgerRecord.Cursor>) {
        if (keys.length === 0) return new Map<string, LedgerRecord.RawPayload>()
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ request_id: string; raw: unknown; raw_text: string | null }>(
            `SELECT l.request_id, p.raw, p.raw_text
              FROM unnest($2::timestamptz[], $3::text[]) AS k(occurred_at, request_id)
              JOIN tally.usage_ledger l
                ON l.tenant_id = $1 AND l.occurred_at = k.occurred_at AND l.request_id = k.request_id
              ${LedgerRow.payloadJoin("l")}`,
            [tenantId, keys.map((k) => DateTime.toDateUtc(k.occurredAt)), keys.map((k) => k.requestId)]
          )
        )
        return new Map(rows.map((row) => [row.request_id, { raw: row.raw ?? null, rawText: row.raw_text ?? null }]))
      })

      return LedgerRecords.of({ page, span, rawPayloads })
    })
  )
}
