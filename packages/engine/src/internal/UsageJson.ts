/**
 * The usage report over plain JSON for the Promise facade: a query with ISO 8601 instants in,
 * a report with ISO instants and exact decimal strings out.
 */
import { FieldError, Money, type Usage, UsageQuery } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

const IsoDateTime = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i, {
    message: "expected an ISO 8601 date-time with a zone, e.g. 2026-05-01T00:00:00Z"
  })
).pipe(Schema.decodeTo(Schema.DateTimeUtc, SchemaTransformation.dateTimeUtcFromString))

const Values = Schema.Array(Schema.String)

const Filter = Schema.Struct({
  ...Object.fromEntries(UsageQuery.dimensions.map((d) => [d, Schema.optionalKey(Values)])) as {
    readonly [K in UsageQuery.Dimension]: Schema.optionalKey<typeof Values>
  },
  tags: Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
})

const MeasureName = Schema.Literals(UsageQuery.measureNames as ReadonlyArray<UsageQuery.MeasureName>)

/** A usage query as JSON; `granularity` defaults to `total`. */
export const UsageQueryJson = Schema.Struct({
  from: IsoDateTime,
  to: IsoDateTime,
  granularity: Schema.optionalKey(UsageQuery.Granularity),
  groupBy: Schema.optionalKey(Schema.Array(UsageQuery.Dimension)),
  groupByTags: Schema.optionalKey(Schema.Array(Schema.String)),
  filter: Schema.optionalKey(Filter),
  timeZone: Schema.optionalKey(Schema.String),
  ledgerOnly: Schema.optionalKey(Schema.Boolean),
  measures: Schema.optionalKey(Schema.Array(MeasureName))
})

export type UsageQueryInput = typeof UsageQueryJson.Encoded

const decodeJson = Schema.decodeUnknownResult(UsageQueryJson, { onExcessProperty: "error", errors: "first" })

/** The query, or an `InvalidQuery` naming the field (`query.filter.team`, `query.from`). */
export const decode = (input: unknown): Result.Result<UsageQuery.UsageQuery, UsageQuery.InvalidQuery> => {
  const decoded = decodeJson(input)
  if (Result.isFailure(decoded)) {
    const { field, message } = FieldError.fromSchemaError(decoded.failure, { prefix: "query" })
    return Result.fail(UsageQuery.invalid(field, message))
  }
  const q = decoded.success
  const query: UsageQuery.UsageQuery = { ...q, granularity: q.granularity ?? "total" }
  const bad = UsageQuery.validate(query)
  return bad === undefined ? Result.succeed(query) : Result.fail(bad)
}

const iso = (value: DateTime.Utc) => DateTime.formatIso(value)

const measuresToJson = (m: UsageQuery.UsageMeasures) => ({
  requests: m.requests,
  estimatedRequests: m.estimatedRequests,
  unpricedRequests: m.unpricedRequests,
  partialRequests: m.partialRequests,
  spend: m.spend.map((s) => ({ currency: s.currency, amount: Money.format(s.amount) })),
  tokens: m.tokens as Readonly<Record<Usage.TokenBucket, number>>,
  billableRequests: m.billableRequests,
  webSearches: m.webSearches,
  imagesGenerated: m.imagesGenerated,
  toolCalls: m.toolCalls,
  audioSeconds: Money.format(m.audioSeconds),
  videoSeconds: Money.format(m.videoSeconds)
})

export const reportToJson = (r: UsageQuery.UsageReport) => ({
  from: iso(r.from),
  to: iso(r.to),
  timeZone: r.timeZone,
  granularity: r.granularity,
  groupBy: r.groupBy,
  groupByTags: r.groupByTags,
  buckets: r.buckets.map((b) => ({
    start: iso(b.start),
    end: iso(b.end),
    label: b.label,
    group: b.group,
    tags: b.tags,
    ...measuresToJson(b)
  })),
  totals: measuresToJson(r.totals),
  sources: r.sources
})

export type UsageReportJson = ReturnType<typeof reportToJson>
