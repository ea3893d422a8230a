/**
 * The shipped built-in catalog against its source, @pydantic/genai-prices:
 * - the data file is exactly what `pnpm catalog:build` produces from the installed package;
 * - every source model is either a definition or listed as skipped, with a reason;
 * - every converted snapshot prices sample usages (below, at and above each tier threshold,
 *   inside and outside time-of-day windows) to the same total as the package's own `calcPrice`,
 *   up to its float rounding: |tally - genai| <= 1e-9 * max(|tally|, |genai|) + 1e-15 USD;
 * - for every model id that genai-prices resolves, Tally's matching picks the same definition.
 */
import { calcPrice, waitForUpdate } from "@pydantic/genai-prices"
import type { Usage } from "@tally/core"
import { CostEngine, Money, PricingSnapshot } from "@tally/core"
import { Result } from "effect"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { beforeAll, describe, expect, it } from "vitest"
import * as BuiltInCatalog from "../src/BuiltInCatalog.ts"
import * as CatalogBuild from "../src/CatalogBuild.ts"
import * as GenaiPrices from "../src/GenaiPrices.ts"
import * as Match from "../src/Match.ts"
import * as ModelDefinition from "../src/ModelDefinition.ts"
import * as PriceBook from "../src/PriceBook.ts"
import { shippedCatalog } from "./support/Builders.ts"

const RELATIVE_TOLERANCE = 1e-9
const ABSOLUTE_TOLERANCE = 1e-15

let source: ReadonlyArray<GenaiPrices.SourceProvider>
let catalog: BuiltInCatalog.BuiltInCatalog
/** The source converted before the supplement: what genai-prices' own calculator must agree with. */
let converted: BuiltInCatalog.BuiltInCatalog
const installedVersion = (): string => {
  const require = createRequire(import.meta.url)
  const entry = require.resolve("@pydantic/genai-prices")
  const root = entry.slice(0, entry.lastIndexOf("/dist/"))
  return (JSON.parse(readFileSync(`${root}/package.json`, "utf8")) as { version: string }).version
}

beforeAll(async () => {
  source = (await waitForUpdate()) as unknown as ReadonlyArray<GenaiPrices.SourceProvider>
  catalog = shippedCatalog()
  converted = Result.getOrThrow(BuiltInCatalog.decode(GenaiPrices.buildCatalog(source, {
    source: { package: "@pydantic/genai-prices", version: installedVersion(), license: "MIT", homepage: catalog.source.homepage },
    builtAt: catalog.builtAt
  })))
})

const sourceModel = (provider: string, model: string) => {
  const p = source.find((x) => x.id === provider)!
  return { provider: p, model: p.models.find((m) => m.id === model)! }
}

