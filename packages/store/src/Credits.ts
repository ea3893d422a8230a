/**
 * Prepaid credits (migration 0025): grants, their drawdowns, balances, and the webhooks a drawdown
 * raises. The rules (draw order, expiry, alerts) are `Credit` in `@tally/core`; this module locks,
 * stores and announces.
 *
 * `draw` runs inside the ingest transaction (it joins the caller's tenant scope) for the calls the
 * ledger really inserted: a replayed event draws nothing. It locks the grants of the batch's
 * accounts (`FOR UPDATE`, in id order) before reading what they have left, so concurrent batches
 * and reservations of one account are serialized and `remaining` never goes below zero (also a
 * CHECK of the table). Threshold and zero-balance alerts go to the outbox in the same transaction.
 *
 * `admit` is the enforcement side: under the same lock, whether an estimate fits the account's
 * balance minus the live reservations of the account (a reservation counts until it is released,
 * expires, or its request id lands in the ledger, as budget holds do).
 */
import { Credit, Money } from "@tally/core"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { isUuid } from "./internal/Uuid.ts"
import * as Outbox from "./Outbox.ts"

interface GrantRow {
  readonly id: string
  readonly seq: string
  readonly account_kind: Credit.AccountKind
  readonly account: string
  readonly unit: string
  readonly amount: string
  readonly remaining: string
  readonly priority: number
  readonly effective_at: Date
  readonly expires_at: Date | null
  readonly alert_thresholds: ReadonlyArray<string>
  readonly enforce: boolean
  readonly note: string | null
  readonly created_at: Date
  readonly voided_at: Date | null
}

const columns = `id, seq::text AS seq, account_kind, account, unit, amount::text AS amount, remaining::text AS remaining,
  priority, effective_at, expires_at, alert_thresholds::text[] AS alert_thresholds, enforce, note, created_at, voided_at`

const utc = (date: Date) => DateTime.fromDateUnsafe(date)
const toDate = (dt: DateTime.Utc) => new Date(DateTime.toEpochMillis(dt))

const fromRow = (row: GrantRow): Credit.Grant => ({
  id: row.id,
  seq: Number(row.seq),
  account: { kind: row.account_kind, id: row.account },
  unit: row.unit,
  amount: new Money.Decimal(row.amount),
  remaining: new Money.Decimal(row.remaining),
  priority: row.priority,
  effectiveAt: utc(row.effective_at),
  expiresAt: row.expires_at === null ? null : utc(row.expires_at),
  alertThresholds: row.alert_thresholds.map((t) => new Money.Decimal(t)),
  enforce: row.enforce,
  note: row.note,
  createdAt: utc(row.created_at),
  voidedAt: row.voided_at === null ? null : utc(row.voided_at)
})

export interface Balance {
  readonly account: Credit.Account
  readonly unit: string
  /** What the grants active at the instant have left. */
  readonly balance: Money.Decimal
  /** What those grants gave. */
  readonly granted: Money.Decimal
  readonly grants: ReadonlyArray<Credit.Grant>
}

export interface StoredDraw {
  readonly requestId: string
  readonly grantId: string
  readonly amount: Money.Decimal
  readonly unit: string
  readonly basis: "price" | "cost" | "tokens"
  readonly occurredAt: DateTime.Utc
}

/** The enforcement answer for one account and unit. */
export interface Headroom {
  readonly account: Credit.Account
  readonly unit: string
  readonly balance: Money.Decimal
  /** What live reservations of the account hold. */
  readonly held: Money.Decimal
  /** balance - held - estimate >= 0. */
  readonly allowed: boolean
}

/** Which drawdowns to read: of one grant or call, of calls that occurred in `[from, to)`; oldest first. */
export interface DrawdownQuery {
  readonly grantId?: string | undefined
  readonly requestId?: string | undefined
  readonly from?: DateTime.Utc | undefined
  readonly to?: DateTime.Utc | undefined
  /** Default 1000, at most 10000. */
  readonly limit?: number | undefined
}

