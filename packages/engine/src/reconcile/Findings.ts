/**
 * Reconciliation findings: one discrepancy each, with a named kind, a severity and the evidence
 * that shows it (rows, amounts, snapshot ids). Amounts are exact decimal strings.
 */
import { Money, type Reconciliation } from "@tally/core"

export const Kinds = {
  /** Re-normalizing the stored raw payload gives other usage than the ledger holds: the normalizer changed. */
  usageDrift: "usage-drift",
  /** The stored raw payload no longer normalizes at all. */
  renormalizeFailed: "renormalize-failed",
  /** Re-pricing with the snapshot the row was priced with gives another figure: the pricing code changed. */
  priceDrift: "price-drift",
  /** The snapshot the row names is neither in force in today's book nor stored; it cannot be re-checked. */
  snapshotUnavailable: "snapshot-unavailable",
  /** The provider's own per-call cost differs from Tally's computation beyond the tolerance. */
  reportedCostVariance: "reported-cost-variance",
  tokensButZeroCost: "tokens-but-zero-cost",
  unmatchedModel: "unmatched-model",
  /** Unpriced for another reason than the model (no snapshot in force, a bucket without a rate). */
  unpriced: "unpriced",
  /** The provider's cached input was recorded (also) as plain input. */
  cachedTokensDoubleCounted: "cached-tokens-double-counted",
  /** A stream that carried no usage: tokens were estimated with a tokenizer. */
  streamingWithoutUsage: "streaming-without-usage",
  /** A request id arrived again with a different payload (a conflict dead letter). */
  duplicateRequestId: "duplicate-request-id",
  /** The provider report has usage or cost for a day × model × project the ledger has none of. */
  missingOnOurSide: "missing-on-our-side",
  /** The ledger has usage for a day × model × project the provider report does not. */
  missingOnTheirSide: "missing-on-their-side",
  reportCostVariance: "report-cost-variance",
  reportTokenVariance: "report-token-variance"
} as const
export type Kind = typeof Kinds[keyof typeof Kinds]

const text = (value: Money.Decimal | null | undefined): string | null => (value === null || value === undefined ? null : Money.format(value))

export const make = (input: {
  readonly kind: Kind
  readonly severity: Reconciliation.Severity
  readonly requestId?: string | null | undefined
  readonly occurredAt?: string | null | undefined
  readonly provider?: string | null | undefined
  readonly model?: string | null | undefined
  readonly reportedCost?: Money.Decimal | null | undefined
  readonly computedCost?: Money.Decimal | null | undefined
  readonly difference?: Money.Decimal | null | undefined
  readonly currency?: string | null | undefined
  readonly message: string
  readonly evidence?: Readonly<Record<string, unknown>> | undefined
}): Reconciliation.FindingInput => ({
  kind: input.kind,
  severity: input.severity,
  requestId: input.requestId ?? null,
  occurredAt: input.occurredAt ?? null,
  provider: input.provider ?? null,
  model: input.model ?? null,
  reportedCost: text(input.reportedCost),
  computedCost: text(input.computedCost),
  difference: text(input.difference),
  currency: input.currency ?? null,
  evidence: { message: input.message, ...input.evidence }
})

/** Tolerance for comparing two amounts (or token counts): beyond both bounds is a variance. */
export interface Tolerance {
  /** Absolute, in major units (or tokens). Default 0.01. */
  readonly absolute: Money.Decimal
  /** Relative to the larger side, e.g. 0.01 = 1%. Default 0.005. */
  readonly relative: Money.Decimal
}

export const defaultTolerance: Tolerance = { absolute: new Money.Decimal("0.01"), relative: new Money.Decimal("0.005") }

/** True when `a` and `b` differ by more than the absolute bound and the relative one. */
export const beyond = (tolerance: Tolerance, a: Money.Decimal, b: Money.Decimal): boolean => {
  const diff = a.minus(b).abs()
  if (diff.lte(tolerance.absolute)) return false
  const scale = Money.Decimal.max(a.abs(), b.abs())
  return diff.gt(scale.times(tolerance.relative))
}

export const severityRank: Readonly<Record<Reconciliation.Severity, number>> = { error: 0, warning: 1, info: 2 }
