/**
 * Coverage: for observed model names (with call counts and usage), which ones the catalog
 * prices, which match a definition whose snapshot lacks a rate for some usage ("unpriced
 * bucket"), and which match nothing. Each gap comes with the calls and the cost at risk.
 *
 * Cost at risk is an estimate, labelled with its basis:
 * - unpriced bucket: each missing token bucket at the same snapshot's input or output text rate
 *   (by the bucket's direction); missing unit prices are not estimated.
 * - unmatched: the usage priced with a reference snapshot when one is given, else not estimated.
 * Tokens at risk are always counted.
 *
 * Priced is not always priced at a rate of its own: each entry lists the fallback conditions on
 * its lines (audio at the text rate, batch at list, …) and the report counts such names.
 */
import { type CostBreakdown, CostEngine, Money, type PricingSnapshot, Usage } from "@tally/core"
import { Result } from "effect"
import * as Match from "./Match.ts"
import type * as PriceBook from "./PriceBook.ts"

export interface Observation {
  readonly provider?: string | undefined
  readonly model: string
  /** Calls observed with this name. */
  readonly count: number
  /** The summed usage of those calls, when known. */
  readonly usage?: Usage.Usage | undefined
  /** When the calls happened (e.g. the latest); selects the snapshot. */
  readonly at: Date | string | number
  readonly scope?: PriceBook.Scope | undefined
  /**
   * `unpriced` (the default): calls recorded without a price, with their whole usage. `partial`:
   * calls recorded priced in part, with the usage that had no price (the rest is in spend).
   */
  readonly kind?: Kind | undefined
}

export type Kind = "unpriced" | "partial"

export type Status = "matched" | "unpriced-bucket" | "unmatched"

export interface Entry {
  readonly provider: string | null
  readonly model: string
  readonly count: number
  /** Whether the calls were recorded unpriced or priced in part (then only their unpriced usage is judged). */
  readonly kind: Kind
  readonly status: Status
  readonly definitionId: string | null
  readonly snapshotId: string | null
  /** Why unmatched, or which components have no price. */
  readonly reason: string | null
  readonly missingComponents: ReadonlyArray<string>
  readonly currency: string | null
  /** Exact cost of the priced part of the usage (null without usage or when unmatched). */
  readonly cost: string | null
  /** Estimated cost of the part that would go unbilled (null when it cannot be estimated). */
  readonly costAtRisk: string | null
  readonly costAtRiskBasis: string | null
  readonly tokensAtRisk: number
  /**
   * The fallback conditions on the priced lines (`inputAudio:priced-at-inputText-rate`,
   * `batch:no-discount-in-snapshot`, …): priced, but not at a rate of their own.
   */
  readonly fallbacks: ReadonlyArray<string>
}

export interface Totals {
  readonly names: number
  readonly calls: number
}

export interface Report {
  readonly matched: Totals
  readonly unpricedBucket: Totals
  readonly unmatched: Totals
  /** Observations of calls recorded priced in part (names and calls), whatever their status now. */
  readonly partial: Totals
  /** Names (and their calls) with at least one line priced by a fallback rate. */
  readonly pricedByFallback: Totals
  readonly tokensAtRisk: number
  /** Estimated cost at risk per currency, exact decimal strings. */
  readonly costAtRisk: Readonly<Record<string, string>>
  /** Unmatched first, then unpriced buckets, then matched; by calls, descending. */
  readonly entries: ReadonlyArray<Entry>
}

export interface CoverageOptions {
  /** A snapshot to estimate the cost of unmatched usage with (e.g. a typical model's). */
  readonly reference?: PricingSnapshot.PricingSnapshot | undefined
}

const tokenBuckets = new Set<string>(Usage.TokenBuckets)
/** Buckets billed as output; every other bucket (training included) is estimated at the input rate. */
const outputBuckets = new Set<string>(["outputText", "reasoning", "outputImage", "outputAudio", "outputVideo"])

/** The usage without the named components (token buckets and units as named by the engine). */
const without = (usage: Usage.Usage, components: ReadonlyArray<string>): Usage.Usage => {
  const drop = new Set(components)
  const tokens = Object.fromEntries(Object.entries(usage.tokens).filter(([bucket]) => !drop.has(bucket)))
  const keyed = (prefix: string, record: Readonly<Record<string, number>> | undefined) => {
    if (record === undefined) return undefined
    const kept = Object.fromEntries(Object.entries(record).filter(([key]) => !drop.has(`${prefix}:${key}`)))
    return Object.keys(kept).length === 0 ? undefined : kept
  }
  const images = keyed("image", usage.imagesGenerated)
  const tools = keyed("toolCall", usage.toolCalls)
  const { imagesGenerated: _i, toolCalls: _t, audioSeconds, videoSeconds, webSearches, ...rest } = usage
  return {
    ...rest,
    tokens,
    ...(images === undefined ? {} : { imagesGenerated: images }),
    ...(tools === undefined ? {} : { toolCalls: tools }),
    ...(audioSeconds === undefined || drop.has("audioSeconds") ? {} : { audioSeconds }),
    ...(videoSeconds === undefined || drop.has("videoSeconds") ? {} : { videoSeconds }),
    ...(webSearches === undefined || drop.has("webSearches") ? {} : { webSearches })
  }
}

/** The distinct fallback conditions of a breakdown's lines, sorted. */
const fallbacksOf = (breakdown: CostBreakdown.CostBreakdown): ReadonlyArray<string> =>
  [...new Set(breakdown.lines.flatMap((l) => l.conditions.filter(CostEngine.isFallbackCondition)))].sort()

