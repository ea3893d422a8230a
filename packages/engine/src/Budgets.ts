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
import { Budget, BudgetPeriod, Crossing, Forecast, Fx, Money, type Tenant, type UsageRecord } from "@tally/core"
import { BudgetCrossings, BudgetRecords, BudgetSpend, Database, ExchangeRates, Reservations, Tenants } from "@tally/store"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type { SqlError } from "effect/sql/SqlError"
import * as GovernanceCache from "./GovernanceCache.ts"

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
  readonly crossings: ReadonlyArray<Crossing.RecordedCrossing>
  /** Set when evaluation gave up; the next batch of the scope or a sweep records what was missed. */
  readonly error?: string | undefined
}

export interface BudgetStatus {
  readonly budget: Budget.Budget
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
  /** Calls in scope priced in part: their priced lines are in `spent`, their unpriced components are not. */
  readonly partialCalls: number
  /**
   * Spend in scope in other currencies, as recorded (the originals, per currency). For a cost
   * budget the part of it with a rate is converted and counted in `spent` (see `converted`).
   */
  readonly otherCurrencies: ReadonlyArray<{ readonly currency: string; readonly amount: Money.Decimal }>
  /** Spend in the budget's own currency (what `spent` was before conversion). */
  readonly spentInCurrency: Money.Decimal
  /**
   * Other-currency spend of a cost budget converted into its currency, per UTC day and currency,
   * at the day's rate recorded last at or before the evaluation (`Fx.pick`); counted in `spent`.
   */
  readonly converted: ReadonlyArray<Fx.ConvertedDay>
  /** Other-currency spend of a cost budget without a rate for its day: not counted in `spent`. */
  readonly notConverted: ReadonlyArray<{ readonly date: string; readonly currency: string; readonly amount: Money.Decimal }>
  readonly forecast: Forecast.Forecast
}

export interface SuggestOptions {
  readonly scope?: Budget.Scope | undefined
  readonly period: Budget.Period
  /** 30 to 60; default 30. */
  readonly lookbackDays?: number | undefined
}

export interface SuggestedBudget {
  readonly scope: Budget.Scope
  readonly period: Budget.Period
  readonly currency: string
  readonly timeZone: string
  readonly lookback: { readonly from: DateTime.Utc; readonly to: DateTime.Utc }
  readonly daily: ReadonlyArray<{ readonly date: string; readonly spend: Money.Decimal }>
  readonly suggestion: Forecast.Suggestion
  readonly thresholds: ReadonlyArray<Money.Decimal>
}

