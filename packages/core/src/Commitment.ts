/**
 * Commitments: what a tenant bought ahead of its usage, and what that does to a call's cost.
 *
 * - `spend`: a committed-use discount. The tenant commits to `amount` of spend per calendar month
 *   and the provider takes `discountPercent` off every call the commitment covers. A covered call
 *   is priced on demand and then discounted line by line (`commitment-discount:<name>(-20%)`).
 * - `provisioned`: provisioned throughput (reserved capacity) for a `fee` per hour or per month.
 *   A call served on that capacity costs nothing at the margin: every line keeps its quantity and
 *   its on-demand amount in the condition `provisioned-throughput:<name>(on-demand <amount>)`, and
 *   its unit price and amount become 0. A call of the same scope that was not served on the
 *   capacity (spillover) is priced on demand as it is, and counted as spillover.
 *
 * `apply` runs after pricing and before the ledger (the engine's ingest); it never changes which
 * rates were found. Only calls Tally priced (`computed`, `estimated`, `partial`) in the
 * commitment's currency are changed; a provider-reported cost is the provider's own figure.
 *
 * A call is on provisioned capacity when it says so (`provisionedSignal`): Vertex/Gemini
 * `usageMetadata.trafficType = PROVISIONED_THROUGHPUT`, a Bedrock provisioned-model ARN as the model
 * or a `reserved` service tier, an OpenAI/Azure `service_tier` of `scale`, or the call's deployment
 * (tag `deployment`) being the commitment's (an Azure PTU deployment serves nothing else).
 *
 * Pure functions over values; storing commitments and their usage is the store's.
 */
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as CostBreakdown from "./CostBreakdown.ts"
import * as FieldError from "./FieldError.ts"
import * as Money from "./Money.ts"
import * as Usage from "./Usage.ts"
import type * as UsageRecord from "./UsageRecord.ts"

export const Kind = Schema.Literals(["spend", "provisioned"])
export type Kind = typeof Kind.Type

export const FeePeriod = Schema.Literals(["hour", "month"])
export type FeePeriod = typeof FeePeriod.Type

export interface Commitment {
  readonly id: string
  readonly name: string
  readonly kind: Kind
  /** Scope: each given field must match the call (provider and model case-insensitively; `model` may end in `*`). */
  readonly provider: string | null
  readonly model: string | null
  /** A deployment name (tag `deployment`) or a Bedrock provisioned-model ARN (the call's model). */
  readonly deployment: string | null
  readonly currency: string
  /** `spend`: the percentage taken off covered calls, and the committed spend per calendar month. */
  readonly discountPercent: Money.Decimal | null
  readonly amount: Money.Decimal | null
  /** `provisioned`: the capacity's fee per hour or per month. */
  readonly fee: Money.Decimal | null
  readonly feePeriod: FeePeriod | null
  readonly startsAt: DateTime.Utc
  /** Exclusive; null while open-ended. */
  readonly endsAt: DateTime.Utc | null
  readonly createdAt: DateTime.Utc
  readonly archivedAt: DateTime.Utc | null
}

export class InvalidCommitment extends Schema.TaggedError<InvalidCommitment>()("InvalidCommitment", {
  field: Schema.String,
  message: Schema.String
}) {}

export class CommitmentNotFound extends Schema.TaggedError<CommitmentNotFound>()("CommitmentNotFound", {
  commitmentId: Schema.String,
  /** Always `id`: the argument at fault, for APIs that answer by field. */
  field: Schema.String,
  message: Schema.String
}) {}

export const notFound = (commitmentId: string) =>
  new CommitmentNotFound({ commitmentId, field: "id", message: `id: commitment ${JSON.stringify(commitmentId)} does not exist` })

const invalid = (field: string, message: string) => new InvalidCommitment({ field, message: `${field}: ${message}` })

// Input ---------------------------------------------------------------------------------------

const Name = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200))
const Label = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(512))

