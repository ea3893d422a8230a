/**
 * Converts price data in the format of `@pydantic/genai-prices` (providers, models, match logic,
 * `*_mtok` / `*_kcount` / `*_hours` prices, tiered prices, date and time-of-day constraints) into
 * Tally model definitions. Used by `pnpm catalog:build` for the built-in catalog; it works on any
 * document of that shape and does not import the package.
 *
 * Semantics carried over exactly:
 * - A token price key prices the tokens of the most specific unit it covers: a key's dimensions
 *   (direction, modality, token type, cache TTL) must all hold for a token. Each Tally bucket gets
 *   the rate of the most specific priced key covering it (`input_mtok` covers image input unless
 *   `input_image_mtok` is set). Tally's cache buckets hold text; cached audio/image/video rates
 *   cannot be expressed yet and are reported.
 * - Tiered prices are cliffs on the total input tokens (`> start`), one Tally tier per threshold.
 * - `start_date` constraints become effective-dated snapshots; `time_of_date` constraints become
 *   entries with a daily UTC window, layered on every date segment they apply to.
 * - Every number is converted from its shortest decimal text; per-1k and per-hour prices are
 *   divided exactly or reported as not exactly representable.
 */
import type { PricingSnapshot, Usage } from "@tally/core"
import { Money } from "@tally/core"
import type { BuiltInCatalogEncoded, PartialModel, SkippedModel } from "./BuiltInCatalog.ts"
import { FORMAT } from "./BuiltInCatalog.ts"
import { divideExactly, fromNumber } from "./internal/exact.ts"
import type * as MatchRule from "./MatchRule.ts"
import type * as ModelDefinition from "./ModelDefinition.ts"
import type * as Provider from "./Provider.ts"

// ---------------------------------------------------------------------------------------------
// The source shape (structural; mirrors the package's exported types)

export type SourceMatch =
  | { readonly equals: string }
  | { readonly starts_with: string }
  | { readonly ends_with: string }
  | { readonly contains: string }
  | { readonly regex: string }
  | { readonly and: ReadonlyArray<SourceMatch> }
  | { readonly or: ReadonlyArray<SourceMatch> }

export interface SourceTiered {
  readonly base: number
  readonly tiers: ReadonlyArray<{ readonly start: number; readonly price: number }>
}

export type SourcePrices = Readonly<Record<string, number | SourceTiered | undefined>>

export type SourceConstraint =
  | { readonly type?: "start_date"; readonly start_date: string }
  | { readonly type?: "time_of_date"; readonly start_time: string; readonly end_time: string }

export interface SourceConditional {
  readonly constraint?: SourceConstraint | undefined
  readonly prices: SourcePrices
}

export interface SourceModel {
  readonly id: string
  readonly name?: string | undefined
  readonly match: SourceMatch
  readonly prices: SourcePrices | ReadonlyArray<SourceConditional>
  readonly context_window?: number | undefined
  readonly deprecated?: boolean | undefined
}

export interface SourceProvider {
  readonly id: string
  readonly name: string
  readonly models: ReadonlyArray<SourceModel>
  readonly provider_match?: SourceMatch | undefined
  readonly model_match?: SourceMatch | undefined
  readonly fallback_model_providers?: ReadonlyArray<string> | undefined
  readonly pricing_urls?: ReadonlyArray<string> | undefined
}

// ---------------------------------------------------------------------------------------------
// Units

type Dims = Readonly<Record<string, string>>

const MODALITIES = ["text", "image", "audio", "video"] as const

