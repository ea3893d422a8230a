/**
 * Anthropic Messages (docs/pricing-semantics.md#anthropic). `input_tokens` EXCLUDES cache reads and
 * cache writes; `cache_creation_input_tokens` = ephemeral 5m + 1h writes; `output_tokens` includes
 * thinking; web searches are counted in `server_tool_use.web_search_requests`. In a stream,
 * `message_delta.usage` is cumulative and supersedes `message_start.usage` field by field.
 */
import { Result, Schema } from "effect"
import type * as NormalizedCall from "../NormalizedCall.ts"
import * as NormalizeError from "../NormalizeError.ts"
import * as Decode from "../internal/Decode.ts"
import * as Ledger from "../internal/Ledger.ts"
import * as Path from "../internal/Path.ts"
import * as Payload from "../internal/Payload.ts"
import type * as Provider from "../internal/Provider.ts"
import * as Text from "../internal/Text.ts"
import * as UsageParts from "../internal/UsageParts.ts"

const CacheCreation = Schema.Struct({
  ephemeral_5m_input_tokens: Decode.OptCount,
  ephemeral_1h_input_tokens: Decode.OptCount
})

const IterationUsage = Schema.Struct({
  type: Decode.OptString,
  model: Decode.OptString,
  input_tokens: Decode.OptCount,
  output_tokens: Decode.OptCount,
  cache_creation_input_tokens: Decode.OptCount,
  cache_read_input_tokens: Decode.OptCount,
  cache_creation: Schema.optionalKey(Schema.NullOr(CacheCreation))
})

export const AnthropicUsage = Schema.Struct({
  input_tokens: Decode.OptCount,
  output_tokens: Decode.OptCount,
  cache_creation_input_tokens: Decode.OptCount,
  cache_read_input_tokens: Decode.OptCount,
  cache_creation: Schema.optionalKey(Schema.NullOr(CacheCreation)),
  output_tokens_details: Schema.optionalKey(Schema.NullOr(Schema.Struct({ thinking_tokens: Decode.OptCount }))),
  server_tool_use: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    web_search_requests: Decode.OptCount,
    web_fetch_requests: Decode.OptCount
  }))),
  service_tier: Decode.OptString,
  inference_geo: Decode.OptString,
  iterations: Schema.optionalKey(Schema.NullOr(Schema.Array(IterationUsage)))
})
export type AnthropicUsage = typeof AnthropicUsage.Type

const Message = Schema.Struct({
  id: Decode.OptString,
  type: Decode.OptString,
  model: Decode.OptString,
  content: Schema.optionalKey(Schema.Unknown),
  usage: Schema.optionalKey(Schema.NullOr(AnthropicUsage)),
  error: Schema.optionalKey(Schema.Unknown)
})
type Message = typeof Message.Type

const Event = Schema.Struct({
  type: Decode.OptString,
  message: Schema.optionalKey(Schema.NullOr(Message)),
  usage: Schema.optionalKey(Schema.NullOr(AnthropicUsage)),
  delta: Schema.optionalKey(Schema.Unknown),
  content_block: Schema.optionalKey(Schema.Unknown),
  error: Schema.optionalKey(Schema.Unknown)
})

const decodeMessage = Decode.decoder(Message)
const decodeEvent = Decode.decoder(Event)

interface Tokens {
  readonly parts: UsageParts.Parts
  readonly corrections: ReadonlyArray<NormalizedCall.Correction>
}

