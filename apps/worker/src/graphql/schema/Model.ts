/**
 * Models and their prices as the key's tenant sees them: the built-in catalog and the tenant's
 * custom definitions, with overrides applied and every price version (snapshot). Admin keys
 * create, clone and reprice custom definitions (each price change is a new version), and set
 * price overrides and multipliers for the tenant or one of its projects, teams or API keys.
 */
import { MatchRule, type ModelDefinition, PriceBook } from "@tally/catalog"
import { TenantPricing } from "@tally/engine"
import { Money, PricingSnapshot, type TenantPriceBook, Usage } from "@tally/core"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { builder, changeErrors, lookupErrors, readErrors } from "../builder.ts"
import type { GraphqlContext } from "../Context.ts"
import { NotFound } from "../Errors.ts"
import * as Paging from "../Paging.ts"

export const TokenRatesRef = builder.objectRef<PricingSnapshot.TokenRates>("TokenRates").implement({
  description: "Prices per 1M tokens by bucket; null is no price (never zero).",
  fields: (t) =>
    Object.fromEntries(Usage.TokenBuckets.map((bucket) => [
      bucket,
      t.field({ type: "Decimal", nullable: true, resolve: (rates) => rates[bucket] ?? null })
    ])) as never
})

export interface SnapshotShape {
  readonly id: string
  readonly definitionId: string | null
  readonly snapshot: PricingSnapshot.PricingSnapshot
  /** Where it was found: stored with the ledger's snapshots, or in the tenant's price book. */
  readonly source: "stored" | "price-book"
}

export const PricingSnapshotRef = builder.objectRef<SnapshotShape>("PricingSnapshot").implement({
  description: "An immutable set of prices; its id is the hash of its content.",
  fields: (t) => ({
    id: t.exposeID("id"),
    definitionId: t.exposeString("definitionId", { nullable: true }),
    provider: t.string({ resolve: (s) => s.snapshot.provider }),
    modelKey: t.string({ resolve: (s) => s.snapshot.modelKey }),
    currency: t.string({ resolve: (s) => PricingSnapshot.currencyOf(s.snapshot) }),
    effectiveFrom: t.string({ nullable: true, resolve: (s) => s.snapshot.effectiveFrom ?? null }),
    effectiveTo: t.string({ nullable: true, resolve: (s) => s.snapshot.effectiveTo ?? null }),
    rates: t.field({ type: TokenRatesRef, resolve: (s) => s.snapshot.rates }),
    source: t.string({ description: "`stored` (saved when the price was set) or `price-book`.", resolve: (s) => s.source }),
    snapshot: t.field({ type: "JSON", description: "Every price and condition, as JSON.", resolve: (s) => PricingSnapshot.encodeSnapshot(s.snapshot) })
  })
})

interface VersionShape {
  readonly definitionId: string
  readonly entry: ModelDefinition.HistoryEntry
}

const PriceVersionRef = builder.objectRef<VersionShape>("PriceVersion").implement({
  description: "One version of a definition's prices, in force over a date range (UTC, `effectiveTo` exclusive).",
  fields: (t) => ({
    version: t.int({ resolve: (v) => v.entry.version }),
    snapshotId: t.string({ resolve: (v) => PricingSnapshot.snapshotId(v.entry.snapshot) }),
    effectiveFrom: t.string({ nullable: true, resolve: (v) => v.entry.snapshot.effectiveFrom ?? null }),
    effectiveTo: t.string({ nullable: true, resolve: (v) => v.entry.snapshot.effectiveTo ?? null }),
    timeOfDay: t.string({
      nullable: true,
      description: "A daily UTC window (`HH:MM-HH:MM`) these prices apply in, when they are off-peak prices.",
      resolve: (v) => (v.entry.timeOfDay === undefined ? null : `${v.entry.timeOfDay.fromUtc}-${v.entry.timeOfDay.toUtc}`)
    }),
    note: t.string({ nullable: true, resolve: (v) => v.entry.note ?? null }),
    currency: t.string({ resolve: (v) => PricingSnapshot.currencyOf(v.entry.snapshot) }),
    rates: t.field({ type: TokenRatesRef, resolve: (v) => v.entry.snapshot.rates }),
    snapshot: t.field({
      type: PricingSnapshotRef,
      resolve: (v) => ({
        id: PricingSnapshot.snapshotId(v.entry.snapshot),
        definitionId: v.definitionId,
        snapshot: v.entry.snapshot,
        source: "price-book" as const
      })
    })
  })
})

