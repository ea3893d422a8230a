/**
 * Prices one normalized call: match its model in a price book at the time the usage happened,
 * price every usage bucket exactly, and decide which figure is billed.
 *
 * Which figure is billed (`costSource`):
 * - `provider`: the provider reported its own cost (OpenRouter `usage.cost`, xAI cost ticks); that
 *   figure is what the customer pays. Tally still prices the call itself where it can, and
 *   `difference` is reported minus computed, so drift in either is visible.
 * - `computed`: Tally's exact pricing of reported usage.
 * - `estimated`: as computed, but some usage was counted with a tokenizer (a stream without usage).
 * - `partial`: the model matched but some usage has no rate (a web search, a tool call, an
 *   image size): the priced lines are kept and billed, `breakdown.missing` names each unpriced
 *   component with its quantity (the cost at risk) and the reason says what is missing.
 * - `unpriced`: no price applies (unmatched model, no snapshot in force, a sub-call that cannot
 *   be priced). The usage is kept and the reason says what is missing; a call is never silently $0.
 *
 * Usage billed at another model's rates inside the same call (`subCalls`) is priced with that
 * model's own match; its lines join the call's breakdown marked `sub-call:<model>`. If any part
 * cannot be priced the whole call is unpriced. A provider-billed call keeps the provider's figure
 * and no partial breakdown of its own.
 */
import { Match, type PriceBook } from "@tally/catalog"
import { CostBreakdown, CostEngine, Money, Usage, type UsageRecord } from "@tally/core"
import type { NormalizedCall } from "@tally/providers"
import type { DateTime } from "effect"
import { Result } from "effect"
import * as MatchMemo from "./internal/MatchMemo.ts"
import * as PriceMemo from "./internal/PriceMemo.ts"

export type CostSource = "provider" | "computed" | "estimated" | "partial" | "unpriced"

/** Why a call could not be priced: the matcher's reason, or a bucket without a rate. */
export type UnpricedReason = Match.NotMatchedReason | "missing-rate" | "no-model"

export interface Unpriced {
  readonly reason: UnpricedReason
  /** What is missing, in words a user can act on. */
  readonly message: string
  /** The model the failure concerns (the call's own, or a sub-call's). */
  readonly model: string | null
}

export interface SubCallCost {
  readonly model: string
  readonly definitionId: string
  readonly snapshotId: string
  readonly total: Money.Decimal
}

export interface CostedCall {
  readonly call: NormalizedCall.NormalizedCall
  /** The provider whose prices were searched (the call's `modelProvider` when it names one). */
  readonly pricingProvider: string
  readonly model: string | null
  /** The matched definition and its snapshot; also set when a matched snapshot lacks a rate (`missing-rate`). */
  readonly definitionId: string | null
  readonly snapshotId: string | null
  /** The usage as priced (`fineTuned` set when the reported name designates a fine-tuned model). */
  readonly usage: Usage.Usage
  /** Tally's own pricing; null when unpriced. */
  readonly breakdown: CostBreakdown.CostBreakdown | null
  /** The billed amount: the provider's figure for `provider`, else the breakdown total. */
  readonly total: Money.Decimal | null
  readonly currency: string | null
  readonly costSource: CostSource
  readonly unpriced: Unpriced | null
  readonly reportedCost: NormalizedCall.ReportedCost | null
  /** reported − computed, when both exist in one currency. */
  readonly difference: Money.Decimal | null
  readonly subCalls: ReadonlyArray<SubCallCost>
  /** One sentence saying which rule of which layer matched and which snapshot was in force. */
  readonly matchSummary: string | null
}

export interface CostOptions {
  /** When the usage happened; snapshots in force at this time are used. */
  readonly at: Date | string | number
  /** Price-book scope (tenant, project, team, API key) for overrides and multipliers. */
  readonly scope?: PriceBook.Scope | undefined
}

interface Priced {
  readonly match: Match.Match
  readonly usage: Usage.Usage
  readonly breakdown: CostBreakdown.CostBreakdown
}

/** Why a part could not be priced and, for a missing rate, the definition that did match and what it could price. */
interface PriceFailure {
  readonly unpriced: Unpriced
  readonly match: Match.Match | null
  /** For a missing rate: the priced lines, with the missing components in `breakdown.missing`. */
  readonly partial?: Priced | undefined
}

const describeMissing = (missing: ReadonlyArray<CostBreakdown.MissingComponent>): string =>
  missing.map((m) => `${m.component} (${Money.format(m.quantity)} ${m.quantity.equals(1) ? m.unit : m.unit === "search" ? "searches" : `${m.unit}s`})`).join(", ")

