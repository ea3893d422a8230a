/**
 * `coverage`: the models in the ledger that went unpriced in a period, and the usage of calls priced
 * only in part (PARTIAL: the components without a price), judged against the tenant's price book
 * today (a name it now prices is shown as such, ready to reprice), with the calls, tokens and
 * estimated cost at risk.
 */
import { Coverage as CatalogCoverage, PriceBook } from "@tally/catalog"
import { Money, Usage, type UsageQuery } from "@tally/core"
import { TenantPricing } from "@tally/engine"
import { CostAtRisk, UsageReport } from "@tally/store"
import * as DateTime from "effect/DateTime"
import { builder, readErrors } from "../builder.ts"
import { NotFound } from "../Errors.ts"
import { MoneyRef } from "./Common.ts"

const StatusEnum = builder.enumType("CoverageStatus", {
  values: {
    UNMATCHED: { value: "unmatched", description: "No definition matches the name." },
    UNPRICED_BUCKET: { value: "unpriced-bucket", description: "A definition matches but lacks a price for some usage." },
    MATCHED: { value: "matched", description: "The tenant's price book prices it now: these calls can be repriced." }
  } as const
})

const KindEnum = builder.enumType("CoverageKind", {
  values: {
    UNPRICED: { value: "unpriced", description: "Calls recorded without a price: their whole usage is judged." },
    PARTIAL: { value: "partial", description: "Calls recorded priced in part: only the usage that had no price is judged." }
  } as const
})

const EntryRef = builder.objectRef<CatalogCoverage.Entry>("CoverageEntry").implement({
  fields: (t) => ({
    provider: t.exposeString("provider", { nullable: true }),
    model: t.exposeString("model"),
    calls: t.field({ type: "Long", resolve: (e) => e.count }),
    kind: t.field({ type: KindEnum, resolve: (e) => e.kind }),
    status: t.field({ type: StatusEnum, resolve: (e) => e.status }),
    reason: t.exposeString("reason", { nullable: true }),
    definitionId: t.exposeString("definitionId", { nullable: true }),
    missingComponents: t.exposeStringList("missingComponents"),
    tokensAtRisk: t.field({ type: "Long", resolve: (e) => e.tokensAtRisk }),
    costAtRisk: t.field({
      type: MoneyRef,
      nullable: true,
      description: "Estimated; `costAtRiskBasis` says how.",
      resolve: (e) => (e.costAtRisk === null || e.currency === null ? null : { amount: new Money.Decimal(e.costAtRisk), currency: e.currency })
    }),
    costAtRiskBasis: t.exposeString("costAtRiskBasis", { nullable: true }),
    fallbacks: t.exposeStringList("fallbacks", {
      description: "Fallback conditions on the priced lines (e.g. `inputAudio:priced-at-inputText-rate`, `batch:no-discount-in-snapshot`): priced, but not at a rate of their own."
    })
  })
})

interface ReportShape {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly report: CatalogCoverage.Report
}

const CoverageReportRef = builder.objectRef<ReportShape>("CoverageReport").implement({
  fields: (t) => ({
    from: t.expose("from", { type: "DateTime" }),
    to: t.expose("to", { type: "DateTime" }),
    unmatchedModels: t.int({ resolve: (r) => r.report.unmatched.names }),
    unmatchedCalls: t.field({ type: "Long", resolve: (r) => r.report.unmatched.calls }),
    unpricedBucketModels: t.int({ resolve: (r) => r.report.unpricedBucket.names }),
    unpricedBucketCalls: t.field({ type: "Long", resolve: (r) => r.report.unpricedBucket.calls }),
    nowPricedModels: t.int({ description: "Names unpriced then that the price book prices now.", resolve: (r) => r.report.matched.names }),
    partialModels: t.int({ description: "Names with calls recorded priced in part (entries of kind PARTIAL).", resolve: (r) => r.report.partial.names }),
    partialCalls: t.field({ type: "Long", description: "Calls recorded priced in part.", resolve: (r) => r.report.partial.calls }),
    pricedByFallbackModels: t.int({ description: "Names with a line priced by a fallback rate.", resolve: (r) => r.report.pricedByFallback.names }),
    tokensAtRisk: t.field({ type: "Long", resolve: (r) => r.report.tokensAtRisk }),
    costAtRisk: t.field({
      type: [MoneyRef],
      resolve: (r) => Object.entries(r.report.costAtRisk).map(([currency, amount]) => ({ currency, amount: new Money.Decimal(amount) }))
    }),
    entries: t.field({ type: [EntryRef], description: "Unmatched first, then unpriced buckets, then names priced now; most calls first.", resolve: (r) => r.report.entries })
  })
})

const tokenBuckets = new Set<string>(Usage.TokenBuckets)

