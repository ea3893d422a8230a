/**
 * Prepaid credits in the engine: granting from JSON, balances, and what a recorded call asks of
 * credits (`demandOf`): its sale price when a sale price book priced it, else its cost, in its
 * currency, and its total tokens. Drawing happens in the ingest transaction (`Ingest`), for the
 * calls really inserted; enforcement in `Enforcement.reserve`.
 *
 * The rules are `Credit` in `@tally/core`; rows are the store's `Credits`.
 */
import { Credit, Usage, type UsageRecord } from "@tally/core"
import { Credits } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as SalePricing from "./SalePricing.ts"

/** Decodes and stores a grant (effective now unless it says); the error names the field. */
export const grant = Effect.fn("Credits.grant")(function*(tenantId: string, input: unknown) {
  const now = yield* DateTime.now
  const decoded = Credit.decodeGrant(input, now)
  if (Result.isFailure(decoded)) return yield* decoded.failure
  return yield* Credits.Credits.use((store) => store.grant(tenantId, decoded.success))
})

export const voidGrant = Effect.fn("Credits.void")(function*(tenantId: string, id: string) {
  const now = yield* DateTime.now
  return yield* Credits.Credits.use((store) => store.void(tenantId, id, now))
})

/** The account's balance per unit now (or at `at`). */
export const balance = Effect.fn("Credits.balance")(function*(tenantId: string, account: Credit.Account, at?: DateTime.Utc) {
  const when = at ?? (yield* DateTime.now)
  return yield* Credits.Credits.use((store) => store.balance(tenantId, account, when))
})

/** The accounts a call can draw from: its customer and its team. */
export const accountsOf = (labels: UsageRecord.Labels): ReadonlyArray<Credit.Account> => {
  const out: Array<Credit.Account> = []
  if (labels.customer !== undefined && labels.customer !== "") out.push({ kind: "customer", id: labels.customer })
  if (labels.team !== undefined && labels.team !== "") out.push({ kind: "team", id: labels.team })
  return out
}

/**
 * What a call asks of credits: what it is charged (`SalePricing.chargeOf`: its sale price, else its
 * cost; null when it has neither) in that currency, and its total tokens.
 */
export const demandOf = (record: UsageRecord.UsageRecord, charge: SalePricing.Charge | null): Credit.Demand => {
  const money = charge === null ? undefined : { amount: charge.amount, currency: charge.currency, basis: charge.basis }
  return {
    requestId: record.requestId,
    occurredAt: DateTime.toEpochMillis(record.occurredAt),
    accounts: accountsOf(record.labels),
    money,
    tokens: Usage.totalTokens(record.usage)
  }
}
