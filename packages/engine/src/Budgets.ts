/**
 * Budgets: spend limits per scope and period, evaluated as usage batches commit.
 *
 * `evaluateAfterCommit` runs after a batch's transaction committed, with the calls it inserted.
 * It looks only at budgets whose scope covers one of those calls and only at the periods those
 * calls fall in, reads the spend of each (rollups for whole hours, the ledger for partial ones),
 * and records every threshold the spend has reached. A crossing is recorded once per (budget,
 * period, threshold) by a unique key, in the same statement as its outbox message, so several
 * workers evaluating at once, replays and sweeps all end in one event and one message.
 *
 * `evaluate` sweeps every active budget's current period: the catch-up for a process that died
 * between a batch's commit and its evaluation.
 */
import { Money, type UsageRecord } from "@tally/core"
import { Budgets as BudgetStore, Database, type Tenants } from "@tally/store"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type { SqlError } from "effect/sql/SqlError"
import * as BudgetPeriod from "./BudgetPeriod.ts"
import * as Forecast from "./Forecast.ts"

export type Budget = BudgetStore.Budget

/** What evaluation needs of an inserted call; a `UsageRecord` is one. */
export interface CommittedCall {
  readonly occurredAt: DateTime.Utc
  readonly model: string
  readonly labels: UsageRecord.Labels
}

export interface Evaluation {
  /** (budget, period) pairs whose spend was read. */
  readonly evaluated: number
  /** Crossings recorded by this evaluation (not those recorded before or by another worker). */
  readonly crossings: ReadonlyArray<BudgetStore.RecordedCrossing>
  /** Set when evaluation gave up; the next batch of the scope or a sweep records what was missed. */
  readonly error?: string | undefined
}

export interface BudgetStatus {
  readonly budget: Budget
  readonly window: BudgetPeriod.PeriodWindow
  readonly spent: Money.Decimal
  /** Held by live reservations of this period. */
  readonly reserved: Money.Decimal
  /** amount − spent − reserved; negative when over. */
  readonly remaining: Money.Decimal
  /** spent as a percentage of amount, 2 decimals. */
  readonly percent: Money.Decimal
  readonly crossed: ReadonlyArray<{ readonly threshold: Money.Decimal; readonly crossedAt: DateTime.Utc; readonly spent: Money.Decimal }>
  readonly calls: number
  readonly unpricedCalls: number
  readonly otherCurrencies: ReadonlyArray<{ readonly currency: string; readonly amount: Money.Decimal }>
  readonly forecast: Forecast.Forecast
}

export interface SuggestOptions {
  readonly scope?: BudgetStore.Scope | undefined
  readonly period: BudgetStore.Period
  /** 30 to 60; default 30. */
  readonly lookbackDays?: number | undefined
}

export interface SuggestedBudget {
  readonly scope: BudgetStore.Scope
  readonly period: BudgetStore.Period
  readonly currency: string
  readonly timeZone: string
  readonly lookback: { readonly from: DateTime.Utc; readonly to: DateTime.Utc }
  readonly daily: ReadonlyArray<{ readonly date: string; readonly spend: Money.Decimal }>
  readonly suggestion: Forecast.Suggestion
  readonly thresholds: ReadonlyArray<Money.Decimal>
}

