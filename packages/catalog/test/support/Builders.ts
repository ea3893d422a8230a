/** Small builders for definitions and price books in tests. */
import { Result } from "effect"
import * as BuiltInCatalog from "../../src/BuiltInCatalog.ts"
import type * as MatchRule from "../../src/MatchRule.ts"
import * as ModelDefinition from "../../src/ModelDefinition.ts"
import * as PriceBook from "../../src/PriceBook.ts"

export interface DefinitionSpec {
  readonly id: string
  readonly provider?: string
  readonly modelKey?: string
  readonly match: MatchRule.MatchRule
  readonly maintainer?: ModelDefinition.Maintainer
  /** Encoded history entries; default one open-ended version with input 1 / output 2. */
  readonly history?: ReadonlyArray<ModelDefinition.HistoryEntryEncoded>
  readonly input?: string
}

export const definition = (spec: DefinitionSpec): ModelDefinition.ModelDefinition => {
  const provider = spec.provider ?? "acme"
  const modelKey = spec.modelKey ?? spec.id
  return ModelDefinition.decode({
    id: spec.id,
    provider,
    modelKey,
    match: spec.match,
    maintainer: spec.maintainer ?? "custom",
    history: spec.history ?? [{ version: 1, snapshot: { provider, modelKey, rates: { inputText: spec.input ?? "1", outputText: "2" } } }]
  })
}

export const entry = (version: number, input: string, range: { from?: string; to?: string } = {}, timeOfDay?: { fromUtc: string; toUtc: string }): ModelDefinition.HistoryEntryEncoded => ({
  version,
  snapshot: {
    provider: "acme",
    modelKey: "m",
    ...(range.from === undefined ? {} : { effectiveFrom: range.from }),
    ...(range.to === undefined ? {} : { effectiveTo: range.to }),
    rates: { inputText: input, outputText: "2" }
  },
  ...(timeOfDay === undefined ? {} : { timeOfDay })
})

/** A built-in catalog holding `definitions` (maintainer forced to built-in) and one provider. */
export const builtInOf = (
  definitions: ReadonlyArray<ModelDefinition.ModelDefinition>,
  providers: BuiltInCatalog.BuiltInCatalog["providers"] = [{ id: "acme", name: "Acme" }]
): BuiltInCatalog.BuiltInCatalog => ({
  format: BuiltInCatalog.FORMAT,
  source: { package: "test", version: "0", license: "MIT", homepage: "" },
  builtAt: "2026-01-01",
  conversion: [],
  counts: { providers: providers.length, sourceModels: definitions.length, definitions: definitions.length, snapshots: definitions.length, skipped: 0, partial: 0 },
  providers,
  definitions: definitions.map((d) => ({ ...d, maintainer: "built-in" as const })),
  skipped: [],
  partial: [],
  supplement: { applied: [], overridden: [] },
  unexpressed: []
})

export const book = (options: PriceBook.MakeOptions): PriceBook.PriceBook => Result.getOrThrow(PriceBook.make(options))

let shipped: BuiltInCatalog.BuiltInCatalog | undefined
export const shippedCatalog = (): BuiltInCatalog.BuiltInCatalog => (shipped ??= Result.getOrThrow(BuiltInCatalog.loadSync()))

/** A layer decoded from its JSON form (entries and multipliers as strings). */
export const layer = (encoded: PriceBook.PriceBookLayerEncoded): PriceBook.PriceBookLayer => Result.getOrThrow(PriceBook.decodeLayer(encoded))
