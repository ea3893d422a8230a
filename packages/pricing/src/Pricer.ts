/**
 * The pricer: exact LLM prices with no database, no server and no Effect to learn.
 *
 *   const pricer = createPricer()                       // built-in catalog, synchronous
 *   pricer.cost({ provider: "openai", payload })        // a raw provider response, as `tally cost`
 *   pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1000, output_tokens: 200 } })
 *
 * `cost` answers the same fields as `tally cost` JSON; `price` prices a model name and usage counts
 * (the `calcPrice` case), in Tally's bucket names or genai-prices' usage shape (see `UsageInput`).
 * Decimals are exact strings. A call that cannot be priced (unknown model, no snapshot in force, a
 * bucket without a rate) is answered with `costSource: "unpriced"` and the reason; input that is
 * wrong throws a `PricerError` naming the field.
 *
 * For Effect users the same is the `Pricer` service (`Pricer.layer(options)`), with `at`
 * defaulting to the `Clock`'s time.
 *
 * Matching is memoized per price book by (provider, model, scope) with the matched snapshot's
 * validity interval (`internal/PriceMemo`), so a repeated model costs a map lookup.
 */
import { Catalog, Match, PriceBook } from "@tally/catalog"
import { CostBreakdown, CostEngine, Money, Usage } from "@tally/core"
import { Normalize } from "@tally/providers"
import { Clock, Context, Effect, Layer, Result, Schema } from "effect"
import * as Costing from "./Costing.ts"
import * as PriceMemo from "./internal/PriceMemo.ts"
import * as PricerError from "./PricerError.ts"
import * as UsageInput from "./UsageInput.ts"

export interface PricerOptions {
  /**
   * A custom catalog (definitions, overrides, multipliers, layers; format `tally.catalog/v1`, see
   * docs/catalog.md): the parsed object, or the path of its JSON file. Either is validated, and
   * refused with a `PricerError` naming the field at fault.
   */
  readonly catalog?: string | PriceBook.CustomCatalogFileEncoded | Readonly<Record<string, unknown>> | undefined
  /** Use the built-in catalog of 1,500+ models (default true); false prices from `catalog` alone. */
  readonly builtIn?: boolean | undefined
  /** The price-book scope (tenant, project, team, API key) whose overrides and multipliers apply. */
  readonly scope?: PriceBook.Scope | undefined
}

/** When a call happened: a `Date`, an ISO 8601 string or epoch milliseconds. */
export type At = Date | string | number

export interface CostInput {
  /** The provider that answered ("openai", "anthropic", "google", "bedrock", "openrouter", ...). */
  readonly provider: string
  /** The raw response: parsed JSON, or its text (JSON, SSE stream, NDJSON). */
  readonly payload: unknown
  readonly api?: string | undefined
  /** The model the request asked for, when the payload does not name it. */
  readonly model?: string | undefined
  /** The request body: lets a stream without usage be estimated with a tokenizer (flagged `estimated`). */
  readonly request?: unknown
  readonly batch?: boolean | undefined
  /** When the call happened (default: now). */
  readonly at?: At | undefined
  /** Overrides the pricer's scope for this call. */
  readonly scope?: PriceBook.Scope | undefined
}

export interface PriceInput {
  readonly provider: string
  readonly model: string
  /** Usage counts in Tally's bucket names or genai-prices' usage shape (never guessed: see `UsageInput`). */
  readonly usage: UsageInput.TallyUsage | UsageInput.GenaiUsage
  /** States the usage shape; usage contradicting it is refused. */
  readonly usageFormat?: UsageInput.UsageFormat | undefined
  readonly at?: At | undefined
  readonly scope?: PriceBook.Scope | undefined
}

/** What `cost` answers: the `tally cost` JSON. */
export type CostResult = Costing.CostedCallJson