/** A commitment as JSON (GraphQL input, CLI flags): decimals as strings, instants as ISO text. */
export const CommitmentInput = Schema.Struct({
  name: Name,
  kind: Kind,
  provider: Schema.optionalKey(Label),
  model: Schema.optionalKey(Label),
  deployment: Schema.optionalKey(Label),
  currency: Money.CurrencyCode,
  discountPercent: Schema.optionalKey(Money.Percent),
  amount: Schema.optionalKey(Money.NonNegativeInputDecimal),
  fee: Schema.optionalKey(Money.NonNegativeInputDecimal),
  feePeriod: Schema.optionalKey(FeePeriod),
  startsAt: Schema.DateTimeUtcFromString,
  endsAt: Schema.optionalKey(Schema.DateTimeUtcFromString)
})
export type CommitmentInput = typeof CommitmentInput.Type

/** What `decodeInput` gives: a commitment without its identity and bookkeeping. */
export type NewCommitment = Omit<Commitment, "id" | "createdAt" | "archivedAt">

const decodeInputResult = Schema.decodeUnknownResult(CommitmentInput, { onExcessProperty: "error", errors: "first" })

/** Decodes and checks a new commitment; the error names the field at fault. */
export const decodeInput = (input: unknown): Result.Result<NewCommitment, InvalidCommitment> => {
  const decoded = decodeInputResult(input)
  if (Result.isFailure(decoded)) {
    const { field, message } = FieldError.fromSchemaError(decoded.failure)
    return Result.fail(invalid(field, message))
  }
  const c = decoded.success
  const fail = (field: string, message: string) => Result.fail(invalid(field, message))
  if (c.endsAt !== undefined && DateTime.toEpochMillis(c.endsAt) <= DateTime.toEpochMillis(c.startsAt)) {
    return fail("endsAt", "expected an instant after startsAt")
  }
  if (c.kind === "spend") {
    if (c.discountPercent === undefined) return fail("discountPercent", "required for a spend commitment")
    if (c.amount === undefined) return fail("amount", "required for a spend commitment (the committed spend per month)")
    if (c.fee !== undefined) return fail("fee", "only a provisioned commitment has a fee")
    if (c.feePeriod !== undefined) return fail("feePeriod", "only a provisioned commitment has a fee period")
  } else {
    if (c.fee === undefined) return fail("fee", "required for a provisioned commitment")
    if (c.feePeriod === undefined) return fail("feePeriod", "required for a provisioned commitment (hour or month)")
    if (c.discountPercent !== undefined) return fail("discountPercent", "only a spend commitment has a discount")
    if (c.amount !== undefined) return fail("amount", "only a spend commitment has a committed amount")
    if (c.model === undefined && c.deployment === undefined) {
      return fail("model", "a provisioned commitment names the model or the deployment its capacity serves")
    }
  }
  return Result.succeed({
    name: c.name,
    kind: c.kind,
    provider: c.provider ?? null,
    model: c.model ?? null,
    deployment: c.deployment ?? null,
    currency: c.currency,
    discountPercent: c.discountPercent ?? null,
    amount: c.amount ?? null,
    fee: c.fee ?? null,
    feePeriod: c.feePeriod ?? null,
    startsAt: c.startsAt,
    endsAt: c.endsAt ?? null
  })
}

// Which calls a commitment covers -------------------------------------------------------------

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

const modelMatches = (pattern: string, name: string): boolean =>
  pattern.endsWith("*") ? name.toLowerCase().startsWith(pattern.slice(0, -1).toLowerCase()) : same(pattern, name)

const BEDROCK_PROVISIONED = /^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:provisioned-model\//i

/** Service tiers that mean reserved capacity: Vertex `trafficType`, Bedrock's `reserved` tier. */
const PROVISIONED_TIERS = new Set(["provisioned_throughput", "provisioned", "reserved"])

/** The call's deployment: its tag `deployment`. */
export const deploymentOf = (record: UsageRecord.UsageRecord): string | undefined => {
  const tag = record.tags["deployment"]
  return tag === undefined || tag === "" ? undefined : tag
}

/**
 * Why the call says it was served on provisioned capacity, or undefined: the service tier or
 * traffic type, a Bedrock provisioned-model ARN, or an OpenAI/Azure `service_tier` of `scale`.
 */
