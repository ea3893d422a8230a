/**
 * Every fixture normalizes to what its `notes` describe. The shared fixtures (copied verbatim from
 * the project's reference set) are marked; the others were added for this package.
 */
import { describe, expect, it } from "vitest"
import { NormalizedCall, Reports } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

type Expected =
  | { readonly usage: unknown; readonly call?: Partial<NormalizedCall.NormalizedCallJson> }
  | { readonly error: string }
  | { readonly report: unknown }

/** The 23 fixtures of the shared reference set. */
const SHARED = new Set([
  "anthropic/admin_cost_report", "anthropic/messages_basic", "anthropic/messages_cache_read_1h_ttl", "anthropic/messages_stream_basic",
  "anthropic/messages_web_search", "azure/chat_completion_content_filter", "bedrock/converse_basic", "bedrock/converse_prompt_cache",
  "cohere/chat_v2", "deepseek/chat_completion_cache_hit", "google/gemini_generate_content_thinking", "google/gemini_stream_chunks",
  "mistral/chat_completion", "openai/audio_transcription_tokens", "openai/batch_output_line", "openai/chat_completion_basic",
  "openai/chat_completion_prompt_cached", "openai/chat_completion_reasoning", "openai/embeddings", "openai/images_generation_gpt_image",
  "openai/org_costs", "openai/org_usage_completions", "openai/responses_reasoning", "xai/chat_completion_reasoning"
])

