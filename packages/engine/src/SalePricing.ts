/**
 * Sale pricing at ingest: each tenant's sale price book (rules and customer plans, cached like
 * the cost price book), the price of a recorded call, and the hook that stores it in the call's
 * own ledger transaction.
 *
 * A tenant without sale rules stores nothing and pays nothing for this. A tenant with rules gets
 * one `usage_prices` row per call really inserted: priced, or unpriced with the reason (no rule
 * applies, no cost to mark up, a component without a list rate). Replays insert no call, so they
 * price nothing. A change to the rules reaches ingest within `bookTtl` (at once in the process
 * that made it, which invalidates its cache).
 *
 * `priceOf` is the one question other services ask: the sale price recorded for a call; `chargeOf`
 * says what a call is charged (its price, else its cost).
 */
import { Money, SalePrice, type Tenant, type UsageRecord } from "@tally/core"
import { SalePrices } from "@tally/store"
import { Cache, Context, DateTime, Duration, Effect, Exit, Layer, type Option } from "effect"
import type { SqlError } from "effect/sql/SqlError"

/** How long a tenant's sale book is reused before it is read again. */
export const bookTtl = Duration.seconds(5)

const label = (value: string | undefined): string | null => (value === undefined || value === "" ? null : value)

/** What sale pricing reads of a recorded call. */
export const callInputOf = (record: UsageRecord.UsageRecord): SalePrice.CallInput => {
  const breakdown = record.breakdown
  const costCurrency = record.total === null
    ? null
    : record.costSource === "provider"
    ? record.reportedCurrency
    : breakdown?.currency ?? null
  return {
    at: DateTime.toEpochMillis(record.occurredAt),
    provider: record.provider,
    model: record.model,
    modelKey: breakdown?.modelKey ?? null,
    customer: label(record.labels.customer),
    usage: record.usage,
    costTotal: record.total,
    costCurrency,
    // Tally's lines carry the cost only when they add up to the figure billed.
    costLines: breakdown !== null && record.total !== null && breakdown.total.equals(record.total) ? breakdown.lines : null,
    missing: breakdown?.missing ?? []
  }
}

/** The price row of a recorded call under a tenant's sale book. Pure. */
export const priceRecord = (book: SalePrices.SaleBook, record: UsageRecord.UsageRecord): SalePrices.PriceInput => {
  const call = callInputOf(record)
  return {
    requestId: record.requestId,
    occurredAt: record.occurredAt,
    customer: call.customer,
    feature: label(record.labels.feature),
    provider: record.provider,
    model: record.model,
    outcome: SalePrice.price(book.rules, book.plans, call),
    costTotal: call.costTotal,
    costCurrency: call.costCurrency
  }
}

/** What a call is charged: its sale price when it has one, else its cost (null when neither is known). */
export interface Charge {
  readonly amount: Money.Decimal
  readonly currency: string
  readonly basis: "price" | "cost"
}

/**
 * The amount a call is charged to its customer: the sale price recorded for it (`price`, from
 * `recordInserted` or `priceOf`) when priced, else the call's cost; null for a call with neither.
 */
export const chargeOf = (
  record: UsageRecord.UsageRecord,
  price: Pick<SalePrices.PriceInput, "outcome"> | undefined
): Charge | null => {
  if (price !== undefined && price.outcome._tag === "Priced") {
    return { amount: price.outcome.price.total, currency: price.outcome.price.currency, basis: "price" }
  }
  const call = callInputOf(record)
  return call.costTotal === null || call.costCurrency === null ? null : { amount: call.costTotal, currency: call.costCurrency, basis: "cost" }
}

const fmt = (value: Money.Decimal | null) => (value === null ? null : Money.format(value))
const iso = (millis: number | null) => (millis === null ? null : new Date(millis).toISOString())

/** A rule as JSON: decimals as exact strings, instants as ISO strings. */
export const ruleJson = (rule: SalePrices.StoredRule) => ({
  id: rule.id,
  name: rule.name,
  kind: rule.kind,
  customer: rule.customer,
  plan: rule.plan,
  provider: rule.provider,
  model: rule.model,
  percent: fmt(rule.percent),
  perUnit: fmt(rule.perUnit),
  rates: rule.rates === null ? null : Object.fromEntries(Object.entries(rule.rates).map(([k, v]) => [k, Money.format(v)])),
  currency: rule.currency,
  effectiveFrom: iso(rule.effectiveFrom),
  effectiveTo: iso(rule.effectiveTo),
  createdAt: iso(rule.createdAt),
  archivedAt: iso(rule.archivedAt)
})

/** A recorded price as JSON, with its margin when price and cost share a currency. */
export const priceJson = (price: SalePrices.StoredPrice) => ({
  requestId: price.requestId,
  occurredAt: DateTime.formatIso(price.occurredAt),
  customer: price.customer,
  plan: price.plan,
  feature: price.feature,
  provider: price.provider,
  model: price.model,
  status: price.status,
  ruleId: price.ruleId,
  kind: price.kind,
  reason: price.reason,
  currency: price.currency,
  total: fmt(price.total),
  costTotal: fmt(price.costTotal),
  costCurrency: price.costCurrency,
  margin: price.total !== null && price.costTotal !== null && price.currency === price.costCurrency ? Money.format(price.total.minus(price.costTotal)) : null,
  lines: price.lines.map((l) => ({
    component: l.component,
    quantity: Money.format(l.quantity),
    unit: l.unit,
    cost: fmt(l.cost),
    unitPrice: Money.format(l.unitPrice),
    amount: Money.format(l.amount),
    basis: l.basis
  }))
})

