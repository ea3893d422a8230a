/**
 * `usage`: spend, request counts and every usage bucket over a range, grouped by any labels, the
 * model, the provider or the currency, and cut into hours, days or months of the tenant's time
 * zone. Answered from the daily summary, the hourly rollups and the ledger (see the store's
 * `UsageReport`), so its sums are the ledger's sums.
 */
import { Money, Usage, type UsageQuery } from "@tally/core"
import { CostAtRisk, UsageReport } from "@tally/store"
import type { GraphQLResolveInfo, SelectionSetNode } from "graphql"
import { builder, readErrors } from "../builder.ts"
import { CostAtRiskRef } from "./CostAtRisk.ts"
import { DimensionEnum, MoneyRef, TagRef, tagsOf, toFilter, TokenCountsRef, UsageFilterInput } from "./Common.ts"

export const GranularityEnum = builder.enumType("Granularity", {
  description: "How a range is cut: hours, days or months of the time zone, or one bucket for all of it.",
  values: {
    HOUR: { value: "hour" },
    DAY: { value: "day" },
    MONTH: { value: "month" },
    TOTAL: { value: "total" }
  } as const
})

const SourceEnum = builder.enumType("UsageSource", {
  description: "Where an answer came from: the daily summary, the hourly rollups, or the ledger itself.",
  values: { DAILY: { value: "daily" }, HOURLY: { value: "hourly" }, LEDGER: { value: "ledger" } } as const
})

export const UsageTotalsRef = builder.objectRef<UsageQuery.UsageMeasures>("UsageTotals").implement({
  description: "Usage and spend of every call counted.",
  fields: (t) => ({
    requests: t.expose("requests", { type: "Long", description: "Calls, priced or not." }),
    estimatedRequests: t.expose("estimatedRequests", { type: "Long", description: "Calls whose usage was partly estimated." }),
    unpricedRequests: t.expose("unpricedRequests", { type: "Long", description: "Calls no price was found for: counted here, not in `spend`." }),
    partialRequests: t.expose("partialRequests", { type: "Long", description: "Calls priced in part: their priced lines are in `spend`, the components without a price are not (see `costAtRisk`)." }),
    spend: t.field({ type: [MoneyRef], description: "Billed spend per currency, exact.", resolve: (m) => m.spend }),
    tokens: t.field({ type: TokenCountsRef, resolve: (m) => m.tokens }),
    billableRequests: t.expose("billableRequests", { type: "Long", description: "Requests billed per request (e.g. search calls)." }),
    webSearches: t.expose("webSearches", { type: "Long" }),
    imagesGenerated: t.expose("imagesGenerated", { type: "Long" }),
    toolCalls: t.expose("toolCalls", { type: "Long" }),
    audioSeconds: t.expose("audioSeconds", { type: "Decimal" }),
    videoSeconds: t.expose("videoSeconds", { type: "Decimal" })
  })
})

const UsageGroupRef = builder.objectRef<UsageQuery.UsageBucket>("UsageGroup").implement({
  description: "The values a bucket is grouped by; null where its calls had no value (or the dimension is not grouped).",
  fields: (t) => ({
    provider: t.string({ nullable: true, resolve: (b) => b.group.provider ?? null }),
    model: t.string({ nullable: true, resolve: (b) => b.group.model ?? null }),
    project: t.string({ nullable: true, resolve: (b) => b.group.project ?? null }),
    environment: t.string({ nullable: true, resolve: (b) => b.group.environment ?? null }),
    feature: t.string({ nullable: true, resolve: (b) => b.group.feature ?? null }),
    team: t.string({ nullable: true, resolve: (b) => b.group.team ?? null }),
    customer: t.string({ nullable: true, resolve: (b) => b.group.customer ?? null }),
    costCenter: t.string({ nullable: true, resolve: (b) => b.group.costCenter ?? null }),
    apiKeyId: t.string({ nullable: true, resolve: (b) => b.group.apiKeyId ?? null }),
    endUser: t.string({ nullable: true, resolve: (b) => b.group.endUser ?? null }),
    workflow: t.string({ nullable: true, resolve: (b) => b.group.workflow ?? null }),
    currency: t.string({ nullable: true, resolve: (b) => b.group.currency ?? null }),
    tags: t.field({ type: [TagRef], description: "The grouped tag keys and their values.", resolve: (b) => tagsOf(b.tags) })
  })
})

