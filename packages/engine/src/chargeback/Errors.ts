/**
 * The failures of chargeback, shared by input decoding, the allocation rules and the run service.
 * Each carries what a caller needs to act and a sentence that says it.
 */
import * as Schema from "effect/Schema"

/** Input that cannot be a run: `field` is the JSON path of the problem, e.g. `rule.shares`. */
export class InvalidChargeback extends Schema.TaggedError<InvalidChargeback>()("InvalidChargeback", {
  field: Schema.String,
  message: Schema.String
}) {}

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

export const invalid = (field: string, message: string): InvalidChargeback =>
  new InvalidChargeback({ field, message: `${field}: ${message}` })
