/** The calls a wrapped client prices: which resource method, which provider API, and whether usage arrives in its stream. */
import type { Tokenizer } from "@tally/providers"

type NormalizerApi = Parameters<typeof Tokenizer.estimateRequest>[2]

export interface Api {
  readonly name: "openai.chat" | "openai.responses" | "openai.embeddings" | "anthropic.messages"
  readonly provider: "openai" | "anthropic"
  /** The resource path on the client: `chat.completions`, `responses`, `embeddings`, `messages`. */
  readonly path: ReadonlyArray<string>
  /** The api name the engine's normalizers use. */
  readonly normalizerApi: NormalizerApi
}

export const openaiApis: ReadonlyArray<Api> = [
  { name: "openai.chat", provider: "openai", path: ["chat", "completions"], normalizerApi: "chat.completions" },
  { name: "openai.responses", provider: "openai", path: ["responses"], normalizerApi: "responses" },
  { name: "openai.embeddings", provider: "openai", path: ["embeddings"], normalizerApi: "embeddings" }
]

export const anthropicApis: ReadonlyArray<Api> = [
  { name: "anthropic.messages", provider: "anthropic", path: ["messages"], normalizerApi: "messages" }
]

/**
 * Whether a stream's events carry the call's final usage: OpenAI chat chunks with `usage`
 * (asked for with `stream_options.include_usage`), a Responses `response.completed` /
 * `response.incomplete` event, an Anthropic `message_delta` with usage.
 */
export const streamHasUsage = (api: Api, chunks: ReadonlyArray<unknown>): boolean =>
  chunks.some((chunk) => {
    const c = chunk as Record<string, unknown> | null
    if (c === null || typeof c !== "object") return false
    switch (api.name) {
      case "openai.chat":
        return c["usage"] !== undefined && c["usage"] !== null
      case "openai.responses":
        return (c["type"] === "response.completed" || c["type"] === "response.incomplete" || c["type"] === "response.failed") &&
          (c["response"] as Record<string, unknown> | undefined)?.["usage"] != null
      case "anthropic.messages":
        return c["type"] === "message_delta" && c["usage"] != null
      case "openai.embeddings":
        return false
    }
  })

/** The usage-only last chunk that `include_usage` adds (no choices): hidden when the caller did not ask for it. */
export const isUsageOnlyChunk = (chunk: unknown): boolean => {
  const c = chunk as Record<string, unknown> | null
  return c !== null && typeof c === "object" && Array.isArray(c["choices"]) && c["choices"].length === 0 && c["usage"] != null
}
