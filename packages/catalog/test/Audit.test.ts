/**
 * The catalog audit lists every fallback the pricer applies: a property over random snapshots
 * and calls (every fallback condition on a priced line is an audit entry of that snapshot), and
 * worked examples on the built-in catalog (cache reads by modality, service tiers at list).
 */
import { CostEngine, Money, PricingSnapshot, Usage } from "@tally/core"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Audit from "../src/Audit.ts"
import * as ModelDefinition from "../src/ModelDefinition.ts"
import * as PriceBook from "../src/PriceBook.ts"
import { shippedCatalog } from "./support/Builders.ts"

const rate = fc.tuple(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 999 })).map(([w, f]) => `${w}.${f}`)
const sparseRates = fc.dictionary(fc.constantFrom(...Usage.TokenBuckets), rate, { maxKeys: Usage.TokenBuckets.length })

const sparseSnapshot = fc.record({
  provider: fc.constant("test"),
  modelKey: fc.constant("model"),
  rates: sparseRates,
  rateFallbacks: fc.dictionary(fc.constantFrom(...Usage.TokenBuckets), fc.constantFrom(...Usage.TokenBuckets), { maxKeys: 6 }),
  cachedInputDiscountPercent: fc.integer({ min: 0, max: 100 }).map(String),
  fineTunedRates: sparseRates,
  batchDiscountPercent: fc.constant("50"),
  serviceTierMultipliers: fc.record({ priority: fc.constant("2") }),
  tiers: fc.uniqueArray(fc.record({ aboveTokens: fc.integer({ min: 0, max: 400_000 }), rates: sparseRates }), { maxLength: 2, selector: (t) => t.aboveTokens })
}, { requiredKeys: ["provider", "modelKey", "rates", "rateFallbacks", "tiers"] })

const call = fc.record({
  tokens: fc.dictionary(fc.constantFrom(...Usage.TokenBuckets), fc.integer({ min: 1, max: 500_000 }), { maxKeys: 5 }),
  fineTuned: fc.boolean(),
  batch: fc.boolean(),
  serviceTier: fc.constantFrom(undefined, "default", "priority", "flex")
}).map(({ serviceTier, ...rest }): Usage.Usage => ({ ...rest, ...(serviceTier === undefined ? {} : { serviceTier }) }))

const definitionOf = (snapshot: PricingSnapshot.PricingSnapshot): ModelDefinition.ModelDefinition => ({
  id: "test/model",
  provider: "test",
  modelKey: "model",
  match: { equals: "model" },
  maintainer: "custom",
  history: [{ version: 1, snapshot }]
})

describe("the audit lists every fallback the pricer applies", () => {
  it("every fallback condition on a priced line is an audit entry of its snapshot, for the line's component", () => {
    fc.assert(
      fc.property(sparseSnapshot, call, (encoded, usage) => {
        const snapshot = PricingSnapshot.decodeSnapshot(encoded)
        const priced = CostEngine.price(usage, snapshot)
        if (Result.isFailure(priced)) return
        const definition = definitionOf(snapshot)
        const entries = Audit.fallbacksOf(definition, definition.history[0]!, { providerTiers: new Set(["flex", "priority"]) })
        const conditions = new Set(entries.map((e) => e.condition))
        for (const line of priced.success.lines) {
          const fallbacks = line.conditions.filter(CostEngine.isFallbackCondition)
          for (const c of fallbacks) expect(conditions.has(c), `${line.component}: ${c} not in the audit`).toBe(true)
          const own = fallbacks.filter((c) => !c.startsWith("batch:") && !c.startsWith("service-tier:")).at(-1)
          if (own === undefined || line.unit !== "token") continue
          const entry = entries.find((e) => e.component === line.component && e.condition === own && e.rate === Money.format(line.listRate))
          expect(entry, `${line.component} at ${Money.format(line.listRate)} by ${own}`).toBeDefined()
          expect(entry!.reason.length).toBeGreaterThan(20)
        }
      }),
      { numRuns: 1000 }
    )
  })

  it("lists nothing for a snapshot that prices every bucket itself, with batch and tiers set", () => {
    const rates = Object.fromEntries(Usage.TokenBuckets.map((b) => [b, "1"]))
    const snapshot = PricingSnapshot.decodeSnapshot({ provider: "test", modelKey: "model", rates, batchDiscountPercent: "50", serviceTierMultipliers: { flex: "0.5" } })
    const definition = definitionOf(snapshot)
    expect(Audit.fallbacksOf(definition, definition.history[0]!, { providerTiers: new Set(["flex"]) })).toEqual([])
  })
})