const MaintainerEnum = builder.enumType("Maintainer", {
  values: { BUILT_IN: { value: "built-in" }, CUSTOM: { value: "custom" } } as const
})

export const ModelDefinitionRef = builder.objectRef<PriceBook.EffectiveDefinition>("ModelDefinition").implement({
  description: "A model as the tenant sees it: which names it prices and its price history (overrides applied).",
  fields: (t) => ({
    id: t.id({ resolve: (e) => e.definition.id }),
    provider: t.string({ description: "Canonical provider id.", resolve: (e) => e.provider }),
    modelKey: t.string({ resolve: (e) => e.definition.modelKey }),
    displayName: t.string({ nullable: true, resolve: (e) => e.definition.displayName ?? null }),
    maintainer: t.field({ type: MaintainerEnum, resolve: (e) => e.definition.maintainer }),
    layer: t.string({ description: "`built-in` or the price-book layer that holds it.", resolve: (e) => (e.origin.kind === "built-in" ? "built-in" : e.origin.layerId) }),
    match: t.string({ description: "The names it prices, in words.", resolve: (e) => MatchRule.describe(e.definition.match) }),
    matchRule: t.field({ type: "JSON", resolve: (e) => e.definition.match }),
    tokenizer: t.string({ nullable: true, resolve: (e) => e.definition.tokenizer ?? null }),
    contextWindow: t.int({ nullable: true, resolve: (e) => e.definition.contextWindow ?? null }),
    deprecated: t.boolean({ resolve: (e) => e.definition.deprecated === true }),
    clonedFrom: t.string({ nullable: true, resolve: (e) => e.definition.clonedFrom?.definitionId ?? null }),
    overriddenBy: t.string({ nullable: true, description: "The layer whose override replaced its prices.", resolve: (e) => e.override?.layerId ?? null }),
    history: t.field({
      type: [PriceVersionRef],
      description: "Every price version, oldest first.",
      resolve: (e) => e.definition.history.map((entry) => ({ definitionId: e.definition.id, entry }))
    }),
    priceAt: t.field({
      type: PriceVersionRef,
      nullable: true,
      description: "The version in force at an instant (now by default).",
      args: { at: t.arg({ type: "DateTime" }) },
      resolve: async (e, args, context) => {
        const at = args.at === null || args.at === undefined ? await context.run(Clock.currentTimeMillis) : DateTime.toEpochMillis(args.at)
        const found = e.definition.history.find((entry) => {
          const from = entry.snapshot.effectiveFrom === undefined ? -Infinity : Date.parse(entry.snapshot.effectiveFrom)
          const to = entry.snapshot.effectiveTo === undefined ? Infinity : Date.parse(entry.snapshot.effectiveTo)
          return entry.timeOfDay === undefined && at >= from && at < to
        })
        return found === undefined ? null : { definitionId: e.definition.id, entry: found }
      }
    })
  })
})

/** The tenant's book and the view of its whole-tenant scope. */
export const tenantView = (context: GraphqlContext, scope: TenantPriceBook.ScopeSelector = {}) =>
  context.run(Effect.map(
    TenantPricing.TenantPricing.use((pricing) => pricing.book(context.tenantId)),
    (book) => ({
      book,
      view: PriceBook.view(book, {
        tenant: context.tenantId,
        ...(scope.project === undefined ? {} : { project: scope.project }),
        ...(scope.team === undefined ? {} : { team: scope.team }),
        ...(scope.apiKey === undefined ? {} : { apiKey: scope.apiKey })
      })
    })
  ))

