/**
 * OpenAI: Chat Completions, Responses, Embeddings, Images, audio transcription, Realtime and
 * Batch API output lines. Inclusion rules (docs/pricing-semantics.md#openai):
 * prompt/input tokens include cached, cache-write, audio and image tokens; completion/output
 * tokens include reasoning, audio, image and prediction tokens; totals are input + output.
 */
import { Result, Schema } from "effect"
import type * as NormalizedCall from "../NormalizedCall.ts"
import * as NormalizeError from "../NormalizeError.ts"
import * as ChatCompletions from "../internal/ChatCompletions.ts"
import * as Decode from "../internal/Decode.ts"
import * as Ledger from "../internal/Ledger.ts"
import * as Path from "../internal/Path.ts"
import * as Payload from "../internal/Payload.ts"
import type * as Provider from "../internal/Provider.ts"
import * as Responses from "../internal/Responses.ts"
import * as UsageParts from "../internal/UsageParts.ts"

// ---------------------------------------------------------------------------------------------
// Embeddings

const EmbeddingsBody = Schema.Struct({
  model: Decode.OptString,
  usage: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    prompt_tokens: Decode.OptCount,
    total_tokens: Decode.OptCount
  })))
})
const decodeEmbeddings = Decode.decoder(EmbeddingsBody)

/** Embedding input is priced as `embedding` tokens; `total_tokens` equals `prompt_tokens`. */
const embeddings = (provider: string, item: Payload.Item, context: Provider.Context): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const body = yield* decodeEmbeddings(provider, item.path, item.value)
    const common = { api: "embeddings" as const, model: body.model ?? context.model }
    if (body.usage == null) return common
    const base = Path.append(item.path, "usage")
    const prompt = Ledger.at(base, "prompt_tokens", body.usage.prompt_tokens)
    yield* Ledger.checkTotal(provider, Ledger.at(base, "total_tokens", body.usage.total_tokens), [prompt])
    return { ...common, usage: UsageParts.make({ tokens: { embedding: prompt.value }, promptTokens: prompt.value }) }
  })

// ---------------------------------------------------------------------------------------------
// Images

const ImagesUsage = Schema.Struct({
  input_tokens: Decode.OptCount,
  input_tokens_details: Schema.optionalKey(Schema.NullOr(Schema.Struct({ text_tokens: Decode.OptCount, image_tokens: Decode.OptCount }))),
  output_tokens: Decode.OptCount,
  output_tokens_details: Schema.optionalKey(Schema.NullOr(Schema.Struct({ text_tokens: Decode.OptCount, image_tokens: Decode.OptCount }))),
  total_tokens: Decode.OptCount
})

const ImagesBody = Schema.Struct({
  type: Decode.OptString,
  model: Decode.OptString,
  size: Decode.OptString,
  quality: Decode.OptString,
  data: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.Unknown))),
  usage: Schema.optionalKey(Schema.NullOr(ImagesUsage))
})
const decodeImages = Decode.decoder(ImagesBody)

const ImageRequest = Schema.Struct({ model: Decode.OptString, size: Decode.OptString, quality: Decode.OptString, n: Decode.OptCount })
const decodeImageRequest = Schema.decodeUnknownOption(ImageRequest)

/** The `imagesGenerated` key: "size/quality" when both are known, "size" alone, else "*". */
const imageKey = (size: string | undefined, quality: string | undefined): string =>
  size !== undefined && quality !== undefined ? `${size}/${quality}` : size ?? "*"

/**
 * gpt-image models report tokens: input = text + image tokens, output = image (+ text) tokens.
 * DALL·E reports no usage and is billed per image, counted from `data` by size and quality.
 */