const UsageBucketRef = builder.objectRef<UsageQuery.UsageBucket>("UsageBucket").implement({
  description: "One time bucket of one group.",
  fields: (t) => ({
    start: t.expose("start", { type: "DateTime", description: "Clipped to the range asked for." }),
    end: t.expose("end", { type: "DateTime", description: "Exclusive; clipped to the range asked for." }),
    label: t.exposeString("label", { description: "The bucket in the time zone: `2025-03-14T15`, `2025-03-14`, `2025-03` or `total`." }),
    group: t.field({ type: UsageGroupRef, resolve: (b) => b }),
    requests: t.expose("requests", { type: "Long" }),
    estimatedRequests: t.expose("estimatedRequests", { type: "Long" }),
    unpricedRequests: t.expose("unpricedRequests", { type: "Long" }),
    partialRequests: t.expose("partialRequests", { type: "Long" }),
    spend: t.field({ type: [MoneyRef], resolve: (b) => b.spend }),
    tokens: t.field({ type: TokenCountsRef, resolve: (b) => b.tokens }),
    billableRequests: t.expose("billableRequests", { type: "Long" }),
    webSearches: t.expose("webSearches", { type: "Long" }),
    imagesGenerated: t.expose("imagesGenerated", { type: "Long" }),
    toolCalls: t.expose("toolCalls", { type: "Long" }),
    audioSeconds: t.expose("audioSeconds", { type: "Decimal" }),
    videoSeconds: t.expose("videoSeconds", { type: "Decimal" })
  })
})

/**
 * One group's buckets, in time order: the answer shaped for volume. A month of days by team and
 * model is thousands of buckets; as buckets, graphql-js resolves every field of every one (about
 * 15 per bucket), as series it resolves a dozen fields per group and serializes lists of scalars.
 */
interface Series {
  /** The group's first bucket, for its group values and tags. */
  readonly first: UsageQuery.UsageBucket
  readonly buckets: ReadonlyArray<UsageQuery.UsageBucket>
}

/** The report's buckets by group (and grouped tags), groups in the order they first appear. */
const seriesOf = (buckets: ReadonlyArray<UsageQuery.UsageBucket>): ReadonlyArray<Series> => {
  const groups = new Map<string, Array<UsageQuery.UsageBucket>>()
  for (const bucket of buckets) {
    const key = JSON.stringify([bucket.group, bucket.tags])
    const found = groups.get(key)
    if (found === undefined) groups.set(key, [bucket])
    else found.push(bucket)
  }
  return [...groups.values()].map((list) => ({ first: list[0]!, buckets: list }))
}

const MoneySeriesRef = builder.objectRef<{ readonly currency: string; readonly amounts: ReadonlyArray<Money.Decimal> }>(
  "MoneySeries"
).implement({
  description: "Spend in one currency, one amount per point of the series (0 where a point had none in it).",
  fields: (t) => ({
    currency: t.exposeString("currency", { description: "ISO 4217 code." }),
    amounts: t.field({ type: ["Decimal"], resolve: (m) => m.amounts })
  })
})

const TokenSeriesRef = builder.objectRef<ReadonlyArray<UsageQuery.TokenCounts>>("TokenSeries").implement({
  description: "Tokens per usage bucket, one count per point of the series.",
  fields: (t) => ({
    ...(Object.fromEntries(
      Usage.TokenBuckets.map((name) => [name, t.field({ type: ["Long"], resolve: (list) => list.map((tokens) => tokens[name]) })])
    ) as object),
    total: t.field({
      type: ["Long"],
      description: "Every bucket together.",
      resolve: (list) => list.map((tokens) => Object.values(tokens).reduce((sum: number, n) => sum + (n as number), 0))
    })
  })
})

