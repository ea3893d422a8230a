/**
 * Budgets and what they read and write: the budget rows, spend of a scope over a time window
 * (rollups for whole hours, the ledger for partial ones), threshold crossings recorded once per
 * (budget, period, threshold) together with their outbox message, and reservations that hold an
 * estimate against every covering budget while a call runs.
 *
 * Periods, decisions and forecasts are the engine's: this module takes instants and amounts and
 * answers with rows. Functions that take a `sql` client run inside a transaction the caller
 * opened with `withTenant`, so the engine can compose them atomically.
 */
import { FieldError, Money } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { notFound, type TenantNotFound } from "./Tenants.ts"

// Model -------------------------------------------------------------------------------------

export const Period = Schema.Literals(["day", "week", "month"])
export type Period = typeof Period.Type

/** `alert` only notifies; `block` also makes enforcement deny calls that would overspend. */
export const Action = Schema.Literals(["alert", "block"])
export type Action = typeof Action.Type

/** Dimensions a budget can be scoped by; all given ones must match (an empty scope is the tenant). */
export const scopeKeys = ["project", "environment", "feature", "team", "customer", "apiKeyId", "model"] as const
export type ScopeKey = typeof scopeKeys[number]

/** Ledger and rollup column of each scope dimension. */
const scopeColumns: Record<ScopeKey, string> = {
  project: "project",
  environment: "environment",
  feature: "feature",
  team: "team",
  customer: "customer",
  apiKeyId: "api_key_id",
  model: "model"
}

const ScopeValue = Schema.String.check(
  Schema.isMinLength(1, { message: "expected a non-empty value" }),
  Schema.isMaxLength(256, { message: "expected at most 256 characters" })
)

export const Scope = Schema.Struct({
  project: Schema.optionalKey(ScopeValue),
  environment: Schema.optionalKey(ScopeValue),
  feature: Schema.optionalKey(ScopeValue),
  team: Schema.optionalKey(ScopeValue),
  customer: Schema.optionalKey(ScopeValue),
  apiKeyId: Schema.optionalKey(ScopeValue),
  model: Schema.optionalKey(ScopeValue)
})
export type Scope = typeof Scope.Type

/** The dimensions of one call (or a set of labels) that budgets are matched against. */
export type CallScope = { readonly [K in ScopeKey]?: string | null | undefined }

export interface Budget {
  readonly id: string
  readonly tenantId: string
  readonly name: string
  readonly scope: Scope
  readonly period: Period
  readonly amount: Money.Decimal
  readonly currency: string
  /** Percentages of `amount`, ascending. */
  readonly thresholds: ReadonlyArray<Money.Decimal>
  readonly action: Action
  readonly createdAt: DateTime.Utc
  readonly archivedAt: DateTime.Utc | null
}

export interface CreateBudget {
  readonly name: string
  readonly scope?: Scope | undefined
  readonly period: Period
  readonly amount: Money.Decimal
  /** Must be the tenant's currency; defaults to it. */
  readonly currency?: string | undefined
  /** Percentages, each in (0, 1000]; default [80, 100]. */
  readonly thresholds?: ReadonlyArray<Money.Decimal> | undefined
  /** Default `alert`. */
  readonly action?: Action | undefined
}

export const defaultThresholds: ReadonlyArray<Money.Decimal> = [new Money.Decimal(80), Money.HUNDRED]

export class InvalidBudget extends Schema.TaggedError<InvalidBudget>()("InvalidBudget", {
  /** JSON path of the field at fault, e.g. `thresholds[1]`. */
  field: Schema.String,
  message: Schema.String
}) {}

export class BudgetNotFound extends Schema.TaggedError<BudgetNotFound>()("BudgetNotFound", {
  budgetId: Schema.String,
  message: Schema.String
}) {}

const budgetNotFound = (budgetId: string) =>
  new BudgetNotFound({ budgetId, message: `budget ${JSON.stringify(budgetId)} does not exist` })

/** An archived budget is history: it cannot be changed (create a new one). */
export class BudgetArchived extends Schema.TaggedError<BudgetArchived>()("BudgetArchived", {
  budgetId: Schema.String,
  message: Schema.String
}) {}

const budgetArchived = (budgetId: string, archivedAt: DateTime.Utc) =>
  new BudgetArchived({
    budgetId,
    message: `budget ${JSON.stringify(budgetId)} was archived at ${DateTime.formatIso(archivedAt)} and cannot be changed; create a new budget instead`
  })

// Decoding input -----------------------------------------------------------------------------

const ThresholdInput = Schema.Union([Schema.Finite, Money.DecimalFromString])

/** A budget as JSON (HTTP body, CLI file): amount as a decimal string, thresholds as numbers or strings. */
export const BudgetInput = Schema.Struct({
  name: Schema.String,
  scope: Schema.optionalKey(Scope),
  period: Period,
  amount: Money.DecimalFromString,
  currency: Schema.optionalKey(Money.CurrencyCode),
  thresholds: Schema.optionalKey(Schema.Array(ThresholdInput)),
  action: Schema.optionalKey(Action)
})

const decodeBudgetInputResult = Schema.decodeUnknownResult(BudgetInput, { onExcessProperty: "error", errors: "first" })

