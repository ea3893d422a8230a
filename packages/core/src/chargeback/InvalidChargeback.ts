/**
 * Input that cannot be a run: raised by input decoding, by resolving a run against its tenant and
 * by the allocation rules' checks. `field` is the JSON path of the problem, e.g. `rule.shares`.
 */
import * as Schema from "effect/Schema"

export class InvalidChargeback extends Schema.TaggedError<InvalidChargeback>()("InvalidChargeback", {
  field: Schema.String,
  message: Schema.String
}) {}

/** The error for `field`, its message prefixed with the field. */
export const invalid = (field: string, message: string): InvalidChargeback =>
  new InvalidChargeback({ field, message: `${field}: ${message}` })