/** Fields of one usage object (top level or one iteration) → disjoint token buckets. */
const tokensOf = (
  provider: string,
  base: Path.Path,
  usage: typeof IterationUsage.Type | AnthropicUsage,
  thinking: Ledger.Field,
  ttlHint: "5m" | "1h" | undefined
): Result.Result<Tokens, NormalizeError.NormalizeError> => {
  const input = Ledger.at(base, "input_tokens", usage.input_tokens)
  const read = Ledger.at(base, "cache_read_input_tokens", usage.cache_read_input_tokens)
  const creation = Ledger.at(base, "cache_creation_input_tokens", usage.cache_creation_input_tokens)
  const ttlPath = Path.append(base, "cache_creation")
  const write5m = Ledger.at(ttlPath, "ephemeral_5m_input_tokens", usage.cache_creation?.ephemeral_5m_input_tokens)
  const write1h = Ledger.at(ttlPath, "ephemeral_1h_input_tokens", usage.cache_creation?.ephemeral_1h_input_tokens)
  const corrections: Array<NormalizedCall.Correction> = []
  let cacheWrite5m: number
  let cacheWrite1h: number
  if (write5m.present || write1h.present) {
    if (creation.present) {
      const checked = Ledger.checkTotal(provider, creation, [write5m, write1h])
      if (Result.isFailure(checked)) return Result.fail(checked.failure)
    }
    cacheWrite5m = write5m.value
    cacheWrite1h = write1h.value
  } else if (ttlHint !== undefined) {
    // A stream whose message_start split no longer adds up: the writes take message_start's TTL.
    cacheWrite5m = ttlHint === "5m" ? creation.value : 0
    cacheWrite1h = ttlHint === "1h" ? creation.value : 0
    if (creation.value > 0) {
      corrections.push({
        rule: "anthropic.stream-cache-ttl",
        path: Path.format(creation.path),
        detail: `message_delta changed cache_creation_input_tokens to ${creation.value} without a TTL split; taken as ${ttlHint} writes, ` +
          (ttlHint === "1h" ? "the only TTL message_start wrote" : "the API default")
      })
    }
  } else {
    // No TTL split reported: the API's default cache TTL is 5 minutes.
    cacheWrite5m = creation.value
    cacheWrite1h = 0
  }
  const output = Ledger.at(base, "output_tokens", usage.output_tokens)
  const outputText = Ledger.remainder(provider, output, [thinking])
  if (Result.isFailure(outputText)) return Result.fail(outputText.failure)
  return Result.succeed({
    parts: {
      tokens: { inputText: input.value, cacheRead: read.value, cacheWrite5m, cacheWrite1h, outputText: outputText.success, reasoning: thinking.value },
      promptTokens: input.value + read.value + creation.value
    },
    corrections
  })
}

/**
 * A final (merged) usage object → Usage. With `iterations` (compaction, advisor), the executor
 * iterations (`compaction`, `message`) are billed and summed, because the top-level counts exclude
 * compaction; `advisor_message` iterations bill at the advisor model's rates and become sub-calls.
 */
