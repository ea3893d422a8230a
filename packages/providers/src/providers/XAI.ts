/**
 * xAI (docs/pricing-semantics.md#xai). Chat Completions: `completion_tokens` EXCLUDES
 * `reasoning_tokens` (total = prompt + completion + reasoning), unlike OpenAI; `prompt_tokens`
 * includes `cached_tokens`. Responses: `output_tokens` INCLUDES reasoning, as OpenAI's.
 * `cost_in_usd_ticks` (1 tick = 1e-10 USD) is kept as `reportedCost`.
 */
import { Result } from "effect"
import * as ChatCompletions from "../internal/ChatCompletions.ts"
import * as OpenAICompatible from "../internal/OpenAICompatible.ts"
import * as Payload from "../internal/Payload.ts"
import type * as Provider from "../internal/Provider.ts"
import * as Responses from "../internal/Responses.ts"

export const module: Provider.Module = {
  id: "xai",
  apis: ["chat.completions", "responses"],
  detect: (payload) => {
    const body = payload._tag === "Http" ? payload.body : payload
    if (body === undefined) return undefined
    for (const item of Payload.items(body)) {
      if (ChatCompletions.looksLikeChat(item.value)) return "chat.completions"
      if (Responses.looksLikeResponses(item.value)) return "responses"
    }
    return undefined
  },
  normalize: (payload, api, context) =>
    Result.flatMap(OpenAICompatible.bodyOf("xai", payload), (body) =>
      api === "responses"
        ? Responses.normalize("xai", body, api, context)
        : ChatCompletions.normalize("xai", "xai", body, api, context))
}
