/**
 * A question asked of recorded usage and the shape of its answer: spend and usage over `[from,
 * to)`, grouped by any label, model, provider or currency, and cut into hours, days or months of a
 * time zone. What makes a query valid lives here too; how a store answers one does not.
 *
 * Spend is kept per currency and never summed across currencies.
 */
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Money from "./Money.ts"
import * as Usage from "./Usage.ts"

/** What usage can be grouped and filtered by. */
export const Dimension = Schema.Literals([
  "provider",
  "model",
  "project",
  "environment",
  "feature",
  "team",
  "customer",
  "costCenter",
  "apiKeyId",
  "endUser",
  "workflow",
  "currency"
])
export type Dimension = typeof Dimension.Type
export const dimensions: ReadonlyArray<Dimension> = Dimension.literals

export const Granularity = Schema.Literals(["hour", "day", "month", "total"])
export type Granularity = typeof Granularity.Type

/**
 * Filters: each listed dimension keeps only calls whose value is one of the given values; `""`
 * stands for calls without that label. Tags match exactly (every given tag must be present with
 * that value).
 */
export type UsageFilter = { readonly [K in Dimension]?: ReadonlyArray<string> | undefined } & {
  readonly tags?: Readonly<Record<string, string>> | undefined
}

/** What a report can sum; a query may ask for some only (the rest then read as zero). */
export type MeasureName =
  | "requests"
  | "estimatedRequests"
  | "unpricedRequests"
  | "partialRequests"
  | "spend"
  | Usage.TokenBucket
  | "billableRequests"
  | "webSearches"
  | "imagesGenerated"
  | "toolCalls"
  | "audioSeconds"
  | "videoSeconds"

export const measureNames: ReadonlyArray<MeasureName> = [
  "requests",
  "estimatedRequests",
  "unpricedRequests",
  "partialRequests",
  "spend",
  ...Usage.TokenBuckets,
  "billableRequests",
  "webSearches",
  "imagesGenerated",
  "toolCalls",
  "audioSeconds",
  "videoSeconds"
]

export interface UsageQuery {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly granularity: Granularity
  readonly groupBy?: ReadonlyArray<Dimension> | undefined
  /** Tag keys to group by (ledger only). */
  readonly groupByTags?: ReadonlyArray<string> | undefined
  readonly filter?: UsageFilter | undefined
  /** The zone that cuts days and months; the tenant's by default. */
  readonly timeZone?: string | undefined
  /** Answer from the ledger alone (slow; for audits and for checking the summaries). */
  readonly ledgerOnly?: boolean | undefined
  /** Answer without the daily summaries (hours and the ledger), to check or measure them. */
  readonly noDaily?: boolean | undefined
  /**
   * Only these sums (all by default): a report over many buckets reads and returns only what its
   * caller shows. Measures not asked for read as zero.
   */
  readonly measures?: ReadonlyArray<MeasureName> | undefined
}

export interface Amount {
  readonly currency: string
  readonly amount: Money.Decimal
}

/** Every token bucket with its count. */
export type TokenCounts = { readonly [K in Usage.TokenBucket]: number }

export interface UsageMeasures {
  readonly requests: number
  readonly estimatedRequests: number
  readonly unpricedRequests: number
  /** Calls priced in part: their priced lines are in `spend`, the components without a price are not (cost at risk). */
  readonly partialRequests: number
  /** Billed spend per currency (never summed across currencies), by currency code. */
  readonly spend: ReadonlyArray<Amount>
  readonly tokens: TokenCounts
  readonly billableRequests: number
  readonly webSearches: number
  readonly imagesGenerated: number
  readonly toolCalls: number
  readonly audioSeconds: Money.Decimal
  readonly videoSeconds: Money.Decimal
}

export interface UsageBucket extends UsageMeasures {
  /** The bucket's start and end, clipped to the query range (null for granularity `total`). */
  readonly start: DateTime.Utc
  readonly end: DateTime.Utc
  /** The bucket in the tenant's zone: `2025-03-14T15`, `2025-03-14`, `2025-03`, or `total`. */
  readonly label: string
  /** The value of each grouped dimension; null where the calls had none. */
  readonly group: { readonly [K in Dimension]?: string | null }
  readonly tags: Readonly<Record<string, string | null>>
}

