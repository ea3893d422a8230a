/**
 * Listing and showing definitions as a scope sees them (for `tally catalog list|show`).
 */
import { PricingSnapshot } from "@tally/core"
import { Result, Schema } from "effect"
import * as MatchRule from "./MatchRule.ts"
import * as Match from "./Match.ts"
import * as ModelDefinition from "./ModelDefinition.ts"
import * as PriceBook from "./PriceBook.ts"

export class DefinitionNotFound extends Schema.TaggedError<DefinitionNotFound>()("DefinitionNotFound", {
  definitionId: Schema.String,
  message: Schema.String
}) {}

export interface ListOptions {
  readonly scope?: PriceBook.Scope | undefined
  /** Only definitions of this provider (canonical id or alias). */
  readonly provider?: string | undefined
  /** Only definitions whose id, model key or display name contains this text (case-insensitive). */
  readonly search?: string | undefined
  readonly maintainer?: ModelDefinition.Maintainer | undefined
  /** Which snapshot to report as in force (default: none reported). */
  readonly at?: Date | string | number | undefined
}

export interface ListEntry {
  readonly id: string
  readonly provider: string
  readonly modelKey: string
  readonly displayName: string | null
  readonly maintainer: ModelDefinition.Maintainer
  readonly layer: string
  readonly match: string
  readonly tokenizer: string | null
  readonly deprecated: boolean
  readonly clonedFrom: string | null
  readonly overriddenBy: string | null
  readonly versions: number
  /** The snapshot in force at `options.at` (null when no time was given or none is in force). */
  readonly snapshotId: string | null
}

const layerOf = (origin: PriceBook.Origin): string => origin.kind === "built-in" ? "built-in" : origin.layerId

/** Definitions visible to a scope, sorted by provider then id. */
export const list = (book: PriceBook.PriceBook, options: ListOptions = {}): ReadonlyArray<ListEntry> => {
  const view = PriceBook.view(book, options.scope ?? {})
  const provider = options.provider === undefined ? undefined : book.canonicalProvider(options.provider)
  const search = options.search?.toLowerCase()
  const at = options.at === undefined ? undefined : Match.instantOf(options.at)
  return view.definitions
    .filter((e) => provider === undefined || e.provider === provider)
    .filter((e) => options.maintainer === undefined || e.definition.maintainer === options.maintainer)
    .filter((e) =>
      search === undefined ||
      [e.definition.id, e.definition.modelKey, e.definition.displayName ?? ""].some((text) => text.toLowerCase().includes(search))
    )
    .map((e): ListEntry => {
      const d = e.definition
      const inForce = at === undefined ? undefined : ModelDefinition.entryAt(d.history, at)
      return {
        id: d.id,
        provider: e.provider,
        modelKey: d.modelKey,
        displayName: d.displayName ?? null,
        maintainer: d.maintainer,
        layer: layerOf(e.origin),
        match: MatchRule.describe(d.match),
        tokenizer: d.tokenizer ?? null,
        deprecated: d.deprecated === true,
        clonedFrom: d.clonedFrom?.definitionId ?? null,
        overriddenBy: e.override?.layerId ?? null,
        versions: new Set(d.history.map((h) => h.version)).size,
        snapshotId: inForce === undefined ? null : PricingSnapshot.snapshotId(inForce.entry.snapshot)
      }
    })
    .sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

export interface Shown {
  readonly definition: ModelDefinition.ModelDefinitionEncoded
  readonly layer: string
  readonly overriddenBy: string | null
  readonly history: ReadonlyArray<{
    readonly version: number
    readonly snapshotId: string
    readonly effectiveFrom: string | null
    readonly effectiveTo: string | null
    readonly timeOfDay: ModelDefinition.TimeOfDayWindow | null
  }>
}

/** One definition as a scope sees it (overrides applied), encoded for JSON output. */
export const show = (book: PriceBook.PriceBook, id: string, scope: PriceBook.Scope = {}): Result.Result<Shown, DefinitionNotFound> => {
  const effective = PriceBook.view(book, scope).byId.get(id)
  if (effective === undefined) {
    return Result.fail(new DefinitionNotFound({ definitionId: id, message: `no definition with id ${JSON.stringify(id)} in this scope` }))
  }
  const d = effective.definition
  return Result.succeed({
    definition: ModelDefinition.encode(d),
    layer: layerOf(effective.origin),
    overriddenBy: effective.override?.layerId ?? null,
    history: d.history.map((entry) => ({
      version: entry.version,
      snapshotId: PricingSnapshot.snapshotId(entry.snapshot),
      effectiveFrom: entry.snapshot.effectiveFrom ?? null,
      effectiveTo: entry.snapshot.effectiveTo ?? null,
      timeOfDay: entry.timeOfDay ?? null
    }))
  })
}
