/**
 * Clone and customize: a tenant copies a built-in (or another custom) definition into its own
 * custom definition, keeps the link to the original (`clonedFrom`), and changes prices by adding
 * a new snapshot version from a date on. The clone keeps the source's history, so events before
 * the change still price as they did; a back-dated change re-rates the events after its date.
 */
import type { Money, PricingSnapshot } from "@tally/core"
import { Result, Schema } from "effect"
import type * as MatchRule from "./MatchRule.ts"
import * as ModelDefinition from "./ModelDefinition.ts"

export class CloneError extends Schema.TaggedError<CloneError>()("CloneError", {
  definitionId: Schema.String,
  message: Schema.String
}) {}

export interface CloneOptions {
  /** Id of the new custom definition, e.g. "acme/openai/gpt-4o". */
  readonly id: string
  /** Replace the match rule (by default the clone matches the same names as the source). */
  readonly match?: MatchRule.MatchRule | undefined
  readonly displayName?: string | undefined
}

/** A custom copy of `source` that remembers where it came from. */
export const clone = (source: ModelDefinition.ModelDefinition, options: CloneOptions): ModelDefinition.ModelDefinition => {
  const { clonedFrom: _ignored, ...rest } = source
  return {
    ...rest,
    id: options.id,
    maintainer: "custom",
    match: options.match ?? source.match,
    ...(options.displayName === undefined ? {} : { displayName: options.displayName }),
    clonedFrom: { definitionId: source.id, version: ModelDefinition.latestVersion(source.history) }
  }
}

/** What a price change sets; every field not given is taken from the snapshot it starts from. */
export interface PriceChange {
  /** When the new prices take effect (ISO date or date-time); may lie in the past. */
  readonly effectiveFrom: string
  /** When they end (exclusive); open-ended by default. */
  readonly effectiveTo?: string | undefined
  /** Token rates per 1M tokens to set, merged over the current rates. */
  readonly rates?: PricingSnapshot.TokenRates | undefined
  /** Rates to remove (the bucket becomes unpriced). */
  readonly removeRates?: ReadonlyArray<keyof PricingSnapshot.TokenRates> | undefined
  readonly units?: PricingSnapshot.UnitRates | undefined
  readonly cachedInputDiscountPercent?: Money.Decimal | undefined
  readonly batchDiscountPercent?: Money.Decimal | undefined
  readonly serviceTierMultipliers?: Readonly<Record<string, Money.Decimal>> | undefined
  readonly regionMultipliers?: Readonly<Record<string, Money.Decimal>> | undefined
  /** Replace the tiers (prices above a prompt size). */
  readonly tiers?: PricingSnapshot.PricingSnapshot["tiers"]
  readonly tierMode?: PricingSnapshot.TierMode | undefined
  /** Rates for calls on fine-tuned versions, merged over the current fine-tuned rates. */
  readonly fineTunedRates?: PricingSnapshot.TokenRates | undefined
  readonly currency?: string | undefined
  readonly note?: string | undefined
}

/**
 * Adds a new snapshot version built from the base snapshot in force at `change.effectiveFrom` (or
 * the latest one when none is) with the change applied. It takes over the date range it names,
 * including any time-of-day windows within it.
 */
export const reprice = (
  definition: ModelDefinition.ModelDefinition,
  change: PriceChange
): Result.Result<ModelDefinition.ModelDefinition, CloneError> => {
  const at = ModelDefinition.parseInstant(change.effectiveFrom)
  if (at === undefined) {
    return Result.fail(new CloneError({ definitionId: definition.id, message: `effectiveFrom ${JSON.stringify(change.effectiveFrom)} is not an ISO date or date-time` }))
  }
  const current = ModelDefinition.baseEntryAt(definition.history, at) ??
    [...definition.history].sort((a, b) => ModelDefinition.intervalOf(b).from - ModelDefinition.intervalOf(a).from)[0]!
  const { effectiveFrom: _from, effectiveTo: _to, notes: _notes, ...base } = current.snapshot
  const rates: Record<string, Money.Decimal> = { ...base.rates, ...change.rates }
  for (const bucket of change.removeRates ?? []) delete rates[bucket]
  const units = change.units === undefined ? base.units : { ...base.units, ...change.units }
  const snapshot: PricingSnapshot.PricingSnapshot = {
    ...base,
    rates: rates as PricingSnapshot.TokenRates,
    ...(units === undefined ? {} : { units }),
    ...(change.cachedInputDiscountPercent === undefined ? {} : { cachedInputDiscountPercent: change.cachedInputDiscountPercent }),
    ...(change.batchDiscountPercent === undefined ? {} : { batchDiscountPercent: change.batchDiscountPercent }),
    ...(change.serviceTierMultipliers === undefined ? {} : { serviceTierMultipliers: change.serviceTierMultipliers }),
    ...(change.regionMultipliers === undefined ? {} : { regionMultipliers: change.regionMultipliers }),
    ...(change.tiers === undefined ? {} : { tiers: change.tiers }),
    ...(change.tierMode === undefined ? {} : { tierMode: change.tierMode }),
    ...(change.fineTunedRates === undefined ? {} : { fineTunedRates: { ...base.fineTunedRates, ...change.fineTunedRates } }),
    ...(change.currency === undefined ? {} : { currency: change.currency }),
    ...(change.note === undefined ? {} : { notes: change.note }),
    effectiveFrom: change.effectiveFrom,
    ...(change.effectiveTo === undefined ? {} : { effectiveTo: change.effectiveTo })
  }
  const entry: ModelDefinition.HistoryEntry = {
    version: ModelDefinition.latestVersion(definition.history) + 1,
    snapshot,
    ...(change.note === undefined ? {} : { note: change.note })
  }
  const history = ModelDefinition.insertEntry(definition.history, entry)
  const problem = ModelDefinition.historyProblem(history)
  if (problem !== undefined) return Result.fail(new CloneError({ definitionId: definition.id, message: problem }))
  return Result.succeed({ ...definition, history })
}
