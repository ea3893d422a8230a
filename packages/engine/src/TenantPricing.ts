/**
 * A tenant's own prices on top of the catalog: custom model definitions (created, cloned,
 * repriced: every price change is a new snapshot version), price overrides and multipliers for
 * the whole tenant or one of its projects, teams or API keys, and the price book that results.
 *
 * The store keeps the tenant's price book as catalog JSON (`PriceBooks`); `layersOf` turns it
 * into price-book layers scoped to the tenant, and `makeBookLoader` builds and caches each
 * tenant's book (the catalog's built-in definitions, the catalog's own layers, the tenant's
 * layers, and the built-in catalog switched off when the tenant says so). Ingest prices with the
 * loader; a change reaches pricing within `bookTtl`, when the loader sees the version move.
 */
import { Catalog, Clone, MatchRule, ModelDefinition, PriceBook } from "@tally/catalog"
import { FieldError, Money, PricingSnapshot, type Tenant, TenantPriceBook } from "@tally/core"
import { PriceBooks, Tenants } from "@tally/store"
import { Cache, Clock, Context, DateTime, Duration, Effect, Exit, Layer, Result, Schema } from "effect"
import type { SqlError } from "effect/sql/SqlError"

/** How long a built book is used before the tenant's settings and version are read again. */
export const bookTtl = Duration.seconds(5)

export class InvalidPricing extends Schema.TaggedError<InvalidPricing>()("InvalidPricing", {
  /** Path of the input field at fault, e.g. `price.rates.inputText`. */
  field: Schema.String,
  message: Schema.String
}) {}

/** The definition id names nothing this tenant (or scope) sees. */
export class DefinitionNotFound extends Schema.TaggedError<DefinitionNotFound>()("DefinitionNotFound", {
  definitionId: Schema.String,
  message: Schema.String
}) {}

const invalid = (field: string, message: string) => new InvalidPricing({ field, message: `${field}: ${message}` })

// ---------------------------------------------------------------------------------------------
// Layers from the stored book (pure)

export const tenantLayerId = (tenantId: string) => `tenant:${tenantId}`

const scopeOf = (tenantId: string, selector: TenantPriceBook.ScopeSelector): PriceBook.Scope => {
  const normal = TenantPriceBook.normalizeScope(selector)
  return {
    tenant: tenantId,
    ...(normal.project === undefined ? {} : { project: normal.project }),
    ...(normal.team === undefined ? {} : { team: normal.team }),
    ...(normal.apiKey === undefined ? {} : { apiKey: normal.apiKey })
  }
}

const decodeOverride = Schema.decodeUnknownResult(PriceBook.Override, { onExcessProperty: "error" })
const decodeMultiplier = Schema.decodeUnknownResult(PriceBook.Multiplier, { onExcessProperty: "error" })

const multiplierJson = (m: TenantPriceBook.StoredMultiplier) => ({
  factor: Money.format(m.factor),
  reason: m.reason,
  ...(m.providers === null ? {} : { providers: m.providers }),
  ...(m.definitionIds === null ? {} : { definitionIds: m.definitionIds }),
  ...(m.models === null || m.models === undefined ? {} : { models: m.models })
})

/**
 * The tenant's price-book layers: one for the whole tenant (its custom definitions, tenant-wide
 * overrides and multipliers, and the built-in switch) and one per narrower scope it configured.
 */
