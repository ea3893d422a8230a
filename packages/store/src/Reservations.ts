/**
 * Reservations: the `budget_reservations` rows and their `budget_holds` (one per budget a
 * reservation holds against, with that budget's period), and what live ones hold.
 *
 * When a reservation may be made, settled or released is the engine's (`Admission`,
 * `Reservation.settling`); this repository stores the outcome. Every method runs in `withTenant`,
 * so admission reads and the insert of its hold share the engine's one transaction.
 */
import { type Budget, Money, Reservation } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { isUuid } from "./internal/Uuid.ts"

interface ReservationRow {
  readonly id: string
  readonly tenant_id: string
  readonly request_id: string | null
  readonly labels: Budget.Scope
  readonly estimate: string
  readonly actual: string | null
  readonly currency: string
  readonly status: Reservation.ReservationStatus
  readonly created_at: Date
  readonly expires_at: Date
  readonly settled_at: Date | null
  readonly released_at: Date | null
  readonly holds: ReadonlyArray<{ budget_id: string; period_start: string }>
}

const reservationColumns = `r.id, r.tenant_id, r.request_id, r.labels, r.estimate::text AS estimate,
  r.actual::text AS actual, r.currency, r.status, r.created_at, r.expires_at, r.settled_at, r.released_at,
  coalesce((SELECT jsonb_agg(jsonb_build_object('budget_id', h.budget_id, 'period_start', h.period_start) ORDER BY h.budget_id)
    FROM tally.budget_holds h WHERE h.reservation_id = r.id), '[]'::jsonb) AS holds`

const fromRow = (row: ReservationRow): Reservation.Reservation => ({
  id: row.id,
  tenantId: row.tenant_id,
  requestId: row.request_id,
  labels: row.labels,
  estimate: new Money.Decimal(row.estimate),
  actual: row.actual === null ? null : new Money.Decimal(row.actual),
  currency: row.currency,
  status: row.status,
  createdAt: DateTime.fromDateUnsafe(row.created_at),
  expiresAt: DateTime.fromDateUnsafe(row.expires_at),
  settledAt: row.settled_at === null ? null : DateTime.fromDateUnsafe(row.settled_at),
  releasedAt: row.released_at === null ? null : DateTime.fromDateUnsafe(row.released_at),
  holds: row.holds.map((h) => ({ budgetId: h.budget_id, periodStart: DateTime.makeUnsafe(h.period_start) }))
})

const toDate = (dt: DateTime.Utc): Date => new Date(DateTime.toEpochMillis(dt))
const iso = (dt: DateTime.Utc): string => DateTime.formatIso(dt)

/** Holds as the `jsonb_to_recordset` input of the statements below. */
const holdsJson = (holds: ReadonlyArray<Reservation.Hold>): string =>
  JSON.stringify(holds.map((h) => ({
    budget_id: h.budgetId,
    period_start: iso(h.periodStart),
    amount: h.amount === undefined ? null : Money.format(h.amount)
  })))

export interface ReservationsService {
  /** Stores a reservation with its holds; returns its id. */
  readonly insert: (tenantId: string, reservation: Reservation.NewReservation) => Effect.Effect<string, SqlError>
  /** One reservation with its holds; with `forUpdate`, its row is locked until the transaction ends. */
  readonly get: (
    tenantId: string,
    reservationId: string,
    options?: { readonly forUpdate?: boolean | undefined }
  ) => Effect.Effect<Reservation.Reservation, Reservation.ReservationNotFound | SqlError>
  /** Marks a reservation settled with its actual cost, counting until `expiresAt` or until it lands. */
  readonly settle: (
    tenantId: string,
    reservationId: string,
    settle: {
      readonly actual: Money.Decimal
      /** The call's actual tokens; a tokens budget's hold keeps its estimate when absent. */
      readonly actualTokens?: { readonly input: number; readonly output: number } | undefined
      readonly requestId: string | null
      readonly now: DateTime.Utc
      readonly expiresAt: DateTime.Utc
    }
  ) => Effect.Effect<void, SqlError>
  /** Marks a reservation released at `now` (a released one keeps its first release time). */
  readonly release: (tenantId: string, reservationId: string, now: DateTime.Utc) => Effect.Effect<void, SqlError>
  /** Deletes reservations that stopped counting before `before` (expired or released); returns how many. */
  readonly purge: (tenantId: string, before: DateTime.Utc) => Effect.Effect<number, SqlError>
  /**
   * What live reservations hold against each (budget, period), by budget id: `actual` once
   * settled, else the estimate. A reservation stops counting when it is released, when it expires
   * (at `now`), or when the ledger has its request id (the recorded usage counts instead).
   */
  readonly held: (
    tenantId: string,
    holds: ReadonlyArray<Reservation.Hold>,
    now: DateTime.Utc
  ) => Effect.Effect<ReadonlyMap<string, Money.Decimal>, SqlError>
}