/** Every token price key of the source and its dimensions (family "tokens" implied). */
const TOKEN_KEYS: ReadonlyMap<string, Dims> = (() => {
  const keys = new Map<string, Dims>()
  for (const modality of [undefined, ...MODALITIES]) {
    const m = modality === undefined ? {} : { modality }
    const infix = modality === undefined ? "" : `${modality}_`
    keys.set(`input_${infix}mtok`, { direction: "input", ...m })
    keys.set(`output_${infix}mtok`, { direction: "output", ...m })
    keys.set(`cache_${infix}read_mtok`, { direction: "input", token_type: "cache_read", ...m })
    keys.set(`cache_${infix}write_mtok`, { direction: "input", token_type: "cache_write", ...m })
    for (const ttl of ["5m", "1h"]) keys.set(`cache_${infix}write_${ttl}_mtok`, { direction: "input", token_type: "cache_write", cache_ttl: ttl, ...m })
    keys.set(`input_${infix}tool_mtok`, { direction: "input", token_type: "tool", ...m })
    keys.set(`output_${infix}reasoning_mtok`, { direction: "output", token_type: "reasoning", ...m })
    keys.set(`output_${infix}citation_mtok`, { direction: "output", token_type: "citation", ...m })
  }
  return keys
})()

/**
 * The dimensions of the tokens in each Tally bucket (`training` has no source price). The image,
 * audio and video cache-read buckets are not imported yet: the engine prices them at the
 * `cacheRead` rate until the catalog carries their own.
 */
export const BUCKET_DIMS: Readonly<Record<Exclude<Usage.TokenBucket, "training" | "cacheReadImage" | "cacheReadAudio" | "cacheReadVideo">, Dims>> = {
  inputText: { direction: "input", modality: "text" },
  cacheRead: { direction: "input", modality: "text", token_type: "cache_read" },
  cacheWrite5m: { direction: "input", modality: "text", token_type: "cache_write", cache_ttl: "5m" },
  cacheWrite1h: { direction: "input", modality: "text", token_type: "cache_write", cache_ttl: "1h" },
  inputImage: { direction: "input", modality: "image" },
  inputAudio: { direction: "input", modality: "audio" },
  inputVideo: { direction: "input", modality: "video" },
  outputText: { direction: "output", modality: "text" },
  reasoning: { direction: "output", modality: "text", token_type: "reasoning" },
  outputImage: { direction: "output", modality: "image" },
  outputAudio: { direction: "output", modality: "audio" },
  outputVideo: { direction: "output", modality: "video" },
  embedding: { direction: "input", modality: "text" }
}

type Bucket = keyof typeof BUCKET_DIMS

/** Dimensions a price key may leave out and still price a bucket directly. */
const DEFAULT_DIMS: Dims = { modality: "text", cache_ttl: "5m" }

const covers = (unit: Dims, bucket: Dims): boolean => Object.entries(unit).every(([k, v]) => bucket[k] === v)

/** Why each unexpressible token key cannot be expressed, by its dimensions. */
const tokenKeyGap = (key: string, dims: Dims): string => {
  if (dims.token_type === "tool") return `${key}: Tally has no bucket for tool-use prompt tokens`
  if (dims.token_type === "citation") return `${key}: Tally has no bucket for citation tokens`
  if (dims.token_type === "cache_read" || dims.token_type === "cache_write") {
    return `${key}: Tally's cache buckets (cacheRead, cacheWrite5m, cacheWrite1h) do not split by modality`
  }
  if (dims.token_type === "reasoning") return `${key}: Tally's reasoning bucket is text only`
  return `${key}: no Tally bucket has these token dimensions`
}

/** Unit price keys Tally cannot express, with why. */
const UNIT_GAPS: Readonly<Record<string, string>> = {
  output_audio_hours: "Tally usage has no output audio duration",
  input_mchars: "Tally usage has no character counts",
  input_gpixels: "Tally usage has no pixel counts",
  input_document_kpages: "Tally usage has no document page counts",
  input_annotated_document_kpages: "Tally usage has no annotated document page counts",
  input_text_messages_kcount: "Tally usage has no text message counts",
  rerank_searches_kcount: "Tally usage has no rerank search counts"
}

const THOUSAND = new Money.Decimal(1000)
const SECONDS_PER_HOUR = new Money.Decimal(3600)

// ---------------------------------------------------------------------------------------------
// Conversion of one price set

export interface ConvertedPrices {
  readonly snapshot: Omit<PricingSnapshot.PricingSnapshotEncoded, "provider" | "modelKey" | "effectiveFrom" | "effectiveTo">
  /** Price keys that could not be expressed, each with why. */
  readonly gaps: ReadonlyArray<{ readonly key: string; readonly reason: string }>
  /** Whether anything could be priced at all. */
  readonly priced: boolean
}

