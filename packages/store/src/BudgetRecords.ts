/**
 * Budget records: the `budgets` rows and their change audit (`budget_changes`, append-only).
 *
 * What a budget may be, what a patch or archiving does to it and what the audit records of it are
 * `Budget`'s rules (`@tally/core`); this repository stores the outcome and reads it back, mapping
 * both tables' rows in one place. Every method runs in `withTenant`, so the engine composes several
 * (read and lock, then write) into one transaction by opening the tenant's scope around them.
 */
import { Budget, Money } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { isUuid } from "./internal/Uuid.ts"

// Rows ---------------------------------------------------------------------------------------

interface BudgetRow {
  readonly id: string
  readonly tenant_id: string
  readonly name: string
  readonly scope: Budget.Scope
  readonly period: Budget.PeriodKind
  readonly window_seconds: number | null
  readonly unit: Budget.Unit
  readonly token_kind: Budget.TokenKind | null
  readonly amount: string
  readonly currency: string
  readonly thresholds: ReadonlyArray<string>
  readonly action: Budget.Action
  readonly created_at: Date
  readonly archived_at: Date | null
}

const budgetColumns = "b.id, b.tenant_id, b.name, b.scope, b.period, b.window_seconds, b.unit, b.token_kind, b.amount::text AS amount, b.currency, " +
  "b.thresholds::text[] AS thresholds, b.action, b.created_at, b.archived_at"

const fromRow = (row: BudgetRow): Budget.Budget => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  scope: row.scope,
  period: row.period,
  windowSeconds: row.window_seconds,
  unit: row.unit,
  tokenKind: row.token_kind,
  amount: new Money.Decimal(row.amount),
  currency: row.currency,
  thresholds: row.thresholds.map((t) => new Money.Decimal(t)).sort((a, b) => a.comparedTo(b)),
  action: row.action,
  createdAt: DateTime.fromDateUnsafe(row.created_at),
  archivedAt: row.archived_at === null ? null : DateTime.fromDateUnsafe(row.archived_at)
})

/** A `numeric[]` literal of the thresholds. */
const thresholdsLiteral = (thresholds: ReadonlyArray<Money.Decimal>): string => `{${thresholds.map(Money.format).join(",")}}`

interface ChangeRow {
  readonly id: string
  readonly budget_id: string
  readonly action: "updated" | "archived"
  readonly actor: string
  readonly changed_at: Date
  readonly changes: { readonly [field: string]: { readonly from: unknown; readonly to: unknown } }
}

const changeFromRow = (row: ChangeRow): Budget.BudgetChange => ({
  id: row.id,
  budgetId: row.budget_id,
  action: row.action,
  actor: row.actor,
  at: DateTime.fromDateUnsafe(row.changed_at),
  fields: Object.entries(row.changes)
    .sort(([a], [b]) => Budget.changeFieldOrder.indexOf(a) - Budget.changeFieldOrder.indexOf(b))
    .map(([field, change]) => ({ field, from: change.from, to: change.to }))
})

/** The `changes` column of a change: each field's old and new value by field name. */
const changesJson = (change: Budget.NewBudgetChange): string =>
  JSON.stringify(Object.fromEntries(change.fields.map((f) => [f.field, { from: f.from, to: f.to }])))

const toDate = (dt: DateTime.Utc): Date => new Date(DateTime.toEpochMillis(dt))

// The repository -------------------------------------------------------------------------------

