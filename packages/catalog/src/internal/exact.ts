/**
 * Exact conversion of JSON numbers into decimals. A price file's number is read from its
 * shortest round-trip decimal text (`String(n)`: 2.5e-6 -> "0.0000025"), never through binary
 * arithmetic; scaling and division are then exact decimal operations.
 */
import { Money } from "@tally/core"

/** The decimal a JSON number was written as, or undefined for NaN, infinities and negatives. */
export const fromNumber = (n: number): Money.Decimal | undefined =>
  Number.isFinite(n) && n >= 0 ? new Money.Decimal(String(n)) : undefined

const asFraction = (d: Money.Decimal): { numerator: bigint; denominator: bigint } => {
  const [whole, fraction = ""] = d.toFixed().split(".")
  return { numerator: BigInt(`${whole}${fraction}`), denominator: 10n ** BigInt(fraction.length) }
}

const gcd = (a: bigint, b: bigint): bigint => {
  let x = a < 0n ? -a : a
  let y = b < 0n ? -b : b
  while (y !== 0n) [x, y] = [y, x % y]
  return x
}

/**
 * `a / b` when the quotient is a terminating decimal, else undefined (e.g. 0.111 / 3600), so a
 * price is never silently rounded. Decided on the reduced fraction: it terminates exactly when
 * its denominator has no prime factors other than 2 and 5.
 */
export const divideExactly = (a: Money.Decimal, b: Money.Decimal): Money.Decimal | undefined => {
  if (b.isZero()) return undefined
  const x = asFraction(a)
  const y = asFraction(b)
  const numerator = x.numerator * y.denominator
  const denominator = x.denominator * y.numerator
  let reduced = denominator / gcd(numerator, denominator)
  if (reduced < 0n) reduced = -reduced
  while (reduced % 2n === 0n) reduced /= 2n
  while (reduced % 5n === 0n) reduced /= 5n
  return reduced === 1n ? a.div(b) : undefined
}

/** Canonical decimal text of a number's shortest form. */
export const text = (n: number): string | undefined => {
  const d = fromNumber(n)
  return d === undefined ? undefined : Money.format(d)
}