export const layersOf = (
  tenantId: string,
  stored: TenantPriceBook.StoredPriceBook,
  options: { readonly builtinCatalog: boolean }
): Result.Result<ReadonlyArray<PriceBook.PriceBookLayer>, PriceBook.CatalogInvalid> => {
  const problems: Array<string> = []
  const definitions: Array<ModelDefinition.ModelDefinition> = []
  for (const d of stored.definitions) {
    const decoded = ModelDefinition.decodeResult(d.definition)
    if (Result.isFailure(decoded)) problems.push(`definition ${d.id}: ${decoded.failure.message}`)
    else definitions.push(decoded.success)
  }
  const byScope = new Map<string, { scope: TenantPriceBook.ScopeSelector; overrides: Array<PriceBook.Override>; multipliers: Array<PriceBook.Multiplier> }>()
  const entry = (selector: TenantPriceBook.ScopeSelector) => {
    const key = TenantPriceBook.scopeKey(selector)
    let found = byScope.get(key)
    if (found === undefined) {
      found = { scope: selector, overrides: [], multipliers: [] }
      byScope.set(key, found)
    }
    return found
  }
  entry({})
  for (const o of stored.overrides) {
    const decoded = decodeOverride({ definitionId: o.definitionId, history: o.history, ...(o.reason === null ? {} : { reason: o.reason }) })
    if (Result.isFailure(decoded)) problems.push(`override of ${o.definitionId}: ${decoded.failure.message}`)
    else entry(o.scope).overrides.push(decoded.success)
  }
  for (const m of stored.multipliers) {
    const decoded = decodeMultiplier(multiplierJson(m))
    if (Result.isFailure(decoded)) problems.push(`multiplier ${m.id}: ${decoded.failure.message}`)
    else entry(m.scope).multipliers.push(decoded.success)
  }
  if (problems.length > 0) {
    return Result.fail(new PriceBook.CatalogInvalid({ problems, message: `tenant ${tenantId}'s price book is invalid: ${problems.join("; ")}` }))
  }
  const layers: Array<PriceBook.PriceBookLayer> = []
  for (const [key, { multipliers, overrides, scope }] of byScope) {
    const whole = key === ""
    if (whole && definitions.length === 0 && overrides.length === 0 && multipliers.length === 0 && options.builtinCatalog) continue
    layers.push({
      id: whole ? tenantLayerId(tenantId) : `${tenantLayerId(tenantId)}:${key}`,
      scope: scopeOf(tenantId, scope),
      ...(whole && !options.builtinCatalog ? { builtIn: "disabled" as const } : {}),
      ...(whole && definitions.length > 0 ? { definitions } : {}),
      ...(overrides.length > 0 ? { overrides } : {}),
      ...(multipliers.length > 0 ? { multipliers } : {})
    })
  }
  return Result.succeed(layers)
}

/** The catalog's book with the tenant's layers added. */
export const bookOf = (
  base: PriceBook.PriceBook,
  tenantId: string,
  stored: TenantPriceBook.StoredPriceBook,
  options: { readonly builtinCatalog: boolean }
): Result.Result<PriceBook.PriceBook, PriceBook.CatalogInvalid> =>
  Result.flatMap(layersOf(tenantId, stored, options), (layers) =>
    layers.length === 0 ? Result.succeed(base) : PriceBook.make({ builtIn: base.builtIn, layers: [...base.layers, ...layers] }))

export const emptyPriceBook: TenantPriceBook.StoredPriceBook = { version: 0, definitions: [], overrides: [], multipliers: [] }

export interface BookLoader {
  /** The tenant's price book, built once per change of its settings or price book. */
  readonly get: (tenantId: string) => Effect.Effect<PriceBook.PriceBook, Tenant.TenantNotFound | SqlError | PriceBook.CatalogInvalid>
  /** Forget the cached book, so the next `get` reads the store again. */
  readonly invalidate: (tenantId: string) => Effect.Effect<void>
}

/** A loader of tenants' books over the catalog; see the module comment. */
export const makeBookLoader: Effect.Effect<BookLoader, never, Catalog.Catalog | Tenants.Tenants | PriceBooks.PriceBooks> = Effect.gen(
  function*() {
    const catalog = yield* Catalog.Catalog
    const tenants = yield* Tenants.Tenants
    const store = yield* PriceBooks.PriceBooks
    // The last book built per tenant, reused while settings and version stay the same.
    const built = new Map<string, { readonly key: string; readonly book: PriceBook.PriceBook }>()
    const fetch = (tenantId: string) =>
      Effect.gen(function*() {
        const tenant = yield* tenants.get(tenantId)
        const version = yield* store.version(tenantId)
        const last = built.get(tenantId)
        if (last !== undefined && last.key === `${tenant.builtinCatalog}:${version}`) return last.book
        const stored = version === 0 ? emptyPriceBook : yield* store.load(tenantId)
        const book = yield* Effect.fromResult(bookOf(catalog.book, tenantId, stored, { builtinCatalog: tenant.builtinCatalog }))
        built.set(tenantId, { key: `${tenant.builtinCatalog}:${stored.version}`, book })
        return book
      })
    const cache = yield* Cache.makeWith(fetch, {
      capacity: 10_000,
      timeToLive: (exit) => (Exit.isSuccess(exit) ? bookTtl : Duration.zero)
    })
    return {
      get: (tenantId) => Cache.get(cache, tenantId),
      invalidate: (tenantId) => Cache.invalidate(cache, tenantId)
    }
  }
)