export class Reservations extends Context.Service<Reservations, ReservationsService>()("@tally/store/Reservations") {
  static readonly layer: Layer.Layer<Reservations, never, Database> = Layer.effect(
    Reservations,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const insert = Effect.fn("Reservations.insert")(function*(tenantId: string, reservation: Reservation.NewReservation) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ id: string }>(
            `WITH r AS (
                INSERT INTO tally.budget_reservations (tenant_id, request_id, labels, estimate, currency, created_at, expires_at)
                VALUES ($1, $2, $3::jsonb, $4::numeric, $5, $6, $7)
                RETURNING id
              ),
              h AS (
                INSERT INTO tally.budget_holds (tenant_id, reservation_id, budget_id, period_start, amount)
                SELECT $1, r.id, b.budget_id, b.period_start, b.amount
                FROM r, jsonb_to_recordset($8::jsonb) AS b(budget_id uuid, period_start timestamptz, amount numeric)
              )
              SELECT id FROM r`,
            [
              tenantId,
              reservation.requestId,
              JSON.stringify(reservation.labels),
              Money.format(reservation.estimate),
              reservation.currency,
              toDate(reservation.createdAt),
              toDate(reservation.expiresAt),
              holdsJson(reservation.holds)
            ]
          )
        )
        return rows[0]!.id
      })

      const get = Effect.fn("Reservations.get")(function*(
        tenantId: string,
        reservationId: string,
        options: { readonly forUpdate?: boolean | undefined } = {}
      ) {
        if (!isUuid(reservationId)) return yield* Reservation.notFound(reservationId)
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<ReservationRow>(
            `SELECT ${reservationColumns} FROM tally.budget_reservations r
              WHERE r.tenant_id = $1 AND r.id = $2 ${options.forUpdate === true ? "FOR UPDATE OF r" : ""}`,
            [tenantId, reservationId]
          )
        )
        const row = rows[0]
        return row === undefined ? yield* Reservation.notFound(reservationId) : fromRow(row)
      })

      const settle = Effect.fn("Reservations.settle")(function*(
        tenantId: string,
        reservationId: string,
        values: {
          readonly actual: Money.Decimal
          readonly actualTokens?: { readonly input: number; readonly output: number } | undefined
          readonly requestId: string | null
          readonly now: DateTime.Utc
          readonly expiresAt: DateTime.Utc
        }
      ) {
        const tokens = values.actualTokens
        yield* db.withTenant(
          tenantId,
          Effect.andThen(
            sql.unsafe(
              `UPDATE tally.budget_reservations SET status = 'settled', actual = $3::numeric,
                  request_id = coalesce($4, request_id), settled_at = $5, expires_at = greatest($6, created_at + interval '1 millisecond')
                WHERE tenant_id = $1 AND id = $2`,
              [tenantId, reservationId, Money.format(values.actual), values.requestId, toDate(values.now), toDate(values.expiresAt)]
            ),
            // Each hold now holds the actual in its budget's unit: the cost, the actual tokens of
            // its kind (its estimate when none were given), one request.
            sql.unsafe(
              `UPDATE tally.budget_holds h SET actual = CASE b.unit
                  WHEN 'cost' THEN $3::numeric
                  WHEN 'requests' THEN coalesce(h.amount, 1)
                  ELSE coalesce(CASE b.token_kind WHEN 'input' THEN $4::numeric WHEN 'output' THEN $5::numeric
                    ELSE $4::numeric + $5::numeric END, h.amount) END
                FROM tally.budgets b
                WHERE h.tenant_id = $1 AND h.reservation_id = $2 AND b.tenant_id = h.tenant_id AND b.id = h.budget_id
                  AND h.amount IS NOT NULL`,
              [
                tenantId,
                reservationId,
                Money.format(values.actual),
                tokens === undefined ? null : tokens.input,
                tokens === undefined ? null : tokens.output
              ]
            )
          )
        )
      })

      const release = Effect.fn("Reservations.release")(function*(tenantId: string, reservationId: string, now: DateTime.Utc) {
        yield* db.withTenant(
          tenantId,
          sql.unsafe(
            `UPDATE tally.budget_reservations SET status = 'released', released_at = $3
              WHERE tenant_id = $1 AND id = $2 AND status <> 'released'`,
            [tenantId, reservationId, toDate(now)]
          )
        )
      })

      const purge = Effect.fn("Reservations.purge")(function*(tenantId: string, before: DateTime.Utc) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ id: string }>(
            `DELETE FROM tally.budget_reservations
              WHERE tenant_id = $1 AND (expires_at < $2 OR (status = 'released' AND released_at < $2))
              RETURNING id`,
            [tenantId, toDate(before)]
          )
        )
        return rows.length
      })

      const held = Effect.fn("Reservations.held")(function*(
        tenantId: string,
        holds: ReadonlyArray<Reservation.Hold>,
        now: DateTime.Utc
      ): Effect.fn.Return<ReadonlyMap<string, Money.Decimal>, SqlError> {
        if (holds.length === 0) return new Map()
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ budget_id: string; held: string }>(
            `SELECT h.budget_id, sum(coalesce(h.actual, h.amount, r.actual, r.estimate))::text AS held
              FROM tally.budget_reservations r
              JOIN tally.budget_holds h ON h.reservation_id = r.id
              JOIN jsonb_to_recordset($2::jsonb) AS b(budget_id uuid, period_start timestamptz)
                ON b.budget_id = h.budget_id AND b.period_start = h.period_start
              WHERE r.tenant_id = $1 AND r.status <> 'released' AND r.expires_at > $3
                AND NOT (r.request_id IS NOT NULL AND EXISTS (
                  SELECT 1 FROM tally.usage_request_ids u WHERE u.tenant_id = r.tenant_id AND u.request_id = r.request_id))
              GROUP BY h.budget_id`,
            [tenantId, holdsJson(holds), toDate(now)]
          )
        )
        return new Map(rows.map((row) => [row.budget_id, new Money.Decimal(row.held)]))
      })

      return Reservations.of({ insert, get, settle, release, purge, held })
    })
  )
}
