/**
 * What a run is asked for: a period (an explicit `[from, to)` or a calendar month of the tenant's
 * time zone), an owner dimension, the rule for shared and unowned cost, the shared owners and the
 * currency. Decoding from JSON names the field at fault; resolving checks what needs the tenant.
 */
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as FieldError from "../FieldError.ts"
import * as Money from "../Money.ts"
import * as Dimension from "./Dimension.ts"
import { invalid, type InvalidChargeback } from "./InvalidChargeback.ts"
import { OwnerValue } from "./Rule.ts"
import * as Rules from "./Rules.ts"

export interface RunInput {
  /** `[from, to)`; give both, or `month` instead. */
  readonly from?: DateTime.Utc | undefined
  readonly to?: DateTime.Utc | undefined
  /** A calendar month of the tenant's time zone, `YYYY-MM`. */
  readonly month?: string | undefined
  /** `team`, `costCenter`, any other label, `model`, `provider`, or `tag:<key>`. */
  readonly dimension: string
  /** Default `{ kind: "proportional" }`. */
  readonly rule?: Rules.RuleInput | undefined
  /** Owner values whose cost is shared: pooled with the unowned cost and split by the rule. */
  readonly shared?: ReadonlyArray<string> | undefined
  /** Default: the tenant's currency. */
  readonly currency?: string | undefined
}

const IsoDateTime = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i, {
    message: "expected an ISO 8601 date-time with a zone, e.g. 2026-05-01T00:00:00Z"
  })
).pipe(Schema.decodeTo(Schema.DateTimeUtc, SchemaTransformation.dateTimeUtcFromString))

const Month = Schema.String.check(
  Schema.isPattern(/^\d{4}-(?:0[1-9]|1[0-2])$/, { message: "expected a month as YYYY-MM, e.g. 2026-03" })
)

/** A run request as JSON (GraphQL input, HTTP body, CLI flags). */
export const RunInputJson = Schema.Struct({
  from: Schema.optionalKey(IsoDateTime),
  to: Schema.optionalKey(IsoDateTime),
  month: Schema.optionalKey(Month),
  dimension: Schema.String,
  rule: Schema.optionalKey(Rules.RuleInput),
  shared: Schema.optionalKey(Schema.Array(OwnerValue)),
  currency: Schema.optionalKey(Money.CurrencyCode)
})

const decodeJson = Schema.decodeUnknownResult(RunInputJson, { onExcessProperty: "error", errors: "first" })

/** Decodes a run request from JSON; the error names the field. Semantic checks happen on resolve. */
export const decodeRunInput = (input: unknown): Result.Result<RunInput, InvalidChargeback> => {
  const decoded = decodeJson(input)
  if (Result.isFailure(decoded)) {
    const { field, message } = FieldError.fromSchemaError(decoded.failure)
    return Result.fail(invalid(field, message))
  }
  return Result.succeed(decoded.success)
}

/** A run request checked against its tenant. */
export interface Resolved {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: Dimension.Dimension
  readonly rule: Rules.RuleInput
  readonly shared: ReadonlyArray<string>
  readonly currency: string
  readonly minorUnits: number
}

/** The longest period a run covers: a year and a day, so a leap year fits. */
const MAX_PERIOD_MS = 367 * 86_400_000

/** `[start, end)` of the month `YYYY-MM` in `timeZone`: local midnights of the 1st. */
export const monthWindow = (month: string, timeZone: string): { readonly from: DateTime.Utc; readonly to: DateTime.Utc } => {
  const [year, mon] = month.split("-").map(Number) as [number, number]
  const local = (y: number, m: number) =>
    DateTime.toUtc(
      DateTime.makeZonedUnsafe({ year: y, month: m, day: 1, hour: 0, minute: 0, second: 0, millisecond: 0 }, {
        timeZone,
        adjustForTimeZone: true
      })
    )
  return { from: local(year, mon), to: mon === 12 ? local(year + 1, 1) : local(year, mon + 1) }
}

const isCurrency = Schema.is(Money.CurrencyCode)
const isOwner = Schema.is(OwnerValue)

/** Checks a request against its tenant: period, dimension, rule, shared owners, currency. */
export const resolve = (
  input: RunInput,
  tenant: { readonly timeZone: string; readonly currency: string }
): Result.Result<Resolved, InvalidChargeback> => {
  let from: DateTime.Utc
  let to: DateTime.Utc
  if (input.month !== undefined) {
    if (input.from !== undefined || input.to !== undefined) {
      return Result.fail(invalid("month", "give either month or from and to, not both"))
    }
    if (!/^\d{4}-(?:0[1-9]|1[0-2])$/.test(input.month)) {
      return Result.fail(invalid("month", `expected a month as YYYY-MM, got ${JSON.stringify(input.month)}`))
    }
    ;({ from, to } = monthWindow(input.month, tenant.timeZone))
  } else {
    if (input.from === undefined) return Result.fail(invalid("from", "required (or give month)"))
    if (input.to === undefined) return Result.fail(invalid("to", "required (or give month)"))
    from = input.from
    to = input.to
  }
  const span = DateTime.toEpochMillis(to) - DateTime.toEpochMillis(from)
  if (span <= 0) return Result.fail(invalid("to", "expected an instant after from"))
  if (span > MAX_PERIOD_MS) return Result.fail(invalid("to", "a run covers at most 367 days"))

  const dimension = Dimension.parse(input.dimension)
  if (Result.isFailure(dimension)) return Result.fail(invalid("dimension", dimension.failure.message))

  const shared = [...new Set(input.shared ?? [])].sort()
  for (const [i, owner] of shared.entries()) {
    if (!isOwner(owner)) return Result.fail(invalid(`shared[${i}]`, "expected a non-empty owner of at most 256 characters"))
  }
  const rule = input.rule ?? Rules.defaultRule
  const problem = Rules.ruleOf(rule).validate(rule, new Set(shared))
  if (problem !== undefined) return Result.fail(problem)

  const currency = input.currency ?? tenant.currency
  if (!isCurrency(currency)) {
    return Result.fail(invalid("currency", `expected an ISO 4217 code such as "USD", got ${JSON.stringify(currency)}`))
  }
  return Result.succeed({
    from,
    to,
    dimension: dimension.success,
    rule,
    shared,
    currency,
    minorUnits: Money.minorUnits(currency)
  })
}
