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
 * `priceOf` is the one question other services ask: the sale price recorded for a call.
 */
import { SalePrice, type Tenant, type UsageRecord } from "@tally/core"
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

export interface SalePricingService {
  /** The tenant's sale book as ingest uses it (cached for `bookTtl`). */
  readonly book: (tenantId: string) => Effect.Effect<SalePrices.SaleBook, SqlError>
  /**
   * The `afterInsert` hook for a batch priced with `book`: stores the inserted calls' prices in
   * the batch's transaction. Undefined when the tenant has no sale rules.
   */
  readonly hookFor: (
    tenantId: string,
    book: SalePrices.SaleBook
  ) => ((inserted: ReadonlyArray<UsageRecord.UsageRecord>) => Effect.Effect<void, SqlError>) | undefined
  /** The sale price recorded for a call (none when the tenant had no sale rules when it was recorded). */
  readonly priceOf: (tenantId: string, requestId: string) => Effect.Effect<Option.Option<SalePrices.StoredPrice>, SqlError>
  /** Adds a rule; the process's own ingest sees it at once. */
  readonly addRule: (
    tenantId: string,
    input: SalePrice.RuleInput
  ) => Effect.Effect<SalePrices.StoredRule, SalePrice.InvalidSaleRule | Tenant.TenantNotFound | SqlError>
  readonly archiveRule: (tenantId: string, ruleId: string) => Effect.Effect<SalePrices.StoredRule, SalePrice.SaleRuleNotFound | SqlError>
  readonly assignPlan: (
    tenantId: string,
    assignment: SalePrice.PlanAssignment
  ) => Effect.Effect<SalePrice.PlanAssignment, Tenant.TenantNotFound | SqlError>
}

export const make = Effect.gen(function*() {
  const store = yield* SalePrices.SalePrices
  const cache = yield* Cache.makeWith((tenantId: string) => store.book(tenantId), {
    capacity: 10_000,
    timeToLive: (exit) => (Exit.isSuccess(exit) ? bookTtl : Duration.zero)
  })
  const invalidate = (tenantId: string) => Cache.invalidate(cache, tenantId)

  const hookFor = (tenantId: string, book: SalePrices.SaleBook) =>
    book.rules.length === 0
      ? undefined
      : (inserted: ReadonlyArray<UsageRecord.UsageRecord>) => store.record(tenantId, inserted.map((record) => priceRecord(book, record)))

  return SalePricing.of({
    book: (tenantId) => Cache.get(cache, tenantId),
    hookFor,
    priceOf: (tenantId, requestId) => store.get(tenantId, requestId),
    addRule: (tenantId, input) => Effect.tap(store.addRule(tenantId, input), () => invalidate(tenantId)),
    archiveRule: (tenantId, ruleId) => Effect.tap(store.archiveRule(tenantId, ruleId), () => invalidate(tenantId)),
    assignPlan: (tenantId, assignment) => Effect.tap(store.assignPlan(tenantId, assignment), () => invalidate(tenantId))
  })
})

export class SalePricing extends Context.Service<SalePricing, SalePricingService>()("@tally/engine/SalePricing") {
  static readonly layer: Layer.Layer<SalePricing, never, SalePrices.SalePrices> = Layer.effect(SalePricing, make)
}