/** Where part of an answer came from. */
export type Source = "daily" | "hourly" | "ledger"

export interface UsageReport {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly timeZone: string
  readonly granularity: Granularity
  readonly groupBy: ReadonlyArray<Dimension>
  readonly groupByTags: ReadonlyArray<string>
  readonly buckets: ReadonlyArray<UsageBucket>
  readonly totals: UsageMeasures
  /** Which sources answered, for people wondering about speed. */
  readonly sources: ReadonlyArray<Source>
}

export class InvalidQuery extends Schema.TaggedError<InvalidQuery>()("InvalidQuery", {
  field: Schema.String,
  message: Schema.String
}) {}

/** An `InvalidQuery` whose message starts with the field, as every query error's does. */
export const invalid = (field: string, message: string) => new InvalidQuery({ field, message: `${field}: ${message}` })

/** The most buckets (groups × time buckets) one usage query returns. */
export const maxBuckets = 50_000
/** The most time buckets one query may span. */
export const maxTimeBuckets = 10_000
/** Most tag keys to group by. */
export const maxTagGroups = 5

const HOUR = 3_600_000
const DAY = 24 * HOUR

export const emptyMeasures = (): UsageMeasures => ({
  requests: 0,
  estimatedRequests: 0,
  unpricedRequests: 0,
  partialRequests: 0,
  spend: [],
  tokens: Usage.allTokens({}),
  billableRequests: 0,
  webSearches: 0,
  imagesGenerated: 0,
  toolCalls: 0,
  audioSeconds: Money.ZERO,
  videoSeconds: Money.ZERO
})

/** Adds `amount` to the spend of its currency, keeping the list ordered by currency code. */
export const addSpend = (spend: Array<Amount>, currency: string, amount: Money.Decimal): void => {
  const index = spend.findIndex((s) => s.currency === currency)
  if (index === -1) {
    spend.push({ currency, amount })
    spend.sort((a, b) => (a.currency < b.currency ? -1 : 1))
  } else spend[index] = { currency, amount: spend[index]!.amount.plus(amount) }
}

/** `[from, to)` must not be empty. */
export const checkRange = (from: DateTime.Utc, to: DateTime.Utc): InvalidQuery | undefined =>
  DateTime.toEpochMillis(to) > DateTime.toEpochMillis(from) ? undefined : invalid("to", "expected `to` after `from`")

const timeBuckets = (granularity: Granularity, from: number, to: number): number =>
  granularity === "hour"
    ? Math.ceil((to - from) / HOUR) + 1
    : granularity === "day"
    ? Math.ceil((to - from) / DAY) + 1
    : granularity === "month"
    ? Math.ceil((to - from) / (28 * DAY)) + 1
    : 1

const isTimeZone = (zone: string): boolean => Option.isSome(DateTime.zoneMakeNamed(zone))

/** What is wrong with a query, naming the field; undefined when it can be answered. */
export const validate = (query: UsageQuery): InvalidQuery | undefined => {
  const range = checkRange(query.from, query.to)
  if (range !== undefined) return range
  const from = DateTime.toEpochMillis(query.from)
  const to = DateTime.toEpochMillis(query.to)
  if (timeBuckets(query.granularity, from, to) > maxTimeBuckets) {
    return invalid("granularity", `the range spans more than ${maxTimeBuckets} ${query.granularity}s; use a coarser granularity or a shorter range`)
  }
  const groupBy = query.groupBy ?? []
  if (new Set(groupBy).size !== groupBy.length) return invalid("groupBy", "a dimension is listed twice")
  const tags = query.groupByTags ?? []
  if (tags.length > maxTagGroups) return invalid("groupByTags", `at most ${maxTagGroups} tag keys`)
  if (tags.some((t) => t.length === 0 || t.length > 200)) return invalid("groupByTags", "expected tag keys of 1 to 200 characters")
  for (const d of dimensions) {
    const values = query.filter?.[d]
    if (values !== undefined && (values.length === 0 || values.length > 1000)) {
      return invalid(`filter.${d}`, "expected 1 to 1000 values")
    }
  }
  if (query.timeZone !== undefined && !isTimeZone(query.timeZone)) {
    return invalid("timeZone", `expected an IANA time zone such as "Europe/Berlin", got ${JSON.stringify(query.timeZone)}`)
  }
  return undefined
}
