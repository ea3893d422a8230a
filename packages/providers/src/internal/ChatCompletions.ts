/**
 * The OpenAI Chat Completions format, shared by OpenAI, Azure OpenAI, Mistral, xAI and every
 * OpenAI-compatible provider (CompatibleProviders). The dialect says how each provider's usage
 * fields nest.
 */
import { Money } from "@tally/core"
import { Result, Schema } from "effect"
import type * as NormalizedCall from "../NormalizedCall.ts"
import * as NormalizeError from "../NormalizeError.ts"
import * as Decode from "./Decode.ts"
import * as Ledger from "./Ledger.ts"
import * as Path from "./Path.ts"
import * as Payload from "./Payload.ts"
import type * as Provider from "./Provider.ts"
import * as Text from "./Text.ts"
import * as UsageParts from "./UsageParts.ts"

/**
 * - `openai` (also Azure, OpenRouter): prompt_tokens includes cached, cache-write, audio and image
 *   tokens; completion_tokens includes reasoning, audio, image and prediction tokens.
 * - `xai`: as openai, except completion_tokens EXCLUDES reasoning_tokens (total = prompt + completion + reasoning).
 * - `deepseek`: prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens.
 * - `mistral`: cached tokens may come as num_cached_tokens or prompt_token(s)_details.cached_tokens.
 * - `openrouter`: as openai, plus `usage.cost` (USD) kept as the reported cost.
 * - `groq`: as openai; a stream's usage may ride in `x_groq.usage` (and must agree with `usage`).
 * - `perplexity`: as openai, except `reasoning_tokens` and `citation_tokens` are top-level usage
 *   fields OUTSIDE completion_tokens (total = prompt + completion); `num_search_queries` are web
 *   searches; `usage.cost.total_cost` is the reported cost.
 */
export type Dialect = "openai" | "xai" | "deepseek" | "mistral" | "openrouter" | "groq" | "perplexity"

const PromptDetails = Schema.Struct({
  cached_tokens: Decode.OptCount,
  cache_write_tokens: Decode.OptCount,
  audio_tokens: Decode.OptCount,
  image_tokens: Decode.OptCount,
  video_tokens: Decode.OptCount,
  text_tokens: Decode.OptCount
})

const CompletionDetails = Schema.Struct({
  reasoning_tokens: Decode.OptCount,
  audio_tokens: Decode.OptCount,
  image_tokens: Decode.OptCount,
  text_tokens: Decode.OptCount,
  accepted_prediction_tokens: Decode.OptCount,
  rejected_prediction_tokens: Decode.OptCount
})

export const ChatUsage = Schema.Struct({
  prompt_tokens: Decode.OptCount,
  completion_tokens: Decode.OptCount,
  total_tokens: Decode.OptCount,
  prompt_tokens_details: Schema.optionalKey(Schema.NullOr(PromptDetails)),
  /** Mistral's misspelling, seen on live responses. */
  prompt_token_details: Schema.optionalKey(Schema.NullOr(PromptDetails)),
  completion_tokens_details: Schema.optionalKey(Schema.NullOr(CompletionDetails)),
  prompt_cache_hit_tokens: Decode.OptCount,
  prompt_cache_miss_tokens: Decode.OptCount,
  num_cached_tokens: Decode.OptCount,
  prompt_audio_seconds: Decode.OptNonNegativeNumber,
  num_sources_used: Decode.OptCount,
  cost_in_usd_ticks: Decode.OptCount,
  /** OpenRouter: a number (USD); Perplexity: an object of USD amounts. */
  cost: Schema.optionalKey(Schema.NullOr(Schema.Union([Decode.NonNegativeNumber, Schema.Struct({ total_cost: Decode.OptNonNegativeNumber })]))),
  /** Perplexity: outside completion_tokens. */
  reasoning_tokens: Decode.OptCount,
  citation_tokens: Decode.OptCount,
  num_search_queries: Decode.OptCount
})
export type ChatUsage = typeof ChatUsage.Type

