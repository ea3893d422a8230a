/**
 * The outbox: messages for a tenant's webhook, written in the same transaction as the fact they
 * announce (a budget threshold crossed, an anomaly found), so a message exists exactly when its
 * fact does. A delivery worker claims due messages, posts them, and records every attempt here.
 *
 * Messages are deduplicated by (tenant, kind, dedupe key): a producer that runs twice for the
 * same fact enqueues one message. Delivery is at least once: a receiver deduplicates by the
 * message id (sent as `Tally-Event-Id`).
 */
import { Tenant } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"

export interface OutboxMessageInput {
  /** What happened, e.g. `budget.threshold_crossed`, `anomaly.detected`. */
  readonly kind: string
  /** Identifies the fact within its kind; a second message with the same key is dropped. */
  readonly dedupeKey: string
  /** The message body's `data`: a JSON object. */
  readonly payload: { readonly [key: string]: unknown }
}

export type MessageStatus = "pending" | "delivered" | "dead"

export interface OutboxMessage {
  readonly id: string
  readonly tenantId: string
  readonly kind: string
  readonly dedupeKey: string
  readonly payload: { readonly [key: string]: unknown }
  readonly createdAt: DateTime.Utc
  readonly status: MessageStatus
  readonly attempts: number
  readonly nextAttemptAt: DateTime.Utc
  readonly deliveredAt: DateTime.Utc | null
  readonly lastError: string | null
}

export interface Webhook {
  readonly tenantId: string
  readonly url: string
  readonly secret: string
  readonly updatedAt: DateTime.Utc
}

/** A message claimed for delivery, with where it goes. */
export interface ClaimedMessage {
  readonly id: string
  readonly tenantId: string
  readonly kind: string
  readonly payload: { readonly [key: string]: unknown }
  readonly createdAt: DateTime.Utc
  /** Attempts made before this one. */
  readonly attempts: number
  readonly url: string
  readonly secret: string
}

export interface DeliveryAttempt {
  readonly outboxId: string
  /** 1 for the first attempt. */
  readonly attempt: number
  readonly attemptedAt: DateTime.Utc
  readonly url: string
  readonly outcome: "delivered" | "failed"
  readonly statusCode: number | null
  readonly error: string | null
  readonly durationMs: number
  /** The start of the response body, for diagnosis. */
  readonly responseExcerpt: string | null
}

export interface RecordAttempt extends DeliveryAttempt {
  /** When to try again after a failure; null gives the message up (`dead`). Ignored on success. */
  readonly nextAttemptAt: DateTime.Utc | null
}

export class InvalidWebhook extends Schema.TaggedError<InvalidWebhook>()("InvalidWebhook", {
  field: Schema.String,
  message: Schema.String
}) {}

export const MessageKind = Schema.String.check(
  Schema.isPattern(/^[a-z][a-z0-9_.-]{0,99}$/, { message: "expected a kind such as \"budget.threshold_crossed\"" })
)

interface MessageRow {
  readonly id: string
  readonly tenant_id: string
  readonly kind: string
  readonly dedupe_key: string
  readonly payload: { readonly [key: string]: unknown }
  readonly created_at: Date
  readonly status: MessageStatus
  readonly attempts: number
  readonly next_attempt_at: Date
  readonly delivered_at: Date | null
  readonly last_error: string | null
}

const messageColumns =
  "id, tenant_id, kind, dedupe_key, payload, created_at, status, attempts, next_attempt_at, delivered_at, last_error"

const utc = (date: Date): DateTime.Utc => DateTime.fromDateUnsafe(date)
const utcOrNull = (date: Date | null): DateTime.Utc | null => (date === null ? null : utc(date))
const toDate = (dt: DateTime.Utc): Date => new Date(DateTime.toEpochMillis(dt))

const fromRow = (row: MessageRow): OutboxMessage => ({
  id: row.id,
  tenantId: row.tenant_id,
  kind: row.kind,
  dedupeKey: row.dedupe_key,
  payload: row.payload,
  createdAt: utc(row.created_at),
  status: row.status,
  attempts: row.attempts,
  nextAttemptAt: utc(row.next_attempt_at),
  deliveredAt: utcOrNull(row.delivered_at),
  lastError: row.last_error
})

/**
 * The JSON body a message is delivered with. Built from stored fields only, so every attempt
 * sends the same bytes.
 */
