/**
 * AWS Bedrock (docs/pricing-semantics.md#bedrock): Converse / ConverseStream usage and InvokeModel
 * token-count headers. `inputTokens` (and `x-amzn-bedrock-input-token-count`) EXCLUDE cache reads
 * and writes; `totalTokens` includes them. Claude bodies returned by InvokeModel are Anthropic
 * Messages and are normalized as such, cross-checked against the headers.
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
import * as Anthropic from "./Anthropic.ts"

const TokenUsage = Schema.Struct({
  inputTokens: Decode.OptCount,
  outputTokens: Decode.OptCount,
  totalTokens: Decode.OptCount,
  cacheReadInputTokens: Decode.OptCount,
  cacheWriteInputTokens: Decode.OptCount,
  /** Undocumented duplicates that the live wire also carries. */
  cacheReadInputTokenCount: Decode.OptCount,
  cacheWriteInputTokenCount: Decode.OptCount,
  cacheDetails: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.Struct({ ttl: Decode.OptString, inputTokens: Decode.OptCount })))),
  serverToolUsage: Schema.optionalKey(Schema.NullOr(Schema.Record(Schema.String, Schema.Unknown)))
})
type TokenUsage = typeof TokenUsage.Type

const ConverseBody = Schema.Struct({
  output: Schema.optionalKey(Schema.Unknown),
  usage: Schema.optionalKey(Schema.NullOr(TokenUsage)),
  serviceTier: Schema.optionalKey(Schema.NullOr(Schema.Struct({ type: Decode.OptString }))),
  metadata: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    usage: Schema.optionalKey(Schema.NullOr(TokenUsage)),
    serviceTier: Schema.optionalKey(Schema.NullOr(Schema.Struct({ type: Decode.OptString })))
  }))),
  contentBlockDelta: Schema.optionalKey(Schema.NullOr(Schema.Struct({ delta: Schema.optionalKey(Schema.Unknown) }))),
  message: Decode.OptString
})
const decodeConverse = Decode.decoder(ConverseBody)

/** A count in the server-tool usage map (`{ webSearch: 2 }`); other values are ignored. */
const ToolCount = Schema.Struct({ value: Decode.Count })
const decodeToolCount = Decode.decoder(ToolCount)

/** Bedrock model ids of the OpenAI family, with or without a cross-region prefix (`us.openai.gpt-…`). */
const isOpenAiFamily = (model: string | undefined): boolean => model !== undefined && /(^|\.)openai\./.test(model)

interface Counts {
  readonly input: Ledger.Field
  readonly output: Ledger.Field
  readonly cacheRead: Ledger.Field
  readonly cacheWrite: Ledger.Field
  readonly total: Ledger.Field
  readonly cacheDetails: TokenUsage["cacheDetails"]
  readonly cacheDetailsPath: Path.Path
}

/**
 * Counts → Usage. Standard rule: inputTokens is non-cached input, total = input + output + read + write.
 * Correction `bedrock.openai-input-includes-cache`: OpenAI-family models (model id `openai.*`)
 * were observed on ConverseStream reporting an inputTokens that already includes the cache
 * tokens, with a totalTokens that counts them twice; for those models, when inputTokens is at
 * least read + write, the cache tokens are taken out of inputTokens.
 */
const usageOfCounts = (
  provider: string,
  counts: Counts,
  model: string | undefined
): Result.Result<{ parts: UsageParts.Parts; corrections: ReadonlyArray<NormalizedCall.Correction> }, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const { input, output, cacheRead, cacheWrite, total } = counts
    yield* Ledger.checkTotal(provider, total, [input, output, cacheRead, cacheWrite])
    const corrections: Array<NormalizedCall.Correction> = []
    let inputText = input.value
    const cacheTokens = cacheRead.value + cacheWrite.value
    if (isOpenAiFamily(model) && cacheTokens > 0 && input.value >= cacheTokens) {
      inputText = input.value - cacheTokens
      corrections.push({
        rule: "bedrock.openai-input-includes-cache",
        path: Path.format(input.path),
        detail: `${model} reports inputTokens including cache tokens; uncached input = ${input.value} − ${cacheRead.value} − ${cacheWrite.value} = ${inputText}`
      })
    }
    let cacheWrite5m = cacheWrite.value
    let cacheWrite1h = 0
    const details = counts.cacheDetails
    if (details != null && details.length > 0) {
      const fields: Array<Ledger.Field> = []
      cacheWrite5m = 0
      for (const [index, entry] of details.entries()) {
        const path = Path.append(counts.cacheDetailsPath, index)
        const count = Ledger.at(path, "inputTokens", entry.inputTokens)
        fields.push(count)
        if (entry.ttl === "1h") cacheWrite1h += count.value
        else if (entry.ttl === "5m" || entry.ttl == null) cacheWrite5m += count.value
        else return yield* Result.fail(NormalizeError.make(provider, Path.append(path, "ttl"), "malformed", `unknown cache TTL ${JSON.stringify(entry.ttl)}; expected 5m or 1h`))
      }
      yield* Ledger.checkTotal(provider, cacheWrite, fields)
    }
    return {
      parts: {
        tokens: { inputText, cacheRead: cacheRead.value, cacheWrite5m, cacheWrite1h, outputText: output.value },
        promptTokens: inputText + cacheTokens
      },
      corrections
    }
  })

