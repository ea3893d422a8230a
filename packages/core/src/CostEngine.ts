/**
 * Prices a Usage against a PricingSnapshot, exactly. Pure functions over values: no I/O, no
 * Effect, no floats. A non-zero bucket without a rate is a `PricingError`, never a silent zero.
 */
import { Result, Schema } from "effect"
import { largestRemainder } from "./Allocation.ts"
import type { CostBreakdown, CostLine, LineUnit } from "./CostBreakdown.ts"
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

interface ResolvedRate {
  readonly perMillion: Decimal
  readonly source: string
  readonly conditions: ReadonlyArray<string>
}

/** Where a rate came from: the tier that set it, else the base (or fine-tuned) rates. */
const originOf = (bucket: TokenBucket, tier: Tier | undefined, baseOrigin: string): string =>
  tier?.rates[bucket] !== undefined ? `tiers[>${tier.aboveTokens}].rates` : baseOrigin

const tierLabel = (tier: Tier, mode: string): string =>
  `tier:${tier.name ?? `>${tier.aboveTokens}`}(>${tier.aboveTokens} prompt tokens, ${mode})`

/** The rate for one bucket given a set of rates, following the documented fallbacks. */
const resolveRate = (
  bucket: TokenBucket,
  rates: TokenRates,
  discountPercent: Decimal | undefined,
  originOf: (bucket: TokenBucket) => string
): ResolvedRate | undefined => {
  const own = rates[bucket]
  if (own !== undefined) return { perMillion: own, source: `${originOf(bucket)}.${bucket}`, conditions: [] }
  if (bucket === "reasoning" && rates.outputText !== undefined) {
    return { perMillion: rates.outputText, source: `${originOf("outputText")}.outputText`, conditions: ["reasoning:priced-at-output-rate"] }
  }
  if (bucket === "cacheRead" && discountPercent !== undefined && rates.inputText !== undefined) {
    return {
      perMillion: rates.inputText.times(HUNDRED.minus(discountPercent)).div(HUNDRED),
      source: `${originOf("inputText")}.inputText`,
      conditions: [`cached-input-discount:-${format(discountPercent)}%`]
    }
  }
  return undefined
}

/** Base rates with the fine-tuned overlay when the call ran on a fine-tuned model. */
const baseRates = (snapshot: PricingSnapshot, usage: Usage): { rates: TokenRates; origin: string; conditions: Array<string> } =>
  usage.fineTuned === true && snapshot.fineTunedRates !== undefined
    ? { rates: { ...snapshot.rates, ...snapshot.fineTunedRates }, origin: "fineTunedRates", conditions: ["fine-tuned"] }
    : { rates: snapshot.rates, origin: "rates", conditions: [] }

const sortedTiers = (snapshot: PricingSnapshot): ReadonlyArray<Tier> =>
  [...(snapshot.tiers ?? [])].sort((a, b) => a.aboveTokens - b.aboveTokens)

interface Multiplier {
  readonly factor: Decimal
  readonly conditions: ReadonlyArray<string>
}

