/**
 * Normalized usage of one LLM call: disjoint leaf buckets (no token counted in two buckets),
 * counted units, and the context that selects prices (prompt size, batch, service tier, region).
 */
import { Schema } from "effect"
import { NonNegativeDecimal } from "./Money.ts"

/**
 * Token buckets, disjoint by construction: `inputText` excludes cached, image, audio and video
 * input; `outputText` excludes reasoning, image, audio and video output. Cache reads split by
 * modality where the provider says: `cacheRead` holds text cache reads (and cache reads whose
 * modality is not reported), `cacheReadImage` / `cacheReadAudio` / `cacheReadVideo` the others;
 * a snapshot without a rate for one prices it at the `cacheRead` rate, saying so on the line.
 */
export const TokenBuckets = [
  "inputText",
  "cacheRead",
  "cacheReadImage",
  "cacheReadAudio",
  "cacheReadVideo",
  "cacheWrite5m",
  "cacheWrite1h",
  "inputImage",
  "inputAudio",
  "inputVideo",
  "outputText",
  "reasoning",
  "outputImage",
  "outputAudio",
  "outputVideo",
  "embedding",
  "training"
] as const
export type TokenBucket = typeof TokenBuckets[number]

/** Buckets that count toward the prompt (used for long-context tiers when `promptTokens` is absent). */
export const InputBuckets: ReadonlyArray<TokenBucket> = [
  "inputText",
  "cacheRead",
  "cacheReadImage",
  "cacheReadAudio",
  "cacheReadVideo",
  "cacheWrite5m",
  "cacheWrite1h",
  "inputImage",
  "inputAudio",
  "inputVideo",
  "embedding"
]

/** A count of tokens or units: a non-negative safe integer. */
export const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0, { message: "expected a non-negative integer" }))

const tokenFields = Object.fromEntries(
  TokenBuckets.map((bucket) => [bucket, Schema.optionalKey(Count)])
) as { readonly [K in TokenBucket]: Schema.optionalKey<typeof Count> }

export const TokenCounts = Schema.Struct(tokenFields)
export type TokenCounts = typeof TokenCounts.Type

export const Usage = Schema.Struct({
  tokens: TokenCounts,
  /** Billable requests (for per-request pricing). */
  requests: Schema.optionalKey(Count),
  /** Images generated, keyed by size and quality, e.g. "1024x1024/high"; "*" when unknown. */
  imagesGenerated: Schema.optionalKey(Schema.Record(Schema.String, Count)),
  /** Seconds of audio input billed by duration (e.g. transcription). */
  audioSeconds: Schema.optionalKey(NonNegativeDecimal),
  /** Seconds of video billed by duration (e.g. video generation). */
  videoSeconds: Schema.optionalKey(NonNegativeDecimal),
  webSearches: Schema.optionalKey(Count),
  /** Tool calls keyed by tool kind, e.g. "code_interpreter", "file_search". */
  toolCalls: Schema.optionalKey(Schema.Record(Schema.String, Count)),
  /** Inclusive prompt size (all input buckets), which selects long-context tiers. */
  promptTokens: Schema.optionalKey(Count),
  batch: Schema.optionalKey(Schema.Boolean),
  /** The call ran on a fine-tuned model, priced at the snapshot's fine-tuned rates. */
  fineTuned: Schema.optionalKey(Schema.Boolean),
  serviceTier: Schema.optionalKey(Schema.String),
  region: Schema.optionalKey(Schema.String)
})
export type Usage = typeof Usage.Type
export type UsageEncoded = typeof Usage.Encoded

/** Unknown keys are errors: a misspelt bucket ("input_tokens") must never be silently dropped. */
export const strict = { onExcessProperty: "error", errors: "all" } as const

export const decodeUsage = Schema.decodeUnknownSync(Usage, strict)
export const encodeUsage = Schema.encodeSync(Usage)

export const empty: Usage = { tokens: {} }

export const tokens = (usage: Usage, bucket: TokenBucket): number => usage.tokens[bucket] ?? 0

/** Every bucket, 0 where `counts` has none: for reports that show all buckets. */
export const allTokens = (counts: TokenCounts): Required<TokenCounts> => {
  const all = {} as Record<TokenBucket, number>
  for (const bucket of TokenBuckets) all[bucket] = counts[bucket] ?? 0
  return all
}

/** The prompt size that selects tiers: the reported inclusive count, else the sum of input buckets. */
export const promptSize = (usage: Usage): number => {
  if (usage.promptTokens !== undefined) return usage.promptTokens
  let total = 0
  for (const bucket of InputBuckets) total += usage.tokens[bucket] ?? 0
  return total
}

export const totalTokens = (usage: Usage): number => {
  let total = 0
  for (const bucket of TokenBuckets) total += usage.tokens[bucket] ?? 0
  return total
}
