/**
 * `usageRecords`: the ledger, newest first, a page at a time: each call with its cost lines, the
 * snapshot it was priced with, where its cost came from, and the provider's own figure beside the
 * computed one. The raw provider payload is read only when asked for, and the snapshot and model
 * of a page are each loaded once (dataloaders).
 */
import { Match, PriceBook } from "@tally/catalog"
import { type CostBreakdown, LedgerRecord, type Money, PricingSnapshot, Usage } from "@tally/core"
import { TenantPricing } from "@tally/engine"
import { LedgerRecords, PricingSnapshots } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import { builder, readErrors } from "../builder.ts"
import type { GraphqlContext } from "../Context.ts"
import { InvalidInput } from "../Errors.ts"
import * as Paging from "../Paging.ts"
import { LabelsRef, MoneyRef, TagRef, tagsOf, toFilter, TokenCountsRef, UsageFilterInput } from "./Common.ts"
import { ModelDefinitionRef, PricingSnapshotRef, type SnapshotShape } from "./Model.ts"

const CostSourceEnum = builder.enumType("CostSource", {
  description: "Where a call's billed cost came from.",
  values: {
    PROVIDER: { value: "provider", description: "The provider's own reported cost." },
    COMPUTED: { value: "computed", description: "Priced by Tally from reported usage." },
    ESTIMATED: { value: "estimated", description: "Priced by Tally from usage partly estimated (e.g. tokenized locally)." },
    PARTIAL: { value: "partial", description: "Some usage has no price: the priced lines are billed, `missing` names the rest (the cost at risk)." },
    UNPRICED: { value: "unpriced", description: "No price was found; usage kept, no cost." }
  } as const
})

const MissingComponentRef = builder.objectRef<CostBreakdown.MissingComponent>("MissingComponent").implement({
  description: "Usage of a call that no price was found for.",
  fields: (t) => ({
    component: t.exposeString("component", { description: "As the cost lines name it: a token bucket, `webSearches`, `toolCall:<kind>`, `image:<size/quality>`, …" }),
    quantity: t.field({ type: "Decimal", resolve: (m) => m.quantity }),
    unit: t.exposeString("unit")
  })
})

const CostLineRef = builder.objectRef<CostBreakdown.CostLine>("CostLine").implement({
  description: "One priced component of a call: quantity × unit price = amount, exact.",
  fields: (t) => ({
    component: t.exposeString("component", { description: "A token bucket or unit, e.g. `outputText`, `requests`, `image:1024x1024`." }),
    quantity: t.expose("quantity", { type: "Decimal" }),
    unit: t.exposeString("unit"),
    listRate: t.expose("listRate", { type: "Decimal" }),
    listRatePer: t.exposeString("listRatePer"),
    rateSource: t.exposeString("rateSource"),
    unitPrice: t.expose("unitPrice", { type: "Decimal" }),
    amount: t.expose("amount", { type: "Decimal" }),
    conditions: t.exposeStringList("conditions")
  })
})

const UsageDetailRef = builder.objectRef<Usage.Usage>("UsageDetail").implement({
  description: "The normalized usage of one call.",
  fields: (t) => ({
    tokens: t.field({
      type: TokenCountsRef,
      resolve: (u) => Usage.allTokens(u.tokens)
    }),
    requests: t.field({ type: "Long", nullable: true, resolve: (u) => u.requests ?? null }),
    webSearches: t.field({ type: "Long", nullable: true, resolve: (u) => u.webSearches ?? null }),
    imagesGenerated: t.field({ type: "JSON", nullable: true, resolve: (u) => u.imagesGenerated ?? null }),
    toolCalls: t.field({ type: "JSON", nullable: true, resolve: (u) => u.toolCalls ?? null }),
    audioSeconds: t.field({ type: "Decimal", nullable: true, resolve: (u) => u.audioSeconds ?? null }),
    videoSeconds: t.field({ type: "Decimal", nullable: true, resolve: (u) => u.videoSeconds ?? null }),
    promptTokens: t.field({ type: "Long", nullable: true, resolve: (u) => u.promptTokens ?? null }),
    batch: t.boolean({ nullable: true, resolve: (u) => u.batch ?? null }),
    fineTuned: t.boolean({ nullable: true, resolve: (u) => u.fineTuned ?? null }),
    serviceTier: t.string({ nullable: true, resolve: (u) => u.serviceTier ?? null }),
    region: t.string({ nullable: true, resolve: (u) => u.region ?? null })
  })
})