/** Decodes a budget from JSON; the error names the field. Semantic checks happen in `create`. */
export const decodeBudgetInput = (input: unknown): Result.Result<CreateBudget, InvalidBudget> => {
  const decoded = decodeBudgetInputResult(input)
  if (Result.isFailure(decoded)) {
    const { field, message } = FieldError.fromSchemaError(decoded.failure)
    return Result.fail(new InvalidBudget({ field, message: `${field}: ${message}` }))
  }
  const value = decoded.success
  return Result.succeed({
    name: value.name,
    scope: value.scope,
    period: value.period,
    amount: value.amount,
    currency: value.currency,
    thresholds: value.thresholds?.map((t) => (typeof t === "number" ? new Money.Decimal(t) : t)),
    action: value.action
  })
}

const invalid = (field: string, message: string) => new InvalidBudget({ field, message: `${field}: ${message}` })

const maxThreshold = new Money.Decimal(1000)

const checkName = (name: string): InvalidBudget | string =>
  name.trim().length === 0 || name.length > 200 ? invalid("name", "expected a name of 1 to 200 characters") : name.trim()

const checkAmount = (amount: Money.Decimal): InvalidBudget | Money.Decimal =>
  !amount.isFinite() || amount.lte(0)
    ? invalid("amount", `expected a positive decimal, got ${Money.format(amount)}`)
    : amount

/** Thresholds in range, without duplicates, ascending. */
const checkThresholds = (given: ReadonlyArray<Money.Decimal>): InvalidBudget | Array<Money.Decimal> => {
  const thresholds = [...given]
  if (thresholds.length === 0 || thresholds.length > 10) return invalid("thresholds", "expected 1 to 10 thresholds")
  for (const [i, t] of thresholds.entries()) {
    if (!t.isFinite() || t.lte(0) || t.gt(maxThreshold)) {
      return invalid(`thresholds[${i}]`, `expected a percentage greater than 0 and at most 1000, got ${Money.format(t)}`)
    }
  }
  thresholds.sort((a, b) => a.comparedTo(b))
  for (let i = 1; i < thresholds.length; i++) {
    if (thresholds[i]!.eq(thresholds[i - 1]!)) {
      return invalid("thresholds", `threshold ${Money.format(thresholds[i]!)} is given twice`)
    }
  }
  return thresholds
}

/** Checks what a schema cannot: amount and thresholds in range, currency the tenant's. */
const validate = (input: CreateBudget, tenantCurrency: string): InvalidBudget | { thresholds: Array<Money.Decimal> } => {
  const name = checkName(input.name)
  if (name instanceof InvalidBudget) return name
  const amount = checkAmount(input.amount)
  if (amount instanceof InvalidBudget) return amount
  if (input.currency !== undefined && input.currency !== tenantCurrency) {
    return invalid("currency", `budgets are kept in the tenant's currency ${tenantCurrency}, got ${input.currency}`)
  }
  const thresholds = checkThresholds(input.thresholds ?? defaultThresholds)
  return thresholds instanceof InvalidBudget ? thresholds : { thresholds }
}

// Changing a budget ----------------------------------------------------------------------------

/**
 * What `update` may change. Period, scope and currency are fixed: the crossings already recorded
 * were counted over that period, scope and currency, and would mean something else after a change.
 * A patch may repeat their stored values (a client may send back the budget it read); a different
 * value fails naming the field.
 */
export interface UpdateBudget {
  readonly name?: string | undefined
  readonly amount?: Money.Decimal | undefined
  /** Replaces the whole list; the rules of `create` apply. */
  readonly thresholds?: ReadonlyArray<Money.Decimal> | undefined
  readonly action?: Action | undefined
  /** Fixed: accepted only when equal to the stored value. */
  readonly period?: Period | undefined
  /** Fixed: accepted only when equal to the stored value (compared without empty dimensions). */
  readonly scope?: Scope | undefined
  /** Fixed: accepted only when equal to the stored value. */
  readonly currency?: string | undefined
}

/** The fields an update can change, in the order changes are reported. */
export const updatableFields = ["name", "amount", "thresholds", "action"] as const
export type UpdatableField = typeof updatableFields[number]

/** The fields an update cannot change. */
export const fixedFields = ["period", "scope", "currency"] as const

/** A patch as JSON (HTTP body, CLI flags): like `BudgetInput` with every field optional. */
export const BudgetPatchInput = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  amount: Schema.optionalKey(Money.DecimalFromString),
  thresholds: Schema.optionalKey(Schema.Array(ThresholdInput)),
  action: Schema.optionalKey(Action),
  period: Schema.optionalKey(Period),
  scope: Schema.optionalKey(Scope),
  currency: Schema.optionalKey(Money.CurrencyCode)
})

const decodeBudgetPatchResult = Schema.decodeUnknownResult(BudgetPatchInput, { onExcessProperty: "error", errors: "first" })

/** Decodes a patch from JSON; the error names the field. `update` checks the rest. */
export const decodeBudgetPatch = (input: unknown): Result.Result<UpdateBudget, InvalidBudget> => {
  const decoded = decodeBudgetPatchResult(input)
  if (Result.isFailure(decoded)) {
    const { field, message } = FieldError.fromSchemaError(decoded.failure)
    return Result.fail(new InvalidBudget({ field, message: `${field}: ${message}` }))
  }
  const value = decoded.success
  return Result.succeed({
    ...value,
    thresholds: value.thresholds?.map((t) => (typeof t === "number" ? new Money.Decimal(t) : t))
  })
}

const emptyPatch = () =>
  invalid("(input)", `expected at least one of ${updatableFields.join(", ")} to change (${fixedFields.join(", ")} cannot change)`)

