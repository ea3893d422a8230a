/**
 * Imports LiteLLM's `model_prices_and_context_window.json` (or a file in its format). Prices there
 * are USD per token (or per unit); token prices become USD per 1M tokens, exactly, from each
 * number's shortest decimal text.
 *
 * Key grammar: `<base>[_above_<N>k_tokens][_batches|_priority|_flex]`
 * - `_above_<N>k_tokens`  a cliff tier above N*1000 prompt tokens
 * - `_batches`            the batch price; one ratio to the standard price across all keys becomes
 *                         `batchDiscountPercent`
 * - `_priority`, `_flex`  service-tier prices; one ratio across all keys becomes a
 *                         `serviceTierMultipliers` entry
 * - `tiered_pricing`      `[{ range: [lo, hi], <price keys> }]`: cliff tiers above `lo`
 *
 * A generic rate prices the buckets without their own key, as LiteLLM does: `input_cost_per_token`
 * also prices image, audio and video input and embeddings; `output_cost_per_token` reasoning and
 * image, audio and video output; `cache_creation_input_token_cost` both cache-write TTLs.
 *
 * Every key is accounted for: mapped, known metadata, or reported (unknown keys, prices Tally
 * cannot express, ratios that are not one exact factor).
 */
import type { Usage } from "@tally/core"
import { Money, PricingSnapshot } from "@tally/core"
import { Result } from "effect"
import { tokenizerFor } from "./GenaiPrices.ts"
import { type ImportReport, type Issue, issue } from "./ImportReport.ts"
import { divideExactly, fromNumber } from "./internal/exact.ts"
import * as ModelDefinition from "./ModelDefinition.ts"

type Bucket = Usage.TokenBucket

/** Token price keys (per token) and the buckets they price; generic keys list fallbacks after the first. */
const TOKEN_KEYS: Readonly<Record<string, ReadonlyArray<Bucket>>> = {
  input_cost_per_token: ["inputText", "inputImage", "inputAudio", "inputVideo", "embedding"],
  output_cost_per_token: ["outputText", "reasoning", "outputImage", "outputAudio", "outputVideo"],
  cache_read_input_token_cost: ["cacheRead"],
  input_cost_per_token_cache_hit: ["cacheRead"],
  cache_creation_input_token_cost: ["cacheWrite5m", "cacheWrite1h"],
  cache_creation_input_token_cost_above_1hr: ["cacheWrite1h"],
  input_cost_per_image_token: ["inputImage"],
  input_cost_per_audio_token: ["inputAudio"],
  input_cost_per_video_token: ["inputVideo"],
  output_cost_per_reasoning_token: ["reasoning"],
  output_cost_per_image_token: ["outputImage"],
  output_cost_per_audio_token: ["outputAudio"]
}

/** Known prices Tally cannot express, with why. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  cache_read_input_audio_token_cost: "Tally's cacheRead bucket does not split by modality",
  cache_read_input_image_token_cost: "Tally's cacheRead bucket does not split by modality",
  citation_cost_per_token: "Tally has no bucket for citation tokens",
  input_cost_per_character: "Tally usage has no character counts",
  output_cost_per_character: "Tally usage has no character counts",
  input_cost_per_pixel: "Tally usage has no pixel counts",
  output_cost_per_pixel: "Tally usage has no pixel counts",
  input_cost_per_image: "Tally has no per-input-image price (only generated images)",
  input_cost_per_video_per_second: "Tally has no input video duration",
  input_cost_per_query: "Tally usage has no rerank query counts",
  code_interpreter_cost_per_session: "Tally has no per-session tool price",
  computer_use_input_cost_per_1k_tokens: "Tally has no computer-use token bucket",
  computer_use_output_cost_per_1k_tokens: "Tally has no computer-use token bucket",
  file_search_cost_per_gb_per_day: "Tally has no storage prices",
  vector_store_cost_per_gb_per_day: "Tally has no storage prices",
  ocr_cost_per_page: "Tally usage has no page counts",
  annotation_cost_per_page: "Tally usage has no page counts"
}

/** Keys that describe a model but carry no price. */
const METADATA = new Set([
  "litellm_provider",
  "mode",
  "max_tokens",
  "max_input_tokens",
  "max_output_tokens",
  "max_query_tokens",
  "max_document_chunks_per_query",
  "max_tokens_per_document_chunk",
  "max_pdf_size_mb",
  "max_audio_length_hours",
  "max_audio_per_prompt",
  "max_images_per_prompt",
  "max_video_length",
  "max_videos_per_prompt",
  "output_vector_size",
  "tool_use_system_prompt_tokens",
  "deprecation_date",
  "source",
  "metadata",
  "comment",
  "rpm",
  "tpm"
])
const METADATA_PREFIXES = ["supports_", "supported_"]

