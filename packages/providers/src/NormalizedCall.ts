/**
 * One provider call in Tally's terms: disjoint Usage, the provider's own cost when it reported one,
 * and the raw payload untouched for reconciliation.
 */
import { Money, Usage } from "@tally/core"
import { Schema } from "effect"
import * as CompatibleProviders from "./CompatibleProviders.ts"

/** Providers with a module of their own (their formats or conventions differ from OpenAI's). */
export const NativeProviderIds = [
  "openai",
  "azure",
  "anthropic",
  "google",
  "bedrock",
  "mistral",
  "cohere",
  "xai",
  "otel",
  "litellm"
] as const

/** Every provider id: the native ones, then the OpenAI-compatible ones (CompatibleProviders). */
export const ProviderIds: ReadonlyArray<typeof NativeProviderIds[number] | CompatibleProviders.CompatibleId> = [
  ...NativeProviderIds,
  ...CompatibleProviders.ids
]
export const ProviderId = Schema.Literals(ProviderIds)
export type ProviderId = typeof ProviderId.Type

export const Apis = [
  "chat.completions",
  "responses",
  "embeddings",
  "images",
  "audio.transcriptions",
  "realtime",
  "batch",
  "messages",
  "generateContent",
  "converse",
  "invokeModel",
  "chat",
  "embed",
  "rerank",
  "predict",
  "span",
  "spend-log"
] as const
export const Api = Schema.Literals(Apis)
export type Api = typeof Api.Type

export const Encodings = ["o200k_base", "cl100k_base"] as const
export const Encoding = Schema.Literals(Encodings)
export type Encoding = typeof Encoding.Type

/** A cost the provider computed itself, kept exactly as reported (converted to major units). */
export const ReportedCost = Schema.Struct({
  amount: Money.NonNegativeDecimal,
  currency: Money.CurrencyCode,
  /** Where it came from, e.g. `usage.cost` or `usage.cost_in_usd_ticks`. */
  source: Schema.String
})
export type ReportedCost = typeof ReportedCost.Type

/**
 * A documented correction applied because the provider is known to report inconsistently.
 * `rule` names the rule in docs/pricing-semantics.md.
 */
export const Correction = Schema.Struct({
  rule: Schema.String,
  path: Schema.String,
  detail: Schema.String
})
export type Correction = typeof Correction.Type

/** Usage inside the same call billed at another model's rates (Anthropic advisor iterations). */
export const SubCall = Schema.Struct({
  model: Schema.String,
  usage: Usage.Usage,
  source: Schema.String
})
export type SubCall = typeof SubCall.Type

export const NormalizedCall = Schema.Struct({
  /** The payload format: who produced the payload. */
  provider: ProviderId,
  api: Api,
  /** The model as the payload reports it (else as the caller passed it). */
  model: Schema.optionalKey(Schema.String),
  /** The provider whose prices apply when the payload names it apart from `provider` (OTel `gen_ai.provider.name`). */
  modelProvider: Schema.optionalKey(Schema.String),
  responseId: Schema.optionalKey(Schema.String),
  usage: Usage.Usage,
  reportedCost: Schema.optionalKey(ReportedCost),
  /** The service tier exactly as reported (`default`, `priority`, `flex`, `PROVISIONED_THROUGHPUT`, …). */
  serviceTier: Schema.optionalKey(Schema.String),
  batch: Schema.Boolean,
  /** True when the usage (or its output side) was estimated with a tokenizer, not reported. */
  estimated: Schema.Boolean,
  encoding: Schema.optionalKey(Encoding),
  corrections: Schema.Array(Correction),
  subCalls: Schema.Array(SubCall),
  /**
   * Token counts the provider reported for a call billed by another unit (Mistral transcription,
   * billed by audio seconds), keyed by their JSON path: kept for reconciliation, never priced.
   */
  unbilledTokens: Schema.optionalKey(Schema.Record(Schema.String, Usage.Count)),
  /** The payload exactly as given. */
  raw: Schema.Unknown
})
export type NormalizedCall = typeof NormalizedCall.Type
export type NormalizedCallJson = typeof NormalizedCall.Encoded

/** The JSON form: decimals as strings, the raw payload as given. */
export const toJson: (call: NormalizedCall) => NormalizedCallJson = Schema.encodeSync(NormalizedCall)

export const toJsonString = (call: NormalizedCall, space?: number): string => JSON.stringify(toJson(call), null, space)

export const fromJson: (json: unknown) => NormalizedCall = Schema.decodeUnknownSync(NormalizedCall)