export const body = (message: {
  readonly id: string
  readonly tenantId: string
  readonly kind: string
  readonly createdAt: DateTime.Utc
  readonly payload: { readonly [key: string]: unknown }
}): string =>
  JSON.stringify({
    id: message.id,
    kind: message.kind,
    tenantId: message.tenantId,
    createdAt: DateTime.formatIso(message.createdAt),
    data: message.payload
  })

const validateWebhook = (url: string, secret: string): InvalidWebhook | undefined => {
  let parsed: URL | undefined
  try {
    parsed = new URL(url)
  } catch {
    parsed = undefined
  }
  if (parsed === undefined || (parsed.protocol !== "https:" && parsed.protocol !== "http:") || url.length > 2000) {
    return new InvalidWebhook({ field: "url", message: `expected an http(s) URL of at most 2000 characters, got ${JSON.stringify(url.slice(0, 100))}` })
  }
  if (secret.length < 16 || secret.length > 200) {
    return new InvalidWebhook({ field: "secret", message: "expected a signing secret of 16 to 200 characters" })
  }
  return undefined
}

export interface ListOptions {
  readonly status?: MessageStatus | undefined
  readonly kind?: string | undefined
  /** Newest first; at most this many (default 100, at most 1000). */
  readonly limit?: number | undefined
}

export interface OutboxService {
  /** Sets (or replaces) where the tenant's messages go and the secret that signs them. */
  readonly setWebhook: (
    tenantId: string,
    webhook: { readonly url: string; readonly secret: string }
  ) => Effect.Effect<Webhook, InvalidWebhook | Tenant.TenantNotFound | SqlError>
  readonly getWebhook: (tenantId: string) => Effect.Effect<Webhook | null, SqlError>
  readonly removeWebhook: (tenantId: string) => Effect.Effect<boolean, SqlError>
  /**
   * Enqueues messages in the tenant's scope, joining an enclosing transaction of that tenant (the
   * one that records the fact they announce), else in one of their own. Returns the messages
   * really created; one whose (kind, dedupe key) exists already is skipped. `now` (the current
   * time by default) is when they were created and first due.
   */
  readonly enqueue: (
    tenantId: string,
    messages: ReadonlyArray<OutboxMessageInput>,
    options?: { readonly now?: DateTime.Utc | undefined }
  ) => Effect.Effect<ReadonlyArray<{ readonly id: string; readonly kind: string; readonly dedupeKey: string }>, SqlError>
  readonly list: (tenantId: string, options?: ListOptions) => Effect.Effect<ReadonlyArray<OutboxMessage>, SqlError>
  /** Every attempt, oldest first; of one message when `outboxId` is given. */
  readonly deliveries: (
    tenantId: string,
    options?: { readonly outboxId?: string | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<DeliveryAttempt>, SqlError>
  /**
   * Claims up to `limit` due messages of any tenant that has a webhook, for `leaseMs`: another
   * worker skips them until the lease ends. System work: runs as the owner, across tenants.
   */
  readonly claimDue: (
    options: { readonly now: DateTime.Utc; readonly limit: number; readonly leaseMs: number }
  ) => Effect.Effect<ReadonlyArray<ClaimedMessage>, SqlError>
  /**
   * Logs an attempt and moves the message on: delivered, due again at `nextAttemptAt`, or dead.
   * Returns false when the attempt was logged before (another worker's lease overlapped).
   */
  readonly recordAttempt: (tenantId: string, attempt: RecordAttempt) => Effect.Effect<boolean, SqlError>
  /**
   * Messages of every tenant waiting for delivery (`pending`) and given up (`dead`), for the
   * worker's metrics. System work: runs as the owner, across tenants.
   */
  readonly backlog: Effect.Effect<{ readonly pending: number; readonly dead: number }, SqlError>
}

export class Outbox extends Context.Service<Outbox, OutboxService>()("@tally/store/Outbox") {
  static readonly layer: Layer.Layer<Outbox, never, Database> = Layer.effect(
    Outbox,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const setWebhook = Effect.fn("Outbox.setWebhook")(function*(
        tenantId: string,
        webhook: { readonly url: string; readonly secret: string }
      ) {
        const invalid = validateWebhook(webhook.url, webhook.secret)
        if (invalid !== undefined) return yield* invalid
        const rows = yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const [tenant] = yield* sql`SELECT 1 FROM tally.tenants WHERE id = ${tenantId}`
            if (tenant === undefined) return yield* Tenant.notFound(tenantId)
            return yield* sql<{ tenant_id: string; url: string; secret: string; updated_at: Date }>`
              INSERT INTO tally.tenant_webhooks (tenant_id, url, secret)
              VALUES (${tenantId}, ${webhook.url}, ${webhook.secret})
              ON CONFLICT (tenant_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = now()
              RETURNING tenant_id, url, secret, updated_at`
          })
        )
        const row = rows[0]!
        return { tenantId: row.tenant_id, url: row.url, secret: row.secret, updatedAt: utc(row.updated_at) } satisfies Webhook
      })

