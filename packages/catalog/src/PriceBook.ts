/**
 * Price books in layers. The built-in catalog is the bottom layer; custom layers are scoped to a
 * tenant, project, team or API key (or to everyone, for a catalog file given to the CLI). A layer
 * may add custom definitions, override a definition's prices (by id, keeping its match rule),
 * apply a multiplier (a contract discount or a markup), and switch the built-in catalog off.
 *
 * A layer applies to a query when every scope key it names equals the query's. Narrower layers
 * win: apiKey > team > project > tenant > global; at one level, a layer naming more keys wins,
 * then the smaller layer id.
 */
import type { PricingSnapshot } from "@tally/core"
import { Money } from "@tally/core"
import { Result, Schema } from "effect"
import type * as BuiltInCatalog from "./BuiltInCatalog.ts"
import * as MatchRule from "./MatchRule.ts"
import * as ModelDefinition from "./ModelDefinition.ts"
import * as Provider from "./Provider.ts"

export const Scope = Schema.Struct({
  tenant: Schema.optionalKey(Schema.NonEmptyString),
  project: Schema.optionalKey(Schema.NonEmptyString),
  team: Schema.optionalKey(Schema.NonEmptyString),
  apiKey: Schema.optionalKey(Schema.NonEmptyString)
})
export type Scope = typeof Scope.Type

export const ScopeKeys = ["tenant", "project", "team", "apiKey"] as const
export type ScopeLevel = "global" | typeof ScopeKeys[number]

/** 0 global, 1 tenant, 2 project, 3 team, 4 apiKey: the narrowest key the scope names. */
export const levelOf = (scope: Scope): number => {
  let level = 0
  for (const [i, key] of ScopeKeys.entries()) if (scope[key] !== undefined) level = i + 1
  return level
}

export const levelName = (level: number): ScopeLevel => level === 0 ? "global" : ScopeKeys[level - 1]!

export const appliesTo = (layerScope: Scope, query: Scope): boolean =>
  ScopeKeys.every((key) => layerScope[key] === undefined || layerScope[key] === query[key])

export const Multiplier = Schema.Struct({
  /** Factor on every price of the matched definitions, e.g. "0.8" for a 20% contract discount. */
  factor: Money.NonNegativeDecimal,
  reason: Schema.NonEmptyString,
  /** Restrict to these providers (canonical or alias names). */
  providers: Schema.optionalKey(Schema.Array(Schema.NonEmptyString)),
  /** Restrict to these definition ids. */
  definitionIds: Schema.optionalKey(Schema.Array(Schema.NonEmptyString)),
  /** Restrict to definitions whose model key this rule matches. */
  models: Schema.optionalKey(MatchRule.MatchRule)
})
export type Multiplier = typeof Multiplier.Type

const OverrideHistory = Schema.Array(ModelDefinition.HistoryEntry).check(
  Schema.makeFilter<ReadonlyArray<ModelDefinition.HistoryEntry>>((history) =>
    history.length === 0 ? "expected at least one history entry" : ModelDefinition.historyProblem(history)
  , { identifier: "History" })
)

/** Replaces the prices (history) of an existing definition within this layer's scope. */
export const Override = Schema.Struct({
  definitionId: Schema.NonEmptyString,
  history: OverrideHistory,
  reason: Schema.optionalKey(Schema.String)
})
export type Override = typeof Override.Type

export const BuiltInSwitch = Schema.Literals(["enabled", "disabled"])

export const PriceBookLayer = Schema.Struct({
  id: Schema.NonEmptyString,
  scope: Scope,
  builtIn: Schema.optionalKey(BuiltInSwitch),
  definitions: Schema.optionalKey(Schema.Array(ModelDefinition.ModelDefinition)),
  overrides: Schema.optionalKey(Schema.Array(Override)),
  multipliers: Schema.optionalKey(Schema.Array(Multiplier))
}).annotate({ identifier: "PriceBookLayer" })
export type PriceBookLayer = typeof PriceBookLayer.Type
export type PriceBookLayerEncoded = typeof PriceBookLayer.Encoded

/** Decodes a layer from JSON (e.g. a tenant's price book kept in the store); unknown keys are errors. */
export const decodeLayer = Schema.decodeUnknownResult(PriceBookLayer, { onExcessProperty: "error" })
export const encodeLayer = Schema.encodeSync(PriceBookLayer)