builder.queryField("models", (t) =>
  t.connection({
    type: ModelDefinitionRef,
    description: "Models the tenant's calls can be priced with: the built-in catalog (unless switched off) and its own.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(50),
    args: {
      provider: t.arg.string(),
      search: t.arg.string({ description: "Text in the id, model key or display name (any case)." }),
      maintainer: t.arg({ type: MaintainerEnum })
    },
    resolve: (_root, args, context) =>
      Paging.fromArray(args, { fallback: 50, max: 500 }, async () => {
        const { book, view } = await tenantView(context)
        const provider = args.provider === null || args.provider === undefined ? undefined : book.canonicalProvider(args.provider)
        const search = args.search?.toLowerCase()
        return view.definitions
          .filter((e) => provider === undefined || e.provider === provider)
          .filter((e) => args.maintainer === null || args.maintainer === undefined || e.definition.maintainer === args.maintainer)
          .filter((e) =>
            search === undefined ||
            [e.definition.id, e.definition.modelKey, e.definition.displayName ?? ""].some((text) => text.toLowerCase().includes(search))
          )
          .sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : a.definition.id < b.definition.id ? -1 : 1))
      })
  },
    { name: "ModelDefinitionConnection" },
    { name: "ModelDefinitionEdge" }
  ))

builder.queryField("model", (t) =>
  t.field({
    type: ModelDefinitionRef,
    description: "One model by definition id, with its price history.",
    authScopes: { read: true },
    errors: { types: [...lookupErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const { view } = await tenantView(context)
      const found = view.byId.get(String(args.id))
      if (found === undefined) throw new NotFound(`no model definition ${JSON.stringify(args.id)} for this tenant`, "model", String(args.id))
      return found
    }
  }))

// ---------------------------------------------------------------------------------------------
// The tenant's price book

const PriceScopeRef = builder.objectRef<TenantPriceBook.ScopeSelector>("PriceScope").implement({
  description: "Where a price change applies inside the tenant; all null is the whole tenant.",
  fields: (t) => ({
    project: t.string({ nullable: true, resolve: (s) => s.project ?? null }),
    team: t.string({ nullable: true, resolve: (s) => s.team ?? null }),
    apiKeyId: t.string({ nullable: true, resolve: (s) => s.apiKey ?? null })
  })
})

const PriceScopeInput = builder.inputType("PriceScopeInput", {
  description: "Narrows a price change to a project, team and/or API key of the tenant.",
  fields: (t) => ({ project: t.string(), team: t.string(), apiKeyId: t.string() })
})

const scopeOf = (input: typeof PriceScopeInput.$inferInput | null | undefined): TenantPriceBook.ScopeSelector => ({
  ...(input?.project === null || input?.project === undefined ? {} : { project: input.project }),
  ...(input?.team === null || input?.team === undefined ? {} : { team: input.team }),
  ...(input?.apiKeyId === null || input?.apiKeyId === undefined ? {} : { apiKey: input.apiKeyId })
})

const PriceOverrideRef = builder.objectRef<TenantPriceBook.StoredOverride>("PriceOverride").implement({
  description: "Prices that replace a definition's within a scope, with their own version history.",
  fields: (t) => ({
    definitionId: t.exposeString("definitionId"),
    scope: t.field({ type: PriceScopeRef, resolve: (o) => o.scope }),
    reason: t.exposeString("reason", { nullable: true }),
    history: t.field({ type: "JSON", resolve: (o) => o.history }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" })
  })
})

const PriceMultiplierRef = builder.objectRef<TenantPriceBook.StoredMultiplier>("PriceMultiplier").implement({
  description: "A factor on every price of the definitions it selects (a contract discount, a markup).",
  fields: (t) => ({
    id: t.exposeID("id"),
    scope: t.field({ type: PriceScopeRef, resolve: (m) => m.scope }),
    factor: t.expose("factor", { type: "Decimal" }),
    reason: t.exposeString("reason"),
    providers: t.stringList({ nullable: true, resolve: (m) => m.providers }),
    definitionIds: t.stringList({ nullable: true, resolve: (m) => m.definitionIds }),
    models: t.field({ type: "JSON", nullable: true, resolve: (m) => m.models ?? null }),
    createdAt: t.expose("createdAt", { type: "DateTime" })
  })
})

const PriceBookRef = builder.objectRef<TenantPriceBook.StoredPriceBook>("PriceBook").implement({
  description: "What the tenant changed about prices. Its custom definitions are among `models(maintainer: CUSTOM)`.",
  fields: (t) => ({
    version: t.int({ description: "Moves with every change; pricing picks a change up within seconds.", resolve: (b) => b.version }),
    customDefinitionIds: t.stringList({ resolve: (b) => b.definitions.map((d) => d.id) }),
    overrides: t.field({ type: [PriceOverrideRef], resolve: (b) => b.overrides }),
    multipliers: t.field({ type: [PriceMultiplierRef], resolve: (b) => b.multipliers })
  })
})

builder.queryField("priceBook", (t) =>
  t.field({
    type: PriceBookRef,
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    resolve: (_root, _args, context) => context.run(TenantPricing.TenantPricing.use((pricing) => pricing.stored(context.tenantId)))
  }))

// ---------------------------------------------------------------------------------------------
// Changes

const RatesInput = builder.inputType("TokenRatesInput", {
  description: "Prices per 1M tokens, as decimal strings.",
  fields: (t) => Object.fromEntries(Usage.TokenBuckets.map((bucket) => [bucket, t.field({ type: "Decimal" })])) as never
})

const PriceInput = builder.inputType("PriceInput", {
  description: "Prices, or a change of prices: fields left out keep their value (a new definition starts from none).",
  fields: (t) => ({
    effectiveFrom: t.string({ description: "ISO date or date-time (UTC) the prices apply from; may lie in the past (re-rates later calls). A change defaults to now." }),
    effectiveTo: t.string({ description: "Exclusive end; open by default." }),
    currency: t.string({ description: "ISO 4217; USD by default." }),
    rates: t.field({ type: RatesInput }),
    removeRates: t.stringList({ description: "Token buckets whose price is removed (those tokens become unpriced)." }),
    units: t.field({ type: "JSON", description: "Unit prices: perRequest, perImage {size: price}, perAudioSecond, perVideoSecond, perThousandWebSearches, perToolCall {kind: price}, as decimal strings." }),
    cachedInputDiscountPercent: t.field({ type: "Decimal" }),
    batchDiscountPercent: t.field({ type: "Decimal", description: "Percent off every token line of a batch call (50 for the published Batch API rates)." }),
    serviceTierMultipliers: t.field({ type: "JSON", description: "Multiplier on every line by service tier, e.g. {\"priority\": \"2\", \"flex\": \"0.5\"}; replaces the current ones." }),
    regionMultipliers: t.field({ type: "JSON", description: "Multiplier on every line by region, e.g. {\"eu\": \"1.1\"}; replaces the current ones." }),
    tiers: t.field({ type: "JSON", description: "Tiers above a prompt size: [{\"name\"?, \"aboveTokens\", \"rates\": {bucket: price}, \"cachedInputDiscountPercent\"?}]; replaces the current ones." }),
    tierMode: t.string({ description: "cliff (the default: the whole call at the tier's rates) or graduated (each bucket split into bands)." }),
    fineTunedRates: t.field({ type: RatesInput, description: "Prices per 1M tokens for calls on fine-tuned versions of the model." }),
    note: t.string({ description: "Why this version exists, e.g. \"2026 contract\"." })
  })
})

type PriceInputShape = typeof PriceInput.$inferInput

const decimalsOf = (record: Record<string, Money.Decimal | null | undefined>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(record)) if (value !== null && value !== undefined) out[key] = Money.format(value)
  return out
}

const priceOf = (input: PriceInputShape): TenantPricing.PriceInput => {
  const rates = decimalsOf((input.rates ?? {}) as Record<string, Money.Decimal | null | undefined>)
  return {
    ...(input.effectiveFrom == null ? {} : { effectiveFrom: input.effectiveFrom }),
    ...(input.effectiveTo == null ? {} : { effectiveTo: input.effectiveTo }),
    ...(input.currency == null ? {} : { currency: input.currency }),
    ...(input.rates == null ? {} : { rates }),
    ...(input.removeRates == null ? {} : { removeRates: input.removeRates }),
    ...(input.units == null ? {} : { units: input.units as never }),
    ...(input.cachedInputDiscountPercent == null ? {} : { cachedInputDiscountPercent: Money.format(input.cachedInputDiscountPercent) }),
    ...(input.batchDiscountPercent == null ? {} : { batchDiscountPercent: Money.format(input.batchDiscountPercent) }),
    ...(input.serviceTierMultipliers == null ? {} : { serviceTierMultipliers: input.serviceTierMultipliers as never }),
    ...(input.regionMultipliers == null ? {} : { regionMultipliers: input.regionMultipliers as never }),
    ...(input.tiers == null ? {} : { tiers: input.tiers as never }),
    ...(input.tierMode == null ? {} : { tierMode: input.tierMode }),
    ...(input.fineTunedRates == null ? {} : { fineTunedRates: decimalsOf(input.fineTunedRates as Record<string, Money.Decimal | null | undefined>) }),
    ...(input.note == null ? {} : { note: input.note })
  }
}

/** The definition as the tenant sees it now, after a change. */
const visible = async (context: GraphqlContext, id: string) => {
  const { view } = await tenantView(context)
  const found = view.byId.get(id)
  if (found === undefined) throw new NotFound(`no model definition ${JSON.stringify(id)} for this tenant`, "model", id)
  return found
}

const CreateModelInput = builder.inputType("CreateModelInput", {
  fields: (t) => ({
    id: t.string({ required: true, description: "A new id, e.g. \"acme/llama-3-70b\"; not a built-in id." }),
    provider: t.string({ required: true }),
    modelKey: t.string({ required: true, description: "The canonical model name." }),
    displayName: t.string(),
    match: t.field({ type: "JSON", description: "Match rule, e.g. {\"or\": [{\"equals\": \"a\"}, {\"startsWith\": \"a-\"}]}; the model key exactly by default." }),
    tokenizer: t.string(),
    contextWindow: t.int(),
    price: t.field({ type: PriceInput, required: true })
  })
})

builder.mutationField("createModel", (t) =>
  t.field({
    type: ModelDefinitionRef,
    description: "A custom model definition for the tenant, with its first price version.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: CreateModelInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const created = await context.run(TenantPricing.TenantPricing.use((pricing) =>
        pricing.createDefinition(context.tenantId, {
          id: input.id,
          provider: input.provider,
          modelKey: input.modelKey,
          ...(input.displayName == null ? {} : { displayName: input.displayName }),
          ...(input.match == null ? {} : { match: input.match }),
          ...(input.tokenizer == null ? {} : { tokenizer: input.tokenizer }),
          ...(input.contextWindow == null ? {} : { contextWindow: input.contextWindow }),
          price: priceOf(input.price)
        })
      ))
      return visible(context, created.id)
    }
  }))

