/**
 * Prices a Usage against a PricingSnapshot, exactly. Pure functions over values: no I/O, no
 * Effect, no floats. A non-zero bucket without a rate is a `PricingError`, never a silent zero.
 */
import { Result, Schema } from "effect"
import { largestRemainder } from "./Allocation.ts"
import type { CostBreakdown, CostLine, LineUnit, MissingComponent } from "./CostBreakdown.ts"
import { Decimal, format, HUNDRED, MILLION, ONE, ZERO } from "./Money.ts"
import { currencyOf, snapshotId, type PricingSnapshot, type Tier, type TokenRates } from "./PricingSnapshot.ts"
import { promptSize, TokenBuckets, type TokenBucket, type Usage } from "./Usage.ts"

export const PricingErrorReason = Schema.Literals(["missing-rate"])

export class PricingError extends Schema.TaggedError<PricingError>()("PricingError", {
  reason: PricingErrorReason,
  snapshotId: Schema.String,
  provider: Schema.String,
  modelKey: Schema.String,
  /** Every component with usage but no price, e.g. ["cacheRead", "toolCall:code_interpreter"]. */
  components: Schema.Array(Schema.String),
  message: Schema.String
}) {}

const THOUSAND = new Decimal(1000)

type Missing = Array<MissingComponent>

/** One token bucket's price within a band: the list rate and where it came from. */
interface BandRate {
  readonly listRate: Decimal
  readonly perToken: Decimal
  readonly source: string
  readonly conditions: ReadonlyArray<string>
}

/** What a line needs from its band and multipliers; cached, since a snapshot prices many calls. */
interface LineTemplate {
  readonly listRate: Decimal
  readonly rateSource: string
  readonly unitPrice: Decimal
  /** unitPrice = mantissa * 10^-scale with a safe-integer mantissa, or undefined when it has too many digits. */
  readonly mantissa: number | undefined
  readonly scale: number
  readonly conditions: ReadonlyArray<string>
}

/**
 * Sums token-line amounts as integers at a power-of-ten scale while every step stays a safe
 * integer (exact in a double); otherwise it gives up and the total is summed in Decimal.
 * Summing with integers saves a Decimal addition per line on the hot path.
 */
interface ScaledSum {
  value: number
  scale: number
  exact: boolean
}

const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i)

const addScaled = (sum: ScaledSum, quantity: number, template: LineTemplate): void => {
  if (!sum.exact) return
  const { mantissa, scale } = template
  if (mantissa === undefined) {
    sum.exact = false
    return
  }
  let part = quantity * mantissa
  if (scale > sum.scale) {
    const grown = sum.value * POWERS_OF_TEN[scale - sum.scale]!
    sum.value = grown
    sum.scale = scale
  } else if (scale < sum.scale) {
    part *= POWERS_OF_TEN[sum.scale - scale]!
  }
  sum.value += part
  if (!Number.isSafeInteger(sum.value) || !Number.isSafeInteger(part)) sum.exact = false
}

const scaledMantissa = (unitPrice: Decimal): { mantissa: number | undefined; scale: number } => {
  const scale = unitPrice.decimalPlaces()
  if (scale >= POWERS_OF_TEN.length) return { mantissa: undefined, scale }
  const mantissa = unitPrice.times(POWERS_OF_TEN[scale]!).toNumber()
  return { mantissa: Number.isSafeInteger(mantissa) ? mantissa : undefined, scale }
}

/** The rates in force for one band: base (or fine-tuned) rates overlaid with tier rates. */
interface Band {
  readonly rates: ReadonlyMap<TokenBucket, BandRate>
  readonly conditions: ReadonlyArray<string>
  /** By multiplier key, then by bucket index in `TokenBuckets`; null where the bucket has no rate. */
  readonly templates: Map<string, Array<LineTemplate | null | undefined>>
}

interface Compiled {
  /** Tiers by ascending threshold. */
  readonly tiers: ReadonlyArray<Tier>
  /** Indexed by `fineTuned ? 1 : 0`, then by tierIndex + 1 (0 is the base band). */
  readonly bands: [Array<Band | undefined>, Array<Band | undefined>]
  readonly multipliers: Map<string, { readonly tokens: Multiplier; readonly units: Multiplier }>
}