export const usageOf = (
  provider: string,
  base: Path.Path,
  usage: AnthropicUsage,
  ttlHint: "5m" | "1h" | undefined = undefined
): Result.Result<{ usage: ReturnType<typeof UsageParts.make>; corrections: ReadonlyArray<NormalizedCall.Correction>; subCalls: ReadonlyArray<NormalizedCall.SubCall> }, NormalizeError.NormalizeError> => {
  const thinking = Ledger.at(Path.append(base, "output_tokens_details"), "thinking_tokens", usage.output_tokens_details?.thinking_tokens)
  const serviceTier = usage.service_tier ?? undefined
  const context = {
    webSearches: usage.server_tool_use?.web_search_requests ?? 0,
    batch: serviceTier === "batch",
    serviceTier: serviceTier === "batch" ? undefined : serviceTier,
    region: usage.inference_geo != null && usage.inference_geo !== "not_available" ? usage.inference_geo : undefined
  }
  const iterations = usage.iterations ?? []
  if (iterations.length === 0) {
    // The common case: no compaction or advisor iterations.
    const tokens = tokensOf(provider, base, usage, thinking, ttlHint)
    if (Result.isFailure(tokens)) return Result.fail(tokens.failure)
    return Result.succeed({ usage: UsageParts.make({ ...tokens.success.parts, ...context }), corrections: tokens.success.corrections, subCalls: [] })
  }
  const executor = iterations.filter((it) => it.type === "compaction" || it.type === "message")
  const subCalls: Array<NormalizedCall.SubCall> = []
  const iterationsPath = Path.append(base, "iterations")
  for (const [index, iteration] of iterations.entries()) {
    if (iteration.type !== "advisor_message") continue
    const path = Path.append(iterationsPath, index)
    if (iteration.model == null) {
      return Result.fail(NormalizeError.make(provider, Path.append(path, "model"), "malformed", "an advisor iteration must name its model"))
    }
    const tokens = tokensOf(provider, path, iteration, Ledger.field(path, undefined), undefined)
    if (Result.isFailure(tokens)) return Result.fail(tokens.failure)
    subCalls.push({ model: iteration.model, usage: UsageParts.make({ ...tokens.success.parts, ...context, webSearches: 0 }), source: Path.format(path) })
  }
  if (executor.length === 0) {
    const tokens = tokensOf(provider, base, usage, thinking, ttlHint)
    if (Result.isFailure(tokens)) return Result.fail(tokens.failure)
    return Result.succeed({ usage: UsageParts.make({ ...tokens.success.parts, ...context }), corrections: tokens.success.corrections, subCalls })
  }
  let total = UsageParts.make({})
  const corrections: Array<NormalizedCall.Correction> = []
  for (const [index, iteration] of iterations.entries()) {
    if (iteration.type !== "compaction" && iteration.type !== "message") continue
    const path = Path.append(iterationsPath, index)
    const tokens = tokensOf(provider, path, iteration, Ledger.field(path, undefined), ttlHint)
    if (Result.isFailure(tokens)) return Result.fail(tokens.failure)
    corrections.push(...tokens.success.corrections)
    total = UsageParts.add(total, UsageParts.make(tokens.success.parts))
  }
  // Thinking is reported once, for the whole call: move it from text to reasoning.
  const outputText = Ledger.derived(Path.append(iterationsPath), total.tokens.outputText ?? 0)
  const visible = Ledger.remainder(provider, outputText, [thinking])
  if (Result.isFailure(visible)) return Result.fail(visible.failure)
  const tokens = { ...total.tokens, outputText: visible.success, reasoning: thinking.value }
  return Result.succeed({ usage: UsageParts.make({ ...total, tokens, ...context }), corrections, subCalls })
}

const errorText = (error: unknown): string =>
  Payload.isRecord(error) ? [error["type"], error["message"]].filter((v) => typeof v === "string").join(": ") : ""

/** Field-by-field override: later (cumulative) values win; absent fields keep earlier ones. */
const merge = (earlier: AnthropicUsage, later: AnthropicUsage): AnthropicUsage => {
  const out: Record<string, unknown> = { ...earlier }
  for (const [key, value] of Object.entries(later)) if (value !== null && value !== undefined) out[key] = value
  return out as AnthropicUsage
}

const ttlHintOf = (usage: AnthropicUsage | undefined): "5m" | "1h" | undefined => {
  const split = usage?.cache_creation
  if (split == null) return undefined
  const m5 = split.ephemeral_5m_input_tokens ?? 0
  const h1 = split.ephemeral_1h_input_tokens ?? 0
  return h1 > 0 && m5 === 0 ? "1h" : m5 > 0 && h1 === 0 ? "5m" : undefined
}

export interface MessagesResult extends Provider.Extracted {
  /** Token counts as the Anthropic body reports them, for cross-checks against Bedrock headers. */
  readonly reported?: { readonly input: number; readonly output: number; readonly cacheRead: number; readonly cacheWrite: number } | undefined
}