const scalar = (value: number | SourceTiered): Money.Decimal | undefined => typeof value === "number" ? fromNumber(value) : undefined

/** Converts one set of source prices into the parts of a pricing snapshot. */
export const convertPrices = (prices: SourcePrices): ConvertedPrices => {
  const gaps: Array<{ key: string; reason: string }> = []
  const tokenPrices = new Map<string, { dims: Dims; value: number | SourceTiered }>()
  const units: Record<string, number | SourceTiered> = {}
  for (const [key, value] of Object.entries(prices)) {
    if (value === undefined) continue
    const invalid = typeof value === "number"
      ? fromNumber(value) === undefined
      : fromNumber(value.base) === undefined || value.tiers.some((t) => fromNumber(t.price) === undefined || !Number.isSafeInteger(t.start) || t.start < 0)
    if (invalid) {
      gaps.push({ key, reason: `${key}: not a finite non-negative price` })
      continue
    }
    const dims = TOKEN_KEYS.get(key)
    if (dims !== undefined) tokenPrices.set(key, { dims, value })
    else units[key] = value
  }

  // Token buckets: the most specific covering key.
  const bucketKey = new Map<Bucket, string>()
  const used = new Set<string>()
  for (const [bucket, bucketDims] of Object.entries(BUCKET_DIMS) as Array<[Bucket, Dims]>) {
    let best: { key: string; size: number } | undefined
    let ambiguous = false
    for (const [key, { dims }] of tokenPrices) {
      if (!covers(dims, bucketDims)) continue
      const size = Object.keys(dims).length
      if (best === undefined || size > best.size) {
        ambiguous = false
        best = { key, size }
      } else if (size === best.size) ambiguous = true
    }
    if (best === undefined) continue
    if (ambiguous) {
      gaps.push({ key: best.key, reason: `${bucket}: two price keys of equal specificity cover it` })
      continue
    }
    bucketKey.set(bucket, best.key)
    used.add(best.key)
  }
  for (const [key, { dims }] of tokenPrices) if (!used.has(key)) gaps.push({ key, reason: tokenKeyGap(key, dims) })

  // A key prices a bucket directly when it names every dimension of the bucket, text and the
  // 5-minute TTL being the defaults. Other covered buckets are fallbacks to the key's own bucket
  // (`input_mtok` prices audio input only because no `input_audio_mtok` is given): they become
  // `rateFallbacks`, so each line priced that way says so.
  const direct = (key: string, bucket: Bucket): boolean => {
    const dims = tokenPrices.get(key)!.dims
    return Object.entries(BUCKET_DIMS[bucket]).every(([k, v]) => dims[k] === v || (dims[k] === undefined && DEFAULT_DIMS[k] === v))
  }
  const rateFallbacks: Record<string, Bucket> = {}
  for (const [bucket, key] of bucketKey) {
    if (direct(key, bucket)) continue
    const home = [...bucketKey].find(([b, k]) => k === key && direct(k, b))?.[0]
    if (home === undefined) {
      gaps.push({ key, reason: `${bucket}: ${key} covers it but prices no bucket directly` })
      bucketKey.delete(bucket)
    } else {
      rateFallbacks[bucket] = home
      bucketKey.delete(bucket)
    }
  }

  const rates: Record<string, string> = {}
  const thresholds = new Set<number>()
  for (const [bucket, key] of bucketKey) {
    const value = tokenPrices.get(key)!.value
    rates[bucket] = Money.format(typeof value === "number" ? fromNumber(value)! : fromNumber(value.base)!)
    if (typeof value !== "number") for (const tier of value.tiers) thresholds.add(tier.start)
  }
  const tiers = [...thresholds].sort((a, b) => a - b).map((threshold) => {
    const tierRates: Record<string, string> = {}
    for (const [bucket, key] of bucketKey) {
      const value = tokenPrices.get(key)!.value
      if (typeof value === "number") continue
      let price = value.base
      for (const tier of [...value.tiers].sort((a, b) => a.start - b.start)) if (tier.start <= threshold) price = tier.price
      tierRates[bucket] = Money.format(fromNumber(price)!)
    }
    return { aboveTokens: threshold, rates: tierRates }
  })

  // Units.
  const unitRates: Record<string, unknown> = {}
  const toolCalls: Record<string, string> = {}
  const perThousand = (key: string, apply: (perUnit: Money.Decimal, perThousand: Money.Decimal) => void) => {
    const value = units[key]
    if (value === undefined) return
    delete units[key]
    const d = scalar(value)
    if (d === undefined) {
      gaps.push({ key, reason: `${key}: tiered unit prices are not supported` })
      return
    }
    apply(d.div(THOUSAND), d)
  }
  perThousand("requests_kcount", (perUnit) => {
    unitRates.perRequest = Money.format(perUnit)
  })
  perThousand("web_searches_kcount", (_, perK) => {
    unitRates.perThousandWebSearches = Money.format(perK)
  })
  perThousand("storage_searches_kcount", (perUnit) => {
    toolCalls.file_search = Money.format(perUnit)
  })
  perThousand("code_executions_kcount", (perUnit) => {
    toolCalls.code_execution = Money.format(perUnit)
    toolCalls.code_interpreter = Money.format(perUnit)
  })
  perThousand("social_searches_kcount", (perUnit) => {
    toolCalls.x_search = Money.format(perUnit)
  })
  // Audio duration: input audio seconds are priced by `input_audio_hours`, else `audio_hours`.
  const inputHours = units.input_audio_hours
  const anyHours = units.audio_hours
  delete units.input_audio_hours
  delete units.audio_hours
  const hoursKey = inputHours !== undefined ? "input_audio_hours" : anyHours !== undefined ? "audio_hours" : undefined
  if (hoursKey !== undefined) {
    const value = (inputHours ?? anyHours)!
    const perHour = scalar(value)
    const perSecond = perHour === undefined ? undefined : divideExactly(perHour, SECONDS_PER_HOUR)
    if (perHour === undefined) gaps.push({ key: hoursKey, reason: `${hoursKey}: tiered unit prices are not supported` })
    else if (perSecond === undefined) {
      gaps.push({
        key: hoursKey,
        reason: `${hoursKey}: ${Money.format(perHour)} per hour is not an exact decimal per second (Tally prices audio per second; needs a per-hour unit)`
      })
    } else unitRates.perAudioSecond = Money.format(perSecond)
    // `audio_hours` next to `input_audio_hours` prices audio seconds not reported as input.
    if (inputHours !== undefined && anyHours !== undefined) {
      const same = typeof anyHours === "number" && typeof inputHours === "number" && fromNumber(anyHours)!.eq(fromNumber(inputHours)!)
      if (!same) gaps.push({ key: "audio_hours", reason: "audio_hours: Tally usage has only input audio seconds" })
    }
  }
  for (const key of Object.keys(units).sort()) {
    gaps.push({ key, reason: `${key}: ${UNIT_GAPS[key] ?? "unknown price key"}` })
  }
  if (Object.keys(toolCalls).length > 0) unitRates.perToolCall = toolCalls

  const snapshot = {
    currency: "USD",
    rates,
    ...(Object.keys(rateFallbacks).length === 0 ? {} : { rateFallbacks }),
    ...(Object.keys(unitRates).length === 0 ? {} : { units: unitRates }),
    ...(tiers.length === 0 ? {} : { tierMode: "cliff" as const, tiers })
  }
  return {
    snapshot: snapshot as ConvertedPrices["snapshot"],
    gaps,
    priced: Object.keys(rates).length > 0 || Object.keys(unitRates).length > 0
  }
}