export interface BudgetsService {
  readonly create: (
    tenantId: string,
    input: BudgetStore.CreateBudget
  ) => Effect.Effect<Budget, BudgetStore.InvalidBudget | Tenants.TenantNotFound | SqlError>
  readonly get: (tenantId: string, budgetId: string) => Effect.Effect<Budget, BudgetStore.BudgetNotFound | SqlError>
  readonly list: (
    tenantId: string,
    options?: { readonly includeArchived?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<Budget>, SqlError>
  /**
   * Changes name, amount, thresholds or action (period, scope and currency are fixed; see
   * `BudgetStore.UpdateBudget`), records who changed what in the budget's audit, and then
   * evaluates the budget's current period under its new terms: a lower amount or threshold that
   * spend has already reached is recorded and announced (outbox) at once. Crossings recorded
   * before stay; each threshold is still announced at most once per period. The evaluation never
   * fails the update (it has committed); a sweep records what it missed.
   */
  readonly update: (
    tenantId: string,
    budgetId: string,
    patch: BudgetStore.UpdateBudget,
    options?: { readonly actor?: string | undefined }
  ) => Effect.Effect<
    Budget,
    BudgetStore.InvalidBudget | BudgetStore.BudgetNotFound | BudgetStore.BudgetArchived | SqlError
  >
  readonly archive: (
    tenantId: string,
    budgetId: string,
    options?: { readonly actor?: string | undefined }
  ) => Effect.Effect<Budget, BudgetStore.BudgetNotFound | SqlError>
  /** Recorded changes (updates, archiving), oldest first, of some budgets or of all. */
  readonly changes: (
    tenantId: string,
    options?: { readonly budgetIds?: ReadonlyArray<string> | undefined }
  ) => Effect.Effect<ReadonlyArray<BudgetStore.BudgetChange>, SqlError>
  /**
   * Spend, reservations, crossings and forecast of the current period (the one containing `at`,
   * default now) of every active budget, or of one.
   */
  readonly status: (
    tenantId: string,
    options?: { readonly budgetId?: string | undefined; readonly at?: DateTime.Utc | undefined }
  ) => Effect.Effect<ReadonlyArray<BudgetStatus>, BudgetStore.BudgetNotFound | Tenants.TenantNotFound | SqlError>
  /** The hook Ingest calls after a batch committed, with the calls it inserted. Never fails. */
  readonly evaluateAfterCommit: (tenantId: string, calls: ReadonlyArray<CommittedCall>) => Effect.Effect<Evaluation>
  /** Sweeps every active budget's current period (the one containing `at`, default now). */
  readonly evaluate: (
    tenantId: string,
    options?: { readonly at?: DateTime.Utc | undefined }
  ) => Effect.Effect<Evaluation, Tenants.TenantNotFound | SqlError>
  /** A budget for a scope from its trailing spend; see Forecast. */
  readonly suggest: (
    tenantId: string,
    options: SuggestOptions
  ) => Effect.Effect<SuggestedBudget, BudgetStore.InvalidBudget | Tenants.TenantNotFound | SqlError>
}

const isRetryable = (error: SqlError): boolean =>
  error.reason._tag === "DeadlockError" || error.reason._tag === "SerializationError"

const retryTransient = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.retry({
      times: 5,
      schedule: Schedule.exponential("20 millis"),
      while: (error) => error._tag === "SqlError" && isRetryable(error as unknown as SqlError)
    })
  )

const callScope = (call: CommittedCall): BudgetStore.CallScope => ({
  project: call.labels.project,
  environment: call.labels.environment,
  feature: call.labels.feature,
  team: call.labels.team,
  customer: call.labels.customer,
  apiKeyId: call.labels.apiKeyId,
  model: call.model
})

/** JSON of a budget: decimals and instants as strings. */
export const budgetToJson = (budget: Budget) => ({
  id: budget.id,
  name: budget.name,
  scope: budget.scope,
  period: budget.period,
  amount: Money.format(budget.amount),
  currency: budget.currency,
  thresholds: budget.thresholds.map(Money.format),
  action: budget.action,
  createdAt: DateTime.formatIso(budget.createdAt),
  archivedAt: budget.archivedAt === null ? null : DateTime.formatIso(budget.archivedAt)
})

/** JSON of a recorded change: who, when, and each field's old and new value. */
export const changeToJson = (change: BudgetStore.BudgetChange) => ({
  budgetId: change.budgetId,
  action: change.action,
  actor: change.actor,
  at: DateTime.formatIso(change.at),
  fields: change.fields
})

export const forecastToJson = (forecast: Forecast.Forecast) => ({
  method: forecast.method,
  trailingDays: forecast.trailingDays,
  trailingSpend: Money.format(forecast.trailingSpend),
  dailyRate: Money.format(forecast.dailyRate),
  projectedSpend: Money.format(forecast.projectedSpend),
  projectedPercent: Money.format(forecast.projectedPercent),
  exceeds: forecast.exceeds
})

export const statusToJson = (status: BudgetStatus) => ({
  budget: budgetToJson(status.budget),
  period: BudgetPeriod.toJson(status.window),
  spent: Money.format(status.spent),
  reserved: Money.format(status.reserved),
  remaining: Money.format(status.remaining),
  percent: Money.format(status.percent),
  crossed: status.crossed.map((c) => ({
    threshold: Money.format(c.threshold),
    crossedAt: DateTime.formatIso(c.crossedAt),
    spent: Money.format(c.spent)
  })),
  calls: status.calls,
  unpricedCalls: status.unpricedCalls,
  otherCurrencies: status.otherCurrencies.map((o) => ({ currency: o.currency, amount: Money.format(o.amount) })),
  forecast: forecastToJson(status.forecast)
})

export const suggestionToJson = (s: SuggestedBudget) => ({
  scope: s.scope,
  period: s.period,
  currency: s.currency,
  timeZone: s.timeZone,
  lookback: {
    from: DateTime.formatIso(s.lookback.from),
    to: DateTime.formatIso(s.lookback.to),
    days: s.suggestion.lookbackDays
  },
  baseline: {
    total: Money.format(s.suggestion.baselineTotal),
    perDay: Money.format(s.suggestion.baselinePerDay),
    perPeriod: Money.format(s.suggestion.baselinePerPeriod),
    periodDays: s.suggestion.periodDays
  },
  suggested: s.suggestion.suggested === null
    ? null
    : {
      amount: Money.format(s.suggestion.suggested),
      low: Money.format(s.suggestion.low!),
      high: Money.format(s.suggestion.high!),
      factor: Money.format(Forecast.factors.suggested)
    },
  thresholds: s.thresholds.map(Money.format),
  daily: s.daily.map((d) => ({ date: d.date, spend: Money.format(d.spend) }))
})

/** The message a crossing sends: the budget, its period and where spend stands. */
const crossingPayload = (
  tenantId: string,
  budget: Budget,
  window: BudgetPeriod.PeriodWindow,
  threshold: Money.Decimal,
  spent: Money.Decimal
) => ({
  type: BudgetStore.crossingKind,
  tenantId,
  budget: budgetToJson(budget),
  period: BudgetPeriod.toJson(window),
  threshold: Money.format(threshold),
  spent: Money.format(spent),
  amount: Money.format(budget.amount),
  currency: budget.currency,
  percent: Money.format(Forecast.percent(spent, budget.amount))
})

/** Whether spend has reached `threshold` percent of `amount` (exact: spent × 100 ≥ amount × t). */
export const reached = (spent: Money.Decimal, amount: Money.Decimal, threshold: Money.Decimal): boolean =>
  spent.times(100).gte(amount.times(threshold))

export class Budgets extends Context.Service<Budgets, BudgetsService>()("@tally/engine/Budgets") {
  static readonly layer: Layer.Layer<Budgets, never, Database.Database | BudgetStore.Budgets> = Layer.effect(
    Budgets,
    Effect.gen(function*() {
      const db = yield* Database.Database
      const repo = yield* BudgetStore.Budgets
      const sql = db.sql

      /**
       * Reads spend for (budget, window) pairs and records every threshold reached, in the
       * caller's tenant transaction.
       */
      const evaluatePairs = (
        tenantId: string,
        pairs: ReadonlyArray<{ readonly budget: Budget; readonly window: BudgetPeriod.PeriodWindow }>,
        now: DateTime.Utc
      ) =>
        Effect.gen(function*() {
          if (pairs.length === 0) return { evaluated: 0, crossings: [] } satisfies Evaluation
          const byCurrency = new Map<string, Array<{ budget: Budget; window: BudgetPeriod.PeriodWindow; key: string }>>()
          for (const [i, pair] of pairs.entries()) {
            const list = byCurrency.get(pair.budget.currency) ?? []
            list.push({ ...pair, key: String(i) })
            byCurrency.set(pair.budget.currency, list)
          }
          const candidates: Array<BudgetStore.Crossing> = []
          for (const [currency, list] of byCurrency) {
            const spend = yield* BudgetStore.spend(
              sql,
              tenantId,
              currency,
              list.map((p) => ({ key: p.key, scope: p.budget.scope, from: p.window.start, to: p.window.end }))
            )
            for (const p of list) {
              const spent = spend.get(p.key)!.amount
              for (const threshold of p.budget.thresholds) {
                if (!reached(spent, p.budget.amount, threshold)) break
                candidates.push({
                  budgetId: p.budget.id,
                  periodStart: p.window.start,
                  periodEnd: p.window.end,
                  threshold,
                  spent,
                  amount: p.budget.amount,
                  currency,
                  payload: crossingPayload(tenantId, p.budget, p.window, threshold, spent)
                })
              }
            }
          }
          const crossings = yield* BudgetStore.recordCrossings(sql, tenantId, candidates, now)
          return { evaluated: pairs.length, crossings } satisfies Evaluation
        })

      const evaluateCalls = (tenantId: string, calls: ReadonlyArray<CommittedCall>, now: DateTime.Utc) =>
        db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const { budgets, tenant } = yield* BudgetStore.activeBudgets(sql, tenantId)
            if (budgets.length === 0) return { evaluated: 0, crossings: [] } satisfies Evaluation
            const pairs = new Map<string, { budget: Budget; window: BudgetPeriod.PeriodWindow }>()
            // Calls of one batch sit close in time: reuse a period already found for a call inside it.
            const windows = new Map<BudgetStore.Period, Array<BudgetPeriod.PeriodWindow>>()
            const windowOf = (period: BudgetStore.Period, at: DateTime.Utc) => {
              const known = windows.get(period) ?? []
              const found = known.find((w) => BudgetPeriod.contains(w, at))
              if (found !== undefined) return found
              const window = BudgetPeriod.containing(period, at, tenant.timeZone)
              known.push(window)
              windows.set(period, known)
              return window
            }
            for (const call of calls) {
              const scope = callScope(call)
              for (const budget of budgets) {
                if (!BudgetStore.covers(budget.scope, scope)) continue
                const window = windowOf(budget.period, call.occurredAt)
                pairs.set(`${budget.id}@${DateTime.toEpochMillis(window.start)}`, { budget, window })
              }
            }
            return yield* evaluatePairs(tenantId, [...pairs.values()], now)
          })
        )

