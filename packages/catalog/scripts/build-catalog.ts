/**
 * Generates data/builtin-catalog.json from the installed @pydantic/genai-prices package and the
 * cited supplement (data/supplement.json):
 *
 *   pnpm catalog:build
 *
 * To refresh prices, bump "@pydantic/genai-prices" in the catalog of pnpm-workspace.yaml,
 * `pnpm install`, run this script, then `pnpm vitest run packages/catalog` (the comparison test
 * prices every converted model with both engines) and commit the data file.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { waitForUpdate } from "@pydantic/genai-prices"
import { Result } from "effect"
import * as BuiltInCatalog from "../src/BuiltInCatalog.ts"
import * as CatalogBuild from "../src/CatalogBuild.ts"
import type * as GenaiPrices from "../src/GenaiPrices.ts"
import { writeCatalogJson } from "../src/internal/catalogJson.ts"

const PACKAGE = "@pydantic/genai-prices"

const packageJson = (): { version: string; license: string; homepage: string } => {
  const require = createRequire(import.meta.url)
  const entry = require.resolve(PACKAGE)
  let dir = dirname(entry)
  for (;;) {
    try {
      const json = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version: string; license: string; homepage: string }
      if (json.name === PACKAGE) return json
    } catch {
      // keep walking up
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`cannot find ${PACKAGE}/package.json`)
    dir = parent
  }
}

const main = async (): Promise<void> => {
  const data = await waitForUpdate()
  if (data === null) throw new Error(`${PACKAGE} returned no bundled data`)
  const pkg = packageJson()
  const builtAt = process.env.TALLY_CATALOG_BUILT_AT ?? new Date().toISOString().slice(0, 10)
  const supplement = CatalogBuild.loadSupplement()
  if (Result.isFailure(supplement)) throw new Error(supplement.failure.message)
  const built = CatalogBuild.build(data as unknown as ReadonlyArray<GenaiPrices.SourceProvider>, supplement.success, {
    source: { package: PACKAGE, version: pkg.version, license: pkg.license, homepage: pkg.homepage },
    builtAt
  })
  if (Result.isFailure(built)) throw new Error(built.failure.message)
  const document = built.success
  // Validate before writing: the file must decode as the catalog will read it.
  const decoded = BuiltInCatalog.decode(document)
  if (Result.isFailure(decoded)) throw new Error(`generated catalog does not decode: ${decoded.failure.message}`)
  const path = BuiltInCatalog.defaultPath
  writeFileSync(path, writeCatalogJson(document))
  const c = document.counts
  console.log(
    `wrote ${path}: ${PACKAGE} ${pkg.version}, ${c.providers} providers, ${c.definitions} of ${c.sourceModels} models ` +
      `(${c.snapshots} snapshots; ${c.skipped} skipped, ${c.partial} partially expressible); supplement: ${document.supplement.applied.length} entries applied, ${document.supplement.overridden.length} source prices replaced, ${document.unexpressed.length} published prices not expressible`
  )
}

await main()
