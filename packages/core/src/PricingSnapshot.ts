/**
 * An immutable price version for one model. Token rates are USD (or `currency`) per 1M tokens,
 * as humans read price sheets; unit rates are per image, second, request, 1k searches or call.
 * Conditions (tiers, batch discount, service-tier and region multipliers) are data.
 */
import { createHash } from "node:crypto"
import { Schema } from "effect"
import { CurrencyCode, NonNegativeDecimal, Percent } from "./Money.ts"
import { Count, strict, TokenBuckets, type TokenBucket } from "./Usage.ts"

const rateFields = Object.fromEntries(
  TokenBuckets.map((bucket) => [bucket, Schema.optionalKey(NonNegativeDecimal)])
) as { readonly [K in TokenBucket]: Schema.optionalKey<typeof NonNegativeDecimal> }

/** Rates per 1M tokens for each token bucket. An absent rate is "no price", never zero. */
export const TokenRates = Schema.Struct(rateFields)
export type TokenRates = typeof TokenRates.Type

/** For each bucket without its own rate, the bucket whose rate prices it. */
export const RateFallbacks = Schema.Struct(Object.fromEntries(
  TokenBuckets.map((bucket) => [bucket, Schema.optionalKey(Schema.Literals(TokenBuckets))])
) as { readonly [K in TokenBucket]: Schema.optionalKey<Schema.Literals<typeof TokenBuckets>> })
export type RateFallbacks = typeof RateFallbacks.Type

/** Per-unit prices for counted usage. */
export const UnitRates = Schema.Struct({
  perRequest: Schema.optionalKey(NonNegativeDecimal),
  /** Price per generated image by "size/quality" key; "*" matches any key not listed. */
  perImage: Schema.optionalKey(Schema.Record(Schema.String, NonNegativeDecimal)),
  perAudioSecond: Schema.optionalKey(NonNegativeDecimal),
  perVideoSecond: Schema.optionalKey(NonNegativeDecimal),
  perThousandWebSearches: Schema.optionalKey(NonNegativeDecimal),
  /** Price per tool call by tool kind; "*" matches any kind not listed. */
  perToolCall: Schema.optionalKey(Schema.Record(Schema.String, NonNegativeDecimal))
})
export type UnitRates = typeof UnitRates.Type

/**
 * A long-context tier: applies when the prompt size is strictly above `aboveTokens`.
 * Rates not given in the tier stay at the base rate.
 */
export const Tier = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  aboveTokens: Count,
  rates: TokenRates,
  cachedInputDiscountPercent: Schema.optionalKey(Percent)
})
export type Tier = typeof Tier.Type

/**
 * Tiers with the same threshold would both apply above it, and which one prices the call would
 * depend on their order: each tier needs its own `aboveTokens`.
 */
const Tiers = Schema.Array(Tier).check(
  Schema.makeFilter<ReadonlyArray<Tier>>((tiers) => {
    const seen = new Map<number, number>()
    for (const [index, tier] of tiers.entries()) {
      const other = seen.get(tier.aboveTokens)
      if (other !== undefined) return `tiers[${index}].aboveTokens: ${tier.aboveTokens} is already the threshold of tiers[${other}]; each tier needs its own threshold`
      seen.set(tier.aboveTokens, index)
    }
    return undefined
  }, { identifier: "Tiers" })
)

/**
 * `cliff`: once the prompt exceeds a threshold, the whole request is priced at that tier's rates
 * (Gemini, Anthropic long context). `graduated`: each bucket's own quantity is split into bands,
 * tokens beyond a threshold priced at that band's rate (volume pricing).
 */
export const TierMode = Schema.Literals(["cliff", "graduated"])
export type TierMode = typeof TierMode.Type

const IsoDateTime = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/, {
    message: "expected an ISO 8601 date or date-time such as \"2025-01-01\" or \"2025-01-01T00:00:00Z\""
  })
)

export const PricingSnapshot = Schema.Struct({
  provider: Schema.NonEmptyString,
  modelKey: Schema.NonEmptyString,
  currency: Schema.optionalKey(CurrencyCode),
  effectiveFrom: Schema.optionalKey(IsoDateTime),
  effectiveTo: Schema.optionalKey(IsoDateTime),
  notes: Schema.optionalKey(Schema.String),
  /** Per 1M tokens. `reasoning` falls back to `outputText` when absent (the breakdown says so). */
  rates: TokenRates,
  /**
   * Buckets priced at another bucket's rate when they have none of their own, e.g.
   * `{ "inputAudio": "inputText", "cacheRead": "inputText" }`: the price sheet gives no separate
   * price for them. Every line priced this way carries the condition
   * `<bucket>:priced-at-<from>-rate`, so a fallback is never silent.
   */
  rateFallbacks: Schema.optionalKey(RateFallbacks),
  /** Cached input priced as a discount off the input rate, when no explicit `cacheRead` rate is set. */
  cachedInputDiscountPercent: Schema.optionalKey(Percent),
  /** Rates for calls on a fine-tuned version of this model (`usage.fineTuned`); absent buckets use `rates`. */
  fineTunedRates: Schema.optionalKey(TokenRates),
  units: Schema.optionalKey(UnitRates),
  /** Free-form reporting metadata per tool kind (e.g. which search engine, context size). */
  toolMetadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  tierMode: Schema.optionalKey(TierMode),
  tiers: Schema.optionalKey(Tiers),
  /** Percent off every line for batch calls (`usage.batch`). */
  batchDiscountPercent: Schema.optionalKey(Percent),
  /**
   * Multiplier on every line by `usage.serviceTier` (e.g. priority 1.8, flex 0.5), keys compared
   * case-insensitively. A tier not listed (other than the standard ones: default, standard, auto,
   * on_demand) is priced at list and the lines say `service-tier:<tier>(no-multiplier-in-snapshot)`.
   */
  serviceTierMultipliers: Schema.optionalKey(Schema.Record(Schema.String, NonNegativeDecimal)),
  /** Multiplier on every line by `usage.region` (e.g. a regional endpoint premium). */
  regionMultipliers: Schema.optionalKey(Schema.Record(Schema.String, NonNegativeDecimal))
})
export type PricingSnapshot = typeof PricingSnapshot.Type
export type PricingSnapshotEncoded = typeof PricingSnapshot.Encoded

export const decodeSnapshot = Schema.decodeUnknownSync(PricingSnapshot, strict)
export const encodeSnapshot = Schema.encodeSync(PricingSnapshot)

/** JSON with object keys sorted at every depth: the canonical text that the id hashes. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
    return `{${entries.join(",")}}`
  }
  return JSON.stringify(value)
}

const ids = new WeakMap<PricingSnapshot, string>()

/**
 * Content hash of the canonical encoding: decimals in canonical form ("30.00" = "30"), keys sorted,
 * currency defaulted. The same prices always give the same id.
 */
export const snapshotId = (snapshot: PricingSnapshot): string => {
  let id = ids.get(snapshot)
  if (id === undefined) {
    const encoded = encodeSnapshot({ ...snapshot, currency: snapshot.currency ?? "USD" })
    id = `ps_${createHash("sha256").update(canonicalJson(encoded)).digest("hex").slice(0, 32)}`
    ids.set(snapshot, id)
  }
  return id
}

export const currencyOf = (snapshot: PricingSnapshot): string => snapshot.currency ?? "USD"
