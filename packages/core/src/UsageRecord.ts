/**
 * The usage record: one LLM call, normalized, matched and priced, with its attribution labels and
 * the raw provider payload kept verbatim. It is what the ledger stores and what every report,
 * budget and chargeback adds up.
 *
 * Cost semantics, checked by `checkRules` before a record is stored (a record that breaks them is
 * dead-lettered):
 * - `computed` / `estimated`: priced by Tally; `breakdown` is required and `total` is its total
 *   (`estimated` when some usage was estimated, e.g. tokenized locally).
 * - `provider`: the provider's own figure is billed; `reportedCost` / `reportedCurrency` are
 *   required and `total` equals `reportedCost`; `breakdown` (Tally's own pricing) is optional.
 * - `unpriced`: no price could be found; `total` and `breakdown` are null and `unpricedReason`
 *   says why. Usage is still recorded and rolled up.
 * - `partial`: a definition matched but some usage has no rate. The priced lines are kept:
 *   `breakdown` is required, names the unpriced components and quantities in `breakdown.missing`
 *   (the call's cost at risk), `total` is the priced part, and `unpricedReason` says what is
 *   missing. Never a silent $0 and never a lost token cost.
 * - `difference`, when given, is `reportedCost - breakdown.total` in one currency.
 * The currency of `total` is the breakdown's for computed and estimated records and the reported
 * currency for provider-priced ones.
 */
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import * as CostBreakdown from "./CostBreakdown.ts"
import * as FieldError from "./FieldError.ts"
import * as Money from "./Money.ts"
import * as StorableText from "./StorableText.ts"
import * as Usage from "./Usage.ts"

export const CostSource = Schema.Literals(["provider", "computed", "estimated", "partial", "unpriced"])
export type CostSource = typeof CostSource.Type

/** The idempotency key of a call within its tenant. */
export const RequestId = Schema.String.check(
  Schema.isMinLength(1, { message: "expected a non-empty request id" }),
  Schema.isMaxLength(256, { message: "expected a request id of at most 256 characters" })
)

/** The request id rule as a predicate, for places that only pick a usable id out of bad input. */
export const isRequestId = (u: unknown): u is string => typeof u === "string" && u.length >= 1 && u.length <= 256

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

export const labelNames = [
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

export const UsageRecord = Schema.Struct({
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
export type UsageRecord = typeof UsageRecord.Type
export type UsageRecordEncoded = typeof UsageRecord.Encoded

export const decode = Schema.decodeUnknownSync(UsageRecord)
export const decodeEffect = Schema.decodeUnknownEffect(UsageRecord)
export const encode = Schema.encodeSync(UsageRecord)

/** Why a record cannot be stored: the field at fault and what is wrong with it. */
export interface Rejection {
  readonly field: string
  readonly message: string
}

const reject = (field: string, message: string): Rejection => ({ field, message })

/** A failed schema encoding or decoding of a record as a rejection naming the field. */
export const rejectionOf = (error: unknown): Rejection => {
  if (Schema.isSchemaError(error)) return FieldError.fromSchemaError(error, { root: "(call)" })
  return reject("(call)", error instanceof Error ? error.message : String(error))
}

const MIN_MILLIS = Date.UTC(1970, 0, 1)
const MAX_MILLIS = Date.UTC(10000, 0, 1)

const finite = (value: Money.Decimal | null, field: string): Rejection | undefined =>
  value !== null && !(Money.isDecimal(value) && value.isFinite())
    ? reject(field, "expected a finite decimal")
    : undefined

/** The cost rules in the module comment, as a check that names the first field at fault. */
const checkCost = (record: UsageRecord): Rejection | undefined => {
  const { breakdown, costSource, difference, reportedCost, reportedCurrency, total } = record
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
        `the lines sum to ${Money.format(sum)}, not the breakdown total ${Money.format(breakdown.total)}`
      )
    }
    if (record.snapshotId !== breakdown.snapshotId) {
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
        return reject("total", `expected the breakdown total ${Money.format(breakdown.total)}`)
      }
      break
    }
    case "provider": {
      if (reportedCost === null) return reject("reportedCost", "required when costSource is \"provider\"")
      if (total === null || !total.equals(reportedCost)) {
        return reject("total", `expected the reported cost ${Money.format(reportedCost)}`)
      }
      break
    }
    case "partial": {
      if (breakdown === null) return reject("breakdown", "required when costSource is \"partial\"")
      if (breakdown.missing === undefined || breakdown.missing.length === 0) {
        return reject("breakdown.missing", "a partial cost names the components it could not price")
      }
      if (total === null || !total.equals(breakdown.total)) {
        return reject("total", `expected the breakdown total ${Money.format(breakdown.total)}`)
      }
      if (record.unpricedReason === null || record.unpricedReason.length === 0) {
        return reject("unpricedReason", "required when costSource is \"partial\"")
      }
      break
    }
    case "unpriced": {
      if (total !== null) return reject("total", "expected null when costSource is \"unpriced\"")
      if (breakdown !== null) return reject("breakdown", "expected null when costSource is \"unpriced\"")
      if (record.unpricedReason === null || record.unpricedReason.length === 0) {
        return reject("unpricedReason", "required when costSource is \"unpriced\"")
      }
      break
    }
  }
  if (costSource !== "unpriced" && costSource !== "partial" && record.unpricedReason !== null) {
    return reject("unpricedReason", "expected null unless costSource is \"unpriced\" or \"partial\"")
  }
  if (costSource !== "partial" && breakdown !== null && breakdown.missing !== undefined) {
    return reject("breakdown.missing", "only a partial cost leaves components unpriced")
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
      return reject("difference", `expected reportedCost - breakdown.total = ${Money.format(expected)}`)
    }
  }
  return undefined
}

