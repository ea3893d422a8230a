import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { Normalize, NormalizedCall } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const chat = (usage: unknown, extra: Record<string, unknown> = {}) => ({
  id: "chatcmpl-test",
  object: "chat.completion",
  model: "gpt-4o-2024-08-06",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage,
  ...extra
})

const run = (payload: unknown, more: Partial<Normalize.NormalizeInput> = {}) => Normalize.normalize({ provider: "openai", payload, ...more })
const usage = (payload: unknown, more: Partial<Normalize.NormalizeInput> = {}) => Fixtures.usageJson(Fixtures.success(run(payload, more)).usage)

describe("OpenAI Chat Completions", () => {
  it("prompt_tokens includes cached_tokens: uncached input is prompt − cached", () => {
    expect(Fixtures.usageOf("openai/chat_completion_prompt_cached").tokens).toEqual({ inputText: 86, cacheRead: 1920, outputText: 300 })
  })

  it("completion_tokens includes reasoning_tokens: visible output is completion − reasoning", () => {
    expect(Fixtures.usageOf("openai/chat_completion_reasoning").tokens).toEqual({ inputText: 81, outputText: 203, reasoning: 832 })
  })

  it("audio tokens sit inside prompt_tokens and completion_tokens", () => {
    expect(Fixtures.usageOf("openai/chat_completion_audio").tokens).toEqual({ inputText: 65, inputAudio: 180, outputText: 48, outputAudio: 262 })
  })

  it("accepted and rejected prediction tokens are billed as output text", () => {
    expect(Fixtures.usageOf("openai/chat_completion_predicted_outputs").tokens.outputText).toBe(870)
  })

  it("prediction tokens larger than the visible output are an exceeds-parent error", () => {
    const error = Fixtures.failure(run(chat({
      prompt_tokens: 10, completion_tokens: 100, total_tokens: 110,
      completion_tokens_details: { reasoning_tokens: 50, accepted_prediction_tokens: 40, rejected_prediction_tokens: 20 }
    })))
    expect(error.reason).toBe("exceeds-parent")
    expect(error.path).toBe("usage.completion_tokens_details.rejected_prediction_tokens")
  })

  it("cache_write_tokens sit inside prompt_tokens and are 5-minute cache writes", () => {
    expect(usage(chat({ prompt_tokens: 1000, completion_tokens: 10, total_tokens: 1010, prompt_tokens_details: { cached_tokens: 400, cache_write_tokens: 100 } })).tokens)
      .toEqual({ inputText: 500, cacheRead: 400, cacheWrite5m: 100, outputText: 10 })
  })

  it("a reported text_tokens split must add up to prompt_tokens", () => {
    const error = Fixtures.failure(run(chat({ prompt_tokens: 100, completion_tokens: 1, total_tokens: 101, prompt_tokens_details: { text_tokens: 90, audio_tokens: 5 } })))
    expect(error.reason).toBe("total-mismatch")
    expect(error.path).toBe("usage.prompt_tokens")
  })

  it("cached tokens larger than prompt tokens are an exceeds-parent error naming the JSON path", () => {
    const error = Fixtures.failure(run(chat({ prompt_tokens: 16, completion_tokens: 1, total_tokens: 17, prompt_tokens_details: { cached_tokens: 1920 } })))
    expect(error).toMatchObject({ _tag: "NormalizeError", provider: "openai", reason: "exceeds-parent", path: "usage.prompt_tokens_details.cached_tokens" })
    expect(error.message).toContain("usage.prompt_tokens_details.cached_tokens = 1920 exceeds usage.prompt_tokens = 16")
  })

  it("children that fit one by one but not together are an exceeds-parent error", () => {
    const error = Fixtures.failure(run(chat({ prompt_tokens: 100, completion_tokens: 1, total_tokens: 101, prompt_tokens_details: { cached_tokens: 60, audio_tokens: 60 } })))
    expect(error.reason).toBe("exceeds-parent")
    expect(error.message).toContain("= 120 exceeds usage.prompt_tokens = 100")
  })

  it("reasoning tokens larger than completion tokens are an exceeds-parent error", () => {
    const error = Fixtures.failure(run(chat({ prompt_tokens: 1, completion_tokens: 10, total_tokens: 11, completion_tokens_details: { reasoning_tokens: 11 } })))
    expect(error.path).toBe("usage.completion_tokens_details.reasoning_tokens")
  })

  it("total_tokens that disagrees with prompt + completion is a total-mismatch error", () => {
    const error = Fixtures.failure(run(chat({ prompt_tokens: 16, completion_tokens: 363, total_tokens: 380 })))
    expect(error).toMatchObject({ reason: "total-mismatch", path: "usage.total_tokens" })
    expect(error.message).toContain("usage.total_tokens = 380, but usage.prompt_tokens + usage.completion_tokens = 379")
  })

  it("a negative or fractional count is a typed error naming the path, never a clamp", () => {
    expect(Fixtures.failure(run(chat({ prompt_tokens: -1, completion_tokens: 1 })))).toMatchObject({ reason: "negative", path: "usage.prompt_tokens" })
    expect(Fixtures.failure(run(chat({ prompt_tokens: 1.5, completion_tokens: 1 })))).toMatchObject({ reason: "not-integer", path: "usage.prompt_tokens" })
    expect(Fixtures.failure(run(chat({ prompt_tokens: "12", completion_tokens: 1 })))).toMatchObject({ reason: "malformed", path: "usage.prompt_tokens" })
  })

  it("in a stream only the final usage chunk counts, and usage chunks are never summed", () => {
    const call = Fixtures.success(Fixtures.normalize("openai/chat_stream_include_usage"))
    expect(call.usage.tokens).toEqual({ inputText: 138, cacheRead: 1152, outputText: 3 })
    const chunks = (Fixtures.load("openai/chat_stream_include_usage").payload as { chunks: Array<unknown> }).chunks
    const final = chunks.at(-1)
    // Running totals repeated on two chunks must not double.
    expect(usage({ chunks: [...chunks, final] })).toEqual(Fixtures.usageJson(call.usage))
  })

  it("a stream without usage and without the request is a missing-usage error", () => {
    const error = Fixtures.failure(Fixtures.normalize("openai/chat_stream_without_usage", { request: undefined }))
    expect(error.reason).toBe("missing-usage")
    expect(error.message).toContain("pass the request body")
  })

  it("service_tier is the tier actually used, kept on the call and the usage", () => {
    const call = Fixtures.success(run(chat({ prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }, { service_tier: "priority" })))
    expect(call.serviceTier).toBe("priority")
    expect(call.usage.serviceTier).toBe("priority")
  })
})