/** Snapshot ids of every history entry the tenant's book holds, built once per book. */
const snapshotIndex = new WeakMap<PriceBook.PriceBook, Map<string, SnapshotShape>>()

const indexOf = (book: PriceBook.PriceBook, tenantId: string): Map<string, SnapshotShape> => {
  let index = snapshotIndex.get(book)
  if (index === undefined) {
    index = new Map()
    const add = (definitionId: string, snapshot: PricingSnapshot.PricingSnapshot) => {
      const id = PricingSnapshot.snapshotId(snapshot)
      if (!index!.has(id)) index!.set(id, { id, definitionId, snapshot, source: "price-book" })
    }
    for (const layer of book.layers) {
      for (const d of layer.definitions ?? []) for (const entry of d.history) add(d.id, entry.snapshot)
      for (const o of layer.overrides ?? []) for (const entry of o.history) add(o.definitionId, entry.snapshot)
    }
    for (const effective of PriceBook.view(book, { tenant: tenantId }).definitions) {
      for (const entry of effective.definition.history) add(effective.definition.id, entry.snapshot)
    }
    for (const d of book.builtIn?.definitions ?? []) for (const entry of d.history) add(d.id, entry.snapshot)
    snapshotIndex.set(book, index)
  }
  return index
}

/**
 * The same price the call was priced with, found again: its match in today's book, when that
 * match still yields the snapshot the call cites (e.g. prices scaled by a multiplier, which are
 * not stored as such).
 */
const rematch = (book: PriceBook.PriceBook, tenantId: string, record: LedgerRecord.LedgerRecord): SnapshotShape | null => {
  const labels = record.call.labels
  const found = Match.match(book, {
    provider: record.call.provider,
    model: record.call.model,
    at: DateTime.toEpochMillis(record.call.occurredAt),
    scope: {
      tenant: tenantId,
      ...(labels.apiKeyId === undefined || labels.apiKeyId === "" ? {} : { apiKey: labels.apiKeyId }),
      ...(labels.project === undefined || labels.project === "" ? {} : { project: labels.project }),
      ...(labels.team === undefined || labels.team === "" ? {} : { team: labels.team })
    }
  })
  if (Result.isFailure(found) || found.success.snapshotId !== record.call.snapshotId) return null
  return { id: found.success.snapshotId, definitionId: found.success.definition.id, snapshot: found.success.snapshot, source: "price-book" }
}

/** Snapshots of records: those stored (every custom price, cited snapshots), else found in the book. */
const loadSnapshots = async (records: ReadonlyArray<LedgerRecord.LedgerRecord>, context: GraphqlContext): Promise<ReadonlyArray<SnapshotShape | null>> => {
  const ids = [...new Set(records.map((r) => r.call.snapshotId!))]
  const stored = await context.run(PricingSnapshots.PricingSnapshots.use((snapshots) => snapshots.getMany(context.tenantId, ids)))
  const missing = ids.filter((id) => !stored.has(id))
  const book = missing.length === 0 ? undefined : await context.run(TenantPricing.TenantPricing.use((pricing) => pricing.book(context.tenantId)))
  const index = book === undefined ? undefined : indexOf(book, context.tenantId)
  return records.map((record) => {
    const id = record.call.snapshotId!
    const row = stored.get(id)
    if (row !== undefined) {
      return { id, definitionId: row.definitionId, snapshot: row.snapshot, source: "stored" as const }
    }
    return index?.get(id) ?? (book === undefined ? null : rematch(book, context.tenantId, record))
  })
}

