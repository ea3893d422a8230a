import { describe, expect, it } from "vitest"
import { Normalize } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const message = (usage: Record<string, unknown>) => ({
  id: "msg_test",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-5-20250929",
  content: [{ type: "text", text: "ok" }],
  usage
})
const run = (payload: unknown, more: Partial<Normalize.NormalizeInput> = {}) => Normalize.normalize({ provider: "anthropic", payload, ...more })
const start = (usage: Record<string, unknown>) => ({ type: "message_start", message: { id: "msg_s", type: "message", role: "assistant", model: "claude-sonnet-4-5", content: [], usage } })
const delta = (usage: Record<string, unknown>) => ({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage })
const text = (t: string) => ({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: t } })

describe("Anthropic Messages", () => {
  it("input_tokens excludes cache reads and cache writes: each is its own bucket", () => {
    const call = Fixtures.success(Fixtures.normalize("anthropic/messages_cache_read_1h_ttl"))
    expect(call.usage.tokens).toEqual({ inputText: 21, cacheRead: 18432, cacheWrite1h: 1824, outputText: 393 })
    expect(call.usage.promptTokens).toBe(21 + 1824 + 18432)
  })

  it("the 5m and 1h cache-creation split must add up to cache_creation_input_tokens", () => {
    const error = Fixtures.failure(run(message({ input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 30, ephemeral_1h_input_tokens: 60 } })))
    expect(error).toMatchObject({ reason: "total-mismatch", path: "usage.cache_creation_input_tokens" })
  })

  it("cache writes without a TTL split are 5-minute writes (the API default)", () => {
    expect(Fixtures.success(run(message({ input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 100 }))).usage.tokens)
      .toEqual({ inputText: 1, cacheWrite5m: 100, outputText: 1 })
  })

  it("output_tokens includes thinking tokens; thinking larger than output is an exceeds-parent error", () => {
    expect(Fixtures.usageOf("anthropic/messages_thinking_tokens").tokens).toEqual({ inputText: 57, outputText: 30, reasoning: 1180 })
    const error = Fixtures.failure(run(message({ input_tokens: 1, output_tokens: 10, output_tokens_details: { thinking_tokens: 11 } })))
    expect(error).toMatchObject({ reason: "exceeds-parent", path: "usage.output_tokens_details.thinking_tokens" })
  })

  it("server_tool_use.web_search_requests counts web searches; web fetches are not billed per call", () => {
    const usage = Fixtures.usageOf("anthropic/messages_web_search")
    expect(usage.webSearches).toBe(1)
    expect(usage.toolCalls).toBeUndefined()
  })

  it("service_tier batch marks the call as batch; other tiers are kept as the service tier", () => {
    const batch = Fixtures.success(Fixtures.normalize("anthropic/messages_batch_tier"))
    expect([batch.batch, batch.usage.batch, batch.usage.serviceTier]).toEqual([true, true, undefined])
    const priority = Fixtures.success(run(message({ input_tokens: 1, output_tokens: 1, service_tier: "priority" })))
    expect([priority.batch, priority.usage.serviceTier]).toEqual([false, "priority"])
  })

  it("inference_geo sets the usage region; not_available sets none", () => {
    expect(Fixtures.success(run(message({ input_tokens: 1, output_tokens: 1, inference_geo: "us" }))).usage.region).toBe("us")
    expect(Fixtures.success(Fixtures.normalize("anthropic/messages_basic")).usage.region).toBeUndefined()
  })

  it("an error body is a failed-response error", () => {
    const error = Fixtures.failure(run({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }))
    expect(error.reason).toBe("failed-response")
    expect(error.message).toContain("overloaded_error")
  })
})