interface Multiplier {
  readonly key: string
  readonly factor: Decimal
  readonly conditions: ReadonlyArray<string>
}

const MODALITY_CACHE_READS: ReadonlyArray<TokenBucket> = ["cacheReadImage", "cacheReadAudio", "cacheReadVideo"]

const compiledSnapshots = new WeakMap<PricingSnapshot, Compiled>()

const compile = (snapshot: PricingSnapshot): Compiled => {
  let compiled = compiledSnapshots.get(snapshot)
  if (compiled === undefined) {
    compiled = {
      tiers: [...(snapshot.tiers ?? [])].sort((a, b) => a.aboveTokens - b.aboveTokens),
      bands: [[], []],
      multipliers: new Map()
    }
    compiledSnapshots.set(snapshot, compiled)
  }
  return compiled
}

/** The condition on a line priced at another bucket's rate (`rateFallbacks`). */
export const fallbackCondition = (bucket: TokenBucket, from: TokenBucket): string => `${bucket}:priced-at-${from}-rate`

/**
 * Conditions that say a line was priced by a fallback rather than its own rate: every one starts
 * with one of these (`reasoning:priced-at-output-rate`, `inputAudio:priced-at-inputText-rate`,
 * `cached-input-discount:-90%`) or names a multiplier the snapshot lacks.
 */
export const isFallbackCondition = (condition: string): boolean =>
  condition.includes(":priced-at-") || condition.startsWith("cached-input-discount:") || condition.endsWith("(no-multiplier-in-snapshot)") ||
  condition === "batch:no-discount-in-snapshot"

/** Service tiers that mean the standard price (no multiplier needed, no condition). */
const STANDARD_TIERS: ReadonlySet<string> = new Set(["default", "standard", "auto", "on_demand"])

/** `record[key]` for own keys only, so `constructor` or `__proto__` never reach the object prototype. */
const ownValue = <A>(record: Readonly<Record<string, A>> | undefined, key: string): A | undefined =>
  record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined

const lookupTier = (table: Readonly<Record<string, Decimal>> | undefined, key: string): Decimal | undefined => {
  if (table === undefined) return undefined
  // Own keys only, so `constructor` or `__proto__` never reach the object prototype.
  if (Object.hasOwn(table, key)) return table[key]
  const lower = key.toLowerCase()
  for (const k of Object.keys(table)) if (k.toLowerCase() === lower) return table[k]
  return undefined
}

const tierLabel = (tier: Tier, mode: string): string =>
  `tier:${tier.name ?? `>${tier.aboveTokens}`}(>${tier.aboveTokens} prompt tokens, ${mode})`

/**
 * Builds a band. Cliff bands overlay one tier on the base rates; graduated bands overlay every
 * tier up to `tierIndex`, since each band continues from the one below it.
 */