const CloneModelInput = builder.inputType("CloneModelInput", {
  fields: (t) => ({
    sourceId: t.string({ required: true, description: "Any definition the tenant sees, built-in or its own." }),
    id: t.string({ required: true }),
    displayName: t.string(),
    match: t.field({ type: "JSON", description: "By default the clone matches the source's names (and wins over a built-in source)." }),
    price: t.field({ type: PriceInput, description: "A price change applied to the clone at once." })
  })
})

builder.mutationField("cloneModel", (t) =>
  t.field({
    type: ModelDefinitionRef,
    description: "A custom copy of a definition that remembers its source and keeps its price history.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: CloneModelInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const created = await context.run(TenantPricing.TenantPricing.use((pricing) =>
        pricing.cloneDefinition(context.tenantId, {
          sourceId: input.sourceId,
          id: input.id,
          ...(input.displayName == null ? {} : { displayName: input.displayName }),
          ...(input.match == null ? {} : { match: input.match }),
          ...(input.price == null ? {} : { price: priceOf(input.price) })
        })
      ))
      return visible(context, created.id)
    }
  }))

const UpdateModelInput = builder.inputType("UpdateModelInput", {
  fields: (t) => ({
    id: t.string({ required: true, description: "A custom definition of the tenant (to change a built-in one's prices, use setPriceOverride)." }),
    displayName: t.string(),
    match: t.field({ type: "JSON" }),
    deprecated: t.boolean(),
    tokenizer: t.string(),
    contextWindow: t.int(),
    price: t.field({ type: PriceInput, description: "A new price version from `effectiveFrom` (default now)." })
  })
})

