import { it as effectIt } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { Normalize, NormalizedCall } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const streamOf = (name: string): Array<unknown> => {
  const payload = Fixtures.load(name).payload as { chunks?: Array<unknown>; events?: Array<unknown> }
  return payload.chunks ?? payload.events ?? []
}

describe("the provider registry", () => {
  it("resolves ids and aliases case-insensitively", () => {
    expect(["OpenAI", "gemini", "Vertex", "azure-openai", "amazon-bedrock"].map(Normalize.resolveProvider)).toEqual(["openai", "google", "google", "azure", "bedrock"])
    expect(Normalize.resolveProvider("acme")).toBeUndefined()
  })

  it("an unknown provider is an unsupported error naming it", () => {
    const error = Fixtures.failure(Normalize.normalize({ provider: "acme", payload: {} }))
    expect(error).toMatchObject({ provider: "acme", reason: "unsupported" })
  })

  it("an api the provider does not serve is an unsupported error", () => {
    const error = Fixtures.failure(Normalize.normalize({ provider: "anthropic", api: "embeddings", payload: {} }))
    expect(error.reason).toBe("unsupported")
    expect(error.message).toContain("messages")
  })

  it("the api is detected from the payload's shape when not given", () => {
    const detected = Fixtures.names()
      .filter((name) => !["openai/org_costs", "openai/org_usage_completions", "anthropic/admin_cost_report", "azure/chat_prompt_filter_blocked", "openai/batch_output_line_failed"].includes(name))
      .map((name) => [name, Fixtures.success(Fixtures.normalize(name)).api] as const)
    expect(Object.fromEntries(detected)).toMatchObject({
      "openai/chat_completion_basic": "chat.completions",
      "openai/responses_reasoning": "responses",
      "openai/embeddings": "embeddings",
      "openai/images_generation_gpt_image": "images",
      "openai/audio_transcription_tokens": "audio.transcriptions",
      "openai/realtime_response_done": "realtime",
      "openai/batch_output_line": "batch",
      "anthropic/messages_basic": "messages",
      "google/gemini_stream_chunks": "generateContent",
      "bedrock/converse_basic": "converse",
      "bedrock/invoke_model_llama_headers": "invokeModel",
      "cohere/rerank_v2": "rerank",
      "otel/span_attributes": "span"
    })
  })

  it("every registered provider lists the apis it serves", () => {
    for (const id of NormalizedCall.ProviderIds) expect(Normalize.apisOf(id).length, id).toBeGreaterThan(0)
  })

  it("an undetectable payload asks for the api", () => {
    expect(Fixtures.failure(Normalize.normalize({ provider: "openai", payload: { hello: "world" } }))).toMatchObject({ reason: "unsupported" })
  })
})

describe("payload shapes", () => {
  const name = "openai/chat_stream_include_usage"
  const expected = () => Fixtures.usageOf(name)
  const chunks = streamOf(name)
  const normalizeUsage = (payload: unknown) => Fixtures.usageJson(Fixtures.success(Normalize.normalize({ provider: "openai", payload })).usage)

  it("a JSON array of chunks equals {chunks}", () => {
    expect(normalizeUsage(chunks)).toEqual(expected())
  })

  it("SSE text with a [DONE] sentinel equals the chunk list", () => {
    const sse = `${chunks.map((c) => `data: ${JSON.stringify(c)}`).join("\n\n")}\n\ndata: [DONE]\n\n`
    expect(normalizeUsage(sse)).toEqual(expected())
  })

  it("SSE with CRLF line ends, comments and multi-line data equals the chunk list", () => {
    const sse = `: keep-alive\r\n\r\n${chunks.map((c) => `data: ${JSON.stringify(c, null, 1).split("\n").join("\r\ndata: ")}`).join("\r\n\r\n")}\r\n`
    expect(normalizeUsage(sse)).toEqual(expected())
  })

  it("NDJSON text equals the chunk list", () => {
    expect(normalizeUsage(chunks.map((c) => JSON.stringify(c)).join("\n"))).toEqual(expected())
  })

  it("a JSON document passed as text equals the parsed object", () => {
    const payload = Fixtures.load("openai/chat_completion_basic").payload
    expect(normalizeUsage(JSON.stringify(payload))).toEqual(Fixtures.usageOf("openai/chat_completion_basic"))
  })

  it("an HTTP capture whose body is SSE text is read like the stream", () => {
    const body = chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join("")
    expect(normalizeUsage({ status: 200, headers: [["content-type", "text/event-stream"]], body })).toEqual(expected())
  })

  it("text that is neither JSON nor SSE nor NDJSON is a malformed error naming the line", () => {
    expect(Fixtures.failure(Normalize.normalize({ provider: "openai", payload: "{\"ok\": 1}\nnot json" }))).toMatchObject({ reason: "malformed", path: "stream[1]" })
    expect(Fixtures.failure(Normalize.normalize({ provider: "openai", payload: "data: {broken\n\n" }))).toMatchObject({ reason: "malformed", path: "stream[0]" })
  })

  it("an empty stream has nothing to normalize", () => {
    expect(Fixtures.failure(Normalize.normalize({ provider: "openai", api: "chat.completions", payload: [] })).reason).toBe("malformed")
  })

  it("the raw payload is returned exactly as given, text included", () => {
    const text = chunks.map((c) => JSON.stringify(c)).join("\n")
    expect(Fixtures.success(Normalize.normalize({ provider: "openai", payload: text })).raw).toBe(text)
  })

  it("the caller's model fills in for payloads that do not name one", () => {
    expect(Fixtures.success(Fixtures.normalize("bedrock/converse_basic", { model: "anthropic.claude-3-7-sonnet-20250219-v1:0" })).model).toBe("anthropic.claude-3-7-sonnet-20250219-v1:0")
    expect(Fixtures.success(Fixtures.normalize("openai/chat_completion_basic", { model: "ignored" })).model).toBe("gpt-4.1-nano-2025-04-14")
  })
})

describe("normalizeEffect", () => {
  effectIt.effect("succeeds with the NormalizedCall", () =>
    Effect.gen(function*() {
      const fixture = Fixtures.load("anthropic/messages_basic")
      const call = yield* Normalize.normalizeEffect({ provider: fixture.provider, payload: fixture.payload })
      expect(call.usage.tokens).toEqual({ inputText: 12, outputText: 29 })
    }))

  effectIt.effect("fails with the typed NormalizeError, catchable by tag", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Normalize.normalizeEffect({ provider: "openai", payload: { usage: { prompt_tokens: -1 }, choices: [] } }))
      expect(Exit.isFailure(exit)).toBe(true)
      const reason = yield* Normalize.normalizeEffect({ provider: "openai", payload: { usage: { prompt_tokens: -1 }, choices: [] } }).pipe(
        Effect.map(() => "none"),
        Effect.catchTag("NormalizeError", (error) => Effect.succeed(error.reason))
      )
      expect(reason).toBe("negative")
    }))
})
