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
 * - `modality-cache-read`: cached image / audio / video tokens at the cacheRead rate (the engine's
 *   rule when the snapshot has no rate of their own);
 * - `batch-at-list`: batch calls billed at list because the snapshot has no batch discount;
 * - `service-tier-at-list`: a service tier the provider prices on other models (flex, priority)
 *   billed at list on this one because its snapshot has no multiplier for it.
 *
 * Token fallbacks are read from the engine's own rate resolution (`CostEngine.resolvedRates`) for
 * the base rates, the fine-tuned rates and every long-context tier, so the list is exactly what
 * the pricer applies; `test/Audit.test.ts` checks that property on random snapshots.
 */
import { CostEngine, Money, PricingSnapshot, Usage } from "@tally/core"
import * as Match from "./Match.ts"
import * as ModelDefinition from "./ModelDefinition.ts"
import * as PriceBook from "./PriceBook.ts"
import * as Supplement from "./Supplement.ts"

export const Kinds = ["rate-fallback", "reasoning-at-output", "cache-read-discount", "modality-cache-read", "batch-at-list", "service-tier-at-list"] as const
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
  /** Which rates it applies to: "base", "fine-tuned", "tier >N" (long context), or "all" (batch, service tier). */
  readonly band: string
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

const MODALITY_CACHE_READS: ReadonlySet<string> = new Set(["cacheReadImage", "cacheReadAudio", "cacheReadVideo"])

/** The bucket a rate was read from: the last segment of its source ("tiers[>5].rates.inputText"). */
const sourceBucket = (source: string): string => source.slice(source.lastIndexOf(".") + 1)

/** The bands a snapshot prices at: base, fine-tuned, and each long-context tier of both. */
const bandsOf = (snapshot: PricingSnapshot.PricingSnapshot): ReadonlyArray<{ readonly label: string; readonly fineTuned: boolean; readonly tierIndex: number }> => {
  const tiers = [...(snapshot.tiers ?? [])].sort((a, b) => a.aboveTokens - b.aboveTokens)
  const variants = snapshot.fineTunedRates === undefined ? [false] : [false, true]
  return variants.flatMap((fineTuned) => [
    { label: fineTuned ? "fine-tuned" : "base", fineTuned, tierIndex: -1 },
    ...tiers.map((t, i) => ({ label: `${fineTuned ? "fine-tuned, " : ""}tier >${t.aboveTokens}`, fineTuned, tierIndex: i }))
  ])
}

/**
 * Every fallback of one snapshot, read from the engine's own rate resolution
 * (`CostEngine.resolvedRates`) for every band it can price at, so the audit lists exactly the
 * fallbacks the pricer applies: a band's fallback is listed once per rate (a tier that changes
 * the rate it falls back to is listed again, with its band).
 */