builder.mutationField("updateModel", (t) =>
  t.field({
    type: ModelDefinitionRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: UpdateModelInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const updated = await context.run(TenantPricing.TenantPricing.use((pricing) =>
        pricing.updateDefinition(context.tenantId, {
          id: input.id,
          ...(input.displayName == null ? {} : { displayName: input.displayName }),
          ...(input.match == null ? {} : { match: input.match }),
          ...(input.deprecated == null ? {} : { deprecated: input.deprecated }),
          ...(input.tokenizer == null ? {} : { tokenizer: input.tokenizer }),
          ...(input.contextWindow == null ? {} : { contextWindow: input.contextWindow }),
          ...(input.price == null ? {} : { price: priceOf(input.price) })
        })
      ))
      return visible(context, updated.id)
    }
  }))

builder.mutationField("setPriceOverride", (t) =>
  t.field({
    type: PriceOverrideRef,
    description: "Reprices any definition (built-in too) for the tenant or one of its scopes: a new version of its history there.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: {
      definitionId: t.arg.string({ required: true }),
      scope: t.arg({ type: PriceScopeInput }),
      price: t.arg({ type: PriceInput, required: true }),
      reason: t.arg.string()
    },
    resolve: (_root, args, context) =>
      context.run(TenantPricing.TenantPricing.use((pricing) =>
        pricing.setOverride(context.tenantId, {
          definitionId: args.definitionId,
          scope: scopeOf(args.scope),
          price: priceOf(args.price),
          ...(args.reason == null ? {} : { reason: args.reason })
        })
      ))
  }))