const MILLION = new Money.Decimal(1_000_000)
const THOUSAND = new Money.Decimal(1000)
const HUNDRED = new Money.Decimal(100)

interface ParsedKey {
  readonly base: string
  readonly aboveTokens: number | undefined
  readonly variant: "standard" | "batch" | "priority" | "flex"
}

export const parseKey = (key: string): ParsedKey => {
  let rest = key
  let variant: ParsedKey["variant"] = "standard"
  const suffix = /_(batches|priority|flex)$/.exec(rest)
  if (suffix !== null) {
    variant = suffix[1] === "batches" ? "batch" : suffix[1] as "priority" | "flex"
    rest = rest.slice(0, suffix.index)
  }
  let aboveTokens: number | undefined
  const tier = /_above_(\d+)k_tokens$/.exec(rest)
  if (tier !== null) {
    aboveTokens = Number(tier[1]) * 1000
    rest = rest.slice(0, tier.index)
  }
  return { base: rest, aboveTokens, variant }
}

type RateTable = Map<Bucket, { readonly rate: Money.Decimal; readonly key: string; readonly explicit: boolean }>

/**
 * Resolves key-level precedence: a key's own bucket always, a generic key's fallback buckets only
 * where no specific key prices them. For a tier, `base` is the standard table: a bucket the
 * standard prices with its own key keeps that price unless the tier names the same key.
 */
const resolveRates = (entries: ReadonlyArray<readonly [string, Money.Decimal]>, base?: RateTable): RateTable => {
  const table: RateTable = new Map()
  const own = new Set(entries.map(([key]) => TOKEN_KEYS[key]![0]!))
  for (const [key, rate] of entries) table.set(TOKEN_KEYS[key]![0]!, { rate, key, explicit: true })
  for (const [key, rate] of entries) {
    for (const bucket of TOKEN_KEYS[key]!.slice(1)) {
      if (own.has(bucket) || table.has(bucket)) continue
      if (base?.get(bucket)?.explicit === true) continue
      table.set(bucket, { rate, key, explicit: false })
    }
  }
  return table
}

const ratesRecord = (table: RateTable): Record<string, string> =>
  Object.fromEntries([...table].sort(([a], [b]) => (a < b ? -1 : 1)).map(([bucket, { rate }]) => [bucket, Money.format(rate)]))

export interface ImportOptions {
  /** Prefix of definition ids (default "litellm:"). */
  readonly idPrefix?: string | undefined
  /** `effectiveFrom` of the imported snapshots (default: open, in force at any time). */
  readonly effectiveFrom?: string | undefined
}

const perToken = (key: string, value: unknown, model: string, issues: Array<Issue>): Money.Decimal | undefined => {
  if (typeof value !== "number") {
    issues.push(issue(model, key, "invalid-value", `expected a number, got ${JSON.stringify(value)}`))
    return undefined
  }
  const d = fromNumber(value)
  if (d === undefined) issues.push(issue(model, key, "invalid-value", `${value} is not a finite non-negative price`))
  return d
}

/**
 * The single exact factor `variant / standard` across keys, or the reason there is none; undefined
 * when every price on both sides is 0 (any factor reproduces them, so none is needed).
 */
