/**
 * An anomaly finding: what kind of deviation was seen, in which scope (the tenant, one label value
 * or one model), over which window, how severe, and the evidence it was based on.
 *
 * A finding is unique per (tenant, kind, scope, window start, currency): `dedupeKey` is that key
 * as text, what a finding's webhook message (`messageKind`) is deduplicated by, and `toJson` its
 * JSON (the message's data and the CLI's output). Detection is `AnomalyDetectors`; storage is the
 * store's `AnomalyFindings`.
 */
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import * as Money from "./Money.ts"

export const Kind = Schema.Literals(["spend_spike", "token_rate_spike", "model_mix_shift", "cost_per_request_jump"])
export type Kind = typeof Kind.Type
export const kinds: ReadonlyArray<Kind> = Kind.literals

/** What a finding is about: the whole tenant, or one value of one label or the model. */
export const ScopeKind = Schema.Literals(["tenant", "project", "feature", "team", "customer", "apiKey", "model"])
export type ScopeKind = typeof ScopeKind.Type
export const scopeKinds: ReadonlyArray<ScopeKind> = ScopeKind.literals

export const Severity = Schema.Literals(["info", "warning", "critical"])
export type Severity = typeof Severity.Type

export interface Scope {
  readonly kind: ScopeKind
  /** The label or model value; null for the tenant scope. */
  readonly value: string | null
}

export const tenantScope: Scope = { kind: "tenant", value: null }

/** Stable text of a scope, e.g. `tenant` or `project=search`, for keys and messages. */
export const scopeKey = (scope: Scope): string => (scope.value === null ? scope.kind : `${scope.kind}=${scope.value}`)

export interface FindingInput {
  readonly kind: Kind
  readonly scope: Scope
  /** The window the anomaly was observed in, `[windowStart, windowEnd)`. */
  readonly windowStart: DateTime.Utc
  readonly windowEnd: DateTime.Utc
  readonly severity: Severity
  /** Currency of `observed` and `expected` when they are money; null for token rates. */
  readonly currency: string | null
  /** The value observed in the window (spend, tokens per minute, share shift, cost per request). */
  readonly observed: Money.Decimal
  /** What the baseline led to expect (its median, or its reference level). */
  readonly expected: Money.Decimal
  /** Name of the statistic in `score`, e.g. `modified_z`, `ratio_to_p99`. */
  readonly statistic: string
  readonly score: Money.Decimal
  /** One sentence for people. */
  readonly summary: string
  /** Everything the decision was based on: window, baseline, observed values, rows and models. */
  readonly evidence: Schema.JsonObject
}

export interface Finding extends FindingInput {
  readonly id: string
  readonly tenantId: string
  readonly detectedAt: DateTime.Utc
}

/** A finding, or a query for findings and series, that cannot be: `field` names what is wrong. */
export class InvalidAnomalyQuery extends Schema.TaggedError<InvalidAnomalyQuery>()("InvalidAnomalyQuery", {
  field: Schema.String,
  message: Schema.String
}) {}

const isDecimal = (value: Money.Decimal) => Money.isDecimal(value) && value.isFinite()

/**
 * What a finding must be beyond its type: a value for every scope but the tenant's, a window that
 * ends after it starts, finite decimals. `index` is its place in the batch, for the error's field.
 */
export const validate = (finding: FindingInput, index: number): InvalidAnomalyQuery | undefined => {
  const at = (field: string, message: string) =>
    new InvalidAnomalyQuery({ field: `findings[${index}].${field}`, message })
  if ((finding.scope.kind === "tenant") !== (finding.scope.value === null)) {
    return at("scope.value", "expected null for the tenant scope and a value for every other scope")
  }
  if (finding.scope.value === "") return at("scope.value", "expected a non-empty value")
  if (DateTime.toEpochMillis(finding.windowEnd) <= DateTime.toEpochMillis(finding.windowStart)) {
    return at("windowEnd", "expected the window to end after it starts")
  }
  if (!isDecimal(finding.observed)) return at("observed", "expected a finite decimal")
  if (!isDecimal(finding.expected)) return at("expected", "expected a finite decimal")
  if (!isDecimal(finding.score)) return at("score", "expected a finite decimal")
  return undefined
}

/** The webhook message kind of a new finding. */
export const messageKind = "anomaly.detected"

/** A finding's key in the outbox: one message per finding. */
export const dedupeKey = (finding: FindingInput): string =>
  [finding.kind, scopeKey(finding.scope), DateTime.formatIso(finding.windowStart), finding.currency ?? ""].join(":")

/** A finding as JSON: decimals and instants as strings. The outbox message's `data` and the CLI's output. */
export const toJson = (finding: Finding) => ({
  id: finding.id,
  tenantId: finding.tenantId,
  kind: finding.kind,
  scope: { kind: finding.scope.kind, value: finding.scope.value },
  window: { from: DateTime.formatIso(finding.windowStart), to: DateTime.formatIso(finding.windowEnd) },
  severity: finding.severity,
  currency: finding.currency,
  observed: Money.format(finding.observed),
  expected: Money.format(finding.expected),
  statistic: finding.statistic,
  score: Money.format(finding.score),
  summary: finding.summary,
  evidence: finding.evidence,
  detectedAt: DateTime.formatIso(finding.detectedAt)
})
