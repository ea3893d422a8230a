import { describe, expect, it } from "vitest"
import { Result } from "effect"
import { CostEngine, Money, PricingSnapshot, type Usage } from "../src/index.ts"

const snapshot = (encoded: Omit<PricingSnapshot.PricingSnapshotEncoded, "provider" | "modelKey"> & { modelKey?: string }) =>
  PricingSnapshot.decodeSnapshot({ provider: "example", modelKey: "example-model", ...encoded })

const priced = (usage: Usage.Usage, s: PricingSnapshot.PricingSnapshot) => Result.getOrThrow(CostEngine.price(usage, s))
const text = (d: Money.Decimal) => Money.format(d)

describe("worked examples from public price sheets", () => {
  it("1,000 input + 500 output tokens at $30/$60 per 1M cost exactly $0.06", () => {
    const b = priced({ tokens: { inputText: 1000, outputText: 500 } }, snapshot({ rates: { inputText: "30", outputText: "60" } }))
    expect(text(b.total)).toBe("0.06")
    expect(b.lines.map((l) => [l.component, text(l.quantity), text(l.unitPrice), text(l.amount)])).toEqual([
      ["inputText", "1000", "0.00003", "0.03"],
      ["outputText", "500", "0.00006", "0.03"]
    ])
    expect(b.currency).toBe("USD")
  })

  it("a 250k-token Gemini-style prompt switches every bucket to the long-context tier (cliff)", () => {
    const gemini = snapshot({
      modelKey: "gemini-2.5-pro",
      rates: { inputText: "1.25", outputText: "10", cacheRead: "0.31" },
      tiers: [{ name: "long-context", aboveTokens: 200_000, rates: { inputText: "2.50", outputText: "15", cacheRead: "0.625" } }]
    })
    const usage: Usage.Usage = { tokens: { inputText: 200_000, cacheRead: 50_000, outputText: 10_000, reasoning: 2_000 }, promptTokens: 250_000 }
    const b = priced(usage, gemini)
    // 200000*2.5 + 50000*0.625 + 10000*15 + 2000*15 (reasoning at the tier's output rate), per 1M
    expect(text(b.total)).toBe("0.71125")
    for (const l of b.lines) expect(l.conditions).toContain("tier:long-context(>200000 prompt tokens, cliff)")
    const reasoning = b.lines.find((l) => l.component === "reasoning")!
    expect(reasoning.rateSource).toBe("tiers[>200000].rates.outputText")
    expect(reasoning.conditions).toContain("reasoning:priced-at-output-rate")
    // Exactly at the threshold the base rates still apply.
    const atThreshold = priced({ tokens: { inputText: 200_000 }, promptTokens: 200_000 }, gemini)
    expect(text(atThreshold.total)).toBe("0.25")
  })

  it("an Anthropic-style 1h cache write is priced at its own rate, apart from the 5m write and the read", () => {
    const sonnet = snapshot({
      modelKey: "claude-sonnet-4",
      rates: { inputText: "3", outputText: "15", cacheRead: "0.30", cacheWrite5m: "3.75", cacheWrite1h: "6" }
    })
    const b = priced({ tokens: { inputText: 100, cacheWrite5m: 1000, cacheWrite1h: 2000, cacheRead: 10_000, outputText: 500 } }, sonnet)
    const amounts = Object.fromEntries(b.lines.map((l) => [l.component, text(l.amount)]))
    expect(amounts).toEqual({ inputText: "0.0003", cacheRead: "0.003", cacheWrite5m: "0.00375", cacheWrite1h: "0.012", outputText: "0.0075" })
    expect(text(b.total)).toBe("0.02655")
  })

  it("cached input as a discount percentage off the input rate", () => {
    const b = priced({ tokens: { inputText: 1000, cacheRead: 4000 } }, snapshot({ rates: { inputText: "2.50" }, cachedInputDiscountPercent: "90" }))
    const cache = b.lines.find((l) => l.component === "cacheRead")!
    expect(text(cache.listRate)).toBe("0.25")
    expect(cache.conditions).toEqual(["cached-input-discount:-90%"])
    expect(text(b.total)).toBe("0.0035")
  })

  it("image, audio and video cache reads are priced at their own rates, else at the cache-read rate with a condition", () => {
    const usage: Usage.Usage = { tokens: { cacheRead: 1000, cacheReadImage: 2000, cacheReadAudio: 3000, cacheReadVideo: 4000 } }
    const own = priced(usage, snapshot({ rates: { inputText: "2", cacheRead: "0.2", cacheReadImage: "0.1", cacheReadAudio: "0.5", cacheReadVideo: "0.05" } }))
    // 1000 × $0.2/M + 2000 × $0.1/M + 3000 × $0.5/M + 4000 × $0.05/M = 0.0002 + 0.0002 + 0.0015 + 0.0002
    expect(own.lines.map((l) => [l.component, text(l.amount), l.conditions])).toEqual([
      ["cacheRead", "0.0002", []], ["cacheReadImage", "0.0002", []], ["cacheReadAudio", "0.0015", []], ["cacheReadVideo", "0.0002", []]
    ])
    expect(text(own.total)).toBe("0.0021")
    const fallback = priced(usage, snapshot({ rates: { inputText: "2", cacheRead: "0.2", cacheReadAudio: "0.5" } }))
    // (1000 + 2000 + 4000) × $0.2/M + 3000 × $0.5/M = 0.0014 + 0.0015
    expect(fallback.lines.map((l) => [l.component, text(l.listRate), l.rateSource, l.conditions])).toEqual([
      ["cacheRead", "0.2", "rates.cacheRead", []],
      ["cacheReadImage", "0.2", "rates.cacheRead", ["cacheReadImage:priced-at-cacheRead-rate"]],
      ["cacheReadAudio", "0.5", "rates.cacheReadAudio", []],
      ["cacheReadVideo", "0.2", "rates.cacheRead", ["cacheReadVideo:priced-at-cacheRead-rate"]]
    ])
    expect(text(fallback.total)).toBe("0.0029")
    // The cache-read rate itself may come from the cached-input discount: the fallback carries that condition too.
    const discounted = priced({ tokens: { cacheReadImage: 1000 } }, snapshot({ rates: { inputText: "2" }, cachedInputDiscountPercent: "90" }))
    expect(discounted.lines.map((l) => [l.component, text(l.listRate), l.conditions])).toEqual([
      ["cacheReadImage", "0.2", ["cached-input-discount:-90%", "cacheReadImage:priced-at-cacheRead-rate"]]
    ])
    // No cache-read rate at all: a missing rate naming the bucket, never $0.
    const missing = CostEngine.price({ tokens: { cacheReadAudio: 1 } }, snapshot({ rates: { inputText: "1" } }))
    expect(Result.isFailure(missing) && missing.failure.components).toEqual(["cacheReadAudio"])
  })

  it("batch discount halves every token line and says so", () => {
    const s = snapshot({ rates: { inputText: "2", outputText: "8" }, batchDiscountPercent: "50" })
    const b = priced({ tokens: { inputText: 1_000_000, outputText: 1_000_000 }, batch: true }, s)
    expect(text(b.total)).toBe("5")
    expect(b.lines.every((l) => l.conditions.includes("batch:-50%"))).toBe(true)
  })

  it("service tier and region multipliers compose on every line", () => {
    const s = snapshot({
      rates: { inputText: "1" },
      units: { perThousandWebSearches: "10" },
      serviceTierMultipliers: { priority: "1.8" },
      regionMultipliers: { eu: "1.1" }
    })
    const b = priced({ tokens: { inputText: 1_000_000 }, webSearches: 1000, serviceTier: "priority", region: "eu" }, s)
    expect(text(b.total)).toBe("21.78")
  })

  it("counted units: per image by size and quality, per second, per 1k searches, per tool call", () => {
    const s = snapshot({
      rates: {},
      units: {
        perImage: { "1024x1024/high": "0.167", "*": "0.04" },
        perAudioSecond: "0.0001",
        perThousandWebSearches: "25",
        perToolCall: { code_interpreter: "0.03" },
        perRequest: "0.001"
      }
    })
    const b = priced({
      tokens: {},
      requests: 2,
      imagesGenerated: { "1024x1024/high": 2, "512x512/low": 1 },
      audioSeconds: new Money.Decimal("90.5"),
      webSearches: 4,
      toolCalls: { code_interpreter: 3 }
    }, s)
    const amounts = Object.fromEntries(b.lines.map((l) => [l.component, text(l.amount)]))
    expect(amounts).toEqual({
      requests: "0.002",
      "image:1024x1024/high": "0.334",
      "image:512x512/low": "0.04",
      audioSeconds: "0.00905",
      webSearches: "0.1",
      "toolCall:code_interpreter": "0.09"
    })
    expect(b.lines.find((l) => l.component === "image:512x512/low")!.rateSource).toBe("units.perImage.*")
  })

  it("fine-tuned calls use the fine-tuned rates, falling back to base rates per bucket", () => {
    const s = snapshot({ rates: { inputText: "0.15", outputText: "0.60", training: "3" }, fineTunedRates: { inputText: "0.30", outputText: "1.20" } })
    const b = priced({ tokens: { inputText: 1_000_000, outputText: 1_000_000 }, fineTuned: true }, s)
    expect(text(b.total)).toBe("1.5")
    expect(b.lines[0]!.conditions).toContain("fine-tuned")
  })

  it("graduated tiers split each bucket's quantity into bands", () => {
    const s = snapshot({
      rates: { inputText: "1" },
      tierMode: "graduated",
      tiers: [{ aboveTokens: 1000, rates: { inputText: "0.5" } }, { aboveTokens: 3000, rates: { inputText: "0.25" } }]
    })
    const b = priced({ tokens: { inputText: 5000 } }, s)
    expect(b.lines.map((l) => [text(l.quantity), text(l.listRate)])).toEqual([["1000", "1"], ["2000", "0.5"], ["2000", "0.25"]])
    // 1000*1 + 2000*0.5 + 2000*0.25 per 1M
    expect(text(b.total)).toBe("0.0025")
  })

  it("two tiers with the same threshold are refused: which one priced a call would depend on their order", () => {
    expect(() =>
      snapshot({ rates: { inputText: "1" }, tiers: [{ aboveTokens: 1000, rates: { inputText: "2" } }, { aboveTokens: 1000, rates: { inputText: "3" } }] })
    ).toThrow(/tiers\[1\]\.aboveTokens: 1000 is already the threshold of tiers\[0\]/)
  })
})