describe("Anthropic streaming", () => {
  it("message_delta usage is cumulative: it supersedes message_start, never adds to it", () => {
    expect(Fixtures.usageOf("anthropic/messages_stream_basic").tokens).toEqual({ inputText: 11, outputText: 6 })
    expect(Fixtures.usageOf("anthropic/messages_stream_web_search").tokens).toEqual({ inputText: 15665, outputText: 418 })
  })

  it("fields the message_delta omits keep their message_start values", () => {
    const events = [start({ input_tokens: 40, cache_read_input_tokens: 900, output_tokens: 1 }), text("Hi"), delta({ output_tokens: 25 })]
    expect(Fixtures.success(run({ events })).usage.tokens).toEqual({ inputText: 40, cacheRead: 900, outputText: 25 })
  })

  it("message_start's TTL split holds while the cache-creation count is unchanged", () => {
    expect(Fixtures.usageOf("anthropic/messages_stream_prompt_cache").tokens).toEqual({ inputText: 2, cacheWrite5m: 3068, outputText: 152 })
  })

  it("a changed cache-creation count drops message_start's split: the writes take its single TTL, else 5 minutes (correction)", () => {
    const events = [
      start({ input_tokens: 5, cache_creation_input_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 100 }, output_tokens: 1 }),
      delta({ input_tokens: 5, cache_creation_input_tokens: 250, output_tokens: 9 })
    ]
    const call = Fixtures.success(run({ events }))
    expect(call.usage.tokens).toEqual({ inputText: 5, cacheWrite1h: 250, outputText: 9 })
    expect(call.corrections.map((c) => c.rule)).toEqual(["anthropic.stream-cache-ttl"])
    const mixed = [
      start({ input_tokens: 5, cache_creation_input_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 40, ephemeral_1h_input_tokens: 60 }, output_tokens: 1 }),
      delta({ cache_creation_input_tokens: 250, output_tokens: 9 })
    ]
    const fallback = Fixtures.success(run({ events: mixed }))
    expect(fallback.usage.tokens).toEqual({ inputText: 5, cacheWrite5m: 250, outputText: 9 })
    expect(fallback.corrections.map((c) => c.rule)).toEqual(["anthropic.stream-cache-ttl"])
  })

  it("a stream cut before message_delta estimates its output from the streamed text and says so", () => {
    const events = [start({ input_tokens: 30, output_tokens: 1 }), text("Hello there, this is"), text(" a cut stream")]
    const call = Fixtures.success(run({ events }))
    expect(call.estimated).toBe(true)
    expect(call.encoding).toBe("cl100k_base")
    expect(call.usage.tokens.inputText).toBe(30)
    expect(call.usage.tokens.outputText).toBeGreaterThan(1)
  })

  it("a stream that fails before message_start is not billable", () => {
    expect(Fixtures.failure(run({ events: [{ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }] })).reason).toBe("failed-response")
  })

  it("the same stream as SSE text normalizes like the event list", () => {
    const events = (Fixtures.load("anthropic/messages_stream_web_search").payload as { events: Array<{ type: string }> }).events
    const sse = events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join("")
    expect(Fixtures.usageJson(Fixtures.success(run(sse)).usage)).toEqual(Fixtures.usageOf("anthropic/messages_stream_web_search"))
  })
})

describe("Anthropic iterations", () => {
  it("compaction and message iterations are summed; advisor iterations are sub-calls at the advisor's model", () => {
    const call = Fixtures.success(Fixtures.normalize("anthropic/messages_compaction_iterations"))
    expect(call.usage.tokens).toEqual({ inputText: 203000, outputText: 4500 })
    expect(call.subCalls.map((s) => [s.model, s.usage.tokens])).toEqual([["claude-haiku-4-5-20251001", { inputText: 4200, outputText: 300 }]])
  })

  it("each iteration's own cache reads and writes are kept", () => {
    const call = Fixtures.success(run(message({
      input_tokens: 10, output_tokens: 5,
      iterations: [
        { type: "compaction", input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 50, cache_creation_input_tokens: 0 },
        { type: "message", input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 0, cache_creation_input_tokens: 7 }
      ]
    })))
    expect(call.usage.tokens).toEqual({ inputText: 110, cacheRead: 50, cacheWrite5m: 7, outputText: 25 })
  })

  it("an advisor iteration without a model is a malformed error", () => {
    const error = Fixtures.failure(run(message({ input_tokens: 1, output_tokens: 1, iterations: [{ type: "advisor_message", input_tokens: 1, output_tokens: 1 }] })))
    expect(error).toMatchObject({ reason: "malformed", path: "usage.iterations[0].model" })
  })
})
