/**
 * The cited supplement, entry by entry: worked examples from the providers' published price
 * sheets, priced through the shipped catalog (match, then the cost engine). Arithmetic in the
 * comments; rates per 1M tokens unless stated.
 */
import { CostEngine, Money, type Usage } from "@tally/core"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import * as CatalogBuild from "../src/CatalogBuild.ts"
import * as Match from "../src/Match.ts"
import type * as ModelDefinition from "../src/ModelDefinition.ts"
import * as PriceBook from "../src/PriceBook.ts"
import * as Supplement from "../src/Supplement.ts"
import { shippedCatalog } from "./support/Builders.ts"

const book = Result.getOrThrow(PriceBook.make({ builtIn: shippedCatalog() }))
const AT = "2025-11-01T12:00:00Z"

const price = (provider: string, model: string, usage: Usage.Usage, at = AT) => {
  const m = Result.getOrThrow(Match.match(book, { provider, model, at }))
  return { match: m, breakdown: Result.getOrThrow(CostEngine.price(usage, m.snapshot)) }
}
const total = (provider: string, model: string, usage: Usage.Usage, at = AT) => Money.format(price(provider, model, usage, at).breakdown.total)
const M = 1_000_000

describe("batch: the published batch rate is 50% of list", () => {
  it("OpenAI gpt-4o: 1M input + 1M output = (2.50 + 10.00) / 2 = $6.25", () => {
    const { breakdown } = price("openai", "gpt-4o", { tokens: { inputText: M, outputText: M }, batch: true })
    expect(Money.format(breakdown.total)).toBe("6.25")
    for (const line of breakdown.lines) expect(line.conditions).toContain("batch:-50%")
  })

  // 100k-token prompts stay below the 200k long-context thresholds.
  const K100 = 100_000

  it("Anthropic claude-sonnet-4-5: 100k input + 100k cache read + 100k output = (0.3 + 0.03 + 1.5) / 2 = $0.915 (cache multipliers stack)", () => {
    expect(total("anthropic", "claude-sonnet-4-5", { tokens: { inputText: K100, cacheRead: K100, outputText: K100 }, batch: true })).toBe("0.915")
  })

  it("Google gemini-2.5-pro: 100k input + 100k output = (0.125 + 1) / 2 = $0.5625", () => {
    expect(total("google", "gemini-2.5-pro", { tokens: { inputText: K100, outputText: K100 }, batch: true })).toBe("0.5625")
  })

  it("Bedrock Claude Sonnet 4.5 (global endpoint): 100k input + 100k output = (0.3 + 1.5) / 2 = $0.9", () => {
    expect(total("aws", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", { tokens: { inputText: K100, outputText: K100 }, batch: true })).toBe("0.9")
  })

  it("a batch call is never billed at list: every OpenAI, Anthropic, Google and AWS snapshot has the discount", () => {
    for (const d of shippedCatalog().definitions) {
      if (!["openai", "anthropic", "google", "aws"].includes(d.provider)) continue
      for (const h of d.history) {
        // Definitions priced only per image or second (dall-e, sora) have no token line to discount.
        if (Object.keys(h.snapshot.rates).length === 0) continue
        expect(h.snapshot.batchDiscountPercent?.toString(), d.id).toBe("50")
      }
    }
  })
})

describe("OpenAI service tiers (service_tier in the request or response)", () => {
  const usage = (serviceTier: string): Usage.Usage => ({ tokens: { inputText: M, cacheRead: M, outputText: M }, serviceTier })

  it("gpt-5 priority: 2.50 + 0.25 + 20.00 = $22.75, the published priority prices", () => {
    const { breakdown } = price("openai", "gpt-5", usage("priority"))
    expect(Money.format(breakdown.total)).toBe("22.75")
    expect(breakdown.lines.map((l) => Money.format(l.unitPrice.times(M)))).toEqual(["2.5", "0.25", "20"])
    for (const line of breakdown.lines) expect(line.conditions).toContain("service-tier:priority(x2)")
  })

  it("gpt-5 flex: 0.625 + 0.0625 + 5.00 = $5.6875, the Batch API prices", () => {
    expect(total("openai", "gpt-5", usage("flex"))).toBe("5.6875")
  })

  it("gpt-5-mini priority: 0.45 + 0.045 + 3.60 = $4.095", () => {
    expect(total("openai", "gpt-5-mini", usage("priority"))).toBe("4.095")
  })

  it("gpt-4.1 priority: 3.50 + 0.875 + 14.00 = $18.375", () => {
    expect(total("openai", "gpt-4.1", usage("priority"))).toBe("18.375")
  })

  it("gpt-4o priority: 4.25 + 2.125 + 17.00 = $23.375", () => {
    expect(total("openai", "gpt-4o", usage("priority"))).toBe("23.375")
  })

  it("o3 priority from its 2025-06-10 price: 3.50 + 0.875 + 14.00 = $18.375; o3 flex: 1.00 + 0.25 + 4.00 = $5.25", () => {
    expect(total("openai", "o3", usage("priority"))).toBe("18.375")
    expect(total("openai", "o3", usage("flex"))).toBe("5.25")
    // Before 2025-06-10 o3 listed at $10 / $40 and had no priority price in the supplement: list, and said so.
    const early = price("openai", "o3", usage("priority"), "2025-05-01T00:00:00Z").breakdown
    expect(early.lines[0]!.conditions).toContain("service-tier:priority(no-multiplier-in-snapshot)")
  })

  it("a tier without a published price is billed at list and every line says so; default is standard", () => {
    const { breakdown } = price("openai", "gpt-4o-mini", { tokens: { inputText: M }, serviceTier: "priority" })
    expect(Money.format(breakdown.total)).toBe("0.15")
    expect(breakdown.lines[0]!.conditions).toEqual(["service-tier:priority(no-multiplier-in-snapshot)"])
    expect(price("openai", "gpt-4o-mini", { tokens: { inputText: M }, serviceTier: "default" }).breakdown.lines[0]!.conditions).toEqual([])
  })
})

describe("audio and image modalities", () => {
  it("gpt-4o-audio-preview: audio at its own rates, 1M audio in + 1M audio out = 40 + 80 = $120 (not 2.50 + 10)", () => {
    const { breakdown } = price("openai", "gpt-4o-audio-preview-2025-06-03", { tokens: { inputText: 1000, inputAudio: M, outputText: 1000, outputAudio: M } })
    // 1000 * 2.5 + 1M * 40 + 1000 * 10 + 1M * 80, per 1M = 0.0025 + 40 + 0.01 + 80
    expect(Money.format(breakdown.total)).toBe("120.0125")
    const audio = breakdown.lines.find((l) => l.component === "inputAudio")!
    expect(audio.rateSource).toBe("rates.inputAudio")
    expect(audio.conditions).toEqual([])
  })

  it("gpt-4o-audio-preview-2024-10-01 keeps its launch prices: 100 / 200 per 1M audio tokens", () => {
    const { match, breakdown } = price("openai", "gpt-4o-audio-preview-2024-10-01", { tokens: { inputAudio: M, outputAudio: M } })
    expect(match.definition.id).toBe("openai/gpt-4o-audio-preview-2024-10-01")
    expect(Money.format(breakdown.total)).toBe("300")
  })

  it("gpt-4o-mini-audio-preview: 1M audio in + 1M audio out = 10 + 20 = $30", () => {
    expect(total("openai", "gpt-4o-mini-audio-preview", { tokens: { inputAudio: M, outputAudio: M } })).toBe("30")
  })

  it("a modality the sheet does not price apart is priced at the text rate and says so", () => {
    // gpt-4o lists no audio price: 1000 audio tokens at the $2.50 text rate = $0.0025.
    const { breakdown } = price("openai", "gpt-4o", { tokens: { inputAudio: 1000 } })
    expect(Money.format(breakdown.total)).toBe("0.0025")
    expect(breakdown.lines[0]!.conditions).toEqual(["inputAudio:priced-at-inputText-rate"])
  })
})

describe("per-image, per-second and tool prices", () => {
  it("dall-e-3: one HD 1792x1024 + two standard 1024x1024 = 0.12 + 2 x 0.04 = $0.20", () => {
    expect(total("openai", "dall-e-3", { tokens: {}, imagesGenerated: { "1792x1024/hd": 1, "1024x1024/standard": 2 } })).toBe("0.2")
  })

  it("dall-e-3 without a quality is standard (the API's default): 1024x1792 = $0.08; an unknown size has no price", () => {
    expect(total("openai", "dall-e-3", { tokens: {}, imagesGenerated: { "1024x1792": 1 } })).toBe("0.08")
    const m = Result.getOrThrow(Match.match(book, { provider: "openai", model: "dall-e-3", at: AT }))
    const unknown = CostEngine.price({ tokens: {}, imagesGenerated: { "*": 1 } }, m.snapshot)
    expect(Result.isFailure(unknown) && unknown.failure.components).toEqual(["image:*"])
  })

  it("dall-e-2: three 512x512 = 3 x 0.018 = $0.054", () => {
    expect(total("openai", "dall-e-2", { tokens: {}, imagesGenerated: { "512x512": 3 } })).toBe("0.054")
  })

  it("sora-2: 12 seconds x $0.10 = $1.20", () => {
    expect(total("openai", "sora-2", { tokens: {}, videoSeconds: new Money.Decimal(12) })).toBe("1.2")
  })

  it("code interpreter: two container sessions x $0.03 = $0.06 beside the tokens", () => {
    // 1000 input x 2.50 + 2 sessions x 0.03 = 0.0025 + 0.06
    expect(total("openai", "gpt-4o", { tokens: { inputText: 1000 }, toolCalls: { code_interpreter_session: 2 } })).toBe("0.0625")
  })
})

describe("provisioned throughput", () => {
  it("a Vertex call served by provisioned throughput is not billed per token: zero, and every line says why", () => {
    const { breakdown } = price("google", "gemini-2.5-flash", { tokens: { inputText: 5000, outputText: 800 }, serviceTier: "PROVISIONED_THROUGHPUT" })
    expect(Money.format(breakdown.total)).toBe("0")
    for (const line of breakdown.lines) expect(line.conditions).toEqual(["service-tier:PROVISIONED_THROUGHPUT(x0)"])
  })

  it("spill-over (ON_DEMAND) is billed at the on-demand rates", () => {
    // gemini-2.5-flash: 5000 x 0.30 + 800 x 2.50 per 1M = 0.0015 + 0.002
    expect(total("google", "gemini-2.5-flash", { tokens: { inputText: 5000, outputText: 800 }, serviceTier: "ON_DEMAND" })).toBe("0.0035")
  })
})

describe("provenance and the rules of the supplement", () => {
  const entryOf = (id: string, at = AT): ModelDefinition.HistoryEntry =>
    Result.getOrThrow(Match.match(book, { provider: id.split("/")[0]!, model: id.split("/").slice(1).join("/"), at })).entry

  it("each rate names its source: the supplement entry for what it set, the source package for the rest", () => {
    const provenance = entryOf("openai/gpt-5").provenance ?? []
    expect(Supplement.sourceOf(provenance, "serviceTierMultipliers.priority")).toMatchObject({ source: "supplement:openai-priority-gpt-5", reference: "https://platform.openai.com/docs/pricing", asOf: "2025-10-01" })
    expect(Supplement.sourceOf(provenance, "batchDiscountPercent")?.source).toBe("supplement:openai-batch")
    expect(Supplement.sourceOf(provenance, "rates.inputText")).toMatchObject({ source: "@pydantic/genai-prices@0.1.8", reference: "https://developers.openai.com/api/docs/pricing" })
    expect(Supplement.sourceOf(entryOf("openai/gpt-4o-audio-preview").provenance ?? [], "rates.inputAudio")?.source).toBe("supplement:openai-gpt-4o-audio-preview-audio")
  })

  it("a supplement price that replaces a source price is recorded, never silent", () => {
    const replaced = shippedCatalog().supplement.overridden.find((o) => o.definitionId === "openai/gpt-4o-audio-preview" && o.field === "rates.inputAudio")
    expect(replaced).toMatchObject({ source: "2.5 (rateFallbacks: priced at inputText)", supplement: "40", entry: "openai-gpt-4o-audio-preview-audio" })
  })

  it("published prices Tally cannot express are listed with why, and those models stay unmatched rather than $0", () => {
    const tts = shippedCatalog().unexpressed.find((u) => u.model === "tts-1")
    expect(tts).toMatchObject({ price: "15 USD per 1M characters" })
    const m = Match.match(book, { provider: "openai", model: "tts-1", at: AT })
    expect(Result.isFailure(m)).toBe(true)
  })

  it("rejects entries naming a model the provider lacks, defining an existing id, or citing no https page", () => {
    const file = Result.getOrThrow(CatalogBuild.loadSupplement())
    const defs = shippedCatalog().definitions.filter((d) => d.provider === "openai").slice(0, 3).map((d) => ({ ...d })) as never
    const base = { provider: "openai", set: { batchDiscountPercent: "50" }, reference: "https://example.com/p", asOf: "2025-01-01", states: "x" }
    const apply = (entry: Record<string, unknown>) =>
      Supplement.apply(defs, { ...file, entries: [Result.getOrThrow(Supplement.decode({ ...file, entries: [entry] })).entries[0]!] }, { source: "s", referenceOf: () => "https://e" })
    const missing = apply({ ...base, id: "x", models: ["no-such-model"] })
    expect(Result.isFailure(missing) && missing.failure.message).toContain("has no model no-such-model")
    const existing = apply({ ...base, id: "y", define: { modelKey: (defs as Array<{ modelKey: string }>)[0]!.modelKey, match: { equals: "z" } } })
    expect(Result.isFailure(existing) && existing.failure.message).toContain("which the source already has")
    expect(Result.isFailure(Supplement.decode({ ...file, entries: [{ ...base, id: "z", models: "*", reference: "http://x" }] }))).toBe(true)
  })
})
