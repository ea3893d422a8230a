import { describe, expect, it } from "vitest"
import { Normalize, NormalizedCall } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const chat = (usage: unknown, model = "m") => ({ id: "c1", object: "chat.completion", model, choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }], usage })
const run = (provider: string, payload: unknown) => Normalize.normalize({ provider, payload })

describe("DeepSeek", () => {
  it("prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens; hits are cache reads", () => {
    expect(Fixtures.usageOf("deepseek/chat_completion_cache_hit").tokens).toEqual({ inputText: 128, cacheRead: 1408, outputText: 128 })
  })

  it("hit + miss that disagrees with prompt_tokens is a total-mismatch error", () => {
    const error = Fixtures.failure(run("deepseek", chat({ prompt_tokens: 100, completion_tokens: 1, total_tokens: 101, prompt_cache_hit_tokens: 60, prompt_cache_miss_tokens: 30 })))
    expect(error).toMatchObject({ reason: "total-mismatch", path: "usage.prompt_tokens" })
  })

  it("prompt_tokens_details.cached_tokens must agree with prompt_cache_hit_tokens", () => {
    const error = Fixtures.failure(run("deepseek", chat({ prompt_tokens: 100, completion_tokens: 1, total_tokens: 101, prompt_cache_hit_tokens: 60, prompt_cache_miss_tokens: 40, prompt_tokens_details: { cached_tokens: 50 } })))
    expect(error).toMatchObject({ reason: "inconsistent", path: "usage.prompt_tokens_details.cached_tokens" })
  })

  it("completion_tokens includes reasoning_tokens", () => {
    expect(Fixtures.usageOf("deepseek/chat_completion_reasoner").tokens).toEqual({ inputText: 18, outputText: 48, reasoning: 315 })
  })
})

describe("xAI", () => {
  it("chat completion_tokens excludes reasoning_tokens: total = prompt + completion + reasoning", () => {
    expect(Fixtures.usageOf("xai/chat_completion_reasoning").tokens).toEqual({ inputText: 10, cacheRead: 2, outputText: 1, reasoning: 228 })
  })

  it("a chat total following OpenAI's convention (reasoning inside completion) is a total-mismatch error", () => {
    const error = Fixtures.failure(run("xai", chat({ prompt_tokens: 12, completion_tokens: 229, total_tokens: 241, completion_tokens_details: { reasoning_tokens: 228 } })))
    expect(error).toMatchObject({ reason: "total-mismatch", path: "usage.total_tokens" })
  })

  it("cost_in_usd_ticks is the provider's cost at 1e-10 USD per tick, kept exactly", () => {
    const call = Fixtures.success(Fixtures.normalize("xai/chat_completion_reasoning"))
    expect(NormalizedCall.toJson(call).reportedCost).toEqual({ amount: "0.00011765", currency: "USD", source: "usage.cost_in_usd_ticks" })
  })

  it("Responses output_tokens includes reasoning; server-side tool details count searches and tool calls", () => {
    const usage = Fixtures.usageOf("xai/responses_web_search")
    expect(usage.tokens).toEqual({ inputText: 1941, outputText: 203, reasoning: 380 })
    expect([usage.webSearches, usage.toolCalls]).toEqual([2, { x_search: 1 }])
  })
})

describe("OpenRouter", () => {
  it("usage.cost is the reported cost, read from the JSON number's shortest text", () => {
    expect(NormalizedCall.toJson(Fixtures.success(Fixtures.normalize("openrouter/chat_completion_cost"))).reportedCost?.amount).toBe("0.00492")
    expect(NormalizedCall.toJson(Fixtures.success(Fixtures.normalize("openrouter/chat_stream_cost"))).reportedCost?.amount).toBe("0.00000255")
    const tiny = Fixtures.success(run("openrouter", chat({ prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, cost: 1e-7 })))
    expect(NormalizedCall.toJson(tiny).reportedCost?.amount).toBe("0.0000001")
    const sum = Fixtures.success(run("openrouter", chat({ prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, cost: 0.1 + 0.2 })))
    expect(NormalizedCall.toJson(sum).reportedCost?.amount).toBe("0.30000000000000004")
  })

  it("a negative cost is a typed error, not a credit", () => {
    expect(Fixtures.failure(run("openrouter", chat({ prompt_tokens: 1, completion_tokens: 1, cost: -0.5 })))).toMatchObject({ reason: "negative", path: "usage.cost" })
  })

  it("cached tokens sit inside prompt_tokens for every upstream model", () => {
    expect(Fixtures.usageOf("openrouter/chat_completion_cost").tokens).toEqual({ inputText: 21, cacheRead: 10318, outputText: 60 })
  })
})

describe("Mistral", () => {
  it("the usage rides on the finish_reason chunk of a stream", () => {
    expect(Fixtures.usageOf("mistral/chat_stream_usage_on_finish").tokens).toEqual({ inputText: 13, outputText: 4 })
  })

  it("cached tokens from num_cached_tokens and the misspelled prompt_token_details agree and sit inside prompt_tokens", () => {
    expect(Fixtures.usageOf("mistral/chat_completion_cached_misspelled_details").tokens).toEqual({ inputText: 258, cacheRead: 1792, outputText: 120 })
    const error = Fixtures.failure(run("mistral", chat({ prompt_tokens: 100, completion_tokens: 1, total_tokens: 101, num_cached_tokens: 50, prompt_tokens_details: { cached_tokens: 40 } })))
    expect(error).toMatchObject({ reason: "inconsistent", path: "usage.prompt_tokens_details.cached_tokens" })
  })

  it("transcription is billed by audio seconds, not tokens", () => {
    expect(Fixtures.usageOf("mistral/transcription_voxtral")).toEqual({ tokens: {}, requests: 1, audioSeconds: "203" })
  })

  it("transcription keeps its token counts, unpriced, by their JSON path", () => {
    const call = Fixtures.success(Fixtures.normalize("mistral/transcription_voxtral"))
    expect(call.unbilledTokens).toEqual({ "usage.prompt_tokens": 4, "usage.completion_tokens": 635, "usage.total_tokens": 3264 })
    expect(NormalizedCall.toJson(call).unbilledTokens).toEqual(call.unbilledTokens)
  })
})
