/** No silent fill: a line priced by any rate other than its own bucket's says so in a condition. */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Result } from "effect"
import { CostEngine, Money, PricingSnapshot, Usage } from "../src/index.ts"
import * as Arb from "./Arbitraries.ts"

/** Sparse rates: any subset of buckets priced, so fallbacks (and missing rates) happen. */
const sparseRates = fc.dictionary(fc.constantFrom(...Usage.TokenBuckets), Arb.decimalString(), { maxKeys: Usage.TokenBuckets.length })

const fallbacks = fc.dictionary(fc.constantFrom(...Usage.TokenBuckets), fc.constantFrom(...Usage.TokenBuckets), { maxKeys: 6 })

const sparseSnapshot = fc.record({
  provider: fc.constant("test"),
  modelKey: fc.constant("model"),
  rates: sparseRates,
  rateFallbacks: fallbacks,
  cachedInputDiscountPercent: Arb.percentString,
  fineTunedRates: sparseRates,
  batchDiscountPercent: Arb.percentString,
  serviceTierMultipliers: fc.record({ priority: Arb.decimalString(3, 2) }),
  tiers: fc.uniqueArray(fc.record({ aboveTokens: fc.integer({ min: 0, max: 3_000_000 }), rates: sparseRates }), { maxLength: 2, selector: (t) => t.aboveTokens })
}, { requiredKeys: ["provider", "modelKey", "rates", "rateFallbacks", "tiers"] })

const usage = fc.tuple(Arb.usage({ units: false }), fc.boolean(), fc.constantFrom(undefined, "default", "priority", "flex", "PROVISIONED_THROUGHPUT"))
  .map(([u, fineTuned, serviceTier]): Usage.Usage => {
    const { serviceTier: _drop, ...rest } = u
    return { ...rest, fineTuned, ...(serviceTier === undefined ? {} : { serviceTier }) }
  })

/** The bucket a line's rate was read from: the last segment of `rateSource` ("tiers[>5].rates.inputText"). */
const sourceBucket = (rateSource: string): string => rateSource.slice(rateSource.lastIndexOf(".") + 1)

describe("no line is priced by a fallback without a condition", () => {
  it("a token line priced at another bucket's rate, or by a discount, names the fallback", () => {
    fc.assert(
      fc.property(sparseSnapshot, usage, (encoded, u) => {
        const snapshot = PricingSnapshot.decodeSnapshot(encoded)
        const result = CostEngine.price(u, snapshot)
        if (Result.isFailure(result)) return
        for (const line of result.success.lines) {
          if (line.unit !== "token") continue
          const derived = sourceBucket(line.rateSource) !== line.component
          if (derived) expect(line.conditions.some(CostEngine.isFallbackCondition), `${line.component} from ${line.rateSource}: ${line.conditions.join(", ")}`).toBe(true)
          // A line with its own rate carries no fallback condition about its own bucket.
          if (!derived) expect(line.conditions.some((c) => c.startsWith(`${line.component}:priced-at-`))).toBe(false)
        }
      }),
      { numRuns: 1000 }
    )
  })

  it("a service tier the snapshot does not price, and a batch call without a discount, say they priced at list", () => {
    fc.assert(
      fc.property(sparseSnapshot, usage, (encoded, u) => {
        const snapshot = PricingSnapshot.decodeSnapshot(encoded)
        const result = CostEngine.price(u, snapshot)
        if (Result.isFailure(result)) return
        const tier = u.serviceTier
        const known = tier === undefined || tier === "default" || snapshot.serviceTierMultipliers?.[tier] !== undefined
        for (const line of result.success.lines) {
          if (!known) expect(line.conditions).toContain(`service-tier:${tier}(no-multiplier-in-snapshot)`)
          if (u.batch === true && snapshot.batchDiscountPercent === undefined && line.unit === "token") {
            expect(line.conditions).toContain("batch:no-discount-in-snapshot")
          }
        }
      }),
      { numRuns: 500 }
    )
  })
})

describe("rate fallbacks, worked", () => {
  it("audio tokens priced at the text rate by a declared fallback carry the fallback's name", () => {
    // A snapshot that (like a price sheet without an audio column) prices audio as text:
    // 1,000 audio input tokens x $2.50/1M = $0.0025.
    const s = PricingSnapshot.decodeSnapshot({
      provider: "example", modelKey: "m",
      rates: { inputText: "2.5", outputText: "10" },
      rateFallbacks: { inputAudio: "inputText", cacheRead: "inputText" }
    })
    const b = Result.getOrThrow(CostEngine.price({ tokens: { inputAudio: 1000, cacheRead: 400 } }, s))
    const audio = b.lines.find((l) => l.component === "inputAudio")!
    expect(Money.format(audio.amount)).toBe("0.0025")
    expect(audio.rateSource).toBe("rates.inputText")
    expect(audio.conditions).toEqual(["inputAudio:priced-at-inputText-rate"])
    expect(b.lines.find((l) => l.component === "cacheRead")!.conditions).toEqual(["cacheRead:priced-at-inputText-rate"])
  })

  it("a bucket's own rate wins over its fallback; a fallback to an unpriced bucket is still a missing rate", () => {
    const s = PricingSnapshot.decodeSnapshot({
      provider: "example", modelKey: "m",
      rates: { inputText: "2.5", inputAudio: "40" },
      rateFallbacks: { inputAudio: "inputText", outputAudio: "outputText" }
    })
    const own = Result.getOrThrow(CostEngine.price({ tokens: { inputAudio: 1000 } }, s))
    // 1,000 x $40/1M = $0.04, at the audio rate, no condition.
    expect(Money.format(own.total)).toBe("0.04")
    expect(own.lines[0]!.conditions).toEqual([])
    const missing = CostEngine.price({ tokens: { outputAudio: 10 } }, s)
    expect(Result.isFailure(missing) && missing.failure.components).toEqual(["outputAudio"])
  })

  it("service tiers match case-insensitively; an unknown tier is priced at list and says so", () => {
    const s = PricingSnapshot.decodeSnapshot({
      provider: "google", modelKey: "m", rates: { inputText: "1" }, serviceTierMultipliers: { provisioned_throughput: "0" }
    })
    const pt = Result.getOrThrow(CostEngine.price({ tokens: { inputText: 1000 }, serviceTier: "PROVISIONED_THROUGHPUT" }, s))
    expect(Money.format(pt.total)).toBe("0")
    expect(pt.lines[0]!.conditions).toEqual(["service-tier:PROVISIONED_THROUGHPUT(x0)"])
    const flex = Result.getOrThrow(CostEngine.price({ tokens: { inputText: 1000 }, serviceTier: "flex" }, s))
    expect(Money.format(flex.total)).toBe("0.001")
    expect(flex.lines[0]!.conditions).toEqual(["service-tier:flex(no-multiplier-in-snapshot)"])
    const standard = Result.getOrThrow(CostEngine.price({ tokens: { inputText: 1000 }, serviceTier: "ON_DEMAND" }, s))
    expect(standard.lines[0]!.conditions).toEqual([])
  })
})