// ---------------------------------------------------------------------------------------------
// Match rules, time windows, history

export const convertMatch = (rule: SourceMatch): MatchRule.MatchRule => {
  if ("equals" in rule) return { equals: rule.equals }
  if ("starts_with" in rule) return { startsWith: rule.starts_with }
  if ("ends_with" in rule) return { endsWith: rule.ends_with }
  if ("contains" in rule) return { contains: rule.contains }
  if ("regex" in rule) return { regex: rule.regex }
  if ("and" in rule) return { and: rule.and.map(convertMatch) }
  return { or: rule.or.map(convertMatch) }
}

/** "00:30:00Z" / "08:30:00+08:00" -> "00:30:00" in UTC; undefined for other forms. */
export const utcClock = (time: string): string | undefined => {
  const m = /^(\d{2}):(\d{2}):(\d{2})(Z|([+-])(\d{2}):(\d{2}))$/.exec(time)
  if (m === null) return undefined
  const [h, min, s] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (h > 23 || min > 59 || s > 59) return undefined
  const offset = m[4] === "Z" ? 0 : (m[5] === "+" ? 1 : -1) * (Number(m[6]) * 3600 + Number(m[7]) * 60)
  const seconds = (((h * 3600 + min * 60 + s - offset) % 86400) + 86400) % 86400
  const pad = (n: number) => String(n).padStart(2, "0")
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}`
}

const constraintType = (c: SourceConstraint): "start_date" | "time_of_date" =>
  "start_date" in c ? "start_date" : "time_of_date"

export interface ConvertedModel {
  readonly definition: ModelDefinition.ModelDefinitionEncoded | undefined
  readonly skipped: string | undefined
  readonly gaps: ReadonlyArray<{ readonly key: string; readonly reason: string }>
}

const OPENAI_O200K = /^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|gpt-oss|gpt-image|gpt-realtime|gpt-audio|codex)/
const OPENAI_CL100K = /^(gpt-4|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada-002|babbage-002|davinci-002)/

/** The js-tiktoken encoding of OpenAI model families; undefined for other vendors' models. */
export const tokenizerFor = (modelId: string): string | undefined => {
  const name = modelId.slice(modelId.lastIndexOf("/") + 1).replace(/^(?:[a-z-]+\.)?openai\./, "")
  if (OPENAI_O200K.test(name)) return "o200k_base"
  if (OPENAI_CL100K.test(name)) return "cl100k_base"
  return undefined
}

export interface ConvertOptions {
  readonly maintainer: ModelDefinition.Maintainer
  readonly idPrefix?: string | undefined
}

/** Converts one source model into a definition (or says why it cannot be). */
export const convertModel = (provider: SourceProvider, model: SourceModel, options: ConvertOptions): ConvertedModel => {
  const list: ReadonlyArray<SourceConditional> = Array.isArray(model.prices)
    ? model.prices as ReadonlyArray<SourceConditional>
    : [{ prices: model.prices as SourcePrices }]
  if (provider.id === "groq" && /^whisper-large-v3/.test(model.id)) {
    return { definition: undefined, skipped: "the source bills a 10-second minimum duration per request, which Tally snapshots cannot express", gaps: [] }
  }
  if (list.length === 0) return { definition: undefined, skipped: "the model has no prices", gaps: [] }
  for (const [i, conditional] of list.entries()) {
    if (i > 0 && conditional.constraint === undefined) {
      return { definition: undefined, skipped: `prices[${i}] has no constraint after prices[0]; this layout is not supported`, gaps: [] }
    }
  }
  // Date segments: prices[0] from the beginning, then each start_date (must ascend).
  const segments: Array<{ index: number; from: string | undefined }> = [{ index: 0, from: undefined }]
  for (const [i, conditional] of list.entries()) {
    const c = conditional.constraint
    if (i === 0 || c === undefined || constraintType(c) !== "start_date") continue
    const date = (c as { start_date: string }).start_date
    const last = segments[segments.length - 1]!.from
    if (last !== undefined && !(date > last)) {
      return { definition: undefined, skipped: `start_date constraints are not in ascending order (${date} after ${last})`, gaps: [] }
    }
    segments.push({ index: i, from: date })
  }
  const windows: Array<{ index: number; from: string; to: string }> = []
  for (const [i, conditional] of list.entries()) {
    const c = conditional.constraint
    if (c === undefined || constraintType(c) !== "time_of_date") continue
    const t = c as { start_time: string; end_time: string }
    const from = utcClock(t.start_time)
    const to = utcClock(t.end_time)
    if (from === undefined || to === undefined || from === to) {
      return { definition: undefined, skipped: `time_of_date constraint ${t.start_time}-${t.end_time} is not a whole-second UTC window`, gaps: [] }
    }
    windows.push({ index: i, from, to })
  }

  if (list.every((c) => Object.values(c.prices).every((v) => v === undefined))) {
    return {
      definition: undefined,
      skipped: "the source lists no prices for this model (it prices any usage at 0: free, included in a subscription, or unknown); Tally does not assume zero, so add a custom definition with zero rates if the model is free",
      gaps: []
    }
  }
  const converted = list.map((c) => convertPrices(c.prices))
  const gapsByKey = new Map<string, string>()
  for (const c of converted) for (const gap of c.gaps) if (!gapsByKey.has(gap.key)) gapsByKey.set(gap.key, gap.reason)
  const gaps = [...gapsByKey].map(([key, reason]) => ({ key, reason }))
  if (converted.every((c) => !c.priced)) {
    return { definition: undefined, skipped: `no price Tally can express: ${gaps.map((g) => g.reason).join("; ")}`, gaps }
  }

  const history: Array<ModelDefinition.HistoryEntryEncoded> = []
  const entry = (index: number, from: string | undefined, to: string | undefined, timeOfDay?: { fromUtc: string; toUtc: string }) => {
    const snapshot: PricingSnapshot.PricingSnapshotEncoded = {
      provider: provider.id,
      modelKey: model.id,
      ...(from === undefined ? {} : { effectiveFrom: from }),
      ...(to === undefined ? {} : { effectiveTo: to }),
      ...converted[index]!.snapshot
    }
    history.push({ version: index + 1, snapshot, ...(timeOfDay === undefined ? {} : { timeOfDay }) })
  }
  for (const [k, segment] of segments.entries()) {
    const to = segments[k + 1]?.from
    entry(segment.index, segment.from, to)
    for (const window of windows) {
      if (window.index > segment.index) entry(window.index, segment.from, to, { fromUtc: window.from, toUtc: window.to })
    }
  }
  const tokenizer = tokenizerFor(model.id)
  const definition: ModelDefinition.ModelDefinitionEncoded = {
    id: `${options.idPrefix ?? ""}${provider.id}/${model.id}`,
    provider: provider.id,
    modelKey: model.id,
    ...(model.name === undefined ? {} : { displayName: model.name }),
    match: convertMatch(model.match),
    ...(tokenizer === undefined ? {} : { tokenizer }),
    maintainer: options.maintainer,
    ...(model.deprecated === true ? { deprecated: true } : {}),
    ...(model.context_window === undefined || !Number.isSafeInteger(model.context_window) ? {} : { contextWindow: model.context_window }),
    history
  }
  return { definition, skipped: undefined, gaps }
}

export const convertProvider = (provider: SourceProvider): Provider.ProviderInfo => ({
  id: provider.id,
  name: provider.name,
  ...(provider.provider_match === undefined ? {} : { aliases: convertMatch(provider.provider_match) }),
  ...(provider.model_match === undefined ? {} : { modelMatch: convertMatch(provider.model_match) }),
  ...(provider.fallback_model_providers === undefined || provider.fallback_model_providers.length === 0
    ? {}
    : { fallbackProviders: provider.fallback_model_providers }),
  ...(provider.pricing_urls === undefined ? {} : { pricingUrls: provider.pricing_urls })
})

export const CONVERSION_NOTES: ReadonlyArray<string> = [
  "Token prices are USD per 1M tokens (*_mtok), copied exactly from each number's shortest decimal text.",
  "Each Tally bucket takes the most specific source price key covering it. A key that names every dimension of a bucket (text and the 5-minute TTL are defaults) prices it directly; a bucket covered only by a less specific key (image/audio/video tokens by input_mtok/output_mtok, reasoning by output_mtok, cache reads by input_mtok, 1h cache writes by cache_write_mtok) is a rateFallbacks entry to that key's own bucket, and every line priced that way carries the condition <bucket>:priced-at-<from>-rate.",
  "Tally cache buckets are text: cache_read_mtok/cache_write_mtok (and cache_write_1h_mtok) price cacheRead, cacheWrite5m and cacheWrite1h; cached audio/image/video prices are listed under partial.",
  "Tiered prices are cliffs on total input tokens (strictly above the start), one Tally tier per threshold.",
  "requests_kcount, storage_searches_kcount, code_executions_kcount and social_searches_kcount are divided by 1000 (per request / per tool call: file_search, code_execution and code_interpreter, x_search); web_searches_kcount is per 1000 searches.",
  "input_audio_hours (else audio_hours) is divided by 3600 into a per-second price when the quotient is an exact decimal, else listed under partial or skipped.",
  "start_date constraints become effective-dated snapshots (from inclusive, UTC midnight); time_of_date constraints become daily UTC windows on each date segment they apply to."
]

/** Provider names Tally's normalizers use that the source's alias rules do not cover. */
export const TALLY_PROVIDER_ALIASES: Readonly<Record<string, SourceMatch>> = {
  azure: { starts_with: "azure" }
}

/** The source providers with Tally's extra aliases OR-ed into their alias rules. */
export const withTallyAliases = (providers: ReadonlyArray<SourceProvider>): ReadonlyArray<SourceProvider> =>
  providers.map((provider) => {
    const extra = TALLY_PROVIDER_ALIASES[provider.id]
    if (extra === undefined) return provider
    return { ...provider, provider_match: provider.provider_match === undefined ? extra : { or: [provider.provider_match, extra] } }
  })

export interface ConvertAllOptions {
  readonly source: BuiltInCatalogEncoded["source"]
  readonly builtAt: string
  readonly notes?: ReadonlyArray<string> | undefined
}

/** Converts a whole source document into a built-in catalog document. */
export const convertAll = (providers: ReadonlyArray<SourceProvider>, options: ConvertAllOptions): BuiltInCatalogEncoded => {
  const definitions: Array<ModelDefinition.ModelDefinitionEncoded> = []
  const skipped: Array<SkippedModel> = []
  const partial: Array<PartialModel> = []
  let sourceModels = 0
  for (const provider of providers) {
    for (const model of provider.models) {
      sourceModels++
      const converted = convertModel(provider, model, { maintainer: "built-in" })
      if (converted.definition === undefined) {
        skipped.push({ provider: provider.id, model: model.id, reason: converted.skipped ?? "not converted" })
        continue
      }
      definitions.push(converted.definition)
      if (converted.gaps.length > 0) {
        partial.push({
          provider: provider.id,
          model: model.id,
          definitionId: converted.definition.id,
          priceKeys: converted.gaps.map((g) => g.key),
          reason: converted.gaps.map((g) => g.reason).join("; ")
        })
      }
    }
  }
  return {
    format: FORMAT,
    source: options.source,
    builtAt: options.builtAt,
    conversion: options.notes ?? CONVERSION_NOTES,
    counts: {
      providers: providers.length,
      sourceModels,
      definitions: definitions.length,
      snapshots: definitions.reduce((n, d) => n + d.history.length, 0),
      skipped: skipped.length,
      partial: partial.length
    },
    providers: providers.map(convertProvider),
    definitions,
    skipped,
    partial,
    supplement: { applied: [], overridden: [] },
    unexpressed: []
  }
}

/** What `pnpm catalog:build` writes: the source with Tally's provider aliases, converted. */
export const buildCatalog = (providers: ReadonlyArray<SourceProvider>, options: Omit<ConvertAllOptions, "notes">): BuiltInCatalogEncoded =>
  convertAll(withTallyAliases(providers), {
    ...options,
    notes: [
      ...CONVERSION_NOTES,
      `Tally adds provider aliases: ${Object.entries(TALLY_PROVIDER_ALIASES).map(([id, rule]) => `${id} ${JSON.stringify(rule)}`).join(", ")}.`
    ]
  })