// ---------------------------------------------------------------------------------------------
// Inputs (as JSON: decimals as strings)

export interface PriceInput {
  /** When these prices take effect (ISO date or date-time, UTC); a change defaults to now. */
  readonly effectiveFrom?: string | undefined
  readonly effectiveTo?: string | undefined
  readonly currency?: string | undefined
  /** Per 1M tokens, by token bucket (`inputText`, `cacheRead`, `outputText`, ...). */
  readonly rates?: Readonly<Record<string, string>> | undefined
  /** Buckets whose rate is removed (they become unpriced). */
  readonly removeRates?: ReadonlyArray<string> | undefined
  readonly units?: PricingSnapshot.PricingSnapshotEncoded["units"]
  readonly cachedInputDiscountPercent?: string | undefined
  readonly batchDiscountPercent?: string | undefined
  readonly serviceTierMultipliers?: Readonly<Record<string, string>> | undefined
  readonly regionMultipliers?: Readonly<Record<string, string>> | undefined
  /** Long-context (or volume) tiers, as a snapshot encodes them; replace the current ones. */
  readonly tiers?: PricingSnapshot.PricingSnapshotEncoded["tiers"]
  readonly tierMode?: string | undefined
  /** Per 1M tokens for calls on fine-tuned versions of the model. */
  readonly fineTunedRates?: Readonly<Record<string, string>> | undefined
  readonly note?: string | undefined
}

export interface CreateDefinitionInput {
  readonly id: string
  readonly provider: string
  readonly modelKey: string
  readonly displayName?: string | undefined
  /** An encoded match rule; by default the model key exactly. */
  readonly match?: unknown
  readonly tokenizer?: string | undefined
  readonly contextWindow?: number | undefined
  readonly price: PriceInput
}

export interface CloneDefinitionInput {
  readonly sourceId: string
  readonly id: string
  readonly displayName?: string | undefined
  readonly match?: unknown
  /** A price change applied to the clone right away. */
  readonly price?: PriceInput | undefined
}

export interface UpdateDefinitionInput {
  readonly id: string
  readonly displayName?: string | undefined
  readonly match?: unknown
  readonly deprecated?: boolean | undefined
  readonly tokenizer?: string | undefined
  readonly contextWindow?: number | undefined
  /** A price change: a new snapshot version from `effectiveFrom` (default now). */
  readonly price?: PriceInput | undefined
}

export interface OverrideInput {
  readonly definitionId: string
  readonly scope?: TenantPriceBook.ScopeSelector | undefined
  readonly price: PriceInput
  readonly reason?: string | undefined
}

export interface MultiplierInput {
  readonly scope?: TenantPriceBook.ScopeSelector | undefined
  readonly factor: string
  readonly reason: string
  readonly providers?: ReadonlyArray<string> | undefined
  readonly definitionIds?: ReadonlyArray<string> | undefined
  readonly models?: unknown
}

/** The first problem of a schema error, with its path under `root`. */
const schemaProblem = (root: string, error: Schema.SchemaError): InvalidPricing => {
  const { field, message } = FieldError.fromSchemaError(error, { prefix: root })
  return invalid(field, message)
}

const decodeSnapshot = Schema.decodeUnknownResult(PricingSnapshot.PricingSnapshot, { onExcessProperty: "error" })
const decodeMatch = Schema.decodeUnknownResult(MatchRule.MatchRule, { onExcessProperty: "error" })
const decodeRates = Schema.decodeUnknownResult(PricingSnapshot.TokenRates, { onExcessProperty: "error" })
const decodeUnits = Schema.decodeUnknownResult(PricingSnapshot.UnitRates, { onExcessProperty: "error" })
const decodeTiers = Schema.decodeUnknownResult(PricingSnapshot.PricingSnapshot.fields.tiers, { onExcessProperty: "error" })
const decodeTierMode = Schema.decodeUnknownResult(PricingSnapshot.TierMode)
const decodeDecimals = Schema.decodeUnknownResult(Schema.Record(Schema.String, Money.DecimalFromString))
const decodeDecimal = Schema.decodeUnknownResult(Money.DecimalFromString)

