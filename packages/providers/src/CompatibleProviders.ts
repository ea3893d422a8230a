/**
 * OpenAI-compatible providers as data: each row names a provider whose API speaks the OpenAI chat /
 * responses / embeddings formats, the usage convention its responses follow (`dialect`), and the
 * documentation that says so. The registry builds one provider module per row; nothing here is
 * code per provider. Pricing uses the provider's own catalog entries (its id is the catalog's
 * provider id); self-hosted servers have no built-in prices and are priced with a custom catalog
 * whose definitions name the server's id as their provider.
 *
 * Dialects (docs/pricing-semantics.md#openai-compatible-providers):
 * - `openai`: OpenAI's rules (prompt_tokens include cached tokens; completion_tokens include reasoning).
 * - `groq`: as openai; a stream carries its usage in `x_groq.usage` on the finish chunk, and when a
 *   chunk has both `usage` and `x_groq.usage` they must agree.
 * - `deepseek`: `prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens`; hits are cache reads.
 * - `openrouter`: `usage.cost` (USD credits charged) is kept as the reported cost.
 * - `perplexity`: `citation_tokens` and `reasoning_tokens` sit OUTSIDE completion_tokens (total =
 *   prompt + completion); `num_search_queries` are web searches; `usage.cost.total_cost` is the
 *   reported cost.
 */
import type { Dialect } from "./internal/ChatCompletions.ts"

export interface CompatibleProvider {
  readonly name: string
  readonly dialect: Dialect
  /** The apis the provider serves in the OpenAI format. */
  readonly apis: ReadonlyArray<"chat.completions" | "responses" | "embeddings">
  /** Other names callers use for it (lower case). */
  readonly aliases: ReadonlyArray<string>
  /** A server the user runs: no built-in prices, a custom catalog prices it. */
  readonly selfHosted: boolean
  /** The provider's page saying its API is OpenAI-compatible (and defining its extensions). */
  readonly docs: string
}

const CHAT_RESPONSES_EMBEDDINGS = ["chat.completions", "responses", "embeddings"] as const
const CHAT_EMBEDDINGS = ["chat.completions", "embeddings"] as const

export const providers = {
  groq: {
    name: "Groq", dialect: "groq", apis: CHAT_RESPONSES_EMBEDDINGS, aliases: [], selfHosted: false,
    docs: "https://console.groq.com/docs/openai"
  },
  together: {
    name: "Together AI", dialect: "openai", apis: CHAT_EMBEDDINGS, aliases: ["together-ai", "together_ai", "togetherai"], selfHosted: false,
    docs: "https://docs.together.ai/docs/openai-api-compatibility"
  },
  fireworks: {
    name: "Fireworks AI", dialect: "openai", apis: CHAT_RESPONSES_EMBEDDINGS, aliases: ["fireworks-ai", "fireworks_ai", "fireworksai"], selfHosted: false,
    docs: "https://docs.fireworks.ai/tools-sdks/openai-compatibility"
  },
  deepinfra: {
    name: "DeepInfra", dialect: "openai", apis: CHAT_EMBEDDINGS, aliases: [], selfHosted: false,
    docs: "https://deepinfra.com/docs/openai_api"
  },
  cerebras: {
    name: "Cerebras", dialect: "openai", apis: ["chat.completions"], aliases: [], selfHosted: false,
    docs: "https://inference-docs.cerebras.ai/resources/openai"
  },
  perplexity: {
    name: "Perplexity", dialect: "perplexity", apis: ["chat.completions"], aliases: ["pplx"], selfHosted: false,
    docs: "https://docs.perplexity.ai/api-reference/chat-completions-post"
  },
  deepseek: {
    name: "DeepSeek", dialect: "deepseek", apis: ["chat.completions"], aliases: [], selfHosted: false,
    docs: "https://api-docs.deepseek.com/api/create-chat-completion"
  },
  openrouter: {
    name: "OpenRouter", dialect: "openrouter", apis: CHAT_RESPONSES_EMBEDDINGS, aliases: [], selfHosted: false,
    docs: "https://openrouter.ai/docs/use-cases/usage-accounting"
  },
  novita: {
    name: "Novita AI", dialect: "openai", apis: CHAT_EMBEDDINGS, aliases: ["novita-ai", "novitaai"], selfHosted: false,
    docs: "https://novita.ai/docs/guides/llm-api"
  },
  moonshotai: {
    name: "Moonshot AI", dialect: "openai", apis: ["chat.completions"], aliases: ["moonshot", "kimi"], selfHosted: false,
    docs: "https://platform.moonshot.ai/docs/guide/migrating-from-openai-to-kimi"
  },
  zai: {
    name: "Z.ai", dialect: "openai", apis: ["chat.completions"], aliases: ["z-ai", "z.ai"], selfHosted: false,
    docs: "https://docs.z.ai/guides/develop/openai/python"
  },
  baseten: {
    name: "Baseten", dialect: "openai", apis: ["chat.completions"], aliases: [], selfHosted: false,
    docs: "https://docs.baseten.co/development/model-apis/overview"
  },
  vllm: {
    name: "vLLM", dialect: "openai", apis: CHAT_RESPONSES_EMBEDDINGS, aliases: [], selfHosted: true,
    docs: "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"
  },
  ollama: {
    name: "Ollama", dialect: "openai", apis: CHAT_RESPONSES_EMBEDDINGS, aliases: [], selfHosted: true,
    docs: "https://github.com/ollama/ollama/blob/main/docs/openai.md"
  },
  lmstudio: {
    name: "LM Studio", dialect: "openai", apis: CHAT_RESPONSES_EMBEDDINGS, aliases: ["lm-studio", "lm_studio"], selfHosted: true,
    docs: "https://lmstudio.ai/docs/app/api/endpoints/openai"
  }
} as const satisfies Readonly<Record<string, CompatibleProvider>>

export type CompatibleId = keyof typeof providers

export const ids = Object.keys(providers) as ReadonlyArray<CompatibleId>

export const get = (id: string): CompatibleProvider | undefined =>
  Object.hasOwn(providers, id) ? providers[id as CompatibleId] : undefined