const toolCallsOf = (
  provider: string,
  base: Path.Path,
  tools: Readonly<Record<string, unknown>> | null | undefined
): Result.Result<Record<string, number>, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const out: Record<string, number> = {}
    for (const [name, raw] of Object.entries(tools ?? {})) {
      if (typeof raw !== "number") continue
      const { value } = yield* decodeToolCount(provider, Path.append(base, name), { value: raw })
      out[name] = value
    }
    return out
  })

const converseUsage = (
  provider: string,
  base: Path.Path,
  usage: TokenUsage,
  model: string | undefined
): Result.Result<{ parts: UsageParts.Parts; corrections: ReadonlyArray<NormalizedCall.Correction> }, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const cacheRead = yield* Ledger.agree(provider,
      Ledger.at(base, "cacheReadInputTokens", usage.cacheReadInputTokens),
      Ledger.at(base, "cacheReadInputTokenCount", usage.cacheReadInputTokenCount))
    const cacheWrite = yield* Ledger.agree(provider,
      Ledger.at(base, "cacheWriteInputTokens", usage.cacheWriteInputTokens),
      Ledger.at(base, "cacheWriteInputTokenCount", usage.cacheWriteInputTokenCount))
    const result = yield* usageOfCounts(provider, {
      input: Ledger.at(base, "inputTokens", usage.inputTokens),
      output: Ledger.at(base, "outputTokens", usage.outputTokens),
      total: Ledger.at(base, "totalTokens", usage.totalTokens),
      cacheRead,
      cacheWrite,
      cacheDetails: usage.cacheDetails,
      cacheDetailsPath: Path.append(base, "cacheDetails")
    }, model)
    const toolCalls = yield* toolCallsOf(provider, Path.append(base, "serverToolUsage"), usage.serverToolUsage)
    return { parts: { ...result.parts, toolCalls }, corrections: result.corrections }
  })

/** Converse response, or ConverseStream events: the single `metadata` event carries the usage. */
const converse = (
  provider: string,
  payload: Payload.Single | Payload.Stream,
  context: Provider.Context,
  requestId: string | undefined
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    let usage: { value: TokenUsage; path: Path.Path } | undefined
    let serviceTier: string | undefined
    let text = ""
    for (const item of Payload.items(payload)) {
      const body = yield* decodeConverse(provider, item.path, item.value)
      if (body.usage != null) usage = { value: body.usage, path: Path.append(item.path, "usage") }
      if (body.metadata?.usage != null) usage = { value: body.metadata.usage, path: Path.append(item.path, "metadata", "usage") }
      const tier = body.serviceTier?.type ?? body.metadata?.serviceTier?.type
      if (tier != null) serviceTier = tier
      text += Text.collect(body.output) + Text.collect(body.contentBlockDelta?.delta)
      if (body.message != null && body.usage == null && body.output == null && body.metadata == null) {
        return yield* Result.fail(NormalizeError.make(provider, Path.append(item.path, "message"), "failed-response",
          `the API answered with an error (${body.message}); nothing is billable`))
      }
    }
    const common = { api: "converse" as const, model: context.model, responseId: requestId, serviceTier, outputText: text }
    if (usage === undefined) return common
    const { parts, corrections } = yield* converseUsage(provider, usage.path, usage.value, context.model)
    return { ...common, usage: UsageParts.make({ ...parts, serviceTier }), corrections }
  })

// ---------------------------------------------------------------------------------------------
// InvokeModel

const HEADER = {
  input: "x-amzn-bedrock-input-token-count",
  output: "x-amzn-bedrock-output-token-count",
  cacheRead: "x-amzn-bedrock-cache-read-input-token-count",
  cacheWrite: "x-amzn-bedrock-cache-write-input-token-count",
  serviceTier: "x-amzn-bedrock-service-tier",
  requestId: "x-amzn-requestid"
} as const

const decodeCountString = Decode.decoder(Decode.CountString)

const headerCount = (
  provider: string,
  headers: ReadonlyMap<string, Payload.Header>,
  name: string
): Result.Result<Ledger.Field, NormalizeError.NormalizeError> => {
  const header = headers.get(name)
  if (header === undefined) return Result.succeed(Ledger.field(["headers", name], undefined))
  return Result.map(decodeCountString(provider, header.path, header.value.trim()), (text) => Ledger.field(header.path, Number(text)))
}

