/**
 * Schema decoding of untrusted provider JSON into typed values, with failures mapped to a
 * `NormalizeError` that names the JSON path and the broken rule.
 */
import { FastDecode, FieldError } from "@tally/core"
import { Result, Schema, type SchemaIssue } from "effect"
import * as NormalizeError from "../NormalizeError.ts"
import * as Path from "./Path.ts"

/** No single call comes near 10^15 tokens; the bound keeps every sum of counts a safe integer. */
export const MAX_COUNT = 1e15

/** The failure reason a filter stands for, read back when mapping an issue to a NormalizeError. */
const REASON = "tallyReason"

const nonNegative = (expected: string) =>
  Schema.makeFilter<number>(
    (n) => (n >= 0 ? undefined : `expected a non-negative number, got ${n}`),
    { identifier: expected, [REASON]: "negative" }
  )
const whole = Schema.makeFilter<number>(
  (n) => (Number.isInteger(n) ? undefined : `expected a whole number, got ${n}`),
  { identifier: "a whole number", [REASON]: "not-integer" }
)
const bounded = Schema.makeFilter<number>(
  (n) => (n <= MAX_COUNT ? undefined : `expected at most 10^15, got ${n}`),
  { identifier: "a count (a non-negative whole number)" }
)

/** A token or unit count: a non-negative whole number (JSON `12` and `12.0` both qualify). */
export const Count = Schema.Number.check(nonNegative("a non-negative number"), whole, bounded)

/** A count field that may be absent or null (null is what streaming chunks send before the total). */
export const OptCount = Schema.optionalKey(Schema.NullOr(Count))
export const OptString = Schema.optionalKey(Schema.NullOr(Schema.String))
export const OptNumber = Schema.optionalKey(Schema.NullOr(Schema.Finite))

/** A non-negative finite number (seconds, provider-reported cost). */
export const NonNegativeNumber = Schema.Finite.check(nonNegative("a non-negative number"))
export const OptNonNegativeNumber = Schema.optionalKey(Schema.NullOr(NonNegativeNumber))

/** A decimal count sent as text (HTTP headers, OTLP `intValue`): digits only. */
export const CountString = Schema.String.check(
  Schema.isPattern(/^\d{1,15}$/, { message: "expected a count written as digits" })
)

const reasonOfFilter = (annotations: unknown): NormalizeError.Reason => {
  const reason = annotations !== null && typeof annotations === "object" ? (annotations as Record<string, unknown>)[REASON] : undefined
  return reason === "negative" || reason === "not-integer" ? reason : "malformed"
}

/** Follows the first failure down the issue tree and names the rule that broke. */
const reasonOf = (issue: SchemaIssue.Issue): NormalizeError.Reason => {
  switch (issue._tag) {
    case "Pointer":
    case "Encoding":
      return reasonOf(issue.issue)
    case "Composite":
      return reasonOf(issue.issues[0])
    case "AnyOf":
      return issue.issues.length > 0 && issue.issues[0] !== undefined ? reasonOf(issue.issues[0]) : "malformed"
    case "Filter":
      return reasonOfFilter(issue.filter.annotations)
    default:
      return "malformed"
  }
}

export const preview = (u: unknown): string => {
  if (u === undefined) return "nothing"
  if (typeof u === "string") return JSON.stringify(u.length > 40 ? `${u.slice(0, 40)}…` : u)
  if (typeof u === "number" || typeof u === "boolean" || u === null) return String(u)
  return Array.isArray(u) ? "an array" : typeof u === "object" ? "an object" : typeof u
}

export type Decode<A> = (provider: string, path: Path.Path, input: unknown) => Result.Result<A, NormalizeError.NormalizeError>

/**
 * Builds a decoder once per schema; each call maps a failure to a `NormalizeError` at `path`.
 * Input the schema's compiled fast path accepts is decoded there (`FastDecode`); anything else,
 * every invalid payload included, goes through `Schema`, so errors are Schema's own.
 */
export const decoder = <S extends Schema.Decoder<unknown>>(schema: S): Decode<S["Type"]> => {
  const decode = Schema.decodeUnknownResult(schema as unknown as Schema.Decoder<S["Type"]>)
  const fast = FastDecode.compile(schema)
  return (provider, path, input) => {
    if (fast !== undefined) {
      const decoded = fast(input)
      if (decoded !== undefined) return Result.succeed(decoded)
    }
    const result = decode(input)
    if (Result.isSuccess(result)) return Result.succeed(result.success)
    const issue = result.failure.issue
    const problem = FieldError.firstProblem(result.failure)
    const relative = problem.path as Path.Path
    const reason = reasonOf(issue)
    const message = problem.message
    const detail = reason === "malformed" && !message.includes(", got ") ? `${message}, got ${preview(Path.get(input, relative))}` : message
    return Result.fail(NormalizeError.make(provider, [...path, ...relative], reason, detail))
  }
}
