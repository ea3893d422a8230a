/**
 * The catalog as an Effect service: a price book (built-in catalog plus custom layers) with
 * match, explain, list, show and coverage. Queries without a time are priced at the current time
 * from `Clock`. The pure functions live in `Match`, `Listing` and `Coverage`; this is the thin
 * service over them that apps wire in.
 */
import { readFileSync } from "node:fs"
import type { Result } from "effect"
import { Clock, Context, Effect, Layer, Schema } from "effect"
import * as BuiltInCatalog from "./BuiltInCatalog.ts"
import * as Coverage from "./Coverage.ts"
import * as Listing from "./Listing.ts"
import * as Match from "./Match.ts"
import * as PriceBook from "./PriceBook.ts"

export class CatalogLoadError extends Schema.TaggedError<CatalogLoadError>()("CatalogLoadError", {
  path: Schema.String,
  reason: Schema.Literals(["unreadable", "invalid-json", "invalid-catalog"]),
  message: Schema.String
}) {}

/** A match query whose time defaults to now. */
export interface Query extends Omit<Match.MatchQuery, "at"> {
  readonly at?: Match.MatchQuery["at"] | undefined
}

export interface CoverageObservation extends Omit<Coverage.Observation, "at"> {
  readonly at?: Coverage.Observation["at"] | undefined
}

export interface Options {
  /** The built-in catalog file to use: the shipped one by default, or none at all. */
  readonly builtIn?: "default" | "none" | { readonly path: string } | undefined
  /** A custom catalog JSON file (definitions, overrides, multipliers, layers). */
  readonly customCatalogPath?: string | undefined
  /** Further layers, e.g. tenants' price books loaded from the store. */
  readonly layers?: ReadonlyArray<PriceBook.PriceBookLayer> | undefined
}

const readJson = (path: string): Effect.Effect<unknown, CatalogLoadError> =>
  Effect.try({
    try: () => readFileSync(path, "utf8"),
    catch: (error) => new CatalogLoadError({ path, reason: "unreadable", message: `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}` })
  }).pipe(
    Effect.flatMap((text) =>
      Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (error) => new CatalogLoadError({ path, reason: "invalid-json", message: `${path} is not JSON: ${error instanceof Error ? error.message : String(error)}` })
      })
    )
  )

/** Reads a custom catalog file into its layers. */
export const loadCustomCatalogFile = Effect.fn("Catalog.loadCustomCatalogFile")(function*(path: string) {
  const json = yield* readJson(path)
  return yield* Effect.fromResult(PriceBook.decodeCustomCatalog(json)).pipe(
    Effect.mapError((error) => new CatalogLoadError({ path, reason: "invalid-catalog", message: `${path}: ${error.message}` }))
  )
})

/** Builds the price book: built-in catalog, custom file layers, then the given layers. */
export const loadBook = Effect.fn("Catalog.loadBook")(function*(options: Options = {}) {
  const builtInOption = options.builtIn ?? "default"
  const builtIn = builtInOption === "none"
    ? undefined
    : yield* BuiltInCatalog.load(builtInOption === "default" ? BuiltInCatalog.defaultPath : builtInOption.path).pipe(
      Effect.mapError((error) => new CatalogLoadError({ path: error.path, reason: "invalid-catalog", message: error.message }))
    )
  const fileLayers = options.customCatalogPath === undefined ? [] : yield* loadCustomCatalogFile(options.customCatalogPath)
  return yield* Effect.fromResult(PriceBook.make({ builtIn, layers: [...fileLayers, ...(options.layers ?? [])] })).pipe(
    Effect.mapError((error) =>
      new CatalogLoadError({ path: options.customCatalogPath ?? "<layers>", reason: "invalid-catalog", message: error.message })
    )
  )
})

export interface CatalogService {
  readonly book: PriceBook.PriceBook
  readonly match: (query: Query) => Effect.Effect<Match.Match, Match.ModelNotMatched>
  readonly explainMatch: (query: Query) => Effect.Effect<Match.Explanation>
  readonly list: (options?: Listing.ListOptions) => Effect.Effect<ReadonlyArray<Listing.ListEntry>>
  readonly show: (id: string, scope?: PriceBook.Scope) => Effect.Effect<Listing.Shown, Listing.DefinitionNotFound>
  readonly coverage: (observations: ReadonlyArray<CoverageObservation>, options?: Coverage.CoverageOptions) => Effect.Effect<Coverage.Report>
}

/** The service over a given price book. */
export const fromBook = (book: PriceBook.PriceBook): CatalogService => {
  const withTime = <A extends { readonly at?: Match.MatchQuery["at"] | undefined }>(query: A) =>
    query.at === undefined ? Effect.map(Clock.currentTimeMillis, (now) => ({ ...query, at: now })) : Effect.succeed({ ...query, at: query.at })
  return {
    book,
    match: Effect.fn("Catalog.match")(function*(query: Query) {
      const q = yield* withTime(query)
      return yield* Effect.fromResult(Match.match(book, q))
    }),
    explainMatch: Effect.fn("Catalog.explainMatch")(function*(query: Query) {
      const q = yield* withTime(query)
      return Match.explainMatch(book, q)
    }),
    list: (options) => Effect.sync(() => Listing.list(book, options)),
    show: (id, scope) => Effect.suspend(() => Effect.fromResult(Listing.show(book, id, scope))),
    coverage: Effect.fn("Catalog.coverage")(function*(observations: ReadonlyArray<CoverageObservation>, options?: Coverage.CoverageOptions) {
      const now = yield* Clock.currentTimeMillis
      return Coverage.coverage(book, observations.map((o) => ({ ...o, at: o.at ?? now })), options)
    })
  }
}

export class Catalog extends Context.Service<Catalog, CatalogService>()("@tally/catalog/Catalog") {
  /** The shipped built-in catalog, no custom layers. */
  static readonly layer: Layer.Layer<Catalog, CatalogLoadError> = Layer.effect(Catalog, Effect.map(loadBook(), fromBook))

  /** Built-in catalog plus a custom catalog file and/or layers (e.g. `tally cost --catalog custom.json`). */
  static readonly layerWith = (options: Options): Layer.Layer<Catalog, CatalogLoadError> =>
    Layer.effect(Catalog, Effect.map(loadBook(options), fromBook))

  /** A catalog over a price book built in memory (tests). */
  static readonly layerTest = (book: PriceBook.PriceBook): Layer.Layer<Catalog> => Layer.succeed(Catalog, fromBook(book))
}

/** Synchronous load for scripts and CLIs that do not run Effect. */
export const loadBookSync = (options: Options = {}): Result.Result<PriceBook.PriceBook, CatalogLoadError> =>
  Effect.runSync(Effect.result(loadBook(options)))
