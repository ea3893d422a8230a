/**
 * Exchange rates and conversion into a tenant's reporting currency (its `currency`).
 *
 * A rate is dated data: `rate` units of `quote` per unit of `base`, for one calendar day (UTC),
 * with the `source` it came from and the source's timestamp (`observedAt`), and the instant Tally
 * recorded it (`recordedAt`). Rates are only ever added: a corrected rate for a day is a new rate
 * recorded later, and the old one stays. An amount of a day is converted at the rate of that day
 * recorded last at or before the conversion's instant (`asOf`), so converting again as of the same
 * instant gives the same result, and a rate added later produces a new conversion instead of
 * changing an old one.
 *
 * Rounding rule: a conversion is exact (the amount times the rate, both decimals, nothing
 * rounded); only where money leaves the system (statements, exports that round) is an amount
 * rounded, to the minor unit of its currency, half to even, with largest remainder so rounded lines
 * sum to the rounded total. No inverse rates are derived (1 / rate is not exact): a conversion from
 * EUR to USD needs a EUR->USD rate.
 */
import * as Schema from "effect/Schema"
import * as CalendarTime from "./CalendarTime.ts"
import * as Csv from "./Csv.ts"
import * as FieldError from "./FieldError.ts"
import * as Money from "./Money.ts"

/** A calendar day, `YYYY-MM-DD` (a real date). */
export const Day = Schema.String.check(
  Schema.makeFilter<string>((text) =>
    !/^\d{4}-\d{2}-\d{2}$/.test(text)
      ? "expected a day as YYYY-MM-DD"
      : CalendarTime.problemOf(text) ?? undefined
  )
)

/** A rate strictly above zero. */
const PositiveRate = Money.InputDecimal.check(
  Schema.makeFilter<Money.Decimal>((d) => d.isZero() || d.isNegative() ? `expected a rate above 0, got ${Money.format(d)}` : undefined)
)

/** A rate as entered or imported. */
export const RateInput = Schema.Struct({
  base: Money.CurrencyCode,
  quote: Money.CurrencyCode,
  date: Day,
  rate: PositiveRate,
  source: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)),
  /** When the source published or observed the rate (ISO 8601); the day's start when absent. */
  observedAt: Schema.optionalKey(Schema.String)
})
export type RateInput = typeof RateInput.Type

/** A stored rate. */
export interface Rate {
  readonly id: string
  readonly base: string
  readonly quote: string
  readonly date: string
  readonly rate: Money.Decimal
  readonly source: string
  readonly observedAt: string
  readonly recordedAt: string
  readonly recordedBy: string
}

export class InvalidRate extends Schema.TaggedError<InvalidRate>()("InvalidRate", {
  field: Schema.String,
  message: Schema.String
}) {}

/** No rate from `base` to `quote` was recorded for `date` (as of the conversion's instant). */
export class RateMissing extends Schema.TaggedError<RateMissing>()("RateMissing", {
  base: Schema.String,
  quote: Schema.String,
  date: Schema.String,
  message: Schema.String
}) {}

export const rateMissing = (base: string, quote: string, date: string): RateMissing =>
  new RateMissing({ base, quote, date, message: `no ${base}->${quote} exchange rate for ${date}: add one (tally fx add or fx import)` })

const decodeRate = Schema.decodeUnknownResult(RateInput)

/** Validates one rate; the error names the field (`rates[2].rate` with `at`). */
export const validate = (input: unknown, at = ""): RateInput | InvalidRate => {
  const result = decodeRate(input, { onExcessProperty: "error" })
  if (result._tag === "Success") {
    if (result.success.base === result.success.quote) {
      return new InvalidRate({ field: at === "" ? "quote" : `${at}.quote`, message: "quote: expected another currency than base" })
    }
    const observed = result.success.observedAt
    if (observed !== undefined && (CalendarTime.problemOf(observed) !== undefined || Number.isNaN(Date.parse(observed)))) {
      return new InvalidRate({ field: at === "" ? "observedAt" : `${at}.observedAt`, message: `observedAt: expected an ISO 8601 date-time, got ${JSON.stringify(observed)}` })
    }
    return result.success
  }
  const problem = FieldError.fromSchemaError(result.failure, { prefix: at })
  return new InvalidRate({ field: problem.field, message: `${problem.field}: ${problem.message}` })
}

/** The columns (and JSON keys) of an import file. */
export const importColumns = ["base", "quote", "date", "rate", "source", "observedAt"] as const

/**
 * Rates from a file: CSV with a header naming `importColumns` (`observedAt` optional; `source`
 * optional when `defaultSource` is given), or JSON (an array of rate objects, or `{ "rates": [...] }`).
 * All or nothing: the first bad rate fails the import with its row or index.
 */