describe("the data file", () => {
  it("names its source package, version and build date", () => {
    expect(catalog.format).toBe(BuiltInCatalog.FORMAT)
    expect(catalog.source).toMatchObject({ package: "@pydantic/genai-prices", version: installedVersion(), license: "MIT" })
    expect(catalog.builtAt).toMatch(/^\d{4}-\d{2}-\d{2}$/)
  })

  it("is exactly what the build script produces from the installed package", () => {
    const rebuilt = Result.getOrThrow(CatalogBuild.build(source, Result.getOrThrow(CatalogBuild.loadSupplement()), {
      source: { package: "@pydantic/genai-prices", version: installedVersion(), license: "MIT", homepage: catalog.source.homepage },
      builtAt: catalog.builtAt
    }))
    const decoded = Result.getOrThrow(BuiltInCatalog.decode(rebuilt))
    expect(decoded.conversion).toEqual(catalog.conversion)
    expect(decoded.definitions.map((d) => ModelDefinition.encode(d))).toEqual(catalog.definitions.map((d) => ModelDefinition.encode(d)))
    expect(decoded.skipped).toEqual(catalog.skipped)
    expect(decoded.partial).toEqual(catalog.partial)
    expect(decoded.providers).toEqual(catalog.providers)
    expect(decoded.supplement).toEqual(catalog.supplement)
    expect(decoded.unexpressed).toEqual(catalog.unexpressed)
  })

  it("gives every price of every history entry a source and a reference a person can check", () => {
    let entries = 0
    for (const d of catalog.definitions) {
      for (const h of d.history) {
        entries++
        const provenance = h.provenance ?? []
        expect(provenance.length, d.id).toBeGreaterThan(0)
        for (const p of provenance) {
          expect(p.reference, d.id).toMatch(/^https:\/\//)
          expect(p.source, d.id).toMatch(/^(@pydantic\/genai-prices@\d|supplement:)/)
        }
        // A definition the supplement adds has no "*" entry: its prices come only from that entry.
        const fromSource = provenance.some((p) => p.fields.includes("*"))
        expect(fromSource || provenance.every((p) => p.source.startsWith("supplement:")), d.id).toBe(true)
      }
    }
    expect(entries).toBe(catalog.counts.snapshots)
  })

  it("accounts for every source model: converted or skipped with a reason, counted", () => {
    const supplemented = new Set(catalog.supplement.applied.map((a) => a.id))
    const defined = catalog.definitions.filter((d) => d.history.every((h) => (h.provenance ?? []).every((p) => p.source.startsWith("supplement:"))))
    for (const d of defined) expect(d.history[0]!.provenance!.some((p) => supplemented.has(p.source.slice("supplement:".length)))).toBe(true)
    const convertedKeys = new Set(catalog.definitions.filter((d) => !defined.includes(d)).map((d) => `${d.provider}/${d.modelKey}`))
    const skipped = new Set(catalog.skipped.map((s) => `${s.provider}/${s.model}`))
    let models = 0
    for (const provider of source) {
      for (const model of provider.models) {
        models++
        const key = `${provider.id}/${model.id}`
        expect(convertedKeys.has(key) !== skipped.has(key), key).toBe(true)
      }
    }
    for (const s of catalog.skipped) expect(s.reason.length).toBeGreaterThan(20)
    for (const p of catalog.partial) expect(convertedKeys.has(`${p.provider}/${p.model}`)).toBe(true)
    expect(catalog.counts).toEqual({
      providers: source.length,
      sourceModels: models,
      definitions: catalog.definitions.length,
      snapshots: catalog.definitions.reduce((n, d) => n + d.history.length, 0),
      skipped: catalog.skipped.length,
      partial: catalog.partial.length
    })
  })
})

// ---------------------------------------------------------------------------------------------
// Pricing comparison

const ALL_MODALITIES = ["image", "audio", "video"] as const

/** The genai-prices usage for a Tally usage: its hierarchical keys, every one reported. */
const toSource = (usage: Usage.Usage): Record<string, number> => {
  const t = (b: Usage.TokenBucket) => usage.tokens[b] ?? 0
  const text = t("inputText") + t("embedding")
  const cacheRead = t("cacheRead")
  const w5 = t("cacheWrite5m")
  const w1 = t("cacheWrite1h")
  const out: Record<string, number> = {
    input_tokens: text + cacheRead + w5 + w1 + t("inputImage") + t("inputAudio") + t("inputVideo"),
    input_text_tokens: text + cacheRead + w5 + w1,
    input_image_tokens: t("inputImage"),
    input_audio_tokens: t("inputAudio"),
    input_video_tokens: t("inputVideo"),
    cache_read_tokens: cacheRead,
    cache_text_read_tokens: cacheRead,
    cache_write_tokens: w5 + w1,
    cache_write_5m_tokens: w5,
    cache_write_1h_tokens: w1,
    cache_text_write_tokens: w5 + w1,
    cache_text_write_5m_tokens: w5,
    cache_text_write_1h_tokens: w1,
    output_tokens: t("outputText") + t("reasoning") + t("outputImage") + t("outputAudio") + t("outputVideo"),
    output_text_tokens: t("outputText") + t("reasoning"),
    output_image_tokens: t("outputImage"),
    output_audio_tokens: t("outputAudio"),
    output_video_tokens: t("outputVideo"),
    output_reasoning_tokens: t("reasoning"),
    output_text_reasoning_tokens: t("reasoning"),
    web_searches: usage.webSearches ?? 0,
    storage_searches: usage.toolCalls?.file_search ?? 0,
    code_executions: usage.toolCalls?.code_execution ?? 0,
    social_searches: usage.toolCalls?.x_search ?? 0,
    audio_seconds: Number(usage.audioSeconds?.toFixed() ?? 0),
    input_audio_seconds: Number(usage.audioSeconds?.toFixed() ?? 0)
  }
  for (const m of ALL_MODALITIES) {
    out[`cache_${m}_read_tokens`] = 0
    for (const ttl of ["", "_5m", "_1h"]) out[`cache_${m}_write${ttl}_tokens`] = 0
  }
  return out
}

const SAMPLE: Readonly<Record<Usage.TokenBucket, number>> = {
  inputText: 1009,
  cacheRead: 2003,
  cacheReadImage: 23,
  cacheReadAudio: 29,
  cacheReadVideo: 31,
  cacheWrite5m: 307,
  cacheWrite1h: 401,
  inputImage: 503,
  inputAudio: 601,
  inputVideo: 701,
  outputText: 809,
  reasoning: 907,
  outputImage: 211,
  outputAudio: 113,
  outputVideo: 97,
  embedding: 59,
  training: 0
}

/** Usages exercising every priced bucket and unit, and each tier's boundary from both sides. */
const usagesFor = (snapshot: PricingSnapshot.PricingSnapshot): ReadonlyArray<Usage.Usage> => {
  const tokens: Partial<Record<Usage.TokenBucket, number>> = {}
  for (const [bucket, count] of Object.entries(SAMPLE) as Array<[Usage.TokenBucket, number]>) {
    if (count > 0 && (snapshot.rates[bucket] !== undefined || snapshot.rateFallbacks?.[bucket] !== undefined)) tokens[bucket] = count
  }
  const units = snapshot.units ?? {}
  const base: Usage.Usage = {
    tokens,
    ...(units.perRequest === undefined ? {} : { requests: 1 }),
    ...(units.perThousandWebSearches === undefined ? {} : { webSearches: 3 }),
    ...(units.perAudioSecond === undefined ? {} : { audioSeconds: new Money.Decimal("61.5") }),
    ...(units.perToolCall === undefined ? {} : {
      toolCalls: Object.fromEntries(Object.keys(units.perToolCall).filter((k) => k !== "code_interpreter").map((k) => [k, 2]))
    })
  }
  const inputNow = Object.entries(tokens).filter(([b]) => b !== "inputText" && !b.startsWith("output") && b !== "reasoning").reduce((n, [, c]) => n + c, 0)
  const usages: Array<Usage.Usage> = [base]
  for (const tier of snapshot.tiers ?? []) {
    if (snapshot.rates.inputText === undefined) continue
    for (const prompt of [tier.aboveTokens, tier.aboveTokens + 1]) {
      usages.push({ ...base, tokens: { ...tokens, inputText: Math.max(0, prompt - inputNow) } })
    }
  }
  return usages
}

/** An instant at which `entry` is the one in force (inside its window, outside others). */
const instantFor = (history: ReadonlyArray<ModelDefinition.HistoryEntry>, index: number): number => {
  const entry = history[index]!
  const { from, to } = ModelDefinition.intervalOf(entry)
  const start = Number.isFinite(from) ? from : Math.min(Number.isFinite(to) ? to - 86_400_000 : Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1))
  for (let minute = 0; minute < 2 * 24 * 60; minute += 7) {
    const at = start + minute * 60_000 + 1234
    if (at >= to) break
    if (ModelDefinition.entryAt(history, at)?.index === index) return at
  }
  throw new Error(`no instant selects history[${index}]`)
}