      const getWebhook = Effect.fn("Outbox.getWebhook")(function*(tenantId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<{ tenant_id: string; url: string; secret: string; updated_at: Date }>`
            SELECT tenant_id, url, secret, updated_at FROM tally.tenant_webhooks WHERE tenant_id = ${tenantId}`
        )
        const row = rows[0]
        return row === undefined
          ? null
          : ({ tenantId: row.tenant_id, url: row.url, secret: row.secret, updatedAt: utc(row.updated_at) } satisfies Webhook)
      })

      const removeWebhook = Effect.fn("Outbox.removeWebhook")(function*(tenantId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql`DELETE FROM tally.tenant_webhooks WHERE tenant_id = ${tenantId} RETURNING tenant_id`
        )
        return rows.length > 0
      })

      const enqueue = Effect.fn("Outbox.enqueue")(function*(
        tenantId: string,
        messages: ReadonlyArray<OutboxMessageInput>,
        options: { readonly now?: DateTime.Utc | undefined } = {}
      ) {
        if (messages.length === 0) return []
        const now = options.now ?? (yield* DateTime.now)
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ id: string; kind: string; dedupe_key: string }>(
            `INSERT INTO tally.outbox (tenant_id, kind, dedupe_key, payload, created_at, next_attempt_at)
              SELECT $1, m.kind, m.dedupe_key, m.payload, $3, $3
              FROM jsonb_to_recordset($2::jsonb) AS m(kind text, dedupe_key text, payload jsonb)
              ORDER BY m.kind, m.dedupe_key
              ON CONFLICT (tenant_id, kind, dedupe_key) DO NOTHING
              RETURNING id, kind, dedupe_key`,
            [
              tenantId,
              JSON.stringify(messages.map((m) => ({ kind: m.kind, dedupe_key: m.dedupeKey, payload: m.payload }))),
              toDate(now)
            ]
          )
        )
        return rows.map((row) => ({ id: row.id, kind: row.kind, dedupeKey: row.dedupe_key }))
      })

      const list = Effect.fn("Outbox.list")(function*(tenantId: string, options: ListOptions = {}) {
        const limit = Math.max(1, Math.min(1000, Math.trunc(options.limit ?? 100)))
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<MessageRow>(
            `SELECT ${messageColumns} FROM tally.outbox
              WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3)
              ORDER BY created_at DESC, id
              LIMIT $4`,
            [tenantId, options.status ?? null, options.kind ?? null, limit]
          )
        )
        return rows.map(fromRow)
      })

      const deliveries = Effect.fn("Outbox.deliveries")(function*(
        tenantId: string,
        options: { readonly outboxId?: string | undefined; readonly limit?: number | undefined } = {}
      ) {
        const limit = Math.max(1, Math.min(10_000, Math.trunc(options.limit ?? 1000)))
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{
            outbox_id: string
            attempt: number
            attempted_at: Date
            url: string
            outcome: "delivered" | "failed"
            status_code: number | null
            error: string | null
            duration_ms: number
            response_excerpt: string | null
          }>(
            `SELECT outbox_id, attempt, attempted_at, url, outcome, status_code, error, duration_ms, response_excerpt
              FROM tally.outbox_deliveries
              WHERE tenant_id = $1 AND ($2::uuid IS NULL OR outbox_id = $2)
              ORDER BY attempted_at, outbox_id, attempt
              LIMIT $3`,
            [tenantId, options.outboxId ?? null, limit]
          )
        )
        return rows.map((row): DeliveryAttempt => ({
          outboxId: row.outbox_id,
          attempt: row.attempt,
          attemptedAt: utc(row.attempted_at),
          url: row.url,
          outcome: row.outcome,
          statusCode: row.status_code,
          error: row.error,
          durationMs: row.duration_ms,
          responseExcerpt: row.response_excerpt
        }))
      })

      const claimDue = Effect.fn("Outbox.claimDue")(function*(
        options: { readonly now: DateTime.Utc; readonly limit: number; readonly leaseMs: number }
      ) {
        const now = toDate(options.now)
        const until = new Date(now.getTime() + options.leaseMs)
        const rows = yield* sql.unsafe<{
          id: string
          tenant_id: string
          kind: string
          payload: { readonly [key: string]: unknown }
          created_at: Date
          attempts: number
          url: string
          secret: string
        }>(
          `WITH due AS (
              SELECT o.id, w.url, w.secret
              FROM tally.outbox o JOIN tally.tenant_webhooks w ON w.tenant_id = o.tenant_id
              WHERE o.status = 'pending' AND o.next_attempt_at <= $1
                AND (o.claimed_until IS NULL OR o.claimed_until <= $1)
              ORDER BY o.next_attempt_at, o.id
              LIMIT $2
              FOR UPDATE OF o SKIP LOCKED
            )
            UPDATE tally.outbox o SET claimed_until = $3
            FROM due WHERE o.id = due.id
            RETURNING o.id, o.tenant_id, o.kind, o.payload, o.created_at, o.attempts, due.url, due.secret`,
          [now, Math.max(1, Math.trunc(options.limit)), until]
        )
        return rows
          .map((row): ClaimedMessage => ({
            id: row.id,
            tenantId: row.tenant_id,
            kind: row.kind,
            payload: row.payload,
            createdAt: utc(row.created_at),
            attempts: row.attempts,
            url: row.url,
            secret: row.secret
          }))
          .sort((a, b) => DateTime.toEpochMillis(a.createdAt) - DateTime.toEpochMillis(b.createdAt))
      })

      const recordAttempt = Effect.fn("Outbox.recordAttempt")(function*(tenantId: string, attempt: RecordAttempt) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const logged = yield* sql.unsafe<{ id: string }>(
              `INSERT INTO tally.outbox_deliveries
                  (tenant_id, outbox_id, attempt, attempted_at, url, outcome, status_code, error, duration_ms, response_excerpt)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (outbox_id, attempt) DO NOTHING
                RETURNING id`,
              [
                tenantId,
                attempt.outboxId,
                attempt.attempt,
                toDate(attempt.attemptedAt),
                attempt.url,
                attempt.outcome,
                attempt.statusCode,
                attempt.error,
                Math.max(0, Math.round(attempt.durationMs)),
                attempt.responseExcerpt
              ]
            )
            if (logged.length === 0) return false
            const delivered = attempt.outcome === "delivered"
            const dead = !delivered && attempt.nextAttemptAt === null
            yield* sql.unsafe(
              `UPDATE tally.outbox SET
                  attempts = greatest(attempts, $3),
                  status = $4,
                  delivered_at = $5,
                  next_attempt_at = coalesce($6, next_attempt_at),
                  claimed_until = NULL,
                  last_error = $7
                WHERE tenant_id = $1 AND id = $2 AND status = 'pending'`,
              [
                tenantId,
                attempt.outboxId,
                attempt.attempt,
                delivered ? "delivered" : dead ? "dead" : "pending",
                delivered ? toDate(attempt.attemptedAt) : null,
                !delivered && attempt.nextAttemptAt !== null ? toDate(attempt.nextAttemptAt) : null,
                delivered ? null : attempt.error ?? (attempt.statusCode === null ? "failed" : `HTTP ${attempt.statusCode}`)
              ]
            )
            return true
          })
        )
      })

      const backlog = sql<{ pending: string; dead: string }>`SELECT
          count(*) FILTER (WHERE status = 'pending')::text AS pending,
          count(*) FILTER (WHERE status = 'dead')::text AS dead
        FROM tally.outbox`.pipe(
        Effect.map(([row]) => ({ pending: Number(row?.pending ?? 0), dead: Number(row?.dead ?? 0) })),
        Effect.withSpan("Outbox.backlog")
      )

      return Outbox.of({
        setWebhook,
        getWebhook,
        removeWebhook,
        enqueue,
        list,
        deliveries,
        claimDue,
        recordAttempt,
        backlog
      })
    })
  )
}