const images = (provider: string, payload: Payload.Single | Payload.Stream, context: Provider.Context): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const items = Payload.items(payload)
    let chosen: { body: typeof ImagesBody.Type; path: Path.Path } | undefined
    for (const item of items) {
      const body = yield* decodeImages(provider, item.path, item.value)
      const terminal = body.type == null || body.type.endsWith(".completed")
      if (terminal) chosen = { body, path: item.path }
    }
    if (chosen === undefined) {
      return yield* Result.fail(NormalizeError.make(provider, Path.root, "missing-usage", "the image stream has no completed event"))
    }
    const { body, path } = chosen
    const request = decodeImageRequest(context.request)
    const requested = request._tag === "Some" ? request.value : undefined
    const common = { api: "images" as const, model: body.model ?? requested?.model ?? context.model }
    if (body.usage == null) {
      const count = body.type == null ? (body.data?.length ?? 0) : 1
      if (count === 0) {
        return yield* Result.fail(NormalizeError.make(provider, Path.append(path, "data"), "missing-usage", "no usage and no images in the response"))
      }
      const key = imageKey(body.size ?? requested?.size ?? undefined, body.quality ?? requested?.quality ?? undefined)
      return { ...common, usage: UsageParts.make({ imagesGenerated: { [key]: count } }) }
    }
    const base = Path.append(path, "usage")
    const usage = body.usage
    const input = Ledger.at(base, "input_tokens", usage.input_tokens)
    const output = Ledger.at(base, "output_tokens", usage.output_tokens)
    const inDetails = Path.append(base, "input_tokens_details")
    const outDetails = Path.append(base, "output_tokens_details")
    const textIn = Ledger.at(inDetails, "text_tokens", usage.input_tokens_details?.text_tokens)
    const imageIn = Ledger.at(inDetails, "image_tokens", usage.input_tokens_details?.image_tokens)
    const textOut = Ledger.at(outDetails, "text_tokens", usage.output_tokens_details?.text_tokens)
    const imageOut = Ledger.at(outDetails, "image_tokens", usage.output_tokens_details?.image_tokens)
    let inputText = input.value
    if (textIn.present || imageIn.present) {
      yield* Ledger.checkTotal(provider, input, [textIn, imageIn])
      inputText = textIn.value
    }
    // Without a breakdown the output is the generated image.
    let outputImage = output.value
    if (textOut.present || imageOut.present) {
      yield* Ledger.checkTotal(provider, output, [textOut, imageOut])
      outputImage = imageOut.value
    }
    yield* Ledger.checkTotal(provider, Ledger.at(base, "total_tokens", usage.total_tokens), [input, output])
    return {
      ...common,
      usage: UsageParts.make({
        tokens: { inputText, inputImage: imageIn.value, outputImage, outputText: textOut.value },
        promptTokens: input.value
      })
    }
  })

// ---------------------------------------------------------------------------------------------
// Audio transcription

const TranscriptionUsage = Schema.Struct({
  type: Decode.OptString,
  input_tokens: Decode.OptCount,
  input_token_details: Schema.optionalKey(Schema.NullOr(Schema.Struct({ text_tokens: Decode.OptCount, audio_tokens: Decode.OptCount }))),
  output_tokens: Decode.OptCount,
  total_tokens: Decode.OptCount,
  seconds: Decode.OptNonNegativeNumber
})
const TranscriptionBody = Schema.Struct({
  type: Decode.OptString,
  text: Decode.OptString,
  delta: Schema.optionalKey(Schema.Unknown),
  duration: Decode.OptNonNegativeNumber,
  usage: Schema.optionalKey(Schema.NullOr(TranscriptionUsage))
})
const decodeTranscription = Decode.decoder(TranscriptionBody)

/**
 * Token-billed models (gpt-4o-transcribe): input = prompt text + audio tokens, output = transcript
 * tokens. Duration-billed models (whisper-1): `usage.seconds`, or the verbose_json `duration`.
 */
const transcription = (provider: string, payload: Payload.Single | Payload.Stream, context: Provider.Context): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    let chosen: { body: typeof TranscriptionBody.Type; path: Path.Path } | undefined
    for (const item of Payload.items(payload)) {
      const body = yield* decodeTranscription(provider, item.path, item.value)
      if (body.usage != null || body.type == null || body.type === "transcript.text.done") chosen = { body, path: item.path }
    }
    const common = { api: "audio.transcriptions" as const, model: context.model }
    if (chosen === undefined) return common
    const { body, path } = chosen
    if (body.usage == null) {
      if (body.duration != null) {
        return { ...common, usage: UsageParts.make({ audioSeconds: ChatCompletions.decimalOf(body.duration) }) }
      }
      return common
    }
    const usage = body.usage
    const base = Path.append(path, "usage")
    if (usage.type === "duration" || (usage.seconds != null && usage.input_tokens == null)) {
      if (usage.seconds == null) {
        return yield* Result.fail(NormalizeError.make(provider, Path.append(base, "seconds"), "malformed", "duration usage without seconds"))
      }
      return { ...common, usage: UsageParts.make({ audioSeconds: ChatCompletions.decimalOf(usage.seconds) }) }
    }
    const input = Ledger.at(base, "input_tokens", usage.input_tokens)
    const details = Path.append(base, "input_token_details")
    const textIn = Ledger.at(details, "text_tokens", usage.input_token_details?.text_tokens)
    const audioIn = Ledger.at(details, "audio_tokens", usage.input_token_details?.audio_tokens)
    // Without a breakdown the input of a transcription is the audio.
    let inputAudio = input.value
    if (textIn.present || audioIn.present) {
      yield* Ledger.checkTotal(provider, input, [textIn, audioIn])
      inputAudio = audioIn.value
    }
    const output = Ledger.at(base, "output_tokens", usage.output_tokens)
    yield* Ledger.checkTotal(provider, Ledger.at(base, "total_tokens", usage.total_tokens), [input, output])
    return {
      ...common,
      usage: UsageParts.make({
        tokens: { inputText: textIn.value, inputAudio, outputText: output.value },
        promptTokens: input.value
      })
    }
  })