const close = (a: number, b: number) => Math.abs(a - b) <= RELATIVE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b)) + ABSOLUTE_TOLERANCE

describe("every converted snapshot prices like genai-prices' own calculator", () => {
  it(`agrees within relative ${RELATIVE_TOLERANCE} on every model, tier boundary and time window`, () => {
    let snapshots = 0
    let comparisons = 0
    const mismatches: Array<string> = []
    for (const definition of converted.definitions) {
      const { provider, model } = sourceModel(definition.provider, definition.modelKey)
      expect(model, definition.id).toBeDefined()
      const probe: GenaiPrices.SourceProvider = { ...provider, models: [{ ...model, match: { equals: "tally-probe" } }] }
      for (const [index, entry] of definition.history.entries()) {
        snapshots++
        const at = instantFor(definition.history, index)
        for (const usage of usagesFor(entry.snapshot)) {
          const tally = Result.getOrThrow(CostEngine.price(usage, entry.snapshot))
          const theirs = calcPrice(toSource(usage), "tally-probe", { provider: probe as never, timestamp: new Date(at) })
          comparisons++
          if (theirs === null) {
            mismatches.push(`${definition.id} v${entry.version}: genai-prices found no price`)
            continue
          }
          const ours = Number(Money.format(tally.total))
          if (!close(ours, theirs.total_price)) {
            mismatches.push(`${definition.id} v${entry.version} at ${new Date(at).toISOString()}: tally ${Money.format(tally.total)} vs genai-prices ${theirs.total_price} for ${JSON.stringify(usage.tokens)}`)
          }
        }
      }
    }
    expect(mismatches).toEqual([])
    expect(snapshots).toBe(converted.counts.snapshots)
    expect(comparisons).toBeGreaterThan(snapshots)
  })

  it("every snapshot's id is its content hash and decodes back to itself", () => {
    for (const d of catalog.definitions.slice(0, 200)) {
      for (const entry of d.history) {
        const encoded = PricingSnapshot.encodeSnapshot(entry.snapshot)
        expect(PricingSnapshot.snapshotId(PricingSnapshot.decodeSnapshot(encoded))).toBe(PricingSnapshot.snapshotId(entry.snapshot))
      }
    }
  })
})

