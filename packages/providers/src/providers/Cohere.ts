/**
 * Cohere v2 (docs/pricing-semantics.md#cohere): bills `usage.billed_units` — input and output tokens,
 * search units (rerank) and classifications. `usage.tokens` holds the raw model tokens (prompt
 * template included) and `cached_tokens` is informational; neither is billed. Embed and rerank
 * report `meta.billed_units`. In a chat stream the `message-end` event carries the usage.
 */
import { Result, Schema } from "effect"
import type * as NormalizedCall from "../NormalizedCall.ts"
import type * as NormalizeError from "../NormalizeError.ts"
import * as Decode from "../internal/Decode.ts"
import * as OpenAICompatible from "../internal/OpenAICompatible.ts"
import * as Payload from "../internal/Payload.ts"
import type * as Provider from "../internal/Provider.ts"
import * as Text from "../internal/Text.ts"
import * as UsageParts from "../internal/UsageParts.ts"

const BilledUnits = Schema.Struct({
  input_tokens: Decode.OptCount,
  output_tokens: Decode.OptCount,
  search_units: Decode.OptCount,
  classifications: Decode.OptCount,
  images: Decode.OptCount
})
type BilledUnits = typeof BilledUnits.Type

const CohereUsage = Schema.Struct({
  billed_units: Schema.optionalKey(Schema.NullOr(BilledUnits)),
  tokens: Schema.optionalKey(Schema.NullOr(Schema.Struct({ input_tokens: Decode.OptCount, output_tokens: Decode.OptCount }))),
  cached_tokens: Decode.OptCount
})

const Body = Schema.Struct({
  id: Decode.OptString,
  type: Decode.OptString,
  model: Decode.OptString,
  message: Schema.optionalKey(Schema.Unknown),
  usage: Schema.optionalKey(Schema.NullOr(CohereUsage)),
  meta: Schema.optionalKey(Schema.NullOr(Schema.Struct({ billed_units: Schema.optionalKey(Schema.NullOr(BilledUnits)) }))),
  delta: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    message: Schema.optionalKey(Schema.Unknown),
    usage: Schema.optionalKey(Schema.NullOr(CohereUsage))
  }))),
  embeddings: Schema.optionalKey(Schema.Unknown),
  results: Schema.optionalKey(Schema.Unknown)
})
const decodeBody = Decode.decoder(Body)

const partsOf = (billed: BilledUnits, api: NormalizedCall.Api): UsageParts.Parts => ({
  tokens: api === "embed"
    ? { embedding: billed.input_tokens ?? 0, inputImage: billed.images ?? 0 }
    : { inputText: billed.input_tokens ?? 0, outputText: billed.output_tokens ?? 0, inputImage: billed.images ?? 0 },
  promptTokens: (billed.input_tokens ?? 0) + (billed.images ?? 0),
  toolCalls: { search_units: billed.search_units ?? 0, classifications: billed.classifications ?? 0 }
})

const normalize = (
  payload: Payload.Payload,
  api: NormalizedCall.Api,
  context: Provider.Context
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const body = yield* OpenAICompatible.bodyOf("cohere", payload)
    let id: string | undefined
    let billed: BilledUnits | undefined
    let sawUsage = false
    let text = ""
    for (const item of Payload.items(body)) {
      const value = yield* decodeBody("cohere", item.path, item.value)
      if (value.id != null && id === undefined) id = value.id
      const usage = value.usage ?? value.delta?.usage
      if (usage != null) {
        sawUsage = true
        billed = usage.billed_units ?? {}
      }
      if (value.meta?.billed_units != null) {
        sawUsage = true
        billed = value.meta.billed_units
      }
      text += Text.collect(value.message) + Text.collect(value.delta?.message)
      if (value.type === "message-end" || value.type === "stream-end") break
    }
    const common = { api, model: context.model, responseId: id, outputText: text }
    if (!sawUsage || billed === undefined) return common
    return { ...common, usage: UsageParts.make(partsOf(billed, api)) }
  })

const detectOne = (value: unknown): NormalizedCall.Api | undefined => {
  if (!Payload.isRecord(value)) return undefined
  if ("embeddings" in value) return "embed"
  if (Array.isArray(value["results"]) && value["results"].some((r) => Payload.isRecord(r) && "relevance_score" in r)) return "rerank"
  if ("message" in value || "finish_reason" in value || (typeof value["type"] === "string" && /^(message|content|tool)-/.test(value["type"]))) return "chat"
  if (Payload.isRecord(value["usage"]) && "billed_units" in value["usage"]) return "chat"
  return undefined
}

export const module: Provider.Module = {
  id: "cohere",
  apis: ["chat", "embed", "rerank"],
  detect: (payload) => {
    const body = payload._tag === "Http" ? payload.body : payload
    if (body === undefined) return undefined
    for (const item of Payload.items(body)) {
      const api = detectOne(item.value)
      if (api !== undefined) return api
    }
    return undefined
  },
  normalize
}