// ---------------------------------------------------------------------------------------------
// Realtime

const ModalityCounts = Schema.Struct({ text_tokens: Decode.OptCount, audio_tokens: Decode.OptCount, image_tokens: Decode.OptCount })
const RealtimeUsage = Schema.Struct({
  total_tokens: Decode.OptCount,
  input_tokens: Decode.OptCount,
  output_tokens: Decode.OptCount,
  input_token_details: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    text_tokens: Decode.OptCount,
    audio_tokens: Decode.OptCount,
    image_tokens: Decode.OptCount,
    cached_tokens: Decode.OptCount,
    cached_tokens_details: Schema.optionalKey(Schema.NullOr(ModalityCounts))
  }))),
  output_token_details: Schema.optionalKey(Schema.NullOr(Schema.Struct({ text_tokens: Decode.OptCount, audio_tokens: Decode.OptCount })))
})
type RealtimeUsage = typeof RealtimeUsage.Type

const RealtimeEvent = Schema.Struct({
  type: Decode.OptString,
  object: Decode.OptString,
  id: Decode.OptString,
  response: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    id: Decode.OptString,
    status: Decode.OptString,
    usage: Schema.optionalKey(Schema.NullOr(RealtimeUsage))
  }))),
  usage: Schema.optionalKey(Schema.NullOr(RealtimeUsage)),
  session: Schema.optionalKey(Schema.NullOr(Schema.Struct({ model: Decode.OptString })))
})
const decodeRealtime = Decode.decoder(RealtimeEvent)

/**
 * One Realtime turn: input = text + audio + image tokens, cached tokens inside them (split by
 * `cached_tokens_details` into text / audio / image cache reads, else all text); output = text +
 * audio tokens.
 */
const realtimeUsage = (provider: string, base: Path.Path, usage: RealtimeUsage): Result.Result<UsageParts.Parts, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const input = Ledger.at(base, "input_tokens", usage.input_tokens)
    const output = Ledger.at(base, "output_tokens", usage.output_tokens)
    const inPath = Path.append(base, "input_token_details")
    const inDetails = usage.input_token_details ?? {}
    const textIn = Ledger.at(inPath, "text_tokens", inDetails.text_tokens)
    const audioIn = Ledger.at(inPath, "audio_tokens", inDetails.audio_tokens)
    const imageIn = Ledger.at(inPath, "image_tokens", inDetails.image_tokens)
    const cached = Ledger.at(inPath, "cached_tokens", inDetails.cached_tokens)
    const modalities = textIn.present || audioIn.present || imageIn.present
    if (modalities) yield* Ledger.checkTotal(provider, input, [textIn, audioIn, imageIn])
    const text = modalities ? textIn : input
    let inputText: number
    let inputAudio = audioIn.value
    let inputImage = imageIn.value
    // Cache reads by modality (cached_tokens_details); without a split they are text cache reads.
    const cacheReads = { text: cached.value, audio: 0, image: 0 }
    const cachedDetails = inDetails.cached_tokens_details
    if (cachedDetails != null) {
      const cPath = Path.append(inPath, "cached_tokens_details")
      const cText = Ledger.at(cPath, "text_tokens", cachedDetails.text_tokens)
      const cAudio = Ledger.at(cPath, "audio_tokens", cachedDetails.audio_tokens)
      const cImage = Ledger.at(cPath, "image_tokens", cachedDetails.image_tokens)
      yield* Ledger.checkTotal(provider, cached, [cText, cAudio, cImage])
      inputText = yield* Ledger.remainder(provider, text, [cText])
      inputAudio = yield* Ledger.remainder(provider, audioIn, [cAudio])
      inputImage = yield* Ledger.remainder(provider, imageIn, [cImage])
      cacheReads.text = cText.value
      cacheReads.audio = cAudio.value
      cacheReads.image = cImage.value
    } else {
      inputText = yield* Ledger.remainder(provider, text, [cached])
    }
    const outPath = Path.append(base, "output_token_details")
    const textOut = Ledger.at(outPath, "text_tokens", usage.output_token_details?.text_tokens)
    const audioOut = Ledger.at(outPath, "audio_tokens", usage.output_token_details?.audio_tokens)
    let outputText = output.value
    if (textOut.present || audioOut.present) {
      yield* Ledger.checkTotal(provider, output, [textOut, audioOut])
      outputText = textOut.value
    }
    yield* Ledger.checkTotal(provider, Ledger.at(base, "total_tokens", usage.total_tokens), [input, output])
    return {
      tokens: {
        inputText, inputAudio, inputImage,
        cacheRead: cacheReads.text, cacheReadAudio: cacheReads.audio, cacheReadImage: cacheReads.image,
        outputText, outputAudio: audioOut.value
      },
      promptTokens: input.value
    }
  })