const makeBand = (snapshot: PricingSnapshot, compiled: Compiled, fineTuned: boolean, tierIndex: number): Band => {
  const layers: Array<{ readonly origin: string; readonly rates: TokenRates; readonly discount: Decimal | undefined }> = [
    { origin: "rates", rates: snapshot.rates, discount: snapshot.cachedInputDiscountPercent }
  ]
  const conditions: Array<string> = []
  if (fineTuned && snapshot.fineTunedRates !== undefined) {
    layers.push({ origin: "fineTunedRates", rates: snapshot.fineTunedRates, discount: undefined })
    conditions.push("fine-tuned")
  }
  const graduated = snapshot.tierMode === "graduated"
  for (let i = graduated ? 0 : tierIndex; i >= 0 && i <= tierIndex; i++) {
    const tier = compiled.tiers[i]!
    layers.push({ origin: `tiers[>${tier.aboveTokens}].rates`, rates: tier.rates, discount: tier.cachedInputDiscountPercent })
  }
  if (tierIndex >= 0) conditions.push(tierLabel(compiled.tiers[tierIndex]!, graduated ? "graduated" : "cliff"))

  const own = new Map<TokenBucket, { readonly rate: Decimal; readonly origin: string }>()
  let discount: Decimal | undefined
  for (const layer of layers) {
    for (const bucket of TokenBuckets) {
      const rate = layer.rates[bucket]
      if (rate !== undefined) own.set(bucket, { rate, origin: layer.origin })
    }
    discount = layer.discount ?? discount
  }
  const rates = new Map<TokenBucket, BandRate>()
  const set = (bucket: TokenBucket, listRate: Decimal, source: string, extra: ReadonlyArray<string>) =>
    rates.set(bucket, { listRate, perToken: listRate.div(MILLION), source, conditions: extra })
  for (const bucket of TokenBuckets) {
    const found = own.get(bucket)
    if (found !== undefined) set(bucket, found.rate, `${found.origin}.${bucket}`, [])
  }
  // The snapshot's own fallbacks: a bucket priced at another bucket's rate, always named.
  const fallbacks = snapshot.rateFallbacks
  if (fallbacks !== undefined) {
    for (const bucket of TokenBuckets) {
      const from = fallbacks[bucket]
      if (from === undefined || rates.has(bucket)) continue
      const found = own.get(from)
      if (found !== undefined) set(bucket, found.rate, `${found.origin}.${from}`, [fallbackCondition(bucket, from)])
    }
  }
  // Documented fallbacks: reasoning at the output rate; cached input as a discount off input.
  const output = own.get("outputText")
  if (!rates.has("reasoning") && output !== undefined) {
    set("reasoning", output.rate, `${output.origin}.outputText`, ["reasoning:priced-at-output-rate"])
  }
  const input = own.get("inputText")
  if (!rates.has("cacheRead") && discount !== undefined && input !== undefined) {
    set("cacheRead", input.rate.times(HUNDRED.minus(discount)).div(HUNDRED), `${input.origin}.inputText`, [`cached-input-discount:-${format(discount)}%`])
  }
  // Image, audio and video cache reads without a rate of their own: at the cache-read rate, visibly.
  const cacheRead = rates.get("cacheRead")
  if (cacheRead !== undefined) {
    for (const bucket of MODALITY_CACHE_READS) {
      if (!rates.has(bucket)) set(bucket, cacheRead.listRate, cacheRead.source, [...cacheRead.conditions, fallbackCondition(bucket, "cacheRead")])
    }
  }
  return { rates, conditions, templates: new Map() }
}

const bandOf = (snapshot: PricingSnapshot, compiled: Compiled, fineTuned: boolean, tierIndex: number): Band => {
  const bands = compiled.bands[fineTuned ? 1 : 0]
  let band = bands[tierIndex + 1]
  if (band === undefined) {
    band = makeBand(snapshot, compiled, fineTuned, tierIndex)
    bands[tierIndex + 1] = band
  }
  return band
}

/** One token bucket's rate as the engine resolves it: its list rate, where it was read, the conditions its lines carry. */
export interface ResolvedRate {
  readonly listRate: Decimal
  readonly source: string
  readonly conditions: ReadonlyArray<string>
}

/**
 * The token rates the engine prices a band at (the base rates, or with `fineTuned` the fine-tuned
 * overlay, and with `tierIndex` the tier of that index in ascending threshold order), with every
 * fallback it applies named in the conditions. What `Audit` lists, read from the engine itself.
 */
export const resolvedRates = (
  snapshot: PricingSnapshot,
  options: { readonly fineTuned?: boolean | undefined; readonly tierIndex?: number | undefined } = {}
): ReadonlyMap<TokenBucket, ResolvedRate> => {
  const compiled = compile(snapshot)
  const tierIndex = options.tierIndex ?? -1
  if (tierIndex < -1 || tierIndex >= compiled.tiers.length) return new Map()
  return bandOf(snapshot, compiled, options.fineTuned === true, tierIndex).rates
}