const decimalFields = (usage: Usage.Usage): Rejection | undefined => {
  if (usage.audioSeconds !== undefined && !(Money.isDecimal(usage.audioSeconds) && usage.audioSeconds.isFinite())) {
    return reject("usage.audioSeconds", "expected a finite decimal")
  }
  if (usage.videoSeconds !== undefined && !(Money.isDecimal(usage.videoSeconds) && usage.videoSeconds.isFinite())) {
    return reject("usage.videoSeconds", "expected a finite decimal")
  }
  return undefined
}

const tooLong = (field: string, text: string, max: number): Rejection | undefined =>
  text.length > max ? reject(field, `expected at most ${max} characters, got ${text.length}`) : undefined

const storable = (field: string, text: string | null | undefined): Rejection | undefined => {
  if (text === null || text === undefined) return undefined
  const problem = StorableText.problemOf(text)
  return problem === undefined ? undefined : reject(field, problem)
}

/**
 * Text the database can store (no NUL, no lone surrogate, anywhere, raw payload included) and
 * the length limits of `StorableText.limits` on what the ledger indexes.
 */
const checkText = (record: UsageRecord): Rejection | undefined => {
  const { limits } = StorableText
  const simple: ReadonlyArray<readonly [string, string | null | undefined, number]> = [
    ["requestId", record.requestId, limits.requestId],
    ["provider", record.provider, limits.provider],
    ["api", record.api, limits.api],
    ["model", record.model, limits.model]
  ]
  for (const [field, text, max] of simple) {
    const bad = storable(field, text) ?? (text === undefined || text === null ? undefined : tooLong(field, text, max))
    if (bad !== undefined) return bad
  }
  let keyBytes = StorableText.utf8Bytes(record.provider) + StorableText.utf8Bytes(record.model)
  for (const name of labelNames) {
    const text = record.labels[name]
    if (text === undefined) continue
    const bad = storable(`labels.${name}`, text) ?? tooLong(`labels.${name}`, text, limits.label)
    if (bad !== undefined) return bad
    keyBytes += StorableText.utf8Bytes(text)
  }
  if (keyBytes > limits.keyBytes) {
    return reject(
      "labels",
      `provider, model and labels together take ${keyBytes} bytes of UTF-8; at most ${limits.keyBytes} are allowed`
    )
  }
  const tags = Object.entries(record.tags)
  if (tags.length > limits.tags) return reject("tags", `expected at most ${limits.tags} tags, got ${tags.length}`)
  for (const [key, value] of tags) {
    const field = `tags.${StorableText.escape(key)}`
    const bad = storable(field, key) ?? tooLong(`${field} (the key)`, key, limits.tagKey) ??
      storable(field, value) ?? tooLong(field, value, limits.tagValue)
    if (bad !== undefined) return bad
  }
  const other = storable("definitionId", record.definitionId) ?? storable("unpricedReason", record.unpricedReason) ??
    storable("rawText", record.rawText)
  if (other !== undefined) return other
  const found = StorableText.find(record.raw, "raw")
  return found === undefined ? undefined : reject(found.path, found.problem)
}

/**
 * The rules a schema cannot say, for a record whose encoding already succeeded: an instant between
 * 1970 and 9999, text the database can store within the limits of `StorableText`, finite
 * decimals, and the cost rules above. Returns the first field at fault.
 */
export const checkRules = (record: UsageRecord): Rejection | undefined => {
  if (!DateTime.isDateTime(record.occurredAt)) return reject("occurredAt", "expected an instant")
  const millis = DateTime.toEpochMillis(record.occurredAt)
  if (!(millis >= MIN_MILLIS && millis < MAX_MILLIS)) {
    return reject("occurredAt", "expected an instant between 1970 and 9999")
  }
  return checkText(record) ?? decimalFields(record.usage) ?? checkCost(record)
}

/** The currency of `total`; null for unpriced records. */
export const currencyOf = (record: UsageRecord): string | null =>
  record.costSource === "unpriced"
    ? null
    : record.costSource === "provider"
    ? record.reportedCurrency
    : record.breakdown?.currency ?? null