const ChatBody = Schema.Struct({
  id: Decode.OptString,
  model: Decode.OptString,
  object: Decode.OptString,
  service_tier: Decode.OptString,
  choices: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.Unknown))),
  usage: Schema.optionalKey(Schema.NullOr(ChatUsage)),
  /** Groq: request metadata; its `usage` carries a stream's counts. */
  x_groq: Schema.optionalKey(Schema.NullOr(Schema.Struct({ id: Decode.OptString, usage: Schema.optionalKey(Schema.NullOr(ChatUsage)) }))),
  error: Schema.optionalKey(Schema.Unknown)
})
type ChatBody = typeof ChatBody.Type

const decodeBody = Decode.decoder(ChatBody)

const TICKS_PER_USD = new Money.Decimal("10000000000")

/** A JSON number as the exact decimal its shortest text names (never float arithmetic). */
export const decimalOf = (n: number): Money.Decimal => new Money.Decimal(String(n))

export interface UsageResult {
  readonly parts: UsageParts.Parts
  readonly reportedCost?: NormalizedCall.ReportedCost | undefined
}

/**
 * Chat usage → disjoint buckets, with every inclusion rule checked. Plain early returns rather
 * than `Result.gen`: this runs once per ingested chat call.
 */
export const usageOf = (
  provider: string,
  dialect: Dialect,
  base: Path.Path,
  usage: ChatUsage
): Result.Result<UsageResult, NormalizeError.NormalizeError> => {
  const prompt = Ledger.at(base, "prompt_tokens", usage.prompt_tokens)
  const completion = Ledger.at(base, "completion_tokens", usage.completion_tokens)
  const total = Ledger.at(base, "total_tokens", usage.total_tokens)
  const detailsKey = usage.prompt_tokens_details == null && usage.prompt_token_details != null
    ? "prompt_token_details"
    : "prompt_tokens_details"
  const pd = (detailsKey === "prompt_tokens_details" ? usage.prompt_tokens_details : usage.prompt_token_details) ?? EMPTY
  const pdPath = Path.append(base, detailsKey)
  const cd = usage.completion_tokens_details ?? EMPTY
  const cdPath = Path.append(base, "completion_tokens_details")

  let cached = Ledger.at(pdPath, "cached_tokens", pd.cached_tokens)
  if (dialect === "deepseek") {
    const hit = Ledger.at(base, "prompt_cache_hit_tokens", usage.prompt_cache_hit_tokens)
    const miss = Ledger.at(base, "prompt_cache_miss_tokens", usage.prompt_cache_miss_tokens)
    if (hit.present || miss.present) {
      const checked = Ledger.checkTotal(provider, prompt, [hit, miss])
      if (Result.isFailure(checked)) return Result.fail(checked.failure)
    }
    const agreed = Ledger.agree(provider, hit, cached)
    if (Result.isFailure(agreed)) return Result.fail(agreed.failure)
    cached = agreed.success
  }
  if (dialect === "mistral") {
    const agreed = Ledger.agree(provider, Ledger.at(base, "num_cached_tokens", usage.num_cached_tokens), cached)
    if (Result.isFailure(agreed)) return Result.fail(agreed.failure)
    cached = agreed.success
  }
  const write = Ledger.at(pdPath, "cache_write_tokens", pd.cache_write_tokens)
  const audioIn = Ledger.at(pdPath, "audio_tokens", pd.audio_tokens)
  const imageIn = Ledger.at(pdPath, "image_tokens", pd.image_tokens)
  const videoIn = Ledger.at(pdPath, "video_tokens", pd.video_tokens)
  const textIn = Ledger.at(pdPath, "text_tokens", pd.text_tokens)
  if (textIn.present) {
    const checked = Ledger.checkTotal(provider, prompt, [textIn, audioIn, imageIn, videoIn])
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
  }
  const inputRest = Ledger.remainder(provider, prompt, [cached, write, audioIn, imageIn, videoIn])
  if (Result.isFailure(inputRest)) return Result.fail(inputRest.failure)
  const inputText = inputRest.success

  const reasoning = Ledger.at(cdPath, "reasoning_tokens", cd.reasoning_tokens)
  const audioOut = Ledger.at(cdPath, "audio_tokens", cd.audio_tokens)
  const imageOut = Ledger.at(cdPath, "image_tokens", cd.image_tokens)
  const accepted = Ledger.at(cdPath, "accepted_prediction_tokens", cd.accepted_prediction_tokens)
  const rejected = Ledger.at(cdPath, "rejected_prediction_tokens", cd.rejected_prediction_tokens)
  let outputText: number
  let reasoningTokens = reasoning.value
  let webSearches = 0
  let extraInput = 0
  if (dialect === "perplexity") {
    // Reasoning and citation tokens are billed apart from, and reported outside, completion_tokens.
    const outside = Ledger.at(base, "reasoning_tokens", usage.reasoning_tokens)
    const citations = Ledger.at(base, "citation_tokens", usage.citation_tokens)
    const rest = Ledger.remainder(provider, completion, [reasoning, audioOut, imageOut])
    if (Result.isFailure(rest)) return Result.fail(rest.failure)
    outputText = rest.success
    const checked = Ledger.checkTotal(provider, total, [prompt, completion])
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
    reasoningTokens += outside.value
    extraInput = citations.value
    webSearches = usage.num_search_queries ?? 0
  } else if (dialect === "xai") {
    const rest = Ledger.remainder(provider, completion, [audioOut, imageOut])
    if (Result.isFailure(rest)) return Result.fail(rest.failure)
    outputText = rest.success
    // Prediction tokens are visible text output: they must fit inside it.
    const fits = Ledger.remainder(provider, completion, [audioOut, imageOut, accepted, rejected])
    if (Result.isFailure(fits)) return Result.fail(fits.failure)
    const checked = Ledger.checkTotal(provider, total, [prompt, completion, reasoning])
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
  } else {
    const rest = Ledger.remainder(provider, completion, [reasoning, audioOut, imageOut])
    if (Result.isFailure(rest)) return Result.fail(rest.failure)
    outputText = rest.success
    const fits = Ledger.remainder(provider, completion, [reasoning, audioOut, imageOut, accepted, rejected])
    if (Result.isFailure(fits)) return Result.fail(fits.failure)
    // Mistral's audio chat counts audio tokens in total_tokens that no other field reports.
    if (!(dialect === "mistral" && usage.prompt_audio_seconds != null)) {
      const checked = Ledger.checkTotal(provider, total, [prompt, completion])
      if (Result.isFailure(checked)) return Result.fail(checked.failure)
    }
  }

  const toolCalls: Record<string, number> | undefined = usage.num_sources_used != null
    ? { live_search_sources: usage.num_sources_used }
    : undefined

  let reportedCost: NormalizedCall.ReportedCost | undefined
  if (usage.cost_in_usd_ticks != null) {
    reportedCost = {
      amount: new Money.Decimal(usage.cost_in_usd_ticks).div(TICKS_PER_USD),
      currency: "USD",
      source: Path.format(Path.append(base, "cost_in_usd_ticks"))
    }
  } else if (typeof usage.cost === "number" && dialect === "openrouter") {
    reportedCost = { amount: decimalOf(usage.cost), currency: "USD", source: Path.format(Path.append(base, "cost")) }
  } else if (usage.cost != null && typeof usage.cost === "object" && usage.cost.total_cost != null && dialect === "perplexity") {
    reportedCost = { amount: decimalOf(usage.cost.total_cost), currency: "USD", source: Path.format(Path.append(base, "cost", "total_cost")) }
  }

  const parts: UsageParts.Parts = {
    tokens: {
      // Perplexity's citation tokens are billed at the input rate (docs/pricing-semantics.md#perplexity).
      inputText: inputText + extraInput,
      cacheRead: cached.value,
      cacheWrite5m: write.value,
      inputAudio: audioIn.value,
      inputImage: imageIn.value,
      inputVideo: videoIn.value,
      outputText,
      reasoning: reasoningTokens,
      outputAudio: audioOut.value,
      outputImage: imageOut.value
    },
    promptTokens: prompt.value + extraInput,
    toolCalls,
    webSearches,
    audioSeconds: usage.prompt_audio_seconds != null ? decimalOf(usage.prompt_audio_seconds) : undefined
  }
  return Result.succeed({ parts, reportedCost })
}

