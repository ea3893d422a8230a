/**
 * Mistral chat completions and transcription (docs/pricing-semantics.md#mistral). Chat usage is
 * OpenAI-shaped; cached tokens (`num_cached_tokens`, `prompt_tokens_details.cached_tokens` or the
 * misspelled `prompt_token_details.cached_tokens`) are a subset of `prompt_tokens`. In a stream the
 * chunk with `finish_reason` carries the usage. Transcription is billed by audio duration
 * (`usage.prompt_audio_seconds`).
 */
import { Result, Schema } from "effect"
import * as NormalizeError from "../NormalizeError.ts"
import * as ChatCompletions from "../internal/ChatCompletions.ts"
import * as Decode from "../internal/Decode.ts"
import * as OpenAICompatible from "../internal/OpenAICompatible.ts"
import * as Path from "../internal/Path.ts"
import * as Payload from "../internal/Payload.ts"
import type * as Provider from "../internal/Provider.ts"
import * as UsageParts from "../internal/UsageParts.ts"

const Transcription = Schema.Struct({
  model: Decode.OptString,
  text: Decode.OptString,
  usage: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    prompt_audio_seconds: Decode.OptNonNegativeNumber,
    request_count: Decode.OptCount,
    prompt_tokens: Decode.OptCount,
    completion_tokens: Decode.OptCount,
    total_tokens: Decode.OptCount
  })))
})
const decodeTranscription = Decode.decoder(Transcription)

const chat = OpenAICompatible.chatModule("mistral", "mistral")

const isTranscription = (value: unknown): boolean =>
  Payload.isRecord(value) && typeof value["text"] === "string" && !("choices" in value)

export const module: Provider.Module = {
  id: "mistral",
  apis: ["chat.completions", "audio.transcriptions"],
  detect: (payload) => {
    const body = payload._tag === "Http" ? payload.body : payload
    if (body !== undefined && Payload.items(body).some((item) => isTranscription(item.value))) return "audio.transcriptions"
    return chat.detect(payload)
  },
  normalize: (payload, api, context) => {
    if (api !== "audio.transcriptions") return chat.normalize(payload, api, context)
    return Result.gen(function*() {
      const body = yield* OpenAICompatible.bodyOf("mistral", payload)
      const item = Payload.items(body).at(-1)
      if (item === undefined) {
        return yield* Result.fail(NormalizeError.make("mistral", Path.root, "malformed", "an empty stream has nothing to normalize"))
      }
      const response = yield* decodeTranscription("mistral", item.path, item.value)
      const seconds = response.usage?.prompt_audio_seconds
      // Billed by audio duration: the token counts are kept, unpriced (total_tokens also counts
      // audio tokens no other field reports, so it is not checked against its parts).
      const usagePath = Path.append(item.path, "usage")
      const unbilledTokens: Record<string, number> = {}
      for (const key of ["prompt_tokens", "completion_tokens", "total_tokens"] as const) {
        const count = response.usage?.[key]
        if (count != null) unbilledTokens[Path.format(Path.append(usagePath, key))] = count
      }
      return {
        unbilledTokens,
        api,
        model: response.model ?? context.model,
        usage: seconds == null && response.usage == null ? undefined : UsageParts.make({
          audioSeconds: seconds == null ? undefined : ChatCompletions.decimalOf(seconds),
          requests: response.usage?.request_count ?? undefined
        }),
        outputText: response.text ?? ""
      } satisfies Provider.Extracted
    })
  }
}

