/**
 * The ledger's input: one LLM call, normalized, matched and priced by the engine, with its
 * attribution labels and the raw provider payload kept verbatim.
 *
 * Cost semantics, checked before a call is written (a call that breaks them is dead-lettered):
 * - `computed` / `estimated`: priced by Tally; `breakdown` is required and `total` is its total
 *   (`estimated` when some usage was estimated, e.g. tokenized locally).
 * - `provider`: the provider's own figure is billed; `reportedCost` / `reportedCurrency` are
 *   required and `total` equals `reportedCost`; `breakdown` (Tally's own pricing) is optional.
 * - `unpriced`: no price could be found; `total` and `breakdown` are null and `unpricedReason`
 *   says why. Usage is still recorded and rolled up.
 * - `difference`, when given, is `reportedCost - breakdown.total` in one currency.
 * The currency of `total` is the breakdown's for computed and estimated calls and the reported
 * currency for provider-priced calls.
 */
import { CostBreakdown, Money, Usage } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import { Buffer } from "node:buffer"
import { createHash } from "node:crypto"
import * as CanonicalJson from "./internal/CanonicalJson.ts"
import * as EncodeCall from "./internal/EncodeCall.ts"

export const CostSource = Schema.Literals(["provider", "computed", "estimated", "unpriced"])
export type CostSource = typeof CostSource.Type

export const RequestId = Schema.String.check(
  Schema.isMinLength(1, { message: "expected a non-empty request id" }),
  Schema.isMaxLength(256, { message: "expected a request id of at most 256 characters" })
)

/** Attribution labels, each optional; an empty string counts as absent in rollups. */
export const Labels = Schema.Struct({
  project: Schema.optionalKey(Schema.String),
  environment: Schema.optionalKey(Schema.String),
  feature: Schema.optionalKey(Schema.String),
  team: Schema.optionalKey(Schema.String),
  customer: Schema.optionalKey(Schema.String),
  endUser: Schema.optionalKey(Schema.String),
  /** Workflow or trace id that groups calls of one task. */
  workflow: Schema.optionalKey(Schema.String),
  costCenter: Schema.optionalKey(Schema.String),
  apiKeyId: Schema.optionalKey(Schema.String)
})
export type Labels = typeof Labels.Type

export const LabelNames = [
  "project",
  "environment",
  "feature",
  "team",
  "customer",
  "endUser",
  "workflow",
  "costCenter",
  "apiKeyId"
] as const satisfies ReadonlyArray<keyof Labels>

export const PricedCall = Schema.Struct({
  requestId: RequestId,
  occurredAt: Schema.DateTimeUtcFromString,
  provider: Schema.NonEmptyString,
  api: Schema.optionalKey(Schema.String),
  /** The model as reported by the provider or caller. */
  model: Schema.String,
  definitionId: Schema.NullOr(Schema.String),
  snapshotId: Schema.NullOr(Schema.String),
  usage: Usage.Usage,
  breakdown: Schema.NullOr(CostBreakdown.CostBreakdown),
  total: Schema.NullOr(Money.DecimalFromString),
  costSource: CostSource,
  unpricedReason: Schema.NullOr(Schema.String),
  reportedCost: Schema.NullOr(Money.DecimalFromString),
  reportedCurrency: Schema.NullOr(Money.CurrencyCode),
  difference: Schema.NullOr(Money.DecimalFromString),
  labels: Labels,
  tags: Schema.Record(Schema.String, Schema.String),
  /** The provider payload as parsed JSON. */
  raw: Schema.Json,
  /** The payload's original text, where byte-for-byte matters (streams, number formatting). */
  rawText: Schema.optionalKey(Schema.String)
})
export type PricedCall = typeof PricedCall.Type
export type PricedCallEncoded = typeof PricedCall.Encoded

export const decode = Schema.decodeUnknownSync(PricedCall)
export const decodeEffect = Schema.decodeUnknownEffect(PricedCall)
export const encode = Schema.encodeSync(PricedCall)

/** Why a call cannot be written: the field at fault and what is wrong with it. */
export interface Rejection {
  readonly field: string
  readonly message: string
}

/** A call that passed every check, with what the ledger needs computed once. */
export interface Checked {
  readonly call: PricedCall
  /** The breakdown as encoded for storage (decimals as strings); null when there is none. */
  readonly breakdown: CostBreakdown.CostBreakdownEncoded | null
  /** sha256 of the canonical encoding: equal for equal events, whatever their key order. */
  readonly eventHash: Uint8Array
  readonly occurredAtMillis: number
  /** Currency of `total`; null for unpriced calls. */
  readonly currency: string | null
}

const MIN_MILLIS = Date.UTC(1970, 0, 1)
const MAX_MILLIS = Date.UTC(10000, 0, 1)

const reject = (field: string, message: string): Rejection => ({ field, message })

const finite = (value: Money.Decimal | null, field: string): Rejection | undefined =>
  value !== null && !(Money.isDecimal(value) && value.isFinite())
    ? reject(field, "expected a finite decimal")
    : undefined

const formatDecimal = (value: Money.Decimal) => Money.format(value)