const classify = (book: PriceBook.PriceBook, observation: Observation, options: CoverageOptions): Entry => {
  const base = { provider: observation.provider ?? null, model: observation.model, count: observation.count, kind: observation.kind ?? "unpriced" }
  const result = Match.match(book, {
    provider: observation.provider,
    model: observation.model,
    at: observation.at,
    scope: observation.scope
  })
  const usage = observation.usage
  if (Result.isFailure(result)) {
    const tokens = usage === undefined ? 0 : Usage.totalTokens(usage)
    let costAtRisk: string | null = null
    let basis: string | null = null
    let currency: string | null = null
    if (usage !== undefined && options.reference !== undefined) {
      const reference = options.reference
      const priced = CostEngine.price(usage, reference)
      const estimate = Result.isSuccess(priced) ? priced.success : Result.getOrThrow(CostEngine.price(without(usage, priced.failure.components), reference))
      costAtRisk = Money.format(estimate.total)
      currency = estimate.currency
      basis = `usage priced with reference ${reference.provider}/${reference.modelKey} (${estimate.snapshotId})${Result.isFailure(priced) ? `, without ${priced.failure.components.join(", ")}` : ""}`
    }
    return {
      ...base,
      status: "unmatched",
      definitionId: null,
      snapshotId: null,
      reason: `${result.failure.reason}: ${result.failure.detail}`,
      missingComponents: [],
      currency,
      cost: null,
      costAtRisk,
      costAtRiskBasis: basis,
      tokensAtRisk: tokens,
      fallbacks: []
    }
  }
  const m = result.success
  const matched = { ...base, definitionId: m.definition.id, snapshotId: m.snapshotId }
  if (usage === undefined) {
    return { ...matched, status: "matched", reason: null, missingComponents: [], currency: null, cost: null, costAtRisk: null, costAtRiskBasis: null, tokensAtRisk: 0, fallbacks: [] }
  }
  const priceable = m.fineTuned && usage.fineTuned === undefined ? { ...usage, fineTuned: true } : usage
  const priced = CostEngine.price(priceable, m.snapshot)
  if (Result.isSuccess(priced)) {
    return {
      ...matched,
      status: "matched",
      reason: null,
      missingComponents: [],
      currency: priced.success.currency,
      cost: Money.format(priced.success.total),
      costAtRisk: null,
      costAtRiskBasis: null,
      tokensAtRisk: 0,
      fallbacks: fallbacksOf(priced.success)
    }
  }
  const missing = priced.failure.components
  const partial = Result.getOrThrow(CostEngine.price(without(priceable, missing), m.snapshot))
  let estimate = Money.ZERO
  let tokensAtRisk = 0
  const notEstimated: Array<string> = []
  for (const component of missing) {
    if (!tokenBuckets.has(component)) {
      notEstimated.push(component)
      continue
    }
    const quantity = priceable.tokens[component as Usage.TokenBucket] ?? 0
    tokensAtRisk += quantity
    const proxy = outputBuckets.has(component) ? m.snapshot.rates.outputText : m.snapshot.rates.inputText
    if (proxy === undefined) notEstimated.push(component)
    else estimate = estimate.plus(proxy.times(quantity).div(Money.MILLION))
  }
  const estimated = missing.length > notEstimated.length
  return {
    ...matched,
    status: "unpriced-bucket",
    reason: `no price for ${missing.join(", ")}`,
    missingComponents: missing,
    currency: partial.currency,
    cost: Money.format(partial.total),
    costAtRisk: estimated ? Money.format(estimate) : null,
    costAtRiskBasis: estimated
      ? `missing token buckets at this snapshot's input/output text rate${notEstimated.length > 0 ? `; not estimated: ${notEstimated.join(", ")}` : ""}`
      : `not estimated: ${notEstimated.join(", ")}`,
    tokensAtRisk,
    fallbacks: fallbacksOf(partial)
  }
}

const SEVERITY: Readonly<Record<Status, number>> = { unmatched: 0, "unpriced-bucket": 1, matched: 2 }

/** Classifies each observation (one entry per observation; aggregate per name and context first). */
export const coverage = (book: PriceBook.PriceBook, observations: ReadonlyArray<Observation>, options: CoverageOptions = {}): Report => {
  const entries = observations.map((o) => classify(book, o, options)).sort((a, b) =>
    SEVERITY[a.status] - SEVERITY[b.status] || b.count - a.count || (a.model < b.model ? -1 : a.model > b.model ? 1 : 0)
  )
  const totals = (status: Status): Totals => {
    const list = entries.filter((e) => e.status === status)
    return { names: list.length, calls: list.reduce((n, e) => n + e.count, 0) }
  }
  const atRisk = new Map<string, Money.Decimal>()
  for (const entry of entries) {
    if (entry.costAtRisk === null || entry.currency === null) continue
    atRisk.set(entry.currency, (atRisk.get(entry.currency) ?? Money.ZERO).plus(new Money.Decimal(entry.costAtRisk)))
  }
  return {
    matched: totals("matched"),
    unpricedBucket: totals("unpriced-bucket"),
    unmatched: totals("unmatched"),
    partial: (() => {
      const list = entries.filter((e) => e.kind === "partial")
      return { names: list.length, calls: list.reduce((n, e) => n + e.count, 0) }
    })(),
    pricedByFallback: (() => {
      const list = entries.filter((e) => e.fallbacks.length > 0)
      return { names: list.length, calls: list.reduce((n, e) => n + e.count, 0) }
    })(),
    tokensAtRisk: entries.reduce((n, e) => n + e.tokensAtRisk, 0),
    costAtRisk: Object.fromEntries([...atRisk].sort(([a], [b]) => (a < b ? -1 : 1)).map(([currency, amount]) => [currency, Money.format(amount)])),
    entries
  }
}