const fixedField = (field: typeof fixedFields[number], stored: string, given: string) =>
  invalid(
    field,
    `a budget's ${field} cannot be changed (the crossings recorded so far were counted under ${stored}, not ${given}); create a new budget instead`
  )

/** The new values of the given fields, checked; an error names the first bad one. */
const checkPatch = (patch: UpdateBudget): InvalidBudget | {
  readonly name?: string
  readonly amount?: Money.Decimal
  readonly thresholds?: ReadonlyArray<Money.Decimal>
  readonly action?: Action
} => {
  const out: { name?: string; amount?: Money.Decimal; thresholds?: ReadonlyArray<Money.Decimal>; action?: Action } = {}
  if (patch.name !== undefined) {
    const name = checkName(patch.name)
    if (name instanceof InvalidBudget) return name
    out.name = name
  }
  if (patch.amount !== undefined) {
    const amount = checkAmount(patch.amount)
    if (amount instanceof InvalidBudget) return amount
    out.amount = amount
  }
  if (patch.thresholds !== undefined) {
    const thresholds = checkThresholds(patch.thresholds)
    if (thresholds instanceof InvalidBudget) return thresholds
    out.thresholds = thresholds
  }
  if (patch.action !== undefined) {
    if (patch.action !== "alert" && patch.action !== "block") return invalid("action", `expected alert or block, got ${String(patch.action)}`)
    out.action = patch.action
  }
  return out
}

/** A field's value as the audit keeps it: JSON, decimals as strings. */
const auditValue = (budget: Budget, field: UpdatableField): unknown => {
  switch (field) {
    case "name":
      return budget.name
    case "amount":
      return Money.format(budget.amount)
    case "thresholds":
      return budget.thresholds.map(Money.format)
    case "action":
      return budget.action
  }
}

const sameThresholds = (a: ReadonlyArray<Money.Decimal>, b: ReadonlyArray<Money.Decimal>): boolean =>
  a.length === b.length && a.every((t, i) => t.eq(b[i]!))

/** One recorded change of a budget: who, when, and each field's old and new value. */
export interface BudgetChange {
  readonly id: string
  readonly budgetId: string
  readonly action: "updated" | "archived"
  /** The API key id, CLI user or embedding caller that made it; `system` when none was given. */
  readonly actor: string
  readonly at: DateTime.Utc
  /** In a fixed order (name, amount, thresholds, action, archivedAt); values as JSON, decimals as strings. */
  readonly fields: ReadonlyArray<{ readonly field: string; readonly from: unknown; readonly to: unknown }>
}

const changeFieldOrder = [...updatableFields, "archivedAt"] as ReadonlyArray<string>

interface ChangeRow {
  readonly id: string
  readonly budget_id: string
  readonly action: "updated" | "archived"
  readonly actor: string
  readonly changed_at: Date
  readonly changes: { readonly [field: string]: { readonly from: unknown; readonly to: unknown } }
}

const changeFromRow = (row: ChangeRow): BudgetChange => ({
  id: row.id,
  budgetId: row.budget_id,
  action: row.action,
  actor: row.actor,
  at: DateTime.fromDateUnsafe(row.changed_at),
  fields: Object.entries(row.changes)
    .sort(([a], [b]) => changeFieldOrder.indexOf(a) - changeFieldOrder.indexOf(b))
    .map(([field, change]) => ({ field, from: change.from, to: change.to }))
})

/** Who made a change: the given actor, trimmed, or `system`. */
export const actorOf = (actor: string | undefined): string => {
  const trimmed = actor?.trim() ?? ""
  return trimmed === "" ? "system" : trimmed.slice(0, 200)
}

// Rows ---------------------------------------------------------------------------------------

interface BudgetRow {
  readonly id: string
  readonly tenant_id: string
  readonly name: string
  readonly scope: Scope
  readonly period: Period
  readonly amount: string
  readonly currency: string
  readonly thresholds: ReadonlyArray<string>
  readonly action: Action
  readonly created_at: Date
  readonly archived_at: Date | null
}

const budgetColumns = "b.id, b.tenant_id, b.name, b.scope, b.period, b.amount::text AS amount, b.currency, " +
  "b.thresholds::text[] AS thresholds, b.action, b.created_at, b.archived_at"

const fromRow = (row: BudgetRow): Budget => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  scope: row.scope,
  period: row.period,
  amount: new Money.Decimal(row.amount),
  currency: row.currency,
  thresholds: row.thresholds.map((t) => new Money.Decimal(t)).sort((a, b) => a.comparedTo(b)),
  action: row.action,
  createdAt: DateTime.fromDateUnsafe(row.created_at),
  archivedAt: row.archived_at === null ? null : DateTime.fromDateUnsafe(row.archived_at)
})

const toDate = (dt: DateTime.Utc): Date => new Date(DateTime.toEpochMillis(dt))
const iso = (dt: DateTime.Utc): string => DateTime.formatIso(dt)

/** The scope with only its given, non-empty dimensions, in a fixed key order. */
export const normalizeScope = (scope: CallScope | Scope | undefined): Scope => {
  const out: { -readonly [K in ScopeKey]?: string } = {}
  if (scope === undefined) return out
  for (const key of scopeKeys) {
    const value = scope[key]
    if (typeof value === "string" && value !== "") out[key] = value
  }
  return out
}

/** Whether a budget's scope covers a call: every dimension the scope names is equal. */
export const covers = (scope: Scope, call: CallScope): boolean => {
  for (const key of scopeKeys) {
    const wanted = scope[key]
    if (wanted !== undefined && call[key] !== wanted) return false
  }
  return true
}

