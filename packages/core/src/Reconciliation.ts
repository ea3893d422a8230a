/**
 * Reconciliation's records: a run over a tenant's period with its findings (each one discrepancy,
 * with a kind, a severity and the evidence that shows it) and the provider reports a run compares
 * the ledger with. Amounts are exact decimal strings. The checks are the engine's `Reconcile`; the
 * store keeps runs (`ReconciliationRuns`) and uploaded reports (`ProviderReports`).
 */

/** `[from, to)`. */
export interface Period {
  readonly from: Date
  /** Exclusive. */
  readonly to: Date
}

/** The provider report formats a run can read. */
export const reportFormats = ["openai-costs", "openai-usage", "anthropic-cost", "anthropic-usage", "csv"] as const
export type ReportFormat = typeof reportFormats[number]

export type Severity = "info" | "warning" | "error"

/** A finding as a run produces it. */
export interface FindingInput {
  readonly kind: string
  readonly severity: Severity
  readonly requestId: string | null
  readonly occurredAt: string | null
  readonly provider: string | null
  readonly model: string | null
  /** Exact decimals as strings. */
  readonly reportedCost: string | null
  readonly computedCost: string | null
  readonly difference: string | null
  readonly currency: string | null
  /** What shows the problem: rows, amounts, snapshot ids, the message. */
  readonly evidence: Readonly<Record<string, unknown>>
}

/** A finding as stored with its run. */
export interface Finding extends FindingInput {
  readonly id: string
  readonly runId: string
}

/** A stored run: its period, when it ran, its summary and the report (comparisons) it made. */
export interface Run {
  readonly id: string
  readonly period: Period
  readonly createdAt: string
  readonly summary: Readonly<Record<string, unknown>>
  readonly report: Readonly<Record<string, unknown>>
}

/** A provider report as uploaded. */
export interface ReportInput {
  readonly format: ReportFormat
  readonly name?: string | undefined
  /** The period the report's rows cover (first bucket start, last bucket end). */
  readonly period: Period
  readonly rowCount: number
  /** The report exactly as uploaded. */
  readonly content: string
}

export interface Report extends ReportInput {
  readonly id: string
  readonly uploadedAt: string
}
