/**
 * The failures of the chargeback service over stored runs. Each carries what a caller needs to act
 * and a sentence that says it. (Input that cannot be a run is core's `CostAllocation.InvalidChargeback`.)
 */
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"

/** No run with this id for the tenant (also the answer for another tenant's id or a malformed one). */
export class RunNotFound extends Schema.TaggedError<RunNotFound>()("RunNotFound", {
  runId: Schema.String,
  message: Schema.String
}) {}

/** The run is final already; a final run never changes. */
export class RunAlreadyFinal extends Schema.TaggedError<RunAlreadyFinal>()("RunAlreadyFinal", {
  runId: Schema.String,
  message: Schema.String
}) {}

/**
 * The period overlaps a final run of the same dimension and currency (`runId`): that period is
 * charged. Usage that arrived late for it appears as correction lines in the next run.
 */
export class PeriodFinalized extends Schema.TaggedError<PeriodFinalized>()("PeriodFinalized", {
  runId: Schema.String,
  message: Schema.String
}) {}

/**
 * Another run of the same dimension and currency became final after this draft was computed, so
 * the draft's corrections may already be charged. Compute a new run.
 */
export class RunStale extends Schema.TaggedError<RunStale>()("RunStale", {
  runId: Schema.String,
  finalizedRunIds: Schema.Array(Schema.String),
  message: Schema.String
}) {}

export const runNotFound = (runId: string): RunNotFound =>
  new RunNotFound({ runId, message: `chargeback run ${JSON.stringify(runId)} does not exist` })

/** The final run that charges a period already. */
export const periodFinalized = (final: {
  readonly id: string
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: string
  readonly currency: string
}): PeriodFinalized =>
  new PeriodFinalized({
    runId: final.id,
    message: `the period ${DateTime.formatIso(final.from)} to ${DateTime.formatIso(final.to)} of dimension ${final.dimension} in ${final.currency} ` +
      `is charged by final run ${final.id}; late usage for it appears as corrections in the next run`
  })