export const parseImport = (
  text: string,
  format: "csv" | "json",
  defaultSource?: string
): ReadonlyArray<RateInput> | InvalidRate => {
  const rows: Array<{ readonly at: string; readonly value: Record<string, unknown> }> = []
  if (format === "json") {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (e) {
      return new InvalidRate({ field: "(file)", message: `(file): not JSON: ${(e as Error).message}` })
    }
    const list = Array.isArray(parsed) ? parsed : (parsed as { rates?: unknown } | null)?.rates
    if (!Array.isArray(list)) return new InvalidRate({ field: "(file)", message: "(file): expected an array of rates or { \"rates\": [...] }" })
    list.forEach((value: unknown, i) => rows.push({ at: `rates[${i}]`, value: value as Record<string, unknown> }))
  } else {
    const parsed = Csv.parse(text)
    if (parsed._tag === "Failure") return new InvalidRate({ field: "(file)", message: `(file): ${parsed.failure.message}` })
    const [header, ...records] = parsed.success
    if (header === undefined) return new InvalidRate({ field: "(file)", message: "(file): empty, expected a header row" })
    const names = header.map((h) => h.trim())
    for (const name of names) {
      if (!(importColumns as ReadonlyArray<string>).includes(name)) {
        return new InvalidRate({ field: "(header)", message: `(header): unknown column ${JSON.stringify(name)}, expected ${importColumns.join(", ")}` })
      }
    }
    records.forEach((record, i) => {
      if (record.length === 1 && record[0] === "") return
      const value: Record<string, unknown> = {}
      names.forEach((name, j) => {
        const cell = record[j]
        if (cell !== undefined && cell !== "") value[name] = cell.trim()
      })
      rows.push({ at: `row ${i + 2}`, value })
    })
  }
  if (rows.length === 0) return new InvalidRate({ field: "(file)", message: "(file): no rates" })
  const out: Array<RateInput> = []
  for (const { at, value } of rows) {
    const withSource = defaultSource !== undefined && value !== null && typeof value === "object" && value["source"] === undefined
      ? { ...value, source: defaultSource }
      : value
    const rate = validate(withSource, at)
    if (rate instanceof InvalidRate) return rate
    out.push(rate)
  }
  return out
}

/** The UTC day of an instant, `YYYY-MM-DD`. */
export const dayOf = (instant: Date): string => instant.toISOString().slice(0, 10)

/**
 * The rate of a day: among `rates` from `base` to `quote` for `date` recorded at or before `asOf`
 * (ISO 8601), the one recorded last (ties: the larger id, so the choice is total). Undefined when
 * there is none. `rates` may hold any days and currencies.
 */
export const pick = (
  rates: ReadonlyArray<Rate>,
  base: string,
  quote: string,
  date: string,
  asOf: string
): Rate | undefined => {
  const limit = Date.parse(asOf)
  let best: Rate | undefined
  for (const r of rates) {
    if (r.base !== base || r.quote !== quote || r.date !== date) continue
    if (Date.parse(r.recordedAt) > limit) continue
    if (
      best === undefined || Date.parse(r.recordedAt) > Date.parse(best.recordedAt) ||
      (Date.parse(r.recordedAt) === Date.parse(best.recordedAt) && r.id > best.id)
    ) best = r
  }
  return best
}

/** `amount` in the quote currency: exact, never rounded (see the module comment). */
export const convert = (amount: Money.Decimal, rate: Money.Decimal): Money.Decimal => amount.times(rate)

/** One day's amount in one currency, and what it is in the reporting currency at that day's rate. */
export interface ConvertedDay {
  readonly date: string
  readonly currency: string
  readonly amount: Money.Decimal
  /** Undefined when the amount is already in the reporting currency. */
  readonly rate: Rate | undefined
  readonly converted: Money.Decimal
}

/**
 * Converts amounts by day into `reporting`: each at the rate of its day as of `asOf`. Amounts in
 * the reporting currency are kept as they are. Fails with the first missing rate (in `days` order).
 */
export const convertDays = (
  days: ReadonlyArray<{ readonly date: string; readonly currency: string; readonly amount: Money.Decimal }>,
  reporting: string,
  rates: ReadonlyArray<Rate>,
  asOf: string
): ReadonlyArray<ConvertedDay> | RateMissing => {
  const { converted, notConverted } = convertAvailable(days, reporting, rates, asOf)
  const missing = notConverted[0]
  return missing === undefined ? converted : rateMissing(missing.currency, reporting, missing.date)
}

/** What `convertAvailable` converted, what it could not (no rate for the day), and the converted sum. */
export interface PartialConversion {
  readonly converted: ReadonlyArray<ConvertedDay>
  readonly notConverted: ReadonlyArray<{ readonly date: string; readonly currency: string; readonly amount: Money.Decimal }>
  /** Sum of `converted` in the reporting currency. */
  readonly total: Money.Decimal
}

/**
 * `convertDays` that never fails: a day without a rate (as of `asOf`) is listed in `notConverted`
 * and left out of `total`, instead of failing the whole conversion (budgets count what they can).
 */
export const convertAvailable = (
  days: ReadonlyArray<{ readonly date: string; readonly currency: string; readonly amount: Money.Decimal }>,
  reporting: string,
  rates: ReadonlyArray<Rate>,
  asOf: string
): PartialConversion => {
  const converted: Array<ConvertedDay> = []
  const notConverted: Array<{ date: string; currency: string; amount: Money.Decimal }> = []
  let total = Money.ZERO
  for (const day of days) {
    if (day.currency === reporting) {
      converted.push({ ...day, rate: undefined, converted: day.amount })
      total = total.plus(day.amount)
      continue
    }
    const rate = pick(rates, day.currency, reporting, day.date, asOf)
    if (rate === undefined) {
      notConverted.push({ date: day.date, currency: day.currency, amount: day.amount })
      continue
    }
    const amount = convert(day.amount, rate.rate)
    converted.push({ ...day, rate, converted: amount })
    total = total.plus(amount)
  }
  return { converted, notConverted, total }
}
