/**
 * A usage record made ready for the ledger: checked against every rule of core's `UsageRecord`
 * (a record that breaks one is dead-lettered with the field at fault), encoded once, and hashed
 * for idempotency.
 */
import { type CostBreakdown, UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import { Buffer } from "node:buffer"
import { hash } from "node:crypto"
import * as CanonicalJson from "./CanonicalJson.ts"
import * as EncodeRecord from "./EncodeRecord.ts"

/** A record that passed every check, with what the ledger needs computed once. */
export interface Checked {
  readonly call: UsageRecord.UsageRecord
  /** The breakdown as encoded for storage (decimals as strings); null when there is none. */
  readonly breakdown: CostBreakdown.CostBreakdownEncoded | null
  /** sha256 of the canonical encoding: equal for equal events, whatever their key order. */
  readonly eventHash: Uint8Array
  readonly occurredAtMillis: number
  /** Currency of `total`; null for unpriced calls. */
  readonly currency: string | null
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
  return {
    call,
    breakdown: encoded.breakdown,
    eventHash: eventHash(encoded),
    occurredAtMillis: DateTime.toEpochMillis(call.occurredAt),
    currency: UsageRecord.currencyOf(call)
  }
}

/**
 * The idempotency hash of an event: sha256 of the canonical JSON of its encoding (keys sorted at
 * every depth), so equal events hash equally whatever their key order.
 */
export const eventHash = (encoded: UsageRecord.UsageRecordEncoded): Uint8Array =>
  // The one-shot `hash` (no Hash object per event) gives the same digest as createHash/update/digest.
  hash("sha256", CanonicalJson.canonicalJson(encoded), "buffer")

export const isRejection = (u: Checked | UsageRecord.Rejection): u is UsageRecord.Rejection => "message" in u

/** The event hash as lowercase hex, for reports. */
export const hashHex = (hash: Uint8Array): string => Buffer.from(hash).toString("hex")