const multipliers = (snapshot: PricingSnapshot, usage: Usage): { tokens: Multiplier; units: Multiplier } => {
  let common = ONE
  const commonConditions: Array<string> = []
  if (usage.serviceTier !== undefined) {
    const m = snapshot.serviceTierMultipliers?.[usage.serviceTier]
    if (m !== undefined) {
      common = common.times(m)
      commonConditions.push(`service-tier:${usage.serviceTier}(x${format(m)})`)
    }
  }
  if (usage.region !== undefined) {
    const m = snapshot.regionMultipliers?.[usage.region]
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
  return { tokens: { factor: tokens, conditions: tokenConditions }, units: { factor: common, conditions: commonConditions } }
}

const line = (
  component: string,
  quantity: Decimal,
  unit: LineUnit,
  listRate: Decimal,
  listRatePer: CostLine["listRatePer"],
  rateSource: string,
  perUnit: Decimal,
  factor: Decimal,
  conditions: ReadonlyArray<string>
): CostLine => {
  const unitPrice = perUnit.times(factor)
  return { component, quantity, unit, listRate, listRatePer, rateSource, unitPrice, amount: quantity.times(unitPrice), conditions }
}

const tokenLines = (
  snapshot: PricingSnapshot,
  usage: Usage,
  multiplier: Multiplier,
  lines: Array<CostLine>,
  missing: Array<string>
): void => {
  const base = baseRates(snapshot, usage)
  const tiers = sortedTiers(snapshot)
  const mode = snapshot.tierMode ?? "cliff"
  const emit = (bucket: TokenBucket, quantity: number, resolved: ResolvedRate, extra: ReadonlyArray<string>) =>
    lines.push(line(
      bucket,
      new Decimal(quantity),
      "token",
      resolved.perMillion,
      "1M tokens",
      resolved.source,
      resolved.perMillion.div(MILLION),
      multiplier.factor,
      [...base.conditions, ...extra, ...resolved.conditions, ...multiplier.conditions]
    ))

  if (mode === "cliff" || tiers.length === 0) {
    const prompt = promptSize(usage)
    let tier: Tier | undefined
    for (const candidate of tiers) if (prompt > candidate.aboveTokens) tier = candidate
    const rates = tier === undefined ? base.rates : { ...base.rates, ...tier.rates }
    const discount = tier?.cachedInputDiscountPercent ?? snapshot.cachedInputDiscountPercent
    const tierConditions = tier === undefined ? [] : [tierLabel(tier, "cliff")]
    for (const bucket of TokenBuckets) {
      const quantity = usage.tokens[bucket] ?? 0
      if (quantity === 0) continue
      const resolved = resolveRate(bucket, rates, discount, (key) => originOf(key, tier, base.origin))
      if (resolved === undefined) missing.push(bucket)
      else emit(bucket, quantity, resolved, tierConditions)
    }
    return
  }

  // Graduated: each bucket's own quantity is split into bands at the tier thresholds.
  for (const bucket of TokenBuckets) {
    const quantity = usage.tokens[bucket] ?? 0
    if (quantity === 0) continue
    let rates = base.rates
    let discount = snapshot.cachedInputDiscountPercent
    let lower = 0
    let label: Array<string> = []
    let tier: Tier | undefined
    for (let band = 0; band <= tiers.length && lower < quantity; band++) {
      const next = tiers[band]
      const upper = next === undefined ? quantity : Math.min(quantity, next.aboveTokens)
      if (upper > lower) {
        const bandTier = tier
        const resolved = resolveRate(bucket, rates, discount, (key) => originOf(key, bandTier, base.origin))
        if (resolved === undefined) {
          missing.push(bucket)
          break
        }
        emit(bucket, upper - lower, resolved, label)
        lower = upper
      }
      if (next !== undefined) {
        rates = { ...rates, ...next.rates }
        discount = next.cachedInputDiscountPercent ?? discount
        label = [tierLabel(next, "graduated")]
        tier = next
      }
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
  missing: Array<string>
): void => {
  if (counts === undefined) return
  for (const key of Object.keys(counts).sort()) {
    const count = counts[key]!
    if (count === 0) continue
    const own = prices?.[key]
    const price = own ?? prices?.["*"]
    const name = `${component}:${key}`
    if (price === undefined) missing.push(name)
    else {
      lines.push(line(
        name,
        new Decimal(count),
        unit,
        price,
        "unit",
        `${source}.${own !== undefined ? key : "*"}`,
        price,
        multiplier.factor,
        multiplier.conditions
      ))
    }
  }
}

const unitLines = (
  snapshot: PricingSnapshot,
  usage: Usage,
  multiplier: Multiplier,
  lines: Array<CostLine>,
  missing: Array<string>
): void => {
  const units = snapshot.units ?? {}
  // Every call is a request; requests are priced only where the snapshot sets a per-request price.
  if (usage.requests !== undefined && usage.requests > 0 && units.perRequest !== undefined) {
    lines.push(line("requests", new Decimal(usage.requests), "request", units.perRequest, "unit", "units.perRequest", units.perRequest, multiplier.factor, multiplier.conditions))
  }
  keyed("image", usage.imagesGenerated, units.perImage, "image", "units.perImage", multiplier, lines, missing)
  const seconds = (component: string, quantity: Decimal | undefined, price: Decimal | undefined, source: string) => {
    if (quantity === undefined || quantity.isZero()) return
    if (price === undefined) missing.push(component)
    else lines.push(line(component, quantity, "second", price, "unit", source, price, multiplier.factor, multiplier.conditions))
  }
  seconds("audioSeconds", usage.audioSeconds, units.perAudioSecond, "units.perAudioSecond")
  seconds("videoSeconds", usage.videoSeconds, units.perVideoSecond, "units.perVideoSecond")
  if (usage.webSearches !== undefined && usage.webSearches > 0) {
    const price = units.perThousandWebSearches
    if (price === undefined) missing.push("webSearches")
    else lines.push(line("webSearches", new Decimal(usage.webSearches), "search", price, "1k searches", "units.perThousandWebSearches", price.div(THOUSAND), multiplier.factor, multiplier.conditions))
  }
  keyed("toolCall", usage.toolCalls, units.perToolCall, "call", "units.perToolCall", multiplier, lines, missing)
}

/**
 * Prices `usage` with `snapshot`. Lines come in a fixed order (token buckets, then units); the
 * total is their exact sum.
 */
export const price = (usage: Usage, snapshot: PricingSnapshot): Result.Result<CostBreakdown, PricingError> => {
  const lines: Array<CostLine> = []
  const missing: Array<string> = []
  const { tokens, units } = multipliers(snapshot, usage)
  tokenLines(snapshot, usage, tokens, lines, missing)
  unitLines(snapshot, usage, units, lines, missing)
  const id = snapshotId(snapshot)
  if (missing.length > 0) {
    const unique = [...new Set(missing)]
    return Result.fail(new PricingError({
      reason: "missing-rate",
      snapshotId: id,
      provider: snapshot.provider,
      modelKey: snapshot.modelKey,
      components: unique,
      message: `${snapshot.provider}/${snapshot.modelKey} (snapshot ${id}) has usage but no price for: ${unique.join(", ")}`
    }))
  }
  let total = ZERO
  for (const l of lines) total = total.plus(l.amount)
  return Result.succeed({ snapshotId: id, provider: snapshot.provider, modelKey: snapshot.modelKey, currency: currencyOf(snapshot), lines, total })
}

/**
 * Rounds a breakdown for presentation: the total half-even to `scale` places, each line by
 * largest remainder so the rounded lines sum exactly to the rounded total.
 */
export const roundBreakdown = (breakdown: CostBreakdown, scale: number): CostBreakdown => {
  const { parts, total } = largestRemainder(breakdown.lines.map((l) => l.amount), scale)
  return { ...breakdown, lines: breakdown.lines.map((l, i) => ({ ...l, amount: parts[i]! })), total }
}
