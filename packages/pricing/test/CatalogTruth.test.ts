/**
 * From provider payload to bill with the shipped catalog: batch calls at the published batch
 * rate, OpenAI priority and flex calls (service_tier in the response) at their tier rates, and
 * audio-preview audio tokens at audio rates. Payloads are OpenAI / Anthropic response shapes with
 * illustrative counts; arithmetic in the comments (rates per 1M tokens).
 */
import { BuiltInCatalog, PriceBook } from "@tally/catalog"
import { Money, UsageRecord } from "@tally/core"
import { Normalize } from "@tally/providers"
import { DateTime, Result } from "effect"
import { describe, expect, it } from "vitest"
import { Costing } from "../src/index.ts"

const book = Result.getOrThrow(PriceBook.make({ builtIn: Result.getOrThrow(BuiltInCatalog.loadSync()) }))
const AT = "2025-11-01T12:00:00Z"

const chat = (model: string, usage: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: "chatcmpl-1", object: "chat.completion", created: 1761998400, model,
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage, ...extra
})

const costOf = (provider: string, payload: unknown, api?: string) => {
  const call = Result.getOrThrow(Normalize.normalize({ provider, payload, ...(api === undefined ? {} : { api }) }))
  return Costing.cost(book, call, { at: AT })
}

describe("the shipped catalog bills published rates end to end", () => {
  const usage = { prompt_tokens: 30_000, completion_tokens: 2_000, total_tokens: 32_000, prompt_tokens_details: { cached_tokens: 10_000 } }

  it("an OpenAI gpt-5 call with service_tier priority is billed at the priority prices", () => {
    // 20,000 x 2.50 + 10,000 x 0.25 + 2,000 x 20.00 = 0.05 + 0.0025 + 0.04
    const costed = costOf("openai", chat("gpt-5-2025-08-07", usage, { service_tier: "priority" }))
    expect(costed.costSource).toBe("computed")
    expect(Money.format(costed.total!)).toBe("0.0925")
    expect(costed.breakdown!.lines.every((l) => l.conditions.includes("service-tier:priority(x2)"))).toBe(true)
  })

  it("an OpenAI gpt-5 call with service_tier flex is billed at the flex (batch) prices", () => {
    // 20,000 x 0.625 + 10,000 x 0.0625 + 2,000 x 5.00 = 0.0125 + 0.000625 + 0.01
    const costed = costOf("openai", chat("gpt-5-2025-08-07", usage, { service_tier: "flex" }))
    expect(Money.format(costed.total!)).toBe("0.023125")
  })

  it("the same call on the default tier is billed at list, with no tier condition", () => {
    // 20,000 x 1.25 + 10,000 x 0.125 + 2,000 x 10 = 0.025 + 0.00125 + 0.02
    const costed = costOf("openai", chat("gpt-5-2025-08-07", usage, { service_tier: "default" }))
    expect(Money.format(costed.total!)).toBe("0.04625")
    expect(costed.breakdown!.lines.every((l) => l.conditions.length === 0)).toBe(true)
  })

  it("an OpenAI Batch API output line is billed at 50% of list", () => {
    // gpt-4o-mini: (1,000 x 0.15 + 500 x 0.60) / 2 = (0.00015 + 0.0003) / 2
    const line = {
      id: "batch_req_1", custom_id: "r1",
      response: { status_code: 200, request_id: "req_1", body: chat("gpt-4o-mini-2024-07-18", { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 }) },
      error: null
    }
    const costed = costOf("openai", line)
    expect(costed.call.batch).toBe(true)
    expect(Money.format(costed.total!)).toBe("0.000225")
    expect(costed.breakdown!.lines.every((l) => l.conditions.includes("batch:-50%"))).toBe(true)
  })

  it("an Anthropic call flagged batch is billed at 50% of list", () => {
    // claude-sonnet-4-5: (2,000 x 3 + 1,000 x 15) / 2 = (0.006 + 0.015) / 2
    const message = {
      id: "msg_1", type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929",
      content: [{ type: "text", text: "ok" }], stop_reason: "end_turn",
      usage: { input_tokens: 2000, output_tokens: 1000, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 }
    }
    const call = Result.getOrThrow(Normalize.normalize({ provider: "anthropic", payload: message }))
    // How a Message Batches result arrives is the providers' concern; the flag is what the engine applies.
    const costed = Costing.cost(book, { ...call, batch: true, usage: { ...call.usage, batch: true } }, { at: AT })
    expect(Money.format(costed.total!)).toBe("0.0105")
  })

  it("gpt-4o-audio-preview audio tokens are billed at the audio rates, not the text rates", () => {
    // text in 200 x 2.50, audio in 5,000 x 40, text out 100 x 10, audio out 3,000 x 80
    // = 0.0005 + 0.2 + 0.001 + 0.24 = 0.4415 (at the text rates it would be 0.0005 + 0.0125 + 0.001 + 0.03 = 0.044, 10x under)
    const costed = costOf("openai", chat("gpt-4o-audio-preview-2025-06-03", {
      prompt_tokens: 5200, completion_tokens: 3100, total_tokens: 8300,
      prompt_tokens_details: { audio_tokens: 5000, cached_tokens: 0 },
      completion_tokens_details: { audio_tokens: 3000, reasoning_tokens: 0 }
    }))
    expect(Money.format(costed.total!)).toBe("0.4415")
    const audio = costed.breakdown!.lines.filter((l) => l.component.endsWith("Audio"))
    expect(audio.map((l) => [l.component, l.rateSource, l.conditions])).toEqual([
      ["inputAudio", "rates.inputAudio", []],
      ["outputAudio", "rates.outputAudio", []]
    ])
  })
})

