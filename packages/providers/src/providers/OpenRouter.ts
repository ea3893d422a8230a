/**
 * OpenRouter (docs/pricing-semantics.md#openrouter): OpenAI-shaped usage for every upstream model
 * (cached and cache-write tokens inside `prompt_tokens`, reasoning inside `completion_tokens`),
 * plus `usage.cost`, the credits charged in USD, kept exactly as `reportedCost`.
 */
import * as OpenAICompatible from "../internal/OpenAICompatible.ts"

export const module = OpenAICompatible.chatModule("openrouter", "openrouter")
