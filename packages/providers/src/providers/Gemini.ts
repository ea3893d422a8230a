/**
 * Google Gemini API and Vertex AI `generateContent` (docs/pricing-semantics.md#google).
 * `promptTokenCount` INCLUDES `cachedContentTokenCount`; `candidatesTokenCount` EXCLUDES
 * `thoughtsTokenCount`; `toolUsePromptTokenCount` is outside the prompt count;
 * total = prompt + toolUsePrompt + candidates + thoughts. Streams carry running totals: the last
 * chunk with counts wins, never a sum. Vertex AI `predict` for text embeddings: the sum of each
 * prediction's `embeddings.statistics.token_count`.
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

const ModalityCount = Schema.Struct({ modality: Decode.OptString, tokenCount: Decode.OptCount })
const Details = Schema.optionalKey(Schema.NullOr(Schema.Array(ModalityCount)))

const UsageMetadata = Schema.Struct({
  promptTokenCount: Decode.OptCount,
  cachedContentTokenCount: Decode.OptCount,
  candidatesTokenCount: Decode.OptCount,
  toolUsePromptTokenCount: Decode.OptCount,
  thoughtsTokenCount: Decode.OptCount,
  totalTokenCount: Decode.OptCount,
  promptTokensDetails: Details,
  cacheTokensDetails: Details,
  candidatesTokensDetails: Details,
  toolUsePromptTokensDetails: Details,
  trafficType: Decode.OptString
})
type UsageMetadata = typeof UsageMetadata.Type

const Candidate = Schema.Struct({
  content: Schema.optionalKey(Schema.Unknown),
  groundingMetadata: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    webSearchQueries: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.Unknown)))
  })))
})

const Response = Schema.Struct({
  candidates: Schema.optionalKey(Schema.NullOr(Schema.Array(Candidate))),
  usageMetadata: Schema.optionalKey(Schema.NullOr(UsageMetadata)),
  modelVersion: Decode.OptString,
  responseId: Decode.OptString,
  error: Schema.optionalKey(Schema.Unknown)
})
const decodeResponse = Decode.decoder(Response)

type Modal = "text" | "image" | "audio" | "video"

/** Gemini modalities → Tally's modality. DOCUMENT (PDF pages) and unspecified are priced as text. */
const modalOf = (modality: string | null | undefined): Modal =>
  modality === "IMAGE" ? "image" : modality === "AUDIO" ? "audio" : modality === "VIDEO" ? "video" : "text"

interface Split {
  readonly text: Ledger.Field
  readonly image: Ledger.Field
  readonly audio: Ledger.Field
  readonly video: Ledger.Field
}

/**
 * A per-modality breakdown of `parent`. Absent details put everything in text; present details
 * must add up to the parent.
 */
const splitOf = (
  provider: string,
  parent: Ledger.Field,
  details: ReadonlyArray<typeof ModalityCount.Type> | null | undefined,
  path: Path.Path
): Result.Result<Split, NormalizeError.NormalizeError> => {
  if (details == null || details.length === 0) {
    const zero = (m: string) => Ledger.field(Path.append(path, m), 0)
    return Result.succeed({ text: parent, image: zero("IMAGE"), audio: zero("AUDIO"), video: zero("VIDEO") })
  }
  const sums: Record<Modal, number> = { text: 0, image: 0, audio: 0, video: 0 }
  const parts: Array<Ledger.Field> = []
  for (const [index, entry] of details.entries()) {
    const count = Ledger.at(Path.append(path, index), "tokenCount", entry.tokenCount)
    parts.push(count)
    sums[modalOf(entry.modality)] += count.value
  }
  return Result.map(Ledger.checkTotal(provider, parent, parts), () => ({
    text: Ledger.derived(Path.append(path, "TEXT"), sums.text),
    image: Ledger.derived(Path.append(path, "IMAGE"), sums.image),
    audio: Ledger.derived(Path.append(path, "AUDIO"), sums.audio),
    video: Ledger.derived(Path.append(path, "VIDEO"), sums.video)
  }))
}

/**
 * The output's per-modality split. Gemini image models list only the IMAGE modality in
 * `candidatesTokensDetails` while `candidatesTokenCount` also counts the text parts they generate
 * (observed on gemini-3-pro-image and gemini-2.5-flash-image responses): when the details add up
 * to less than the count, the unlisted rest is output text, recorded as correction
 * `google.candidates-details-incomplete`. Details adding up to more than the count are impossible
 * (exceeds-parent).
 */