describe("partial pricing: a call with a component lacking a rate keeps its priced lines", () => {
  it("an Anthropic call with web searches on a model without a search price is partial, never $0", () => {
    // claude-3-haiku: 2,000 x 0.25 + 500 x 1.25 per 1M = 0.0005 + 0.000625; the 2 searches have no price.
    const message = {
      id: "msg_2", type: "message", role: "assistant", model: "claude-3-haiku-20240307",
      content: [{ type: "text", text: "ok" }], stop_reason: "end_turn",
      usage: { input_tokens: 2000, output_tokens: 500, server_tool_use: { web_search_requests: 2 } }
    }
    const costed = costOf("anthropic", message)
    expect(costed.costSource).toBe("partial")
    expect(Money.format(costed.total!)).toBe("0.001125")
    expect(costed.breakdown!.lines.map((l) => l.component)).toEqual(["inputText", "outputText"])
    expect(costed.breakdown!.missing!.map((m) => [m.component, Money.format(m.quantity), m.unit])).toEqual([["webSearches", "2", "search"]])
    expect(costed.unpriced).toMatchObject({ reason: "missing-rate" })
    expect(costed.unpriced!.message).toContain("unpriced: webSearches (2 searches)")
    // As the ledger records it: the rules of a partial record hold.
    const record = Costing.toUsageRecord(costed, { requestId: "msg_2", occurredAt: DateTime.makeUnsafe(AT), labels: {}, tags: {} })
    expect(UsageRecord.checkRules(record)).toBeUndefined()
    expect(record.unpricedReason).toContain("missing-rate")
  })

  it("a provider-billed call keeps the provider's figure, without a partial breakdown of its own", () => {
    const body = chat("gpt-4o-mini", { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, cost: 0.0001 })
    const call = Result.getOrThrow(Normalize.normalize({ provider: "openrouter", payload: body }))
    const costed = Costing.cost(book, { ...call, usage: { ...call.usage, webSearches: 1, toolCalls: { no_such_tool: 1 } } }, { at: AT })
    expect(costed.costSource).toBe("provider")
  })
})
