import { PricingSnapshot } from "@tally/core"
import { describe, expect, it } from "vitest"
import * as Coverage from "../src/Coverage.ts"
import * as MatchRule from "../src/MatchRule.ts"
import { book, definition, shippedCatalog } from "./support/Builders.ts"

const AT = "2026-05-01T12:00:00Z"

describe("coverage", () => {
  const b = book({ builtIn: shippedCatalog() })

  const report = Coverage.coverage(b, [
    { provider: "openai", model: "gpt-4o-2024-08-06", count: 1200, at: AT, usage: { tokens: { inputText: 1_000_000, outputText: 100_000 } } },
    { provider: "openai", model: "gpt-4o-mini", count: 30, at: AT },
    // cohere's command-r has no training rate: the training tokens are an unpriced bucket.
    { provider: "cohere", model: "command-r-08-2024", count: 40, at: AT, usage: { tokens: { inputText: 2_000_000, outputText: 10_000, training: 500_000 } } },
    // Anthropic prices no per-tool calls: not estimable.
    { provider: "anthropic", model: "claude-sonnet-4-5", count: 5, at: AT, usage: { tokens: { inputText: 1000 }, toolCalls: { code_execution: 3 } } },
    { provider: "openai", model: "my-finetune-v7", count: 75, at: AT, usage: { tokens: { inputText: 1_000_000, outputText: 1_000_000 } } },
    { provider: "vllm-internal", model: "llama-3.3-70b", count: 500, at: AT }
  ], { reference: PricingSnapshot.decodeSnapshot({ provider: "reference", modelKey: "typical", rates: { inputText: "1", outputText: "4" } }) })

  it("classifies each name as matched, unpriced bucket or unmatched, worst first", () => {
    expect(report.entries.map((e) => [e.model, e.status])).toEqual([
      ["llama-3.3-70b", "unmatched"],
      ["my-finetune-v7", "unmatched"],
      ["command-r-08-2024", "unpriced-bucket"],
      ["claude-sonnet-4-5", "unpriced-bucket"],
      ["gpt-4o-2024-08-06", "matched"],
      ["gpt-4o-mini", "matched"]
    ])
    expect(report.matched).toEqual({ names: 2, calls: 1230 })
    expect(report.unpricedBucket).toEqual({ names: 2, calls: 45 })
    expect(report.unmatched).toEqual({ names: 2, calls: 575 })
  })

  it("counts names priced by a fallback rate and names the fallbacks", () => {
    const fallback = Coverage.coverage(b, [
      // gpt-4o lists no audio price: audio input is priced at the text rate, and said so.
      { provider: "openai", model: "gpt-4o", count: 7, at: AT, usage: { tokens: { inputText: 1000, inputAudio: 500 } } },
      // Own rates only: no fallback.
      { provider: "openai", model: "gpt-4o-audio-preview", count: 3, at: AT, usage: { tokens: { inputAudio: 500, outputAudio: 100 } } }
    ])
    expect(fallback.entries.map((e) => [e.model, e.status, e.fallbacks])).toEqual([
      ["gpt-4o", "matched", ["inputAudio:priced-at-inputText-rate"]],
      ["gpt-4o-audio-preview", "matched", []]
    ])
    expect(fallback.pricedByFallback).toEqual({ names: 1, calls: 7 })
  })

  it("prices what it can exactly and estimates the cost at risk, saying how", () => {
    const entry = (model: string) => report.entries.find((e) => e.model === model)!
    expect(entry("gpt-4o-2024-08-06")).toMatchObject({ definitionId: "openai/gpt-4o", cost: "3.5", costAtRisk: null, tokensAtRisk: 0 })
    expect(entry("gpt-4o-mini")).toMatchObject({ definitionId: "openai/gpt-4o-mini", cost: null })
    // Training tokens estimated at the input text rate (0.15 per 1M); the rest priced.
    expect(entry("command-r-08-2024")).toMatchObject({ missingComponents: ["training"], cost: "0.306", costAtRisk: "0.075", tokensAtRisk: 500_000 })
    expect(entry("claude-sonnet-4-5")).toMatchObject({ missingComponents: ["toolCall:code_execution"], cost: "0.003", costAtRisk: null, costAtRiskBasis: "not estimated: toolCall:code_execution" })
    // Unmatched usage priced with the reference snapshot.
    expect(entry("my-finetune-v7")).toMatchObject({ definitionId: null, costAtRisk: "5", tokensAtRisk: 2_000_000 })
    expect(entry("my-finetune-v7").reason).toContain("no-rule-matched")
    expect(entry("llama-3.3-70b")).toMatchObject({ costAtRisk: null, tokensAtRisk: 0 })
    expect(entry("llama-3.3-70b").reason).toContain("unknown-provider")
    expect(report.costAtRisk).toEqual({ USD: "5.075" })
    expect(report.tokensAtRisk).toBe(2_500_000)
  })

  it("sums cost at risk per currency", () => {
    const withEuro = book({
      builtIn: shippedCatalog(),
      layers: [{
        id: "acme",
        scope: { tenant: "acme" },
        definitions: [definition({ id: "acme/llama", provider: "vllm-internal", match: MatchRule.equals("llama-3.3-70b"), history: [{ version: 1, snapshot: { provider: "vllm-internal", modelKey: "llama-3.3-70b", currency: "EUR", rates: { inputText: "0.4", outputText: "0.4" } } }] })]
      }]
    })
    const r = Coverage.coverage(withEuro, [
      { provider: "vllm-internal", model: "llama-3.3-70b", count: 10, at: AT, scope: { tenant: "acme" }, usage: { tokens: { inputText: 1_000_000, reasoning: 0, cacheRead: 2_000_000 } } },
      { provider: "cohere", model: "command-r", count: 1, at: AT, scope: { tenant: "acme" }, usage: { tokens: { training: 1_000_000 } } }
    ])
    expect(r.entries.map((e) => [e.model, e.status, e.currency, e.cost, e.costAtRisk])).toEqual([
      ["llama-3.3-70b", "unpriced-bucket", "EUR", "0.4", "0.8"],
      ["command-r", "unpriced-bucket", "USD", "0", "0.15"]
    ])
    expect(r.costAtRisk).toEqual({ EUR: "0.8", USD: "0.15" })
  })
})