/**
 * Realtime events: each `response.done` carries one turn's usage. Several turns in one payload
 * are billed together (their usage adds up); the response id is the last turn's.
 */
const realtime = (provider: string, payload: Payload.Single | Payload.Stream, context: Provider.Context): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    let usage: ReturnType<typeof UsageParts.make> | undefined
    let responseId: string | undefined
    let model: string | undefined
    for (const item of Payload.items(payload)) {
      const event = yield* decodeRealtime(provider, item.path, item.value)
      if (event.session?.model != null) model = event.session.model
      let turn: { usage: RealtimeUsage; path: Path.Path; id: string | undefined } | undefined
      if (event.type === "response.done" && event.response?.usage != null) {
        turn = { usage: event.response.usage, path: Path.append(item.path, "response", "usage"), id: event.response.id ?? undefined }
      } else if (event.object === "realtime.response" && event.usage != null) {
        turn = { usage: event.usage, path: Path.append(item.path, "usage"), id: event.id ?? undefined }
      }
      if (turn === undefined) continue
      const parts = yield* realtimeUsage(provider, turn.path, turn.usage)
      const turnUsage = UsageParts.make(parts)
      usage = usage === undefined ? turnUsage : UsageParts.add(usage, turnUsage)
      responseId = turn.id ?? responseId
    }
    return { api: "realtime" as const, model: model ?? context.model, responseId, usage }
  })

// ---------------------------------------------------------------------------------------------
// Batch output lines

const BatchLine = Schema.Struct({
  id: Decode.OptString,
  custom_id: Decode.OptString,
  response: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    status_code: Schema.optionalKey(Schema.NullOr(Schema.Finite)),
    request_id: Decode.OptString,
    body: Schema.optionalKey(Schema.Unknown)
  }))),
  error: Schema.optionalKey(Schema.Unknown)
})
const decodeBatchLine = Decode.decoder(BatchLine)

const BatchObject = Schema.Struct({
  id: Decode.OptString,
  object: Schema.Literal("batch"),
  endpoint: Decode.OptString,
  model: Decode.OptString,
  status: Decode.OptString,
  usage: Schema.optionalKey(Schema.NullOr(Schema.Unknown))
})
const decodeBatchObject = Decode.decoder(BatchObject)

/**
 * A Batch object (`GET /v1/batches/{id}`): its `usage` sums every request of the batch in the
 * Responses usage shape (input includes cached, output includes reasoning), billed as one batch
 * call (`batch = true`). A batch without usage (not finished, failed before running) bills nothing.
 */
