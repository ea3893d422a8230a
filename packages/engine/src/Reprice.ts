/**
 * Repricing: the calls of a period priced again with the tenant's price book in force at each
 * call's time, the same resolution ingest uses (`Costing.cost` over the tenant's book, at the
 * call's `occurredAt`, in its project / team / API key scope).
 *
 * Each call is priced from its raw payload: the payload is normalized again for what only it
 * holds (the provider's reported cost, sub-calls billed at another model's rates, whether usage
 * was estimated), and the usage the ledger recorded is what is priced, so the call's tokens and
 * units never change. A call whose price is unchanged is left alone; a changed one is written
 * through `Repricings.apply`, which keeps the price before and after (the correction entry) and
 * moves the call in the rollups and daily summaries; budgets are then evaluated as after an ingest
 * batch, so a threshold the new prices reach is recorded. A final chargeback period is never
 * rewritten: a repricing recorded after its run read the ledger is late usage for that period,
 * and the next run of the same dimension carries the difference as correction lines.
 *
 * A call's sale price (`SalePricing.repriceCalls`) moves with its cost in the same transaction:
 * re-derived with the rule that priced it, so a markup follows the new cost and a list price keeps
 * its amounts (docs/resale.md).
 *
 * Idempotent: a second run over the same book finds every call at its current price and writes
 * nothing. A run that changed something leaves an audit record (who, when, the range, the price
 * book version, the snapshots before and after, the totals per currency). A dry run computes the
 * same summary and writes nothing.
 */
import type { Catalog, PriceBook } from "@tally/catalog"
import { CostBreakdown, Money, type Tenant, UsageRecord } from "@tally/core"
import { Costing } from "@tally/pricing"
import { Normalize, type NormalizedCall } from "@tally/providers"
import { Commitments as CommitmentStore, Database, PriceBooks, Repricings, type SalePrices, type Tenants } from "@tally/store"
import { Context, DateTime, Effect, Layer, Result, Schema } from "effect"
import type { SqlError } from "effect/sql/SqlError"
import * as Budgets from "./Budgets.ts"
import * as Commitments from "./Commitments.ts"
import * as PriceScope from "./internal/PriceScope.ts"
import * as SalePricing from "./SalePricing.ts"
import * as TenantPricing from "./TenantPricing.ts"

export interface RepriceOptions {
  readonly from: DateTime.Utc
  /** Exclusive. */
  readonly to: DateTime.Utc
  /** Only calls recorded `unpriced` or `partial`. */
  readonly onlyUnpriced?: boolean | undefined
  /** Compute the summary, write nothing. */
  readonly dryRun?: boolean | undefined
  /** Who asked (an API key id, the CLI's `--by`); `system` when absent. */
  readonly actor?: string | undefined
}

/** Totals of the changed calls in one currency, before and after; exact decimals. */
export interface CurrencyDelta {
  readonly currency: string
  readonly before: Money.Decimal
  readonly after: Money.Decimal
  readonly delta: Money.Decimal
}

export interface RepriceSummary {
  /** The run's id when it wrote something; null for a dry run or a run that changed nothing. */
  readonly runId: string | null
  readonly dryRun: boolean
  readonly actor: string
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly onlyUnpriced: boolean
  /** The tenant's price-book version the run priced with. */
  readonly priceBookVersion: number
  /** Calls read. */
  readonly scanned: number
  /** Calls whose price changed (would change, in a dry run). */
  readonly repriced: number
  /** Of those: unpriced or partial calls that gained priced lines. */
  readonly newlyPriced: number
  /** Of those: priced calls whose price changed (correction entries). */
  readonly corrections: number
  readonly unchanged: number
  /** Calls whose price moved between being read and being written (another writer): left alone. */
  readonly skipped: number
  /** Per currency, sorted by code. A call that moved currency counts in both. */
  readonly totals: ReadonlyArray<CurrencyDelta>
  /** Snapshot ids the changed calls were priced with before, and are priced with now; sorted. */
  readonly snapshotsBefore: ReadonlyArray<string>
  readonly snapshotsAfter: ReadonlyArray<string>
}

