/**
 * The hot path's hand-written encoding and canonical JSON agree with the schema and with core's
 * reference algorithm, on valid calls and on every kind of broken one.
 */
import { describe, it } from "@effect/vitest"
import { Money, PricingSnapshot, UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import fc from "fast-check"
import { hash } from "node:crypto"
import { assert } from "vitest"
import * as CanonicalJson from "../src/internal/CanonicalJson.ts"
import * as EncodeRecord from "../src/internal/EncodeRecord.ts"
import * as CheckedRecord from "../src/internal/CheckedRecord.ts"
import { callArbitrary, pricedCall } from "./Fixtures.ts"
import { shuffled } from "./Properties.ts"

const schemaEncode = (call: unknown): UsageRecord.UsageRecordEncoded | "refused" => {
  try {
    return UsageRecord.encode(call as UsageRecord.UsageRecord)
  } catch {
    return "refused"
  }
}

/** Valid calls, with every optional field present or not. */
const validCall = fc.tuple(
  callArbitrary({ ids: 1000, months: 24 }),
  fc.option(fc.string(), { nil: undefined }),
  fc.option(fc.string(), { nil: undefined }),
  fc.dictionary(fc.string(), fc.string()),
  fc.jsonValue()
).map(([call, api, rawText, tags, raw]) => {
  const { api: _api, rawText: _rawText, ...rest } = call
  return {
    ...rest,
    tags,
    raw: raw as UsageRecord.UsageRecord["raw"],
    ...(api === undefined ? {} : { api }),
    ...(rawText === undefined ? {} : { rawText })
  } satisfies UsageRecord.UsageRecord
})

/** Keys that JavaScript or the canonical text treat specially. */
const oddKey = fc.oneof(fc.string(), fc.constantFrom("__proto__", "10", "2", "01", "-1", "constructor", "é", "Z", "a", ""))

/** Valid calls whose raw payloads are nested objects with odd keys, and tags with odd keys. */
const callWithPayload = fc.tuple(
  validCall,
  fc.dictionary(oddKey, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
  fc.dictionary(oddKey, fc.string(), { maxKeys: 4 }),
  fc.boolean()
).map(([call, raw, tags, keepRaw]): UsageRecord.UsageRecord =>
  keepRaw ? { ...call, tags: { ...call.tags, ...tags } } : { ...call, raw: raw as UsageRecord.UsageRecord["raw"], tags }
)

/** `value` with the keys of every plain object, at every depth, in another order. */
const permuted = (value: unknown, seed: number): unknown => {
  if (Array.isArray(value)) return value.map((element, i) => permuted(element, (seed + i + 1) | 0))
  if (value === null || typeof value !== "object") return value
  const prototype = Object.getPrototypeOf(value)
  // Decimals and instants are values, not records.
  if (prototype !== Object.prototype && prototype !== null) return value
  const entries = shuffled(Object.entries(value), seed).map(([key, member], i) => [key, permuted(member, (seed * 31 + i) | 0)] as const)
  return Object.fromEntries(entries)
}

const paths: ReadonlyArray<ReadonlyArray<string | number>> = [
  ["requestId"],
  ["occurredAt"],
  ["provider"],
  ["api"],
  ["model"],
  ["definitionId"],
  ["snapshotId"],
  ["usage"],
  ["usage", "tokens"],
  ["usage", "tokens", "inputText"],
  ["usage", "tokens", "training"],
  ["usage", "requests"],
  ["usage", "imagesGenerated"],
  ["usage", "audioSeconds"],
  ["usage", "toolCalls", "file_search"],
  ["usage", "batch"],
  ["breakdown"],
  ["breakdown", "currency"],
  ["breakdown", "lines"],
  ["breakdown", "lines", 0, "amount"],
  ["breakdown", "lines", 0, "unit"],
  ["breakdown", "lines", 0, "listRatePer"],
  ["breakdown", "lines", 0, "conditions"],
  ["total"],
  ["costSource"],
  ["unpricedReason"],
  ["reportedCost"],
  ["reportedCurrency"],
  ["difference"],
  ["labels"],
  ["labels", "project"],
  ["tags"],
  ["tags", "k"],
  ["raw"],
  ["rawText"]
]

const setAt = (value: unknown, path: ReadonlyArray<string | number>, replacement: unknown): unknown => {
  if (path.length === 0) return replacement
  const [head, ...rest] = path
  if (Array.isArray(value)) {
    const copy = [...value]
    copy[head as number] = setAt(copy[head as number], rest, replacement)
    return copy
  }
  if (value !== null && typeof value === "object" && !Money.isDecimal(value) && !DateTime.isDateTime(value)) {
    return { ...value, [head!]: setAt((value as Record<string, unknown>)[head as string], rest, replacement) }
  }
  return { [head!]: setAt(undefined, rest, replacement) }
}

const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything(),
  fc.constantFrom(
    undefined,
    null,
    -1,
    1.5,
    NaN,
    Infinity,
    2 ** 53,
    "",
    "a".repeat(300),
    "usd",
    "USD",
    new Money.Decimal(NaN),
    new Money.Decimal("-1"),
    new Money.Decimal("1.50"),
    DateTime.makeUnsafe(0),
    DateTime.makeZonedUnsafe(0, { timeZone: "Europe/Berlin" }),
    new Date(0),
    [undefined],
    // An array with a hole at index 1.
    Object.assign(new Array<number>(3), { 0: 1, 2: 3 }),
    { toJSON: () => 1 },
    Object.create(null)
  )
)

describe("the hot path's encoding", () => {
  it("encodes every valid call exactly as the schema does", () => {
    fc.assert(
      fc.property(validCall, (call) => {
        assert.deepStrictEqual(EncodeRecord.encode(call), UsageRecord.encode(call))
      }),
      { numRuns: 300 }
    )
  })

  it("never accepts what the schema refuses, and agrees whenever it accepts", () => {
    fc.assert(
      fc.property(validCall, fc.constantFrom(...paths), oddValue, (call, path, value) => {
        const broken = setAt(call, path, value) as UsageRecord.UsageRecord
        const fast = EncodeRecord.encode(broken)
        const schema = schemaEncode(broken)
        if (fast !== undefined) assert.deepStrictEqual(fast, schema)
      }),
      { numRuns: 2000 }
    )
  })

  it("canonical JSON is core's reference text for any value", () => {
    const keys = fc.oneof(fc.string(), fc.constantFrom("__proto__", "10", "2", "01", "-1", "constructor", "é", "Z", "a"))
    const nested = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.jsonValue(),
        fc.constantFrom(undefined, NaN, -0, () => 1),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(keys, tie("value"), { maxKeys: 5 }),
        fc.dictionary(keys, tie("value"), { maxKeys: 5, noNullPrototype: false })
      )
    })).value
    fc.assert(
      fc.property(fc.oneof(nested, fc.anything({ withNullPrototype: true, withObjectString: true })), (value) => {
        assert.strictEqual(CanonicalJson.canonicalJson(value), PricingSnapshot.canonicalJson(value))
      }),
      { numRuns: 2000 }
    )
  })

  it("an object's canonical text from its members' known texts is its canonical text", () => {
    fc.assert(
      fc.property(fc.dictionary(oddKey, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 }), fc.func(fc.boolean()), (record, isKnown) => {
        const known = (key: string) => (isKnown(key) ? CanonicalJson.canonicalJson(record[key]) : undefined)
        assert.strictEqual(CanonicalJson.canonicalObject(record, known), PricingSnapshot.canonicalJson(record))
      }),
      { numRuns: 1000 }
    )
  })

  it("the event hash ignores key order and sees every change", () => {
    fc.assert(
      fc.property(validCall, (call) => {
        const checked = CheckedRecord.check(call)
        if (CheckedRecord.isRejection(checked)) return
        const reversed = Object.fromEntries(Object.entries(call).reverse()) as unknown as UsageRecord.UsageRecord
        const shuffled = {
          ...reversed,
          tags: Object.fromEntries(Object.entries(call.tags).reverse()),
          labels: Object.fromEntries(Object.entries(call.labels).reverse())
        }
        const again = CheckedRecord.check(shuffled)
        assert.isFalse(CheckedRecord.isRejection(again))
        if (!CheckedRecord.isRejection(again)) assert.deepStrictEqual(again.eventHash, checked.eventHash)
        const changed = CheckedRecord.check({ ...call, model: `${call.model}-x` })
        if (!CheckedRecord.isRejection(changed)) assert.notDeepEqual(changed.eventHash, checked.eventHash)
      }),
      { numRuns: 200 }
    )
  })

  it("the event hash is the reference hash of the schema's encoding, whatever the key order at any depth", () => {
    // The hash that stored rows and idempotency compare against: sha256 of core's reference
    // canonical JSON of the schema's encoding, as the ledger computed it before the jsonb texts
    // were shared with the hash.
    const reference = (call: UsageRecord.UsageRecord) =>
      hash("sha256", PricingSnapshot.canonicalJson(UsageRecord.encode(call)), "buffer")
    fc.assert(
      fc.property(callWithPayload, fc.integer(), (call, seed) => {
        const checked = CheckedRecord.check(permuted(call, seed) as UsageRecord.UsageRecord)
        assert.isFalse(CheckedRecord.isRejection(checked))
        if (!CheckedRecord.isRejection(checked)) assert.deepStrictEqual(checked.eventHash, reference(call))
      }),
      { numRuns: 500 }
    )
  })

  it("the jsonb columns' texts are the values the ledger stored before", () => {
    // What the driver serialized when the values were bound as jsonb; null binds SQL NULL.
    const bound = (value: unknown) => (value === undefined || value === null ? null : JSON.parse(JSON.stringify(value)))
    const parsed = (text: string | null) => (text === null ? null : JSON.parse(text))
    fc.assert(
      fc.property(callWithPayload, fc.integer(), (call, seed) => {
        const checked = CheckedRecord.check(permuted(call, seed) as UsageRecord.UsageRecord)
        if (CheckedRecord.isRejection(checked)) return assert.fail(checked.message)
        assert.deepStrictEqual(parsed(checked.json.raw), bound(call.raw))
        assert.deepStrictEqual(parsed(checked.json.tags), bound(call.tags))
        assert.deepStrictEqual(parsed(checked.json.breakdown), bound(UsageRecord.encode(call).breakdown))
        assert.deepStrictEqual(parsed(checked.json.imagesGenerated), bound(call.usage.imagesGenerated))
        assert.deepStrictEqual(parsed(checked.json.toolCalls), bound(call.usage.toolCalls))
      }),
      { numRuns: 300 }
    )
  })

  it("a call the fast path gives up on is still checked by the schema", () => {
    const call = pricedCall({ requestId: "r" })
    const zoned = { ...call, occurredAt: DateTime.makeZonedUnsafe(0, { timeZone: "Europe/Berlin" }) }
    assert.isUndefined(EncodeRecord.encode(zoned as unknown as UsageRecord.UsageRecord))
    const result = CheckedRecord.check(zoned as unknown as UsageRecord.UsageRecord)
    assert.isTrue(CheckedRecord.isRejection(result))
  })
})