const commonRatio = (pairs: ReadonlyArray<{ key: string; standard: Money.Decimal | undefined; value: Money.Decimal }>): Money.Decimal | string | undefined => {
  let ratio: Money.Decimal | undefined
  for (const { key, standard, value } of pairs) {
    if (standard === undefined) return `${key} has no standard price to compare with`
    if (standard.isZero()) {
      if (!value.isZero()) return `${key}: the standard price is 0`
      continue
    }
    const r = divideExactly(value, standard)
    if (r === undefined) return `${key}: ${Money.format(value)} / ${Money.format(standard)} is not an exact decimal factor`
    if (ratio !== undefined && !ratio.eq(r)) return `${key}: factor ${Money.format(r)} differs from ${Money.format(ratio)} of the other keys`
    ratio = r
  }
  return ratio
}

/**
 * The model key and the full entry name; an `ft:<base>` entry also prices every fine-tune of that
 * base (`ft:<base>:<org>:<suffix>:<id>`).
 */
const matchFor = (name: string, modelKey: string): unknown => {
  const rules: Array<unknown> = [{ equals: modelKey }]
  if (modelKey !== name) rules.push({ equals: name })
  if (modelKey.startsWith("ft:")) rules.push({ startsWith: `${modelKey}:` })
  return rules.length === 1 ? rules[0] : { or: rules }
}

