/**
 * A usage record made ready for the ledger: checked against every rule of core's `UsageRecord`
 * (a record that breaks one is dead-lettered with the field at fault), encoded once, and hashed
 * for idempotency from the same JSON texts that its jsonb columns are written with.
 */
import { UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import { Buffer } from "node:buffer"
import { hash } from "node:crypto"
import * as CanonicalJson from "./CanonicalJson.ts"
import * as EncodeRecord from "./EncodeRecord.ts"

/** A record that passed every check, with what the ledger needs computed once. */
export interface Checked {
  readonly call: UsageRecord.UsageRecord
  /** The call as encoded (decimals as strings, the instant as ISO text). */
  readonly encoded: UsageRecord.UsageRecordEncoded
  /** sha256 of the canonical encoding: equal for equal events, whatever their key order. */
  readonly eventHash: Uint8Array
  readonly occurredAtMillis: number
  /** Currency of `total`; null for unpriced calls. */
  readonly currency: string | null
  /** The JSON texts of the jsonb columns, the same texts the event hash covers. */
  readonly json: JsonColumns
}

/**
 * A jsonb column's value as canonical JSON text (PostgreSQL parses it to the same jsonb as the
 * value itself), or null for SQL NULL: an absent member, or a raw payload of JSON `null`, which
 * the ledger has always stored as NULL.
 */
export interface JsonColumns {
  readonly raw: string | null
  readonly breakdown: string | null
  readonly tags: string
  readonly imagesGenerated: string | null
  readonly toolCalls: string | null
}

/**
 * Checks one record and prepares what the ledger stores. Encoding validates every schema
 * constraint (counts are non-negative integers, codes are codes); the rest are core's rules.
 */
export const check = (call: UsageRecord.UsageRecord): Checked | UsageRecord.Rejection => {
  let encoded = EncodeRecord.encode(call)
  if (encoded === undefined) {
    try {
      encoded = UsageRecord.encode(call)
    } catch (error) {
      return UsageRecord.rejectionOf(error)
    }
  }
  const bad = UsageRecord.checkRules(call)
  if (bad !== undefined) return bad
  const { json, text } = serialize(encoded)
  return {
    call,
    encoded,
    eventHash: hashText(text),
    occurredAtMillis: DateTime.toEpochMillis(call.occurredAt),
    currency: UsageRecord.currencyOf(call),
    json
  }
}

const textOrNull = (value: unknown): string | null =>
  value === undefined || value === null ? null : CanonicalJson.canonicalJson(value)

/**
 * The canonical JSON of an encoded record, assembled from the texts of its jsonb members so that
 * each is serialized once, for the hash and as the column's parameter.
 */
const serialize = (encoded: UsageRecord.UsageRecordEncoded): { readonly json: JsonColumns; readonly text: string } => {
  const { usage } = encoded
  const imagesGenerated = textOrNull(usage.imagesGenerated)
  const toolCalls = textOrNull(usage.toolCalls)
  const usageText = CanonicalJson.canonicalObject(
    usage,
    (key) => key === "imagesGenerated" ? imagesGenerated ?? undefined : key === "toolCalls" ? toolCalls ?? undefined : undefined
  )
  const raw = CanonicalJson.canonicalJson(encoded.raw)
  const breakdown = textOrNull(encoded.breakdown)
  const tags = CanonicalJson.canonicalJson(encoded.tags)
  const text = CanonicalJson.canonicalObject(encoded, (key) => {
    switch (key) {
      case "usage":
        return usageText
      case "raw":
        return raw
      case "breakdown":
        return breakdown ?? undefined
      case "tags":
        return tags
      default:
        return undefined
    }
  })
  return { json: { raw: encoded.raw === null ? null : raw, breakdown, tags, imagesGenerated, toolCalls }, text }
}

/**
 * The idempotency hash of an event: sha256 of the canonical JSON of its encoding (keys sorted at
 * every depth), so equal events hash equally whatever their key order.
 */
// The one-shot `hash` (no Hash object per event) gives the same digest as createHash/update/digest.
const hashText = (text: string): Uint8Array => hash("sha256", text, "buffer")

export const isRejection = (u: Checked | UsageRecord.Rejection): u is UsageRecord.Rejection => "message" in u

/** The event hash as lowercase hex, for reports. */
export const hashHex = (hash: Uint8Array): string => Buffer.from(hash).toString("hex")