describe("matching agrees with genai-prices", () => {
  it("for every built-in model id that genai-prices resolves, Tally picks the same definition", () => {
    const book = Result.getOrThrow(PriceBook.make({ builtIn: catalog }))
    const at = new Date("2026-05-01T12:00:00Z")
    let compared = 0
    const disagreements: Array<string> = []
    // Definitions the cited supplement adds (dall-e-3, gpt-4o-audio-preview-2024-10-01, …) are not in
    // the source; for those names Tally deliberately answers with the supplement's prices.
    const fromSource = catalog.definitions.filter((d) => d.history.some((h) => (h.provenance ?? []).some((p) => p.fields.includes("*"))))
    const supplemented = catalog.definitions.filter((d) => !fromSource.includes(d))
    for (const definition of supplemented) {
      const ours = Match.match(book, { provider: definition.provider, model: definition.modelKey, at })
      expect(Result.isSuccess(ours) && ours.success.definition.id, definition.modelKey).toBe(definition.id)
    }
    for (const definition of fromSource) {
      const theirs = calcPrice({ input_tokens: 10, output_tokens: 10 }, definition.modelKey, { providerId: definition.provider, timestamp: at })
      if (theirs === null) continue
      const ours = Match.match(book, { provider: definition.provider, model: definition.modelKey, at })
      compared++
      const oursId = Result.isSuccess(ours) ? ours.success.definition.id : `unmatched (${ours.failure.reason})`
      const theirsId = `${theirs.provider.id}/${theirs.model.id}`
      if (oursId !== theirsId) disagreements.push(`${definition.provider} ${definition.modelKey}: tally ${oursId}, genai-prices ${theirsId}`)
    }
    expect(disagreements).toEqual([])
    expect(compared).toBeGreaterThan(1400)
  })
})