const TABLE: Readonly<Record<string, Expected>> = {
  // --- Anthropic: input_tokens excludes cache reads and writes; output includes thinking.
  "anthropic/admin_cost_report": {
    report: {
      provider: "anthropic", kind: "costs", hasMore: false, rows: [
        { start: "2025-08-01T00:00:00Z", end: "2025-08-02T00:00:00Z", amount: "1.2345", currency: "USD", labels: { model: "claude-sonnet-4-20250514", service_tier: "standard", workspace_id: "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", description: "Claude Sonnet 4 Usage - Input Tokens", cost_type: "tokens", context_window: "0-200k", token_type: "uncached_input_tokens" } },
        { start: "2025-08-01T00:00:00Z", end: "2025-08-02T00:00:00Z", amount: "0.75", currency: "USD", labels: { model: "claude-sonnet-4-20250514", service_tier: "standard", workspace_id: "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", description: "Claude Sonnet 4 Usage - Output Tokens", cost_type: "tokens", context_window: "0-200k", token_type: "output_tokens" } },
        { start: "2025-08-01T00:00:00Z", end: "2025-08-02T00:00:00Z", amount: "1", currency: "USD", labels: { workspace_id: "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", description: "Web Search Usage", cost_type: "web_search" } }
      ]
    }
  },
  "anthropic/messages_basic": { usage: { tokens: { inputText: 12, outputText: 29 }, promptTokens: 12, serviceTier: "standard" }, call: { model: "claude-sonnet-4-5-20250929", responseId: "msg_01VdEjxAP5ahtHKrrRdNBteQ", serviceTier: "standard" } },
  "anthropic/messages_cache_read_1h_ttl": { usage: { tokens: { inputText: 21, cacheRead: 18432, cacheWrite1h: 1824, outputText: 393 }, promptTokens: 20277, serviceTier: "standard" } },
  "anthropic/messages_stream_basic": { usage: { tokens: { inputText: 11, outputText: 6 }, promptTokens: 11 }, call: { responseId: "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK", model: "claude-3-opus-latest" } },
  "anthropic/messages_web_search": { usage: { tokens: { inputText: 11306, outputText: 163 }, webSearches: 1, promptTokens: 11306, serviceTier: "standard" } },
  "anthropic/messages_stream_prompt_cache": { usage: { tokens: { inputText: 2, cacheWrite5m: 3068, outputText: 152 }, promptTokens: 3070, serviceTier: "standard" } },
  "anthropic/messages_stream_web_search": { usage: { tokens: { inputText: 15665, outputText: 418 }, webSearches: 1, promptTokens: 15665, serviceTier: "standard" } },
  "anthropic/message_batch_result_line": { usage: { tokens: { inputText: 11, outputText: 36 }, promptTokens: 11, batch: true }, call: { api: "batch", batch: true, model: "claude-3-5-sonnet-20240620", responseId: "msg_014VwiXbi91y3JMjcpyGBHX5" } },
  "anthropic/messages_batch_tier": { usage: { tokens: { inputText: 812, outputText: 96 }, promptTokens: 812, batch: true }, call: { batch: true, serviceTier: "batch" } },
  "anthropic/messages_compaction_iterations": {
    usage: { tokens: { inputText: 203000, outputText: 4500 }, promptTokens: 203000, serviceTier: "standard" },
    call: { subCalls: [{ model: "claude-haiku-4-5-20251001", usage: { tokens: { inputText: 4200, outputText: 300 }, promptTokens: 4200, serviceTier: "standard" }, source: "usage.iterations[2]" }] }
  },
  "anthropic/messages_thinking_tokens": { usage: { tokens: { inputText: 57, outputText: 30, reasoning: 1180 }, promptTokens: 57, serviceTier: "standard" } },

  // --- Azure OpenAI: OpenAI semantics; model is the underlying model.
  "azure/chat_completion_content_filter": { usage: { tokens: { inputText: 33, outputText: 557 }, promptTokens: 33 }, call: { model: "gpt-4o-2024-08-06" } },
  "azure/chat_stream_model_router": { usage: { tokens: { inputText: 15, outputText: 14, reasoning: 64 }, promptTokens: 15 }, call: { model: "gpt-5-nano-2025-08-07", responseId: "chatcmpl-CBpXz1kBdTQy2Cf63lYXkfVlZcDIv" } },
  "azure/chat_prompt_filter_blocked": { error: "failed-response" },

  // --- Bedrock: inputTokens excludes cache tokens; totalTokens includes them.
  "bedrock/converse_basic": { usage: { tokens: { inputText: 22, outputText: 57 }, promptTokens: 22 } },
  "bedrock/converse_prompt_cache": { usage: { tokens: { inputText: 24, cacheRead: 5120, cacheWrite5m: 610, cacheWrite1h: 1200, outputText: 412 }, promptTokens: 6954, serviceTier: "default" }, call: { serviceTier: "default" } },
  "bedrock/converse_stream_events": { usage: { tokens: { inputText: 24, cacheRead: 5120, cacheWrite5m: 610, cacheWrite1h: 1200, outputText: 412 }, promptTokens: 6954 } },
  "bedrock/converse_stream_openai_cache_double_count": {
    usage: { tokens: { inputText: 2, cacheWrite5m: 4993, outputText: 19 }, promptTokens: 4995 },
    call: { corrections: [{ rule: "bedrock.openai-input-includes-cache", path: "events[3].metadata.usage.inputTokens", detail: "openai.gpt-5.6 reports inputTokens including cache tokens; uncached input = 4995 − 0 − 4993 = 2" }] }
  },
  "bedrock/invoke_model_claude_headers": { usage: { tokens: { inputText: 18, cacheRead: 4096, cacheWrite1h: 2048, outputText: 240 }, promptTokens: 6162 }, call: { api: "invokeModel", responseId: "msg_bdrk_01" } },
  "bedrock/invoke_model_llama_headers": { usage: { tokens: { inputText: 31, outputText: 126 }, promptTokens: 31 }, call: { responseId: "9a8b7c6d-0000-4000-8000-000000000001", model: "meta.llama3-1-70b-instruct-v1:0" } },
  "bedrock/invoke_model_stream_final_chunk": { usage: { tokens: { inputText: 1250, outputText: 380 }, promptTokens: 1250 }, call: { api: "invokeModel", model: "anthropic.claude-3-haiku-20240307-v1:0" } },
  "bedrock/invoke_model_stream_claude": { usage: { tokens: { inputText: 25, outputText: 12 }, promptTokens: 25 } },

  // --- Cohere: billed_units are billed.
  "cohere/chat_v2": { usage: { tokens: { inputText: 12, outputText: 7 }, promptTokens: 12 }, call: { responseId: "e7592632-1e3d-424f-b129-bd5f9f980f7b" } },
  "cohere/chat_v2_stream": { usage: { tokens: { inputText: 12, outputText: 7 }, promptTokens: 12 }, call: { responseId: "29f14a5a-11de-4cae-9800-25e4747408ea" } },
  "cohere/embed_v2": { usage: { tokens: { embedding: 1 }, promptTokens: 1 }, call: { api: "embed" } },
  "cohere/rerank_v2": { usage: { tokens: {}, toolCalls: { search_units: 1 } }, call: { api: "rerank" } },

  // --- DeepSeek: prompt = cache hit + miss; completion includes reasoning.
  "deepseek/chat_completion_cache_hit": { usage: { tokens: { inputText: 128, cacheRead: 1408, outputText: 128 }, promptTokens: 1536 } },
  "deepseek/chat_completion_reasoner": { usage: { tokens: { inputText: 18, outputText: 48, reasoning: 315 }, promptTokens: 18 } },

  // --- Gemini / Vertex: prompt includes cached; candidates exclude thoughts; tool-use prompt outside.
  "google/gemini_generate_content_thinking": { usage: { tokens: { inputText: 9, outputText: 28, reasoning: 244 }, promptTokens: 9 }, call: { model: "gemini-3-pro-preview", responseId: "Un6LacrVMcjUxs0PmJfWoQc" } },
  "google/gemini_stream_chunks": { usage: { tokens: { inputText: 9, outputText: 23, reasoning: 185 }, promptTokens: 9 }, call: { responseId: "bH6LaZW8Fp_3nsEPqtaSwQ4" } },
  "google/vertex_generate_content_cached": { usage: { tokens: { inputText: 2102, cacheRead: 31480, cacheReadImage: 1288, outputText: 512, reasoning: 720 }, promptTokens: 34870, serviceTier: "ON_DEMAND" } },
  "google/vertex_stream_traffic_type_chunks": { usage: { tokens: { inputText: 249, outputText: 58, reasoning: 183 }, promptTokens: 249, serviceTier: "PROVISIONED_THROUGHPUT" }, call: { serviceTier: "PROVISIONED_THROUGHPUT" } },
  "google/vertex_predict_text_embeddings": { usage: { tokens: { embedding: 17 }, promptTokens: 17 }, call: { api: "predict", model: "gemini-embedding-001" } },
  "google/gemini_grounding_tool_use": { usage: { tokens: { inputText: 1661, outputText: 230, reasoning: 95 }, webSearches: 2, promptTokens: 41 } },
  "google/gemini_image_candidates_details_incomplete": {
    usage: { tokens: { inputText: 402, outputText: 295, outputImage: 1120 }, promptTokens: 402 },
    call: { model: "gemini-3-pro-image", corrections: [{ rule: "google.candidates-details-incomplete", path: "usageMetadata.candidatesTokensDetails", detail: "candidatesTokensDetails list 1120 of candidatesTokenCount = 1415; the unlisted 295 are output text" }] }
  },
  "google/gemini_image_output": { usage: { tokens: { inputText: 44, inputImage: 1258, outputImage: 1290 }, promptTokens: 1302 } },
  "google/gemini_candidates_count_absent": {
    usage: { tokens: { inputText: 120, outputText: 3, reasoning: 287 }, promptTokens: 120 },
    call: { corrections: [{ rule: "google.candidates-from-total", path: "usageMetadata.candidatesTokenCount", detail: "candidatesTokenCount absent; derived 3 = totalTokenCount − promptTokenCount − toolUsePromptTokenCount − thoughtsTokenCount" }] }
  },

  // --- Groq (OpenAI-compatible): a stream's usage in x_groq.usage on the finish chunk.
  "groq/chat_stream_x_groq_usage": { usage: { tokens: { inputText: 18, outputText: 439 }, promptTokens: 18 }, call: { api: "chat.completions", model: "gemma2-9b-it", responseId: "chatcmpl-e7f8e220-656c-4455-a132-dacfc1370798" } },

  // --- Mistral
  "mistral/chat_completion": { usage: { tokens: { inputText: 13, outputText: 434 }, promptTokens: 13 } },
  "mistral/chat_stream_usage_on_finish": { usage: { tokens: { inputText: 13, outputText: 4 }, promptTokens: 13 } },
  "mistral/chat_completion_cached_misspelled_details": { usage: { tokens: { inputText: 258, cacheRead: 1792, outputText: 120 }, promptTokens: 2050 } },
  "mistral/transcription_voxtral": { usage: { tokens: {}, requests: 1, audioSeconds: "203" }, call: { api: "audio.transcriptions", model: "voxtral-mini-2507", unbilledTokens: { "usage.prompt_tokens": 4, "usage.completion_tokens": 635, "usage.total_tokens": 3264 } } },

  // --- OpenAI: prompt includes cached/audio/image; completion includes reasoning/audio/predictions.
  "openai/audio_transcription_tokens": { usage: { tokens: { inputAudio: 14, outputText: 45 }, promptTokens: 14 } },
  "openai/audio_transcription_duration": { usage: { tokens: {}, audioSeconds: "9.5" }, call: { model: "whisper-1" } },
  "openai/batch_object_usage": { usage: { tokens: { inputText: 476, cacheRead: 1024, outputText: 200, reasoning: 300 }, promptTokens: 1500, batch: true }, call: { api: "batch", batch: true, model: "gpt-5-2025-08-07", responseId: "batch_abc123" } },
  "openai/batch_output_line": { usage: { tokens: { inputText: 24, outputText: 15 }, promptTokens: 24, batch: true }, call: { api: "batch", batch: true, responseId: "chatcmpl-9758Iw" } },
  "openai/batch_output_line_failed": { error: "failed-response" },
  "openai/chat_completion_basic": { usage: { tokens: { inputText: 16, outputText: 363 }, promptTokens: 16, serviceTier: "default" }, call: { serviceTier: "default", responseId: "chatcmpl-D8Z5f52zQqikDBEKQMQoYcWMcWPeU" } },
  "openai/chat_completion_prompt_cached": { usage: { tokens: { inputText: 86, cacheRead: 1920, outputText: 300 }, promptTokens: 2006, serviceTier: "default" } },
  "openai/chat_completion_reasoning": { usage: { tokens: { inputText: 81, outputText: 203, reasoning: 832 }, promptTokens: 81, serviceTier: "default" } },
  "openai/chat_completion_audio": { usage: { tokens: { inputText: 65, inputAudio: 180, outputText: 48, outputAudio: 262 }, promptTokens: 245, serviceTier: "default" } },
  "openai/chat_completion_predicted_outputs": { usage: { tokens: { inputText: 186, cacheRead: 1024, outputText: 870 }, promptTokens: 1210, serviceTier: "default" } },
  "openai/chat_stream_include_usage": { usage: { tokens: { inputText: 138, cacheRead: 1152, outputText: 3 }, promptTokens: 1290, serviceTier: "default" } },
  "openai/chat_stream_without_usage": { usage: { tokens: { inputText: 18, outputText: 3 }, promptTokens: 18 }, call: { estimated: true, encoding: "o200k_base" } },
  "openai/embeddings": { usage: { tokens: { embedding: 12 }, promptTokens: 12 }, call: { model: "text-embedding-3-small" } },
  "openai/images_generation_gpt_image": { usage: { tokens: { inputText: 10, inputImage: 40, outputImage: 50 }, promptTokens: 50 } },
  "openai/images_edit_output_details": { usage: { tokens: { inputText: 30, inputImage: 768, outputImage: 1056 }, promptTokens: 798 }, call: { model: "gpt-image-1" } },
  "openai/images_dalle3_per_image": { usage: { tokens: {}, imagesGenerated: { "1024x1792/hd": 1 } }, call: { model: "dall-e-3" } },
  "openai/org_costs": {
    report: { provider: "openai", kind: "costs", hasMore: false, rows: [{ start: "2024-11-01T00:00:00.000Z", end: "2024-11-02T00:00:00.000Z", amount: "0.06", currency: "USD", labels: {} }] }
  },
  "openai/org_usage_completions": {
    report: {
      provider: "openai", kind: "usage", hasMore: true, rows: [{
        start: "2024-11-01T00:00:00.000Z", end: "2024-11-02T00:00:00.000Z", labels: {},
        usage: { tokens: { inputText: 400, cacheRead: 400, cacheWrite5m: 100, inputImage: 50, inputAudio: 50, outputText: 400, outputImage: 50, outputAudio: 50 }, requests: 5 }
      }]
    }
  },
  "openai/realtime_response_done": { usage: { tokens: { inputText: 128, cacheRead: 512, cacheReadAudio: 576, inputAudio: 244, outputText: 61, outputAudio: 224 }, promptTokens: 1460 }, call: { responseId: "resp_RT01" } },
  "openai/responses_reasoning": { usage: { tokens: { inputText: 81, outputText: 203, reasoning: 832 }, promptTokens: 81, serviceTier: "default" } },
  "openai/responses_cached_input": { usage: { tokens: { inputText: 1140, cacheRead: 2560, outputText: 741 }, toolCalls: { file_search: 1 }, promptTokens: 3700, serviceTier: "default" } },
  "openai/responses_stream_events": { usage: { tokens: { inputText: 64, cacheRead: 256, outputText: 18, reasoning: 448 }, promptTokens: 320, serviceTier: "flex" }, call: { serviceTier: "flex" } },
  "openai/responses_usage_only": { usage: { tokens: { inputText: 36, outputText: 87 }, promptTokens: 36 }, call: { api: "responses", model: "gpt-4.1-2025-04-14" } },
  "openai/responses_web_search": { usage: { tokens: { inputText: 8453, outputText: 212 }, webSearches: 2, promptTokens: 8453, serviceTier: "default" } },

  // --- OpenRouter: usage.cost kept exactly.
  "openrouter/chat_completion_cost": { usage: { tokens: { inputText: 21, cacheRead: 10318, outputText: 60 }, promptTokens: 10339 }, call: { reportedCost: { amount: "0.00492", currency: "USD", source: "usage.cost" } } },
  "openrouter/chat_stream_cost": { usage: { tokens: { inputText: 9, outputText: 2 }, promptTokens: 9 }, call: { reportedCost: { amount: "0.00000255", currency: "USD", source: "chunks[2].usage.cost" } } },

  // --- OpenTelemetry GenAI spans
  "otel/span_attributes": { usage: { tokens: { inputText: 171, cacheRead: 640, outputText: 92 }, promptTokens: 811, serviceTier: "default" }, call: { modelProvider: "openai", model: "gpt-4.1-2025-04-14", responseId: "chatcmpl-otel01" } },
  "otel/span_otlp_json": { usage: { tokens: { inputText: 24, cacheRead: 4096, cacheWrite5m: 1000, outputText: 300 }, promptTokens: 5120 }, call: { modelProvider: "anthropic", model: "claude-sonnet-4-5" } },
  "otel/span_anthropic_exclusive_input": {
    usage: { tokens: { inputText: 3, cacheRead: 17000, outputText: 250 }, promptTokens: 17003 },
    call: { corrections: [{ rule: "otel.input-excludes-cache", path: "[\"gen_ai.usage.input_tokens\"]", detail: "cache tokens (17000 read + 0 write) exceed gen_ai.usage.input_tokens = 3; read as excluding them" }] }
  },

  // --- xAI: chat completion excludes reasoning; Responses output includes it.
  "xai/chat_completion_reasoning": { usage: { tokens: { inputText: 10, cacheRead: 2, outputText: 1, reasoning: 228 }, promptTokens: 12 }, call: { reportedCost: { amount: "0.00011765", currency: "USD", source: "usage.cost_in_usd_ticks" } } },
  "xai/chat_stream": { usage: { tokens: { inputText: 10, cacheRead: 2, outputText: 1, reasoning: 228 }, promptTokens: 12 }, call: { reportedCost: { amount: "0.00011765", currency: "USD", source: "chunks[2].usage.cost_in_usd_ticks" } } },
  "xai/responses_web_search": { usage: { tokens: { inputText: 1941, outputText: 203, reasoning: 380 }, webSearches: 2, toolCalls: { x_search: 1 }, promptTokens: 1941 }, call: { reportedCost: { amount: "0.00214", currency: "USD", source: "usage.cost_in_usd_ticks" } } }
}

