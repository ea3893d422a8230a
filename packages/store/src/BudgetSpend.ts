/**
 * Budget spend: what a scope spent over time windows, in one statement for many windows.
 *
 * Whole UTC hours come from the hourly rollups; the parts of a window that do not fill an hour
 * (a day in Asia/Kolkata starts at hh:30 UTC) come from the ledger, so windows cut at any instant
 * are exact. Periods are cut by the caller (`BudgetPeriod`); this repository takes instants.
 */
import { Budget, Money, type Reservation } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { heldByBudget } from "./internal/HeldSql.ts"

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
  /**
   * `otherCurrencies` by UTC day of the call (`YYYY-MM-DD`), for conversion at each day's rate.
   * Filled by `spend` only (`standing` leaves it empty).
   */
  readonly otherCurrencyDays: ReadonlyArray<{ readonly date: string; readonly currency: string; readonly amount: Money.Decimal }>
  /** Input tokens of every call, priced or not, in any currency (see `Budget.TokenKind`). */
  readonly inputTokens: number
  /** Output tokens of every call, priced or not, in any currency. */
  readonly outputTokens: number
  /** Every call, priced or not, in any currency. */
  readonly requests: number
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

/** The token columns `Budget.TokenKind` sums (ledger columns are null where a bucket is absent). */
const inputColumns = [
  "input_text",
  "cache_read",
  "cache_read_image",
  "cache_read_audio",
  "cache_read_video",
  "cache_write_5m",
  "cache_write_1h",
  "input_image",
  "input_audio",
  "input_video",
  "embedding"
]
const outputColumns = ["output_text", "reasoning", "output_image", "output_audio", "output_video"]
const sumOf = (alias: string, columns: ReadonlyArray<string>) => columns.map((c) => `coalesce(${alias}.${c}, 0)`).join(" + ")

const match = (alias: string) =>
  Budget.scopeKeys.map((key) => `(w.scope->>'${key}' IS NULL OR ${alias}.${scopeColumns[key]} = w.scope->>'${key}')`).join(
    " AND "
  )

/**
 * The CTEs of a spend read: `w` (the windows, $2), `parts` (rollup and ledger rows), `spent` (per
 * window and currency, and with `byDay` per UTC day too: `day` is null otherwise).
 */
const spendCtes = (byDay: boolean) => `w AS (
    SELECT * FROM jsonb_to_recordset($2::jsonb)
      AS w(key text, scope jsonb, from_at timestamptz, to_at timestamptz, hour_from timestamptz, hour_to timestamptz)
  ),
  parts AS (
    SELECT w.key, r.currency, ${byDay ? "to_char(r.hour AT TIME ZONE 'UTC', 'YYYY-MM-DD')" : "NULL::text"} AS day, r.cost AS amount, r.request_count AS calls, r.unpriced_count AS unpriced, r.partial_count AS partial,
      ${sumOf("r", inputColumns)} AS input_tokens, ${sumOf("r", outputColumns)} AS output_tokens
    FROM w JOIN tally.usage_rollups_hourly r
      ON r.tenant_id = $1 AND r.hour >= w.hour_from AND r.hour < w.hour_to
    WHERE ${match("r")}
    UNION ALL
    SELECT w.key, coalesce(l.currency, ''), ${byDay ? "to_char(l.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" : "NULL::text"},
      coalesce(l.total, 0), 1, CASE WHEN l.cost_source = 'unpriced' THEN 1 ELSE 0 END,
      CASE WHEN l.cost_source = 'partial' THEN 1 ELSE 0 END, ${sumOf("l", inputColumns)}, ${sumOf("l", outputColumns)}
    FROM w JOIN tally.usage_ledger l
      ON l.tenant_id = $1
      AND ((l.occurred_at >= w.from_at AND l.occurred_at < w.hour_from) OR (l.occurred_at >= w.hour_to AND l.occurred_at < w.to_at))
    WHERE ${match("l")}
  ),
  spent AS (
    SELECT key, currency, day, sum(amount)::text AS amount, sum(calls)::text AS calls, sum(unpriced)::text AS unpriced,
      sum(partial)::text AS partial, sum(input_tokens)::text AS input_tokens, sum(output_tokens)::text AS output_tokens
    FROM parts GROUP BY key, currency, day
  )`

