/**
 * A usage record as the ledger holds it: the record, when it was ingested, its billed currency,
 * and where it sits in the ledger's order (newest first by time, then request id), which is what
 * a page of records continues from.
 */
import type * as DateTime from "effect/DateTime"
import type * as UsageQuery from "./UsageQuery.ts"
import type * as UsageRecord from "./UsageRecord.ts"

/** Where a page starts: after this record in (occurredAt, requestId) descending order. */
export interface Cursor {
  readonly occurredAt: DateTime.Utc
  readonly requestId: string
}

export interface LedgerRecord {
  /** The call as recorded; `raw` is null here (see `RawPayload`). */
  readonly call: UsageRecord.UsageRecord
  readonly ingestedAt: DateTime.Utc
  readonly currency: string | null
  readonly cursor: Cursor
}

/** Which records a page lists: the usage filter, a time range, cost sources and request ids. */
export interface Filter extends UsageQuery.UsageFilter {
  readonly from?: DateTime.Utc | undefined
  readonly to?: DateTime.Utc | undefined
  readonly costSource?: ReadonlyArray<UsageRecord.CostSource> | undefined
  readonly requestId?: ReadonlyArray<string> | undefined
}

export interface Page {
  readonly records: ReadonlyArray<LedgerRecord>
  readonly hasNextPage: boolean
}

/** The most records one page holds. */
export const maxPageSize = 500

/** A record's provider payload as received, read only when asked for. */
export interface RawPayload {
  readonly raw: unknown
  readonly rawText: string | null
}

/** When the tenant's recorded calls occurred: the first and the last call's instants. */
export interface Span {
  readonly first: DateTime.Utc
  readonly last: DateTime.Utc
}
