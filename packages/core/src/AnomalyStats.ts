/**
 * Robust statistics for anomaly detection: median, median absolute deviation (MAD), quantiles and
 * the modified z-score, over exact decimals (spend is money, so it never passes through a float).
 *
 * Median and MAD ignore a minority of outliers entirely, where a mean and standard deviation are
 * dragged by them: a baseline that contains last week's incident still describes a normal week.
 */
import * as Money from "./Money.ts"

type Decimal = Money.Decimal

const compare = (a: Decimal, b: Decimal) => a.comparedTo(b)

const sorted = (values: ReadonlyArray<Decimal>): Array<Decimal> => [...values].sort(compare)

const TWO = new Money.Decimal(2)

/** The middle value (the mean of the two middle values for an even count); undefined when empty. */
export const median = (values: ReadonlyArray<Decimal>): Decimal | undefined => medianOfSorted(sorted(values))

const medianOfSorted = (values: ReadonlyArray<Decimal>): Decimal | undefined => {
  const n = values.length
  if (n === 0) return undefined
  const mid = Math.floor(n / 2)
  return n % 2 === 1 ? values[mid]! : values[mid - 1]!.plus(values[mid]!).dividedBy(TWO)
}

/** Median absolute deviation from `center` (the median by default), unscaled; undefined when empty. */
export const mad = (values: ReadonlyArray<Decimal>, center?: Decimal): Decimal | undefined => {
  const c = center ?? median(values)
  return c === undefined ? undefined : median(values.map((value) => value.minus(c).abs()))
}

/**
 * The `q` quantile (0 <= q <= 1) with linear interpolation between order statistics (Hyndman and
 * Fan's type 7, the default of R and NumPy); undefined when empty.
 */
export const quantile = (values: ReadonlyArray<Decimal>, q: number): Decimal | undefined => {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: expected 0 <= q <= 1, got ${q}`)
  const xs = sorted(values)
  if (xs.length === 0) return undefined
  const h = new Money.Decimal(xs.length - 1).times(q)
  const lo = h.floor().toNumber()
  const hi = Math.min(lo + 1, xs.length - 1)
  return xs[lo]!.plus(xs[hi]!.minus(xs[lo]!).times(h.minus(lo)))
}

/** Median and MAD of a baseline, with its size. */
export interface Robust {
  readonly n: number
  readonly median: Decimal
  readonly mad: Decimal
}

export const robust = (values: ReadonlyArray<Decimal>): Robust | undefined => {
  const xs = sorted(values)
  const m = medianOfSorted(xs)
  if (m === undefined) return undefined
  return { n: xs.length, median: m, mad: median(xs.map((x) => x.minus(m).abs()))! }
}

/**
 * Φ⁻¹(0.75): for normal data MAD ≈ 0.6745 σ, so MAD / 0.6745 estimates σ robustly. Iglewicz and
 * Hoaglin's modified z-score is 0.6745 (x − median) / MAD.
 */
export const MAD_TO_SIGMA = new Money.Decimal("0.6745")

/** The robust standard deviation MAD / 0.6745 (≈ 1.4826 MAD). */
export const sigma = (baseline: Robust): Decimal => baseline.mad.dividedBy(MAD_TO_SIGMA)

/**
 * Modified z-score of `x` against a baseline: (x − median) / max(MAD / 0.6745, minScale).
 *
 * `minScale` (> 0) keeps a flat history from making every small wobble infinitely surprising: a
 * scope that spent exactly 10.00 every hour for a week has MAD 0, and 10.01 is not an anomaly.
 * Callers pass a floor relative to the median, an absolute one, or the larger of both.
 */
export const modifiedZ = (x: Decimal, baseline: Robust, minScale: Decimal): Decimal => {
  if (!minScale.isPositive() || minScale.isZero()) throw new RangeError("modifiedZ: minScale must be > 0")
  const deviation = x.minus(baseline.median)
  // 0.6745 (x − median) / MAD as written, so exact inputs give exact scores.
  return sigma(baseline).greaterThanOrEqualTo(minScale)
    ? deviation.times(MAD_TO_SIGMA).dividedBy(baseline.mad)
    : deviation.dividedBy(minScale)
}

/**
 * The same statistics over plain numbers, for quantities that are not money: token counts (exact
 * integers in a JS number), shares of a mix, distances between mixes. These skip decimal
 * arithmetic on series of thousands of minutes or hours.
 */
export const Numbers = {
  /** The `q` quantile, type 7 as `quantile`; undefined when empty. Sorts a copy. */
  quantile: (values: ArrayLike<number>, q: number): number | undefined => {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: expected 0 <= q <= 1, got ${q}`)
    if (values.length === 0) return undefined
    return quantileOfSorted(Float64Array.from(values).sort(), q)
  },
  median: (values: ArrayLike<number>): number | undefined => Numbers.quantile(values, 0.5),
  robust: (values: ArrayLike<number>): NumberRobust | undefined => {
    if (values.length === 0) return undefined
    const xs = Float64Array.from(values).sort()
    const median = quantileOfSorted(xs, 0.5)
    const deviations = xs.map((x) => Math.abs(x - median)).sort()
    return { n: xs.length, median, mad: quantileOfSorted(deviations, 0.5) }
  },
  /** (x − median) / max(MAD / 0.6745, minScale), as `modifiedZ`. */
  modifiedZ: (x: number, baseline: NumberRobust, minScale: number): number => {
    if (!(minScale > 0)) throw new RangeError("modifiedZ: minScale must be > 0")
    return (x - baseline.median) / Math.max(baseline.mad / 0.6745, minScale)
  },
  /**
   * Total variation distance between two distributions over the same keys (shares that each
   * sum to 1): half the sum of absolute differences, 0 for equal mixes, 1 for disjoint ones.
   */
  totalVariation: (p: ReadonlyMap<string, number>, q: ReadonlyMap<string, number>): number => {
    let sum = 0
    for (const [key, value] of p) sum += Math.abs(value - (q.get(key) ?? 0))
    for (const [key, value] of q) if (!p.has(key)) sum += value
    return sum / 2
  },
  /** Shares of a total per key; empty when the total is zero. */
  shares: (amounts: ReadonlyMap<string, number>): Map<string, number> => {
    let total = 0
    for (const amount of amounts.values()) total += amount
    const out = new Map<string, number>()
    if (total > 0) for (const [key, amount] of amounts) out.set(key, amount / total)
    return out
  }
}

export interface NumberRobust {
  readonly n: number
  readonly median: number
  readonly mad: number
}

const quantileOfSorted = (xs: Float64Array, q: number): number => {
  const h = (xs.length - 1) * q
  const lo = Math.floor(h)
  const hi = Math.min(lo + 1, xs.length - 1)
  return xs[lo]! + (xs[hi]! - xs[lo]!) * (h - lo)
}
