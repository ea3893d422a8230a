/**
 * What `pnpm catalog:build` produces: the genai-prices source converted (`GenaiPrices`), then the
 * cited supplement applied on top (`Supplement`), every history entry carrying the provenance of
 * its prices. A pure function of the source document and the supplement file, so a test can
 * rebuild the committed file exactly.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Result } from "effect"
import type { BuiltInCatalogEncoded } from "./BuiltInCatalog.ts"
import * as GenaiPrices from "./GenaiPrices.ts"
import * as Supplement from "./Supplement.ts"

/** Where the reviewed supplement lives in this package. */
export const supplementPath: string = fileURLToPath(new URL("../data/supplement.json", import.meta.url))

export const loadSupplement = (path: string = supplementPath): Result.Result<Supplement.SupplementFile, Supplement.SupplementInvalid> => {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, "utf8"))
  } catch (error) {
    return Result.fail(new Supplement.SupplementInvalid({ entry: "<file>", message: `${path}: ${error instanceof Error ? error.message : String(error)}` }))
  }
  return Supplement.decode(json)
}

export interface BuildOptions {
  readonly source: BuiltInCatalogEncoded["source"]
  readonly builtAt: string
}

export const build = (
  providers: ReadonlyArray<GenaiPrices.SourceProvider>,
  supplement: Supplement.SupplementFile,
  options: BuildOptions
): Result.Result<BuiltInCatalogEncoded, Supplement.SupplementInvalid> => {
  const converted = GenaiPrices.buildCatalog(providers, options)
  const urls = new Map(converted.providers.map((p) => [p.id, p.pricingUrls?.[0]]))
  const sourceName = `${options.source.package}@${options.source.version}`
  return Result.map(
    Supplement.apply(converted.definitions, supplement, {
      source: sourceName,
      referenceOf: (provider) => urls.get(provider) ?? options.source.homepage
    }),
    (applied) => ({
      ...converted,
      conversion: [
        ...converted.conversion,
        "Every history entry's provenance names where each price came from: \"*\" the source package and the provider's price page it cites; named fields a supplement entry with its reference and date (data/supplement.json)."
      ],
      counts: {
        ...converted.counts,
        definitions: applied.definitions.length,
        snapshots: applied.definitions.reduce((n, d) => n + d.history.length, 0)
      },
      definitions: applied.definitions,
      supplement: { applied: applied.applied, overridden: applied.overridden },
      unexpressed: supplement.unexpressed
    })
  )
}