const candidatesSplit = (
  provider: string,
  candidates: Ledger.Field,
  details: ReadonlyArray<typeof ModalityCount.Type> | null | undefined,
  path: Path.Path,
  corrections: Array<NormalizedCall.Correction>
): Result.Result<Split, NormalizeError.NormalizeError> => {
  if (details == null || details.length === 0 || !candidates.present) return splitOf(provider, candidates, details, path)
  const listed = details.reduce((sum, entry) => sum + (entry.tokenCount ?? 0), 0)
  if (listed > candidates.value) {
    return Result.fail(NormalizeError.make(provider, path, "exceeds-parent",
      `candidatesTokensDetails add up to ${listed}, more than candidatesTokenCount = ${candidates.value}, which includes them`))
  }
  if (listed === candidates.value) return splitOf(provider, candidates, details, path)
  const splitResult = splitOf(provider, Ledger.derived(candidates.path, listed), details, path)
  if (Result.isFailure(splitResult)) return splitResult
  const split = splitResult.success
  const rest = candidates.value - listed
  corrections.push({
    rule: "google.candidates-details-incomplete",
    path: Path.format(path),
    detail: `candidatesTokensDetails list ${listed} of candidatesTokenCount = ${candidates.value}; the unlisted ${rest} are output text`
  })
  return Result.succeed({ ...split, text: Ledger.derived(split.text.path, split.text.value + rest) })
}

export const usageOf = (
  provider: string,
  base: Path.Path,
  meta: UsageMetadata
): Result.Result<{ parts: UsageParts.Parts; corrections: ReadonlyArray<NormalizedCall.Correction> }, NormalizeError.NormalizeError> => {
  const prompt = Ledger.at(base, "promptTokenCount", meta.promptTokenCount)
  const cached = Ledger.at(base, "cachedContentTokenCount", meta.cachedContentTokenCount)
  const toolUse = Ledger.at(base, "toolUsePromptTokenCount", meta.toolUsePromptTokenCount)
  const thoughts = Ledger.at(base, "thoughtsTokenCount", meta.thoughtsTokenCount)
  const total = Ledger.at(base, "totalTokenCount", meta.totalTokenCount)
  let candidates = Ledger.at(base, "candidatesTokenCount", meta.candidatesTokenCount)
  const corrections: Array<NormalizedCall.Correction> = []
  if (!candidates.present && total.present) {
    // Gemini omits candidatesTokenCount on some responses (empty or blocked output, some
    // thinking-only answers); the total still counts every token, so the rest is the output.
    const restResult = Ledger.remainder(provider, total, [prompt, toolUse, thoughts])
    if (Result.isFailure(restResult)) return Result.fail(restResult.failure)
    const rest = restResult.success
    candidates = Ledger.derived(candidates.path, rest)
    if (rest > 0) {
      corrections.push({
        rule: "google.candidates-from-total",
        path: Path.format(candidates.path),
        detail: `candidatesTokenCount absent; derived ${rest} = totalTokenCount − promptTokenCount − toolUsePromptTokenCount − thoughtsTokenCount`
      })
    }
  }
  const cachedFits = Ledger.remainder(provider, prompt, [cached])
  if (Result.isFailure(cachedFits)) return Result.fail(cachedFits.failure)
  const promptSplitResult = splitOf(provider, prompt, meta.promptTokensDetails, Path.append(base, "promptTokensDetails"))
  if (Result.isFailure(promptSplitResult)) return Result.fail(promptSplitResult.failure)
  const promptSplit = promptSplitResult.success
  const uncached = { text: promptSplit.text.value, image: promptSplit.image.value, audio: promptSplit.audio.value, video: promptSplit.video.value }
  // Cache reads by modality (cacheTokensDetails); without a breakdown they are text cache reads.
  const cacheReads = { text: cached.value, image: 0, audio: 0, video: 0 }
  if (meta.cacheTokensDetails != null && meta.cacheTokensDetails.length > 0) {
    const cacheSplitResult = splitOf(provider, cached, meta.cacheTokensDetails, Path.append(base, "cacheTokensDetails"))
    if (Result.isFailure(cacheSplitResult)) return Result.fail(cacheSplitResult.failure)
    const cacheSplit = cacheSplitResult.success
    cacheReads.text = cacheSplit.text.value
    cacheReads.image = cacheSplit.image.value
    cacheReads.audio = cacheSplit.audio.value
    cacheReads.video = cacheSplit.video.value
    for (const modal of ["text", "image", "audio", "video"] as const) {
      const rest = Ledger.remainder(provider, promptSplit[modal], [cacheSplit[modal]])
      if (Result.isFailure(rest)) return Result.fail(rest.failure)
      uncached[modal] = rest.success
    }
  } else {
    // Without a cache breakdown the cached content is taken from the text prompt.
    const rest = Ledger.remainder(provider, promptSplit.text, [cached])
    if (Result.isFailure(rest)) return Result.fail(rest.failure)
    uncached.text = rest.success
  }
  const toolSplitResult = splitOf(provider, toolUse, meta.toolUsePromptTokensDetails, Path.append(base, "toolUsePromptTokensDetails"))
  if (Result.isFailure(toolSplitResult)) return Result.fail(toolSplitResult.failure)
  const toolSplit = toolSplitResult.success
  const outSplitResult = candidatesSplit(provider, candidates, meta.candidatesTokensDetails, Path.append(base, "candidatesTokensDetails"), corrections)
  if (Result.isFailure(outSplitResult)) return Result.fail(outSplitResult.failure)
  const outSplit = outSplitResult.success
  const checked = Ledger.checkTotal(provider, total, [prompt, toolUse, candidates, thoughts])
  if (Result.isFailure(checked)) return Result.fail(checked.failure)
  return Result.succeed({
    parts: {
      tokens: {
        inputText: uncached.text + toolSplit.text.value,
        inputImage: uncached.image + toolSplit.image.value,
        inputAudio: uncached.audio + toolSplit.audio.value,
        inputVideo: uncached.video + toolSplit.video.value,
        cacheRead: cacheReads.text,
        cacheReadImage: cacheReads.image,
        cacheReadAudio: cacheReads.audio,
        cacheReadVideo: cacheReads.video,
        outputText: outSplit.text.value,
        outputVideo: outSplit.video.value,
        outputImage: outSplit.image.value,
        outputAudio: outSplit.audio.value,
        reasoning: thoughts.value
      },
      promptTokens: prompt.value,
      serviceTier: meta.trafficType ?? undefined
    },
    corrections
  })
}