export interface BudgetRecordsService {
  /** Stores a checked budget (`Budget.checkCreate`); returns it as stored, with its id. */
  readonly insert: (tenantId: string, budget: Budget.NewBudget) => Effect.Effect<Budget.Budget, SqlError>
  /**
   * One budget, archived or not. With `lock`, its row is locked against admissions and other
   * changes until the enclosing transaction ends (`FOR NO KEY UPDATE`, as `covering` locks).
   */
  readonly get: (
    tenantId: string,
    budgetId: string,
    options?: { readonly lock?: boolean | undefined }
  ) => Effect.Effect<Budget.Budget, Budget.BudgetNotFound | SqlError>
  /** Active budgets in creation order; archived ones too when asked. */
  readonly list: (
    tenantId: string,
    options?: { readonly includeArchived?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<Budget.Budget>, SqlError>
  /** Active budgets in id order: what evaluation looks at. */
  readonly active: (tenantId: string) => Effect.Effect<ReadonlyArray<Budget.Budget>, SqlError>
  /**
   * The active budgets that cover a call, in id order. With `lock`, they are locked in that order
   * (so concurrent admissions never deadlock): `FOR NO KEY UPDATE` serializes admissions against
   * one budget while leaving the row's key free for the foreign keys of events and holds.
   */
  readonly covering: (
    tenantId: string,
    call: Budget.CallScope,
    options: { readonly lock: boolean }
  ) => Effect.Effect<ReadonlyArray<Budget.Budget>, SqlError>
  /**
   * Writes a budget's name, amount, thresholds and action as `budget` has them and records
   * `change` in its audit (`Budget.applyPatch` gives both), in one transaction.
   */
  readonly update: (
    tenantId: string,
    budget: Budget.Budget,
    change: Budget.NewBudgetChange
  ) => Effect.Effect<Budget.Budget, Budget.BudgetNotFound | SqlError>
  /** Archives a budget at `change.at` and records `change` (`Budget.archive`), in one transaction. */
  readonly archive: (
    tenantId: string,
    budgetId: string,
    change: Budget.NewBudgetChange
  ) => Effect.Effect<Budget.Budget, Budget.BudgetNotFound | SqlError>
  /** Recorded changes (updates, archiving), oldest first, of some budgets or of all. */
  readonly changes: (
    tenantId: string,
    options?: { readonly budgetIds?: ReadonlyArray<string> | undefined }
  ) => Effect.Effect<ReadonlyArray<Budget.BudgetChange>, SqlError>
}

export class BudgetRecords extends Context.Service<BudgetRecords, BudgetRecordsService>()("@tally/store/BudgetRecords") {
  static readonly layer: Layer.Layer<BudgetRecords, never, Database> = Layer.effect(
    BudgetRecords,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const insert = Effect.fn("BudgetRecords.insert")(function*(tenantId: string, budget: Budget.NewBudget) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<BudgetRow>(
            `INSERT INTO tally.budgets AS b
                (tenant_id, name, scope, period, amount, currency, thresholds, action, unit, token_kind, window_seconds)
              VALUES ($1, $2, $3::jsonb, $4, $5::numeric, $6, $7::numeric[], $8, $9, $10, $11)
              RETURNING ${budgetColumns}`,
            [
              tenantId,
              budget.name,
              JSON.stringify(budget.scope),
              budget.period,
              Money.format(budget.amount),
              budget.currency,
              thresholdsLiteral(budget.thresholds),
              budget.action,
              budget.unit,
              budget.tokenKind,
              budget.windowSeconds
            ]
          )
        )
        return fromRow(rows[0]!)
      })

      const get = Effect.fn("BudgetRecords.get")(function*(
        tenantId: string,
        budgetId: string,
        options: { readonly lock?: boolean | undefined } = {}
      ) {
        if (!isUuid(budgetId)) return yield* Budget.notFound(budgetId)
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<BudgetRow>(
            `SELECT ${budgetColumns} FROM tally.budgets b WHERE b.tenant_id = $1 AND b.id = $2${
              options.lock === true ? " FOR NO KEY UPDATE" : ""
            }`,
            [tenantId, budgetId]
          )
        )
        const row = rows[0]
        return row === undefined ? yield* Budget.notFound(budgetId) : fromRow(row)
      })

      const list = Effect.fn("BudgetRecords.list")(function*(
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

      const active = Effect.fn("BudgetRecords.active")(function*(tenantId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<BudgetRow>(
            `SELECT ${budgetColumns} FROM tally.budgets b
              WHERE b.tenant_id = $1 AND b.archived_at IS NULL
              ORDER BY b.id`,
            [tenantId]
          )
        )
        return rows.map(fromRow)
      })

      const covering = Effect.fn("BudgetRecords.covering")(function*(
        tenantId: string,
        call: Budget.CallScope,
        options: { readonly lock: boolean }
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<BudgetRow>(
            `SELECT ${budgetColumns} FROM tally.budgets b
              WHERE b.tenant_id = $1 AND b.archived_at IS NULL AND b.scope <@ $2::jsonb
              ORDER BY b.id
              ${options.lock ? "FOR NO KEY UPDATE" : ""}`,
            [tenantId, JSON.stringify(Budget.normalizeScope(call))]
          )
        )
        return rows.map(fromRow)
      })

      const recordChange = (tenantId: string, budgetId: string, change: Budget.NewBudgetChange) =>
        sql.unsafe(
          `INSERT INTO tally.budget_changes (tenant_id, budget_id, action, actor, changed_at, changes)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
          [tenantId, budgetId, change.action, change.actor, toDate(change.at), changesJson(change)]
        )

      const update = Effect.fn("BudgetRecords.update")(function*(
        tenantId: string,
        budget: Budget.Budget,
        change: Budget.NewBudgetChange
      ) {
        if (!isUuid(budget.id)) return yield* Budget.notFound(budget.id)
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const rows = yield* sql.unsafe<BudgetRow>(
              `UPDATE tally.budgets AS b SET name = $3, amount = $4::numeric, thresholds = $5::numeric[], action = $6
                WHERE b.tenant_id = $1 AND b.id = $2
                RETURNING ${budgetColumns}`,
              [tenantId, budget.id, budget.name, Money.format(budget.amount), thresholdsLiteral(budget.thresholds), budget.action]
            )
            const row = rows[0]
            if (row === undefined) return yield* Budget.notFound(budget.id)
            yield* recordChange(tenantId, budget.id, change)
            return fromRow(row)
          })
        )
      })

      const archive = Effect.fn("BudgetRecords.archive")(function*(
        tenantId: string,
        budgetId: string,
        change: Budget.NewBudgetChange
      ) {
        if (!isUuid(budgetId)) return yield* Budget.notFound(budgetId)
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const rows = yield* sql.unsafe<BudgetRow>(
              `UPDATE tally.budgets AS b SET archived_at = $3
                WHERE b.tenant_id = $1 AND b.id = $2
                RETURNING ${budgetColumns}`,
              [tenantId, budgetId, toDate(change.at)]
            )
            const row = rows[0]
            if (row === undefined) return yield* Budget.notFound(budgetId)
            yield* recordChange(tenantId, budgetId, change)
            return fromRow(row)
          })
        )
      })

      const changes = Effect.fn("BudgetRecords.changes")(function*(
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

      return BudgetRecords.of({ insert, get, list, active, covering, update, archive, changes })
    })
  )
}
