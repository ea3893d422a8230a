/**
 * The rules added so that every OpenAI-compatible provider, usage-only payloads and the batch and
 * stream shapes normalize (docs/pricing-semantics.md#openai-compatible-providers and after).
 */
import { describe, expect, it } from "vitest"
import { CompatibleProviders, Normalize, NormalizedCall } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const chat = (usage: unknown, extra: Record<string, unknown> = {}) => ({
  id: "c1", object: "chat.completion", model: "m", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }], usage, ...extra
})
const run = (provider: string, payload: unknown, more: Partial<Normalize.NormalizeInput> = {}) => Normalize.normalize({ provider, payload, ...more })

describe("OpenAI-compatible providers", () => {
  it("every row of the table is a provider id, with its aliases, normalizing OpenAI chat usage", () => {
    for (const id of CompatibleProviders.ids) {
      expect(NormalizedCall.ProviderIds, id).toContain(id)
      expect(Normalize.resolveProvider(id.toUpperCase())).toBe(id)
      for (const alias of CompatibleProviders.providers[id].aliases) expect(Normalize.resolveProvider(alias), alias).toBe(id)
      const call = Fixtures.success(run(id, chat({ prompt_tokens: 120, completion_tokens: 30, total_tokens: 150, prompt_tokens_details: { cached_tokens: 100 } })))
      expect([call.provider, call.api], id).toEqual([id, "chat.completions"])
      expect(call.usage.tokens, id).toEqual({ inputText: 20, cacheRead: 100, outputText: 30 })
    }
  })

  it("a provider that serves embeddings in the OpenAI format normalizes them; an api it does not serve is unsupported", () => {
    const embeddings = { object: "list", data: [{ object: "embedding", index: 0, embedding: [0.1] }], model: "BAAI/bge-base-en-v1.5", usage: { prompt_tokens: 9, total_tokens: 9 } }
    expect(Fixtures.success(run("together", embeddings)).usage.tokens).toEqual({ embedding: 9 })
    expect(Fixtures.failure(run("cerebras", embeddings, { api: "embeddings" }))).toMatchObject({ reason: "unsupported" })
  })

  it("Groq: a stream's usage rides in x_groq.usage on the finish chunk", () => {
    const call = Fixtures.success(Fixtures.normalize("groq/chat_stream_x_groq_usage"))
    expect(call.usage.tokens).toEqual({ inputText: 18, outputText: 439 })
  })

  it("Groq: usage and x_groq.usage on the same chunk must agree", () => {
    const agreeing = chat({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }, { x_groq: { id: "req_1", usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } } })
    expect(Fixtures.success(run("groq", agreeing)).usage.tokens).toEqual({ inputText: 10, outputText: 5 })
    const disagreeing = chat({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }, { x_groq: { id: "req_1", usage: { prompt_tokens: 10, completion_tokens: 7, total_tokens: 17 } } })
    expect(Fixtures.failure(run("groq", disagreeing))).toMatchObject({ reason: "inconsistent", path: "x_groq.usage.completion_tokens" })
  })

  it("Perplexity: reasoning and citation tokens sit outside completion_tokens; searches and the reported cost are kept", () => {
    // sonar-deep-research usage as Perplexity's API reference documents it.
    const payload = chat({
      prompt_tokens: 19, completion_tokens: 498, total_tokens: 517, citation_tokens: 10759, num_search_queries: 3, reasoning_tokens: 73997,
      cost: { input_tokens_cost: 0.00004, output_tokens_cost: 0.00398, citation_tokens_cost: 0.02152, reasoning_tokens_cost: 0.22199, search_queries_cost: 0.015, total_cost: 0.26253 }
    }, { model: "sonar-deep-research" })
    const call = Fixtures.success(run("perplexity", payload))
    // citation tokens are billed at the input rate: inputText = 19 + 10759.
    expect(call.usage.tokens).toEqual({ inputText: 10778, outputText: 498, reasoning: 73997 })
    expect(call.usage.webSearches).toBe(3)
    expect(NormalizedCall.toJson(call).reportedCost).toEqual({ amount: "0.26253", currency: "USD", source: "usage.cost.total_cost" })
    const wrongTotal = chat({ prompt_tokens: 19, completion_tokens: 498, total_tokens: 74514, reasoning_tokens: 73997 })
    expect(Fixtures.failure(run("perplexity", wrongTotal))).toMatchObject({ reason: "total-mismatch", path: "usage.total_tokens" })
  })

  it("a self-hosted server is a provider id whose calls normalize as OpenAI's", () => {
    for (const id of ["vllm", "ollama", "lmstudio", "lm-studio"]) {
      const call = Fixtures.success(run(id, chat({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 })))
      expect(call.usage.tokens, id).toEqual({ inputText: 7, outputText: 3 })
    }
    expect(CompatibleProviders.providers.vllm.selfHosted).toBe(true)
  })
})

