/**
 * The computation of a run, inside the caller's tenant transaction: the ledger read as of the
 * transaction's start, the period's spend in the run's currency allocated by the rule (core's
 * `CostAllocation`), and the corrections owed for final runs of earlier periods that received
 * usage after they were checked.
 */
import { CostAllocation, Money } from "@tally/core"
import type { ChargebackLedger, ChargebackRuns, CostAtRisk } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Run from "./Run.ts"

const { Allocate, Dimension, Rules } = CostAllocation

/** The repositories a computation reads. */
export interface Repositories {
  readonly ledger: ChargebackLedger.ChargebackLedgerService
  readonly runs: ChargebackRuns.ChargebackRunsService
  readonly atRisk: CostAtRisk.CostAtRiskService
}

/**
 * How far before a final run's instant its period is re-checked for late usage: a batch that began
 * before the run read the ledger but committed after carries an `ingested_at` before that instant.
 * A re-check only decides whether to recompute; the correction itself is a difference, so checking
 * too much costs time, never money.
 */
export const lateMarginMillis = 15 * 60_000

const iso = (dt: DateTime.Utc): string => DateTime.formatIso(dt)
const fmt = Money.format

const compareOwner = (a: string | null, b: string | null): number =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1

/**
 * The corrections owed, as of `asOf`, for final runs of the dimension and currency that end by
 * the start of this run's period: each one whose period received usage after it was last checked
 * is recomputed by its own rule, and the difference to what was charged becomes correction lines.
 */
export const corrections = Effect.fnUntraced(function*(
  repositories: Repositories,
  tenantId: string,
  resolved: CostAllocation.Input.Resolved,
  asOf: DateTime.Utc
) {
  const { ledger, runs } = repositories
  const finals = yield* runs.finalized(tenantId, {
    dimension: resolved.dimension.name,
    currency: resolved.currency,
    endingBy: resolved.from
  })
  const lines: Array<CostAllocation.Allocate.Line> = []
  const checked: Array<string> = []
  for (const final of finals) {
    const since = DateTime.makeUnsafe(DateTime.toEpochMillis(final.checkedThrough) - lateMarginMillis)
    const late = yield* ledger.hasLateUsage(tenantId, { from: final.from, to: final.to, since })
    if (!late) continue
    const dimension = Dimension.parse(final.dimension)
    if (Result.isFailure(dimension)) return yield* Effect.die(dimension.failure)
    const rule = Run.storedRule(final.rule)
    const spend = Allocate.splitSpend(
      yield* ledger.spend(tenantId, { from: final.from, to: final.to, dimension: dimension.success, asOf }),
      final.currency
    )
    const now = Allocate.allocate({
      spend: spend.rows,
      rule,
      shared: new Set(final.shared),
      minorUnits: resolved.minorUnits
    })
    const own = (yield* runs.lines(tenantId, [final.id])).get(final.id) ?? []
    const earlier = yield* runs.corrections(tenantId, [final.id])
    const charged = [...own.filter((l) => l.kind !== "correction"), ...earlier]
    lines.push(...Allocate.corrections(final.id, now.lines, charged))
    checked.push(final.id)
  }
  return { lines, checked }
})

/** The whole computation of a run, and its canonical inputs; inside the caller's tenant transaction. */
export const compute = Effect.fnUntraced(function*(
  repositories: Repositories,
  tenantId: string,
  resolved: CostAllocation.Input.Resolved
) {
  const { ledger } = repositories
  // The transaction's start: every row ingested up to it and committed is visible to the reads below.
  const asOf = yield* ledger.asOf(tenantId)
  const spend = Allocate.splitSpend(
    yield* ledger.spend(tenantId, { from: resolved.from, to: resolved.to, dimension: resolved.dimension, asOf }),
    resolved.currency
  )
  const allocation = Allocate.allocate({
    spend: spend.rows,
    rule: resolved.rule,
    shared: new Set(resolved.shared),
    minorUnits: resolved.minorUnits
  })
  const owed = yield* corrections(repositories, tenantId, resolved, asOf)
  // What the period's spend leaves out: partial and unpriced calls, every component without a price.
  const atRisk = yield* repositories.atRisk.report(tenantId, { from: resolved.from, to: resolved.to })
  const atRiskJson = atRisk.components.map((c) => ({
    component: c.component,
    unit: c.unit,
    quantity: fmt(c.quantity),
    calls: c.calls,
    partialCalls: c.partialCalls,
    unpricedCalls: c.unpricedCalls
  }))
  const lines: Array<Run.Line> = [...allocation.lines, ...owed.lines].map((line, lineNo) => ({
    ...line,
    lineNo,
    currency: resolved.currency
  }))
  const total = Money.sum(lines.map((l) => l.amount))
  const ruleVersion = Rules.versionOf(resolved.rule)
  const otherCurrencies = [...spend.other.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([currency, v]) => ({ currency, amount: v.amount, requestCount: v.requests }))
  const json: Run.InputsJson = {
    version: 1,
    tenantId,
    from: iso(resolved.from),
    to: iso(resolved.to),
    dimension: resolved.dimension.name,
    currency: resolved.currency,
    rule: Rules.encode(resolved.rule),
    ruleVersion,
    shared: resolved.shared,
    ledger: {
      total: fmt(allocation.ledgerTotal),
      roundedTotal: fmt(allocation.roundedTotal),
      requests: spend.requests,
      unpriced: spend.unpriced,
      partial: atRisk.partialCalls,
      atRisk: atRiskJson,
      owners: [...spend.rows]
        .sort((a, b) => compareOwner(a.owner, b.owner))
        .map((r) => ({ owner: r.owner, cost: fmt(r.cost), requests: r.requests }))
    },
    otherCurrencies: otherCurrencies.map((o) => ({ currency: o.currency, amount: fmt(o.amount), requests: o.requestCount })),
    snapshotIds: spend.snapshotIds,
    checked: owed.checked,
    corrections: owed.lines.map((l) => ({ runId: l.correctsRunId!, owner: l.owner, amount: fmt(l.amount) }))
  }
  const computation: Run.Computation = {
    tenantId,
    from: resolved.from,
    to: resolved.to,
    dimension: resolved.dimension.name,
    currency: resolved.currency,
    rule: resolved.rule,
    ruleVersion,
    shared: resolved.shared,
    total,
    lines,
    inputs: {
      ledgerTotal: allocation.ledgerTotal,
      roundedTotal: allocation.roundedTotal,
      requestCount: spend.requests,
      unpricedCount: spend.unpriced,
      partialCount: atRisk.partialCalls,
      atRisk: atRisk.components,
      otherCurrencies,
      snapshotIds: spend.snapshotIds,
      checked: owed.checked,
      sha256: Run.sha256(json)
    },
    asOf
  }
  return { computation, json }
})