// Reading in a transaction ---------------------------------------------------------------------

export interface TenantSettings {
  readonly timeZone: string
  readonly currency: string
}

/** The tenant's zone and currency and its active budgets, in id order. */
export const activeBudgets = (
  sql: SqlClient.SqlClient,
  tenantId: string
): Effect.Effect<{ readonly tenant: TenantSettings; readonly budgets: ReadonlyArray<Budget> }, TenantNotFound | SqlError> =>
  Effect.gen(function*() {
    const rows = yield* sql.unsafe<{ time_zone: string; tenant_currency: string } & Partial<BudgetRow>>(
      `SELECT t.time_zone, t.currency AS tenant_currency, ${budgetColumns}
        FROM tally.tenants t
        LEFT JOIN tally.budgets b ON b.tenant_id = t.id AND b.archived_at IS NULL
        WHERE t.id = $1
        ORDER BY b.id`,
      [tenantId]
    )
    const first = rows[0]
    if (first === undefined) return yield* notFound(tenantId)
    return {
      tenant: { timeZone: first.time_zone, currency: first.tenant_currency },
      budgets: rows.filter((row) => row.id !== null && row.id !== undefined).map((row) => fromRow(row as BudgetRow))
    }
  })

/** The tenant's zone and currency. */
export const tenantSettings = (
  sql: SqlClient.SqlClient,
  tenantId: string
): Effect.Effect<TenantSettings, TenantNotFound | SqlError> =>
  Effect.gen(function*() {
    const [row] = yield* sql<{ time_zone: string; currency: string }>`SELECT time_zone, currency
      FROM tally.tenants WHERE id = ${tenantId}`
    return row === undefined ? yield* notFound(tenantId) : { timeZone: row.time_zone, currency: row.currency }
  })

/**
 * The active budgets that cover a call, in id order. With `lock`, they are locked in that order
 * (so concurrent admissions never deadlock): `FOR NO KEY UPDATE` serializes admissions against
 * one budget while leaving the row's key free for the foreign keys of events and holds.
 */
export const covering = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  call: CallScope,
  options: { readonly lock: boolean }
): Effect.Effect<ReadonlyArray<Budget>, SqlError> =>
  Effect.map(
    sql.unsafe<BudgetRow>(
      `SELECT ${budgetColumns} FROM tally.budgets b
        WHERE b.tenant_id = $1 AND b.archived_at IS NULL AND b.scope <@ $2::jsonb
        ORDER BY b.id
        ${options.lock ? "FOR NO KEY UPDATE" : ""}`,
      [tenantId, JSON.stringify(normalizeScope(call))]
    ),
    (rows) => rows.map(fromRow)
  )

/** A time window of one scope's spend; `key` names it in the answer. */
export interface SpendWindow {
  readonly key: string
  readonly scope: Scope
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
  /** Spend recorded in other currencies, not converted and not in `amount`. */
  readonly otherCurrencies: ReadonlyArray<{ readonly currency: string; readonly amount: Money.Decimal }>
}

const HOUR = 3_600_000

const match = (alias: string) =>
  scopeKeys.map((key) => `(w.scope->>'${key}' IS NULL OR ${alias}.${scopeColumns[key]} = w.scope->>'${key}')`).join(
    " AND "
  )

/**
 * Spend per window in one statement. Whole UTC hours come from the hourly rollups; the parts of a
 * window that do not fill an hour (a day in Asia/Kolkata starts at hh:30 UTC) come from the ledger,
 * so windows cut at any instant are exact.
 */
const spendStatement = `WITH w AS (
    SELECT * FROM jsonb_to_recordset($2::jsonb)
      AS w(key text, scope jsonb, from_at timestamptz, to_at timestamptz, hour_from timestamptz, hour_to timestamptz)
  ),
  parts AS (
    SELECT w.key, r.currency, r.cost AS amount, r.request_count AS calls, r.unpriced_count AS unpriced
    FROM w JOIN tally.usage_rollups_hourly r
      ON r.tenant_id = $1 AND r.hour >= w.hour_from AND r.hour < w.hour_to
    WHERE ${match("r")}
    UNION ALL
    SELECT w.key, coalesce(l.currency, ''), coalesce(l.total, 0), 1, CASE WHEN l.cost_source = 'unpriced' THEN 1 ELSE 0 END
    FROM w JOIN tally.usage_ledger l
      ON l.tenant_id = $1
      AND ((l.occurred_at >= w.from_at AND l.occurred_at < w.hour_from) OR (l.occurred_at >= w.hour_to AND l.occurred_at < w.to_at))
    WHERE ${match("l")}
  )
  SELECT key, currency, sum(amount)::text AS amount, sum(calls)::text AS calls, sum(unpriced)::text AS unpriced
  FROM parts GROUP BY key, currency ORDER BY key, currency`

/** `[from, to)` as whole UTC hours inside it plus the ledger parts at either end. */
const hourSplit = (from: number, to: number): { hourFrom: number; hourTo: number } => {
  const hourFrom = Math.ceil(from / HOUR) * HOUR
  const hourTo = Math.floor(to / HOUR) * HOUR
  // No whole hour inside: everything comes from the ledger ([from, to) as the first part).
  return hourFrom < hourTo ? { hourFrom, hourTo } : { hourFrom: to, hourTo: to }
}

