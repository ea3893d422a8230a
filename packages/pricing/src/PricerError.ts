/**
 * The one failure of the pricer: input it cannot price as given. An unmatched model or a missing
 * rate is not an error: the answer says `costSource: "unpriced"` and why, as `tally cost` does.
 *
 * - `invalid-options`: `createPricer` options of the wrong type or shape.
 * - `invalid-catalog`: the custom catalog (object or file) cannot be read or decoded.
 * - `invalid-input`: a call without a provider or model, or of the wrong type.
 * - `invalid-time`: `at` is not a valid instant.
 * - `invalid-payload`: the raw provider payload cannot be normalized (`path` says where).
 * - `invalid-usage`: usage counts that are negative, fractional, or inconsistent (a part larger
 *   than the total that includes it).
 * - `ambiguous-usage`: usage that mixes Tally's bucket names with genai-prices' keys, or whose
 *   `usageFormat` contradicts its keys: which was meant is never guessed.
 * - `unsupported-usage`: a genai-prices usage key Tally has no bucket for, with a positive count.
 */
import { Schema } from "effect"

export const Reason = Schema.Literals([
  "invalid-options",
  "invalid-catalog",
  "invalid-input",
  "invalid-time",
  "invalid-payload",
  "invalid-usage",
  "ambiguous-usage",
  "unsupported-usage"
])
export type Reason = typeof Reason.Type

export class PricerError extends Schema.TaggedError<PricerError>()("PricerError", {
  reason: Reason,
  /** Where in the input: `usage.input_tokens`, `payload.usage.prompt_tokens`, `options.catalog`. */
  path: Schema.String,
  message: Schema.String
}) {}

export const make = (reason: Reason, path: string, message: string): PricerError => new PricerError({ reason, path, message })

export const isPricerError = (u: unknown): u is PricerError => u instanceof PricerError