describe("missing prices are errors, never a silent zero", () => {
  it("names every component with usage and no rate", () => {
    const s = snapshot({ rates: { inputText: "1" } })
    const result = CostEngine.price({ tokens: { inputText: 10, cacheWrite1h: 5, outputImage: 3 }, toolCalls: { file_search: 1 } }, s)
    expect(Result.isFailure(result)).toBe(true)
    const error = Result.isFailure(result) ? result.failure : undefined
    expect(error?._tag).toBe("PricingError")
    expect(error?.components).toEqual(["cacheWrite1h", "outputImage", "toolCall:file_search"])
    expect(error?.message).toContain("no price for: cacheWrite1h, outputImage, toolCall:file_search")
  })

  it("cached tokens without a cache rate or discount are missing, not priced as input or free", () => {
    const result = CostEngine.price({ tokens: { cacheRead: 1 } }, snapshot({ rates: { inputText: "1" } }))
    expect(Result.isFailure(result) && result.failure.components).toEqual(["cacheRead"])
  })

  it("a zero bucket needs no rate", () => {
    const b = priced({ tokens: { inputText: 0, outputText: 0 } }, snapshot({ rates: {} }))
    expect(b.lines).toEqual([])
    expect(text(b.total)).toBe("0")
  })
})

describe("roundBreakdown", () => {
  it("rounds lines by largest remainder so they sum to the rounded total", () => {
    const s = snapshot({ rates: { inputText: "1", outputText: "1", reasoning: "1" } })
    const b = priced({ tokens: { inputText: 3333, outputText: 3333, reasoning: 3334 } }, s)
    const r = CostEngine.roundBreakdown(b, 2)
    expect(r.lines.map((l) => text(l.amount))).toEqual(["0", "0", "0.01"])
    expect(text(r.total)).toBe("0.01")
  })
})
