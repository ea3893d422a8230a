/**
 * The catalog audit: every rate in force that is derived from another rate or stands in for a
 * missing one, with why. These are the prices a bill can carry without the price sheet stating
 * them directly; each one is named on the cost lines it prices (`CostEngine.isFallbackCondition`),
 * and this lists them before any call is priced.
 *
 * Kinds:
 * - `rate-fallback`: a bucket priced at another bucket's rate (`rateFallbacks`), e.g. audio input
 *   at the text input rate because the sheet gives no audio price;
 * - `reasoning-at-output`: reasoning tokens at the output text rate (the engine's rule when the
 *   snapshot has no reasoning rate);
 * - `cache-read-discount`: cached input as a percentage off the input rate;
 * - `batch-at-list`: batch calls billed at list because the snapshot has no batch discount.
 */
import { CostEngine, Money, PricingSnapshot, type Usage } from "@tally/core"
import * as Match from "./Match.ts"
import * as ModelDefinition from "./ModelDefinition.ts"
import * as PriceBook from "./PriceBook.ts"
import * as Supplement from "./Supplement.ts"

export const Kinds = ["rate-fallback", "reasoning-at-output", "cache-read-discount", "batch-at-list"] as const
export type Kind = typeof Kinds[number]

export interface Fallback {
  readonly definitionId: string
  readonly provider: string
  readonly modelKey: string
  readonly version: number
  readonly snapshotId: string
  readonly kind: Kind
  /** The bucket priced by the fallback ("*" for batch: every token line). */
  readonly component: string
  /** The bucket whose rate is used, when there is one. */
  readonly from: string | null
  /** The rate used, per 1M tokens (null for batch at list). */
  readonly rate: string | null
  /** The condition every line priced this way carries. */
  readonly condition: string
  readonly reason: string
  /** Where the snapshot's prices came from (the provenance's reference), when recorded. */
  readonly reference: string | null
}

export interface AuditOptions {
  readonly at: Date | string | number
  readonly scope?: PriceBook.Scope | undefined
  readonly provider?: string | undefined
  readonly kinds?: ReadonlyArray<Kind> | undefined
}

export interface AuditReport {
  /** Definitions with a snapshot in force at `at` (after the provider filter). */
  readonly definitions: number
  readonly fallbacks: number
  readonly byKind: Readonly<Record<Kind, number>>
  readonly entries: ReadonlyArray<Fallback>
}

const describeSource = (entry: ModelDefinition.HistoryEntry, field: string, maintainer: string): { readonly said: string; readonly reference: string | null } => {
  const provenance = entry.provenance ?? []
  const source = Supplement.sourceOf(provenance, field)
  if (source === undefined) return { said: `the ${maintainer} definition's snapshot`, reference: null }
  return { said: source.source, reference: source.reference }
}

/** Every fallback of one snapshot. */
export const fallbacksOf = (
  definition: ModelDefinition.ModelDefinition,
  entry: ModelDefinition.HistoryEntry
): ReadonlyArray<Fallback> => {
  const snapshot = entry.snapshot
  const base = {
    definitionId: definition.id,
    provider: definition.provider,
    modelKey: definition.modelKey,
    version: entry.version,
    snapshotId: PricingSnapshot.snapshotId(snapshot)
  }
  const out: Array<Fallback> = []
  const rates = snapshot.rates
  const rate = (bucket: Usage.TokenBucket) => rates[bucket]
  for (const [bucket, from] of Object.entries(snapshot.rateFallbacks ?? {}) as Array<[Usage.TokenBucket, Usage.TokenBucket]>) {
    if (rate(bucket) !== undefined) continue
    const fromRate = rate(from)
    if (fromRate === undefined) continue // a missing rate, not a fallback: pricing fails and names it
    const { said, reference } = describeSource(entry, "rateFallbacks", definition.maintainer)
    out.push({
      ...base,
      kind: "rate-fallback",
      component: bucket,
      from,
      rate: Money.format(fromRate),
      condition: CostEngine.fallbackCondition(bucket, from),
      reason: `${said} gives no ${bucket} price; ${bucket} tokens are billed at the ${from} rate`,
      reference
    })
  }
  if (rate("reasoning") === undefined && snapshot.rateFallbacks?.reasoning === undefined && rate("outputText") !== undefined) {
    const { reference } = describeSource(entry, "rates.outputText", definition.maintainer)
    out.push({
      ...base,
      kind: "reasoning-at-output",
      component: "reasoning",
      from: "outputText",
      rate: Money.format(rate("outputText")!),
      condition: "reasoning:priced-at-output-rate",
      reason: "the snapshot has no reasoning rate; reasoning tokens are billed at the output text rate (engine rule)",
      reference
    })
  }
  if (rate("cacheRead") === undefined && snapshot.rateFallbacks?.cacheRead === undefined && snapshot.cachedInputDiscountPercent !== undefined && rate("inputText") !== undefined) {
    const discount = snapshot.cachedInputDiscountPercent
    out.push({
      ...base,
      kind: "cache-read-discount",
      component: "cacheRead",
      from: "inputText",
      rate: Money.format(rate("inputText")!.times(Money.HUNDRED.minus(discount)).div(Money.HUNDRED)),
      condition: `cached-input-discount:-${Money.format(discount)}%`,
      reason: `no cacheRead rate; cached input is billed at the input rate less ${Money.format(discount)}%`,
      reference: describeSource(entry, "cachedInputDiscountPercent", definition.maintainer).reference
    })
  }
  const hasTokenRates = Object.keys(rates).length > 0 || Object.keys(snapshot.rateFallbacks ?? {}).length > 0
  if (hasTokenRates && snapshot.batchDiscountPercent === undefined) {
    out.push({
      ...base,
      kind: "batch-at-list",
      component: "*",
      from: null,
      rate: null,
      condition: "batch:no-discount-in-snapshot",
      reason: "no batch discount is recorded for this model: batch calls are billed at list",
      reference: describeSource(entry, "batchDiscountPercent", definition.maintainer).reference
    })
  }
  return out
}

/** The fallbacks in force at `at` for every definition the scope sees. */
export const audit = (book: PriceBook.PriceBook, options: AuditOptions): AuditReport => {
  const at = Match.instantOf(options.at) ?? Number.NaN
  const view = PriceBook.view(book, options.scope ?? {})
  const provider = options.provider === undefined ? undefined : book.canonicalProvider(options.provider)
  const kinds = options.kinds === undefined ? undefined : new Set(options.kinds)
  let definitions = 0
  const entries: Array<Fallback> = []
  for (const effective of view.definitions) {
    if (provider !== undefined && effective.provider !== provider) continue
    const inForce = ModelDefinition.entryAt(effective.definition.history, at)
    if (inForce === undefined) continue
    definitions++
    for (const f of fallbacksOf(effective.definition, inForce.entry)) if (kinds === undefined || kinds.has(f.kind)) entries.push(f)
  }
  const byKind = Object.fromEntries(Kinds.map((k) => [k, entries.filter((e) => e.kind === k).length])) as Record<Kind, number>
  return { definitions, fallbacks: entries.length, byKind, entries }
}