const InvocationMetrics = Schema.Struct({
  inputTokenCount: Decode.OptCount,
  outputTokenCount: Decode.OptCount,
  cacheReadInputTokenCount: Decode.OptCount,
  cacheWriteInputTokenCount: Decode.OptCount
})
const StreamChunk = Schema.Struct({
  "amazon-bedrock-invocationMetrics": Schema.optionalKey(Schema.NullOr(InvocationMetrics)),
  chunk: Schema.optionalKey(Schema.NullOr(Schema.Struct({ bytes: Schema.String })))
})
const decodeStreamChunk = Decode.decoder(StreamChunk)
const decodeInvocationMetrics = Decode.decoder(InvocationMetrics)

/** Meta Llama bodies report their own counts. */
const LlamaBody = Schema.Struct({ prompt_token_count: Decode.OptCount, generation_token_count: Decode.OptCount })
const decodeLlama = Decode.decoder(LlamaBody)

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * InvokeModelWithResponseStream chunks arrive as `{chunk: {bytes: base64}}` or already decoded;
 * decoded, each is the model's native event, the last one adding `amazon-bedrock-invocationMetrics`.
 */
const decodeChunks = (provider: string, payload: Payload.Stream): Result.Result<Payload.Stream, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const items: Array<Payload.Item> = []
    for (const item of payload.items) {
      const chunk = yield* decodeStreamChunk(provider, item.path, item.value)
      if (chunk.chunk == null) {
        items.push(item)
        continue
      }
      const path = Path.append(item.path, "chunk", "bytes")
      const text = BASE64.test(chunk.chunk.bytes) ? Buffer.from(chunk.chunk.bytes, "base64").toString("utf8") : undefined
      const value = text === undefined ? undefined : Payload.json(text)
      if (value === undefined) return yield* Result.fail(NormalizeError.make(provider, path, "malformed", "chunk bytes are not base64-encoded JSON"))
      items.push({ value, path })
    }
    return { _tag: "Stream", items }
  })

const sameCount = (provider: string, header: Ledger.Field, body: number, bodyName: string): Result.Result<void, NormalizeError.NormalizeError> =>
  !header.present || header.value === body ? Result.void : Result.fail(NormalizeError.make(provider, header.path, "inconsistent",
    `${Path.format(header.path)} = ${header.value} disagrees with the body's ${bodyName} = ${body}`))

/**
 * InvokeModel. Counts come from the token-count headers (or, streamed, the invocation metrics);
 * a Claude body (Anthropic Messages) gives the richer split (cache TTLs, web searches) and must
 * agree with them.
 */