export const spend = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  currency: string,
  windows: ReadonlyArray<SpendWindow>
): Effect.Effect<ReadonlyMap<string, Spend>, SqlError> => {
  if (windows.length === 0) return Effect.succeed(new Map())
  const input = windows.map((w) => {
    const from = DateTime.toEpochMillis(w.from)
    const to = Math.max(from, DateTime.toEpochMillis(w.to))
    const { hourFrom, hourTo } = hourSplit(from, to)
    return {
      key: w.key,
      scope: normalizeScope(w.scope),
      from_at: new Date(from).toISOString(),
      to_at: new Date(to).toISOString(),
      hour_from: new Date(hourFrom).toISOString(),
      hour_to: new Date(hourTo).toISOString()
    }
  })
  return Effect.map(
    // The planner cannot see how few windows the recordset holds, guesses 100, and on PostgreSQL
    // the cost estimate then crosses `jit_above_cost`: compiling takes ~0.5 s for a query that
    // runs in milliseconds. JIT stays off for the rest of this (short) transaction.
    Effect.andThen(
      sql`SELECT set_config('jit', 'off', true)`,
      sql.unsafe<{ key: string; currency: string; amount: string; calls: string; unpriced: string }>(spendStatement, [
        tenantId,
        JSON.stringify(input)
      ])
    ),
    (rows) => {
      const out = new Map<string, { amount: Money.Decimal; calls: number; unpricedCalls: number; otherCurrencies: Array<{ currency: string; amount: Money.Decimal }> }>()
      for (const w of windows) out.set(w.key, { amount: Money.ZERO, calls: 0, unpricedCalls: 0, otherCurrencies: [] })
      for (const row of rows) {
        const entry = out.get(row.key)!
        const unpriced = Number(row.unpriced)
        entry.unpricedCalls += unpriced
        if (row.currency === currency) {
          entry.amount = entry.amount.plus(row.amount)
          entry.calls += Number(row.calls) - unpriced
        } else if (row.currency !== "") {
          entry.otherCurrencies.push({ currency: row.currency, amount: new Money.Decimal(row.amount) })
        }
      }
      return out
    }
  )
}

// Threshold crossings ---------------------------------------------------------------------------

export interface Crossing {
  readonly budgetId: string
  readonly periodStart: DateTime.Utc
  readonly periodEnd: DateTime.Utc
  readonly threshold: Money.Decimal
  readonly spent: Money.Decimal
  readonly amount: Money.Decimal
  readonly currency: string
  /** The outbox message's `data` (the event id is added). */
  readonly payload: { readonly [key: string]: unknown }
}

export interface RecordedCrossing {
  readonly eventId: string
  readonly outboxId: string | null
  readonly budgetId: string
  readonly periodStart: DateTime.Utc
  readonly threshold: Money.Decimal
}

export const crossingKind = "budget.threshold_crossed"

/** The crossing's key in the outbox: one message per (budget, period, threshold). */
export const crossingKey = (budgetId: string, periodStart: DateTime.Utc, threshold: Money.Decimal): string =>
  `${budgetId}:${iso(periodStart)}:${Money.format(threshold)}`

/**
 * Records crossings and their outbox messages in one statement of the caller's transaction. The
 * event's UNIQUE (budget, period start, threshold) with `ON CONFLICT DO NOTHING` makes a crossing
 * recorded once however many workers see it; its message is written only by the insert that
 * created the event, so it exists exactly when the event does. Returns the crossings new here.
 */
export const recordCrossings = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  crossings: ReadonlyArray<Crossing>,
  now: DateTime.Utc
): Effect.Effect<ReadonlyArray<RecordedCrossing>, SqlError> => {
  if (crossings.length === 0) return Effect.succeed([])
  const input = crossings.map((c) => ({
    budget_id: c.budgetId,
    period_start: iso(c.periodStart),
    period_end: iso(c.periodEnd),
    threshold: Money.format(c.threshold),
    spent: Money.format(c.spent),
    budget_amount: Money.format(c.amount),
    currency: c.currency,
    dedupe_key: crossingKey(c.budgetId, c.periodStart, c.threshold),
    payload: c.payload
  }))
  return Effect.map(
    sql.unsafe<{ id: string; budget_id: string; period_start: Date; threshold: string; outbox_id: string | null }>(
      `WITH c AS (
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
          SELECT $1, '${crossingKind}', c.dedupe_key,
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
        ORDER BY ev.budget_id, ev.period_start, ev.threshold`,
      [tenantId, JSON.stringify(input), toDate(now), iso(now)]
    ),
    (rows) =>
      rows.map((row) => ({
        eventId: row.id,
        outboxId: row.outbox_id,
        budgetId: row.budget_id,
        periodStart: DateTime.fromDateUnsafe(row.period_start),
        threshold: new Money.Decimal(row.threshold)
      }))
  )
}

export interface BudgetEvent {
  readonly id: string
  readonly budgetId: string
  readonly periodStart: DateTime.Utc
  readonly periodEnd: DateTime.Utc
  readonly threshold: Money.Decimal
  readonly spent: Money.Decimal
  readonly budgetAmount: Money.Decimal
  readonly currency: string
  readonly crossedAt: DateTime.Utc
}

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

const eventFromRow = (row: EventRow): BudgetEvent => ({
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

/** Recorded crossings, oldest first, optionally of some budgets and recent periods only. */
export const events = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  filter: {
    readonly budgetIds?: ReadonlyArray<string> | undefined
    /** Only periods starting at or after this instant. */
    readonly periodStartFrom?: DateTime.Utc | undefined
    readonly limit?: number | undefined
  } = {}
): Effect.Effect<ReadonlyArray<BudgetEvent>, SqlError> =>
  Effect.map(
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
    ),
    (rows) => rows.map(eventFromRow)
  )