export interface SalePricingService {
  /** The tenant's sale book as ingest uses it (cached for `bookTtl`). */
  readonly book: (tenantId: string) => Effect.Effect<SalePrices.SaleBook, SqlError>
  /**
   * Prices the calls a batch really inserted with `book` and stores the prices; run it in the
   * batch's transaction (`UsageLedger.insertBatch`'s `afterInsert`). Returns what it stored, one
   * per call in order, for whatever else must commit with the calls (e.g. a credit drawdown by
   * `chargeOf`); empty, and nothing written, when the tenant has no sale rules.
   */
  readonly recordInserted: (
    tenantId: string,
    book: SalePrices.SaleBook,
    inserted: ReadonlyArray<UsageRecord.UsageRecord>
  ) => Effect.Effect<ReadonlyArray<SalePrices.PriceInput>, SqlError>
  /** The sale price recorded for a call (none when the tenant had no sale rules when it was recorded). */
  readonly priceOf: (tenantId: string, requestId: string) => Effect.Effect<Option.Option<SalePrices.StoredPrice>, SqlError>
  /**
   * After a repricing changed the cost of `calls` (in the repricing's transaction): a call priced
   * before is priced again with the rule that priced it (a markup follows the new cost; a list
   * price keeps its amounts and gets the new cost beside it); a call left unpriced is priced with
   * the tenant's rules now; a call recorded without a price (no sale rules then) stays without.
   */
  readonly repriceCalls: (tenantId: string, calls: ReadonlyArray<UsageRecord.UsageRecord>) => Effect.Effect<void, SqlError>
  /** Adds a rule; the process's own ingest sees it at once. */
  readonly addRule: (
    tenantId: string,
    input: SalePrice.RuleInput
  ) => Effect.Effect<SalePrices.StoredRule, SalePrice.InvalidSaleRule | Tenant.TenantNotFound | SqlError>
  readonly archiveRule: (tenantId: string, ruleId: string) => Effect.Effect<SalePrices.StoredRule, SalePrice.SaleRuleNotFound | SqlError>
  readonly assignPlan: (
    tenantId: string,
    assignment: SalePrice.PlanAssignment
  ) => Effect.Effect<SalePrice.PlanAssignment, SalePrice.InvalidSaleRule | Tenant.TenantNotFound | SqlError>
}

export const make = Effect.gen(function*() {
  const store = yield* SalePrices.SalePrices
  const cache = yield* Cache.makeWith((tenantId: string) => store.book(tenantId), {
    capacity: 10_000,
    timeToLive: (exit) => (Exit.isSuccess(exit) ? bookTtl : Duration.zero)
  })
  const invalidate = (tenantId: string) => Cache.invalidate(cache, tenantId)

  const recordInserted = (tenantId: string, book: SalePrices.SaleBook, inserted: ReadonlyArray<UsageRecord.UsageRecord>) => {
    if (book.rules.length === 0 || inserted.length === 0) return Effect.succeed([])
    const prices = inserted.map((record) => priceRecord(book, record))
    return Effect.as(store.record(tenantId, prices), prices)
  }

  const repriceCalls = Effect.fn("SalePricing.repriceCalls")(function*(
    tenantId: string,
    calls: ReadonlyArray<UsageRecord.UsageRecord>
  ) {
    if (calls.length === 0) return
    const stored = yield* store.getMany(tenantId, calls.map((c) => c.requestId))
    if (stored.length === 0) return
    const byId = new Map(stored.map((p) => [p.requestId, p]))
    const rules = new Map((yield* store.listRules(tenantId, { archived: true })).map((r) => [r.id, r]))
    const book = yield* store.book(tenantId)
    const prices: Array<SalePrices.PriceInput> = []
    for (const record of calls) {
      const before = byId.get(record.requestId)
      if (before === undefined) continue
      const fresh = priceRecord(book, record)
      const rule = before.status === "priced" && before.ruleId !== null ? rules.get(before.ruleId) : undefined
      prices.push(rule === undefined ? fresh : { ...fresh, outcome: SalePrice.priceWith(rule, callInputOf(record), before.plan) })
    }
    yield* store.reprice(tenantId, prices)
  })

  return SalePricing.of({
    book: (tenantId) => Cache.get(cache, tenantId),
    recordInserted,
    repriceCalls,
    priceOf: (tenantId, requestId) => store.get(tenantId, requestId),
    addRule: (tenantId, input) => Effect.tap(store.addRule(tenantId, input), () => invalidate(tenantId)),
    archiveRule: (tenantId, ruleId) => Effect.tap(store.archiveRule(tenantId, ruleId), () => invalidate(tenantId)),
    assignPlan: (tenantId, assignment) => Effect.tap(store.assignPlan(tenantId, assignment), () => invalidate(tenantId))
  })
})

export class SalePricing extends Context.Service<SalePricing, SalePricingService>()("@tally/engine/SalePricing") {
  static readonly layer: Layer.Layer<SalePricing, never, SalePrices.SalePrices> = Layer.effect(SalePricing, make)
}