      const evaluateAfterCommit = (tenantId: string, calls: ReadonlyArray<CommittedCall>): Effect.Effect<Evaluation> =>
        calls.length === 0
          ? Effect.succeed({ evaluated: 0, crossings: [] })
          : DateTime.now.pipe(
            Effect.flatMap((now) => retryTransient(evaluateCalls(tenantId, calls, now))),
            Effect.catch((error) =>
              Effect.logWarning("budget evaluation after commit failed; a later batch or sweep records it", error).pipe(
                Effect.as<Evaluation>({ evaluated: 0, crossings: [], error: error.message })
              )
            ),
            Effect.withSpan("Budgets.evaluateAfterCommit", { attributes: { tenantId, calls: calls.length } })
          )

      /** One budget's current period, with the budget as stored now (a later change wins). */
      const evaluateBudget = (tenantId: string, budgetId: string): Effect.Effect<Evaluation> =>
        DateTime.now.pipe(
          Effect.flatMap((now) =>
            retryTransient(db.withTenant(
              tenantId,
              Effect.gen(function*() {
                const { budgets, tenant } = yield* BudgetStore.activeBudgets(sql, tenantId)
                const budget = budgets.find((b) => b.id === budgetId)
                if (budget === undefined) return { evaluated: 0, crossings: [] } satisfies Evaluation
                return yield* evaluatePairs(tenantId, [{ budget, window: BudgetPeriod.containing(budget.period, now, tenant.timeZone) }], now)
              })
            ))
          ),
          Effect.catch((error) =>
            Effect.logWarning("budget evaluation after an update failed; the sweep records it", error).pipe(
              Effect.as<Evaluation>({ evaluated: 0, crossings: [], error: error.message })
            )
          ),
          Effect.withSpan("Budgets.evaluateBudget", { attributes: { tenantId, budgetId } })
        )

