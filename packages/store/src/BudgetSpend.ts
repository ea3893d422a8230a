/**
 * Budget spend: what a scope spent over time windows, in one statement for many windows.
 *
 * Whole UTC hours come from the hourly rollups; the parts of a window that do not fill an hour
 * (a day in Asia/Kolkata starts at hh:30 UTC) come from the ledger, so windows cut at any instant
 * are exact. Periods are cut by the caller (`BudgetPeriod`); this repository takes instants.
 */
import { Budget, Money } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"

/** A time window of one scope's spend; `key` names it in the answer. */
export interface SpendWindow {
  readonly key: string
  readonly scope: Budget.Scope
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
}

export interface Spend {
  /** Priced spend in the asked currency. */
  readonly amount: Money.Decimal
  /** Priced calls in the asked currency. */
  readonly calls: number
  /** Calls that could not be priced: counted, not in `amount`. */
  readonly unpricedCalls: number
  /** Calls priced in part (any currency): their priced lines are in `amount`, their unpriced components are not. */
  readonly partialCalls: number
  /** Spend recorded in other currencies, not converted and not in `amount`. */
  readonly otherCurrencies: ReadonlyArray<{ readonly currency: string; readonly amount: Money.Decimal }>
}

/** Ledger and rollup column of each scope dimension. */
const scopeColumns: Record<Budget.ScopeKey, string> = {
  project: "project",
  environment: "environment",
  feature: "feature",
  team: "team",
  customer: "customer",
  apiKeyId: "api_key_id",
  model: "model"
}

const HOUR = 3_600_000

const match = (alias: string) =>
  Budget.scopeKeys.map((key) => `(w.scope->>'${key}' IS NULL OR ${alias}.${scopeColumns[key]} = w.scope->>'${key}')`).join(
    " AND "
  )

/** Spend per window: rollups for the whole hours inside it, the ledger for the rest. */
const spendStatement = `WITH w AS (
    SELECT * FROM jsonb_to_recordset($2::jsonb)
      AS w(key text, scope jsonb, from_at timestamptz, to_at timestamptz, hour_from timestamptz, hour_to timestamptz)
  ),
  parts AS (
    SELECT w.key, r.currency, r.cost AS amount, r.request_count AS calls, r.unpriced_count AS unpriced, r.partial_count AS partial
    FROM w JOIN tally.usage_rollups_hourly r
      ON r.tenant_id = $1 AND r.hour >= w.hour_from AND r.hour < w.hour_to
    WHERE ${match("r")}
    UNION ALL
    SELECT w.key, coalesce(l.currency, ''), coalesce(l.total, 0), 1, CASE WHEN l.cost_source = 'unpriced' THEN 1 ELSE 0 END,
      CASE WHEN l.cost_source = 'partial' THEN 1 ELSE 0 END
    FROM w JOIN tally.usage_ledger l
      ON l.tenant_id = $1
      AND ((l.occurred_at >= w.from_at AND l.occurred_at < w.hour_from) OR (l.occurred_at >= w.hour_to AND l.occurred_at < w.to_at))
    WHERE ${match("l")}
  )
  SELECT key, currency, sum(amount)::text AS amount, sum(calls)::text AS calls, sum(unpriced)::text AS unpriced, sum(partial)::text AS partial
  FROM parts GROUP BY key, currency ORDER BY key, currency`

/** `[from, to)` as whole UTC hours inside it plus the ledger parts at either end. */
const hourSplit = (from: number, to: number): { hourFrom: number; hourTo: number } => {
  const hourFrom = Math.ceil(from / HOUR) * HOUR
  const hourTo = Math.floor(to / HOUR) * HOUR
  // No whole hour inside: everything comes from the ledger ([from, to) as the first part).
  return hourFrom < hourTo ? { hourFrom, hourTo } : { hourFrom: to, hourTo: to }
}

export interface BudgetSpendService {
  /** Spend of each window in `currency` (other currencies apart), by the windows' keys. */
  readonly spend: (
    tenantId: string,
    currency: string,
    windows: ReadonlyArray<SpendWindow>
  ) => Effect.Effect<ReadonlyMap<string, Spend>, SqlError>
}

export class BudgetSpend extends Context.Service<BudgetSpend, BudgetSpendService>()("@tally/store/BudgetSpend") {
  static readonly layer: Layer.Layer<BudgetSpend, never, Database> = Layer.effect(
    BudgetSpend,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const spend = Effect.fn("BudgetSpend.spend")(function*(
        tenantId: string,
        currency: string,
        windows: ReadonlyArray<SpendWindow>
      ): Effect.fn.Return<ReadonlyMap<string, Spend>, SqlError> {
        if (windows.length === 0) return new Map()
        const input = windows.map((w) => {
          const from = DateTime.toEpochMillis(w.from)
          const to = Math.max(from, DateTime.toEpochMillis(w.to))
          const { hourFrom, hourTo } = hourSplit(from, to)
          return {
            key: w.key,
            scope: Budget.normalizeScope(w.scope),
            from_at: new Date(from).toISOString(),
            to_at: new Date(to).toISOString(),
            hour_from: new Date(hourFrom).toISOString(),
            hour_to: new Date(hourTo).toISOString()
          }
        })
        const rows = yield* db.withTenant(
          tenantId,
          // The planner cannot see how few windows the recordset holds, guesses 100, and on PostgreSQL
          // the cost estimate then crosses `jit_above_cost`: compiling takes ~0.5 s for a query that
          // runs in milliseconds. JIT stays off for the rest of this (short) transaction.
          Effect.andThen(
            sql`SELECT set_config('jit', 'off', true)`,
            sql.unsafe<{ key: string; currency: string; amount: string; calls: string; unpriced: string; partial: string }>(spendStatement, [
              tenantId,
              JSON.stringify(input)
            ])
          )
        )
        const out = new Map<string, { amount: Money.Decimal; calls: number; unpricedCalls: number; partialCalls: number; otherCurrencies: Array<{ currency: string; amount: Money.Decimal }> }>()
        for (const w of windows) out.set(w.key, { amount: Money.ZERO, calls: 0, unpricedCalls: 0, partialCalls: 0, otherCurrencies: [] })
        for (const row of rows) {
          const entry = out.get(row.key)!
          const unpriced = Number(row.unpriced)
          entry.unpricedCalls += unpriced
          entry.partialCalls += Number(row.partial)
          if (row.currency === currency) {
            entry.amount = entry.amount.plus(row.amount)
            entry.calls += Number(row.calls) - unpriced
          } else if (row.currency !== "") {
            entry.otherCurrencies.push({ currency: row.currency, amount: new Money.Decimal(row.amount) })
          }
        }
        return out
      })

      return BudgetSpend.of({ spend })
    })
  )
}