const importEntry = (name: string, entry: Readonly<Record<string, unknown>>, options: ImportOptions, issues: Array<Issue>): ModelDefinition.ModelDefinition | undefined => {
  const providerValue = entry.litellm_provider
  const slash = name.indexOf("/")
  const provider = typeof providerValue === "string" && providerValue.length > 0 ? providerValue : slash > 0 ? name.slice(0, slash) : undefined
  if (provider === undefined) {
    issues.push(issue(name, "litellm_provider", "skipped-model", "no litellm_provider and no provider/ prefix in the name"))
    return undefined
  }
  const mode = typeof entry.mode === "string" ? entry.mode : undefined
  const modelKey = name.startsWith(`${provider}/`) ? name.slice(provider.length + 1) : name

  const standard: Array<readonly [string, Money.Decimal]> = []
  const tiers = new Map<number, Array<readonly [string, Money.Decimal]>>()
  const variants: Record<"batch" | "priority" | "flex", Array<{ key: string; base: string; above: number | undefined; value: Money.Decimal }>> = { batch: [], priority: [], flex: [] }
  const units: Record<string, unknown> = {}
  const toolCalls: Record<string, string> = {}
  const unsupported = (key: string, reason: string) => issues.push(issue(name, key, "unsupported-price", reason))

  for (const [key, value] of Object.entries(entry)) {
    if (METADATA.has(key) || METADATA_PREFIXES.some((p) => key.startsWith(p))) continue
    if (key === "search_context_cost_per_query") {
      if (typeof value !== "object" || value === null) {
        issues.push(issue(name, key, "invalid-value", "expected an object of search_context_size_* prices"))
        continue
      }
      const sizes = value as Record<string, unknown>
      const medium = sizes.search_context_size_medium
      for (const [size, price] of Object.entries(sizes)) {
        if (size === "search_context_size_medium") continue
        if (!["search_context_size_low", "search_context_size_high"].includes(size)) {
          issues.push(issue(name, `${key}.${size}`, "unknown-key", "unknown search context size"))
        } else if (price !== medium) {
          unsupported(`${key}.${size}`, "Tally has one web-search price; the medium context size (LiteLLM's default) is used")
        }
      }
      const d = medium === undefined ? undefined : perToken(`${key}.search_context_size_medium`, medium, name, issues)
      if (d !== undefined) units.perThousandWebSearches = Money.format(d.times(THOUSAND))
      continue
    }
    if (key === "tiered_pricing") {
      if (!Array.isArray(value)) {
        issues.push(issue(name, key, "invalid-value", "expected an array of { range, prices }"))
        continue
      }
      for (const [i, band] of value.entries()) {
        const b = band as Record<string, unknown>
        const range = b.range
        const lo = Array.isArray(range) ? range[0] : undefined
        if (typeof lo !== "number" || !Number.isSafeInteger(lo) || lo < 0) {
          issues.push(issue(name, `${key}[${i}].range`, "invalid-value", "expected range [lo, hi] with a non-negative integer lo"))
          continue
        }
        for (const [bandKey, bandValue] of Object.entries(b)) {
          if (bandKey === "range") continue
          if (TOKEN_KEYS[bandKey] === undefined) {
            issues.push(issue(name, `${key}[${i}].${bandKey}`, UNSUPPORTED[bandKey] === undefined ? "unknown-key" : "unsupported-price", UNSUPPORTED[bandKey] ?? "not a token price key"))
            continue
          }
          const d = perToken(`${key}[${i}].${bandKey}`, bandValue, name, issues)
          if (d === undefined) continue
          if (lo === 0) standard.push([bandKey, d.times(MILLION)])
          else tiers.set(lo, [...(tiers.get(lo) ?? []), [bandKey, d.times(MILLION)]])
        }
      }
      continue
    }
    const parsed = parseKey(key)
    if (TOKEN_KEYS[parsed.base] !== undefined) {
      const d = perToken(key, value, name, issues)
      if (d === undefined) continue
      const rate = d.times(MILLION)
      if (parsed.variant !== "standard") variants[parsed.variant].push({ key, base: parsed.base, above: parsed.aboveTokens, value: rate })
      else if (parsed.aboveTokens !== undefined) tiers.set(parsed.aboveTokens, [...(tiers.get(parsed.aboveTokens) ?? []), [parsed.base, rate]])
      else standard.push([parsed.base, rate])
      continue
    }
    // Unit prices: no tier or variant suffixes.
    const unitValue = () => perToken(key, value, name, issues)
    switch (key) {
      case "input_cost_per_request": {
        const d = unitValue()
        if (d !== undefined) units.perRequest = Money.format(d)
        continue
      }
      case "output_cost_per_image": {
        const d = unitValue()
        if (d !== undefined) units.perImage = { "*": Money.format(d) }
        continue
      }
      case "input_cost_per_audio_per_second": {
        const d = unitValue()
        if (d !== undefined) units.perAudioSecond = Money.format(d)
        continue
      }
      case "input_cost_per_second": {
        if (mode !== "audio_transcription") {
          unsupported(key, `per second of ${mode ?? "unknown"}-mode runtime; Tally prices input seconds only for audio transcription`)
          continue
        }
        const d = unitValue()
        if (d !== undefined && units.perAudioSecond === undefined) units.perAudioSecond = Money.format(d)
        continue
      }
      case "output_cost_per_video_per_second":
      case "output_cost_per_second": {
        if (key === "output_cost_per_second" && mode !== "video_generation") {
          unsupported(key, `per output second in ${mode ?? "unknown"} mode; Tally prices output seconds only for video generation`)
          continue
        }
        const d = unitValue()
        if (d !== undefined) units.perVideoSecond = Money.format(d)
        continue
      }
      case "file_search_cost_per_1k_calls": {
        const d = unitValue()
        if (d !== undefined) toolCalls.file_search = Money.format(d.div(THOUSAND))
        continue
      }
    }
    const reason = UNSUPPORTED[parsed.base] ?? UNSUPPORTED[key]
    if (reason !== undefined) unsupported(key, reason)
    else issues.push(issue(name, key, "unknown-key", "unknown key; not imported"))
  }
  if (Object.keys(toolCalls).length > 0) units.perToolCall = toolCalls

  const base = resolveRates(standard)
  const rates = ratesRecord(base)
  const tierList = [...tiers].sort(([a], [b]) => a - b).map(([aboveTokens, entries]) => ({ aboveTokens, rates: ratesRecord(resolveRates(entries, base)) }))
  // Variants: one exact factor relative to the standard (or same-tier) price of the same key.
  const standardOf = (baseKey: string, above: number | undefined): Money.Decimal | undefined => {
    const list = above === undefined ? standard : tiers.get(above) ?? []
    return list.find(([k]) => k === baseKey)?.[1]
  }
  const extras: Record<string, unknown> = {}
  const serviceTiers: Record<string, string> = {}
  for (const variant of ["batch", "priority", "flex"] as const) {
    const list = variants[variant]
    if (list.length === 0) continue
    const ratio = commonRatio(list.map((v) => ({ key: v.key, standard: standardOf(v.base, v.above), value: v.value })))
    if (ratio === undefined) continue
    if (typeof ratio === "string") {
      for (const v of list) unsupported(v.key, `${variant} prices are not one exact factor of the standard prices (${ratio})`)
      continue
    }
    if (variant === "batch") {
      if (ratio.greaterThan(1)) {
        for (const v of list) unsupported(v.key, `batch prices above standard (x${Money.format(ratio)}) cannot be a discount`)
        continue
      }
      extras.batchDiscountPercent = Money.format(Money.ONE.minus(ratio).times(HUNDRED))
    } else serviceTiers[variant] = Money.format(ratio)
  }
  if (Object.keys(serviceTiers).length > 0) extras.serviceTierMultipliers = serviceTiers

  if (Object.keys(rates).length === 0 && Object.keys(units).length === 0 && tierList.length === 0) {
    issues.push(issue(name, null, "skipped-model", "no price Tally can express"))
    return undefined
  }
  const tokenizer = tokenizerFor(modelKey)
  const maxInput = entry.max_input_tokens
  const encoded = {
    id: `${options.idPrefix ?? "litellm:"}${name}`,
    provider,
    modelKey,
    match: matchFor(name, modelKey),
    ...(tokenizer === undefined ? {} : { tokenizer }),
    maintainer: "custom",
    ...(typeof maxInput === "number" && Number.isSafeInteger(maxInput) ? { contextWindow: maxInput } : {}),
    history: [{
      version: 1,
      note: "imported from LiteLLM model prices",
      snapshot: {
        provider,
        modelKey,
        currency: "USD",
        ...(options.effectiveFrom === undefined ? {} : { effectiveFrom: options.effectiveFrom }),
        rates,
        ...(Object.keys(units).length === 0 ? {} : { units }),
        ...(tierList.length === 0 ? {} : { tierMode: "cliff", tiers: tierList }),
        ...extras
      }
    }]
  }
  const decoded = ModelDefinition.decodeResult(encoded)
  if (Result.isFailure(decoded)) {
    issues.push(issue(name, null, "skipped-model", decoded.failure.message))
    return undefined
  }
  return decoded.success
}