const invokeModel = (
  provider: string,
  payload: Payload.Payload,
  context: Provider.Context
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const headers: ReadonlyMap<string, Payload.Header> = payload._tag === "Http" ? payload.headers : new Map()
    if (payload._tag === "Http" && payload.status !== undefined && payload.status >= 400) {
      return yield* Result.fail(NormalizeError.make(provider, ["status"], "failed-response", `HTTP status ${payload.status}; nothing is billable`))
    }
    let body = payload._tag === "Http" ? payload.body : payload
    if (body?._tag === "Stream") body = yield* decodeChunks(provider, body)
    let counts = {
      input: yield* headerCount(provider, headers, HEADER.input),
      output: yield* headerCount(provider, headers, HEADER.output),
      cacheRead: yield* headerCount(provider, headers, HEADER.cacheRead),
      cacheWrite: yield* headerCount(provider, headers, HEADER.cacheWrite)
    }
    if (body !== undefined) {
      // A stream's last chunk carries the metrics; kept alone (as log pipelines keep it), it is the whole call's count.
      for (const item of Payload.items(body)) {
        const metrics = Payload.isRecord(item.value) ? item.value["amazon-bedrock-invocationMetrics"] : undefined
        if (metrics == null) continue
        const path = Path.append(item.path, "amazon-bedrock-invocationMetrics")
        const decoded = yield* decodeInvocationMetrics(provider, path, metrics)
        counts = {
          input: Ledger.at(path, "inputTokenCount", decoded.inputTokenCount),
          output: Ledger.at(path, "outputTokenCount", decoded.outputTokenCount),
          cacheRead: Ledger.at(path, "cacheReadInputTokenCount", decoded.cacheReadInputTokenCount),
          cacheWrite: Ledger.at(path, "cacheWriteInputTokenCount", decoded.cacheWriteInputTokenCount)
        }
      }
    }
    const tierHeader = headers.get(HEADER.serviceTier)?.value
    const requestId = headers.get(HEADER.requestId)?.value
    const reportedByMetrics = counts.input.present || counts.output.present
    const claude = body !== undefined && Payload.items(body).some((item) => Anthropic.looksLikeMessages(item.value))
    const inner = body !== undefined && claude ? yield* Anthropic.messages(provider, body, context, "invokeModel") : undefined
    // A Claude final chunk alone (message_stop) has no usage of its own: the metrics are the counts.
    if (inner !== undefined && !(inner.usage === undefined && reportedByMetrics)) {
      if (inner.reported !== undefined && reportedByMetrics) {
        yield* sameCount(provider, counts.input, inner.reported.input, "usage.input_tokens")
        yield* sameCount(provider, counts.output, inner.reported.output, "usage.output_tokens")
        yield* sameCount(provider, counts.cacheRead, inner.reported.cacheRead, "usage.cache_read_input_tokens")
        yield* sameCount(provider, counts.cacheWrite, inner.reported.cacheWrite, "usage.cache_creation_input_tokens")
      }
      const { reported: _reported, ...rest } = inner
      // A stream cut before message_delta still has the invocation metrics' final counts.
      if (inner.outputMissing === true && reportedByMetrics && inner.usage !== undefined) {
        const tokens = { ...inner.usage.tokens, outputText: counts.output.value - (inner.usage.tokens.reasoning ?? 0) }
        return { ...rest, outputMissing: false, usage: UsageParts.make({ ...inner.usage, tokens }), responseId: rest.responseId ?? requestId }
      }
      return { ...rest, responseId: rest.responseId ?? requestId, serviceTier: rest.serviceTier ?? tierHeader }
    }
    const outputText = body === undefined ? "" : Payload.items(body).map((item) => Text.collect(item.value)).join("")
    const common = { api: "invokeModel" as const, model: context.model, responseId: requestId, serviceTier: tierHeader, outputText }
    if (!reportedByMetrics) {
      if (body?._tag === "Single" && Payload.isRecord(body.item.value) && "prompt_token_count" in body.item.value) {
        const llama = yield* decodeLlama(provider, body.item.path, body.item.value)
        return {
          ...common,
          usage: UsageParts.make({
            tokens: { inputText: llama.prompt_token_count ?? 0, outputText: llama.generation_token_count ?? 0 },
            promptTokens: llama.prompt_token_count ?? 0,
            serviceTier: tierHeader
          })
        }
      }
      if (body?._tag === "Single" && Payload.isRecord(body.item.value) && Payload.isRecord(body.item.value["usage"])) {
        return yield* converse(provider, body, context, requestId).pipe(Result.map((e) => ({ ...e, api: "invokeModel" as const })))
      }
      return common
    }
    const total = Ledger.derived(["headers"], counts.input.value + counts.output.value + counts.cacheRead.value + counts.cacheWrite.value)
    const { parts, corrections } = yield* usageOfCounts(provider, {
      ...counts,
      total: { path: total.path, value: total.value, present: false },
      cacheDetails: undefined,
      cacheDetailsPath: ["headers"]
    }, context.model)
    return { ...common, usage: UsageParts.make({ ...parts, serviceTier: tierHeader }), corrections }
  })

const looksLikeConverse = (value: unknown): boolean =>
  Payload.isRecord(value) &&
  ((Payload.isRecord(value["usage"]) && ("inputTokens" in value["usage"] || "totalTokens" in value["usage"])) ||
    "metadata" in value || "messageStart" in value || "contentBlockDelta" in value || "messageStop" in value ||
    (Payload.isRecord(value["output"]) && "message" in value["output"]))

export const module: Provider.Module = {
  id: "bedrock",
  apis: ["converse", "invokeModel"],
  detect: (payload) => {
    if (payload._tag === "Http") {
      for (const name of payload.headers.keys()) if (name.startsWith("x-amzn-bedrock-")) return "invokeModel"
      if (payload.body === undefined) return undefined
    }
    const body = payload._tag === "Http" ? payload.body! : payload
    const items = Payload.items(body)
    if (items.some((item) => looksLikeConverse(item.value))) return "converse"
    if (items.some((item) => Payload.isRecord(item.value) &&
      ("amazon-bedrock-invocationMetrics" in item.value || "chunk" in item.value || Anthropic.looksLikeMessages(item.value) ||
        "prompt_token_count" in item.value))) return "invokeModel"
    return undefined
  },
  normalize: (payload, api, context) => {
    if (api === "invokeModel") return invokeModel("bedrock", payload, context)
    if (payload._tag === "Http") {
      if (payload.status !== undefined && payload.status >= 400) {
        return Result.fail(NormalizeError.make("bedrock", ["status"], "failed-response", `HTTP status ${payload.status}; nothing is billable`))
      }
      if (payload.body === undefined) return Result.fail(NormalizeError.make("bedrock", ["body"], "missing-usage", "the HTTP capture has no body"))
      return converse("bedrock", payload.body, context, payload.headers.get(HEADER.requestId)?.value)
    }
    return converse("bedrock", payload, context, undefined)
  }
}
