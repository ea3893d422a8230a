/**
 * The one failure of normalization: which provider, where in the payload, and what was wrong.
 */
import { Schema } from "effect"
import * as Path from "./internal/Path.ts"

/**
 * - `malformed`: a value of the wrong type or shape, or text that is neither JSON nor SSE/NDJSON.
 * - `negative` / `not-integer`: a token count that is not a non-negative whole number.
 * - `exceeds-parent`: a child count (cached, reasoning, a modality) larger than the total it is part of.
 * - `total-mismatch`: a reported total that disagrees with the sum of its parts.
 * - `inconsistent`: two reports of the same quantity disagree (duplicate fields, headers vs body).
 * - `missing-usage`: no usage in the payload and nothing to estimate it from.
 * - `failed-response`: the payload is an error response or a failed batch line (nothing billable).
 * - `unsupported`: unknown provider or api, or a payload shape this provider does not produce.
 * - `ambiguous`: a payload without its envelope whose usage shape fits two apis (the message names both).
 */
export const Reason = Schema.Literals([
  "malformed",
  "negative",
  "not-integer",
  "exceeds-parent",
  "total-mismatch",
  "inconsistent",
  "missing-usage",
  "failed-response",
  "unsupported",
  "ambiguous"
])
export type Reason = typeof Reason.Type

export class NormalizeError extends Schema.TaggedError<NormalizeError>()("NormalizeError", {
  provider: Schema.String,
  /** JSON path into the payload, e.g. `usage.prompt_tokens_details.cached_tokens`; `(payload)` for the whole. */
  path: Schema.String,
  reason: Reason,
  message: Schema.String
}) {}

export const make = (provider: string, path: Path.Path, reason: Reason, detail: string): NormalizeError => {
  const where = Path.format(path)
  return new NormalizeError({ provider, path: where, reason, message: `${provider}: ${where}: ${detail}` })
}

export const isNormalizeError = (u: unknown): u is NormalizeError => u instanceof NormalizeError