/** The request was not a valid repricing, naming the field. */
export class InvalidReprice extends Schema.TaggedError<InvalidReprice>()("InvalidReprice", {
  field: Schema.String,
  message: Schema.String
}) {}

export type RepriceError = InvalidReprice | Tenant.TenantNotFound | PriceBook.CatalogInvalid | SqlError

export interface RepricingService {
  readonly reprice: (tenantId: string, options: RepriceOptions) => Effect.Effect<RepriceSummary, RepriceError>
}

/** Calls read and written per transaction. */
export const pageSize = 500

const actorOf = (actor: string | undefined): string => {
  const trimmed = actor?.trim() ?? ""
  return trimmed === "" ? "system" : trimmed.slice(0, 200)
}

/** What only the raw payload holds, when it normalizes again; nothing when it does not. */
const fromPayload = (call: UsageRecord.UsageRecord): NormalizedCall.NormalizedCall | undefined => {
  if (call.api === undefined || call.api === "span" || Normalize.resolveProvider(call.provider) === undefined) {
    return undefined
  }
  const normalized = Normalize.normalize({
    provider: call.provider,
    api: call.api,
    model: call.model,
    payload: call.rawText ?? call.raw,
    batch: call.usage.batch
  })
  return Result.isSuccess(normalized) ? normalized.success : undefined
}

/** The recorded call as `Costing` prices it: its recorded usage, with what its payload adds. */
const normalizedOf = (call: UsageRecord.UsageRecord): NormalizedCall.NormalizedCall => {
  const payload = fromPayload(call)
  const reported = payload?.reportedCost ??
    (call.reportedCost !== null && call.reportedCurrency !== null
      ? { amount: call.reportedCost, currency: call.reportedCurrency, source: "ledger" }
      : undefined)
  return {
    provider: payload?.provider ?? Normalize.resolveProvider(call.provider) ?? "otel",
    api: payload?.api ?? "span",
    model: call.model,
    ...(payload === undefined ? { modelProvider: call.provider } : {}),
    usage: call.usage,
    ...(reported === undefined ? {} : { reportedCost: reported }),
    ...(call.usage.serviceTier === undefined ? {} : { serviceTier: call.usage.serviceTier }),
    batch: call.usage.batch ?? false,
    estimated: payload?.estimated ?? call.costSource === "estimated",
    corrections: payload?.corrections ?? [],
    subCalls: payload?.subCalls ?? [],
    raw: call.raw
  }
}

/** The call priced again: only its price fields can differ from the recorded call. */
export const repriceCall = (book: PriceBook.PriceBook, tenantId: string, call: UsageRecord.UsageRecord): UsageRecord.UsageRecord => {
  const costed = Costing.cost(book, normalizedOf(call), {
    at: DateTime.toEpochMillis(call.occurredAt),
    scope: PriceScope.ofLabels(tenantId, call.labels)
  })
  const priced = Costing.toUsageRecord(costed, {
    requestId: call.requestId,
    occurredAt: call.occurredAt,
    labels: call.labels,
    tags: call.tags
  })
  return {
    ...call,
    definitionId: priced.definitionId,
    snapshotId: priced.snapshotId,
    breakdown: priced.breakdown,
    total: priced.total,
    costSource: priced.costSource,
    unpricedReason: priced.unpricedReason,
    reportedCost: priced.reportedCost,
    reportedCurrency: priced.reportedCurrency,
    difference: priced.difference
  }
}

/** A breakdown's lines, rates and amounts, without the id of the snapshot they came from. */
const breakdownKey = (breakdown: CostBreakdown.CostBreakdown | null): string => {
  if (breakdown === null) return "null"
  const { snapshotId: _snapshotId, ...rest } = CostBreakdown.encode(breakdown)
  return JSON.stringify(rest)
}

const sameDecimal = (a: Money.Decimal | null, b: Money.Decimal | null): boolean =>
  a === null || b === null ? a === b : a.equals(b)