/** Imports every entry of a LiteLLM price map. */
export const importPrices = (json: unknown, options: ImportOptions = {}): ImportReport => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { definitions: [], issues: [issue(null, null, "invalid-value", "expected an object of model name -> entry")] }
  }
  const issues: Array<Issue> = []
  const definitions: Array<ModelDefinition.ModelDefinition> = []
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === "sample_spec") {
      issues.push(issue(name, null, "skipped-model", "sample_spec documents the format; it is not a model"))
      continue
    }
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      issues.push(issue(name, null, "skipped-model", "the entry is not an object"))
      continue
    }
    const definition = importEntry(name, entry as Record<string, unknown>, options, issues)
    if (definition !== undefined) definitions.push(definition)
  }
  return { definitions, issues }
}

// ---------------------------------------------------------------------------------------------
// Export (for round trips and for handing prices to LiteLLM users)

const BUCKET_KEY: Readonly<Record<Bucket, string | undefined>> = {
  inputText: "input_cost_per_token",
  cacheRead: "cache_read_input_token_cost",
  cacheReadImage: undefined,
  cacheReadAudio: undefined,
  cacheReadVideo: undefined,
  cacheWrite5m: "cache_creation_input_token_cost",
  cacheWrite1h: "cache_creation_input_token_cost_above_1hr",
  inputImage: "input_cost_per_image_token",
  inputAudio: "input_cost_per_audio_token",
  inputVideo: "input_cost_per_video_token",
  outputText: "output_cost_per_token",
  reasoning: "output_cost_per_reasoning_token",
  outputImage: "output_cost_per_image_token",
  outputAudio: "output_cost_per_audio_token",
  outputVideo: undefined,
  embedding: undefined,
  training: undefined
}

/** A JSON number whose shortest text is exactly `d`, or undefined when no double is. */
const asNumber = (d: Money.Decimal): number | undefined => {
  const n = Number(Money.format(d))
  return Number.isFinite(n) && new Money.Decimal(String(n)).eq(d) ? n : undefined
}