/**
 * The match that prices a call. Only its definition, snapshot and summary are read here, so a
 * repeated model at a time inside the matched entry's validity interval costs one lookup
 * (`PriceMemo`, shared with the pricer) instead of a copy of the explanation per call.
 */
const matchOf = (book: PriceBook.PriceBook, provider: string, model: string, options: CostOptions): Result.Result<Match.Match, Match.ModelNotMatched> => {
  const at = Match.instantOf(options.at)
  if (at === undefined) return MatchMemo.match(book, { provider, model, at: options.at, scope: options.scope })
  return PriceMemo.match(book, provider, model, options.scope, PriceMemo.scopeKeyOf(options.scope), at)
}

const priceOne = (
  book: PriceBook.PriceBook,
  provider: string,
  model: string | undefined,
  usage: Usage.Usage,
  options: CostOptions
): Result.Result<Priced, PriceFailure> => {
  if (model === undefined || model.trim() === "") {
    return Result.fail({ unpriced: { reason: "no-model", model: null, message: "the payload names no model; pass the model the request used" }, match: null })
  }
  const matched = matchOf(book, provider, model, options)
  if (Result.isFailure(matched)) return Result.fail({ unpriced: { reason: matched.failure.reason, model, message: matched.failure.message }, match: null })
  const match = matched.success
  const pricedUsage: Usage.Usage = match.fineTuned && usage.fineTuned !== true ? { ...usage, fineTuned: true } : usage
  const priced = CostEngine.pricePartial(pricedUsage, match.snapshot)
  if (priced.error !== undefined) {
    const missing = priced.breakdown.missing ?? []
    return Result.fail({
      unpriced: { reason: "missing-rate", model, message: `${priced.error.message}; unpriced: ${describeMissing(missing)}` },
      match,
      partial: { match, usage: pricedUsage, breakdown: priced.breakdown }
    })
  }
  return Result.succeed({ match, usage: pricedUsage, breakdown: priced.breakdown })
}

const asSubCallLines = (model: string, breakdown: CostBreakdown.CostBreakdown): ReadonlyArray<CostBreakdown.CostLine> =>
  breakdown.lines.map((line) => ({ ...line, conditions: [...line.conditions, `sub-call:${model}`] }))

/** Prices a normalized call against a price book. Never fails: an unpriced call says why. */
export const cost = (book: PriceBook.PriceBook, call: NormalizedCall.NormalizedCall, options: CostOptions): CostedCall => {
  const pricingProvider = call.modelProvider ?? call.provider
  const model = call.model ?? null
  const reportedCost = call.reportedCost ?? null
  const main = priceOne(book, pricingProvider, call.model, call.usage, options)

  const mainUnpriced: Unpriced | null = Result.isFailure(main) ? main.failure.unpriced : null
  let unpriced: Unpriced | null = mainUnpriced
  const subCalls: Array<SubCallCost> = []
  const subLines: Array<CostBreakdown.CostLine> = []
  // A missing rate on the call itself keeps its priced lines (partial), unless the provider bills it.
  const partial = Result.isFailure(main) && reportedCost === null ? main.failure.partial : undefined
  const base = Result.isSuccess(main) ? main.success : partial
  if (base !== undefined) {
    for (const sub of call.subCalls) {
      const priced = priceOne(book, pricingProvider, sub.model, sub.usage, options)
      if (Result.isFailure(priced)) {
        unpriced = { ...priced.failure.unpriced, message: `sub-call ${sub.model}: ${priced.failure.unpriced.message}` }
        break
      }
      if (priced.success.breakdown.currency !== base.breakdown.currency) {
        unpriced = {
          reason: "missing-rate",
          model: sub.model,
          message: `sub-call ${sub.model} is priced in ${priced.success.breakdown.currency}, the call in ${base.breakdown.currency}`
        }
        break
      }
      subCalls.push({ model: sub.model, definitionId: priced.success.match.definition.id, snapshotId: priced.success.match.snapshotId, total: priced.success.breakdown.total })
      subLines.push(...asSubCallLines(sub.model, priced.success.breakdown))
    }
  }

  const matched = base ?? null
  const isPartial = partial !== undefined && unpriced === mainUnpriced
  // A call unpriced for a missing rate still names the definition and snapshot that lack it.
  const match = matched?.match ?? (Result.isFailure(main) ? main.failure.match : null)
  const breakdown: CostBreakdown.CostBreakdown | null = matched === null || (unpriced !== null && !isPartial)
    ? null
    : subLines.length === 0
    ? matched.breakdown
    : { ...matched.breakdown, lines: [...matched.breakdown.lines, ...subLines], total: Money.sum([matched.breakdown.total, ...subCalls.map((s) => s.total)]) }

  const difference = breakdown !== null && reportedCost !== null && reportedCost.currency === breakdown.currency
    ? reportedCost.amount.minus(breakdown.total)
    : null
  const costSource: CostSource = reportedCost !== null
    ? "provider"
    : breakdown === null
    ? "unpriced"
    : isPartial
    ? "partial"
    : call.estimated
    ? "estimated"
    : "computed"

  return {
    call,
    pricingProvider,
    model,
    definitionId: match?.definition.id ?? null,
    snapshotId: match?.snapshotId ?? null,
    usage: matched?.usage ?? call.usage,
    breakdown,
    total: reportedCost !== null ? reportedCost.amount : breakdown?.total ?? null,
    currency: reportedCost !== null ? reportedCost.currency : breakdown?.currency ?? null,
    costSource,
    unpriced: costSource === "unpriced" || costSource === "partial" ? unpriced : null,
    reportedCost,
    difference,
    subCalls: breakdown === null ? [] : subCalls,
    matchSummary: match?.explanation.summary ?? null
  }
}