export const provisionedSignal = (record: UsageRecord.UsageRecord): string | undefined => {
  const tier = record.usage.serviceTier
  if (tier !== undefined && PROVISIONED_TIERS.has(tier.toLowerCase())) return `service-tier:${tier}`
  if (BEDROCK_PROVISIONED.test(record.model)) return "bedrock-provisioned-model"
  const raw = record.raw
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const served = (raw as { readonly [key: string]: unknown })["service_tier"]
    if (typeof served === "string" && same(served, "scale")) return "service-tier:scale"
  }
  return undefined
}

/** Whether the call is inside the commitment's scope and time (not whether it ran on its capacity). */
export const inScope = (commitment: Commitment, record: UsageRecord.UsageRecord): boolean => {
  const at = DateTime.toEpochMillis(record.occurredAt)
  if (at < DateTime.toEpochMillis(commitment.startsAt)) return false
  if (commitment.endsAt !== null && at >= DateTime.toEpochMillis(commitment.endsAt)) return false
  if (commitment.provider !== null) {
    const provider = record.breakdown?.provider
    if (!same(commitment.provider, record.provider) && (provider === undefined || !same(commitment.provider, provider))) return false
  }
  if (commitment.model !== null) {
    const names = [record.model, record.definitionId, record.breakdown?.modelKey].filter((n): n is string => typeof n === "string")
    if (!names.some((name) => modelMatches(commitment.model!, name))) return false
  }
  if (commitment.deployment !== null) {
    const deployment = deploymentOf(record)
    if (deployment !== commitment.deployment && record.model !== commitment.deployment) return false
  }
  return true
}

// Applying commitments to a priced call -------------------------------------------------------

export type CoverageKind = "provisioned" | "spillover" | "discounted"

/** What a commitment did to one call, kept beside the ledger for the commitment's reports. */
export interface Coverage {
  readonly commitmentId: string
  readonly kind: CoverageKind
  /** The call's cost on demand (before the commitment). */
  readonly onDemand: Money.Decimal
  /** The call's cost as recorded: 0 on provisioned capacity, discounted, or on demand for spillover. */
  readonly charged: Money.Decimal
  readonly currency: string
  readonly tokens: number
  /** Why the call counts as served on provisioned capacity (`provisioned` only). */
  readonly signal: string | null
}

export interface Applied {
  readonly record: UsageRecord.UsageRecord
  readonly coverage: Coverage | undefined
}

const isTallyPriced = (record: UsageRecord.UsageRecord): boolean =>
  record.breakdown !== null &&
  (record.costSource === "computed" || record.costSource === "estimated" || record.costSource === "partial")

const withLines = (
  record: UsageRecord.UsageRecord,
  breakdown: CostBreakdown.CostBreakdown,
  line: (line: CostBreakdown.CostLine) => CostBreakdown.CostLine
): UsageRecord.UsageRecord => {
  const lines = breakdown.lines.map(line)
  const total = Money.sum(lines.map((l) => l.amount))
  return {
    ...record,
    breakdown: { ...breakdown, lines, total },
    total,
    difference: record.difference === null || record.reportedCost === null ? record.difference : record.reportedCost.minus(total)
  }
}

const PER: Record<CostBreakdown.CostLine["listRatePer"], Money.Decimal> = {
  "1M tokens": Money.MILLION,
  "1k searches": new Money.Decimal(1000),
  unit: Money.ONE
}

