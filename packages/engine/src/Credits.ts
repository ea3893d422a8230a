/**
 * Prepaid credits in the engine: granting from JSON, balances, and what a recorded call asks of
 * credits (`demandOf`): its sale price when a sale price book priced it, else its cost, in its
 * currency, and its total tokens. Drawing happens in the ingest transaction (`Ingest`), for the
 * calls really inserted; enforcement in `Enforcement.reserve`.
 *
 * The rules are `Credit` in `@tally/core`; rows are the store's `Credits`.
 */
import { Credit, type Money, Usage, type UsageRecord } from "@tally/core"
import { Credits, type SalePrices } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as SalePricing from "./SalePricing.ts"

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

/** The currency of a recorded call's cost, or null when it has none. */
export const costCurrencyOf = (record: UsageRecord.UsageRecord): string | null =>
  record.total === null ? null : record.costSource === "provider" ? record.reportedCurrency : record.breakdown?.currency ?? null

/** The call's sale price under the tenant's sale book (`SalePricing.priceRecord`), or undefined when none applies. */
export const salePriceOf = (
  book: SalePrices.SaleBook,
  record: UsageRecord.UsageRecord
): { readonly amount: Money.Decimal; readonly currency: string } | undefined => {
  if (book.rules.length === 0) return undefined
  const outcome = SalePricing.priceRecord(book, record).outcome
  return outcome._tag === "Priced" ? { amount: outcome.price.total, currency: outcome.price.currency } : undefined
}

/**
 * What a call asks of credits: `price` (its sale price) when one applies, else its cost; and its
 * total tokens.
 */
export const demandOf = (
  record: UsageRecord.UsageRecord,
  price?: { readonly amount: Money.Decimal; readonly currency: string } | undefined
): Credit.Demand => {
  const currency = costCurrencyOf(record)
  const money = price !== undefined
    ? { amount: price.amount, currency: price.currency, basis: "price" as const }
    : record.total !== null && currency !== null
    ? { amount: record.total, currency, basis: "cost" as const }
    : undefined
  return {
    requestId: record.requestId,
    occurredAt: DateTime.toEpochMillis(record.occurredAt),
    accounts: accountsOf(record.labels),
    money,
    tokens: Usage.totalTokens(record.usage)
  }
}
