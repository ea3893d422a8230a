/**
 * Rounding that keeps sums: each amount is rounded so that the rounded parts add up exactly to
 * the rounded whole (largest-remainder method). The one place Tally rounds money.
 */
import { Decimal, ZERO } from "./Money.ts"

/**
 * Rounds `amounts` to `scale` decimal places so they sum exactly to `total` rounded half-even to
 * the same scale. Each part moves by less than one unit of the last place (10^-scale).
 * Ties in remainder go to the earlier part, so the result is deterministic.
 */
export const largestRemainder = (amounts: ReadonlyArray<Decimal>, scale: number): { readonly parts: Array<Decimal>; readonly total: Decimal } => {
  if (!Number.isInteger(scale) || scale < 0) throw new RangeError(`scale must be a non-negative integer, got ${scale}`)
  let exactTotal = ZERO
  for (const amount of amounts) exactTotal = exactTotal.plus(amount)
  const total = exactTotal.toDecimalPlaces(scale, Decimal.ROUND_HALF_EVEN)
  const unit = new Decimal(10).pow(-scale)
  const parts = amounts.map((amount) => amount.toDecimalPlaces(scale, Decimal.ROUND_FLOOR))
  let floorSum = ZERO
  for (const part of parts) floorSum = floorSum.plus(part)
  // Floors never exceed the exact amounts and the rounded total is within half a unit of the exact
  // total, so the gap is a whole number of units between 0 and amounts.length.
  let unitsLeft = total.minus(floorSum).div(unit).toNumber()
  const order = amounts
    .map((amount, index) => ({ index, remainder: amount.minus(parts[index]!) }))
    .sort((a, b) => b.remainder.comparedTo(a.remainder) || a.index - b.index)
  for (const { index } of order) {
    if (unitsLeft <= 0) break
    parts[index] = parts[index]!.plus(unit)
    unitsLeft -= 1
  }
  return { parts, total }
}