const longs = (pick: (b: UsageQuery.UsageBucket) => number) => (s: Series) => s.buckets.map(pick)

const UsageSeriesRef = builder.objectRef<Series>("UsageSeries").implement({
  description: "One group's buckets as parallel lists, in time order: point i of every list is the bucket `labels[i]`. " +
    "Only buckets with usage are points.",
  fields: (t) => ({
    group: t.field({ type: UsageGroupRef, resolve: (s) => s.first }),
    labels: t.field({ type: ["String"], description: "Each point's bucket in the time zone (as `UsageBucket.label`).", resolve: (s) => s.buckets.map((b) => b.label) }),
    starts: t.field({ type: ["DateTime"], description: "Each point's start, clipped to the range.", resolve: (s) => s.buckets.map((b) => b.start) }),
    requests: t.field({ type: ["Long"], resolve: longs((b) => b.requests) }),
    estimatedRequests: t.field({ type: ["Long"], resolve: longs((b) => b.estimatedRequests) }),
    unpricedRequests: t.field({ type: ["Long"], resolve: longs((b) => b.unpricedRequests) }),
    partialRequests: t.field({ type: ["Long"], resolve: longs((b) => b.partialRequests) }),
    spend: t.field({
      type: [MoneySeriesRef],
      description: "Per currency with spend at any point, ordered by code.",
      resolve: (s) => {
        const currencies = [...new Set(s.buckets.flatMap((b) => b.spend.map((m) => m.currency)))].sort()
        return currencies.map((currency) => ({
          currency,
          amounts: s.buckets.map((b) => b.spend.find((m) => m.currency === currency)?.amount ?? Money.ZERO)
        }))
      }
    }),
    tokens: t.field({ type: TokenSeriesRef, resolve: (s) => s.buckets.map((b) => b.tokens) }),
    billableRequests: t.field({ type: ["Long"], resolve: longs((b) => b.billableRequests) }),
    webSearches: t.field({ type: ["Long"], resolve: longs((b) => b.webSearches) }),
    imagesGenerated: t.field({ type: ["Long"], resolve: longs((b) => b.imagesGenerated) }),
    toolCalls: t.field({ type: ["Long"], resolve: longs((b) => b.toolCalls) }),
    audioSeconds: t.field({ type: ["Decimal"], resolve: (s) => s.buckets.map((b) => b.audioSeconds) }),
    videoSeconds: t.field({ type: ["Decimal"], resolve: (s) => s.buckets.map((b) => b.videoSeconds) })
  })
})

/** A report with the filter it was asked with, for its cost at risk. */
type ReportWithFilter = UsageQuery.UsageReport & { readonly filter?: UsageQuery.UsageFilter | undefined }

const UsageReportRef = builder.objectRef<ReportWithFilter>("UsageReport").implement({
  fields: (t) => ({
    from: t.expose("from", { type: "DateTime" }),
    to: t.expose("to", { type: "DateTime" }),
    timeZone: t.exposeString("timeZone"),
    granularity: t.field({ type: GranularityEnum, resolve: (r) => r.granularity }),
    groupBy: t.field({ type: [DimensionEnum], resolve: (r) => r.groupBy }),
    groupByTags: t.exposeStringList("groupByTags"),
    buckets: t.field({ type: [UsageBucketRef], description: "Ordered by start, then group values.", resolve: (r) => r.buckets }),
    series: t.field({
      type: [UsageSeriesRef],
      description: "The same buckets as one series per group (parallel lists in time order): for months of days by team and model, " +
        "a fraction of the fields to execute and bytes to send.",
      resolve: (r) => seriesOf(r.buckets)
    }),
    totals: t.field({ type: UsageTotalsRef, resolve: (r) => r.totals }),
    sources: t.field({ type: [SourceEnum], resolve: (r) => r.sources }),
    costAtRisk: t.field({
      type: CostAtRiskRef,
      description: "What spend leaves out in `[from, to)` under the same filter: partial and unpriced calls and the usage without a price (read from the ledger).",
      resolve: (r, _args, context) =>
        context.run(CostAtRisk.CostAtRisk.use((atRisk) => atRisk.report(context.tenantId, { from: r.from, to: r.to, filter: r.filter })))
    })
  })
})

