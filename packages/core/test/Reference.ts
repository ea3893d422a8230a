/**
 * An independent reference for the cost engine: exact rational arithmetic over BigInt, working
 * from the snapshot's encoded decimal strings. It shares no arithmetic with the engine.
 */
import type { PricingSnapshot, Usage } from "../src/index.ts"

export interface Rational {
  readonly n: bigint
  readonly d: bigint
}

const gcd = (a: bigint, b: bigint): bigint => {
  a = a < 0n ? -a : a
  b = b < 0n ? -b : b
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

export const rat = (n: bigint, d: bigint = 1n): Rational => {
  if (d < 0n) [n, d] = [-n, -d]
  const g = gcd(n, d) || 1n
  return { n: n / g, d: d / g }
}
export const add = (a: Rational, b: Rational): Rational => rat(a.n * b.d + b.n * a.d, a.d * b.d)
export const mul = (a: Rational, b: Rational): Rational => rat(a.n * b.n, a.d * b.d)
export const eq = (a: Rational, b: Rational): boolean => a.n === b.n && a.d === b.d

/** "12.345" -> 12345/1000, parsed by hand from the text. */
export const fromDecimalString = (text: string): Rational => {
  const negative = text.startsWith("-")
  const body = negative ? text.slice(1) : text
  const [whole, fraction = ""] = body.split(".")
  const n = BigInt(`${whole}${fraction}`) * (negative ? -1n : 1n)
  return rat(n, 10n ** BigInt(fraction.length))
}

const ZERO = rat(0n)
const ONE = rat(1n)
const percentOff = (pct: string): Rational => add(ONE, mul(fromDecimalString(pct), rat(-1n, 100n)))

type Encoded = typeof PricingSnapshot.PricingSnapshot.Encoded
type Rates = Encoded["rates"]

/** Cliff-tier reference total (no graduated tiers). */
export const referenceTotal = (usage: typeof Usage.Usage.Type, s: Encoded): Rational | "missing" => {
  let prompt = usage.promptTokens
  if (prompt === undefined) {
    prompt = 0
    for (const k of ["inputText", "cacheRead", "cacheReadImage", "cacheReadAudio", "cacheReadVideo", "cacheWrite5m", "cacheWrite1h", "inputImage", "inputAudio", "inputVideo", "embedding"] as const) {
      prompt += usage.tokens[k] ?? 0
    }
  }
  let rates: Rates = s.rates
  let discount = s.cachedInputDiscountPercent
  if (usage.fineTuned === true && s.fineTunedRates !== undefined) rates = { ...rates, ...s.fineTunedRates }
  let best: Encoded["tiers"] extends ReadonlyArray<infer T> | undefined ? T | undefined : never
  for (const tier of s.tiers ?? []) {
    if (prompt > tier.aboveTokens && (best === undefined || tier.aboveTokens > best.aboveTokens)) best = tier
  }
  if (best !== undefined) {
    rates = { ...rates, ...best.rates }
    discount = best.cachedInputDiscountPercent ?? discount
  }
  let common = ONE
  if (usage.serviceTier !== undefined && s.serviceTierMultipliers?.[usage.serviceTier] !== undefined) {
    common = mul(common, fromDecimalString(s.serviceTierMultipliers[usage.serviceTier]!))
  }
  if (usage.region !== undefined && s.regionMultipliers?.[usage.region] !== undefined) {
    common = mul(common, fromDecimalString(s.regionMultipliers[usage.region]!))
  }
  const tokenFactor = usage.batch === true && s.batchDiscountPercent !== undefined ? mul(common, percentOff(s.batchDiscountPercent)) : common
  const cacheReadRate = rates.cacheRead !== undefined
    ? fromDecimalString(rates.cacheRead)
    : discount !== undefined && rates.inputText !== undefined ? mul(fromDecimalString(rates.inputText), percentOff(discount)) : undefined
  let total = ZERO
  for (const [bucket, count] of Object.entries(usage.tokens) as Array<[keyof Rates, number]>) {
    if (count === 0) continue
    let rate: Rational | undefined
    if (rates[bucket] !== undefined) rate = fromDecimalString(rates[bucket]!)
    else if (bucket === "reasoning" && rates.outputText !== undefined) rate = fromDecimalString(rates.outputText)
    // cacheRead from the discount; image, audio and video cache reads at the cache-read rate.
    else if (bucket === "cacheRead" || bucket === "cacheReadImage" || bucket === "cacheReadAudio" || bucket === "cacheReadVideo") rate = cacheReadRate
    if (rate === undefined) return "missing"
    total = add(total, mul(mul(rat(BigInt(count)), mul(rate, rat(1n, 1_000_000n))), tokenFactor))
  }
  const units = s.units ?? {}
  if ((usage.requests ?? 0) > 0 && units.perRequest !== undefined) {
    total = add(total, mul(mul(rat(BigInt(usage.requests!)), fromDecimalString(units.perRequest)), common))
  }
  if ((usage.webSearches ?? 0) > 0) {
    if (units.perThousandWebSearches === undefined) return "missing"
    total = add(total, mul(mul(rat(BigInt(usage.webSearches!)), mul(fromDecimalString(units.perThousandWebSearches), rat(1n, 1000n))), common))
  }
  for (const [key, count] of Object.entries(usage.toolCalls ?? {})) {
    if (count === 0) continue
    const p = units.perToolCall?.[key] ?? units.perToolCall?.["*"]
    if (p === undefined) return "missing"
    total = add(total, mul(mul(rat(BigInt(count)), fromDecimalString(p)), common))
  }
  for (const [key, count] of Object.entries(usage.imagesGenerated ?? {})) {
    if (count === 0) continue
    const p = units.perImage?.[key] ?? units.perImage?.["*"]
    if (p === undefined) return "missing"
    total = add(total, mul(mul(rat(BigInt(count)), fromDecimalString(p)), common))
  }
  return total
}
