/**
 * The ingest benches' events: raw provider payloads as producers send them (OpenAI chat
 * completions, OpenAI SSE streams, Anthropic messages, Gemini generateContent, OTel GenAI span
 * attributes), deterministic so every run sends the same events.
 */
// A small deterministic generator, so every run sends the same events.
const random = (() => {
  let state = 0x1a6e57
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
})()
const int = (max: number) => Math.floor(random() * max)
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

const projects = ["search", "chat", "agents", "summaries", "support"]
const customers = Array.from({ length: 50 }, (_, i) => `customer-${i}`)
const start = Date.UTC(2026, 0, 1)
const span = 28 * 24 * 3_600_000

const openaiChat = (id: string, model: string) => {
  const prompt = 200 + int(8_000)
  const cached = random() < 0.4 ? Math.floor(prompt * random()) : 0
  const completion = 20 + int(1_500)
  return {
    id,
    object: "chat.completion",
    created: 1768000000 + int(1_000_000),
    model,
    choices: [{ index: 0, message: { role: "assistant", content: "Sure, here is the summary you asked for.", refusal: null }, finish_reason: "stop" }],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
    },
    service_tier: "default",
    system_fingerprint: "fp_bench"
  }
}

const openaiStream = (id: string, model: string) => {
  const prompt = 100 + int(4_000)
  const words = ["Hello", " there", ",", " how", " can", " I", " help", "?"]
  const chunk = (delta: object, finish: string | null) =>
    JSON.stringify({ id, object: "chat.completion.chunk", created: 1768000000, model, choices: [{ index: 0, delta, finish_reason: finish }], usage: null })
  const lines = [chunk({ role: "assistant", content: "" }, null), ...words.map((w) => chunk({ content: w }, null)), chunk({}, "stop")]
  lines.push(JSON.stringify({ id, object: "chat.completion.chunk", created: 1768000000, model, choices: [], usage: { prompt_tokens: prompt, completion_tokens: words.length, total_tokens: prompt + words.length } }))
  return lines.map((line) => `data: ${line}\n\n`).join("") + "data: [DONE]\n\n"
}

const anthropicMessage = (id: string, model: string) => {
  const read = random() < 0.5 ? int(50_000) : 0
  return {
    model,
    id,
    type: "message",
    role: "assistant",
    content: [{ type: "text", text: "Here is what I found in the documents." }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: {
      input_tokens: 10 + int(5_000),
      cache_creation_input_tokens: random() < 0.2 ? int(4_000) : 0,
      cache_read_input_tokens: read,
      output_tokens: 10 + int(2_000),
      service_tier: "standard"
    }
  }
}

const geminiResponse = (id: string, model: string) => {
  const prompt = 10 + int(6_000)
  const out = 10 + int(800)
  return {
    candidates: [{ content: { parts: [{ text: "The answer is 42." }], role: "model" }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: prompt, candidatesTokenCount: out, totalTokenCount: prompt + out },
    modelVersion: model,
    responseId: id
  }
}

const otelSpan = (model: string) => ({
  "gen_ai.operation.name": "chat",
  "gen_ai.provider.name": "openai",
  "gen_ai.request.model": model,
  "gen_ai.usage.input_tokens": 50 + int(3_000),
  "gen_ai.usage.output_tokens": 5 + int(500)
})

/** One producer event, as it would arrive over HTTP. */
export const event = (index: number): unknown => {
  const requestId = `bench-${index.toString(36).padStart(8, "0")}`
  const common = {
    requestId,
    occurredAt: new Date(start + int(span)).toISOString(),
    labels: { project: pick(projects), environment: random() < 0.8 ? "prod" : "staging", customer: pick(customers) },
    tags: { region: random() < 0.5 ? "us" : "eu" }
  }
  const kind = random()
  const unknownModel = random() < 0.03
  if (kind < 0.4) {
    return { ...common, provider: "openai", payload: openaiChat(requestId, unknownModel ? "gpt-internal-preview" : pick(["gpt-4o-mini-2024-07-18", "gpt-4.1-nano-2025-04-14", "gpt-4o-2024-08-06"])) }
  }
  if (kind < 0.55) return { ...common, provider: "openai", payload: openaiStream(requestId, pick(["gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14"])) }
  if (kind < 0.8) return { ...common, provider: "anthropic", payload: anthropicMessage(requestId, pick(["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"])) }
  if (kind < 0.95) return { ...common, provider: "google", api: "generateContent", payload: geminiResponse(requestId, pick(["gemini-2.5-flash", "gemini-2.5-pro"])) }
  return { ...common, provider: "otel", api: "span", payload: otelSpan(pick(["gpt-4o-mini", "gpt-4.1"])) }
}

