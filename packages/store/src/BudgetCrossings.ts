/**
 * Budget crossings: the `budget_events` rows, one per (budget, period start, threshold) reached,
 * each written in the same statement as the outbox message that announces it.
 *
 * Which thresholds spend has reached is the engine's to find (`Crossing.reached`); this repository
 * records them exactly once however many workers see them, and reads them back.
 */
import { Crossing, Money } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"

interface EventRow {
  readonly id: string
  readonly budget_id: string
  readonly period_start: Date
  readonly period_end: Date
  readonly threshold: string
  readonly spent: string
  readonly budget_amount: string
  readonly currency: string
  readonly crossed_at: Date
}

const eventFromRow = (row: EventRow): Crossing.BudgetEvent => ({
  id: row.id,
  budgetId: row.budget_id,
  periodStart: DateTime.fromDateUnsafe(row.period_start),
  periodEnd: DateTime.fromDateUnsafe(row.period_end),
  threshold: new Money.Decimal(row.threshold),
  spent: new Money.Decimal(row.spent),
  budgetAmount: new Money.Decimal(row.budget_amount),
  currency: row.currency,
  crossedAt: DateTime.fromDateUnsafe(row.crossed_at)
})

const toDate = (dt: DateTime.Utc): Date => new Date(DateTime.toEpochMillis(dt))
const iso = (dt: DateTime.Utc): string => DateTime.formatIso(dt)

/**
 * The event's UNIQUE (budget, period start, threshold) with `ON CONFLICT DO NOTHING` makes a
 * crossing recorded once; its message is written only by the insert that created the event, so
 * it exists exactly when the event does.
 */
const recordStatement = `WITH c AS (
    SELECT * FROM jsonb_to_recordset($2::jsonb) AS c(
      budget_id uuid, period_start timestamptz, period_end timestamptz, threshold numeric, spent numeric,
      budget_amount numeric, currency text, dedupe_key text, payload jsonb)
  ),
  ev AS (
    INSERT INTO tally.budget_events
      (tenant_id, budget_id, period_start, period_end, threshold, spent, budget_amount, currency, crossed_at)
    SELECT $1, c.budget_id, c.period_start, c.period_end, c.threshold, c.spent, c.budget_amount, c.currency, $3
    FROM c
    ORDER BY c.budget_id, c.period_start, c.threshold
    ON CONFLICT (budget_id, period_start, threshold) DO NOTHING
    RETURNING id, budget_id, period_start, threshold
  ),
  ob AS (
    INSERT INTO tally.outbox (tenant_id, kind, dedupe_key, payload, created_at, next_attempt_at)
    SELECT $1, '${Crossing.kind}', c.dedupe_key,
      c.payload || jsonb_build_object('eventId', ev.id, 'crossedAt', $4::text), $3, $3
    FROM ev JOIN c ON c.budget_id = ev.budget_id AND c.period_start = ev.period_start AND c.threshold = ev.threshold
    ORDER BY c.dedupe_key
    ON CONFLICT (tenant_id, kind, dedupe_key) DO NOTHING
    RETURNING id, dedupe_key
  )
  SELECT ev.id, ev.budget_id, ev.period_start, ev.threshold::text AS threshold, ob.id AS outbox_id
  FROM ev
  JOIN c ON c.budget_id = ev.budget_id AND c.period_start = ev.period_start AND c.threshold = ev.threshold
  LEFT JOIN ob ON ob.dedupe_key = c.dedupe_key
  ORDER BY ev.budget_id, ev.period_start, ev.threshold`

export interface BudgetCrossingsService {
  /**
   * Records crossings and their outbox messages (kind `Crossing.kind`, key `Crossing.key`) in one
   * statement, crossed at `now`. Returns the crossings new here: not those recorded before, nor
   * those another transaction recorded first.
   */
  readonly record: (
    tenantId: string,
    crossings: ReadonlyArray<Crossing.Crossing>,
    now: DateTime.Utc
  ) => Effect.Effect<ReadonlyArray<Crossing.RecordedCrossing>, SqlError>
  /** Recorded crossings, oldest first, optionally of some budgets and recent periods only. */
  readonly events: (
    tenantId: string,
    filter?: {
      readonly budgetIds?: ReadonlyArray<string> | undefined
      /** Only periods starting at or after this instant. */
      readonly periodStartFrom?: DateTime.Utc | undefined
      readonly limit?: number | undefined
    }
  ) => Effect.Effect<ReadonlyArray<Crossing.BudgetEvent>, SqlError>
}

export class BudgetCrossings extends Context.Service<BudgetCrossings, BudgetCrossingsService>()("@tally/store/BudgetCrossings") {
  static readonly layer: Layer.Layer<BudgetCrossings, never, Database> = Layer.effect(
    BudgetCrossings,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const record = Effect.fn("BudgetCrossings.record")(function*(
        tenantId: string,
        crossings: ReadonlyArray<Crossing.Crossing>,
        now: DateTime.Utc
      ): Effect.fn.Return<ReadonlyArray<Crossing.RecordedCrossing>, SqlError> {
        if (crossings.length === 0) return []
        const input = crossings.map((c) => ({
          budget_id: c.budgetId,
          period_start: iso(c.periodStart),
          period_end: iso(c.periodEnd),
          threshold: Money.format(c.threshold),
          spent: Money.format(c.spent),
          budget_amount: Money.format(c.amount),
          currency: c.currency,
          dedupe_key: Crossing.key(c.budgetId, c.periodStart, c.threshold),
          payload: c.payload
        }))
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ id: string; budget_id: string; period_start: Date; threshold: string; outbox_id: string | null }>(
            recordStatement,
            [tenantId, JSON.stringify(input), toDate(now), iso(now)]
          )
        )
        return rows.map((row) => ({
          eventId: row.id,
          outboxId: row.outbox_id,
          budgetId: row.budget_id,
          periodStart: DateTime.fromDateUnsafe(row.period_start),
          threshold: new Money.Decimal(row.threshold)
        }))
      })

      const events = Effect.fn("BudgetCrossings.events")(function*(
        tenantId: string,
        filter: {
          readonly budgetIds?: ReadonlyArray<string> | undefined
          readonly periodStartFrom?: DateTime.Utc | undefined
          readonly limit?: number | undefined
        } = {}
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<EventRow>(
            `SELECT e.id, e.budget_id, e.period_start, e.period_end, e.threshold::text AS threshold, e.spent::text AS spent,
                e.budget_amount::text AS budget_amount, e.currency, e.crossed_at
              FROM tally.budget_events e
              WHERE e.tenant_id = $1 AND ($2::jsonb IS NULL OR e.budget_id::text IN (SELECT jsonb_array_elements_text($2::jsonb)))
                AND ($4::timestamptz IS NULL OR e.period_start >= $4)
              -- e.threshold: the numeric column, not the text it is selected as ("100" sorts before "50").
              ORDER BY e.crossed_at, e.budget_id, e.period_start, e.threshold
              LIMIT $3`,
            [
              tenantId,
              filter.budgetIds === undefined ? null : JSON.stringify(filter.budgetIds),
              Math.max(1, Math.min(100_000, Math.trunc(filter.limit ?? 10_000))),
              filter.periodStartFrom === undefined ? null : toDate(filter.periodStartFrom)
            ]
          )
        )
        return rows.map(eventFromRow)
      })

      return BudgetCrossings.of({ record, events })
    })
  )
}