describe("the audit of the built-in catalog", () => {
  const book = Result.getOrThrow(PriceBook.make({ builtIn: shippedCatalog() }))
  const report = Audit.audit(book, { at: "2025-11-01", provider: "openai" })
  const entry = (definitionId: string, component: string, kind: Audit.Kind) =>
    report.entries.find((e) => e.definitionId === definitionId && e.component === component && e.kind === kind)

  it("lists cached audio and image tokens priced at the cacheRead rate, with the condition their lines carry", () => {
    // gpt-realtime: cached input $0.40 per 1M, no cached-audio price of its own in the catalog.
    expect(entry("openai/gpt-realtime", "cacheReadAudio", "modality-cache-read")).toMatchObject({
      from: "cacheRead",
      rate: "0.4",
      condition: "cacheReadAudio:priced-at-cacheRead-rate",
      band: "base",
      reason: "the snapshot has no cacheReadAudio rate; cached audio tokens are billed at the cacheRead rate (engine rule)",
      reference: "https://developers.openai.com/api/docs/pricing"
    })
    expect(entry("openai/gpt-realtime", "cacheReadImage", "modality-cache-read")?.rate).toBe("0.4")
    expect(report.byKind["modality-cache-read"]).toBeGreaterThan(0)
  })

  it("and prices a Realtime turn's cached audio that way, naming it on the line", () => {
    // 576 cached audio tokens x $0.40 / 1M = $0.0002304.
    const inForce = ModelDefinition.entryAt(book.builtInById.get("openai/gpt-realtime")!.history, Date.parse("2025-11-01"))!
    const priced = Result.getOrThrow(CostEngine.price({ tokens: { cacheReadAudio: 576 } }, inForce.entry.snapshot))
    expect(priced.lines.map((l) => [l.component, Money.format(l.amount), l.conditions])).toEqual([
      ["cacheReadAudio", "0.0002304", ["cacheReadAudio:priced-at-cacheRead-rate"]]
    ])
  })

  it("lists a service tier the provider prices elsewhere as billed at list where a model has no multiplier", () => {
    // OpenAI prices flex (gpt-5, o3, ...) and priority (gpt-4o x1.7, ...); gpt-4o-mini has neither in the catalog.
    const mini = report.entries.filter((e) => e.definitionId === "openai/gpt-4o-mini" && e.kind === "service-tier-at-list")
    expect(mini.map((e) => [e.condition, e.band])).toEqual([
      ["service-tier:flex(no-multiplier-in-snapshot)", "all"],
      ["service-tier:priority(no-multiplier-in-snapshot)", "all"]
    ])
    expect(mini[1]!.reason).toBe("openai prices service tier \"priority\" on other models, this snapshot has no multiplier for it: priority calls are billed at list")
    expect(report.entries.filter((e) => e.definitionId === "openai/gpt-4o" && e.kind === "service-tier-at-list").map((e) => e.condition))
      .toEqual(["service-tier:flex(no-multiplier-in-snapshot)"])
  })

  it("counts every entry under exactly one kind", () => {
    expect(Object.values(report.byKind).reduce((a, b) => a + b, 0)).toBe(report.fallbacks)
    expect(new Set(report.entries.map((e) => e.kind))).toEqual(new Set(Audit.Kinds.filter((k) => report.byKind[k] > 0)))
  })
})