describe("fixtures", () => {
  it("the table covers every fixture file, and every shared fixture is in it", () => {
    expect(Object.keys(TABLE).sort()).toEqual([...Fixtures.names()])
    for (const name of SHARED) expect(TABLE[name], name).toBeDefined()
  })

  it("every fixture file has the documented shape {source, provider, api, payload, notes}", () => {
    for (const name of Fixtures.names()) {
      const fixture = Fixtures.load(name)
      expect(typeof fixture.source, name).toBe("string")
      expect(typeof fixture.provider, name).toBe("string")
      expect(typeof fixture.api, name).toBe("string")
      expect(fixture.payload, name).toBeDefined()
      expect(fixture.notes.length, name).toBeGreaterThan(20)
    }
  })

  describe.each(Object.entries(TABLE))("%s", (name, expected) => {
    const shared = SHARED.has(name) ? " (shared fixture)" : ""
    it(`normalizes to what its notes describe${shared}`, () => {
      const fixture = Fixtures.load(name)
      if ("report" in expected) {
        const report = Fixtures.success(Reports.normalize({ provider: fixture.provider, payload: fixture.payload }))
        expect(Reports.toJson(report)).toEqual(expected.report)
        return
      }
      const result = Fixtures.normalize(name, { payload: fixture.payload })
      if ("error" in expected) {
        const error = Fixtures.failure(result)
        expect(error._tag).toBe("NormalizeError")
        expect(error.reason).toBe(expected.error)
        return
      }
      const call = Fixtures.success(result)
      const json = NormalizedCall.toJson(call)
      expect(json.usage).toEqual(expected.usage)
      expect(json).toMatchObject(expected.call ?? {})
      expect(call.raw).toBe(fixture.payload)
      // The raw payload is kept untouched: normalizing never mutates it.
      expect(fixture.payload).toEqual(Fixtures.load(name).payload)
      expect(call.provider).toBe(fixture.provider)
      if (!("estimated" in (expected.call ?? {}))) expect(call.estimated).toBe(false)
    })
  })
})