const hasCounts = (meta: UsageMetadata): boolean =>
  meta.promptTokenCount != null || meta.candidatesTokenCount != null || meta.totalTokenCount != null

const errorText = (error: unknown): string =>
  Payload.isRecord(error) ? [error["status"], error["message"]].filter((v) => typeof v === "string").join(": ") : ""

/**
 * One response or a stream of chunks. Vertex may send intermediate chunks with only
 * `{trafficType}`; the traffic type is kept from whichever chunk carries it.
 */
export const generateContent = (
  provider: string,
  payload: Payload.Single | Payload.Stream,
  context: Provider.Context
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> => {
  let meta: { value: UsageMetadata; path: Path.Path } | undefined
  let trafficType: string | undefined
  let model: string | undefined
  let responseId: string | undefined
  let webSearches: number | undefined
  let text = ""
  for (const item of Payload.items(payload)) {
    const decoded = decodeResponse(provider, item.path, item.value)
    if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
    const response = decoded.success
    if (response.error != null && response.candidates == null && response.usageMetadata == null) {
      return Result.fail(NormalizeError.make(provider, Path.append(item.path, "error"), "failed-response",
        `the API answered with an error (${errorText(response.error)}); nothing is billable`))
    }
    if (response.modelVersion != null) model = response.modelVersion
    if (response.responseId != null) responseId = response.responseId
    const usage = response.usageMetadata
    if (usage != null) {
      if (usage.trafficType != null) trafficType = usage.trafficType
      if (hasCounts(usage)) meta = { value: usage, path: Path.append(item.path, "usageMetadata") }
    }
    let queries: number | undefined
    for (const candidate of response.candidates ?? []) {
      text += Text.collect(candidate.content)
      const list = candidate.groundingMetadata?.webSearchQueries
      if (list != null) queries = (queries ?? 0) + list.length
    }
    // Grounding metadata is repeated or completed on later chunks: the last report wins.
    if (queries !== undefined) webSearches = queries
  }
  const common = { api: "generateContent" as const, model: model ?? context.model, responseId, outputText: text }
  if (meta === undefined) return Result.succeed(common)
  const result = usageOf(provider, meta.path, meta.value)
  if (Result.isFailure(result)) return Result.fail(result.failure)
  const { parts, corrections } = result.success
  const serviceTier = trafficType ?? parts.serviceTier
  return Result.succeed({
    ...common,
    usage: UsageParts.make({ ...parts, serviceTier, webSearches }),
    serviceTier,
    corrections
  })
}

const looksLikeGemini = (value: unknown): boolean =>
  Payload.isRecord(value) && ("usageMetadata" in value || "modelVersion" in value ||
    (Array.isArray(value["candidates"]) && !("choices" in value)))

const Prediction = Schema.Struct({
  embeddings: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    statistics: Schema.optionalKey(Schema.NullOr(Schema.Struct({ token_count: Decode.OptCount, truncated: Schema.optionalKey(Schema.NullOr(Schema.Boolean)) })))
  })))
})
const PredictResponse = Schema.Struct({
  predictions: Schema.Array(Prediction),
  deployedModelId: Decode.OptString,
  metadata: Schema.optionalKey(Schema.NullOr(Schema.Struct({ billableCharacterCount: Decode.OptCount })))
})
const decodePredict = Decode.decoder(PredictResponse)