const loadDefinitions = async (ids: ReadonlyArray<string>, context: GraphqlContext) => {
  const book = await context.run(TenantPricing.TenantPricing.use((pricing) => pricing.book(context.tenantId)))
  const view = PriceBook.view(book, { tenant: context.tenantId })
  return ids.map((id) => view.byId.get(id) ?? null)
}

const loadRaw = async (keys: ReadonlyArray<LedgerRecord.Cursor>, context: GraphqlContext) => {
  const found = await context.run(LedgerRecords.LedgerRecords.use((records) => records.rawPayloads(context.tenantId, keys)))
  return keys.map((key) => found.get(key.requestId) ?? null)
}

const money = (amount: Money.Decimal | null, currency: string | null) =>
  amount === null || currency === null ? null : { amount, currency }

const UsageRecordRef = builder.objectRef<LedgerRecord.LedgerRecord>("UsageRecord").implement({
  description: "One recorded call.",
  fields: (t) => ({
    requestId: t.string({ resolve: (r) => r.call.requestId }),
    occurredAt: t.field({ type: "DateTime", resolve: (r) => r.call.occurredAt }),
    ingestedAt: t.expose("ingestedAt", { type: "DateTime" }),
    provider: t.string({ resolve: (r) => r.call.provider }),
    api: t.string({ nullable: true, resolve: (r) => r.call.api ?? null }),
    model: t.string({ description: "The model as reported.", resolve: (r) => r.call.model }),
    definitionId: t.string({ nullable: true, resolve: (r) => r.call.definitionId }),
    definition: t.loadable({
      type: ModelDefinitionRef,
      nullable: true,
      description: "The model definition that priced the call, as the tenant sees it today.",
      load: (ids: Array<string>, context: GraphqlContext) => loadDefinitions(ids, context),
      resolve: (r) => r.call.definitionId
    }),
    snapshotId: t.string({ nullable: true, resolve: (r) => r.call.snapshotId }),
    snapshot: t.loadable({
      type: PricingSnapshotRef,
      nullable: true,
      description: "The prices the call was priced with.",
      load: (records: Array<LedgerRecord.LedgerRecord>, context: GraphqlContext) => loadSnapshots(records, context),
      resolve: (r) => (r.call.snapshotId === null ? null : r),
      loaderOptions: { cacheKeyFn: (r: LedgerRecord.LedgerRecord) => `${r.call.snapshotId}\u0000${r.call.requestId}` }
    }),
    costSource: t.field({ type: CostSourceEnum, resolve: (r) => r.call.costSource }),
    unpricedReason: t.string({ nullable: true, resolve: (r) => r.call.unpricedReason }),
    cost: t.field({ type: MoneyRef, nullable: true, description: "What is billed: null when unpriced.", resolve: (r) => money(r.call.total, r.currency) }),
    computedCost: t.field({
      type: MoneyRef,
      nullable: true,
      description: "Tally's own pricing, when it priced the call (also for provider-billed calls).",
      resolve: (r) => (r.call.breakdown === null ? null : { amount: r.call.breakdown.total, currency: r.call.breakdown.currency })
    }),
    reportedCost: t.field({
      type: MoneyRef,
      nullable: true,
      description: "The provider's own figure, when it reported one.",
      resolve: (r) => money(r.call.reportedCost, r.call.reportedCurrency)
    }),
    costDifference: t.field({
      type: "Decimal",
      nullable: true,
      description: "reportedCost − computedCost, when both exist in one currency.",
      resolve: (r) => r.call.difference
    }),
    lines: t.field({ type: [CostLineRef], resolve: (r) => r.call.breakdown?.lines ?? [] }),
    missing: t.field({
      type: [MissingComponentRef],
      description: "For a PARTIAL cost: the usage no price was found for, with its quantity (not in `cost`).",
      resolve: (r) => r.call.breakdown?.missing ?? []
    }),
    usage: t.field({ type: UsageDetailRef, resolve: (r) => r.call.usage }),
    labels: t.field({ type: LabelsRef, resolve: (r) => r.call.labels }),
    tags: t.field({ type: [TagRef], resolve: (r) => tagsOf(r.call.tags) }),
    raw: t.loadable({
      type: "JSON",
      nullable: true,
      description: "The provider payload as recorded (JSON). Read only when asked for.",
      load: (keys: Array<LedgerRecord.Cursor>, context: GraphqlContext) =>
        loadRaw(keys, context).then((rows) => rows.map((row) => row?.raw ?? null)),
      resolve: (r) => r.cursor,
      loaderOptions: { cacheKeyFn: (key: LedgerRecord.Cursor) => key.requestId }
    }),
    rawText: t.loadable({
      type: "String",
      nullable: true,
      description: "The payload's original text where byte-for-byte matters (streams). Read only when asked for.",
      load: (keys: Array<LedgerRecord.Cursor>, context: GraphqlContext) =>
        loadRaw(keys, context).then((rows) => rows.map((row) => row?.rawText ?? null)),
      resolve: (r) => r.cursor,
      loaderOptions: { cacheKeyFn: (key: LedgerRecord.Cursor) => key.requestId }
    })
  })
})