const batchObject = (provider: NormalizedCall.ProviderId, item: Payload.Item, context: Provider.Context): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const batch = yield* decodeBatchObject(provider, item.path, item.value)
    if (batch.usage == null) {
      return yield* Result.fail(NormalizeError.make(provider, Path.append(item.path, "usage"), "missing-usage",
        `batch ${batch.id ?? ""} (status ${batch.status ?? "unknown"}) reports no usage yet; its usage is known once it has run`))
    }
    const inner = yield* Responses.normalize(provider, Payload.single({ ...(batch.model == null ? {} : { model: batch.model }), usage: batch.usage }, item.path), "batch", context)
    return {
      ...inner,
      responseId: batch.id ?? undefined,
      batch: true,
      usage: inner.usage === undefined ? undefined : UsageParts.withContext(inner.usage, { batch: true })
    }
  })

/**
 * A Batch API output line: the body is a normal endpoint response, billed at the batch discount
 * (`batch = true`). Failed lines (an `error`, or a status >= 400) are not billable.
 */
const batchLine = (provider: NormalizedCall.ProviderId, item: Payload.Item, context: Provider.Context): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    if (Payload.isRecord(item.value) && item.value["object"] === "batch") return yield* batchObject(provider, item, context)
    const line = yield* decodeBatchLine(provider, item.path, item.value)
    const status = line.response?.status_code
    if (line.error != null || line.response == null || (status != null && status >= 400)) {
      const path = line.error != null ? Path.append(item.path, "error") : Path.append(item.path, "response")
      const code = Payload.isRecord(line.error) && typeof line.error["code"] === "string" ? ` (${line.error["code"]})` : ""
      return yield* Result.fail(NormalizeError.make(provider, path, "failed-response",
        `batch line ${line.custom_id ?? line.id ?? ""} failed${status != null ? ` with status ${status}` : ""}${code}; nothing is billable`))
    }
    const bodyPath = Path.append(item.path, "response", "body")
    const body = Payload.single(line.response.body, bodyPath)
    const api = detectSingle(line.response.body, bodyPath)
    if (typeof api !== "string" || api === "batch") {
      return yield* Result.fail(NormalizeError.make(provider, bodyPath, "unsupported", "the batch line's body is not a chat, responses or embeddings response"))
    }
    const inner = yield* normalizeApi(provider, body, api, context)
    return {
      ...inner,
      api: "batch" as const,
      batch: true,
      usage: inner.usage === undefined ? undefined : UsageParts.withContext(inner.usage, { batch: true })
    }
  })

// ---------------------------------------------------------------------------------------------
// Detection and dispatch

const isImagesShape = (value: Record<string, unknown>): boolean => {
  if (typeof value["type"] === "string") return /^image_(generation|edit)\./.test(value["type"])
  const data = value["data"]
  return Array.isArray(data) && data.some((d) => Payload.isRecord(d) && ("b64_json" in d || "url" in d || "revised_prompt" in d))
}

const has = (record: unknown, key: string): boolean => Payload.isRecord(record) && record[key] != null

/**
 * The api a usage object without its envelope comes from, read from the usage shape alone
 * (docs/pricing-semantics.md#usage-only-payloads):
 * - `prompt_tokens` with `completion_tokens` (or `completion_tokens_details`): chat completions;
 *   `prompt_tokens` alone: embeddings;
 * - `input_token_details` / `output_token_details` (singular, no `type`): realtime;
 * - `input_tokens` with `cached_tokens` / `cache_write_tokens` or `reasoning_tokens` in its details: responses;
 * - `input_tokens` with `text_tokens` / `image_tokens` in its details: images;
 * - `input_tokens` and `output_tokens` with no details fit both responses and images: ambiguous.
 */
export const detectUsage = (usage: Record<string, unknown>, path: Path.Path): Provider.Detected => {
  if ("prompt_tokens" in usage) {
    return "completion_tokens" in usage || "completion_tokens_details" in usage ? "chat.completions" : "embeddings"
  }
  if (!("input_tokens" in usage)) return undefined
  if ("input_token_details" in usage || "output_token_details" in usage) return "realtime"
  const inDetails = usage["input_tokens_details"]
  const outDetails = usage["output_tokens_details"]
  if (has(inDetails, "cached_tokens") || has(inDetails, "cache_write_tokens") || has(outDetails, "reasoning_tokens")) return "responses"
  if (has(inDetails, "text_tokens") || has(inDetails, "image_tokens") || has(outDetails, "image_tokens") || has(outDetails, "text_tokens")) return "images"
  if (!("output_tokens" in usage)) return undefined
  return { _tag: "Ambiguous", apis: ["responses", "images"], path, why: `${Path.format(path)} has input_tokens and output_tokens without details` }
}