const looksLikePredict = (value: unknown): boolean =>
  Payload.isRecord(value) && Array.isArray(value["predictions"]) &&
  value["predictions"].some((p) => Payload.isRecord(p) && "embeddings" in p)

/**
 * Vertex AI `predict` for text embeddings: each prediction's `embeddings.statistics.token_count`
 * counts its instance's input tokens; the call's embedding tokens are their sum. Every prediction
 * must report its count (a partial sum would under-bill). The response names no model (it is in
 * the endpoint URL): the caller passes it.
 */
const predict = (payload: Payload.Single | Payload.Stream, context: Provider.Context): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    if (payload._tag !== "Single") {
      return yield* Result.fail(NormalizeError.make("google", Path.root, "unsupported", "predict responses are not streamed; expected one object"))
    }
    const { item } = payload
    const body = yield* decodePredict("google", item.path, item.value)
    if (body.predictions.length === 0) {
      return yield* Result.fail(NormalizeError.make("google", Path.append(item.path, "predictions"), "missing-usage", "no predictions, nothing was embedded"))
    }
    let embedding = 0
    for (const [index, prediction] of body.predictions.entries()) {
      const count = prediction.embeddings?.statistics?.token_count
      if (count == null) {
        return yield* Result.fail(NormalizeError.make("google", Path.append(item.path, "predictions", index, "embeddings", "statistics", "token_count"),
          "missing-usage", "a prediction without its token count; the call's tokens cannot be summed"))
      }
      embedding += count
    }
    return {
      api: "predict" as const,
      model: context.model,
      usage: UsageParts.make({ tokens: { embedding }, promptTokens: embedding })
    }
  })

export const module: Provider.Module = {
  id: "google",
  apis: ["generateContent", "predict"],
  detect: (payload) => {
    const body = payload._tag === "Http" ? payload.body : payload
    if (body === undefined) return undefined
    const items = Payload.items(body)
    if (items.some((item) => looksLikePredict(item.value))) return "predict"
    return items.some((item) => looksLikeGemini(item.value)) ? "generateContent" : undefined
  },
  normalize: (payload, api, context) => {
    if (payload._tag === "Http") {
      if (payload.status !== undefined && payload.status >= 400) {
        return Result.fail(NormalizeError.make("google", ["status"], "failed-response", `HTTP status ${payload.status}; nothing is billable`))
      }
      if (payload.body === undefined) return Result.fail(NormalizeError.make("google", ["body"], "missing-usage", "the HTTP capture has no body"))
      return api === "predict" ? predict(payload.body, context) : generateContent("google", payload.body, context)
    }
    return api === "predict" ? predict(payload, context) : generateContent("google", payload, context)
  }
}