/** The usage partial calls had no price for, as a usage to judge against today's prices. */
const missingUsage = (components: ReadonlyArray<CostAtRisk.AtRiskComponent>): Usage.Usage => {
  const tokens: Record<string, number> = {}
  const images: Record<string, number> = {}
  const tools: Record<string, number> = {}
  let usage: { -readonly [K in keyof Usage.Usage]: Usage.Usage[K] } = { tokens }
  for (const c of components) {
    if (tokenBuckets.has(c.component)) tokens[c.component] = c.quantity.toNumber()
    else if (c.component.startsWith("image:")) images[c.component.slice("image:".length)] = c.quantity.toNumber()
    else if (c.component.startsWith("toolCall:")) tools[c.component.slice("toolCall:".length)] = c.quantity.toNumber()
    else if (c.component === "webSearches") usage = { ...usage, webSearches: c.quantity.toNumber() }
    else if (c.component === "audioSeconds") usage = { ...usage, audioSeconds: c.quantity }
    else if (c.component === "videoSeconds") usage = { ...usage, videoSeconds: c.quantity }
  }
  return {
    ...usage,
    ...(Object.keys(images).length === 0 ? {} : { imagesGenerated: images }),
    ...(Object.keys(tools).length === 0 ? {} : { toolCalls: tools })
  }
}

const usageOf = (bucket: UsageQuery.UsageBucket): Usage.Usage => ({
  tokens: Object.fromEntries(Object.entries(bucket.tokens).filter(([, n]) => n > 0)),
  ...(bucket.billableRequests > 0 ? { requests: bucket.billableRequests } : {}),
  ...(bucket.webSearches > 0 ? { webSearches: bucket.webSearches } : {}),
  ...(bucket.imagesGenerated > 0 ? { imagesGenerated: { "*": bucket.imagesGenerated } } : {}),
  ...(bucket.toolCalls > 0 ? { toolCalls: { "*": bucket.toolCalls } } : {}),
  ...(bucket.audioSeconds.isZero() ? {} : { audioSeconds: bucket.audioSeconds }),
  ...(bucket.videoSeconds.isZero() ? {} : { videoSeconds: bucket.videoSeconds })
})

builder.queryField("coverage", (t) =>
  t.field({
    type: CoverageReportRef,
    description: "Unpriced models in the ledger in `[from, to)` and the cost at risk.",
    authScopes: { read: true },
    errors: { types: [...readErrors, NotFound], directResult: true },
    complexity: 50,
    args: {
      from: t.arg({ type: "DateTime", required: true }),
      to: t.arg({ type: "DateTime", required: true }),
      referenceModel: t.arg.id({ description: "A definition whose prices estimate the cost of unmatched usage; not estimated without one." })
    },
    resolve: async (_root, args, context) => {
      const usage = await context.run(UsageReport.UsageReport.use((report) =>
        report.usage(context.tenantId, {
          from: args.from,
          to: args.to,
          granularity: "total",
          groupBy: ["provider", "model"],
          filter: { currency: [""] }
        })
      ))
      const book = await context.run(TenantPricing.TenantPricing.use((pricing) => pricing.book(context.tenantId)))
      const scope = { tenant: context.tenantId }
      let reference: CatalogCoverage.CoverageOptions["reference"]
      const at = DateTime.toEpochMillis(args.to) - 1
      if (args.referenceModel != null) {
        const effective = PriceBook.view(book, scope).byId.get(String(args.referenceModel))
        const entry = effective?.definition.history.find((h) => {
          const from = h.snapshot.effectiveFrom === undefined ? -Infinity : Date.parse(h.snapshot.effectiveFrom)
          const to = h.snapshot.effectiveTo === undefined ? Infinity : Date.parse(h.snapshot.effectiveTo)
          return h.timeOfDay === undefined && at >= from && at < to
        }) ?? effective?.definition.history[effective.definition.history.length - 1]
        if (entry === undefined) {
          throw new NotFound(`no model definition ${JSON.stringify(args.referenceModel)} for this tenant`, "model", String(args.referenceModel))
        }
        reference = entry.snapshot
      }
      const partial = await context.run(CostAtRisk.CostAtRisk.use((atRisk) =>
        atRisk.report(context.tenantId, { from: args.from, to: args.to, sources: ["partial"] })
      ))
      const observations: Array<CatalogCoverage.Observation> = usage.buckets.map((bucket) => ({
        provider: bucket.group.provider ?? undefined,
        model: bucket.group.model ?? "",
        count: bucket.requests,
        usage: usageOf(bucket),
        at,
        scope
      }))
      for (const m of partial.models) {
        observations.push({ provider: m.provider, model: m.model, count: m.partialCalls, usage: missingUsage(m.components), at, scope, kind: "partial" })
      }
      return { from: args.from, to: args.to, report: CatalogCoverage.coverage(book, observations, reference === undefined ? {} : { reference }) }
    }
  }))