export interface CreditsService {
  readonly grant: (tenantId: string, grant: Credit.NewGrant) => Effect.Effect<Credit.Grant, SqlError>
  readonly get: (tenantId: string, id: string) => Effect.Effect<Credit.Grant, Credit.GrantNotFound | SqlError>
  /** Grants in grant order, of one account when given; voided ones only when asked. */
  readonly list: (
    tenantId: string,
    options?: { readonly account?: Credit.Account | undefined; readonly includeVoided?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<Credit.Grant>, SqlError>
  /** The grant stops paying for calls; what it paid stays drawn. */
  readonly void: (tenantId: string, id: string, at: DateTime.Utc) => Effect.Effect<Credit.Grant, Credit.GrantNotFound | SqlError>
  /** The account's balance per unit at `at`. */
  readonly balance: (tenantId: string, account: Credit.Account, at: DateTime.Utc) => Effect.Effect<ReadonlyArray<Balance>, SqlError>
  /** Draws the calls' demands (see the module comment); in the caller's transaction when inside one. */
  readonly draw: (
    tenantId: string,
    demands: ReadonlyArray<Credit.Demand>,
    now: DateTime.Utc
  ) => Effect.Effect<Credit.Allocation, SqlError>
  readonly drawdowns: (
    tenantId: string,
    options: DrawdownQuery
  ) => Effect.Effect<ReadonlyArray<StoredDraw>, SqlError>
  /**
   * For enforcement, inside the caller's transaction: locks the accounts' grants and answers, for
   * each account with an enforcing grant active at `now` in `unit`, whether `estimate` fits.
   */
  readonly admit: (
    tenantId: string,
    accounts: ReadonlyArray<Credit.Account>,
    unit: string,
    estimate: Money.Decimal,
    now: DateTime.Utc
  ) => Effect.Effect<ReadonlyArray<Headroom>, SqlError>
}

const { OID } = PgTypes
const array = (values: ReadonlyArray<unknown>, oid: number) => Result.getOrThrow(PgTypes.array(values, oid))

const accountsJson = (accounts: ReadonlyArray<Credit.Account>) =>
  JSON.stringify(accounts.map((a) => ({ kind: a.kind, account: a.id })))

const lockAccounts = `SELECT ${columns} FROM tally.credit_grants
  WHERE voided_at IS NULL AND (account_kind, account) IN (
    SELECT kind, account FROM jsonb_to_recordset($1::jsonb) AS a(kind text, account text))
  ORDER BY id
  FOR UPDATE`

const alertMessage = (alert: Credit.Alert): Outbox.OutboxMessageInput => ({
  kind: alert.kind,
  dedupeKey: [alert.account.kind, alert.account.id, alert.unit, Money.format(alert.threshold), alert.lastGrantSeq].join(":"),
  payload: {
    [alert.account.kind]: alert.account.id,
    accountKind: alert.account.kind,
    account: alert.account.id,
    unit: alert.unit,
    threshold: Money.format(alert.threshold),
    balanceBefore: Money.format(alert.before),
    balance: Money.format(alert.after)
  }
})

export class Credits extends Context.Service<Credits, CreditsService>()("@tally/store/Credits") {
  static readonly layer: Layer.Layer<Credits, never, Database> = Layer.effect(
    Credits,
    Effect.gen(function*() {
      const db = yield* Database
      const outbox = yield* Outbox.Outbox
      const sql = db.sql

      const select = (tenantId: string, where: string, params: ReadonlyArray<unknown>) =>
        db.withTenant(
          tenantId,
          sql.unsafe<GrantRow>(`SELECT ${columns} FROM tally.credit_grants WHERE ${where} ORDER BY seq`, [...params])
        ).pipe(Effect.map((rows) => rows.map(fromRow)))

      const get = Effect.fn("Credits.get")(function*(tenantId: string, id: string) {
        if (!isUuid(id)) return yield* Credit.notFound(id)
        const [found] = yield* select(tenantId, "id = $1", [id])
        if (found === undefined) return yield* Credit.notFound(id)
        return found
      })

      const grant = Effect.fn("Credits.grant")(function*(tenantId: string, g: Credit.NewGrant) {
        const [row] = yield* db.withTenant(
          tenantId,
          sql.unsafe<GrantRow>(
            `INSERT INTO tally.credit_grants (tenant_id, account_kind, account, unit, amount, remaining, priority,
               effective_at, expires_at, alert_thresholds, enforce, note)
             VALUES ($1, $2, $3, $4, $5::numeric, $5::numeric, $6, $7, $8, $9::numeric[], $10, $11)
             RETURNING ${columns}`,
            [
              tenantId,
              g.account.kind,
              g.account.id,
              g.unit,
              Money.format(g.amount),
              g.priority,
              toDate(g.effectiveAt),
              g.expiresAt === null ? null : toDate(g.expiresAt),
              array(g.alertThresholds.map(Money.format), OID.numeric),
              g.enforce,
              g.note
            ]
          )
        )
        return fromRow(row!)
      })

      const list = Effect.fn("Credits.list")(function*(
        tenantId: string,
        options: { readonly account?: Credit.Account | undefined; readonly includeVoided?: boolean | undefined } = {}
      ) {
        const where = [options.includeVoided === true ? "true" : "voided_at IS NULL"]
        const params: Array<unknown> = []
        if (options.account !== undefined) {
          params.push(options.account.kind, options.account.id)
          where.push("account_kind = $1 AND account = $2")
        }
        return yield* select(tenantId, where.join(" AND "), params)
      })

      const voidGrant = Effect.fn("Credits.void")(function*(tenantId: string, id: string, at: DateTime.Utc) {
        yield* get(tenantId, id)
        yield* db.withTenant(tenantId, sql`UPDATE tally.credit_grants SET voided_at = coalesce(voided_at, ${toDate(at)}) WHERE id = ${id}`)
        return yield* get(tenantId, id)
      })

      const balance = Effect.fn("Credits.balance")(function*(tenantId: string, account: Credit.Account, at: DateTime.Utc) {
        const grants = yield* list(tenantId, { account })
        const millis = DateTime.toEpochMillis(at)
        const units = [...new Set(grants.map((g) => g.unit))].sort()
        return units.map((unit): Balance => {
          const active = grants.filter((g) => g.unit === unit && Credit.activeAt(g, millis)).sort(Credit.order)
          return {
            account,
            unit,
            balance: Money.sum(active.map((g) => g.remaining)),
            granted: Money.sum(active.map((g) => g.amount)),
            grants: active
          }
        })
      })

      const draw = Effect.fn("Credits.draw")(function*(tenantId: string, demands: ReadonlyArray<Credit.Demand>, now: DateTime.Utc) {
        const empty: Credit.Allocation = { draws: [], remaining: new Map(), uncovered: [] }
        const accounts = new Map<string, Credit.Account>()
        for (const d of demands) for (const a of d.accounts) accounts.set(`${a.kind}\u0000${a.id}`, a)
        if (accounts.size === 0) return empty
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const rows = yield* sql.unsafe<GrantRow>(lockAccounts, [accountsJson([...accounts.values()])])
            if (rows.length === 0) return empty
            const grants = rows.map(fromRow)
            const allocation = Credit.allocate(grants, demands)
            if (allocation.draws.length === 0) return allocation
            yield* sql.unsafe(
              `INSERT INTO tally.credit_drawdowns (tenant_id, request_id, grant_id, amount, unit, basis, occurred_at)
               SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::numeric[], $5::text[], $6::text[], $7::timestamptz[])
               ON CONFLICT DO NOTHING`,
              [
                tenantId,
                array(allocation.draws.map((d) => d.requestId), OID.text),
                array(allocation.draws.map((d) => d.grantId), OID.uuid),
                array(allocation.draws.map((d) => Money.format(d.amount)), OID.numeric),
                array(allocation.draws.map((d) => d.unit), OID.text),
                array(allocation.draws.map((d) => d.basis), OID.text),
                array(allocation.draws.map((d) => d.occurredAt), OID.timestamptz)
              ]
            )
            const changed = [...allocation.remaining].filter(([id, left]) => !left.equals(grants.find((g) => g.id === id)!.remaining))
            yield* sql.unsafe(
              `UPDATE tally.credit_grants g SET remaining = c.remaining
               FROM unnest($1::uuid[], $2::numeric[]) AS c(id, remaining) WHERE g.id = c.id`,
              [array(changed.map(([id]) => id), OID.uuid), array(changed.map(([, left]) => Money.format(left)), OID.numeric)]
            )
            const alerts = Credit.alerts(grants, allocation, DateTime.toEpochMillis(now))
            if (alerts.length > 0) yield* outbox.enqueue(tenantId, alerts.map(alertMessage), { now })
            return allocation
          })
        )
      })

      const drawdowns = Effect.fn("Credits.drawdowns")(function*(
        tenantId: string,
        options: DrawdownQuery
      ) {
        if (options.grantId !== undefined && !isUuid(options.grantId)) return []
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ request_id: string; grant_id: string; amount: string; unit: string; basis: StoredDraw["basis"]; occurred_at: Date }>(
            `SELECT request_id, grant_id, amount::text AS amount, unit, basis, occurred_at FROM tally.credit_drawdowns
             WHERE ($1::uuid IS NULL OR grant_id = $1) AND ($2::text IS NULL OR request_id = $2)
               AND ($4::timestamptz IS NULL OR occurred_at >= $4) AND ($5::timestamptz IS NULL OR occurred_at < $5)
             ORDER BY occurred_at, request_id, created_at LIMIT $3`,
            [
              options.grantId ?? null,
              options.requestId ?? null,
              Math.min(Math.max(options.limit ?? 1000, 1), 10_000),
              options.from === undefined ? null : toDate(options.from),
              options.to === undefined ? null : toDate(options.to)
            ]
          )
        )
        return rows.map((row): StoredDraw => ({
          requestId: row.request_id,
          grantId: row.grant_id,
          amount: new Money.Decimal(row.amount),
          unit: row.unit,
          basis: row.basis,
          occurredAt: utc(row.occurred_at)
        }))
      })