/** The line template of bucket number `index`; null when the band has no rate for it. */
const templateOf = (band: Band, index: number, multiplier: Multiplier): LineTemplate | null => {
  let byBucket = band.templates.get(multiplier.key)
  if (byBucket === undefined) {
    byBucket = []
    band.templates.set(multiplier.key, byBucket)
  }
  let template = byBucket[index]
  if (template === undefined) {
    const rate = band.rates.get(TokenBuckets[index]!)
    if (rate === undefined) template = null
    else {
      const unitPrice = multiplier.factor.equals(ONE) ? rate.perToken : rate.perToken.times(multiplier.factor)
      template = {
        listRate: rate.listRate,
        rateSource: rate.source,
        unitPrice,
        ...scaledMantissa(unitPrice),
        conditions: [...band.conditions, ...rate.conditions, ...multiplier.conditions]
      }
    }
    byBucket[index] = template
  }
  return template
}

const makeMultipliers = (snapshot: PricingSnapshot, usage: Usage): { tokens: Multiplier; units: Multiplier } => {
  let common = ONE
  const commonConditions: Array<string> = []
  if (usage.serviceTier !== undefined) {
    const m = lookupTier(snapshot.serviceTierMultipliers, usage.serviceTier)
    if (m !== undefined) {
      common = common.times(m)
      commonConditions.push(`service-tier:${usage.serviceTier}(x${format(m)})`)
    } else if (!STANDARD_TIERS.has(usage.serviceTier.toLowerCase())) {
      // Priced at list: say so, a tier the snapshot does not know is never silently standard.
      commonConditions.push(`service-tier:${usage.serviceTier}(no-multiplier-in-snapshot)`)
    }
  }
  if (usage.region !== undefined) {
    const m = lookupTier(snapshot.regionMultipliers, usage.region)
    if (m !== undefined) {
      common = common.times(m)
      commonConditions.push(`region:${usage.region}(x${format(m)})`)
    }
  }
  let tokens = common
  const tokenConditions = [...commonConditions]
  if (usage.batch === true) {
    if (snapshot.batchDiscountPercent !== undefined) {
      tokens = tokens.times(HUNDRED.minus(snapshot.batchDiscountPercent)).div(HUNDRED)
      tokenConditions.push(`batch:-${format(snapshot.batchDiscountPercent)}%`)
    } else {
      tokenConditions.push("batch:no-discount-in-snapshot")
    }
  }
  const key = multiplierKey(usage)
  return {
    tokens: { key, factor: tokens, conditions: tokenConditions },
    units: { key, factor: common, conditions: commonConditions }
  }
}

const PLAIN = "false||"

const multiplierKey = (usage: Usage): string =>
  usage.batch !== true && usage.serviceTier === undefined && usage.region === undefined
    ? PLAIN
    : `${usage.batch === true}|${usage.serviceTier ?? ""}|${usage.region ?? ""}`

const multipliersOf = (snapshot: PricingSnapshot, compiled: Compiled, usage: Usage) => {
  const key = multiplierKey(usage)
  let found = compiled.multipliers.get(key)
  if (found === undefined) {
    found = makeMultipliers(snapshot, usage)
    compiled.multipliers.set(key, found)
  }
  return found
}

const line = (
  component: string,
  quantity: Decimal,
  unit: LineUnit,
  listRate: Decimal,
  listRatePer: CostLine["listRatePer"],
  rateSource: string,
  perUnit: Decimal,
  multiplier: Multiplier
): CostLine => {
  const unitPrice = perUnit.times(multiplier.factor)
  return { component, quantity, unit, listRate, listRatePer, rateSource, unitPrice, amount: quantity.times(unitPrice), conditions: multiplier.conditions }
}

const tokenLine = (bucket: TokenBucket, quantity: number, template: LineTemplate, sum: ScaledSum): CostLine => {
  addScaled(sum, quantity, template)
  const q = new Decimal(quantity)
  return {
    component: bucket,
    quantity: q,
    unit: "token",
    listRate: template.listRate,
    listRatePer: "1M tokens",
    rateSource: template.rateSource,
    unitPrice: template.unitPrice,
    amount: q.times(template.unitPrice),
    conditions: template.conditions
  }
}

