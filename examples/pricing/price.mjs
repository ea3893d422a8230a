// Pricing without a database, from plain JavaScript: `node price.mjs` (docs/embedding.md).
/* global console */
import { createPricer } from "@tally/pricing"

const pricer = createPricer() // the built-in catalog; synchronous

// 1. A raw provider response, exactly as the OpenAI SDK returned it.
const response = {
  id: "chatcmpl-123",
  object: "chat.completion",
  model: "gpt-4o-2024-08-06",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 1000, completion_tokens: 300, total_tokens: 1300, prompt_tokens_details: { cached_tokens: 200 } }
}
const costed = pricer.cost({ provider: "openai", payload: response, at: "2026-05-01T12:00:00Z" })
console.log(JSON.stringify({ cost: { model: costed.model, total: costed.total, currency: costed.currency, costSource: costed.costSource } }))

// 2. A model name and token counts, in genai-prices' usage shape: input_tokens includes the cache reads.
const priced = pricer.price({
  provider: "anthropic",
  model: "claude-sonnet-4-5",
  usage: { input_tokens: 10_000, cache_read_tokens: 2_000, cache_write_tokens: 1_000, output_tokens: 500 },
  at: "2026-05-01T12:00:00Z"
})
console.log(JSON.stringify({ price: { definition: priced.definition, total: priced.total, lines: priced.lines.map((l) => `${l.component} ${l.amount}`) } }))

// 3. The same counts in Tally's bucket names, where inputText excludes the cached tokens.
const same = pricer.price({
  provider: "anthropic",
  model: "claude-sonnet-4-5",
  usage: { inputText: 7_000, cacheRead: 2_000, cacheWrite5m: 1_000, outputText: 500 },
  at: "2026-05-01T12:00:00Z"
})
console.log(JSON.stringify({ same: { total: same.total } }))

// 4. Mixing the two shapes is refused, never guessed.
try {
  pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1000, cacheRead: 200 } })
} catch (error) {
  console.log(JSON.stringify({ refused: { tag: error._tag, reason: error.reason, path: error.path } }))
}