/** A Messages response or a Messages event stream. */
export const messages = (
  provider: string,
  payload: Payload.Single | Payload.Stream,
  context: Provider.Context,
  api: NormalizedCall.Api = "messages"
): Result.Result<MessagesResult, NormalizeError.NormalizeError> => {
  if (payload._tag === "Single" && Payload.isRecord(payload.item.value) && payload.item.value["type"] !== "message_start" &&
    payload.item.value["type"] !== "message_delta") {
    const decoded = decodeMessage(provider, payload.item.path, payload.item.value)
    if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
    const message = decoded.success
    if (message.type === "error" || (message.error != null && message.usage == null)) {
      return Result.fail(NormalizeError.make(provider, Path.append(payload.item.path, "error"), "failed-response",
        `the API answered with an error (${errorText(message.error)}); nothing is billable`))
    }
    return fromMessage(provider, api, message, Path.append(payload.item.path, "usage"), message.usage ?? undefined, undefined, context)
  }
  let start: { message: Message; path: Path.Path } | undefined
  let merged: AnthropicUsage | undefined
  let lastPath: Path.Path = Path.root
  let sawDelta = false
  let splitDropped = false
  let text = ""
  for (const item of Payload.items(payload)) {
    const decoded = decodeEvent(provider, item.path, item.value)
    if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
    const event = decoded.success
    if (event.type === "error") {
      if (start === undefined) {
        return Result.fail(NormalizeError.make(provider, Path.append(item.path, "error"), "failed-response",
          `the stream failed before message_start (${errorText(event.error)}); nothing is billable`))
      }
      continue
    }
    if (event.type === "message_start" && event.message != null) {
      start = { message: event.message, path: Path.append(item.path, "message") }
      if (event.message.usage != null) {
        merged = event.message.usage
        lastPath = Path.append(item.path, "message", "usage")
      }
    } else if (event.type === "message_delta" && event.usage != null) {
      merged = merged === undefined ? event.usage : merge(merged, event.usage)
      // message_delta carries no TTL split: message_start's split only holds if the count is unchanged.
      const split = merged.cache_creation
      if (event.usage.cache_creation == null && split != null &&
        (split.ephemeral_5m_input_tokens ?? 0) + (split.ephemeral_1h_input_tokens ?? 0) !== (merged.cache_creation_input_tokens ?? 0)) {
        const { cache_creation: _stale, ...rest } = merged
        merged = rest
        splitDropped = true
      }
      lastPath = Path.append(item.path, "usage")
      sawDelta = true
    } else if (event.type === "content_block_delta" || event.type === "content_block_start") {
      text += Text.collect(event.delta ?? event.content_block)
    }
  }
  const message: Message = start?.message ?? {}
  const ttlHint = splitDropped ? (ttlHintOf(start?.message.usage ?? undefined) ?? "5m") : undefined
  const result = fromMessage(provider, api, message, lastPath, merged, ttlHint, context)
  if (Result.isFailure(result)) return result
  // A stream cut before message_delta has only message_start's provisional output count.
  return Result.succeed(sawDelta || merged === undefined ? { ...result.success, outputText: text } : { ...result.success, outputText: text, outputMissing: true })
}

const fromMessage = (
  provider: string,
  api: NormalizedCall.Api,
  message: Message,
  usagePath: Path.Path,
  usage: AnthropicUsage | undefined,
  ttlHint: "5m" | "1h" | undefined,
  context: Provider.Context
): Result.Result<MessagesResult, NormalizeError.NormalizeError> => {
  const common = {
    api,
    model: message.model ?? context.model,
    responseId: message.id ?? undefined,
    outputText: Text.collect(message.content)
  }
  if (usage === undefined) return Result.succeed(common)
  const usageResult = usageOf(provider, usagePath, usage, ttlHint)
  if (Result.isFailure(usageResult)) return Result.fail(usageResult.failure)
  const result = usageResult.success
  return Result.succeed({
    ...common,
    usage: result.usage,
    serviceTier: usage.service_tier ?? undefined,
    batch: usage.service_tier === "batch",
    corrections: result.corrections,
    subCalls: result.subCalls,
    reported: {
      input: usage.input_tokens ?? 0,
      output: usage.output_tokens ?? 0,
      cacheRead: usage.cache_read_input_tokens ?? 0,
      cacheWrite: usage.cache_creation_input_tokens ?? 0
    }
  })
}