const fromResult = <A>(root: string, result: Result.Result<A, Schema.SchemaError>): Effect.Effect<A, InvalidPricing> =>
  Result.isSuccess(result) ? Effect.succeed(result.success) : Effect.fail(schemaProblem(root, result.failure))

const isoOf = (field: string, text: string | undefined): Effect.Effect<string | undefined, InvalidPricing> => {
  if (text === undefined) return Effect.succeed(undefined)
  return ModelDefinition.parseInstant(text) === undefined
    ? Effect.fail(invalid(field, `expected an ISO date or date-time such as "2025-06-01", got ${JSON.stringify(text)}`))
    : Effect.succeed(text)
}

/** The first snapshot of a new definition. */
const firstSnapshot = (provider: string, modelKey: string, price: PriceInput) =>
  Effect.gen(function*() {
    const effectiveFrom = yield* isoOf("price.effectiveFrom", price.effectiveFrom)
    const effectiveTo = yield* isoOf("price.effectiveTo", price.effectiveTo)
    if (price.removeRates !== undefined) return yield* invalid("price.removeRates", "a new definition has no rates to remove")
    return yield* fromResult("price", decodeSnapshot({
      provider,
      modelKey,
      currency: price.currency ?? "USD",
      rates: price.rates ?? {},
      ...(price.units === undefined ? {} : { units: price.units }),
      ...(price.cachedInputDiscountPercent === undefined ? {} : { cachedInputDiscountPercent: price.cachedInputDiscountPercent }),
      ...(price.batchDiscountPercent === undefined ? {} : { batchDiscountPercent: price.batchDiscountPercent }),
      ...(price.serviceTierMultipliers === undefined ? {} : { serviceTierMultipliers: price.serviceTierMultipliers }),
      ...(price.regionMultipliers === undefined ? {} : { regionMultipliers: price.regionMultipliers }),
      ...(price.tiers === undefined ? {} : { tiers: price.tiers }),
      ...(price.tierMode === undefined ? {} : { tierMode: price.tierMode }),
      ...(price.fineTunedRates === undefined ? {} : { fineTunedRates: price.fineTunedRates }),
      ...(effectiveFrom === undefined ? {} : { effectiveFrom }),
      ...(effectiveTo === undefined ? {} : { effectiveTo })
    }))
  })

/** A price input as a change of an existing history, from now unless it says when. */
const priceChange = (price: PriceInput, now: number) =>
  Effect.gen(function*() {
    const effectiveFrom = (yield* isoOf("price.effectiveFrom", price.effectiveFrom)) ?? new Date(now).toISOString()
    const effectiveTo = yield* isoOf("price.effectiveTo", price.effectiveTo)
    const rates = price.rates === undefined ? undefined : yield* fromResult("price.rates", decodeRates(price.rates))
    const units = price.units === undefined ? undefined : yield* fromResult("price.units", decodeUnits(price.units))
    const fineTunedRates = price.fineTunedRates === undefined ? undefined : yield* fromResult("price.fineTunedRates", decodeRates(price.fineTunedRates))
    const tiers = price.tiers === undefined ? undefined : yield* fromResult("price.tiers", decodeTiers(price.tiers))
    const tierMode = price.tierMode === undefined ? undefined : yield* fromResult("price.tierMode", decodeTierMode(price.tierMode))
    const removeRates: Array<keyof PricingSnapshot.TokenRates> = []
    for (const [i, bucket] of (price.removeRates ?? []).entries()) {
      if (!(PricingSnapshot.TokenRates.fields as Record<string, unknown>)[bucket]) {
        return yield* invalid(`price.removeRates[${i}]`, `unknown token bucket ${JSON.stringify(bucket)}`)
      }
      removeRates.push(bucket as keyof PricingSnapshot.TokenRates)
    }
    const percent = (field: string, text: string | undefined) =>
      text === undefined ? Effect.succeed(undefined) : fromResult(`price.${field}`, decodeDecimal(text))
    const multipliers = (field: string, record: Readonly<Record<string, string>> | undefined) =>
      record === undefined ? Effect.succeed(undefined) : fromResult(`price.${field}`, decodeDecimals(record))
    return {
      effectiveFrom,
      effectiveTo,
      rates,
      removeRates,
      units,
      cachedInputDiscountPercent: yield* percent("cachedInputDiscountPercent", price.cachedInputDiscountPercent),
      batchDiscountPercent: yield* percent("batchDiscountPercent", price.batchDiscountPercent),
      serviceTierMultipliers: yield* multipliers("serviceTierMultipliers", price.serviceTierMultipliers),
      regionMultipliers: yield* multipliers("regionMultipliers", price.regionMultipliers),
      tiers,
      tierMode,
      fineTunedRates,
      currency: price.currency,
      note: price.note
    } satisfies Clone.PriceChange
  })