const detectSingle = (value: unknown, path: Path.Path): Provider.Detected => {
  if (!Payload.isRecord(value)) return undefined
  if (("custom_id" in value && "response" in value) || value["object"] === "batch") return "batch"
  if (ChatCompletions.looksLikeChat(value)) return "chat.completions"
  if (value["object"] === "realtime.response" || value["type"] === "response.done" || value["type"] === "session.created") return "realtime"
  if (Responses.looksLikeResponses(value)) return "responses"
  if (value["object"] === "list" && Array.isArray(value["data"]) && value["data"].some((d) => Payload.isRecord(d) && d["object"] === "embedding")) return "embeddings"
  if (isImagesShape(value)) return "images"
  const usage = value["usage"]
  if (typeof value["type"] === "string" && value["type"].startsWith("transcript.text.")) return "audio.transcriptions"
  if (Payload.isRecord(usage) && (usage["type"] === "tokens" || usage["type"] === "duration")) return "audio.transcriptions"
  if (typeof value["text"] === "string" && !("choices" in value)) return "audio.transcriptions"
  if (Payload.isRecord(usage)) return detectUsage(usage, Path.append(path, "usage"))
  return undefined
}

export const detect = (payload: Payload.Payload): Provider.Detected => {
  const body = payload._tag === "Http" ? payload.body : payload
  if (body === undefined) return undefined
  let ambiguous: Provider.Detected
  for (const item of Payload.items(body)) {
    const api = detectSingle(item.value, item.path)
    if (typeof api === "string") return api
    ambiguous ??= api
  }
  return ambiguous
}

const bodyOf = (provider: string, payload: Payload.Payload): Result.Result<Payload.Single | Payload.Stream, NormalizeError.NormalizeError> => {
  if (payload._tag !== "Http") return Result.succeed(payload)
  if (payload.body === undefined) {
    return Result.fail(NormalizeError.make(provider, ["body"], "missing-usage", `the HTTP capture has no body${payload.status !== undefined ? ` (status ${payload.status})` : ""}`))
  }
  if (payload.status !== undefined && payload.status >= 400) {
    return Result.fail(NormalizeError.make(provider, ["status"], "failed-response", `HTTP status ${payload.status}; nothing is billable`))
  }
  return Result.succeed(payload.body)
}

const singleItem = (provider: string, api: string, body: Payload.Single | Payload.Stream): Result.Result<Payload.Item, NormalizeError.NormalizeError> =>
  body._tag === "Single" ? Result.succeed(body.item) :
  body.items.length === 1 ? Result.succeed(body.items[0]!) :
  Result.fail(NormalizeError.make(provider, Path.root, "unsupported", `${api} responses are not streamed; expected one object`))

/**
 * Normalizes an OpenAI-format payload for one api; Azure OpenAI and the OpenAI-compatible
 * providers use the same code, each chat response read in its provider's dialect.
 */
export const normalizeApi = (
  provider: NormalizedCall.ProviderId,
  payload: Payload.Payload,
  api: NormalizedCall.Api,
  context: Provider.Context,
  dialect: ChatCompletions.Dialect = "openai"
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.flatMap(bodyOf(provider, payload), (body) => {
    switch (api) {
      case "chat.completions":
        return ChatCompletions.normalize(provider, dialect, body, api, context)
      case "responses":
        return Responses.normalize(provider, body, api, context)
      case "embeddings":
        return Result.flatMap(singleItem(provider, api, body), (item) => embeddings(provider, item, context))
      case "images":
        return images(provider, body, context)
      case "audio.transcriptions":
        return transcription(provider, body, context)
      case "realtime":
        return realtime(provider, body, context)
      case "batch":
        return Result.flatMap(singleItem(provider, api, body), (item) => batchLine(provider, item, context))
      default:
        return Result.fail(NormalizeError.make(provider, Path.root, "unsupported", `api ${api} is not an OpenAI api`))
    }
  })

export const apis: ReadonlyArray<NormalizedCall.Api> = [
  "chat.completions",
  "responses",
  "embeddings",
  "images",
  "audio.transcriptions",
  "realtime",
  "batch"
]

export const module: Provider.Module = {
  id: "openai",
  apis,
  detect,
  normalize: (payload, api, context) => normalizeApi("openai", payload, api, context)
}
