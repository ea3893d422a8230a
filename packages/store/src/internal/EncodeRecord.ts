/**
 * The `UsageRecord` schema's encoding, written out by hand for the batch insert's hot path.
 *
 * `Schema.encodeSync(UsageRecord)` costs about 50 µs per call, more than the database spends on the
 * row. This walks the same structure, applies the same constraints and builds the same encoded
 * value. It is only a shortcut: whenever it meets anything outside the plain, valid shape it gives
 * up (returns `undefined`) and the caller uses the schema, which stays the authority. A property
 * test holds the two equal.
 */
import { Money, UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"

/** Thrown to leave the fast path; never escapes this module. */
const bail: { readonly bail: true } = { bail: true }
const giveUp = (): never => {
  throw bail
}

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return false
  const prototype = Object.getPrototypeOf(u)
  return prototype === Object.prototype || prototype === null
}

const string = (u: unknown): string => (typeof u === "string" ? u : giveUp())
const nonEmpty = (u: unknown): string => (typeof u === "string" && u.length > 0 ? u : giveUp())
const count = (u: unknown): number => (typeof u === "number" && Number.isSafeInteger(u) && u >= 0 ? u : giveUp())
const boolean = (u: unknown): boolean => (typeof u === "boolean" ? u : giveUp())
const decimal = (u: unknown): string => (Money.isDecimal(u) && u.isFinite() ? Money.format(u) : giveUp())
const nonNegativeDecimal = (u: unknown): string =>
  Money.isDecimal(u) && u.isFinite() && !u.isNegative() ? Money.format(u) : giveUp()
const CURRENCY = /^[A-Z]{3}$/
const currency = (u: unknown): string => (typeof u === "string" && CURRENCY.test(u) ? u : giveUp())
const nullOr = <A>(f: (u: unknown) => A) => (u: unknown): A | null => (u === null ? null : f(u))
const oneOf = <const L extends ReadonlyArray<string>>(literals: L) => (u: unknown): L[number] =>
  typeof u === "string" && literals.includes(u) ? u : giveUp()

type Encoder = (u: unknown) => unknown

/**
 * A struct: required and optional fields, written in sorted key order so that the canonical JSON
 * of the result needs no reordering. A present optional key holding `undefined` is refused, as the
 * schema refuses it.
 */
const struct = (required: Record<string, Encoder>, optional: Record<string, Encoder> = {}) => {
  const fields = [
    ...Object.entries(required).map(([key, encode]) => [key, encode, false] as const),
    ...Object.entries(optional).map(([key, encode]) => [key, encode, true] as const)
  ].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return (u: unknown): Record<string, unknown> => {
    if (!isPlainObject(u)) return giveUp()
    const out: Record<string, unknown> = {}
    for (const [key, encode, isOptional] of fields) {
      if (isOptional && !(key in u)) continue
      const value = u[key]
      out[key] = isOptional && value === undefined ? giveUp() : encode(value)
    }
    return out
  }
}

const record = (encode: Encoder) => (u: unknown): Record<string, unknown> => {
  if (!isPlainObject(u)) return giveUp()
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(u)) {
    const value = encode(u[key])
    // Plain assignment to `__proto__` would set the prototype instead of keeping the key.
    if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
    else out[key] = value
  }
  return out
}

const tokens = struct({}, {
  inputText: count,
  cacheRead: count,
  cacheReadImage: count,
  cacheReadAudio: count,
  cacheReadVideo: count,
  cacheWrite5m: count,
  cacheWrite1h: count,
  inputImage: count,
  inputAudio: count,
  inputVideo: count,
  outputText: count,
  reasoning: count,
  outputImage: count,
  outputAudio: count,
  outputVideo: count,
  embedding: count,
  training: count
})

const usage = struct({ tokens }, {
  requests: count,
  imagesGenerated: record(count),
  audioSeconds: nonNegativeDecimal,
  videoSeconds: nonNegativeDecimal,
  webSearches: count,
  toolCalls: record(count),
  promptTokens: count,
  batch: boolean,
  fineTuned: boolean,
  serviceTier: string,
  region: string
})

const array = (encode: Encoder) => (u: unknown): Array<unknown> => {
  if (!Array.isArray(u)) return giveUp()
  // Indexed, not `map`, so that a hole is seen (as `undefined`) the way the schema sees it.
  const out = new Array<unknown>(u.length)
  for (let i = 0; i < u.length; i++) out[i] = encode(u[i])
  return out
}

const line = struct({
  component: string,
  quantity: decimal,
  unit: oneOf(["token", "request", "image", "second", "search", "call"]),
  listRate: decimal,
  listRatePer: oneOf(["1M tokens", "1k searches", "unit"]),
  rateSource: string,
  unitPrice: decimal,
  amount: decimal,
  conditions: array(string)
})

const missing = struct({
  component: string,
  quantity: decimal,
  unit: oneOf(["token", "request", "image", "second", "search", "call"])
})

const breakdown = struct({
  snapshotId: string,
  provider: string,
  modelKey: string,
  currency: string,
  lines: array(line),
  total: decimal
}, { missing: array(missing) })

const labels = struct({}, {
  project: string,
  environment: string,
  feature: string,
  team: string,
  customer: string,
  endUser: string,
  workflow: string,
  costCenter: string,
  apiKeyId: string
})

/** `Schema.Json`: plain objects and arrays of finite numbers, strings, booleans and null, no cycles. */
const json = (u: unknown): unknown => jsonAt(u, 0)

const jsonAt = (u: unknown, depth: number): unknown => {
  if (u === null || typeof u === "string" || typeof u === "boolean") return u
  if (typeof u === "number") return Number.isFinite(u) ? u : giveUp()
  // Deep or cyclic structures take the schema's path, which handles them properly.
  if (depth > 64) return giveUp()
  if (Array.isArray(u)) {
    for (const element of u) jsonAt(element, depth + 1)
    return u
  }
  if (!isPlainObject(u)) return giveUp()
  for (const key of Object.keys(u)) jsonAt(u[key], depth + 1)
  return u
}

const occurredAt = (u: unknown): string => {
  if (!DateTime.isDateTime(u) || !DateTime.isUtc(u)) return giveUp()
  const millis = DateTime.toEpochMillis(u)
  return Number.isFinite(millis) ? DateTime.formatIso(u) : giveUp()
}

const requestId = (u: unknown): string => (UsageRecord.isRequestId(u) ? u : giveUp())

const call = struct({
  requestId,
  occurredAt,
  provider: nonEmpty,
  model: string,
  definitionId: nullOr(string),
  snapshotId: nullOr(string),
  usage,
  breakdown: nullOr(breakdown),
  total: nullOr(decimal),
  costSource: oneOf(["provider", "computed", "estimated", "partial", "unpriced"]),
  unpricedReason: nullOr(string),
  reportedCost: nullOr(decimal),
  reportedCurrency: nullOr(currency),
  difference: nullOr(decimal),
  labels,
  tags: record(string),
  // Required, and `Schema.Json` refuses `undefined`, so a missing key gives up too.
  raw: json
}, { api: string, rawText: string })

/** The schema encoding of `value`, or `undefined` when only the schema can tell. */
export const encode = (value: UsageRecord.UsageRecord): UsageRecord.UsageRecordEncoded | undefined => {
  try {
    return call(value) as unknown as UsageRecord.UsageRecordEncoded
  } catch (error) {
    if (error === bail) return undefined
    throw error
  }
}
