import { Usage } from "@tally/core"
import { describe, expect, it } from "vitest"
import { Reports } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const report = (name: string) => {
  const fixture = Fixtures.load(name)
  return Fixtures.success(Reports.normalize({ provider: fixture.provider, payload: fixture.payload }))
}

describe("provider cost and usage reports", () => {
  it("Anthropic cost amounts are cents as decimal strings: \"123.45\" is $1.2345", () => {
    const costs = report("anthropic/admin_cost_report")
    expect(costs.kind === "costs" && costs.rows.map((r) => [r.amount.toFixed(), r.currency])).toEqual([["1.2345", "USD"], ["0.75", "USD"], ["1", "USD"]])
  })

  it("OpenAI cost amounts are dollars as JSON numbers, currency upper-cased", () => {
    const costs = report("openai/org_costs")
    expect(costs.kind === "costs" && costs.rows.map((r) => [r.amount.toFixed(), r.currency, r.start])).toEqual([["0.06", "USD", "2024-11-01T00:00:00.000Z"]])
  })

  it("OpenAI usage rows: input includes cached and cache-write tokens, modality counts are uncached, and buckets conserve input + output", () => {
    const usage = report("openai/org_usage_completions")
    if (usage.kind !== "usage") throw new Error("expected a usage report")
    const row = usage.rows[0]!
    expect(Usage.totalTokens(row.usage)).toBe(1000 + 500)
    expect(row.usage.requests).toBe(5)
  })

  it("an OpenAI usage row whose uncached count disagrees with input − cached − cache-write is inconsistent", () => {
    const payload = structuredClone(Fixtures.load("openai/org_usage_completions").payload) as { data: Array<{ results: Array<Record<string, unknown>> }> }
    payload.data[0]!.results[0]!["input_uncached_tokens"] = 501
    const error = Fixtures.failure(Reports.normalize({ provider: "openai", payload }))
    expect(error).toMatchObject({ reason: "inconsistent", path: "data[0].results[0].input_uncached_tokens" })
  })

  it("Anthropic usage rows keep cache writes by TTL and web searches", () => {
    const payload = { data: [{ starting_at: "2025-08-01T00:00:00Z", ending_at: "2025-08-02T00:00:00Z", results: [{
      uncached_input_tokens: 1500, cache_creation: { ephemeral_1h_input_tokens: 1000, ephemeral_5m_input_tokens: 500 }, cache_read_input_tokens: 200,
      output_tokens: 500, server_tool_use: { web_search_requests: 10 }, model: "claude-sonnet-4-20250514", service_tier: "batch"
    }] }], has_more: false }
    const usage = Fixtures.success(Reports.normalize({ provider: "anthropic", payload }))
    expect(Reports.toJson(usage)).toMatchObject({ kind: "usage", rows: [{ usage: { tokens: { inputText: 1500, cacheRead: 200, cacheWrite5m: 500, cacheWrite1h: 1000, outputText: 500 }, webSearches: 10, batch: true } }] })
  })

  it("an Anthropic cost amount that is not a decimal string is a malformed error", () => {
    const payload = { data: [{ starting_at: "a", ending_at: "b", results: [{ amount: "12,5", currency: "USD" }] }] }
    expect(Fixtures.failure(Reports.normalize({ provider: "anthropic", payload }))).toMatchObject({ reason: "malformed", path: "data[0].results[0].amount" })
  })

  it("reports of other providers are unsupported", () => {
    expect(Fixtures.failure(Reports.normalize({ provider: "google", payload: {} })).reason).toBe("unsupported")
  })
})
