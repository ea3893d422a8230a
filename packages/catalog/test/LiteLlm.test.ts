import fc from "fast-check"
import { CostEngine, Money, PricingSnapshot } from "@tally/core"
import { Result } from "effect"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import * as LiteLlm from "../src/LiteLlm.ts"
import * as Match from "../src/Match.ts"
import * as ModelDefinition from "../src/ModelDefinition.ts"
import * as PriceBook from "../src/PriceBook.ts"
import { book } from "./support/Builders.ts"

const fixture = JSON.parse(readFileSync(new URL("./fixtures/litellm-model-prices.json", import.meta.url), "utf8")) as unknown
const report = LiteLlm.importPrices(fixture)
const byKey = new Map(report.definitions.map((d) => [d.modelKey, d]))
const snapshotOf = (modelKey: string) => PricingSnapshot.encodeSnapshot(byKey.get(modelKey)!.history[0]!.snapshot)
const issuesOf = (model: string) => report.issues.filter((i) => i.model === model).map((i) => [i.key, i.kind])

describe("LiteLLM import", () => {
  it("converts USD per token to USD per 1M tokens exactly, generic rates filling the buckets without their own", () => {
    expect(snapshotOf("gpt-4o").rates).toEqual({
      inputText: "2.5", inputImage: "2.5", inputAudio: "2.5", inputVideo: "2.5", embedding: "2.5",
      cacheRead: "1.25",
      outputText: "10", reasoning: "10", outputImage: "10", outputAudio: "10", outputVideo: "10"
    })
    expect(snapshotOf("deepseek-chat").rates).toMatchObject({ inputText: "0.27", cacheRead: "0.07", outputText: "1.1" })
    expect(snapshotOf("text-embedding-3-small").rates).toMatchObject({ embedding: "0.02", inputText: "0.02", outputText: "0" })
  })

  it("maps _batches to a batch discount and _priority / _flex to service-tier multipliers", () => {
    expect(snapshotOf("gpt-4o")).toMatchObject({ batchDiscountPercent: "50", serviceTierMultipliers: { priority: "1.7" } })
    expect(snapshotOf("gemini-2.5-flash").serviceTierMultipliers).toEqual({ flex: "0.5" })
  })

  it("reports variant prices that are not one exact factor of the standard ones", () => {
    expect(issuesOf("gemini/gemini-2.5-flash")).toEqual(expect.arrayContaining([
      ["input_cost_per_token_priority", "unsupported-price"],
      ["output_cost_per_token_priority", "unsupported-price"]
    ]))
  })

  it("maps _above_Nk_tokens onto cliff tiers, cache TTLs included", () => {
    const s = snapshotOf("claude-sonnet-4-5-20250929")
    expect(s.rates).toMatchObject({ inputText: "3", cacheWrite5m: "3.75", cacheWrite1h: "6", cacheRead: "0.3", outputText: "15" })
    expect(s.tierMode).toBe("cliff")
    expect(s.tiers).toEqual([{ aboveTokens: 200000, rates: expect.objectContaining({ inputText: "6", outputText: "22.5", cacheWrite5m: "7.5", cacheWrite1h: "12", cacheRead: "0.6" }) }])
    const usage = { tokens: { inputText: 190_000, cacheWrite1h: 20_000, outputText: 1000 } }
    const breakdown = Result.getOrThrow(CostEngine.price(usage, byKey.get("claude-sonnet-4-5-20250929")!.history[0]!.snapshot))
    // 210k prompt tokens > 200k: the whole request at the long-context rates.
    expect(Money.format(breakdown.total)).toBe("1.4025")
  })

  it("maps tiered_pricing ranges: the first range sets the base, later ones are cliffs above their start", () => {
    const s = snapshotOf("qwen-plus")
    expect(s.rates).toMatchObject({ inputText: "0.4", outputText: "1.2" })
    expect(s.tiers).toEqual([{ aboveTokens: 256000, rates: expect.objectContaining({ inputText: "1.2", outputText: "3.6" }) }])
  })

  it("maps unit prices: per request, per image, transcription seconds, web search and file search", () => {
    expect(snapshotOf("gpt-4o").units).toEqual({ perThousandWebSearches: "35", perToolCall: { file_search: "0.0025" } })
    expect(snapshotOf("whisper-1").units).toEqual({ perAudioSecond: "0.0001" })
    expect(snapshotOf("dall-e-3").units).toEqual({ perImage: { "*": "0.04" } })
  })

  it("reports unknown keys, never dropping them silently", () => {
    expect(issuesOf("sonar-pro")).toEqual([
      ["input_cost_per_token_fast", "unknown-key"],
      ["citation_cost_per_token", "unsupported-price"],
      ["input_cost_per_character", "unsupported-price"],
      ["weird_new_cost_per_widget", "unknown-key"]
    ])
    expect(issuesOf("gpt-4o")).toEqual([
      ["search_context_cost_per_query.search_context_size_low", "unsupported-price"],
      ["search_context_cost_per_query.search_context_size_high", "unsupported-price"]
    ])
    expect(issuesOf("whisper-1")).toEqual([["output_cost_per_second", "unsupported-price"]])
    expect(issuesOf("gemini/gemini-2.5-flash")).toContainEqual(["cache_read_input_audio_token_cost", "unsupported-price"])
  })

  it("skips entries it cannot use, saying why, and rejects bad values", () => {
    expect(issuesOf("sample_spec")).toEqual([[null, "skipped-model"]])
    expect(issuesOf("metadata-only")).toEqual([[null, "skipped-model"]])
    expect(issuesOf("not-an-object")).toEqual([[null, "skipped-model"]])
    expect(issuesOf("gpt-bad")).toEqual([["input_cost_per_token", "invalid-value"], ["output_cost_per_token", "invalid-value"], [null, "skipped-model"]])
    expect([...byKey.keys()].sort()).toEqual([
      "claude-sonnet-4-5-20250929", "dall-e-3", "deepseek-chat", "ft:gpt-4o-mini-2024-07-18", "gemini-2.5-flash", "gpt-4o", "qwen-plus", "sonar-pro", "text-embedding-3-small", "whisper-1"
    ])
  })

  it("accounts for every key of every entry: mapped, metadata, or reported", () => {
    // Each reported issue names a key that exists in the fixture.
    const entries = fixture as Record<string, Record<string, unknown>>
    for (const i of report.issues) {
      if (i.key === null || i.model === null) continue
      const top = i.key.split(".")[0]!
      expect(Object.keys(entries[i.model] ?? {}), `${i.model} ${i.key}`).toContain(top)
    }
  })

  it("imported definitions match reported names, provider prefixes removed and fine-tunes by their base", () => {
    const b = book({ layers: [{ id: "litellm", scope: {}, definitions: report.definitions }] })
    const m = Result.getOrThrow(Match.match(b, { provider: "gemini", model: "gemini-2.5-flash", at: "2026-01-01" }))
    expect(m.definition.id).toBe("litellm:gemini/gemini-2.5-flash")
    expect(Result.getOrThrow(Match.match(b, { provider: "openai", model: "ft:gpt-4o-mini-2024-07-18:acme::x1", at: "2026-01-01" })).definition.id)
      .toBe("litellm:ft:gpt-4o-mini-2024-07-18")
  })
})