/**
 * Whether two prices of one call are the same: what a second run relies on to change nothing.
 * A new snapshot with the same rates (a price change elsewhere in the definition's history closes
 * the old snapshot's validity, which gives it a new id) prices the call the same: not a change.
 */
export const samePrice = (a: UsageRecord.UsageRecord, b: UsageRecord.UsageRecord): boolean =>
  a.costSource === b.costSource &&
  sameDecimal(a.total, b.total) &&
  UsageRecord.currencyOf(a) === UsageRecord.currencyOf(b) &&
  a.definitionId === b.definitionId &&
  a.unpricedReason === b.unpricedReason &&
  sameDecimal(a.difference, b.difference) &&
  breakdownKey(a.breakdown) === breakdownKey(b.breakdown)

const kindOf = (before: UsageRecord.UsageRecord, after: UsageRecord.UsageRecord): Repricings.ChangeKind =>
  (before.costSource === "unpriced" || before.costSource === "partial") && after.costSource !== "unpriced"
    ? "priced"
    : "correction"

/** Per-currency totals of changes, and the snapshots they moved between. */
class Changes {
  readonly before = new Map<string, Money.Decimal>()
  readonly after = new Map<string, Money.Decimal>()
  readonly snapshotsBefore = new Set<string>()
  readonly snapshotsAfter = new Set<string>()
  newlyPriced = 0
  corrections = 0

  add(change: Repricings.Change): void {
    if (change.kind === "priced") this.newlyPriced++
    else this.corrections++
    const add = (map: Map<string, Money.Decimal>, call: UsageRecord.UsageRecord) => {
      const currency = UsageRecord.currencyOf(call)
      if (currency === null || call.total === null) return
      map.set(currency, (map.get(currency) ?? Money.ZERO).plus(call.total))
    }
    add(this.before, change.before)
    add(this.after, change.after)
    if (change.before.snapshotId !== null) this.snapshotsBefore.add(change.before.snapshotId)
    if (change.after.snapshotId !== null) this.snapshotsAfter.add(change.after.snapshotId)
  }

  totals(): ReadonlyArray<CurrencyDelta> {
    const currencies = [...new Set([...this.before.keys(), ...this.after.keys()])].sort()
    return currencies.map((currency) => {
      const before = this.before.get(currency) ?? Money.ZERO
      const after = this.after.get(currency) ?? Money.ZERO
      return { currency, before, after, delta: after.minus(before) }
    })
  }
}

/** The summary as JSON: decimals as exact strings, instants as ISO strings. */
export const summaryJson = (s: RepriceSummary) => ({
  runId: s.runId,
  dryRun: s.dryRun,
  actor: s.actor,
  from: DateTime.formatIso(s.from),
  to: DateTime.formatIso(s.to),
  onlyUnpriced: s.onlyUnpriced,
  priceBookVersion: s.priceBookVersion,
  scanned: s.scanned,
  repriced: s.repriced,
  newlyPriced: s.newlyPriced,
  corrections: s.corrections,
  unchanged: s.unchanged,
  skipped: s.skipped,
  totals: s.totals.map((t) => ({
    currency: t.currency,
    before: Money.format(t.before),
    after: Money.format(t.after),
    delta: Money.format(t.delta)
  })),
  snapshotsBefore: s.snapshotsBefore,
  snapshotsAfter: s.snapshotsAfter
})