const latestOf = (d: ModelDefinition.ModelDefinition): ModelDefinition.HistoryEntry =>
  [...d.history].sort((a, b) => ModelDefinition.intervalOf(b).from - ModelDefinition.intervalOf(a).from)[0]!

/** The token prices of a snapshot as comparable text: base rates and tiers. */
const tokenPricesText = (snapshot: PricingSnapshot.PricingSnapshot): string => {
  const encoded = PricingSnapshot.encodeSnapshot(snapshot)
  return JSON.stringify([encoded.rates, encoded.tiers ?? []])
}

const entryFor = (d: ModelDefinition.ModelDefinition, mode: "minimal" | "explicit"): { readonly out: Record<string, unknown>; readonly issues: ReadonlyArray<Issue> } => {
  const issues: Array<Issue> = []
  const s: PricingSnapshot.PricingSnapshot = latestOf(d).snapshot
  const out: Record<string, unknown> = { litellm_provider: d.provider }
  if (d.contextWindow !== undefined) out.max_input_tokens = d.contextWindow
  const put = (key: string, value: Money.Decimal) => {
    const n = asNumber(value)
    if (n === undefined) issues.push(issue(d.modelKey, key, "unsupported-price", `${Money.format(value)} has no exact JSON number`))
    else out[key] = n
  }
  const genericOf = (rates: PricingSnapshot.TokenRates, bucket: Bucket): Money.Decimal | undefined =>
    bucket === "inputText" || bucket === "outputText" || bucket === "cacheWrite5m" || bucket === "cacheRead" || bucket === "training"
      ? undefined
      : bucket === "embedding" || bucket.startsWith("input") ? rates.inputText : bucket === "cacheWrite1h" ? rates.cacheWrite5m
      : bucket.startsWith("cacheRead") ? rates.cacheRead : rates.outputText
  /** A bucket at its generic key's rate needs no key: the importer fills it (unless the base prices it apart). */
  const isFallback = (rates: PricingSnapshot.TokenRates, bucket: Bucket, base: PricingSnapshot.TokenRates | undefined): boolean => {
    // Buckets without a key of their own are always their generic key's fallback.
    if (mode === "explicit" && BUCKET_KEY[bucket] !== undefined) return false
    const generic = genericOf(rates, bucket)
    if (generic === undefined || !generic.eq(rates[bucket]!)) return false
    if (base === undefined || base[bucket] === undefined) return true
    const baseGeneric = genericOf(base, bucket)
    return baseGeneric !== undefined && baseGeneric.eq(base[bucket]!)
  }
  const putRates = (rates: PricingSnapshot.TokenRates, suffix: string, base?: PricingSnapshot.TokenRates) => {
    for (const [bucket, rate] of Object.entries(rates) as Array<[Bucket, Money.Decimal]>) {
      const key = BUCKET_KEY[bucket]
      if (isFallback(rates, bucket, base)) continue
      if (key === undefined) {
        issues.push(issue(d.modelKey, bucket, "unsupported-price", `LiteLLM has no key for ${bucket}`))
        continue
      }
      put(`${key}${suffix}`, rate.div(MILLION))
    }
  }
  putRates(s.rates, "")
  for (const tier of s.tiers ?? []) {
    if (tier.aboveTokens % 1000 !== 0 || tier.aboveTokens === 0) {
      issues.push(issue(d.modelKey, "tiers", "unsupported-price", `tier above ${tier.aboveTokens} is not a whole positive number of thousands`))
      continue
    }
    putRates(tier.rates, `_above_${tier.aboveTokens / 1000}k_tokens`, s.rates)
  }
  if ((s.tiers?.length ?? 0) > 0 && s.tierMode === "graduated") issues.push(issue(d.modelKey, "tierMode", "unsupported-price", "LiteLLM tiers are cliffs"))
  const factorKeys = (factor: Money.Decimal, suffix: string) => {
    for (const [bucket, rate] of Object.entries(s.rates) as Array<[Bucket, Money.Decimal]>) {
      const key = BUCKET_KEY[bucket]
      if (key !== undefined && `${key}` in out) put(`${key}${suffix}`, rate.times(factor).div(MILLION))
    }
    for (const tier of s.tiers ?? []) {
      for (const [bucket, rate] of Object.entries(tier.rates) as Array<[Bucket, Money.Decimal]>) {
        const key = BUCKET_KEY[bucket]
        const tierKey = `${key}_above_${tier.aboveTokens / 1000}k_tokens`
        if (key !== undefined && tierKey in out) put(`${tierKey}${suffix}`, rate.times(factor).div(MILLION))
      }
    }
  }
  if (s.batchDiscountPercent !== undefined) factorKeys(HUNDRED.minus(s.batchDiscountPercent).div(HUNDRED), "_batches")
  for (const [tier, factor] of Object.entries(s.serviceTierMultipliers ?? {})) {
    if (tier === "priority" || tier === "flex") factorKeys(factor, `_${tier}`)
    else issues.push(issue(d.modelKey, `serviceTierMultipliers.${tier}`, "unsupported-price", "LiteLLM has only priority and flex tiers"))
  }
  const units = s.units
  if (units?.perRequest !== undefined) put("input_cost_per_request", units.perRequest)
  if (units?.perImage !== undefined) {
    for (const [key, value] of Object.entries(units.perImage)) {
      if (key === "*") put("output_cost_per_image", value)
      else issues.push(issue(d.modelKey, `perImage.${key}`, "unsupported-price", "LiteLLM prices one image size per entry"))
    }
  }
  if (units?.perAudioSecond !== undefined) put("input_cost_per_audio_per_second", units.perAudioSecond)
  if (units?.perVideoSecond !== undefined) put("output_cost_per_video_per_second", units.perVideoSecond)
  if (units?.perThousandWebSearches !== undefined) {
    const perQuery = asNumber(units.perThousandWebSearches.div(THOUSAND))
    if (perQuery === undefined) issues.push(issue(d.modelKey, "perThousandWebSearches", "unsupported-price", "no exact JSON number per query"))
    else out.search_context_cost_per_query = { search_context_size_medium: perQuery }
  }
  for (const [kind, value] of Object.entries(units?.perToolCall ?? {})) {
    if (kind === "file_search") put("file_search_cost_per_1k_calls", value.times(THOUSAND))
    else issues.push(issue(d.modelKey, `perToolCall.${kind}`, "unsupported-price", "LiteLLM has no key for this tool"))
  }
  for (const field of ["cachedInputDiscountPercent", "fineTunedRates", "regionMultipliers"] as const) {
    if (s[field] !== undefined) issues.push(issue(d.modelKey, field, "unsupported-price", `LiteLLM has no ${field}`))
  }
  return { out, issues }
}