const RecordFilterInput = builder.inputType("UsageRecordFilter", {
  fields: (t) => ({
    from: t.field({ type: "DateTime" }),
    to: t.field({ type: "DateTime" }),
    usage: t.field({ type: UsageFilterInput }),
    costSource: t.field({ type: [CostSourceEnum] }),
    requestId: t.stringList()
  })
})

builder.queryField("usageRecords", (t) =>
  t.connection({
    type: UsageRecordRef,
    description: "Recorded calls, newest first (by time, then request id).",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(50),
    args: { filter: t.arg({ type: RecordFilterInput }) },
    resolve: async (_root, args, context) => {
      const first = Paging.forwardSize(args, "records", { fallback: 50, max: LedgerRecord.maxPageSize })
      const after = args.after == null ? undefined : LedgerRecords.decodeCursor(args.after)
      if (args.after != null && after === undefined) throw new InvalidInput("after: not a cursor of this list", "after")
      const filter = args.filter
      const page = await context.run(LedgerRecords.LedgerRecords.use((records) =>
        records.page(context.tenantId, {
          first,
          ...(after === undefined ? {} : { after }),
          filter: {
            ...toFilter(filter?.usage),
            ...(filter?.from == null ? {} : { from: filter.from }),
            ...(filter?.to == null ? {} : { to: filter.to }),
            ...(filter?.costSource == null ? {} : { costSource: filter.costSource }),
            ...(filter?.requestId == null ? {} : { requestId: filter.requestId })
          }
        })
      ))
      return Paging.connection(page.records, (record) => LedgerRecords.encodeCursor(record.cursor), {
        hasNextPage: page.hasNextPage,
        hasPreviousPage: after !== undefined
      })
    }
  },
    { name: "UsageRecordConnection" },
    { name: "UsageRecordEdge" }
  ))

const UsageSpanRef = builder.objectRef<LedgerRecord.Span>("UsageSpan").implement({
  description: "When the tenant's recorded calls occurred.",
  fields: (t) => ({
    first: t.expose("first", { type: "DateTime", description: "When the earliest recorded call occurred." }),
    last: t.expose("last", { type: "DateTime", description: "When the latest recorded call occurred." })
  })
})

builder.queryField("usageSpan", (t) =>
  t.field({
    type: UsageSpanRef,
    nullable: true,
    description: "When the first and the last recorded call occurred (e.g. to open a view on a period that holds data); null before any call.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    resolve: (_root, _args, context) => context.run(LedgerRecords.LedgerRecords.use((records) => records.span(context.tenantId))).then((span) => span ?? null)
  }))