/** Absent details: every count in them is absent. */
const EMPTY: { readonly [key: string]: undefined } = {}

const isFailure = (body: ChatBody): boolean =>
  body.error != null && body.usage == null && (body.choices == null || body.choices.length === 0)

const failureMessage = (error: unknown): string => {
  const text = Payload.isRecord(error) ? [error["code"], error["message"]].filter((v) => typeof v === "string").join(": ") : ""
  return `the provider answered with an error${text === "" ? "" : ` (${text})`}; nothing is billable`
}

/** Groq reports a chunk's counts twice (`usage`, `x_groq.usage`): the two must agree. */
const sameCounts = (
  provider: string,
  a: { readonly value: ChatUsage; readonly path: Path.Path },
  b: { readonly value: ChatUsage; readonly path: Path.Path }
): NormalizeError.NormalizeError | undefined => {
  for (const key of ["prompt_tokens", "completion_tokens", "total_tokens"] as const) {
    const agreed = Ledger.agree(provider, Ledger.at(a.path, key, a.value[key]), Ledger.at(b.path, key, b.value[key]))
    if (Result.isFailure(agreed)) return agreed.failure
  }
  return undefined
}

const choiceText = (choices: ReadonlyArray<unknown>, key: "message" | "delta"): string => {
  let text = ""
  for (let i = 0; i < choices.length; i++) {
    const choice = choices[i]
    if (Payload.isRecord(choice)) text += Text.collect(choice[key])
  }
  return text
}