describe("OpenAI Responses", () => {
  it("input_tokens includes cached tokens and output_tokens includes reasoning; total = input + output", () => {
    expect(Fixtures.usageOf("openai/responses_cached_input").tokens).toEqual({ inputText: 1140, cacheRead: 2560, outputText: 741 })
    expect(Fixtures.usageOf("openai/responses_reasoning").tokens).toEqual({ inputText: 81, outputText: 203, reasoning: 832 })
  })

  it("each web_search_call output item is one billed web search", () => {
    expect(Fixtures.usageOf("openai/responses_web_search").webSearches).toBe(2)
  })

  it("file_search_call items are counted as file_search tool calls", () => {
    expect(Fixtures.usageOf("openai/responses_cached_input").toolCalls).toEqual({ file_search: 1 })
  })

  it("code_interpreter_call items count one session per container, however many calls share it", () => {
    const payload = {
      object: "response", id: "resp_ci", model: "gpt-4.1", status: "completed",
      output: [
        { type: "code_interpreter_call", id: "ci_1", container_id: "cntr_a", status: "completed" },
        { type: "code_interpreter_call", id: "ci_2", container_id: "cntr_a", status: "completed" },
        { type: "code_interpreter_call", id: "ci_3", container_id: "cntr_b", status: "completed" },
        { type: "message", id: "msg_1", role: "assistant", content: [] }
      ],
      usage: { input_tokens: 100, output_tokens: 20, total_tokens: 120 }
    }
    expect(Fixtures.success(run(payload)).usage.toolCalls).toEqual({ code_interpreter_session: 2 })
  })

  it("in a stream the terminal event's usage and actual service tier are used, not response.created's", () => {
    const call = Fixtures.success(Fixtures.normalize("openai/responses_stream_events"))
    expect(call.serviceTier).toBe("flex")
    expect(call.usage.tokens).toEqual({ inputText: 64, cacheRead: 256, outputText: 18, reasoning: 448 })
  })

  it("total_tokens that disagrees with input + output is a total-mismatch error", () => {
    const payload = { object: "response", id: "resp_x", model: "o3", status: "completed", output: [], usage: { input_tokens: 10, output_tokens: 5, total_tokens: 16 } }
    expect(Fixtures.failure(run(payload))).toMatchObject({ reason: "total-mismatch", path: "usage.total_tokens" })
  })

  it("a failed response without usage is not billable", () => {
    const payload = { object: "response", id: "resp_x", model: "o3", status: "failed", output: [], usage: null, error: { code: "server_error", message: "boom" } }
    expect(Fixtures.failure(run(payload)).reason).toBe("failed-response")
  })
})