const tokenLines = (
  snapshot: PricingSnapshot,
  compiled: Compiled,
  usage: Usage,
  multiplier: Multiplier,
  lines: Array<CostLine>,
  missing: Missing,
  sum: ScaledSum
): void => {
  const fineTuned = usage.fineTuned === true && snapshot.fineTunedRates !== undefined
  const tiers = compiled.tiers

  if (snapshot.tierMode !== "graduated" || tiers.length === 0) {
    const prompt = promptSize(usage)
    let tierIndex = -1
    for (let i = 0; i < tiers.length; i++) if (prompt > tiers[i]!.aboveTokens) tierIndex = i
    const band = bandOf(snapshot, compiled, fineTuned, tierIndex)
    for (let index = 0; index < TokenBuckets.length; index++) {
      const bucket = TokenBuckets[index]!
      const quantity = usage.tokens[bucket]
      if (quantity === undefined || quantity === 0) continue
      const template = templateOf(band, index, multiplier)
      if (template === null) missing.push({ component: bucket, quantity: new Decimal(quantity), unit: "token" })
      else lines.push(tokenLine(bucket, quantity, template, sum))
    }
    return
  }

  // Graduated: each bucket's own quantity is split into bands at the tier thresholds.
  for (let index = 0; index < TokenBuckets.length; index++) {
    const bucket = TokenBuckets[index]!
    const quantity = usage.tokens[bucket] ?? 0
    let lower = 0
    for (let tierIndex = -1; tierIndex < tiers.length && lower < quantity; tierIndex++) {
      const next = tiers[tierIndex + 1]
      const upper = next === undefined ? quantity : Math.min(quantity, next.aboveTokens)
      if (upper <= lower) continue
      const template = templateOf(bandOf(snapshot, compiled, fineTuned, tierIndex), index, multiplier)
      if (template === null) {
        missing.push({ component: bucket, quantity: new Decimal(quantity - lower), unit: "token" })
        break
      }
      lines.push(tokenLine(bucket, upper - lower, template, sum))
      lower = upper
    }
  }
}

const keyed = (
  component: string,
  counts: Readonly<Record<string, number>> | undefined,
  prices: Readonly<Record<string, Decimal>> | undefined,
  unit: LineUnit,
  source: string,
  multiplier: Multiplier,
  lines: Array<CostLine>,
  missing: Missing
): void => {
  if (counts === undefined) return
  for (const key of Object.keys(counts).sort()) {
    const count = counts[key]!
    if (count === 0) continue
    // Own keys only: a key such as `constructor` or `toString` must not reach the object prototype.
    const own = ownValue(prices, key)
    const price = own ?? ownValue(prices, "*")
    const name = `${component}:${key}`
    if (price === undefined) missing.push({ component: name, quantity: new Decimal(count), unit })
    else {
      lines.push(line(
        name,
        new Decimal(count),
        unit,
        price,
        "unit",
        `${source}.${own !== undefined ? key : "*"}`,
        price,
        multiplier
      ))
    }
  }
}

const unitLines = (
  snapshot: PricingSnapshot,
  usage: Usage,
  multiplier: Multiplier,
  lines: Array<CostLine>,
  missing: Missing
): void => {
  const units = snapshot.units ?? {}
  // Every call is a request; requests are priced only where the snapshot sets a per-request price.
  if (usage.requests !== undefined && usage.requests > 0 && units.perRequest !== undefined) {
    lines.push(line("requests", new Decimal(usage.requests), "request", units.perRequest, "unit", "units.perRequest", units.perRequest, multiplier))
  }
  keyed("image", usage.imagesGenerated, units.perImage, "image", "units.perImage", multiplier, lines, missing)
  const seconds = (component: string, quantity: Decimal | undefined, price: Decimal | undefined, source: string) => {
    if (quantity === undefined || quantity.isZero()) return
    if (price === undefined) missing.push({ component, quantity, unit: "second" })
    else lines.push(line(component, quantity, "second", price, "unit", source, price, multiplier))
  }
  seconds("audioSeconds", usage.audioSeconds, units.perAudioSecond, "units.perAudioSecond")
  seconds("videoSeconds", usage.videoSeconds, units.perVideoSecond, "units.perVideoSecond")
  if (usage.webSearches !== undefined && usage.webSearches > 0) {
    const price = units.perThousandWebSearches
    if (price === undefined) missing.push({ component: "webSearches", quantity: new Decimal(usage.webSearches), unit: "search" })
    else lines.push(line("webSearches", new Decimal(usage.webSearches), "search", price, "1k searches", "units.perThousandWebSearches", price.div(THOUSAND), multiplier))
  }
  keyed("toolCall", usage.toolCalls, units.perToolCall, "call", "units.perToolCall", multiplier, lines, missing)
}