/** Spend per window: rollups for the whole hours inside it, the ledger for the rest. */
const spendStatement = `WITH ${spendCtes(true)} SELECT * FROM spent ORDER BY key, currency, day`

/**
 * Spend per window, what live reservations hold per budget ($3: budget ids and hold keys, $4: now;
 * the rule of `Reservations.held`) and the tenant's governance version, in one statement: what an
 * admission without a lock needs, in one round trip.
 */
const standingStatement = `WITH ${spendCtes(false)},
  held AS (${heldByBudget({ tenant: "$1", holds: "$3", now: "$4" })})
  SELECT 'spent' AS kind, key, currency, day, amount, calls, unpriced, partial, input_tokens, output_tokens FROM spent
  UNION ALL SELECT 'held', budget_id::text, NULL, NULL, held, NULL, NULL, NULL, NULL, NULL FROM held
  UNION ALL SELECT 'version', NULL, NULL, NULL,
    coalesce((SELECT version FROM tally.tenant_governance WHERE tenant_id = $1), 0)::text, NULL, NULL, NULL, NULL, NULL`

/** `[from, to)` as whole UTC hours inside it plus the ledger parts at either end. */
const hourSplit = (from: number, to: number): { hourFrom: number; hourTo: number } => {
  const hourFrom = Math.ceil(from / HOUR) * HOUR
  const hourTo = Math.floor(to / HOUR) * HOUR
  // No whole hour inside: everything comes from the ledger ([from, to) as the first part).
  return hourFrom < hourTo ? { hourFrom, hourTo } : { hourFrom: to, hourTo: to }
}

interface SpendRow {
  readonly key: string
  readonly currency: string
  readonly day: string | null
  readonly amount: string
  readonly calls: string
  readonly unpriced: string
  readonly partial: string
  readonly input_tokens: string
  readonly output_tokens: string
}

type MutableSpend = {
  -readonly [K in keyof Spend]: K extends "otherCurrencies" ? Array<{ currency: string; amount: Money.Decimal }>
    : K extends "otherCurrencyDays" ? Array<{ date: string; currency: string; amount: Money.Decimal }>
    : Spend[K]
}

/** Where budgets stand: spend per window, live holds per budget, the tenant's governance version. */
export interface Standing {
  readonly spend: ReadonlyMap<string, Spend>
  readonly held: ReadonlyMap<string, Money.Decimal>
  readonly version: number
}

export interface BudgetSpendService {
  /** Spend of each window in `currency` (other currencies apart), by the windows' keys. */
  readonly spend: (
    tenantId: string,
    currency: string,
    windows: ReadonlyArray<SpendWindow>
  ) => Effect.Effect<ReadonlyMap<string, Spend>, SqlError>
  /**
   * `spend`, what live reservations hold against `holds` (as `Reservations.held` counts them;
   * windows' keys must be the budget ids) and the governance version, in one statement.
   */
  readonly standing: (
    tenantId: string,
    currency: string,
    windows: ReadonlyArray<SpendWindow>,
    holds: ReadonlyArray<Reservation.Hold>,
    now: DateTime.Utc
  ) => Effect.Effect<Standing, SqlError>
}