export const make = Effect.gen(function*() {
  const repricings = yield* Repricings.Repricings
  const priceBooks = yield* PriceBooks.PriceBooks
  const books = yield* TenantPricing.makeBookLoader
  const budgets = yield* Budgets.Budgets
  const commitmentStore = yield* CommitmentStore.Commitments
  const salePricing = yield* SalePricing.SalePricing
  const db = yield* Database.Database

  const reprice = Effect.fn("Repricing.reprice")(function*(tenantId: string, options: RepriceOptions) {
    if (DateTime.toEpochMillis(options.to) <= DateTime.toEpochMillis(options.from)) {
      return yield* new InvalidReprice({ field: "to", message: "to: expected an instant after from" })
    }
    const startedAt = yield* DateTime.now
    const actor = actorOf(options.actor)
    const onlyUnpriced = options.onlyUnpriced === true
    const dryRun = options.dryRun === true
    // The book as it is now, never a cached one: a price added a moment ago must count.
    yield* books.invalidate(tenantId)
    const book = yield* books.get(tenantId)
    const priceBookVersion = yield* priceBooks.version(tenantId)
    const runId = dryRun ? null : yield* repricings.newRunId
    // Commitments apply after pricing, as at ingest: a call on provisioned capacity stays at 0.
    const active = yield* commitmentStore.active(tenantId)

    const tally = new Changes()
    let scanned = 0
    let skipped = 0
    let after: Repricings.ScanQuery["after"] = null
    for (;;) {
      const page: ReadonlyArray<UsageRecord.UsageRecord> = yield* repricings.scan(tenantId, {
        from: options.from,
        to: options.to,
        onlyUnpriced,
        after,
        limit: pageSize
      })
      if (page.length === 0) break
      scanned += page.length
      const last: UsageRecord.UsageRecord = page[page.length - 1]!
      after = { occurredAt: last.occurredAt, requestId: last.requestId }

      const changes: Array<Repricings.Change> = []
      for (const call of page) {
        const repriced = Commitments.applyTo(active, repriceCall(book, tenantId, call)).record
        if (!samePrice(call, repriced)) changes.push({ kind: kindOf(call, repriced), before: call, after: repriced })
      }
      if (changes.length === 0) continue
      if (runId === null) {
        for (const change of changes) tally.add(change)
      } else {
        // The sale prices follow the new costs in the same transaction (SalePricing.repriceCalls).
        const applied = new Set(
          yield* db.withTenant(
            tenantId,
            Effect.gen(function*() {
              const ids = new Set(yield* repricings.apply(tenantId, { runId, actor, changes }))
              yield* salePricing.repriceCalls(tenantId, changes.filter((c) => ids.has(c.before.requestId)).map((c) => c.after))
              return ids
            })
          )
        )
        const committed: Array<UsageRecord.UsageRecord> = []
        for (const change of changes) {
          if (applied.has(change.before.requestId)) {
            tally.add(change)
            committed.push(change.after)
          } else skipped++
        }
        // Committed: budgets see the new spend as they see a batch's (never fails; a sweep catches up).
        yield* budgets.evaluateAfterCommit(tenantId, committed)
      }
      if (page.length < pageSize) break
    }

    const repriced = tally.newlyPriced + tally.corrections
    const summary: RepriceSummary = {
      runId: runId !== null && repriced > 0 ? runId : null,
      dryRun,
      actor,
      from: options.from,
      to: options.to,
      onlyUnpriced,
      priceBookVersion,
      scanned,
      repriced,
      newlyPriced: tally.newlyPriced,
      corrections: tally.corrections,
      unchanged: scanned - repriced - skipped,
      skipped,
      totals: tally.totals(),
      snapshotsBefore: [...tally.snapshotsBefore].sort(),
      snapshotsAfter: [...tally.snapshotsAfter].sort()
    }
    if (summary.runId !== null) {
      yield* repricings.recordRun(tenantId, {
        id: summary.runId,
        actor,
        startedAt,
        from: options.from,
        to: options.to,
        onlyUnpriced,
        priceBookVersion,
        summary: summaryJson(summary)
      })
    }
    return summary
  })

  return Repricing.of({ reprice })
})

export class Repricing extends Context.Service<Repricing, RepricingService>()("@tally/engine/Repricing") {
  static readonly layer: Layer.Layer<
    Repricing,
    never,
    | Catalog.Catalog
    | Tenants.Tenants
    | PriceBooks.PriceBooks
    | Repricings.Repricings
    | CommitmentStore.Commitments
    | SalePrices.SalePrices
    | Database.Database
    | Layer.Services<typeof Budgets.Budgets.layer>
  > = Layer.effect(Repricing, make).pipe(Layer.provide([Budgets.Budgets.layer, SalePricing.SalePricing.layer]))
}

export type RepriceSummaryJson = ReturnType<typeof summaryJson>