interface Priced {
  readonly breakdown: CostBreakdown
  readonly missing: Missing
}

const priceAll = (usage: Usage, snapshot: PricingSnapshot): Priced => {
  const lines: Array<CostLine> = []
  const missing: Missing = []
  const compiled = compile(snapshot)
  const { tokens, units } = multipliersOf(snapshot, compiled, usage)
  const sum: ScaledSum = { value: 0, scale: 0, exact: true }
  tokenLines(snapshot, compiled, usage, tokens, lines, missing, sum)
  const tokenLineCount = lines.length
  unitLines(snapshot, usage, units, lines, missing)
  let total: Decimal
  if (sum.exact) {
    total = new Decimal(sum.value)
    if (sum.scale > 0) total = total.div(POWERS_OF_TEN[sum.scale]!)
    for (let i = tokenLineCount; i < lines.length; i++) total = total.plus(lines[i]!.amount)
  } else {
    total = ZERO
    for (const l of lines) total = total.plus(l.amount)
  }
  const breakdown: CostBreakdown = { snapshotId: snapshotId(snapshot), provider: snapshot.provider, modelKey: snapshot.modelKey, currency: currencyOf(snapshot), lines, total }
  return { breakdown, missing }
}

const missingError = (snapshot: PricingSnapshot, missing: Missing): PricingError => {
  const id = snapshotId(snapshot)
  const unique = [...new Set(missing.map((m) => m.component))]
  return new PricingError({
    reason: "missing-rate",
    snapshotId: id,
    provider: snapshot.provider,
    modelKey: snapshot.modelKey,
    components: unique,
    message: `${snapshot.provider}/${snapshot.modelKey} (snapshot ${id}) has usage but no price for: ${unique.join(", ")}`
  })
}

/**
 * Prices `usage` with `snapshot`. Lines come in a fixed order (token buckets, then units); the
 * total is their exact sum. Any usage without a price fails the whole call (`pricePartial` keeps
 * the priced part).
 */
export const price = (usage: Usage, snapshot: PricingSnapshot): Result.Result<CostBreakdown, PricingError> => {
  const { breakdown, missing } = priceAll(usage, snapshot)
  return missing.length > 0 ? Result.fail(missingError(snapshot, missing)) : Result.succeed(breakdown)
}

/**
 * Prices what has a price and names what has none: the breakdown of the priced lines, with
 * `missing` (component, quantity, unit) set when some usage has no rate; its `total` is the
 * priced part only. Never a silent zero: the caller records the missing components as a partial
 * cost (the cost at risk), and `error` is the `PricingError` `price` would have failed with.
 */
export const pricePartial = (usage: Usage, snapshot: PricingSnapshot): {
  readonly breakdown: CostBreakdown
  readonly error: PricingError | undefined
} => {
  const { breakdown, missing } = priceAll(usage, snapshot)
  if (missing.length === 0) return { breakdown, error: undefined }
  // One entry per component (graduated tiers may stop a bucket part way: the rest is missing).
  const merged = new Map<string, MissingComponent>()
  for (const m of missing) {
    const seen = merged.get(m.component)
    merged.set(m.component, seen === undefined ? m : { ...seen, quantity: seen.quantity.plus(m.quantity) })
  }
  return { breakdown: { ...breakdown, missing: [...merged.values()] }, error: missingError(snapshot, missing) }
}

/**
 * Rounds a breakdown for presentation: the total half-even to `scale` places, each line by
 * largest remainder so the rounded lines sum exactly to the rounded total.
 */
export const roundBreakdown = (breakdown: CostBreakdown, scale: number): CostBreakdown => {
  const { parts, total } = largestRemainder(breakdown.lines.map((l) => l.amount), scale)
  return { ...breakdown, lines: breakdown.lines.map((l, i) => ({ ...l, amount: parts[i]! })), total }
}