describe("conversion rules", () => {
  const convert = (prices: GenaiPrices.SourcePrices) => GenaiPrices.convertPrices(prices)

  it("gives each bucket the most specific covering price key", () => {
    const c = convert({ input_mtok: 0.3, cache_read_mtok: 0.03, output_mtok: 2.5, input_audio_mtok: 1, cache_audio_read_mtok: 0.1, output_reasoning_mtok: 3 })
    expect(c.snapshot.rates).toEqual({ inputText: "0.3", inputAudio: "1", cacheRead: "0.03", outputText: "2.5", reasoning: "3", embedding: "0.3" })
    // Covered only by a less specific key: a named fallback, never a copied rate.
    expect(c.snapshot.rateFallbacks).toEqual({
      cacheWrite5m: "inputText",
      cacheWrite1h: "inputText",
      inputImage: "inputText",
      inputVideo: "inputText",
      outputImage: "outputText",
      outputAudio: "outputText",
      outputVideo: "outputText"
    })
    expect(c.gaps.map((g) => g.key)).toEqual(["cache_audio_read_mtok"])
  })

  it("maps cache writes by TTL, the generic write price covering both", () => {
    const generic = convert({ input_mtok: 3, cache_write_mtok: 3.75, output_mtok: 15 }).snapshot
    expect(generic.rates).toMatchObject({ cacheWrite5m: "3.75" })
    expect(generic.rates).not.toHaveProperty("cacheWrite1h")
    expect(generic.rateFallbacks).toMatchObject({ cacheWrite1h: "cacheWrite5m" })
    expect(convert({ input_mtok: 3, cache_write_mtok: 3.75, cache_write_1h_mtok: 6, output_mtok: 15 }).snapshot.rates).toMatchObject({ cacheWrite5m: "3.75", cacheWrite1h: "6" })
  })

  it("turns per-key tiers into one cliff tier per threshold", () => {
    const c = convert({ input_mtok: { base: 1.25, tiers: [{ start: 200000, price: 2.5 }] }, output_mtok: { base: 10, tiers: [{ start: 128000, price: 15 }] }, cache_read_mtok: 0.31 })
    expect(c.snapshot.tierMode).toBe("cliff")
    expect(c.snapshot.tiers).toEqual([
      { aboveTokens: 128000, rates: expect.objectContaining({ inputText: "1.25", outputText: "15" }) },
      { aboveTokens: 200000, rates: expect.objectContaining({ inputText: "2.5", outputText: "15" }) }
    ])
    expect(c.snapshot.tiers?.[0]?.rates).not.toHaveProperty("cacheRead")
  })

  it("copies every number from its shortest decimal text", () => {
    expect(convert({ input_mtok: 0.0028, output_mtok: 1e-7, cache_read_mtok: 0.003625 }).snapshot.rates).toMatchObject({ inputText: "0.0028", outputText: "0.0000001", cacheRead: "0.003625" })
  })

  it("divides per-1k and per-hour prices exactly, or reports them", () => {
    const units = convert({ requests_kcount: 12, web_searches_kcount: 5, storage_searches_kcount: 2.5, input_audio_hours: 0.36, audio_hours: 0.36 }).snapshot.units
    expect(units).toEqual({ perRequest: "0.012", perThousandWebSearches: "5", perAudioSecond: "0.0001", perToolCall: { file_search: "0.0025" } })
    const inexact = convert({ audio_hours: 0.111 })
    expect(inexact.priced).toBe(false)
    expect(inexact.gaps[0]?.reason).toContain("not an exact decimal per second")
  })

  it("reports every price key Tally cannot express", () => {
    const c = convert({ input_mtok: 2, output_mtok: 8, output_citation_mtok: 2, input_document_kpages: 1, input_mchars: 3, something_new_kcount: 1 })
    expect(c.gaps.map((g) => g.key).sort()).toEqual(["input_document_kpages", "input_mchars", "output_citation_mtok", "something_new_kcount"])
  })

  it("turns start dates into effective-dated snapshots and time-of-day prices into UTC windows", () => {
    const converted = GenaiPrices.convertModel({ id: "deepseek", name: "DeepSeek", models: [] }, {
      id: "deepseek-v4-flash",
      match: { starts_with: "deepseek-v4-flash" },
      prices: [
        { prices: { input_mtok: 0.14, output_mtok: 0.28 } },
        { constraint: { type: "start_date", start_date: "2026-08-17" }, prices: { input_mtok: 0.22, output_mtok: 0.66 } },
        { constraint: { type: "time_of_date", start_time: "09:00:00+08:00", end_time: "12:00:00+08:00" }, prices: { input_mtok: 0.44, output_mtok: 1.32 } }
      ]
    }, { maintainer: "built-in" })
    const history = converted.definition!.history
    expect(history.map((h) => [h.version, h.snapshot.effectiveFrom ?? null, h.snapshot.effectiveTo ?? null, h.timeOfDay ?? null])).toEqual([
      [1, null, "2026-08-17", null],
      [3, null, "2026-08-17", { fromUtc: "01:00:00", toUtc: "04:00:00" }],
      [2, "2026-08-17", null, null],
      [3, "2026-08-17", null, { fromUtc: "01:00:00", toUtc: "04:00:00" }]
    ])
  })

  it("skips models without any price Tally can express, saying why", () => {
    const none = GenaiPrices.convertModel({ id: "openrouter", name: "OpenRouter", models: [] }, { id: "free-model:free", match: { equals: "free-model:free" }, prices: {} }, { maintainer: "built-in" })
    expect(none.definition).toBeUndefined()
    expect(none.skipped).toContain("does not assume zero")
    const pages = GenaiPrices.convertModel({ id: "mistral", name: "Mistral", models: [] }, { id: "mistral-ocr", match: { equals: "mistral-ocr" }, prices: { input_document_kpages: 1 } }, { maintainer: "built-in" })
    expect(pages.skipped).toContain("no document page counts")
  })

  it("assigns OpenAI tokenizers by model family", () => {
    expect(GenaiPrices.tokenizerFor("gpt-4o-mini")).toBe("o200k_base")
    expect(GenaiPrices.tokenizerFor("openai/gpt-4.1")).toBe("o200k_base")
    expect(GenaiPrices.tokenizerFor("gpt-3.5-turbo")).toBe("cl100k_base")
    expect(GenaiPrices.tokenizerFor("claude-sonnet-4-5")).toBeUndefined()
  })
})
