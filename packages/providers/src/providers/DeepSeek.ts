/**
 * DeepSeek chat completions (docs/pricing-semantics.md#deepseek): `prompt_tokens` =
 * `prompt_cache_hit_tokens` + `prompt_cache_miss_tokens`; `completion_tokens` includes
 * `reasoning_tokens`. In a stream the chunk with `finish_reason` carries the usage.
 */
import * as OpenAICompatible from "../internal/OpenAICompatible.ts"

export const module = OpenAICompatible.chatModule("deepseek", "deepseek")