const reprice = (definition: ModelDefinition.ModelDefinition, price: PriceInput) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const change = yield* priceChange(price, now)
    const repriced = Clone.reprice(definition, change)
    if (Result.isFailure(repriced)) return yield* invalid("price", repriced.failure.message)
    // The new history must still read as a definition (e.g. a currency code is a code).
    return yield* fromResult("price", ModelDefinition.decodeResult(ModelDefinition.encode(repriced.success)))
  })

const snapshotsOf = (definitionId: string, history: ReadonlyArray<ModelDefinition.HistoryEntry>) =>
  history.map((entry) => ({ snapshot: entry.snapshot, definitionId }))

const storedInput = (definition: ModelDefinition.ModelDefinition): TenantPriceBook.DefinitionInput => ({
  id: definition.id,
  provider: definition.provider,
  modelKey: definition.modelKey,
  displayName: definition.displayName ?? null,
  match: definition.match,
  definition: ModelDefinition.encode(definition)
})

// ---------------------------------------------------------------------------------------------
// The service

export interface PriceBookView {
  readonly book: PriceBook.PriceBook
  readonly stored: TenantPriceBook.StoredPriceBook
}

export interface TenantPricingService {
  /** The tenant's price book (cached; see `bookTtl`). */
  readonly book: (tenantId: string) => Effect.Effect<PriceBook.PriceBook, Tenant.TenantNotFound | SqlError | PriceBook.CatalogInvalid>
  /** What the tenant stored: custom definitions, overrides, multipliers. */
  readonly stored: (tenantId: string) => Effect.Effect<TenantPriceBook.StoredPriceBook, SqlError>
  readonly createDefinition: (
    tenantId: string,
    input: CreateDefinitionInput
  ) => Effect.Effect<ModelDefinition.ModelDefinition, InvalidPricing | TenantPriceBook.DefinitionExists | Tenant.TenantNotFound | SqlError | PriceBook.CatalogInvalid>
  /** A custom copy of any definition the tenant sees (built-in or its own), optionally repriced. */
  readonly cloneDefinition: (
    tenantId: string,
    input: CloneDefinitionInput
  ) => Effect.Effect<ModelDefinition.ModelDefinition, InvalidPricing | DefinitionNotFound | TenantPriceBook.DefinitionExists | Tenant.TenantNotFound | SqlError | PriceBook.CatalogInvalid>
  readonly updateDefinition: (
    tenantId: string,
    input: UpdateDefinitionInput
  ) => Effect.Effect<ModelDefinition.ModelDefinition, InvalidPricing | TenantPriceBook.CustomDefinitionNotFound | SqlError>
  /** Reprices a definition within a scope (built-in ones included), as a new version of its history there. */
  readonly setOverride: (
    tenantId: string,
    input: OverrideInput
  ) => Effect.Effect<TenantPriceBook.StoredOverride, InvalidPricing | DefinitionNotFound | Tenant.TenantNotFound | SqlError | PriceBook.CatalogInvalid>
  readonly removeOverride: (
    tenantId: string,
    input: { readonly definitionId: string; readonly scope?: TenantPriceBook.ScopeSelector | undefined }
  ) => Effect.Effect<boolean, SqlError>
  readonly addMultiplier: (
    tenantId: string,
    input: MultiplierInput
  ) => Effect.Effect<TenantPriceBook.StoredMultiplier, InvalidPricing | TenantPriceBook.InvalidPriceBookEntry | Tenant.TenantNotFound | SqlError>
  readonly removeMultiplier: (
    tenantId: string,
    multiplierId: string
  ) => Effect.Effect<TenantPriceBook.StoredMultiplier, TenantPriceBook.MultiplierNotFound | SqlError>
}

