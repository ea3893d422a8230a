/**
 * A reconciliation run over one tenant's period: every ledger row re-derived, conflict dead
 * letters reported as duplicate request ids, every given provider report compared per day ×
 * model × project, and the findings (with the report) stored as one run.
 */
import type { PriceBook } from "@tally/catalog"
import { Money, type PricingSnapshot, type Reconciliation } from "@tally/core"
import { PricingSnapshots, ReconciliationRuns } from "@tally/store"
import { Effect, Option } from "effect"
import type { SqlError } from "effect/sql/SqlError"
import * as Compare from "./Compare.ts"
import * as Findings from "./Findings.ts"
import * as ReDerive from "./ReDerive.ts"

export interface RunOptions {
  readonly tenantId: string
  readonly period: Reconciliation.Period
  /** The tenant's book (`TenantPricing.book`). */
  readonly book: PriceBook.PriceBook
  readonly reports?: ReadonlyArray<Compare.ParsedReport> | undefined
  readonly whatIf?: ReDerive.Options["whatIf"]
  readonly tolerance?: Findings.Tolerance | undefined
  readonly normalize?: ReDerive.Normalizer | undefined
  /** Store the run and its findings (default true). */
  readonly save?: boolean | undefined
}

export interface RunReport {
  readonly runId: string | null
  readonly tenantId: string
  readonly period: { readonly from: string; readonly to: string }
  readonly summary: {
    readonly rows: number
    readonly rederivedMatching: number
    readonly findings: number
    readonly bySeverity: Readonly<Record<Reconciliation.Severity, number>>
    readonly byKind: Readonly<Record<string, number>>
    /** Sums per currency, exact strings. */
    readonly billed: Readonly<Record<string, string>>
    readonly rederived: Readonly<Record<string, string>>
    readonly whatIf: Readonly<Record<string, string>> | null
    readonly reports: ReadonlyArray<{
      readonly format: string
      readonly provider: string | null
      readonly counts: Readonly<Record<Compare.Status, number>>
      /** Report rows outside the run's period, left out of the comparison. */
      readonly rowsOutsidePeriod: number
    }>
  }
  readonly comparisons: ReadonlyArray<Compare.Comparison>
  readonly findings: ReadonlyArray<Reconciliation.FindingInput>
}

const add = (sums: Map<string, Money.Decimal>, currency: string | null, value: Money.Decimal | null) => {
  if (currency === null || value === null) return
  sums.set(currency, (sums.get(currency) ?? Money.ZERO).plus(value))
}
const asRecord = (sums: Map<string, Money.Decimal>) => Object.fromEntries([...sums].sort().map(([c, v]) => [c, Money.format(v)]))

export const run = (
  options: RunOptions
): Effect.Effect<RunReport, SqlError, ReconciliationRuns.ReconciliationRuns | PricingSnapshots.PricingSnapshots> =>
  Effect.gen(function*() {
    const { tenantId, period } = options
    const runs = yield* ReconciliationRuns.ReconciliationRuns
    const rows = yield* runs.ledgerRows(tenantId, period)
    // Stored snapshots of every id the rows name, for re-pricing with exactly that snapshot.
    const store = yield* PricingSnapshots.PricingSnapshots
    const snapshots = new Map<string, PricingSnapshot.PricingSnapshot>()
    for (const id of new Set(rows.flatMap((r) => (r.snapshotId === null ? [] : [r.snapshotId])))) {
      const stored = yield* store.get(tenantId, id)
      if (Option.isSome(stored)) snapshots.set(id, stored.value.snapshot)
    }
    const findings: Array<Reconciliation.FindingInput> = []
    const billed = new Map<string, Money.Decimal>()
    const rederivedSums = new Map<string, Money.Decimal>()
    const whatIfSums = new Map<string, Money.Decimal>()
    let matching = 0
    for (const row of rows) {
      const result = ReDerive.rederive(row, {
        book: options.book,
        tenantId,
        snapshots,
        whatIf: options.whatIf,
        tolerance: options.tolerance,
        normalize: options.normalize
      })
      add(billed, result.currency, result.storedTotal)
      add(rederivedSums, result.currency, result.rederived)
      add(whatIfSums, result.currency, result.whatIf)
      if (!result.findings.some((f) => f.severity === "error")) matching += 1
      findings.push(...result.findings)
    }
    for (const conflict of yield* runs.conflicts(tenantId, period)) {
      findings.push(Findings.make({
        kind: Findings.Kinds.duplicateRequestId,
        severity: "error",
        requestId: conflict.requestId,
        occurredAt: conflict.receivedAt,
        message: conflict.reason,
        evidence: { deadLetterId: conflict.deadLetterId, refused: conflict.item }
      }))
    }
    const comparisons = (options.reports ?? []).map((report) => Compare.compare(report, rows, options.tolerance, period))
    for (const c of comparisons) findings.push(...c.findings)
    findings.sort((a, b) => Findings.severityRank[a.severity] - Findings.severityRank[b.severity] || a.kind.localeCompare(b.kind))

    const bySeverity: Record<Reconciliation.Severity, number> = { error: 0, warning: 0, info: 0 }
    const byKind: Record<string, number> = {}
    for (const f of findings) {
      bySeverity[f.severity] += 1
      byKind[f.kind] = (byKind[f.kind] ?? 0) + 1
    }
    const summary: RunReport["summary"] = {
      rows: rows.length,
      rederivedMatching: matching,
      findings: findings.length,
      bySeverity,
      byKind,
      billed: asRecord(billed),
      rederived: asRecord(rederivedSums),
      whatIf: options.whatIf === undefined ? null : asRecord(whatIfSums),
      reports: comparisons.map((c) => ({ format: c.format, provider: c.provider, counts: c.counts, rowsOutsidePeriod: c.rowsOutsidePeriod }))
    }
    const body = { period: { from: period.from.toISOString(), to: period.to.toISOString() }, summary, comparisons }
    let runId: string | null = null
    if (options.save !== false) {
      const saved = yield* runs.save(tenantId, { period, summary, report: body, findings })
      runId = saved.id
    }
    return { runId, tenantId, ...body, findings }
  })