/** The JSON a script reads (`tally cost`): decimals as exact strings, nulls where a figure is absent. */
export const toJson = (costed: CostedCall) => ({
  provider: costed.call.provider,
  pricingProvider: costed.pricingProvider,
  api: costed.call.api,
  model: costed.model,
  definition: costed.definitionId,
  snapshotId: costed.snapshotId,
  usage: Usage.encodeUsage(costed.usage),
  lines: costed.breakdown === null ? [] : CostBreakdown.encode(costed.breakdown).lines,
  /** For a partial cost: the components without a price and their quantities (not in `total`). */
  missing: costed.breakdown?.missing === undefined ? [] : CostBreakdown.encode(costed.breakdown).missing ?? [],
  computedTotal: costed.breakdown === null ? null : Money.format(costed.breakdown.total),
  total: costed.total === null ? null : Money.format(costed.total),
  currency: costed.currency,
  costSource: costed.costSource,
  unpricedReason: costed.unpriced?.reason ?? null,
  unpricedDetail: costed.unpriced?.message ?? null,
  reportedCost: costed.reportedCost === null
    ? null
    : { amount: Money.format(costed.reportedCost.amount), currency: costed.reportedCost.currency, source: costed.reportedCost.source },
  difference: costed.difference === null ? null : Money.format(costed.difference),
  estimated: costed.call.estimated,
  batch: costed.call.batch,
  serviceTier: costed.call.serviceTier ?? null,
  subCalls: costed.subCalls.map((s) => ({ model: s.model, definition: s.definitionId, snapshotId: s.snapshotId, total: Money.format(s.total) })),
  match: costed.matchSummary
})
export type CostedCallJson = ReturnType<typeof toJson>

/** Where a costed call came from and who it is attributed to: what the ledger needs beyond its cost. */
export interface LedgerFields {
  readonly requestId: string
  readonly occurredAt: DateTime.Utc
  readonly labels: UsageRecord.Labels
  readonly tags: Readonly<Record<string, string>>
  /** The payload's original text, when byte-for-byte matters (streams). */
  readonly rawText?: string | undefined
}

/** The ledger row for a costed call (the store re-checks the cost rules before writing). */
export const toUsageRecord = (costed: CostedCall, fields: LedgerFields): UsageRecord.UsageRecord => ({
  requestId: fields.requestId,
  occurredAt: fields.occurredAt,
  provider: costed.call.provider,
  api: costed.call.api,
  model: costed.model ?? "",
  definitionId: costed.definitionId,
  snapshotId: costed.snapshotId,
  usage: costed.usage,
  breakdown: costed.breakdown,
  total: costed.total,
  costSource: costed.costSource,
  unpricedReason: costed.unpriced === null ? null : `${costed.unpriced.reason}: ${costed.unpriced.message}`,
  reportedCost: costed.reportedCost?.amount ?? null,
  reportedCurrency: costed.reportedCost?.currency ?? null,
  difference: costed.difference,
  labels: fields.labels,
  tags: fields.tags,
  raw: costed.call.raw as UsageRecord.UsageRecord["raw"],
  ...(fields.rawText === undefined ? {} : { rawText: fields.rawText })
})
