/**
 * A provider module for an OpenAI-compatible chat API (Mistral, DeepSeek, xAI, OpenRouter): the
 * chat format with the provider's dialect, plus whatever else the provider serves.
 */
import { Result } from "effect"
import type * as NormalizedCall from "../NormalizedCall.ts"
import * as NormalizeError from "../NormalizeError.ts"
import * as ChatCompletions from "./ChatCompletions.ts"
import * as Payload from "./Payload.ts"
import type * as Provider from "./Provider.ts"

export const bodyOf = (provider: string, payload: Payload.Payload): Result.Result<Payload.Single | Payload.Stream, NormalizeError.NormalizeError> => {
  if (payload._tag !== "Http") return Result.succeed(payload)
  if (payload.status !== undefined && payload.status >= 400) {
    return Result.fail(NormalizeError.make(provider, ["status"], "failed-response", `HTTP status ${payload.status}; nothing is billable`))
  }
  if (payload.body === undefined) return Result.fail(NormalizeError.make(provider, ["body"], "missing-usage", "the HTTP capture has no body"))
  return Result.succeed(payload.body)
}

export const chatModule = (id: NormalizedCall.ProviderId, dialect: ChatCompletions.Dialect): Provider.Module => ({
  id,
  apis: ["chat.completions"],
  detect: (payload) => {
    const body = payload._tag === "Http" ? payload.body : payload
    return body !== undefined && Payload.items(body).some((item) => ChatCompletions.looksLikeChat(item.value)) ? "chat.completions" : undefined
  },
  normalize: (payload, api, context) =>
    Result.flatMap(bodyOf(id, payload), (body) => ChatCompletions.normalize(id, dialect, body, api, context))
})