builder.mutationField("removePriceOverride", (t) =>
  t.field({
    type: "Boolean",
    description: "True when there was an override to remove.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors] },
    args: { definitionId: t.arg.string({ required: true }), scope: t.arg({ type: PriceScopeInput }) },
    resolve: (_root, args, context) =>
      context.run(TenantPricing.TenantPricing.use((pricing) =>
        pricing.removeOverride(context.tenantId, { definitionId: args.definitionId, scope: scopeOf(args.scope) })
      ))
  }))

builder.mutationField("addPriceMultiplier", (t) =>
  t.field({
    type: PriceMultiplierRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: {
      scope: t.arg({ type: PriceScopeInput }),
      factor: t.arg({ type: "Decimal", required: true, description: "e.g. \"0.8\" for 20% off." }),
      reason: t.arg.string({ required: true }),
      providers: t.arg.stringList(),
      definitionIds: t.arg.stringList(),
      models: t.arg({ type: "JSON", description: "A match rule on model keys." })
    },
    resolve: (_root, args, context) =>
      context.run(TenantPricing.TenantPricing.use((pricing) =>
        pricing.addMultiplier(context.tenantId, {
          scope: scopeOf(args.scope),
          factor: Money.format(args.factor),
          reason: args.reason,
          ...(args.providers == null ? {} : { providers: args.providers }),
          ...(args.definitionIds == null ? {} : { definitionIds: args.definitionIds }),
          ...(args.models == null ? {} : { models: args.models })
        })
      ))
  }))

builder.mutationField("removePriceMultiplier", (t) =>
  t.field({
    type: PriceMultiplierRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) =>
      context.run(TenantPricing.TenantPricing.use((pricing) => pricing.removeMultiplier(context.tenantId, String(args.id))))
  }))