/**
 * A chat response or a chat stream. In a stream only the chunk carrying `usage` counts (OpenAI,
 * xAI, Azure, OpenRouter: the extra final chunk; Mistral and DeepSeek: the finish chunk); with
 * several usage chunks the last one wins because they hold running totals.
 */
export const normalize = (
  provider: string,
  dialect: Dialect,
  payload: Payload.Single | Payload.Stream,
  api: NormalizedCall.Api,
  context: Provider.Context
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> => {
  let id: string | undefined
  let model: string | undefined
  let serviceTier: string | undefined
  let usage: { readonly value: ChatUsage; readonly path: Path.Path } | undefined
  let text = ""
  const key = payload._tag === "Single" ? "message" : "delta"
  const items = Payload.items(payload)
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    const decoded = decodeBody(provider, item.path, item.value)
    if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
    const body = decoded.success
    if (isFailure(body)) {
      return Result.fail(NormalizeError.make(provider, Path.append(item.path, "error"), "failed-response", failureMessage(body.error)))
    }
    if (id === undefined && body.id != null && body.id !== "") id = body.id
    if (model === undefined && body.model != null && body.model !== "") model = body.model
    if (body.service_tier != null) serviceTier = body.service_tier
    const groq = dialect === "groq" ? body.x_groq?.usage : undefined
    if (body.usage != null) {
      usage = { value: body.usage, path: Path.append(item.path, "usage") }
      if (groq != null) {
        const disagreement = sameCounts(provider, usage, { value: groq, path: Path.append(item.path, "x_groq", "usage") })
        if (disagreement !== undefined) return Result.fail(disagreement)
      }
    } else if (groq != null) {
      usage = { value: groq, path: Path.append(item.path, "x_groq", "usage") }
    }
    if (body.choices != null) text += choiceText(body.choices, key)
  }
  if (items.length === 0) {
    return Result.fail(NormalizeError.make(provider, Path.root, "malformed", "an empty stream has nothing to normalize"))
  }
  const common = {
    api,
    model: model ?? context.model,
    responseId: id,
    serviceTier,
    outputText: text
  }
  if (usage === undefined) return Result.succeed(common)
  const result = usageOf(provider, dialect, usage.path, usage.value)
  if (Result.isFailure(result)) return Result.fail(result.failure)
  return Result.succeed({
    ...common,
    usage: UsageParts.make({ ...result.success.parts, serviceTier }),
    reportedCost: result.success.reportedCost
  })
}

/** True when a value looks like a chat completion or chunk. */
export const looksLikeChat = (value: unknown): boolean =>
  Payload.isRecord(value) &&
  (value["object"] === "chat.completion" || value["object"] === "chat.completion.chunk" || Array.isArray(value["choices"]))