/** The cost rules in the module comment, as a check that names the first field at fault. */
const checkCost = (call: PricedCall): Rejection | undefined => {
  const { breakdown, costSource, difference, reportedCost, reportedCurrency, total } = call
  const bad = finite(total, "total") ?? finite(reportedCost, "reportedCost") ?? finite(difference, "difference")
  if (bad !== undefined) return bad
  if (breakdown !== null) {
    if (!(Money.isDecimal(breakdown.total) && breakdown.total.isFinite())) {
      return reject("breakdown.total", "expected a finite decimal")
    }
    for (const [index, line] of breakdown.lines.entries()) {
      if (!(Money.isDecimal(line.amount) && line.amount.isFinite())) {
        return reject(`breakdown.lines[${index}].amount`, "expected a finite decimal")
      }
    }
    const sum = Money.sum(breakdown.lines.map((line) => line.amount))
    if (!sum.equals(breakdown.total)) {
      return reject(
        "breakdown.total",
        `the lines sum to ${formatDecimal(sum)}, not the breakdown total ${formatDecimal(breakdown.total)}`
      )
    }
    if (call.snapshotId !== breakdown.snapshotId) {
      return reject("snapshotId", `expected the breakdown's snapshot ${JSON.stringify(breakdown.snapshotId)}`)
    }
  }
  if (reportedCost !== null && reportedCurrency === null) {
    return reject("reportedCurrency", "expected the currency of the reported cost")
  }
  if (reportedCost === null && reportedCurrency !== null) {
    return reject("reportedCost", "a reported currency was given without a reported cost")
  }
  switch (costSource) {
    case "computed":
    case "estimated": {
      if (breakdown === null) return reject("breakdown", `required when costSource is "${costSource}"`)
      if (total === null || !total.equals(breakdown.total)) {
        return reject("total", `expected the breakdown total ${formatDecimal(breakdown.total)}`)
      }
      break
    }
    case "provider": {
      if (reportedCost === null) return reject("reportedCost", "required when costSource is \"provider\"")
      if (total === null || !total.equals(reportedCost)) {
        return reject("total", `expected the reported cost ${formatDecimal(reportedCost)}`)
      }
      break
    }
    case "unpriced": {
      if (total !== null) return reject("total", "expected null when costSource is \"unpriced\"")
      if (breakdown !== null) return reject("breakdown", "expected null when costSource is \"unpriced\"")
      if (call.unpricedReason === null || call.unpricedReason.length === 0) {
        return reject("unpricedReason", "required when costSource is \"unpriced\"")
      }
      break
    }
  }
  if (costSource !== "unpriced" && call.unpricedReason !== null) {
    return reject("unpricedReason", "expected null unless costSource is \"unpriced\"")
  }
  if (difference !== null) {
    if (reportedCost === null || breakdown === null) {
      return reject("difference", "needs both a reported cost and a breakdown")
    }
    if (reportedCurrency !== breakdown.currency) {
      return reject(
        "difference",
        `the reported cost is in ${reportedCurrency} but the breakdown in ${breakdown.currency}`
      )
    }
    const expected = reportedCost.minus(breakdown.total)
    if (!difference.equals(expected)) {
      return reject("difference", `expected reportedCost - breakdown.total = ${formatDecimal(expected)}`)
    }
  }
  return undefined
}

const currencyOf = (call: PricedCall): string | null =>
  call.costSource === "unpriced"
    ? null
    : call.costSource === "provider"
    ? call.reportedCurrency
    : call.breakdown?.currency ?? null

const decimalFields = (usage: Usage.Usage): Rejection | undefined => {
  if (usage.audioSeconds !== undefined && !(Money.isDecimal(usage.audioSeconds) && usage.audioSeconds.isFinite())) {
    return reject("usage.audioSeconds", "expected a finite decimal")
  }
  if (usage.videoSeconds !== undefined && !(Money.isDecimal(usage.videoSeconds) && usage.videoSeconds.isFinite())) {
    return reject("usage.videoSeconds", "expected a finite decimal")
  }
  return undefined
}

/**
 * Checks one call and prepares what the ledger stores. Encoding validates every schema constraint
 * (counts are non-negative integers, codes are codes); the rest are the cost rules above.
 */
export const check = (call: PricedCall): Checked | Rejection => {
  let encoded = EncodeCall.encode(call)
  if (encoded === undefined) {
    try {
      encoded = encode(call)
    } catch (error) {
      return schemaRejection(error)
    }
  }
  if (!DateTime.isDateTime(call.occurredAt)) return reject("occurredAt", "expected an instant")
  const occurredAtMillis = DateTime.toEpochMillis(call.occurredAt)
  if (!(occurredAtMillis >= MIN_MILLIS && occurredAtMillis < MAX_MILLIS)) {
    return reject("occurredAt", "expected an instant between 1970 and 9999")
  }
  const bad = decimalFields(call.usage) ?? checkCost(call)
  if (bad !== undefined) return bad
  return {
    call,
    breakdown: encoded.breakdown,
    eventHash: eventHash(encoded),
    occurredAtMillis,
    currency: currencyOf(call)
  }
}

/**
 * The idempotency hash of an event: sha256 of the canonical JSON of its encoding (keys sorted at
 * every depth), so equal events hash equally whatever their key order.
 */
export const eventHash = (encoded: PricedCallEncoded): Uint8Array =>
  createHash("sha256").update(CanonicalJson.canonicalJson(encoded)).digest()

export const isRejection = (u: Checked | Rejection): u is Rejection => "message" in u

const issueFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

const schemaRejection = (error: unknown): Rejection => {
  if (Schema.isSchemaError(error)) {
    const first = issueFormatter(error.issue).issues[0]
    if (first !== undefined) {
      const path = (first.path ?? []).map((key) => String(typeof key === "object" ? key.key : key))
      return reject(path.length === 0 ? "(call)" : path.join("."), first.message)
    }
  }
  return reject("(call)", error instanceof Error ? error.message : String(error))
}

/** The event hash as lowercase hex, for reports. */
export const hashHex = (hash: Uint8Array): string => Buffer.from(hash).toString("hex")