/**
 * Writes definitions as LiteLLM entries keyed by model key (the latest snapshot of each). Buckets
 * at their generic key's rate are left to LiteLLM's fallbacks when that reproduces the snapshot;
 * otherwise every bucket is written with its own key. Prices a LiteLLM file cannot carry, or
 * numbers no double holds exactly, are reported.
 */
export const exportPrices = (definitions: ReadonlyArray<ModelDefinition.ModelDefinition>): { readonly json: Record<string, Record<string, unknown>>; readonly issues: ReadonlyArray<Issue> } => {
  const json: Record<string, Record<string, unknown>> = {}
  const issues: Array<Issue> = []
  for (const d of definitions) {
    const expected = tokenPricesText(latestOf(d).snapshot)
    const reproduces = (out: Record<string, unknown>) => {
      const snapshot = importEntry(d.modelKey, out, {}, [])?.history[0]?.snapshot
      return snapshot !== undefined && tokenPricesText(snapshot) === expected
    }
    const minimal = entryFor(d, "minimal")
    const chosen = reproduces(minimal.out) ? minimal : entryFor(d, "explicit")
    if (chosen !== minimal && !reproduces(chosen.out)) {
      issues.push(issue(d.modelKey, null, "unsupported-price", `${d.id}: its token rates cannot be written so that LiteLLM's fallbacks reproduce them`))
    }
    issues.push(...chosen.issues)
    json[d.modelKey] = chosen.out
  }
  return { json, issues }
}
