/**
 * Commitments in the engine: creating one from JSON, applying the tenant's commitments to a priced
 * call at ingest (a transform after pricing: the pricer is untouched), a period's report, and the
 * break-even estimate for buying provisioned capacity from the last 30 days of usage.
 *
 * The rules are `Commitment` in `@tally/core`; rows are the store's `Commitments`.
 */
import { Commitment, FieldError, Money, type UsageRecord } from "@tally/core"
import { Commitments } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

/** Decodes and stores a commitment; the error names the field. */
export const create = Effect.fn("Commitments.create")(function*(tenantId: string, input: unknown) {
  const decoded = Commitment.decodeInput(input)
  if (Result.isFailure(decoded)) return yield* decoded.failure
  return yield* Commitments.Commitments.use((store) => store.insert(tenantId, decoded.success))
})

export const archive = Effect.fn("Commitments.archive")(function*(tenantId: string, id: string) {
  const now = yield* DateTime.now
  return yield* Commitments.Commitments.use((store) => store.archive(tenantId, id, now))
})

const invalid = (field: string, message: string) => new Commitment.InvalidCommitment({ field, message: `${field}: ${message}` })

/** Checks a period: `from` before `to`, at most 367 days. */
const checkPeriod = (from: DateTime.Utc, to: DateTime.Utc) => {
  const span = DateTime.toEpochMillis(to) - DateTime.toEpochMillis(from)
  if (span <= 0) return invalid("to", "expected an instant after from")
  if (span > 367 * 86_400_000) return invalid("to", "expected a period of at most 367 days")
  return undefined
}

/** The commitment's fee, covered usage, spillover, utilisation and savings in `[from, to)`. */
export const report = Effect.fn("Commitments.report")(function*(tenantId: string, id: string, from: DateTime.Utc, to: DateTime.Utc) {
  const bad = checkPeriod(from, to)
  if (bad !== undefined) return yield* bad
  const store = yield* Commitments.Commitments
  const commitment = yield* store.get(tenantId, id)
  const { covered, spillover } = yield* store.usage(tenantId, id, from, to)
  return Commitment.report(commitment, DateTime.toEpochMillis(from), DateTime.toEpochMillis(to), covered, spillover)
})

export const BreakEvenInput = Schema.Struct({
  provider: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  model: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  deployment: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  currency: Money.CurrencyCode,
  fee: Money.NonNegativeInputDecimal,
  feePeriod: Commitment.FeePeriod,
  /** End of the 30-day window; now by default. */
  at: Schema.optionalKey(Schema.DateTimeUtcFromString)
})

const decodeBreakEven = Schema.decodeUnknownResult(BreakEvenInput, { onExcessProperty: "error", errors: "first" })

/**
 * Whether capacity for `fee` per `feePeriod` would have paid for itself on the scope's last 30 days
 * of usage (its on-demand cost, including calls a commitment already covered).
 */
export const breakEven = Effect.fn("Commitments.breakEven")(function*(tenantId: string, input: unknown) {
  const decoded = decodeBreakEven(input)
  if (Result.isFailure(decoded)) {
    const { field, message } = FieldError.fromSchemaError(decoded.failure)
    return yield* invalid(field, message)
  }
  const i = decoded.success
  if (i.model === undefined && i.deployment === undefined && i.provider === undefined) {
    return yield* invalid("model", "name the model, provider or deployment the capacity would serve")
  }
  const to = i.at ?? (yield* DateTime.now)
  const from = DateTime.makeUnsafe(DateTime.toEpochMillis(to) - Commitment.WINDOW_DAYS * 86_400_000)
  const onDemand = yield* Commitments.Commitments.use((store) =>
    store.onDemand(tenantId, { provider: i.provider, model: i.model, deployment: i.deployment, currency: i.currency }, from, to)
  )
  return { from, to, ...Commitment.breakEven(i.fee, i.feePeriod, onDemand) }
})

/** What ingest keeps of a call a commitment changed, until the ledger says it was inserted. */
export interface Applied {
  readonly record: UsageRecord.UsageRecord
  readonly coverage: Commitment.Coverage | undefined
}

/** The transform ingest runs on each priced call. */
export const applyTo = (commitments: ReadonlyArray<Commitment.Commitment>, record: UsageRecord.UsageRecord): Applied =>
  Commitment.apply(commitments, record)