      const update = Effect.fn("Budgets.update")(function*(
        tenantId: string,
        budgetId: string,
        patch: BudgetStore.UpdateBudget,
        options: { readonly actor?: string | undefined } = {}
      ) {
        const budget = yield* repo.update(tenantId, budgetId, patch, options)
        yield* evaluateBudget(tenantId, budget.id)
        return budget
      })

      const evaluate = Effect.fn("Budgets.evaluate")(function*(
        tenantId: string,
        options: { readonly at?: DateTime.Utc | undefined } = {}
      ) {
        const now = yield* DateTime.now
        const at = options.at ?? now
        return yield* retryTransient(db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const { budgets, tenant } = yield* BudgetStore.activeBudgets(sql, tenantId)
            const pairs = budgets.map((budget) => ({
              budget,
              window: BudgetPeriod.containing(budget.period, at, tenant.timeZone)
            }))
            return yield* evaluatePairs(tenantId, pairs, now)
          })
        ))
      })

      const status = Effect.fn("Budgets.status")(function*(
        tenantId: string,
        options: { readonly budgetId?: string | undefined; readonly at?: DateTime.Utc | undefined } = {}
      ) {
        const now = yield* DateTime.now
        const at = options.at ?? now
        const atMillis = DateTime.toEpochMillis(at)
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const active = yield* BudgetStore.activeBudgets(sql, tenantId)
            let budgets = active.budgets
            if (options.budgetId !== undefined) {
              const one = yield* repo.get(tenantId, options.budgetId)
              budgets = [one]
            }
            const windows = budgets.map((b) => BudgetPeriod.containing(b.period, at, active.tenant.timeZone))
            const trailingFrom = DateTime.makeUnsafe(atMillis - Forecast.trailingDays * 86_400_000)
            const result: Array<BudgetStatus> = []
            const byCurrency = new Map<string, Array<number>>()
            budgets.forEach((b, i) => byCurrency.set(b.currency, [...(byCurrency.get(b.currency) ?? []), i]))
            const spendOf = new Map<number, { period: BudgetStore.Spend; trailing: BudgetStore.Spend }>()
            for (const [currency, indexes] of byCurrency) {
              const spend = yield* BudgetStore.spend(sql, tenantId, currency, [
                ...indexes.map((i) => ({ key: `p${i}`, scope: budgets[i]!.scope, from: windows[i]!.start, to: windows[i]!.end })),
                ...indexes.map((i) => ({ key: `t${i}`, scope: budgets[i]!.scope, from: trailingFrom, to: at }))
              ])
              for (const i of indexes) spendOf.set(i, { period: spend.get(`p${i}`)!, trailing: spend.get(`t${i}`)! })
            }
            const holds = yield* BudgetStore.held(
              sql,
              tenantId,
              budgets.map((b, i) => ({ budgetId: b.id, periodStart: windows[i]!.start })),
              now
            )
            const events = budgets.length === 0
              ? []
              : yield* BudgetStore.events(sql, tenantId, {
                budgetIds: budgets.map((b) => b.id),
                periodStartFrom: windows.reduce((min, w) => DateTime.min(min, w.start), windows[0]!.start)
              })
            for (const [i, budget] of budgets.entries()) {
              const window = windows[i]!
              const { period, trailing } = spendOf.get(i)!
              const reserved = holds.get(budget.id) ?? Money.ZERO
              const startMillis = DateTime.toEpochMillis(window.start)
              result.push({
                budget,
                window,
                spent: period.amount,
                reserved,
                remaining: budget.amount.minus(period.amount).minus(reserved),
                percent: Forecast.percent(period.amount, budget.amount),
                crossed: events
                  .filter((e) => e.budgetId === budget.id && DateTime.toEpochMillis(e.periodStart) === startMillis)
                  .map((e) => ({ threshold: e.threshold, crossedAt: e.crossedAt, spent: e.spent })),
                calls: period.calls,
                unpricedCalls: period.unpricedCalls,
                otherCurrencies: period.otherCurrencies,
                forecast: Forecast.linear({
                  spent: period.amount,
                  amount: budget.amount,
                  trailingSpend: trailing.amount,
                  trailingMillis: Forecast.trailingDays * 86_400_000,
                  now: atMillis,
                  periodEnd: DateTime.toEpochMillis(window.end)
                })
              })
            }
            return result
          })
        )
      })

      const suggest = Effect.fn("Budgets.suggest")(function*(tenantId: string, options: SuggestOptions) {
        const lookbackDays = options.lookbackDays ?? Forecast.minLookbackDays
        if (
          !Number.isInteger(lookbackDays) || lookbackDays < Forecast.minLookbackDays ||
          lookbackDays > Forecast.maxLookbackDays
        ) {
          return yield* new BudgetStore.InvalidBudget({
            field: "lookbackDays",
            message: `lookbackDays: expected a whole number of days from ${Forecast.minLookbackDays} to ${Forecast.maxLookbackDays}, got ${lookbackDays}`
          })
        }
        const now = yield* DateTime.now
        const scope = BudgetStore.normalizeScope(options.scope)
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const { tenant } = yield* BudgetStore.activeBudgets(sql, tenantId)
            // Complete local days only: the window ends where today began.
            const days: Array<BudgetPeriod.PeriodWindow> = []
            for (let back = lookbackDays; back >= 1; back--) {
              days.push(BudgetPeriod.containing("day", BudgetPeriod.localDayStart(now, tenant.timeZone, back), tenant.timeZone))
            }
            const spend = yield* BudgetStore.spend(
              sql,
              tenantId,
              tenant.currency,
              days.map((d) => ({ key: d.label, scope, from: d.start, to: d.end }))
            )
            const daily = days.map((d) => ({ date: d.label, spend: spend.get(d.label)!.amount }))
            const total = Money.sum(daily.map((d) => d.spend))
            const current = BudgetPeriod.containing(options.period, now, tenant.timeZone)
            return {
              scope,
              period: options.period,
              currency: tenant.currency,
              timeZone: tenant.timeZone,
              lookback: { from: days[0]!.start, to: days[days.length - 1]!.end },
              daily,
              suggestion: Forecast.suggest({
                baselineTotal: total,
                lookbackDays,
                periodDays: BudgetPeriod.calendarDays(current),
                currency: tenant.currency
              }),
              thresholds: BudgetStore.defaultThresholds
            } satisfies SuggestedBudget
          })
        )
      })

      return Budgets.of({
        create: repo.create,
        get: repo.get,
        list: repo.list,
        update,
        archive: repo.archive,
        changes: repo.changes,
        status,
        evaluateAfterCommit,
        evaluate,
        suggest
      })
    })
  )
}

/** The engine's budget services over a database: the store repository and this service. */
export const layerWith: Layer.Layer<Budgets | BudgetStore.Budgets, never, Database.Database> = Budgets.layer.pipe(
  Layer.provideMerge(BudgetStore.Budgets.layer)
)