      const admit = Effect.fn("Credits.admit")(function*(
        tenantId: string,
        accounts: ReadonlyArray<Credit.Account>,
        unit: string,
        estimate: Money.Decimal,
        now: DateTime.Utc
      ) {
        if (accounts.length === 0) return []
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const grants = (yield* sql.unsafe<GrantRow>(lockAccounts, [accountsJson(accounts)])).map(fromRow)
            const at = DateTime.toEpochMillis(now)
            const out: Array<Headroom> = []
            for (const account of accounts) {
              const own = grants.filter((g) =>
                g.unit === unit && g.account.kind === account.kind && g.account.id === account.id && Credit.activeAt(g, at)
              )
              if (!own.some((g) => g.enforce)) continue
              const [row] = yield* sql.unsafe<{ held: string }>(
                `SELECT coalesce(sum(coalesce(r.actual, r.estimate)), 0)::text AS held
                 FROM tally.budget_reservations r
                 WHERE r.tenant_id = $1 AND r.labels->>$2 = $3 AND r.currency = $4
                   AND r.status <> 'released' AND r.expires_at > $5
                   AND NOT (r.request_id IS NOT NULL AND EXISTS (
                     SELECT 1 FROM tally.usage_request_ids u WHERE u.tenant_id = r.tenant_id AND u.request_id = r.request_id))`,
                [tenantId, account.kind, account.id, unit, toDate(now)]
              )
              const balance = Money.sum(own.map((g) => g.remaining))
              const held = new Money.Decimal(row?.held ?? "0")
              out.push({ account, unit, balance, held, allowed: balance.minus(held).minus(estimate).greaterThanOrEqualTo(0) })
            }
            return out
          })
        )
      })

      return Credits.of({ grant, get, list, void: voidGrant, balance, draw, drawdowns, admit })
    })
  ).pipe(Layer.provide(Outbox.Outbox.layer))
}