describe("OpenAI Embeddings, Images, audio, Realtime", () => {
  it("embedding prompt tokens are embedding tokens, and total_tokens must equal prompt_tokens", () => {
    expect(Fixtures.usageOf("openai/embeddings").tokens).toEqual({ embedding: 12 })
    const payload = { object: "list", data: [{ object: "embedding", index: 0, embedding: [0.1] }], model: "text-embedding-3-small", usage: { prompt_tokens: 12, total_tokens: 13 } }
    expect(Fixtures.failure(run(payload)).reason).toBe("total-mismatch")
  })

  it("image input tokens are text + image tokens, output tokens are image tokens", () => {
    expect(Fixtures.usageOf("openai/images_generation_gpt_image").tokens).toEqual({ inputText: 10, inputImage: 40, outputImage: 50 })
    expect(Fixtures.usageOf("openai/images_edit_output_details").tokens).toEqual({ inputText: 30, inputImage: 768, outputImage: 1056 })
  })

  it("an image input split that does not add up to input_tokens is a total-mismatch error", () => {
    const payload = { created: 1, data: [{ b64_json: "x" }], usage: { input_tokens: 50, input_tokens_details: { text_tokens: 10, image_tokens: 30 }, output_tokens: 50, total_tokens: 100 } }
    expect(Fixtures.failure(run(payload))).toMatchObject({ reason: "total-mismatch", path: "usage.input_tokens" })
  })

  it("DALL·E images without usage are counted per image by the request's size and quality", () => {
    expect(Fixtures.usageOf("openai/images_dalle3_per_image").imagesGenerated).toEqual({ "1024x1792/hd": 1 })
    expect(usage({ created: 1, data: [{ url: "a" }, { url: "b" }] }).imagesGenerated).toEqual({ "*": 2 })
  })

  it("token-billed transcription: input = prompt text + audio tokens, output = transcript tokens", () => {
    expect(Fixtures.usageOf("openai/audio_transcription_tokens").tokens).toEqual({ inputAudio: 14, outputText: 45 })
    const payload = { text: "hi", usage: { type: "tokens", input_tokens: 20, input_token_details: { text_tokens: 6, audio_tokens: 14 }, output_tokens: 2, total_tokens: 22 } }
    expect(usage(payload).tokens).toEqual({ inputText: 6, inputAudio: 14, outputText: 2 })
  })

  it("duration-billed transcription keeps the seconds as an exact decimal", () => {
    expect(Fixtures.usageOf("openai/audio_transcription_duration")).toEqual({ tokens: {}, audioSeconds: "9.5" })
    expect(usage({ text: "hi", duration: 61.25, language: "english", segments: [] }, { api: "audio.transcriptions" })).toEqual({ tokens: {}, audioSeconds: "61.25" })
  })

  it("streamed transcription takes the usage from transcript.text.done", () => {
    const events = [
      { type: "transcript.text.delta", delta: "Hel" },
      { type: "transcript.text.done", text: "Hello", usage: { type: "tokens", input_tokens: 14, input_token_details: { text_tokens: 0, audio_tokens: 14 }, output_tokens: 45, total_tokens: 59 } }
    ]
    expect(usage({ events })).toEqual(Fixtures.usageOf("openai/audio_transcription_tokens"))
  })

  it("realtime cached tokens are split by modality and taken out of each modality", () => {
    expect(Fixtures.usageOf("openai/realtime_response_done").tokens).toEqual({ inputText: 128, cacheRead: 512, cacheReadAudio: 576, inputAudio: 244, outputText: 61, outputAudio: 224 })
  })

  it("realtime cached-token details must add up to cached_tokens", () => {
    const event = Fixtures.load("openai/realtime_response_done").payload as { response: { usage: { input_token_details: { cached_tokens: number } } } }
    const broken = structuredClone(event)
    broken.response.usage.input_token_details.cached_tokens = 1000
    expect(Fixtures.failure(run(broken))).toMatchObject({ reason: "total-mismatch", path: "response.usage.input_token_details.cached_tokens" })
  })

  it("several realtime response.done turns add up", () => {
    const event = Fixtures.load("openai/realtime_response_done").payload
    const call = Fixtures.success(run({ events: [{ type: "session.created", session: { model: "gpt-realtime-2025-08-28" } }, event, event] }))
    expect(call.usage.tokens).toEqual({ inputText: 256, cacheRead: 1024, cacheReadAudio: 1152, inputAudio: 488, outputText: 122, outputAudio: 448 })
    expect(call.model).toBe("gpt-realtime-2025-08-28")
  })
})

