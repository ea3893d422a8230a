/**
 * Exact decimal arithmetic for money and rates. Every amount and rate in Tally is a `Decimal`
 * from this one configured clone; JavaScript numbers never hold money.
 */
import * as DecimalModule from "decimal.js"
import { Schema, SchemaGetter, SchemaIssue } from "effect"
import * as Option from "effect/Option"
import * as Effect from "effect/Effect"

/**
 * Precision 80 keeps every product of a safe-integer quantity (16 digits) and a rate with up to
 * 40 significant digits exact; ROUND_HALF_EVEN is banker's rounding, used only at presentation.
 * The exponent limits keep `toString` from ever switching to exponent notation.
 */
// decimal.js ships ESM with only a default export while its typings read as CommonJS; the
// namespace's `default` is the class under both readings.
const DecimalJs = (DecimalModule as unknown as { readonly default: typeof DecimalModule.Decimal }).default
type DecimalJs = DecimalModule.Decimal

export const Decimal = DecimalJs.clone({
  precision: 80,
  rounding: DecimalJs.ROUND_HALF_EVEN,
  toExpNeg: -9e15,
  toExpPos: 9e15
})
export type Decimal = DecimalJs

export const ZERO: Decimal = new Decimal(0)
export const ONE: Decimal = new Decimal(1)
export const MILLION: Decimal = new Decimal(1_000_000)
export const HUNDRED: Decimal = new Decimal(100)

/** A plain decimal literal: optional minus, digits, optional fraction. No exponent, no spaces. */
const DECIMAL_LITERAL = /^-?(?:0|[1-9]\d*)(?:\.\d+)?$/

/** Canonical text of a decimal: no exponent, no trailing fraction zeros, "0" for zero. */
export const format = (value: Decimal): string => (value.isZero() ? "0" : value.toFixed())

/** Parses a decimal literal; undefined when the text is not one. */
export const parse = (text: string): Decimal | undefined =>
  DECIMAL_LITERAL.test(text) ? new Decimal(text) : undefined

export const isDecimal = (u: unknown): u is Decimal => u instanceof Decimal

const DecimalInstance = Schema.declare(isDecimal, {
  identifier: "Decimal",
  expected: "a Decimal"
})

const describe = (u: unknown): string =>
  typeof u === "string" ? JSON.stringify(u.length > 40 ? `${u.slice(0, 40)}…` : u) : typeof u

/**
 * A decimal carried as a string at every boundary (JSON, GraphQL, SQL NUMERIC text), decoded to a
 * `Decimal`. Rejects numbers, empty strings, NaN, Infinity and exponent notation: a rate like
 * "1e-6" is ambiguous to the humans who edit price files, so it must be written out.
 */
export const DecimalFromString = Schema.String.pipe(
  Schema.decodeTo(DecimalInstance, {
    decode: SchemaGetter.transformOptionalEffect((input: Option.Option<string>) => {
      if (Option.isNone(input)) return Effect.succeed(Option.none())
      const value = parse(input.value)
      return value === undefined
        ? Effect.fail(
          new SchemaIssue.InvalidValue({
            message: `expected a decimal string like "2.50" (no exponent, NaN or Infinity), got ${describe(input.value)}`
          }, input)
        )
        : Effect.succeed(Option.some(value))
    }),
    encode: SchemaGetter.transform(format)
  })
).annotate({ identifier: "DecimalString" })

/** Digits an amount entering from outside may have: before the point, and after it (its scale). */
export const inputLimits = { integerDigits: 20, scale: 30 } as const

/**
 * Why a decimal literal is too long to be taken as input (more than 20 digits before the point or
 * 30 after), or undefined. Amounts computed inside (sums, products) are not limited.
 */
export const inputProblem = (text: string): string | undefined => {
  const unsigned = text.startsWith("-") ? text.slice(1) : text
  const point = unsigned.indexOf(".")
  const integer = point === -1 ? unsigned.length : point
  const scale = point === -1 ? 0 : unsigned.length - point - 1
  if (integer > inputLimits.integerDigits) {
    return `expected at most ${inputLimits.integerDigits} digits before the decimal point, got ${integer}`
  }
  if (scale > inputLimits.scale) return `expected at most ${inputLimits.scale} digits after the decimal point, got ${scale}`
  return undefined
}

const withinInputLimits = Schema.makeFilter<Decimal>(
  (d) => inputProblem(d.toFixed()) ?? undefined,
  { identifier: "InputDecimal" }
)

const nonNegative = Schema.makeFilter<Decimal>(
  (d) => d.isNegative() ? `expected a non-negative decimal, got ${format(d)}` : undefined,
  { identifier: "NonNegative" }
)

/**
 * A decimal string entering from outside (a request body, a GraphQL argument, an event): within
 * `inputLimits`, so a 200,000-digit amount or 0.000…1 with 5,000 zeros is refused by name.
 */
export const InputDecimal = DecimalFromString.check(withinInputLimits)

/** An `InputDecimal` that is >= 0. */
export const NonNegativeInputDecimal = InputDecimal.check(nonNegative)

/** A rate, price, multiplier or duration: a decimal string that is >= 0. */
export const NonNegativeDecimal = DecimalFromString.check(nonNegative)

/** A percentage between 0 and 100 inclusive, as a decimal string. */
export const Percent = DecimalFromString.check(
  Schema.makeFilter<Decimal>(
    (d) => d.isNegative() || d.greaterThan(HUNDRED) ? `expected a percentage between 0 and 100, got ${format(d)}` : undefined,
    { identifier: "Percent" }
  )
)

/** ISO 4217 alphabetic currency code. */
export const CurrencyCode = Schema.String.check(
  Schema.isPattern(/^[A-Z]{3}$/, { message: "expected an ISO 4217 currency code such as \"USD\"" })
)

/** Minor-unit exponent of a currency (cents = 2); used when rounding for statements. */
export const minorUnits = (currency: string): number => {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits
  return digits ?? 2
}

export const sum = (values: Iterable<Decimal>): Decimal => {
  let total = ZERO
  for (const value of values) total = total.plus(value)
  return total
}