const tokenNames = new Set<string>(Usage.TokenBuckets)
const plainMeasures = new Set<string>(["requests", "estimatedRequests", "unpricedRequests", "partialRequests", "spend", "billableRequests", "webSearches", "imagesGenerated", "toolCalls", "audioSeconds", "videoSeconds"])

/** The fields a selection set picks, through inline fragments and named fragments. */
const fieldsOf = (set: SelectionSetNode | undefined, info: GraphQLResolveInfo, out: Array<{ name: string; set: SelectionSetNode | undefined }> = []) => {
  for (const selection of set?.selections ?? []) {
    if (selection.kind === "Field") out.push({ name: selection.name.value, set: selection.selectionSet })
    else if (selection.kind === "InlineFragment") fieldsOf(selection.selectionSet, info, out)
    else fieldsOf(info.fragments[selection.name.value]?.selectionSet, info, out)
  }
  return out
}

/**
 * The sums the query shows in its buckets and totals: a month of buckets costs far less when the
 * database sums and returns only those.
 */
const measuresOf = (info: GraphQLResolveInfo): ReadonlyArray<UsageQuery.MeasureName> => {
  const wanted = new Set<UsageQuery.MeasureName>()
  for (const node of info.fieldNodes) {
    for (const part of fieldsOf(node.selectionSet, info)) {
      if (part.name !== "buckets" && part.name !== "totals" && part.name !== "series") continue
      for (const field of fieldsOf(part.set, info)) {
        if (plainMeasures.has(field.name)) wanted.add(field.name as UsageQuery.MeasureName)
        if (field.name !== "tokens") continue
        for (const token of fieldsOf(field.set, info)) {
          if (token.name === "total") for (const name of tokenNames) wanted.add(name as UsageQuery.MeasureName)
          else if (tokenNames.has(token.name)) wanted.add(token.name as UsageQuery.MeasureName)
        }
      }
    }
  }
  return [...wanted]
}

builder.queryField("usage", (t) =>
  t.field({
    type: UsageReportRef,
    description: "Usage and spend in `[from, to)`, grouped and bucketed. Sums equal the ledger's.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    // Up to tens of thousands of buckets: priced like a large page.
    complexity: { field: 50, multiplier: 10 },
    args: {
      from: t.arg({ type: "DateTime", required: true }),
      to: t.arg({ type: "DateTime", required: true }),
      granularity: t.arg({ type: GranularityEnum, defaultValue: "day" }),
      groupBy: t.arg({ type: [DimensionEnum], defaultValue: [] }),
      groupByTags: t.arg.stringList({ description: "Tag keys to group by (read from the ledger)." }),
      filter: t.arg({ type: UsageFilterInput }),
      timeZone: t.arg.string({ description: "IANA zone for days and months; the tenant's by default." })
    },
    resolve: async (_root, args, context, info): Promise<ReportWithFilter> => {
      const filter = toFilter(args.filter)
      const report = await context.run(UsageReport.UsageReport.use((report) =>
        report.usage(context.tenantId, {
          measures: measuresOf(info),
          from: args.from,
          to: args.to,
          granularity: args.granularity ?? "day",
          groupBy: args.groupBy ?? [],
          groupByTags: args.groupByTags ?? [],
          filter,
          timeZone: args.timeZone ?? undefined
        })
      ))
      if (context.answered !== undefined) context.answered.count++
      return { ...report, filter }
    }
  }))
