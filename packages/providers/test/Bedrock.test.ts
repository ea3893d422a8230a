import { describe, expect, it } from "vitest"
import { Normalize } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const converse = (usage: Record<string, unknown>) => ({ output: { message: { role: "assistant", content: [{ text: "ok" }] } }, stopReason: "end_turn", usage })
const run = (payload: unknown, more: Partial<Normalize.NormalizeInput> = {}) => Normalize.normalize({ provider: "bedrock", payload, ...more })

describe("Bedrock Converse", () => {
  it("inputTokens excludes cache reads and writes; totalTokens includes them", () => {
    expect(Fixtures.usageOf("bedrock/converse_prompt_cache").tokens).toEqual({ inputText: 24, cacheRead: 5120, cacheWrite5m: 610, cacheWrite1h: 1200, outputText: 412 })
  })

  it("totalTokens that disagrees with input + output + cache read + cache write is a total-mismatch error", () => {
    const error = Fixtures.failure(run(converse({ inputTokens: 24, outputTokens: 412, totalTokens: 436, cacheReadInputTokens: 5120 })))
    expect(error).toMatchObject({ reason: "total-mismatch", path: "usage.totalTokens" })
  })

  it("cacheDetails split cache writes by TTL and must add up to cacheWriteInputTokens", () => {
    const error = Fixtures.failure(run(converse({ inputTokens: 1, outputTokens: 1, totalTokens: 102, cacheWriteInputTokens: 100, cacheDetails: [{ ttl: "1h", inputTokens: 60 }] })))
    expect(error).toMatchObject({ reason: "total-mismatch", path: "usage.cacheWriteInputTokens" })
  })

  it("the wire's duplicate cache fields must agree with the documented ones", () => {
    const error = Fixtures.failure(run(converse({ inputTokens: 1, outputTokens: 1, totalTokens: 12, cacheReadInputTokens: 10, cacheReadInputTokenCount: 9 })))
    expect(error).toMatchObject({ reason: "inconsistent", path: "usage.cacheReadInputTokenCount" })
  })

  it("serviceTier.type is the service tier; the model comes from the request", () => {
    const call = Fixtures.success(Fixtures.normalize("bedrock/converse_prompt_cache", { model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0" }))
    expect([call.serviceTier, call.model]).toEqual(["default", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"])
  })

  it("server tool usage counts become tool calls", () => {
    expect(Fixtures.success(run(converse({ inputTokens: 1, outputTokens: 1, totalTokens: 2, serverToolUsage: { webSearch: 2 } }))).usage.toolCalls).toEqual({ webSearch: 2 })
  })

  it("ConverseStream takes the usage from its single metadata event", () => {
    // The same numbers as the non-streamed converse_prompt_cache response.
    expect(Fixtures.usageOf("bedrock/converse_stream_events").tokens).toEqual(Fixtures.usageOf("bedrock/converse_prompt_cache").tokens)
  })
})

describe("Bedrock corrections", () => {
  it("OpenAI-family models reporting inputTokens including cache tokens are corrected (bedrock.openai-input-includes-cache)", () => {
    const call = Fixtures.success(Fixtures.normalize("bedrock/converse_stream_openai_cache_double_count"))
    expect(call.usage.tokens).toEqual({ inputText: 2, cacheWrite5m: 4993, outputText: 19 })
    expect(call.corrections.map((c) => c.rule)).toEqual(["bedrock.openai-input-includes-cache"])
  })

  it("the correction applies to no other model family", () => {
    const call = Fixtures.success(Fixtures.normalize("bedrock/converse_stream_openai_cache_double_count", { model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0" }))
    expect(call.usage.tokens).toEqual({ inputText: 4995, cacheWrite5m: 4993, outputText: 19 })
    expect(call.corrections).toEqual([])
  })
})

describe("Bedrock InvokeModel", () => {
  it("token counts come from the x-amzn-bedrock-* headers, input exclusive of cache", () => {
    const call = Fixtures.success(Fixtures.normalize("bedrock/invoke_model_llama_headers"))
    expect(call.api).toBe("invokeModel")
    expect(call.usage.tokens).toEqual({ inputText: 31, outputText: 126 })
    const headersOnly = { status: 200, headers: { "x-amzn-bedrock-input-token-count": "10", "x-amzn-bedrock-output-token-count": "5", "x-amzn-bedrock-cache-read-input-token-count": "100", "x-amzn-bedrock-cache-write-input-token-count": "20" } }
    expect(Fixtures.success(run(headersOnly)).usage.tokens).toEqual({ inputText: 10, cacheRead: 100, cacheWrite5m: 20, outputText: 5 })
  })

  it("a non-numeric token-count header is a malformed error naming the header", () => {
    const error = Fixtures.failure(run({ status: 200, headers: { "X-Amzn-Bedrock-Input-Token-Count": "12.5" }, body: {} }))
    expect(error).toMatchObject({ reason: "malformed", path: "headers[\"X-Amzn-Bedrock-Input-Token-Count\"]" })
  })

  it("a Claude body gives the TTL split and must agree with the headers", () => {
    expect(Fixtures.usageOf("bedrock/invoke_model_claude_headers").tokens).toEqual({ inputText: 18, cacheRead: 4096, cacheWrite1h: 2048, outputText: 240 })
    const capture = structuredClone(Fixtures.load("bedrock/invoke_model_claude_headers").payload) as { headers: Record<string, string> }
    capture.headers["X-Amzn-Bedrock-Output-Token-Count"] = "241"
    expect(Fixtures.failure(run(capture))).toMatchObject({ reason: "inconsistent", path: "headers[\"X-Amzn-Bedrock-Output-Token-Count\"]" })
  })

  it("streamed Claude events are accumulated and checked against amazon-bedrock-invocationMetrics", () => {
    expect(Fixtures.usageOf("bedrock/invoke_model_stream_claude").tokens).toEqual({ inputText: 25, outputText: 12 })
  })

  it("stream chunks given as base64 bytes are decoded", () => {
    const chunks = (Fixtures.load("bedrock/invoke_model_stream_claude").payload as { chunks: Array<unknown> }).chunks
    const encoded = chunks.map((c) => ({ chunk: { bytes: Buffer.from(JSON.stringify(c)).toString("base64") } }))
    expect(Fixtures.success(run({ chunks: encoded })).usage.tokens).toEqual({ inputText: 25, outputText: 12 })
    expect(Fixtures.failure(run({ chunks: [{ chunk: { bytes: "!!" } }] }))).toMatchObject({ reason: "malformed", path: "chunks[0].chunk.bytes" })
  })

  it("a throttled call (HTTP 429) is not billable", () => {
    expect(Fixtures.failure(run({ status: 429, headers: { "x-amzn-errortype": "ThrottlingException" }, body: { message: "Too many requests" } }, { api: "invokeModel" })).reason).toBe("failed-response")
  })
})