// Reservations -----------------------------------------------------------------------------------

export type ReservationStatus = "held" | "settled" | "released"

export interface Reservation {
  readonly id: string
  readonly tenantId: string
  readonly requestId: string | null
  readonly labels: Scope
  readonly estimate: Money.Decimal
  readonly actual: Money.Decimal | null
  readonly currency: string
  readonly status: ReservationStatus
  readonly createdAt: DateTime.Utc
  readonly expiresAt: DateTime.Utc
  readonly settledAt: DateTime.Utc | null
  readonly releasedAt: DateTime.Utc | null
  /** The budgets it holds against and the period of each. */
  readonly holds: ReadonlyArray<{ readonly budgetId: string; readonly periodStart: DateTime.Utc }>
}

export class ReservationNotFound extends Schema.TaggedError<ReservationNotFound>()("ReservationNotFound", {
  reservationId: Schema.String,
  message: Schema.String
}) {}

export const reservationNotFound = (reservationId: string) =>
  new ReservationNotFound({ reservationId, message: `reservation ${JSON.stringify(reservationId)} does not exist` })

interface ReservationRow {
  readonly id: string
  readonly tenant_id: string
  readonly request_id: string | null
  readonly labels: Scope
  readonly estimate: string
  readonly actual: string | null
  readonly currency: string
  readonly status: ReservationStatus
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

const reservationFromRow = (row: ReservationRow): Reservation => ({
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

/**
 * What live reservations hold against each (budget, period): `actual` once settled, else the
 * estimate. A reservation stops counting when it is released, when it expires, or when the
 * ledger has its request id (the recorded usage counts instead).
 */
export const held = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  budgets: ReadonlyArray<{ readonly budgetId: string; readonly periodStart: DateTime.Utc }>,
  now: DateTime.Utc
): Effect.Effect<ReadonlyMap<string, Money.Decimal>, SqlError> => {
  if (budgets.length === 0) return Effect.succeed(new Map())
  return Effect.map(
    sql.unsafe<{ budget_id: string; held: string }>(
      `SELECT h.budget_id, sum(coalesce(r.actual, r.estimate))::text AS held
        FROM tally.budget_reservations r
        JOIN tally.budget_holds h ON h.reservation_id = r.id
        JOIN jsonb_to_recordset($2::jsonb) AS b(budget_id uuid, period_start timestamptz)
          ON b.budget_id = h.budget_id AND b.period_start = h.period_start
        WHERE r.tenant_id = $1 AND r.status <> 'released' AND r.expires_at > $3
          AND NOT (r.request_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM tally.usage_request_ids u WHERE u.tenant_id = r.tenant_id AND u.request_id = r.request_id))
        GROUP BY h.budget_id`,
      [
        tenantId,
        JSON.stringify(budgets.map((b) => ({ budget_id: b.budgetId, period_start: iso(b.periodStart) }))),
        toDate(now)
      ]
    ),
    (rows) => new Map(rows.map((row) => [row.budget_id, new Money.Decimal(row.held)]))
  )
}

export interface NewReservation {
  readonly requestId: string | null
  readonly labels: Scope
  readonly estimate: Money.Decimal
  readonly currency: string
  readonly createdAt: DateTime.Utc
  readonly expiresAt: DateTime.Utc
  readonly holds: ReadonlyArray<{ readonly budgetId: string; readonly periodStart: DateTime.Utc }>
}

export const insertReservation = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  reservation: NewReservation
): Effect.Effect<string, SqlError> =>
  Effect.map(
    sql.unsafe<{ id: string }>(
      `WITH r AS (
          INSERT INTO tally.budget_reservations (tenant_id, request_id, labels, estimate, currency, created_at, expires_at)
          VALUES ($1, $2, $3::jsonb, $4::numeric, $5, $6, $7)
          RETURNING id
        ),
        h AS (
          INSERT INTO tally.budget_holds (tenant_id, reservation_id, budget_id, period_start)
          SELECT $1, r.id, b.budget_id, b.period_start
          FROM r, jsonb_to_recordset($8::jsonb) AS b(budget_id uuid, period_start timestamptz)
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
        JSON.stringify(reservation.holds.map((h) => ({ budget_id: h.budgetId, period_start: iso(h.periodStart) })))
      ]
    ),
    (rows) => rows[0]!.id
  )

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether `id` can be a uuid at all; anything else is simply not found. */
export const isUuid = (id: string): boolean => uuidPattern.test(id)

export const getReservation = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  reservationId: string,
  options: { readonly forUpdate?: boolean } = {}
): Effect.Effect<Reservation, ReservationNotFound | SqlError> =>
  Effect.gen(function*() {
    if (!isUuid(reservationId)) return yield* reservationNotFound(reservationId)
    const rows = yield* sql.unsafe<ReservationRow>(
      `SELECT ${reservationColumns} FROM tally.budget_reservations r
        WHERE r.tenant_id = $1 AND r.id = $2 ${options.forUpdate === true ? "FOR UPDATE OF r" : ""}`,
      [tenantId, reservationId]
    )
    const row = rows[0]
    return row === undefined ? yield* reservationNotFound(reservationId) : reservationFromRow(row)
  })

/** Marks a reservation settled with its actual cost, counting until `expiresAt` or until it lands. */
export const settleReservation = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  reservationId: string,
  settle: {
    readonly actual: Money.Decimal
    readonly requestId: string | null
    readonly now: DateTime.Utc
    readonly expiresAt: DateTime.Utc
  }
): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql.unsafe(
    `UPDATE tally.budget_reservations SET status = 'settled', actual = $3::numeric,
        request_id = coalesce($4, request_id), settled_at = $5, expires_at = greatest($6, created_at + interval '1 millisecond')
      WHERE tenant_id = $1 AND id = $2`,
    [tenantId, reservationId, Money.format(settle.actual), settle.requestId, toDate(settle.now), toDate(settle.expiresAt)]
  ))

export const releaseReservation = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  reservationId: string,
  now: DateTime.Utc
): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql.unsafe(
    `UPDATE tally.budget_reservations SET status = 'released', released_at = $3
      WHERE tenant_id = $1 AND id = $2 AND status <> 'released'`,
    [tenantId, reservationId, toDate(now)]
  ))

/** Deletes reservations that stopped counting before `before` (expired or released); returns how many. */
export const purgeReservations = (
  sql: SqlClient.SqlClient,
  tenantId: string,
  before: DateTime.Utc
): Effect.Effect<number, SqlError> =>
  Effect.map(
    sql.unsafe<{ id: string }>(
      `DELETE FROM tally.budget_reservations
        WHERE tenant_id = $1 AND (expires_at < $2 OR (status = 'released' AND released_at < $2))
        RETURNING id`,
      [tenantId, toDate(before)]
    ),
    (rows) => rows.length
  )

// The repository ---------------------------------------------------------------------------------

export interface BudgetsService {
  readonly create: (
    tenantId: string,
    input: CreateBudget
  ) => Effect.Effect<Budget, InvalidBudget | TenantNotFound | SqlError>
  readonly get: (tenantId: string, budgetId: string) => Effect.Effect<Budget, BudgetNotFound | SqlError>
  /** Active budgets in creation order; archived ones too when asked. */
  readonly list: (
    tenantId: string,
    options?: { readonly includeArchived?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<Budget>, SqlError>
  /**
   * Changes name, amount, thresholds or action (see `UpdateBudget` for what cannot change) and
   * records the change with `actor` in the budget's audit, in one transaction. Fields given with
   * their stored value change nothing; a patch that changes nothing records nothing. Crossings
   * already recorded stay; the caller evaluates the current period again (the engine does).
   */
  readonly update: (
    tenantId: string,
    budgetId: string,
    patch: UpdateBudget,
    options?: { readonly actor?: string | undefined }
  ) => Effect.Effect<Budget, InvalidBudget | BudgetNotFound | BudgetArchived | SqlError>
  /** Stops a budget from being evaluated or enforced; its events stay. Archiving twice changes nothing. */
  readonly archive: (
    tenantId: string,
    budgetId: string,
    options?: { readonly actor?: string | undefined }
  ) => Effect.Effect<Budget, BudgetNotFound | SqlError>
  /** Recorded changes (updates, archiving), oldest first, of some budgets or of all. */
  readonly changes: (
    tenantId: string,
    options?: { readonly budgetIds?: ReadonlyArray<string> | undefined }
  ) => Effect.Effect<ReadonlyArray<BudgetChange>, SqlError>
}

export class Budgets extends Context.Service<Budgets, BudgetsService>()("@tally/store/Budgets") {
  static readonly layer: Layer.Layer<Budgets, never, Database> = Layer.effect(
    Budgets,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const create = Effect.fn("Budgets.create")(function*(tenantId: string, input: CreateBudget) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const [tenant] = yield* sql<{ currency: string }>`SELECT currency FROM tally.tenants WHERE id = ${tenantId}`
            if (tenant === undefined) return yield* notFound(tenantId)
            const checked = validate(input, tenant.currency)
            if (checked instanceof InvalidBudget) return yield* checked
            const rows = yield* sql.unsafe<BudgetRow>(
              `INSERT INTO tally.budgets AS b (tenant_id, name, scope, period, amount, currency, thresholds, action)
                VALUES ($1, $2, $3::jsonb, $4, $5::numeric, $6, $7::numeric[], $8)
                RETURNING ${budgetColumns}`,
              [
                tenantId,
                input.name.trim(),
                JSON.stringify(normalizeScope(input.scope)),
                input.period,
                Money.format(input.amount),
                tenant.currency,
                `{${checked.thresholds.map(Money.format).join(",")}}`,
                input.action ?? "alert"
              ]
            )
            return fromRow(rows[0]!)
          })
        )
      })

      const get = Effect.fn("Budgets.get")(function*(tenantId: string, budgetId: string) {
        if (!isUuid(budgetId)) return yield* budgetNotFound(budgetId)
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<BudgetRow>(`SELECT ${budgetColumns} FROM tally.budgets b WHERE b.tenant_id = $1 AND b.id = $2`, [
            tenantId,
            budgetId
          ])
        )
        const row = rows[0]
        return row === undefined ? yield* budgetNotFound(budgetId) : fromRow(row)
      })

      const list = Effect.fn("Budgets.list")(function*(
        tenantId: string,
        options: { readonly includeArchived?: boolean | undefined } = {}
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<BudgetRow>(
            `SELECT ${budgetColumns} FROM tally.budgets b
              WHERE b.tenant_id = $1 AND ($2 OR b.archived_at IS NULL)
              ORDER BY b.created_at, b.id`,
            [tenantId, options.includeArchived === true]
          )
        )
        return rows.map(fromRow)
      })

      /** The budget's row, locked against admissions and other changes until the transaction ends. */
      const lockBudget = (tenantId: string, budgetId: string) =>
        Effect.gen(function*() {
          const rows = yield* sql.unsafe<BudgetRow>(
            `SELECT ${budgetColumns} FROM tally.budgets b WHERE b.tenant_id = $1 AND b.id = $2 FOR NO KEY UPDATE`,
            [tenantId, budgetId]
          )
          const row = rows[0]
          return row === undefined ? yield* budgetNotFound(budgetId) : fromRow(row)
        })

      const recordChange = (
        tenantId: string,
        budgetId: string,
        change: {
          readonly action: BudgetChange["action"]
          readonly actor: string
          readonly at: DateTime.Utc
          readonly fields: { readonly [field: string]: { readonly from: unknown; readonly to: unknown } }
        }
      ) =>
        sql.unsafe(
          `INSERT INTO tally.budget_changes (tenant_id, budget_id, action, actor, changed_at, changes)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
          [tenantId, budgetId, change.action, change.actor, toDate(change.at), JSON.stringify(change.fields)]
        )

      const update = Effect.fn("Budgets.update")(function*(
        tenantId: string,
        budgetId: string,
        patch: UpdateBudget,
        options: { readonly actor?: string | undefined } = {}
      ) {
        const wanted = checkPatch(patch)
        if (wanted instanceof InvalidBudget) return yield* wanted
        const fixedGiven = fixedFields.some((field) => patch[field] !== undefined)
        if (Object.keys(wanted).length === 0 && !fixedGiven) return yield* emptyPatch()
        if (!isUuid(budgetId)) return yield* budgetNotFound(budgetId)
        const now = yield* DateTime.now
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const current = yield* lockBudget(tenantId, budgetId)
            if (current.archivedAt !== null) return yield* budgetArchived(budgetId, current.archivedAt)
            if (patch.period !== undefined && patch.period !== current.period) {
              return yield* fixedField("period", current.period, patch.period)
            }
            if (patch.scope !== undefined) {
              const stored = JSON.stringify(normalizeScope(current.scope))
              const given = JSON.stringify(normalizeScope(patch.scope))
              if (stored !== given) return yield* fixedField("scope", stored, given)
            }
            if (patch.currency !== undefined && patch.currency !== current.currency) {
              return yield* fixedField("currency", current.currency, patch.currency)
            }
            if (Object.keys(wanted).length === 0) return yield* emptyPatch()
            const next: Budget = {
              ...current,
              name: wanted.name ?? current.name,
              amount: wanted.amount ?? current.amount,
              thresholds: wanted.thresholds ?? current.thresholds,
              action: wanted.action ?? current.action
            }
            const changed = updatableFields.filter((field) =>
              field === "amount"
                ? !next.amount.eq(current.amount)
                : field === "thresholds"
                ? !sameThresholds(next.thresholds, current.thresholds)
                : next[field] !== current[field]
            )
            if (changed.length === 0) return current
            const rows = yield* sql.unsafe<BudgetRow>(
              `UPDATE tally.budgets AS b SET name = $3, amount = $4::numeric, thresholds = $5::numeric[], action = $6
                WHERE b.tenant_id = $1 AND b.id = $2
                RETURNING ${budgetColumns}`,
              [
                tenantId,
                budgetId,
                next.name,
                Money.format(next.amount),
                `{${next.thresholds.map(Money.format).join(",")}}`,
                next.action
              ]
            )
            yield* recordChange(tenantId, budgetId, {
              action: "updated",
              actor: actorOf(options.actor),
              at: now,
              fields: Object.fromEntries(
                changed.map((field) => [field, { from: auditValue(current, field), to: auditValue(next, field) }])
              )
            })
            return fromRow(rows[0]!)
          })
        )
      })

      const archive = Effect.fn("Budgets.archive")(function*(
        tenantId: string,
        budgetId: string,
        options: { readonly actor?: string | undefined } = {}
      ) {
        if (!isUuid(budgetId)) return yield* budgetNotFound(budgetId)
        const now = yield* DateTime.now
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const current = yield* lockBudget(tenantId, budgetId)
            if (current.archivedAt !== null) return current
            const rows = yield* sql.unsafe<BudgetRow>(
              `UPDATE tally.budgets AS b SET archived_at = $3
                WHERE b.tenant_id = $1 AND b.id = $2
                RETURNING ${budgetColumns}`,
              [tenantId, budgetId, toDate(now)]
            )
            yield* recordChange(tenantId, budgetId, {
              action: "archived",
              actor: actorOf(options.actor),
              at: now,
              fields: { archivedAt: { from: null, to: iso(now) } }
            })
            return fromRow(rows[0]!)
          })
        )
      })

      const changes = Effect.fn("Budgets.changes")(function*(
        tenantId: string,
        options: { readonly budgetIds?: ReadonlyArray<string> | undefined } = {}
      ) {
        const ids = options.budgetIds?.filter(isUuid)
        if (ids !== undefined && ids.length === 0) return []
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<ChangeRow>(
            `SELECT c.id::text AS id, c.budget_id, c.action, c.actor, c.changed_at, c.changes FROM tally.budget_changes c
              WHERE c.tenant_id = $1 AND ($2::jsonb IS NULL OR c.budget_id::text IN (SELECT jsonb_array_elements_text($2::jsonb)))
              ORDER BY c.id`,
            [tenantId, ids === undefined ? null : JSON.stringify(ids)]
          )
        )
        return rows.map(changeFromRow)
      })

      return Budgets.of({ create, get, list, update, archive, changes })
    })
  )
}