export class TenantPricing extends Context.Service<TenantPricing, TenantPricingService>()("@tally/engine/TenantPricing") {
  static readonly layer: Layer.Layer<TenantPricing, never, Catalog.Catalog | Tenants.Tenants | PriceBooks.PriceBooks> = Layer.effect(
    TenantPricing,
    Effect.gen(function*() {
      const loader = yield* makeBookLoader
      const store = yield* PriceBooks.PriceBooks
      const tenants = yield* Tenants.Tenants
      const catalog = yield* Catalog.Catalog

      const changed = <A, E, R>(tenantId: string, effect: Effect.Effect<A, E, R>) =>
        Effect.ensuring(effect, loader.invalidate(tenantId))

      /** The book the tenant would have with `stored` changed by `patch`: checks ids and overrides. */
      const checkBook = (tenantId: string, patch: (stored: TenantPriceBook.StoredPriceBook) => TenantPriceBook.StoredPriceBook) =>
        Effect.gen(function*() {
          const tenant = yield* tenants.get(tenantId)
          const stored = patch(yield* store.load(tenantId))
          const result = bookOf(catalog.book, tenantId, stored, { builtinCatalog: tenant.builtinCatalog })
          if (Result.isFailure(result)) return yield* invalid("id", result.failure.problems.join("; "))
          return result.success
        })

      const visible = (tenantId: string, definitionId: string, scope?: TenantPriceBook.ScopeSelector) =>
        Effect.gen(function*() {
          const book = yield* loader.get(tenantId)
          const effective = PriceBook.view(book, scopeOf(tenantId, scope ?? {})).byId.get(definitionId)
          if (effective === undefined) {
            return yield* new DefinitionNotFound({
              definitionId,
              message: `no model definition ${JSON.stringify(definitionId)} is visible to this tenant`
            })
          }
          return effective
        })

      const saveNew = (tenantId: string, definition: ModelDefinition.ModelDefinition) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const probe: TenantPriceBook.StoredDefinition = {
            ...storedInput(definition),
            displayName: definition.displayName ?? null,
            createdAt: DateTime.makeUnsafe(now),
            updatedAt: DateTime.makeUnsafe(now)
          }
          yield* checkBook(tenantId, (s) => ({ ...s, definitions: [...s.definitions.filter((d) => d.id !== definition.id), probe] }))
          yield* store.createDefinition(tenantId, storedInput(definition), snapshotsOf(definition.id, definition.history))
          return definition
        })

      const createDefinition = Effect.fn("TenantPricing.createDefinition")(function*(tenantId: string, input: CreateDefinitionInput) {
        const snapshot = yield* firstSnapshot(input.provider, input.modelKey, input.price)
        const match = input.match === undefined ? MatchRule.equals(input.modelKey) : yield* fromResult("match", decodeMatch(input.match))
        const definition = yield* fromResult("", ModelDefinition.decodeResult({
          id: input.id,
          provider: input.provider,
          modelKey: input.modelKey,
          ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
          match,
          ...(input.tokenizer === undefined ? {} : { tokenizer: input.tokenizer }),
          ...(input.contextWindow === undefined ? {} : { contextWindow: input.contextWindow }),
          maintainer: "custom",
          history: [{
            version: 1,
            snapshot: PricingSnapshot.encodeSnapshot(snapshot),
            ...(input.price.note === undefined ? {} : { note: input.price.note })
          }]
        }))
        return yield* changed(tenantId, saveNew(tenantId, definition))
      })

      const cloneDefinition = Effect.fn("TenantPricing.cloneDefinition")(function*(tenantId: string, input: CloneDefinitionInput) {
        const source = yield* visible(tenantId, input.sourceId)
        const match = input.match === undefined ? undefined : yield* fromResult("match", decodeMatch(input.match))
        let definition = Clone.clone(source.definition, {
          id: input.id,
          ...(match === undefined ? {} : { match }),
          ...(input.displayName === undefined ? {} : { displayName: input.displayName })
        })
        if (input.price !== undefined) definition = yield* reprice(definition, input.price)
        return yield* changed(tenantId, saveNew(tenantId, definition))
      })

      const updateDefinition = Effect.fn("TenantPricing.updateDefinition")(function*(tenantId: string, input: UpdateDefinitionInput) {
        const match = input.match === undefined ? undefined : yield* fromResult("match", decodeMatch(input.match))
        let result: ModelDefinition.ModelDefinition | undefined
        yield* changed(
          tenantId,
          store.updateDefinition(tenantId, input.id, (current) =>
            Effect.gen(function*() {
              let definition = yield* fromResult("(stored)", ModelDefinition.decodeResult(current.definition))
              const { displayName: _d, deprecated: _p, tokenizer: _t, contextWindow: _c, ...rest } = definition
              const displayName = input.displayName ?? definition.displayName
              const deprecated = input.deprecated ?? definition.deprecated
              const tokenizer = input.tokenizer ?? definition.tokenizer
              const contextWindow = input.contextWindow ?? definition.contextWindow
              definition = yield* fromResult("", ModelDefinition.decodeResult(ModelDefinition.encode({
                ...rest,
                ...(displayName === undefined ? {} : { displayName }),
                ...(deprecated === undefined ? {} : { deprecated }),
                ...(tokenizer === undefined ? {} : { tokenizer }),
                ...(contextWindow === undefined ? {} : { contextWindow }),
                ...(match === undefined ? {} : { match })
              })))
              if (input.price !== undefined) definition = yield* reprice(definition, input.price)
              result = definition
              return { value: storedInput(definition), snapshots: snapshotsOf(definition.id, definition.history) }
            }))
        )
        return result!
      })

      const setOverride = Effect.fn("TenantPricing.setOverride")(function*(tenantId: string, input: OverrideInput) {
        const scope = TenantPriceBook.normalizeScope(input.scope)
        const target = yield* visible(tenantId, input.definitionId, scope)
        // A second change in the same scope builds on the first: the scope's own override is the
        // history it sees now; otherwise what broader scopes or the definition give it.
        const base = target.definition
        const repriced = yield* reprice(base, input.price)
        const override = {
          definitionId: input.definitionId,
          history: repriced.history.map((entry) => Schema.encodeSync(ModelDefinition.HistoryEntry)(entry)),
          ...(input.reason === undefined ? {} : { reason: input.reason })
        }
        yield* fromResult("price", decodeOverride(override))
        return yield* changed(
          tenantId,
          store.setOverride(tenantId, scope, input.definitionId, () =>
            Effect.succeed({
              value: { scope, definitionId: input.definitionId, history: override.history, reason: input.reason ?? null },
              snapshots: snapshotsOf(input.definitionId, repriced.history)
            }))
        )
      })

      const removeOverride = Effect.fn("TenantPricing.removeOverride")(function*(
        tenantId: string,
        input: { readonly definitionId: string; readonly scope?: TenantPriceBook.ScopeSelector | undefined }
      ) {
        return yield* changed(tenantId, store.removeOverride(tenantId, input.scope, input.definitionId))
      })

      const addMultiplier = Effect.fn("TenantPricing.addMultiplier")(function*(tenantId: string, input: MultiplierInput) {
        const decoded = yield* fromResult("", decodeMultiplier({
          factor: input.factor,
          reason: input.reason,
          ...(input.providers === undefined ? {} : { providers: input.providers }),
          ...(input.definitionIds === undefined ? {} : { definitionIds: input.definitionIds }),
          ...(input.models === undefined ? {} : { models: input.models })
        }))
        return yield* changed(
          tenantId,
          store.addMultiplier(tenantId, {
            scope: input.scope,
            factor: decoded.factor,
            reason: decoded.reason,
            providers: decoded.providers ?? null,
            definitionIds: decoded.definitionIds ?? null,
            models: decoded.models ?? null
          })
        )
      })

      const removeMultiplier = Effect.fn("TenantPricing.removeMultiplier")(function*(tenantId: string, multiplierId: string) {
        return yield* changed(tenantId, store.removeMultiplier(tenantId, multiplierId))
      })

      return TenantPricing.of({
        book: loader.get,
        stored: store.load,
        createDefinition,
        cloneDefinition,
        updateDefinition,
        setOverride,
        removeOverride,
        addMultiplier,
        removeMultiplier
      })
    })
  )
}