describe("usage-only payloads", () => {
  it("a Responses usage without its envelope is recognized from input_tokens with its details", () => {
    const call = Fixtures.success(Fixtures.normalize("openai/responses_usage_only"))
    expect([call.api, call.model]).toEqual(["responses", "gpt-4.1-2025-04-14"])
    const cached = Fixtures.success(run("openai", { usage: { input_tokens: 100, input_tokens_details: { cached_tokens: 60 }, output_tokens: 10, total_tokens: 110 } }, { model: "gpt-4.1" }))
    expect([cached.api, cached.usage.tokens]).toEqual(["responses", { inputText: 40, cacheRead: 60, outputText: 10 }])
  })

  it("chat usage (prompt_tokens with completion_tokens), embeddings (prompt_tokens alone) and images (text/image details) are told apart", () => {
    expect(Fixtures.success(run("openai", { model: "gpt-4o", usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } })).api).toBe("chat.completions")
    expect(Fixtures.success(run("openai", { model: "text-embedding-3-small", usage: { prompt_tokens: 10, total_tokens: 10 } })).api).toBe("embeddings")
    const image = Fixtures.success(run("openai", { usage: { input_tokens: 50, input_tokens_details: { text_tokens: 10, image_tokens: 40 }, output_tokens: 50, total_tokens: 100 } }, { model: "gpt-image-1" }))
    expect([image.api, image.usage.tokens]).toEqual(["images", { inputText: 10, inputImage: 40, outputImage: 50 }])
  })

  it("a usage shape that fits two apis is refused with an error naming both", () => {
    const error = Fixtures.failure(run("openai", { model: "x", usage: { input_tokens: 5, output_tokens: 7, total_tokens: 12 } }))
    expect(error).toMatchObject({ reason: "ambiguous", path: "usage" })
    expect(error.message).toContain("responses and images")
    // Saying which api resolves it.
    expect(Fixtures.success(run("openai", { model: "x", usage: { input_tokens: 5, output_tokens: 7, total_tokens: 12 } }, { api: "responses" })).usage.tokens).toEqual({ inputText: 5, outputText: 7 })
  })

  it("an Anthropic usage object without its message is a Messages usage (cache_creation split included)", () => {
    const call = Fixtures.success(run("anthropic", { model: "claude-sonnet-4-5", usage: { input_tokens: 3, cache_read_input_tokens: 100, cache_creation_input_tokens: 50, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 50 }, output_tokens: 9 } }))
    expect([call.api, call.usage.tokens]).toEqual(["messages", { inputText: 3, cacheRead: 100, cacheWrite1h: 50, outputText: 9 }])
  })

  it("a Gemini usageMetadata without candidates is a generateContent usage", () => {
    const call = Fixtures.success(run("google", { usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 4, totalTokenCount: 16 } }, { model: "gemini-2.5-flash" }))
    expect([call.api, call.usage.tokens]).toEqual(["generateContent", { inputText: 12, outputText: 4 }])
  })
})

describe("batch and stream shapes", () => {
  it("an Anthropic Message Batches result line is billed as a batch call; errored, canceled and expired lines are not billable", () => {
    const call = Fixtures.success(Fixtures.normalize("anthropic/message_batch_result_line"))
    expect([call.api, call.batch, call.usage.batch]).toEqual(["batch", true, true])
    for (const type of ["errored", "canceled", "expired"]) {
      const error = Fixtures.failure(run("anthropic", { custom_id: "r1", result: { type } }))
      expect(error, type).toMatchObject({ reason: "failed-response", path: "result.type" })
    }
  })

  it("an Anthropic results file is normalized line by line, each line a batch call", () => {
    const ok = Fixtures.load("anthropic/message_batch_result_line").payload
    const text = [JSON.stringify(ok), JSON.stringify({ custom_id: "r2", result: { type: "expired" } })].join("\n")
    const lines = Normalize.normalizeBatchOutput({ provider: "anthropic", text })
    expect(lines.map((l) => [l.line, l.customId, l.result._tag])).toEqual([[1, "my-second-request", "Success"], [2, "r2", "Failure"]])
  })

  it("an OpenAI Batch object's batch-level usage is one batch call in the Responses usage shape; a batch without usage bills nothing", () => {
    const call = Fixtures.success(Fixtures.normalize("openai/batch_object_usage"))
    expect([call.api, call.batch, call.responseId, call.usage.tokens]).toEqual(["batch", true, "batch_abc123", { inputText: 476, cacheRead: 1024, outputText: 200, reasoning: 300 }])
    const running = { id: "batch_1", object: "batch", endpoint: "/v1/chat/completions", status: "in_progress", request_counts: { total: 10, completed: 3, failed: 0 } }
    expect(Fixtures.failure(run("openai", running))).toMatchObject({ reason: "missing-usage", path: "usage" })
    const inconsistent = { ...running, status: "completed", usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 11 }, output_tokens: 1, total_tokens: 11 } }
    expect(Fixtures.failure(run("openai", inconsistent))).toMatchObject({ reason: "exceeds-parent", path: "usage.input_tokens_details.cached_tokens" })
  })

  it("a Bedrock stream's final chunk alone: amazon-bedrock-invocationMetrics are the whole call's counts", () => {
    expect(Fixtures.usageOf("bedrock/invoke_model_stream_final_chunk").tokens).toEqual({ inputText: 1250, outputText: 380 })
    const cached = Fixtures.success(run("bedrock", { type: "message_stop", "amazon-bedrock-invocationMetrics": { inputTokenCount: 10, outputTokenCount: 5, cacheReadInputTokenCount: 900, cacheWriteInputTokenCount: 100 } }, { model: "anthropic.claude-3-5-haiku-20241022-v1:0" }))
    expect(cached.usage.tokens).toEqual({ inputText: 10, cacheRead: 900, cacheWrite5m: 100, outputText: 5 })
  })

  it("Vertex AI predict for text embeddings: the predictions' token counts add up; a prediction without one is an error", () => {
    expect(Fixtures.usageOf("google/vertex_predict_text_embeddings")).toEqual({ tokens: { embedding: 17 }, promptTokens: 17 })
    const missing = { predictions: [{ embeddings: { statistics: { token_count: 4 }, values: [] } }, { embeddings: { values: [] } }] }
    expect(Fixtures.failure(run("google", missing, { model: "text-embedding-005" }))).toMatchObject({ reason: "missing-usage", path: "predictions[1].embeddings.statistics.token_count" })
  })
})