describe("LiteLLM round trips", () => {
  it("imported definitions survive a custom catalog file", () => {
    const file = JSON.parse(JSON.stringify(PriceBook.customCatalogFileOf(report.definitions))) as unknown
    const layers = Result.getOrThrow(PriceBook.decodeCustomCatalog(file))
    expect(layers).toHaveLength(1)
    expect(layers[0]!.definitions!.map((d) => ModelDefinition.encode(d))).toEqual(report.definitions.map((d) => ModelDefinition.encode(d)))
  })

  const perMillion = fc.integer({ min: 0, max: 200_000 }).map((n) => new Money.Decimal(n).div(10_000))
  const perToken = (d: Money.Decimal) => Number(Money.format(d.div(1_000_000)))
  const entry = fc.record({
    input: perMillion,
    output: perMillion,
    cacheRead: fc.option(perMillion, { nil: undefined }),
    cacheWrite: fc.option(perMillion, { nil: undefined }),
    cacheWrite1h: fc.option(perMillion, { nil: undefined }),
    audio: fc.option(perMillion, { nil: undefined }),
    reasoning: fc.option(perMillion, { nil: undefined }),
    tier: fc.option(fc.tuple(fc.integer({ min: 1, max: 999 }), perMillion, perMillion), { nil: undefined }),
    batch: fc.option(fc.constantFrom("0.5", "0.25", "1"), { nil: undefined }),
    priority: fc.option(fc.constantFrom("1.5", "2", "1.75"), { nil: undefined }),
    image: fc.option(perMillion, { nil: undefined }),
    request: fc.option(perMillion, { nil: undefined })
  })

  it("import, export and import again give the same definitions", () => {
    fc.assert(fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9.-]{2,12}$/), { minLength: 1, maxLength: 4 }), fc.array(entry, { minLength: 4, maxLength: 4 }), (names, specs) => {
      const json: Record<string, Record<string, unknown>> = {}
      for (const [i, name] of names.entries()) {
        const s = specs[i]!
        const e: Record<string, unknown> = { litellm_provider: "openai", mode: "chat", input_cost_per_token: perToken(s.input), output_cost_per_token: perToken(s.output) }
        if (s.cacheRead !== undefined) e.cache_read_input_token_cost = perToken(s.cacheRead)
        if (s.cacheWrite !== undefined) e.cache_creation_input_token_cost = perToken(s.cacheWrite)
        if (s.cacheWrite1h !== undefined) e.cache_creation_input_token_cost_above_1hr = perToken(s.cacheWrite1h)
        if (s.audio !== undefined) e.input_cost_per_audio_token = perToken(s.audio)
        if (s.reasoning !== undefined) e.output_cost_per_reasoning_token = perToken(s.reasoning)
        if (s.tier !== undefined) {
          e[`input_cost_per_token_above_${s.tier[0]}k_tokens`] = perToken(s.tier[1])
          e[`output_cost_per_token_above_${s.tier[0]}k_tokens`] = perToken(s.tier[2])
        }
        if (s.batch !== undefined) {
          e.input_cost_per_token_batches = perToken(s.input.times(s.batch))
          e.output_cost_per_token_batches = perToken(s.output.times(s.batch))
        }
        if (s.priority !== undefined) {
          e.input_cost_per_token_priority = perToken(s.input.times(s.priority))
          e.output_cost_per_token_priority = perToken(s.output.times(s.priority))
        }
        if (s.image !== undefined) e.output_cost_per_image = Number(Money.format(s.image))
        if (s.request !== undefined) e.input_cost_per_request = Number(Money.format(s.request))
        json[name] = e
      }
      const first = LiteLlm.importPrices(json)
      const exported = LiteLlm.exportPrices(first.definitions)
      expect(exported.issues).toEqual([])
      const second = LiteLlm.importPrices(exported.json)
      expect(second.definitions.map((d) => ModelDefinition.encode(d))).toEqual(first.definitions.map((d) => ModelDefinition.encode(d)))
      expect(second.issues).toEqual(first.issues)
    }), { numRuns: 150 })
  })

  it("parses the key grammar", () => {
    expect(LiteLlm.parseKey("input_cost_per_token")).toEqual({ base: "input_cost_per_token", aboveTokens: undefined, variant: "standard" })
    expect(LiteLlm.parseKey("input_cost_per_token_above_128k_tokens_priority")).toEqual({ base: "input_cost_per_token", aboveTokens: 128000, variant: "priority" })
    expect(LiteLlm.parseKey("cache_creation_input_token_cost_above_1hr_above_200k_tokens")).toEqual({ base: "cache_creation_input_token_cost_above_1hr", aboveTokens: 200000, variant: "standard" })
    expect(LiteLlm.parseKey("output_cost_per_token_batches")).toEqual({ base: "output_cost_per_token", aboveTokens: undefined, variant: "batch" })
  })
})
