/**
 * Quarantine for events that could not be recorded: the raw payload as received (a NUL or a lone
 * surrogate, which the database cannot store, kept as its `\u0000` escape in text), what
 * was wrong with it (field and reason), and the event as far as it could be encoded. Nothing in a
 * billing pipeline is silently dropped; it lands here.
 *
 * `record` is the one writer of the table. It runs in the tenant's scope and joins an enclosing
 * transaction of the same tenant: the ledger records a batch's dead letters (events refused
 * before pricing, calls breaking the record's rules, conflicts) in the batch's own transaction.
 */
import { StorableText } from "@tally/core"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"

export interface DeadLetterInput {
  /** The stage that refused the event, e.g. `usage-batch`, `ingest-http`, `nats`. */
  readonly source: string
  /** What went wrong, e.g. `rejected`, `conflict`, `malformed`, `unpriced`. */
  readonly kind: string
  readonly requestId?: string | null | undefined
  /** The field at fault, as a dotted path, when one is known. */
  readonly field?: string | null | undefined
  readonly reason: string
  /** The event as the stage saw it, made JSON-safe. */
  readonly item?: unknown
  /** The raw provider payload, as JSON. */
  readonly raw?: unknown
  /** The raw payload's original text. */
  readonly rawText?: string | null | undefined
}

export interface DeadLetter {
  readonly id: string
  readonly tenantId: string
  readonly receivedAt: DateTime.Utc
  readonly source: string
  readonly kind: string
  readonly requestId: string | null
  readonly field: string | null
  readonly reason: string
  readonly item: unknown
  readonly raw: unknown
  readonly rawText: string | null
}

/**
 * A JSON value for anything: decimals and instants as their text, bigints as strings, cycles
 * and functions dropped, and every string and key made storable (`StorableText.escape`: a NUL or
 * a lone surrogate becomes its `\u0000` escape as text). Used for events that failed validation,
 * whose shape cannot be trusted.
 */
export const toJsonSafe = (value: unknown): unknown => {
  const seen = new WeakSet<object>()
  const text = JSON.stringify(value, function(this: unknown, _key, v: unknown) {
    if (typeof v === "string") return StorableText.escape(v)
    if (typeof v === "bigint") return v.toString()
    if (typeof v === "function" || typeof v === "symbol") return undefined
    if (DateTime.isDateTime(v)) {
      const millis = DateTime.toEpochMillis(v)
      return Number.isFinite(millis) ? DateTime.formatIso(v) : String(millis)
    }
    if (typeof v === "object" && v !== null) {
      if (seen.has(v)) return "[Circular]"
      seen.add(v)
      if (!Array.isArray(v) && Object.keys(v).some((key) => !StorableText.isStorable(key))) {
        const renamed: Record<string, unknown> = {}
        for (const [key, item] of Object.entries(v)) {
          Object.defineProperty(renamed, StorableText.escape(key), { value: item, enumerable: true, writable: true, configurable: true })
        }
        return renamed
      }
    }
    return v
  })
  return text === undefined ? null : JSON.parse(text)
}

const { OID } = PgTypes
const text = (value: string | null | undefined): string | null => (value === null || value === undefined ? null : StorableText.escape(value))
const array = (values: ReadonlyArray<unknown>, oid: number) => Result.getOrThrow(PgTypes.array(values, oid))

interface DeadLetterRow {
  readonly id: string
  readonly tenant_id: string
  readonly received_at: Date
  readonly source: string
  readonly kind: string
  readonly request_id: string | null
  readonly field: string | null
  readonly reason: string
  readonly item: unknown
  readonly raw: unknown
  readonly raw_text: string | null
}

const fromRow = (row: DeadLetterRow): DeadLetter => ({
  id: row.id,
  tenantId: row.tenant_id,
  receivedAt: DateTime.fromDateUnsafe(row.received_at),
  source: row.source,
  kind: row.kind,
  requestId: row.request_id,
  field: row.field,
  reason: row.reason,
  item: row.item,
  raw: row.raw,
  rawText: row.raw_text
})

export interface ListOptions {
  /** Newest first; at most this many (default 100, at most 1000). */
  readonly limit?: number | undefined
  readonly requestId?: string | undefined
}

export interface DeadLettersService {
  /**
   * Quarantines events in the tenant's scope, joining an enclosing transaction of that tenant (or
   * in one of their own); returns the new ids in input order.
   */
  readonly record: (
    tenantId: string,
    entries: ReadonlyArray<DeadLetterInput>
  ) => Effect.Effect<ReadonlyArray<string>, SqlError>
  readonly list: (tenantId: string, options?: ListOptions) => Effect.Effect<ReadonlyArray<DeadLetter>, SqlError>
}

export class DeadLetters extends Context.Service<DeadLetters, DeadLettersService>()("@tally/store/DeadLetters") {
  static readonly layer: Layer.Layer<DeadLetters, never, Database> = Layer.effect(
    DeadLetters,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const record = Effect.fn("DeadLetters.record")(function*(
        tenantId: string,
        entries: ReadonlyArray<DeadLetterInput>
      ) {
        if (entries.length === 0) return []
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ id: string }>(
            `INSERT INTO tally.dead_letters (tenant_id, source, kind, request_id, field, reason, item, raw, raw_text)
              SELECT $1, source, kind, request_id, field, reason, item, raw, raw_text
              FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[], $9::text[])
                WITH ORDINALITY AS e(source, kind, request_id, field, reason, item, raw, raw_text, n)
              ORDER BY n
              RETURNING id`,
            [
              tenantId,
              array(entries.map((e) => text(e.source)), OID.text),
              array(entries.map((e) => text(e.kind)), OID.text),
              array(entries.map((e) => text(e.requestId)), OID.text),
              array(entries.map((e) => text(e.field)), OID.text),
              array(entries.map((e) => text(e.reason)), OID.text),
              array(entries.map((e) => (e.item === undefined ? null : toJsonSafe(e.item))), OID.jsonb),
              array(entries.map((e) => (e.raw === undefined ? null : toJsonSafe(e.raw))), OID.jsonb),
              array(entries.map((e) => text(e.rawText)), OID.text)
            ]
          )
        )
        return rows.map((row) => row.id)
      })

      const list = Effect.fn("DeadLetters.list")(function*(tenantId: string, options: ListOptions = {}) {
        const limit = Math.max(1, Math.min(1000, Math.trunc(options.limit ?? 100)))
        const rows = yield* db.withTenant(
          tenantId,
          sql<DeadLetterRow>`SELECT id, tenant_id, received_at, source, kind, request_id, field, reason, item, raw, raw_text
            FROM tally.dead_letters
            WHERE tenant_id = ${tenantId} ${
            options.requestId === undefined ? sql.literal("") : sql`AND request_id = ${options.requestId}`
          }
            ORDER BY received_at DESC, id
            LIMIT ${limit}`
        )
        return rows.map(fromRow)
      })

      return DeadLetters.of({ record, list })
    })
  )
}