export const fallbacksOf = (
  definition: ModelDefinition.ModelDefinition,
  entry: ModelDefinition.HistoryEntry,
  context: { readonly providerTiers?: ReadonlySet<string> | undefined } = {}
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
  const seen = new Set<string>()
  let hasTokenRates = false
  for (const band of bandsOf(snapshot)) {
    const rates = CostEngine.resolvedRates(snapshot, band)
    if (rates.size > 0) hasTokenRates = true
    for (const bucket of Usage.TokenBuckets) {
      const resolved = rates.get(bucket)
      if (resolved === undefined) continue
      const own = resolved.conditions.filter(CostEngine.isFallbackCondition)
      const condition = own.at(-1)
      if (condition === undefined) continue
      const rate = Money.format(resolved.listRate)
      const key = `${bucket}|${condition}|${rate}`
      if (seen.has(key)) continue
      seen.add(key)
      const from = sourceBucket(resolved.source)
      const bandText = band.label === "base" ? "" : ` (${band.label})`
      if (condition === "reasoning:priced-at-output-rate") {
        out.push({
          ...base, kind: "reasoning-at-output", component: bucket, from, rate, condition, band: band.label,
          reason: `the snapshot has no reasoning rate; reasoning tokens are billed at the output text rate (engine rule)${bandText}`,
          reference: describeSource(entry, "rates.outputText", definition.maintainer).reference
        })
      } else if (condition.startsWith("cached-input-discount:")) {
        const discount = condition.slice("cached-input-discount:-".length, -1)
        out.push({
          ...base, kind: "cache-read-discount", component: bucket, from, rate, condition, band: band.label,
          reason: `no cacheRead rate; cached input is billed at the input rate less ${discount}%${bandText}`,
          reference: describeSource(entry, "cachedInputDiscountPercent", definition.maintainer).reference
        })
      } else if (MODALITY_CACHE_READS.has(bucket) && condition === CostEngine.fallbackCondition(bucket, "cacheRead") && snapshot.rateFallbacks?.[bucket] === undefined) {
        const chain = own.length > 1 ? `, itself ${own.slice(0, -1).join(", ")}` : ""
        out.push({
          ...base, kind: "modality-cache-read", component: bucket, from: "cacheRead", rate, condition, band: band.label,
          reason: `the snapshot has no ${bucket} rate; cached ${bucket.slice("cacheRead".length).toLowerCase()} tokens are billed at the cacheRead rate (engine rule${chain})${bandText}`,
          reference: describeSource(entry, "rates.cacheRead", definition.maintainer).reference
        })
      } else {
        const { said, reference } = describeSource(entry, "rateFallbacks", definition.maintainer)
        out.push({
          ...base, kind: "rate-fallback", component: bucket, from, rate, condition, band: band.label,
          reason: `${said} gives no ${bucket} price; ${bucket} tokens are billed at the ${from} rate${bandText}`,
          reference
        })
      }
    }
  }
  // Batch and service tiers multiply token lines: listed where any band prices tokens.
  if (hasTokenRates && snapshot.batchDiscountPercent === undefined) {
    out.push({
      ...base,
      kind: "batch-at-list",
      component: "*",
      from: null,
      rate: null,
      condition: "batch:no-discount-in-snapshot",
      band: "all",
      reason: "no batch discount is recorded for this model: batch calls are billed at list",
      reference: describeSource(entry, "batchDiscountPercent", definition.maintainer).reference
    })
  }
  // A service tier the provider prices on some models but this snapshot lacks: billed at list.
  for (const tier of [...(context.providerTiers ?? [])].sort()) {
    const known = Object.keys(snapshot.serviceTierMultipliers ?? {}).some((k) => k.toLowerCase() === tier)
    if (known || !hasTokenRates) continue
    out.push({
      ...base,
      kind: "service-tier-at-list",
      component: "*",
      from: null,
      rate: null,
      condition: `service-tier:${tier}(no-multiplier-in-snapshot)`,
      band: "all",
      reason: `${definition.provider} prices service tier "${tier}" on other models, this snapshot has no multiplier for it: ${tier} calls are billed at list`,
      reference: describeSource(entry, `serviceTierMultipliers.${tier}`, definition.maintainer).reference
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
  const inForce = view.definitions.flatMap((effective) => {
    const found = ModelDefinition.entryAt(effective.definition.history, at)
    return found === undefined ? [] : [{ effective, entry: found.entry }]
  })
  // Service tiers each provider prices somewhere (flex, priority, ...), standard ones aside.
  const tiersByProvider = new Map<string, Set<string>>()
  for (const { effective, entry } of inForce) {
    const tiers = tiersByProvider.get(effective.provider) ?? new Set<string>()
    for (const tier of Object.keys(entry.snapshot.serviceTierMultipliers ?? {})) tiers.add(tier.toLowerCase())
    tiersByProvider.set(effective.provider, tiers)
  }
  for (const { effective, entry } of inForce) {
    if (provider !== undefined && effective.provider !== provider) continue
    definitions++
    for (const f of fallbacksOf(effective.definition, entry, { providerTiers: tiersByProvider.get(effective.provider) })) {
      if (kinds === undefined || kinds.has(f.kind)) entries.push(f)
    }
  }
  const byKind = Object.fromEntries(Kinds.map((k) => [k, entries.filter((e) => e.kind === k).length])) as Record<Kind, number>
  return { definitions, fallbacks: entries.length, byKind, entries }
}