export interface BudgetsService {
  /** Checks a new budget (`Budget.checkCreate`) against the tenant's currency and stores it. */
  readonly create: (
    tenantId: string,
    input: Budget.CreateBudget
  ) => Effect.Effect<Budget.Budget, Budget.InvalidBudget | Tenant.TenantNotFound | SqlError>
  readonly get: (tenantId: string, budgetId: string) => Effect.Effect<Budget.Budget, Budget.BudgetNotFound | SqlError>
  readonly list: (
    tenantId: string,
    options?: { readonly includeArchived?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<Budget.Budget>, SqlError>
  /**
   * Changes name, amount, thresholds or action (period, scope and currency are fixed; see
   * `Budget.UpdateBudget`), records who changed what in the budget's audit, and then
   * evaluates the budget's current period under its new terms: a lower amount or threshold that
   * spend has already reached is recorded and announced (outbox) at once. Crossings recorded
   * before stay; each threshold is still announced at most once per period. The evaluation never
   * fails the update (it has committed); a sweep records what it missed.
   */
  readonly update: (
    tenantId: string,
    budgetId: string,
    patch: Budget.UpdateBudget,
    options?: { readonly actor?: string | undefined }
  ) => Effect.Effect<
    Budget.Budget,
    Budget.InvalidBudget | Budget.BudgetNotFound | Budget.BudgetArchived | SqlError
  >
  /** Stops a budget from being evaluated or enforced; its events stay. Archiving twice changes nothing. */
  readonly archive: (
    tenantId: string,
    budgetId: string,
    options?: { readonly actor?: string | undefined }
  ) => Effect.Effect<Budget.Budget, Budget.BudgetNotFound | SqlError>
  /** Recorded changes (updates, archiving), oldest first, of some budgets or of all. */
  readonly changes: (
    tenantId: string,
    options?: { readonly budgetIds?: ReadonlyArray<string> | undefined }
  ) => Effect.Effect<ReadonlyArray<Budget.BudgetChange>, SqlError>
  /**
   * Spend, reservations, crossings and forecast of the current period (the one containing `at`,
   * default now) of every active budget, or of one.
   */
  readonly status: (
    tenantId: string,
    options?: { readonly budgetId?: string | undefined; readonly at?: DateTime.Utc | undefined }
  ) => Effect.Effect<ReadonlyArray<BudgetStatus>, Budget.BudgetNotFound | Tenant.TenantNotFound | SqlError>
  /** The hook Ingest calls after a batch committed, with the calls it inserted. Never fails. */
  readonly evaluateAfterCommit: (tenantId: string, calls: ReadonlyArray<CommittedCall>) => Effect.Effect<Evaluation>
  /** Sweeps every active budget's current period (the one containing `at`, default now). */
  readonly evaluate: (
    tenantId: string,
    options?: { readonly at?: DateTime.Utc | undefined }
  ) => Effect.Effect<Evaluation, Tenant.TenantNotFound | SqlError>
  /** A budget for a scope from its trailing spend; see Forecast. */
  readonly suggest: (
    tenantId: string,
    options: SuggestOptions
  ) => Effect.Effect<SuggestedBudget, Budget.InvalidBudget | Tenant.TenantNotFound | SqlError>
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

/** JSON of a budget: decimals and instants as strings. */
export const budgetToJson = (budget: Budget.Budget) => ({
  id: budget.id,
  name: budget.name,
  scope: budget.scope,
  period: budget.period,
  ...(budget.windowSeconds === null ? {} : { windowSeconds: budget.windowSeconds }),
  unit: budget.unit,
  ...(budget.tokenKind === null ? {} : { tokenKind: budget.tokenKind }),
  amount: Money.format(budget.amount),
  currency: budget.currency,
  thresholds: budget.thresholds.map(Money.format),
  action: budget.action,
  createdAt: DateTime.formatIso(budget.createdAt),
  archivedAt: budget.archivedAt === null ? null : DateTime.formatIso(budget.archivedAt)
})

/** JSON of a recorded change: who, when, and each field's old and new value. */
export const changeToJson = (change: Budget.BudgetChange) => ({
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
  partialCalls: status.partialCalls,
  otherCurrencies: status.otherCurrencies.map((o) => ({ currency: o.currency, amount: Money.format(o.amount) })),
  spentInCurrency: Money.format(status.spentInCurrency),
  converted: status.converted.map((d) => ({
    date: d.date,
    currency: d.currency,
    amount: Money.format(d.amount),
    rate: d.rate === undefined ? null : Money.format(d.rate.rate),
    rateId: d.rate?.id ?? null,
    converted: Money.format(d.converted)
  })),
  notConverted: status.notConverted.map((d) => ({ date: d.date, currency: d.currency, amount: Money.format(d.amount) })),
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
  budget: Budget.Budget,
  window: BudgetPeriod.PeriodWindow,
  threshold: Money.Decimal,
  spent: Money.Decimal
) => ({
  type: Crossing.kind,
  tenantId,
  budget: budgetToJson(budget),
  period: BudgetPeriod.toJson(window),
  threshold: Money.format(threshold),
  spent: Money.format(spent),
  amount: Money.format(budget.amount),
  currency: budget.currency,
  unit: Budget.unitLabel(budget),
  percent: Money.format(Forecast.percent(spent, budget.amount))
})

/** A window's spend with its other-currency spend converted at each day's rate. */
interface CountedSpend {
  readonly spend: BudgetSpend.Spend
  readonly conversion: Fx.PartialConversion
}

/**
 * A cost budget counts spend in other currencies converted into its own at each UTC day's rate as
 * of `asOf`; a day without a rate stays out (listed as not converted). Request and token budgets
 * count no money, so nothing is converted for them.
 */
const countSpend = (
  budget: Budget.Budget,
  spend: BudgetSpend.Spend,
  rates: ReadonlyArray<Fx.Rate>,
  asOf: string
): CountedSpend => {
  if (budget.unit !== "cost" || spend.otherCurrencyDays.length === 0) {
    return { spend, conversion: { converted: [], notConverted: [], total: Money.ZERO } }
  }
  const conversion = Fx.convertAvailable(spend.otherCurrencyDays, budget.currency, rates, asOf)
  return { spend: { ...spend, amount: spend.amount.plus(conversion.total) }, conversion }
}

/** UTC days (`YYYY-MM-DD`) spanned by some windows, for reading the rates they may need. */
const daySpan = (windows: ReadonlyArray<{ readonly from: DateTime.Utc; readonly to: DateTime.Utc }>) => ({
  from: windows.reduce((min, w) => (DateTime.formatIso(w.from) < min ? DateTime.formatIso(w.from) : min), "9999").slice(0, 10),
  to: windows.reduce((max, w) => (DateTime.formatIso(w.to) > max ? DateTime.formatIso(w.to) : max), "0000").slice(0, 10)
})

export class Budgets extends Context.Service<Budgets, BudgetsService>()("@tally/engine/Budgets") {
  static readonly layer: Layer.Layer<
    Budgets,
    never,
    | Database.Database
    | Tenants.Tenants
    | BudgetRecords.BudgetRecords
    | BudgetSpend.BudgetSpend
    | BudgetCrossings.BudgetCrossings
    | Reservations.Reservations
  > = Layer.effect(
    Budgets,
    Effect.gen(function*() {
      const db = yield* Database.Database
      const tenants = yield* Tenants.Tenants
      const records = yield* BudgetRecords.BudgetRecords
      const spending = yield* BudgetSpend.BudgetSpend
      const crossings = yield* BudgetCrossings.BudgetCrossings
      const reservations = yield* Reservations.Reservations
      const exchangeRates = yield* ExchangeRates.ExchangeRates

      /** Rates into `currency` for the days of `windows`; none read when no window spent in another currency. */
      const ratesFor = (
        tenantId: string,
        currency: string,
        windows: ReadonlyArray<{ readonly from: DateTime.Utc; readonly to: DateTime.Utc }>,
        spend: ReadonlyMap<string, BudgetSpend.Spend>
      ) =>
        [...spend.values()].some((s) => s.otherCurrencyDays.length > 0)
          ? exchangeRates.list(tenantId, { quote: currency, ...daySpan(windows) })
          : Effect.succeed<ReadonlyArray<Fx.Rate>>([])

      /**
       * Reads spend for (budget, window) pairs and records every threshold reached, in the
       * caller's tenant transaction.
       */
      const evaluatePairs = (
        tenantId: string,
        pairs: ReadonlyArray<{ readonly budget: Budget.Budget; readonly window: BudgetPeriod.PeriodWindow }>,
        now: DateTime.Utc
      ) =>
        Effect.gen(function*() {
          if (pairs.length === 0) return { evaluated: 0, crossings: [] } satisfies Evaluation
          const byCurrency = new Map<string, Array<{ budget: Budget.Budget; window: BudgetPeriod.PeriodWindow; key: string }>>()
          for (const [i, pair] of pairs.entries()) {
            const list = byCurrency.get(pair.budget.currency) ?? []
            list.push({ ...pair, key: String(i) })
            byCurrency.set(pair.budget.currency, list)
          }
          const candidates: Array<Crossing.Crossing> = []
          const asOf = DateTime.formatIso(now)
          for (const [currency, list] of byCurrency) {
            const windows = list.map((p) => ({ key: p.key, scope: p.budget.scope, from: p.window.start, to: p.window.end }))
            const spend = yield* spending.spend(tenantId, currency, windows)
            const rates = yield* ratesFor(tenantId, currency, windows, spend)
            for (const p of list) {
              const spent = Budget.measure(p.budget, countSpend(p.budget, spend.get(p.key)!, rates, asOf).spend)
              for (const threshold of Crossing.reachedThresholds(p.budget.thresholds, p.budget.amount, spent)) {
                candidates.push({
                  budgetId: p.budget.id,
                  periodStart: p.window.crossingStart,
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
          const recorded = yield* crossings.record(tenantId, candidates, now)
          return { evaluated: pairs.length, crossings: recorded } satisfies Evaluation
        })

      /** The tenant's zone and currency and its active budgets, in the caller's transaction. */
      const activeBudgets = (tenantId: string) =>
        Effect.gen(function*() {
          const tenant = yield* tenants.get(tenantId)
          const budgets = yield* records.active(tenantId)
          return { tenant, budgets }
        })

      const evaluateCalls = (tenantId: string, calls: ReadonlyArray<CommittedCall>, now: DateTime.Utc) =>
        db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const { budgets, tenant } = yield* activeBudgets(tenantId)
            if (budgets.length === 0) return { evaluated: 0, crossings: [] } satisfies Evaluation
            const pairs = new Map<string, { budget: Budget.Budget; window: BudgetPeriod.PeriodWindow }>()
            // Calls of one batch sit close in time: reuse a period already found for a call inside it.
            const windows = new Map<Budget.Period, Array<BudgetPeriod.PeriodWindow>>()
            const windowOf = (period: Budget.Period, at: DateTime.Utc) => {
              const known = windows.get(period) ?? []
              const found = known.find((w) => BudgetPeriod.contains(w, at))
              if (found !== undefined) return found
              const window = BudgetPeriod.containing(period, at, tenant.timeZone)
              known.push(window)
              windows.set(period, known)
              return window
            }
            for (const call of calls) {
              const scope = Budget.callScope(call.labels, call.model)
              for (const budget of budgets) {
                if (!Budget.covers(budget.scope, scope)) continue
                if (budget.period === "rolling") {
                  // A rolling window is judged as it stands now; a call older than it no longer counts.
                  const window = BudgetPeriod.ofBudget(budget, now, tenant.timeZone)
                  if (DateTime.toEpochMillis(call.occurredAt) < DateTime.toEpochMillis(window.start)) continue
                  pairs.set(`${budget.id}@rolling`, { budget, window })
                  continue
                }
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
                const { budgets, tenant } = yield* activeBudgets(tenantId)
                const budget = budgets.find((b) => b.id === budgetId)
                if (budget === undefined) return { evaluated: 0, crossings: [] } satisfies Evaluation
                return yield* evaluatePairs(tenantId, [{ budget, window: BudgetPeriod.ofBudget(budget, now, tenant.timeZone) }], now)
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

      const create = Effect.fn("Budgets.create")(function*(tenantId: string, input: Budget.CreateBudget) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const tenant = yield* tenants.get(tenantId)
            const checked = Budget.checkCreate(input, tenant.currency)
            if (checked instanceof Budget.InvalidBudget) return yield* checked
            return yield* records.insert(tenantId, checked)
          })
        ).pipe(Effect.tap(() => GovernanceCache.invalidate(tenantId)))
      })

      const update = Effect.fn("Budgets.update")(function*(
        tenantId: string,
        budgetId: string,
        patch: Budget.UpdateBudget,
        options: { readonly actor?: string | undefined } = {}
      ) {
        const checked = Budget.checkPatch(patch)
        if (checked instanceof Budget.InvalidBudget) return yield* checked
        const now = yield* DateTime.now
        const budget = yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const current = yield* records.get(tenantId, budgetId, { lock: true })
            const applied = Budget.applyPatch(budgetId, current, checked, { actor: options.actor, at: now })
            if (applied instanceof Budget.InvalidBudget || applied instanceof Budget.BudgetArchived) return yield* applied
            if (applied.change === null) return current
            return yield* records.update(tenantId, applied.budget, applied.change)
          })
        )
        yield* GovernanceCache.invalidate(tenantId)
        yield* evaluateBudget(tenantId, budget.id)
        return budget
      })

      const archive = Effect.fn("Budgets.archive")(function*(
        tenantId: string,
        budgetId: string,
        options: { readonly actor?: string | undefined } = {}
      ) {
        const now = yield* DateTime.now
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const current = yield* records.get(tenantId, budgetId, { lock: true })
            const { change } = Budget.archive(current, { actor: options.actor, at: now })
            if (change === null) return current
            return yield* records.archive(tenantId, current.id, change)
          })
        ).pipe(Effect.tap(() => GovernanceCache.invalidate(tenantId)))
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
            const { budgets, tenant } = yield* activeBudgets(tenantId)
            const pairs = budgets.map((budget) => ({
              budget,
              window: BudgetPeriod.ofBudget(budget, at, tenant.timeZone)
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
            const tenant = yield* tenants.get(tenantId)
            const budgets = options.budgetId === undefined
              ? yield* records.active(tenantId)
              : [yield* records.get(tenantId, options.budgetId)]
            const windows = budgets.map((b) => BudgetPeriod.ofBudget(b, at, tenant.timeZone))
            const trailingFrom = DateTime.makeUnsafe(atMillis - Forecast.trailingDays * 86_400_000)
            const result: Array<BudgetStatus> = []
            const byCurrency = new Map<string, Array<number>>()
            budgets.forEach((b, i) => byCurrency.set(b.currency, [...(byCurrency.get(b.currency) ?? []), i]))
            const spendOf = new Map<number, { period: CountedSpend; trailing: CountedSpend }>()
            const asOf = DateTime.formatIso(now)
            for (const [currency, indexes] of byCurrency) {
              const spendWindows = [
                ...indexes.map((i) => ({ key: `p${i}`, scope: budgets[i]!.scope, from: windows[i]!.start, to: windows[i]!.end })),
                ...indexes.map((i) => ({ key: `t${i}`, scope: budgets[i]!.scope, from: trailingFrom, to: at }))
              ]
              const spend = yield* spending.spend(tenantId, currency, spendWindows)
              const rates = yield* ratesFor(tenantId, currency, spendWindows, spend)
              for (const i of indexes) {
                spendOf.set(i, {
                  period: countSpend(budgets[i]!, spend.get(`p${i}`)!, rates, asOf),
                  trailing: countSpend(budgets[i]!, spend.get(`t${i}`)!, rates, asOf)
                })
              }
            }
            const holds = yield* reservations.held(
              tenantId,
              budgets.map((b, i) => ({ budgetId: b.id, periodStart: windows[i]!.holdStart })),
              now
            )
            const events = budgets.length === 0
              ? []
              : yield* crossings.events(tenantId, {
                budgetIds: budgets.map((b) => b.id),
                periodStartFrom: windows.reduce((min, w) => DateTime.min(min, w.crossingStart), windows[0]!.crossingStart)
              })
            for (const [i, budget] of budgets.entries()) {
              const window = windows[i]!
              const { period, trailing } = spendOf.get(i)!
              const spent = Budget.measure(budget, period.spend)
              const reserved = holds.get(budget.id) ?? Money.ZERO
              const startMillis = DateTime.toEpochMillis(window.crossingStart)
              result.push({
                budget,
                window,
                spent,
                reserved,
                remaining: budget.amount.minus(spent).minus(reserved),
                percent: Forecast.percent(spent, budget.amount),
                crossed: events
                  .filter((e) => e.budgetId === budget.id && DateTime.toEpochMillis(e.periodStart) === startMillis)
                  .map((e) => ({ threshold: e.threshold, crossedAt: e.crossedAt, spent: e.spent })),
                calls: period.spend.calls,
                unpricedCalls: period.spend.unpricedCalls,
                partialCalls: period.spend.partialCalls,
                otherCurrencies: period.spend.otherCurrencies,
                spentInCurrency: budget.unit === "cost" ? period.spend.amount.minus(period.conversion.total) : spent,
                converted: period.conversion.converted,
                notConverted: period.conversion.notConverted,
                forecast: Forecast.linear({
                  spent,
                  amount: budget.amount,
                  trailingSpend: Budget.measure(budget, trailing.spend),
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
          return yield* new Budget.InvalidBudget({
            field: "lookbackDays",
            message: `lookbackDays: expected a whole number of days from ${Forecast.minLookbackDays} to ${Forecast.maxLookbackDays}, got ${lookbackDays}`
          })
        }
        const now = yield* DateTime.now
        const scope = Budget.normalizeScope(options.scope)
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const tenant = yield* tenants.get(tenantId)
            // Complete local days only: the window ends where today began.
            const days: Array<BudgetPeriod.PeriodWindow> = []
            for (let back = lookbackDays; back >= 1; back--) {
              days.push(BudgetPeriod.containing("day", BudgetPeriod.localDayStart(now, tenant.timeZone, back), tenant.timeZone))
            }
            const spend = yield* spending.spend(
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
              thresholds: Budget.defaultThresholds
            } satisfies SuggestedBudget
          })
        )
      })

      return Budgets.of({
        create,
        get: records.get,
        list: records.list,
        update,
        archive,
        changes: records.changes,
        status,
        evaluateAfterCommit,
        evaluate,
        suggest
      })
    })
  ).pipe(Layer.provide(ExchangeRates.ExchangeRates.layer))
}