/** Windows as the statements' `$2`: each cut into whole UTC hours and the ledger parts at either end. */
const windowsJson = (windows: ReadonlyArray<SpendWindow>) =>
  windows.map((w) => {
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

/** Spend per window from the statement's rows; every window has an entry, 0 where no row. */
const collect = (currency: string, windows: ReadonlyArray<SpendWindow>, rows: ReadonlyArray<SpendRow>): ReadonlyMap<string, Spend> => {
  const out = new Map<string, MutableSpend>()
  for (const w of windows) {
    out.set(w.key, {
      amount: Money.ZERO,
      calls: 0,
      unpricedCalls: 0,
      partialCalls: 0,
      otherCurrencies: [],
      otherCurrencyDays: [],
      inputTokens: 0,
      outputTokens: 0,
      requests: 0
    })
  }
  for (const row of rows) {
    const entry = out.get(row.key)!
    const unpriced = Number(row.unpriced)
    entry.inputTokens += Number(row.input_tokens)
    entry.outputTokens += Number(row.output_tokens)
    entry.requests += Number(row.calls)
    entry.unpricedCalls += unpriced
    entry.partialCalls += Number(row.partial)
    if (row.currency === currency) {
      entry.amount = entry.amount.plus(row.amount)
      entry.calls += Number(row.calls) - unpriced
    } else if (row.currency !== "") {
      const amount = new Money.Decimal(row.amount)
      const known = entry.otherCurrencies.find((o) => o.currency === row.currency)
      if (known === undefined) entry.otherCurrencies.push({ currency: row.currency, amount })
      else known.amount = known.amount.plus(amount)
      if (row.day !== null) entry.otherCurrencyDays.push({ date: row.day, currency: row.currency, amount })
    }
  }
  return out
}

export class BudgetSpend extends Context.Service<BudgetSpend, BudgetSpendService>()("@tally/store/BudgetSpend") {
  static readonly layer: Layer.Layer<BudgetSpend, never, Database> = Layer.effect(
    BudgetSpend,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql
      // The planner cannot see how few windows the recordset holds, guesses 100, and on PostgreSQL
      // the cost estimate then crosses `jit_above_cost`: compiling takes ~0.5 s for a query that
      // runs in milliseconds. JIT stays off for the rest of this (short) transaction. And the
      // statements are prepared once per connection: a generic plan is reused instead of planning
      // the union anew on every admission (planning was most of a decision's time; every branch is
      // an index range on tenant and time, which a generic plan serves as well).
      const jitOff = sql`SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)`

      const spend = Effect.fn("BudgetSpend.spend")(function*(
        tenantId: string,
        currency: string,
        windows: ReadonlyArray<SpendWindow>
      ): Effect.fn.Return<ReadonlyMap<string, Spend>, SqlError> {
        if (windows.length === 0) return new Map()
        const rows = yield* db.withTenant(
          tenantId,
          Effect.andThen(jitOff, sql.unsafe<SpendRow>(spendStatement, [tenantId, JSON.stringify(windowsJson(windows))]))
        )
        return collect(currency, windows, rows)
      })

      const standing = Effect.fn("BudgetSpend.standing")(function*(
        tenantId: string,
        currency: string,
        windows: ReadonlyArray<SpendWindow>,
        holds: ReadonlyArray<Reservation.Hold>,
        now: DateTime.Utc
      ): Effect.fn.Return<Standing, SqlError> {
        const rows = yield* db.withTenant(
          tenantId,
          Effect.andThen(
            jitOff,
            sql.unsafe<SpendRow & { readonly kind: "spent" | "held" | "version" }>(standingStatement, [
              tenantId,
              JSON.stringify(windowsJson(windows)),
              JSON.stringify(holds.map((h) => ({ budget_id: h.budgetId, period_start: DateTime.formatIso(h.periodStart) }))),
              new Date(DateTime.toEpochMillis(now))
            ])
          )
        )
        const held = new Map<string, Money.Decimal>()
        let version = 0
        for (const row of rows) {
          if (row.kind === "held") held.set(row.key, new Money.Decimal(row.amount))
          if (row.kind === "version") version = Number(row.amount)
        }
        return { spend: collect(currency, windows, rows.filter((row) => row.kind === "spent")), held, version }
      })

      return BudgetSpend.of({ spend, standing })
    })
  )
}