/** True when a value is an Anthropic message or Messages stream event. */
export const looksLikeMessages = (value: unknown): boolean =>
  Payload.isRecord(value) &&
  (value["type"] === "message" || value["type"] === "message_start" || value["type"] === "message_delta" ||
    value["type"] === "content_block_delta" || value["type"] === "message_stop" ||
    (Payload.isRecord(value["usage"]) && "input_tokens" in value["usage"] && "output_tokens" in value["usage"] && "content" in value))

const BatchResultLine = Schema.Struct({
  custom_id: Decode.OptString,
  result: Schema.Struct({
    type: Schema.String,
    message: Schema.optionalKey(Schema.Unknown),
    error: Schema.optionalKey(Schema.Unknown)
  })
})
const decodeBatchResultLine = Decode.decoder(BatchResultLine)

const looksLikeBatchResult = (value: unknown): boolean =>
  Payload.isRecord(value) && "custom_id" in value && Payload.isRecord(value["result"])

/**
 * A Message Batches result line `{custom_id, result: {type, message}}`: a `succeeded` result's
 * message is a Messages response, billed at the batch rate (`batch = true`); `errored`, `canceled`
 * and `expired` results are not billed (docs/pricing-semantics.md#anthropic).
 */
const batchResult = (payload: Payload.Single | Payload.Stream, context: Provider.Context): Result.Result<MessagesResult, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    if (payload._tag !== "Single") {
      return yield* Result.fail(NormalizeError.make("anthropic", Path.root, "unsupported",
        "a batch result is one line; normalize a results file line by line (Normalize.normalizeBatchOutput)"))
    }
    const { item } = payload
    const line = yield* decodeBatchResultLine("anthropic", item.path, item.value)
    const resultPath = Path.append(item.path, "result")
    if (line.result.type !== "succeeded") {
      return yield* Result.fail(NormalizeError.make("anthropic", Path.append(resultPath, "type"), "failed-response",
        `batch request ${line.custom_id ?? ""} ${line.result.type}${line.result.error != null ? ` (${errorText(line.result.error)})` : ""}; nothing is billable`))
    }
    if (line.result.message == null) {
      return yield* Result.fail(NormalizeError.make("anthropic", Path.append(resultPath, "message"), "malformed", "a succeeded batch result without its message"))
    }
    const inner = yield* messages("anthropic", Payload.single(line.result.message, Path.append(resultPath, "message")), context, "batch")
    return {
      ...inner,
      batch: true,
      usage: inner.usage === undefined ? undefined : UsageParts.withContext(inner.usage, { batch: true })
    }
  })

/** A usage object without its message (as SDK callbacks and log pipelines keep it). */
const looksLikeUsageOnly = (value: unknown): boolean =>
  Payload.isRecord(value) && Payload.isRecord(value["usage"]) && "input_tokens" in value["usage"] &&
  !("choices" in value) && !("output" in value)

export const module: Provider.Module = {
  id: "anthropic",
  apis: ["messages", "batch"],
  detect: (payload) => {
    const body = payload._tag === "Http" ? payload.body : payload
    if (body === undefined) return undefined
    const items = Payload.items(body)
    if (items.some((item) => looksLikeBatchResult(item.value))) return "batch"
    return items.some((item) => looksLikeMessages(item.value) || looksLikeUsageOnly(item.value)) ? "messages" : undefined
  },
  normalize: (payload, api, context) => {
    if (payload._tag === "Http") {
      if (payload.status !== undefined && payload.status >= 400) {
        return Result.fail(NormalizeError.make("anthropic", ["status"], "failed-response", `HTTP status ${payload.status}; nothing is billable`))
      }
      if (payload.body === undefined) return Result.fail(NormalizeError.make("anthropic", ["body"], "missing-usage", "the HTTP capture has no body"))
      return api === "batch" ? batchResult(payload.body, context) : messages("anthropic", payload.body, context, api)
    }
    return api === "batch" ? batchResult(payload, context) : messages("anthropic", payload, context, api)
  }
}