describe("OpenAI Batch", () => {
  it("a batch output line is billed as a batch call", () => {
    const call = Fixtures.success(Fixtures.normalize("openai/batch_output_line"))
    expect(call.batch).toBe(true)
    expect(call.usage.batch).toBe(true)
  })

  it("a failed batch line is not billable, and normalizeBatchOutput isolates it from the others", () => {
    expect(Fixtures.failure(Fixtures.normalize("openai/batch_output_line_failed")).reason).toBe("failed-response")
    const good = JSON.stringify(Fixtures.load("openai/batch_output_line").payload)
    const bad = JSON.stringify(Fixtures.load("openai/batch_output_line_failed").payload)
    const results = Normalize.normalizeBatchOutput({ provider: "openai", text: `${good}\n${bad}\n\nnot json\n` })
    expect(results.map((r) => [r.line, r.customId, r.result._tag])).toEqual([
      [1, "request-2", "Success"], [2, "request-7", "Failure"], [4, undefined, "Failure"]
    ])
    const first = results[0]!.result
    expect(Result.isSuccess(first) && first.success.usage.batch).toBe(true)
  })

  it("the caller's batch flag marks any call as batch, and the call's flag and its usage's always agree", () => {
    const call = Fixtures.success(Fixtures.normalize("openai/chat_completion_basic", { batch: true }))
    expect(call.batch).toBe(true)
    expect(NormalizedCall.toJson(call).usage.batch).toBe(true)
    const overridden = Fixtures.success(Fixtures.normalize("anthropic/messages_batch_tier", { batch: false }))
    expect([overridden.batch, overridden.usage.batch]).toEqual([false, undefined])
  })
})

describe("Azure OpenAI", () => {
  it("uses OpenAI's inclusion rules and the underlying model name", () => {
    const call = Fixtures.success(Fixtures.normalize("azure/chat_completion_content_filter"))
    expect(call.model).toBe("gpt-4o-2024-08-06")
  })

  it("the first stream chunk's empty id and model are skipped", () => {
    const call = Fixtures.success(Fixtures.normalize("azure/chat_stream_model_router"))
    expect(call.responseId).toBe("chatcmpl-CBpXz1kBdTQy2Cf63lYXkfVlZcDIv")
    expect(call.model).toBe("gpt-5-nano-2025-08-07")
    expect(call.usage.tokens).toEqual({ inputText: 15, outputText: 14, reasoning: 64 })
  })

  it("a prompt blocked by the content filter is a failed-response error", () => {
    const error = Fixtures.failure(Fixtures.normalize("azure/chat_prompt_filter_blocked"))
    expect(error.reason).toBe("failed-response")
    expect(error.message).toContain("content_filter")
  })
})