export class CatalogInvalid extends Schema.TaggedError<CatalogInvalid>()("CatalogInvalid", {
  problems: Schema.Array(Schema.String),
  message: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------
// The book

export interface PriceBook {
  readonly builtIn: BuiltInCatalog.BuiltInCatalog | undefined
  readonly layers: ReadonlyArray<PriceBookLayer>
  readonly providers: ReadonlyArray<Provider.ProviderInfo>
  readonly providerById: ReadonlyMap<string, Provider.ProviderInfo>
  readonly builtInById: ReadonlyMap<string, ModelDefinition.ModelDefinition>
  /** Canonical provider id of every definition (built-in and custom). */
  readonly canonicalProvider: (provider: string) => string
  readonly views: Map<string, View>
}

export type Origin =
  | { readonly kind: "built-in" }
  | { readonly kind: "custom"; readonly layerId: string; readonly level: number }

/** A definition as one scope sees it: overrides applied. */
export interface EffectiveDefinition {
  readonly definition: ModelDefinition.ModelDefinition
  readonly origin: Origin
  readonly provider: string
  readonly override: { readonly layerId: string; readonly reason: string | undefined } | undefined
}

/** What one scope sees: its layers (narrowest first), whether built-in applies, its definitions. */
export interface View {
  readonly layers: ReadonlyArray<PriceBookLayer>
  readonly builtInEnabled: boolean
  readonly builtInSwitchedBy: string | undefined
  readonly definitions: ReadonlyArray<EffectiveDefinition>
  readonly byProvider: ReadonlyMap<string, ReadonlyArray<EffectiveDefinition>>
  readonly byId: ReadonlyMap<string, EffectiveDefinition>
}

export interface MakeOptions {
  readonly builtIn?: BuiltInCatalog.BuiltInCatalog | undefined
  readonly layers?: ReadonlyArray<PriceBookLayer> | undefined
}

/** Builds a price book, checking that layer ids are unique and every override has a target. */
export const make = (options: MakeOptions): Result.Result<PriceBook, CatalogInvalid> => {
  const builtIn = options.builtIn
  const layers = options.layers ?? []
  const providers = builtIn?.providers ?? []
  const providerById = new Map(providers.map((p) => [p.id, p]))
  const builtInById = new Map((builtIn?.definitions ?? []).map((d) => [d.id, d]))
  const problems: Array<string> = []

  const layerIds = new Set<string>()
  const customIds = new Set<string>()
  for (const layer of layers) {
    if (layerIds.has(layer.id)) problems.push(`layer id "${layer.id}" is used twice`)
    layerIds.add(layer.id)
    const seen = new Set<string>()
    for (const definition of layer.definitions ?? []) {
      if (definition.maintainer !== "custom") {
        problems.push(`layer "${layer.id}": definition ${definition.id} must be maintained "custom"`)
      }
      if (builtInById.has(definition.id)) {
        problems.push(`layer "${layer.id}": definition id ${definition.id} is a built-in id; use an override to change its prices`)
      }
      if (seen.has(definition.id)) problems.push(`layer "${layer.id}": definition id ${definition.id} appears twice`)
      seen.add(definition.id)
      customIds.add(definition.id)
    }
  }
  for (const layer of layers) {
    const overridden = new Set<string>()
    for (const override of layer.overrides ?? []) {
      if (!builtInById.has(override.definitionId) && !customIds.has(override.definitionId)) {
        problems.push(`layer "${layer.id}": override targets unknown definition ${override.definitionId}`)
      }
      if (overridden.has(override.definitionId)) problems.push(`layer "${layer.id}": ${override.definitionId} is overridden twice`)
      overridden.add(override.definitionId)
    }
  }
  if (problems.length > 0) {
    return Result.fail(new CatalogInvalid({ problems, message: `invalid price book: ${problems.join("; ")}` }))
  }
  const canonicalCache = new Map<string, string>()
  const canonicalProvider = (provider: string): string => {
    let id = canonicalCache.get(provider)
    if (id === undefined) {
      id = Provider.resolve(providers, provider).id
      canonicalCache.set(provider, id)
    }
    return id
  }
  return Result.succeed({ builtIn, layers, providers, providerById, builtInById, canonicalProvider, views: new Map() })
}


/** Layers that apply to `scope`, narrowest first. */
export const applicableLayers = (book: PriceBook, scope: Scope): ReadonlyArray<PriceBookLayer> =>
  book.layers
    .filter((layer) => appliesTo(layer.scope, scope))
    .map((layer) => ({ layer, level: levelOf(layer.scope), keys: ScopeKeys.filter((k) => layer.scope[k] !== undefined).length }))
    .sort((a, b) => b.level - a.level || b.keys - a.keys || (a.layer.id < b.layer.id ? -1 : a.layer.id > b.layer.id ? 1 : 0))
    .map(({ layer }) => layer)

/**
 * The definitions `scope` sees, with overrides applied. Cached by the set of layers that apply,
 * so the many scopes without layers of their own (most API keys) share one view.
 */
export const view = (book: PriceBook, scope: Scope = {}): View => {
  const layers = applicableLayers(book, scope)
  const key = layers.map((layer) => layer.id).join("\u0000")
  const cached = book.views.get(key)
  if (cached !== undefined) return cached
  const switchLayer = layers.find((layer) => layer.builtIn !== undefined)
  const builtInEnabled = switchLayer?.builtIn !== "disabled"

  const overrideOf = new Map<string, { layerId: string; override: Override }>()
  for (const layer of layers) {
    for (const override of layer.overrides ?? []) {
      if (!overrideOf.has(override.definitionId)) overrideOf.set(override.definitionId, { layerId: layer.id, override })
    }
  }
  const definitions: Array<EffectiveDefinition> = []
  const byId = new Map<string, EffectiveDefinition>()
  const add = (definition: ModelDefinition.ModelDefinition, origin: Origin) => {
    if (byId.has(definition.id)) return
    const o = overrideOf.get(definition.id)
    const effective: EffectiveDefinition = {
      definition: o === undefined ? definition : { ...definition, history: o.override.history },
      origin,
      provider: book.canonicalProvider(definition.provider),
      override: o === undefined ? undefined : { layerId: o.layerId, reason: o.override.reason }
    }
    definitions.push(effective)
    byId.set(definition.id, effective)
  }
  // Narrowest layer first, so a narrower layer's definition shadows a broader one with the same id.
  for (const layer of layers) {
    for (const definition of layer.definitions ?? []) add(definition, { kind: "custom", layerId: layer.id, level: levelOf(layer.scope) })
  }
  if (builtInEnabled) for (const definition of book.builtIn?.definitions ?? []) add(definition, { kind: "built-in" })

  const byProvider = new Map<string, Array<EffectiveDefinition>>()
  for (const effective of definitions) {
    const list = byProvider.get(effective.provider)
    if (list === undefined) byProvider.set(effective.provider, [effective])
    else list.push(effective)
  }
  const result: View = { layers, builtInEnabled, builtInSwitchedBy: switchLayer?.id, definitions, byProvider, byId }
  book.views.set(key, result)
  return result
}

// ---------------------------------------------------------------------------------------------
// Multipliers

export interface AppliedMultiplier {
  readonly layerId: string
  readonly factor: string
  readonly reason: string
}

/** The multipliers of `view`'s layers that apply to a definition, broadest layer first. */
export const multipliersFor = (book: PriceBook, layers: ReadonlyArray<PriceBookLayer>, effective: EffectiveDefinition): ReadonlyArray<{ layerId: string; multiplier: Multiplier }> => {
  const out: Array<{ layerId: string; multiplier: Multiplier }> = []
  for (const layer of [...layers].reverse()) {
    for (const multiplier of layer.multipliers ?? []) {
      if (multiplier.providers !== undefined && !multiplier.providers.some((p) => book.canonicalProvider(p) === effective.provider)) continue
      if (multiplier.definitionIds !== undefined && !multiplier.definitionIds.includes(effective.definition.id)) continue
      if (multiplier.models !== undefined && !MatchRule.matches(multiplier.models, effective.definition.modelKey)) continue
      out.push({ layerId: layer.id, multiplier })
    }
  }
  return out
}

type Rates = PricingSnapshot.TokenRates

const scaleRates = (rates: Rates, factor: Money.Decimal): Rates =>
  Object.fromEntries(Object.entries(rates).map(([bucket, rate]) => [bucket, (rate as Money.Decimal).times(factor)])) as Rates

const scaleRecord = (record: Readonly<Record<string, Money.Decimal>>, factor: Money.Decimal): Record<string, Money.Decimal> =>
  Object.fromEntries(Object.entries(record).map(([key, rate]) => [key, rate.times(factor)]))

/**
 * Every price of `snapshot` times `factor`, exactly: token rates (base, fine-tuned, tiers) and
 * unit prices. Percentages and condition multipliers are relative and stay as they are.
 */
export const scaleSnapshot = (snapshot: PricingSnapshot.PricingSnapshot, factor: Money.Decimal, note: string): PricingSnapshot.PricingSnapshot => {
  const units = snapshot.units
  return {
    ...snapshot,
    notes: snapshot.notes === undefined ? note : `${snapshot.notes}; ${note}`,
    rates: scaleRates(snapshot.rates, factor),
    ...(snapshot.fineTunedRates === undefined ? {} : { fineTunedRates: scaleRates(snapshot.fineTunedRates, factor) }),
    ...(snapshot.tiers === undefined ? {} : { tiers: snapshot.tiers.map((tier) => ({ ...tier, rates: scaleRates(tier.rates, factor) })) }),
    ...(units === undefined ? {} : {
      units: {
        ...(units.perRequest === undefined ? {} : { perRequest: units.perRequest.times(factor) }),
        ...(units.perImage === undefined ? {} : { perImage: scaleRecord(units.perImage, factor) }),
        ...(units.perAudioSecond === undefined ? {} : { perAudioSecond: units.perAudioSecond.times(factor) }),
        ...(units.perVideoSecond === undefined ? {} : { perVideoSecond: units.perVideoSecond.times(factor) }),
        ...(units.perThousandWebSearches === undefined ? {} : { perThousandWebSearches: units.perThousandWebSearches.times(factor) }),
        ...(units.perToolCall === undefined ? {} : { perToolCall: scaleRecord(units.perToolCall, factor) })
      }
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Custom catalog files

export const CUSTOM_FORMAT = "tally.catalog/v1"

/**
 * A custom catalog file: either explicit `layers`, or the fields of one layer at the top level
 * (`definitions`, `overrides`, `multipliers`, `builtIn`), which then apply to every scope.
 */
export const CustomCatalogFile = Schema.Struct({
  format: Schema.Literal(CUSTOM_FORMAT),
  builtIn: Schema.optionalKey(BuiltInSwitch),
  definitions: Schema.optionalKey(Schema.Array(ModelDefinition.ModelDefinition)),
  overrides: Schema.optionalKey(Schema.Array(Override)),
  multipliers: Schema.optionalKey(Schema.Array(Multiplier)),
  layers: Schema.optionalKey(Schema.Array(PriceBookLayer))
}).annotate({ identifier: "CustomCatalogFile" })
export type CustomCatalogFile = typeof CustomCatalogFile.Type
export type CustomCatalogFileEncoded = typeof CustomCatalogFile.Encoded

const decodeCustomFile = Schema.decodeUnknownResult(CustomCatalogFile, { onExcessProperty: "error" })
export const encodeCustomFile = Schema.encodeSync(CustomCatalogFile)

/** A custom catalog file (JSON-ready) holding `definitions`, e.g. the output of an importer. */
export const customCatalogFileOf = (definitions: ReadonlyArray<ModelDefinition.ModelDefinition>): CustomCatalogFileEncoded =>
  encodeCustomFile({ format: CUSTOM_FORMAT, definitions })

/** The id of the layer formed by a custom file's top-level fields. */
export const FILE_LAYER_ID = "file"

/** Decodes a custom catalog document into its layers. */
export const decodeCustomCatalog = (json: unknown): Result.Result<ReadonlyArray<PriceBookLayer>, CatalogInvalid> =>
  Result.match(decodeCustomFile(json), {
    onFailure: (error) => Result.fail(new CatalogInvalid({ problems: [error.message], message: `invalid custom catalog: ${error.message}` })),
    onSuccess: (file) => {
      const top = file.definitions !== undefined || file.overrides !== undefined || file.multipliers !== undefined || file.builtIn !== undefined
      const layers: Array<PriceBookLayer> = []
      if (top) {
        layers.push({
          id: FILE_LAYER_ID,
          scope: {},
          ...(file.builtIn === undefined ? {} : { builtIn: file.builtIn }),
          ...(file.definitions === undefined ? {} : { definitions: file.definitions }),
          ...(file.overrides === undefined ? {} : { overrides: file.overrides }),
          ...(file.multipliers === undefined ? {} : { multipliers: file.multipliers })
        })
      }
      layers.push(...(file.layers ?? []))
      return Result.succeed(layers)
    }
  })