/** A service-tier multiplier of 0 the catalog applied (e.g. Vertex `PROVISIONED_THROUGHPUT` x0). */
const ZEROED_BY_TIER = /^service-tier:[^(]*\(x0\)$/

/**
 * What the line would have cost on demand: its amount, or, when the catalog already priced the
 * tier at 0, its quantity at the list rate (before conditions such as long-context tiers).
 */
export const onDemandAmount = (line: CostBreakdown.CostLine): Money.Decimal =>
  line.amount.isZero() && line.conditions.some((c) => ZEROED_BY_TIER.test(c))
    ? line.quantity.times(line.listRate).dividedBy(PER[line.listRatePer])
    : line.amount

/** The call on provisioned capacity: every line at 0, its on-demand amount kept in the condition. */
export const zeroMarginal = (record: UsageRecord.UsageRecord, commitment: Commitment): UsageRecord.UsageRecord =>
  withLines(record, record.breakdown!, (line) => ({
    ...line,
    unitPrice: Money.ZERO,
    amount: Money.ZERO,
    conditions: [...line.conditions, `provisioned-throughput:${commitment.name}(on-demand ${Money.format(onDemandAmount(line))})`]
  }))

/** The call with the commitment's discount taken off every line. */
export const discounted = (record: UsageRecord.UsageRecord, commitment: Commitment): UsageRecord.UsageRecord => {
  const percent = commitment.discountPercent ?? Money.ZERO
  const factor = Money.ONE.minus(percent.dividedBy(Money.HUNDRED))
  return withLines(record, record.breakdown!, (line) => ({
    ...line,
    unitPrice: line.unitPrice.times(factor),
    amount: line.amount.times(factor),
    conditions: [...line.conditions, `commitment-discount:${commitment.name}(-${Money.format(percent)}%)`]
  }))
}

/**
 * Applies the first commitment that covers the call, in this order: provisioned capacity the call
 * ran on, then a spend commitment (its discount), then spillover of a provisioned scope the call
 * did not run on (recorded as it was priced). `commitments` are the tenant's active ones in
 * creation order.
 */
export const apply = (commitments: ReadonlyArray<Commitment>, record: UsageRecord.UsageRecord): Applied => {
  if (commitments.length === 0 || !isTallyPriced(record)) return { record, coverage: undefined }
  const currency = record.breakdown!.currency
  const onDemand = record.breakdown!.total
  const tokens = Usage.totalTokens(record.usage)
  const candidates = commitments.filter((c) => c.archivedAt === null && c.currency === currency && inScope(c, record))
  if (candidates.length === 0) return { record, coverage: undefined }
  const signal = provisionedSignal(record)
  for (const c of candidates) {
    if (c.kind !== "provisioned") continue
    const own = signal ?? (c.deployment !== null && deploymentOf(record) === c.deployment ? `deployment:${c.deployment}` : undefined)
    if (own === undefined) continue
    const changed = zeroMarginal(record, c)
    const full = Money.sum(record.breakdown!.lines.map(onDemandAmount))
    return { record: changed, coverage: { commitmentId: c.id, kind: "provisioned", onDemand: full, charged: Money.ZERO, currency, tokens, signal: own } }
  }
  const spend = candidates.find((c) => c.kind === "spend")
  if (spend !== undefined) {
    const changed = discounted(record, spend)
    return { record: changed, coverage: { commitmentId: spend.id, kind: "discounted", onDemand, charged: changed.total!, currency, tokens, signal: null } }
  }
  const spilled = candidates.find((c) => c.kind === "provisioned")!
  return { record, coverage: { commitmentId: spilled.id, kind: "spillover", onDemand, charged: onDemand, currency, tokens, signal: null } }
}

// Periods, fees and break-even ----------------------------------------------------------------

/** Hours in a month for hourly-versus-monthly comparisons (365 × 24 / 12), as providers quote. */
export const HOURS_PER_MONTH = new Money.Decimal(730)

const HOUR_MILLIS = 3_600_000

const monthStartUtc = (millis: number): number => {
  const d = new Date(millis)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}
const nextMonthUtc = (millis: number): number => {
  const d = new Date(millis)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
}

/**
 * A per-month amount over `[from, to)`: each UTC calendar month contributes the amount times the
 * share of that month inside the window (a whole month contributes the amount exactly).
 */
export const monthlyOver = (perMonth: Money.Decimal, from: number, to: number): Money.Decimal => {
  let total = Money.ZERO
  let cursor = monthStartUtc(from)
  while (cursor < to) {
    const next = nextMonthUtc(cursor)
    const overlap = Math.min(next, to) - Math.max(cursor, from)
    if (overlap > 0) total = total.plus(perMonth.times(overlap).dividedBy(next - cursor))
    cursor = next
  }
  return total
}

/** The part of `[from, to)` the commitment is active in, or undefined when none. */
export const activeWindow = (commitment: Commitment, from: number, to: number): { from: number; to: number } | undefined => {
  const start = Math.max(from, DateTime.toEpochMillis(commitment.startsAt))
  const end = Math.min(to, commitment.endsAt === null ? to : DateTime.toEpochMillis(commitment.endsAt))
  return end > start ? { from: start, to: end } : undefined
}

/**
 * What the commitment costs over `[from, to)` (only while active): a provisioned fee per hour
 * times the hours, a per-month fee or a spend commitment's monthly amount prorated by calendar month.
 */
export const feeOver = (commitment: Commitment, from: number, to: number): Money.Decimal => {
  const window = activeWindow(commitment, from, to)
  if (window === undefined) return Money.ZERO
  if (commitment.kind === "spend") return monthlyOver(commitment.amount ?? Money.ZERO, window.from, window.to)
  const fee = commitment.fee ?? Money.ZERO
  if (commitment.feePeriod === "hour") return fee.times(window.to - window.from).dividedBy(HOUR_MILLIS)
  return monthlyOver(fee, window.from, window.to)
}

/** Usage a commitment saw in a period, summed (what the store reads). */
export interface PeriodUsage {
  readonly calls: number
  readonly tokens: number
  readonly onDemand: Money.Decimal
  readonly charged: Money.Decimal
}

export const emptyUsage: PeriodUsage = { calls: 0, tokens: 0, onDemand: Money.ZERO, charged: Money.ZERO }

export interface PeriodReport {
  readonly commitmentId: string
  readonly from: number
  readonly to: number
  readonly currency: string
  /** The commitment's fee (provisioned) or committed spend (spend) for the period. */
  readonly fee: Money.Decimal
  /** Calls the commitment covered: on the capacity (provisioned) or discounted (spend). */
  readonly covered: PeriodUsage
  /** Calls of a provisioned scope served on demand. */
  readonly spillover: PeriodUsage
  /** What the covered calls would have cost on demand. */
  readonly onDemand: Money.Decimal
  /**
   * Provisioned: on-demand value of the covered calls / fee (1 = the capacity paid for itself).
   * Spend: discounted spend / committed spend. Null when the fee is 0.
   */
  readonly utilisation: Money.Decimal | null
  /** What the tenant pays in all for the commitment's scope: fee + spillover (provisioned), max(committed, spend) (spend). */
  readonly effectiveCost: Money.Decimal
  /** On demand for all of it minus what is paid; negative when the commitment cost more. */
  readonly savings: Money.Decimal
  /** Spend only: committed spend not used (paid anyway). */
  readonly shortfall: Money.Decimal
}

export const report = (
  commitment: Commitment,
  from: number,
  to: number,
  covered: PeriodUsage,
  spillover: PeriodUsage
): PeriodReport => {
  const fee = feeOver(commitment, from, to)
  const utilisation = fee.isZero()
    ? null
    : (commitment.kind === "provisioned" ? covered.onDemand : covered.charged).dividedBy(fee)
  const allOnDemand = covered.onDemand.plus(spillover.onDemand)
  const effectiveCost = commitment.kind === "provisioned"
    ? fee.plus(spillover.charged)
    : Money.Decimal.max(fee, covered.charged)
  const shortfall = commitment.kind === "spend" ? Money.Decimal.max(Money.ZERO, fee.minus(covered.charged)) : Money.ZERO
  return {
    commitmentId: commitment.id,
    from,
    to,
    currency: commitment.currency,
    fee,
    covered,
    spillover,
    onDemand: covered.onDemand,
    utilisation,
    effectiveCost,
    savings: allOnDemand.minus(effectiveCost),
    shortfall
  }
}

export interface BreakEven {
  /** The usage window: the 30 days before `at`. */
  readonly windowDays: number
  /** On-demand cost of the scope's calls in the window (what capacity would have absorbed). */
  readonly onDemand: Money.Decimal
  readonly onDemandPerHour: Money.Decimal
  readonly feePerHour: Money.Decimal
  /** Both per month of 730 hours. */
  readonly onDemandPerMonth: Money.Decimal
  readonly feePerMonth: Money.Decimal
  /** feePerHour / onDemandPerHour: the share of that usage the capacity must serve to pay for itself; null without usage. */
  readonly breakEvenUtilisation: Money.Decimal | null
  /** onDemandPerMonth - feePerMonth, if the capacity served all of it. */
  readonly monthlySavings: Money.Decimal
  /** True when the usage alone would pay for the capacity (break-even utilisation <= 1). */
  readonly worthBuying: boolean
}

export const WINDOW_DAYS = 30

/**
 * Whether capacity for `fee` per `feePeriod` would have paid for itself over the last 30 days of
 * the scope's usage (`onDemand`, its on-demand cost): compared per hour (30 days = 720 hours),
 * shown per month of 730 hours. Assumes the capacity could have served all of that usage.
 */
export const breakEven = (fee: Money.Decimal, feePeriod: FeePeriod, onDemand: Money.Decimal): BreakEven => {
  const windowHours = new Money.Decimal(WINDOW_DAYS * 24)
  const feePerHour = feePeriod === "hour" ? fee : fee.dividedBy(HOURS_PER_MONTH)
  const onDemandPerHour = onDemand.dividedBy(windowHours)
  const feePerMonth = feePerHour.times(HOURS_PER_MONTH)
  const onDemandPerMonth = onDemandPerHour.times(HOURS_PER_MONTH)
  const breakEvenUtilisation = onDemand.isZero() ? null : feePerHour.dividedBy(onDemandPerHour)
  return {
    windowDays: WINDOW_DAYS,
    onDemand,
    onDemandPerHour,
    feePerHour,
    onDemandPerMonth,
    feePerMonth,
    breakEvenUtilisation,
    monthlySavings: onDemandPerMonth.minus(feePerMonth),
    worthBuying: breakEvenUtilisation !== null && breakEvenUtilisation.lessThanOrEqualTo(Money.ONE)
  }
}

// JSON ----------------------------------------------------------------------------------------

const iso = (dt: DateTime.Utc | null) => (dt === null ? null : DateTime.formatIso(dt))
const dec = (d: Money.Decimal | null) => (d === null ? null : Money.format(d))

export const toJson = (c: Commitment) => ({
  id: c.id,
  name: c.name,
  kind: c.kind,
  provider: c.provider,
  model: c.model,
  deployment: c.deployment,
  currency: c.currency,
  discountPercent: dec(c.discountPercent),
  amount: dec(c.amount),
  fee: dec(c.fee),
  feePeriod: c.feePeriod,
  startsAt: iso(c.startsAt),
  endsAt: iso(c.endsAt),
  createdAt: iso(c.createdAt),
  archivedAt: iso(c.archivedAt)
})

const usageJson = (u: PeriodUsage) => ({ calls: u.calls, tokens: u.tokens, onDemand: Money.format(u.onDemand), charged: Money.format(u.charged) })

export const reportToJson = (r: PeriodReport) => ({
  commitmentId: r.commitmentId,
  from: new Date(r.from).toISOString(),
  to: new Date(r.to).toISOString(),
  currency: r.currency,
  fee: Money.format(r.fee),
  covered: usageJson(r.covered),
  spillover: usageJson(r.spillover),
  onDemand: Money.format(r.onDemand),
  utilisation: dec(r.utilisation),
  effectiveCost: Money.format(r.effectiveCost),
  savings: Money.format(r.savings),
  shortfall: Money.format(r.shortfall)
})

export const breakEvenToJson = (b: BreakEven) => ({
  windowDays: b.windowDays,
  onDemand: Money.format(b.onDemand),
  onDemandPerHour: Money.format(b.onDemandPerHour),
  feePerHour: Money.format(b.feePerHour),
  onDemandPerMonth: Money.format(b.onDemandPerMonth),
  feePerMonth: Money.format(b.feePerMonth),
  breakEvenUtilisation: dec(b.breakEvenUtilisation),
  monthlySavings: Money.format(b.monthlySavings),
  worthBuying: b.worthBuying
})