export interface PriceResult {
  readonly provider: string
  readonly model: string
  /** The matched definition and snapshot (also set when a matched snapshot lacks a rate). */
  readonly definition: string | null
  readonly snapshotId: string | null
  /** The exact total as a decimal string, e.g. "0.0045"; null when unpriced. */
  readonly total: string | null
  readonly currency: string | null
  readonly costSource: "computed" | "unpriced"
  readonly unpricedReason: Costing.UnpricedReason | null
  readonly unpricedDetail: string | null
  /** One sentence: which rule of which layer matched and which snapshot was in force. */
  readonly match: string | null
  /** The usage as priced, in Tally's buckets. */
  readonly usage: Usage.UsageEncoded
  /** A line per priced component, decimals as strings. */
  readonly lines: ReadonlyArray<CostBreakdown.CostBreakdownEncoded["lines"][number]>
}

export interface PricerApi {
  readonly cost: (input: CostInput) => CostResult
  readonly price: (input: PriceInput) => PriceResult
  /** The price book the pricer prices from. */
  readonly book: PriceBook.PriceBook
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === "object" && u !== null && !Array.isArray(u)

const OPTION_KEYS: ReadonlySet<string> = new Set(["catalog", "builtIn", "scope"])

const decodeScopeResult = Schema.decodeUnknownResult(PriceBook.Scope, { onExcessProperty: "error" })

const decodeScope = (scope: unknown, path: string): Result.Result<PriceBook.Scope | undefined, PricerError.PricerError> => {
  if (scope === undefined) return Result.succeed(undefined)
  const decoded = decodeScopeResult(scope)
  return Result.isSuccess(decoded)
    ? Result.succeed(decoded.success)
    : Result.fail(PricerError.make("invalid-options", path, `${path} must be { tenant?, project?, team?, apiKey? } of strings: ${decoded.failure.message}`))
}

/** The price book `options` describe. */
export const loadBook = (options: PricerOptions = {}): Result.Result<PriceBook.PriceBook, PricerError.PricerError> =>
  Result.gen(function*() {
    if (!isRecord(options)) return yield* Result.fail(PricerError.make("invalid-options", "options", "createPricer options must be an object"))
    for (const key in options) {
      if (!OPTION_KEYS.has(key)) return yield* Result.fail(PricerError.make("invalid-options", `options.${key}`, `unknown option ${key}; expected catalog, builtIn or scope`))
    }
    if (options.builtIn !== undefined && typeof options.builtIn !== "boolean") {
      return yield* Result.fail(PricerError.make("invalid-options", "options.builtIn", "options.builtIn must be true or false"))
    }
    const builtIn = options.builtIn === false ? "none" : "default"
    const catalog = options.catalog
    let layers: ReadonlyArray<PriceBook.PriceBookLayer> = []
    let customCatalogPath: string | undefined
    if (typeof catalog === "string") customCatalogPath = catalog
    else if (isRecord(catalog)) {
      const decoded = PriceBook.decodeCustomCatalog(catalog)
      if (Result.isFailure(decoded)) return yield* Result.fail(PricerError.make("invalid-catalog", "options.catalog", `options.catalog: ${decoded.failure.message}`))
      layers = decoded.success
    } else if (catalog !== undefined) {
      return yield* Result.fail(PricerError.make("invalid-options", "options.catalog", "options.catalog must be a custom catalog object or the path of its JSON file"))
    }
    if (builtIn === "none" && catalog === undefined) {
      return yield* Result.fail(PricerError.make("invalid-options", "options.builtIn", "options.builtIn is false and no catalog is given: nothing could be priced"))
    }
    const loaded = Catalog.loadBookSync({ builtIn, customCatalogPath, layers })
    if (Result.isFailure(loaded)) return yield* Result.fail(PricerError.make("invalid-catalog", "options.catalog", loaded.failure.message))
    return loaded.success
  })

const instant = (at: At | undefined, now: () => number): Result.Result<number, PricerError.PricerError> => {
  if (at === undefined) return Result.succeed(now())
  const ms = typeof at === "number" || typeof at === "string" || at instanceof Date ? Match.instantOf(at) : undefined
  return ms === undefined
    ? Result.fail(PricerError.make("invalid-time", "at", `at must be a Date, an ISO 8601 time such as 2026-05-01T12:00:00Z or epoch milliseconds, got ${JSON.stringify(at)}`))
    : Result.succeed(ms)
}

const requireString = (value: unknown, path: string): Result.Result<string, PricerError.PricerError> =>
  typeof value === "string" && value.trim() !== ""
    ? Result.succeed(value)
    : Result.fail(PricerError.make("invalid-input", path, `${path} must be a non-empty string, got ${JSON.stringify(value) ?? "undefined"}`))

type PriceFields = Omit<PriceResult, "lines" | "usage">

/**
 * A priced call. Its encoded `lines` and `usage` are built when first read (a caller after the
 * total alone pays for neither); `toJSON` gives every field, so `JSON.stringify` shows them all.
 */
class PricedCall implements PriceResult {
  readonly provider: string
  readonly model: string
  readonly definition: string | null
  readonly snapshotId: string | null
  readonly total: string | null
  readonly currency: string | null
  readonly costSource: "computed" | "unpriced"
  readonly unpricedReason: Costing.UnpricedReason | null
  readonly unpricedDetail: string | null
  readonly match: string | null
  readonly #breakdown: CostBreakdown.CostBreakdown | null
  readonly #usage: Usage.Usage
  #lines: PriceResult["lines"] | undefined
  #encodedUsage: Usage.UsageEncoded | undefined
  constructor(fields: PriceFields, breakdown: CostBreakdown.CostBreakdown | null, usage: Usage.Usage) {
    this.provider = fields.provider
    this.model = fields.model
    this.definition = fields.definition
    this.snapshotId = fields.snapshotId
    this.total = fields.total
    this.currency = fields.currency
    this.costSource = fields.costSource
    this.unpricedReason = fields.unpricedReason
    this.unpricedDetail = fields.unpricedDetail
    this.match = fields.match
    this.#breakdown = breakdown
    this.#usage = usage
  }
  get usage(): Usage.UsageEncoded {
    return this.#encodedUsage ??= Usage.encodeUsage(this.#usage)
  }
  get lines(): PriceResult["lines"] {
    return this.#lines ??= this.#breakdown === null ? [] : CostBreakdown.encode(this.#breakdown).lines
  }
  toJSON(): PriceResult {
    return {
      provider: this.provider,
      model: this.model,
      definition: this.definition,
      snapshotId: this.snapshotId,
      usage: this.usage,
      lines: this.lines,
      total: this.total,
      currency: this.currency,
      costSource: this.costSource,
      unpricedReason: this.unpricedReason,
      unpricedDetail: this.unpricedDetail,
      match: this.match
    }
  }
}

const priceResult = (fields: PriceFields, breakdown: CostBreakdown.CostBreakdown | null, usage: Usage.Usage): PriceResult =>
  new PricedCall(fields, breakdown, usage)

/** The pricer over a price book; `now` gives the time of calls without `at`. */
export const fromBook = (book: PriceBook.PriceBook, defaultScope: PriceBook.Scope | undefined) => {
  const defaultScopeKey = PriceMemo.scopeKeyOf(defaultScope)

  const cost = (input: CostInput, now: () => number): Result.Result<CostResult, PricerError.PricerError> =>
    Result.gen(function*() {
      if (!isRecord(input)) return yield* Result.fail(PricerError.make("invalid-input", "input", "cost takes { provider, payload, api?, model?, request?, batch?, at? }"))
      const at = yield* instant(input.at, now)
      const scope = input.scope === undefined ? defaultScope : yield* decodeScope(input.scope, "scope")
      const call = Normalize.normalize({ provider: input.provider, payload: input.payload, api: input.api, model: input.model, request: input.request, batch: input.batch })
      if (Result.isFailure(call)) {
        const error = call.failure
        return yield* Result.fail(PricerError.make("invalid-payload", error.path === "(payload)" ? "payload" : `payload.${error.path}`, error.message))
      }
      return Costing.toJson(Costing.cost(book, call.success, { at, scope }))
    })

  const price = (input: PriceInput, now: () => number): Result.Result<PriceResult, PricerError.PricerError> => {
    if (!isRecord(input)) return Result.fail(PricerError.make("invalid-input", "input", "price takes { provider, model, usage, at? }"))
    const provider = requireString(input.provider, "provider")
    if (Result.isFailure(provider)) return Result.fail(provider.failure)
    const model = requireString(input.model, "model")
    if (Result.isFailure(model)) return Result.fail(model.failure)
    const at = instant(input.at, now)
    if (Result.isFailure(at)) return Result.fail(at.failure)
    const usage = UsageInput.decode(input.usage, input.usageFormat)
    if (Result.isFailure(usage)) return Result.fail(usage.failure)
    let scope = defaultScope
    let scopeKey = defaultScopeKey
    if (input.scope !== undefined) {
      const decoded = decodeScope(input.scope, "scope")
      if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
      scope = decoded.success
      scopeKey = PriceMemo.scopeKeyOf(scope)
    }
    const matched = PriceMemo.match(book, provider.success, model.success, scope, scopeKey, at.success)
    const base = { provider: provider.success, model: model.success }
    if (Result.isFailure(matched)) {
      const failure = matched.failure
      return Result.succeed(priceResult({
        ...base,
        definition: null,
        snapshotId: null,
        total: null,
        currency: null,
        costSource: "unpriced",
        unpricedReason: failure.reason,
        unpricedDetail: failure.message,
        match: null
      }, null, usage.success))
    }
    const match = matched.success
    const pricedUsage: Usage.Usage = match.fineTuned && usage.success.fineTuned !== true ? { ...usage.success, fineTuned: true } : usage.success
    const priced = CostEngine.price(pricedUsage, match.snapshot)
    const definition = match.definition.id
    if (Result.isFailure(priced)) {
      return Result.succeed(priceResult({
        ...base,
        definition,
        snapshotId: match.snapshotId,
        total: null,
        currency: null,
        costSource: "unpriced",
        unpricedReason: "missing-rate",
        unpricedDetail: priced.failure.message,
        match: match.explanation.summary
      }, null, pricedUsage))
    }
    const breakdown = priced.success
    return Result.succeed(priceResult({
      ...base,
      definition,
      snapshotId: match.snapshotId,
      total: Money.format(breakdown.total),
      currency: breakdown.currency,
      costSource: "computed",
      unpricedReason: null,
      unpricedDetail: null,
      match: match.explanation.summary
    }, breakdown, pricedUsage))
  }

  return { book, cost, price }
}

const orThrow = <A>(result: Result.Result<A, PricerError.PricerError>): A => {
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

/**
 * A pricer, built synchronously: throws a `PricerError` when the options or the custom catalog
 * are wrong. Importing it loads no database, HTTP or GraphQL code.
 */
export const createPricer = (options: PricerOptions = {}): PricerApi => {
  const book = orThrow(loadBook(options))
  const scope = orThrow(decodeScope(options.scope, "options.scope"))
  const pricer = fromBook(book, scope)
  return {
    book,
    cost: (input) => orThrow(pricer.cost(input, Date.now)),
    price: (input) => orThrow(pricer.price(input, Date.now))
  }
}

/** The pricer as an Effect service; a call without `at` is priced at the `Clock`'s time. */
export class Pricer extends Context.Service<Pricer, {
  readonly book: PriceBook.PriceBook
  readonly cost: (input: CostInput) => Effect.Effect<CostResult, PricerError.PricerError>
  readonly price: (input: PriceInput) => Effect.Effect<PriceResult, PricerError.PricerError>
}>()("@tally/pricing/Pricer") {
  static readonly layer = (options: PricerOptions = {}): Layer.Layer<Pricer, PricerError.PricerError> =>
    Layer.effect(
      Pricer,
      Effect.gen(function*() {
        const book = yield* Effect.fromResult(loadBook(options))
        const scope = yield* Effect.fromResult(decodeScope(options.scope, "options.scope"))
        const pricer = fromBook(book, scope)
        return {
          book,
          cost: (input: CostInput) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fromResult(pricer.cost(input, () => now))),
          price: (input: PriceInput) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fromResult(pricer.price(input, () => now)))
        }
      })
    )
}
