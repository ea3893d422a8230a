/**
 * Re-derivation of one ledger row from what it kept: the raw provider payload is normalized again
 * and the result priced again, (a) at the time of the call in the book in force then (the snapshot
 * the row names, else the stored snapshot of that id), (b) optionally in a what-if book or at
 * another time, (c) against the provider's own per-call cost. Pure: the caller supplies the books
 * and the stored snapshots; the normalizer can be swapped (tests seed a drifted rule with it).
 */
import type { PriceBook } from "@tally/catalog"
import { CostEngine, Money, type PricingSnapshot, type Reconciliation, Usage, type UsageRecord } from "@tally/core"
import { Costing } from "@tally/pricing"
import { Normalize, type NormalizedCall, type NormalizeError } from "@tally/providers"
import { DateTime, Result } from "effect"
import * as PriceScope from "../internal/PriceScope.ts"
import * as Findings from "./Findings.ts"

export type Normalizer = (input: Normalize.NormalizeInput) => Result.Result<NormalizedCall.NormalizedCall, NormalizeError.NormalizeError>

export interface Options {
  /** The tenant's book (snapshots carry their effective dates, so the one in force at the call is found). */
  readonly book: PriceBook.PriceBook
  readonly tenantId: string
  /** Stored snapshots by id, for rows whose snapshot the book no longer resolves to. */
  readonly snapshots?: ReadonlyMap<string, PricingSnapshot.PricingSnapshot> | undefined
  /** What-if: price in this book (default `book`) at this time (default the call's own time). */
  readonly whatIf?: { readonly book?: PriceBook.PriceBook | undefined; readonly at?: Date | undefined } | undefined
  readonly tolerance?: Findings.Tolerance | undefined
  readonly normalize?: Normalizer | undefined
}

export interface Result {
  readonly requestId: string
  readonly occurredAt: string
  readonly provider: string
  readonly model: string
  readonly currency: string | null
  /** What the ledger bills. */
  readonly storedTotal: Money.Decimal | null
  /** Tally's own computation as stored, and as re-derived now with the row's snapshot. */
  readonly storedComputed: Money.Decimal | null
  readonly rederived: Money.Decimal | null
  readonly rederivedSnapshotId: string | null
  readonly whatIf: Money.Decimal | null
  readonly reported: Money.Decimal | null
  readonly findings: ReadonlyArray<Reconciliation.FindingInput>
}

/** The billed amount's currency: the provider's for provider-priced rows, else the breakdown's. */
export const currencyOf = (row: UsageRecord.UsageRecord): string | null =>
  row.costSource === "provider" ? row.reportedCurrency : row.breakdown?.currency ?? null

const matcherReasons = ["empty-model", "unknown-provider", "no-rule-matched", "no-model"]

/** Usage as a comparable text: token buckets, web searches, requests, seconds; absent = 0. */
export const usageKey = (usage: Usage.Usage): string =>
  JSON.stringify([
    Usage.TokenBuckets.map((b) => Usage.tokens(usage, b)),
    usage.webSearches ?? 0,
    usage.audioSeconds === undefined ? "0" : Money.format(usage.audioSeconds),
    usage.videoSeconds === undefined ? "0" : Money.format(usage.videoSeconds)
  ])

const nonZeroTokens = (usage: Usage.Usage): Record<string, number> =>
  Object.fromEntries(Usage.TokenBuckets.filter((b) => Usage.tokens(usage, b) !== 0).map((b) => [b, Usage.tokens(usage, b)]))

/**
 * The call the row was priced from, rebuilt: a raw event (the row has an api) is normalized again
 * from its payload; a pre-normalized event kept its usage object as `raw`, which is decoded.
 */
const renormalize = (row: UsageRecord.UsageRecord, normalize: Normalizer): Result.Result<NormalizedCall.NormalizedCall, string> => {
  if (row.api !== undefined) {
    const normalized = normalize({
      provider: row.provider,
      api: row.api,
      model: row.model === "" ? undefined : row.model,
      payload: row.rawText ?? row.raw,
      batch: row.usage.batch === true
    })
    return Result.isFailure(normalized) ? Result.fail(normalized.failure.message) : Result.succeed(normalized.success)
  }
  try {
    const usage = Usage.decodeUsage(row.raw)
    return Result.succeed({
      provider: Normalize.resolveProvider(row.provider) ?? "otel",
      api: "span",
      model: row.model,
      modelProvider: row.provider,
      usage,
      batch: usage.batch ?? false,
      estimated: false,
      corrections: [],
      subCalls: [],
      raw: row.raw
    })
  } catch (error) {
    return Result.fail(`the stored usage no longer decodes: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`)
  }
}

/** Findings that need only the stored row. */
export const detectStored = (row: UsageRecord.UsageRecord): ReadonlyArray<Reconciliation.FindingInput> => {
  const out: Array<Reconciliation.FindingInput> = []
  const base = {
    requestId: row.requestId,
    occurredAt: DateTime.formatIso(row.occurredAt),
    provider: row.provider,
    model: row.model
  }
  const tokens = Usage.totalTokens(row.usage)
  if (row.total !== null && row.total.isZero() && tokens > 0) {
    out.push(Findings.make({
      ...base,
      kind: Findings.Kinds.tokensButZeroCost,
      severity: "error",
      computedCost: row.total,
      currency: currencyOf(row),
      message: `${tokens} tokens billed at 0 (${row.costSource}; snapshot ${row.snapshotId ?? "none"})`,
      evidence: { tokens: nonZeroTokens(row.usage), costSource: row.costSource, snapshotId: row.snapshotId, definitionId: row.definitionId }
    }))
  }
  if (row.costSource === "unpriced") {
    const reason = (row.unpricedReason ?? "").split(":")[0] ?? ""
    const unmatched = matcherReasons.includes(reason)
    out.push(Findings.make({
      ...base,
      kind: unmatched ? Findings.Kinds.unmatchedModel : Findings.Kinds.unpriced,
      severity: "warning",
      message: row.unpricedReason ?? "unpriced",
      evidence: { unpricedReason: row.unpricedReason, tokens: nonZeroTokens(row.usage) }
    }))
  }
  if (row.costSource === "estimated") {
    out.push(Findings.make({
      ...base,
      kind: Findings.Kinds.streamingWithoutUsage,
      severity: "warning",
      computedCost: row.total,
      currency: currencyOf(row),
      message: "the provider reported no usage (a stream without a usage chunk): tokens were estimated with a tokenizer",
      evidence: { tokens: nonZeroTokens(row.usage), streamed: row.rawText !== undefined }
    }))
  }
  return out
}

/** Re-derives one ledger row; see the module comment. Never fails: problems are findings. */
export const rederive = (row: UsageRecord.UsageRecord, options: Options): Result => {
  const tolerance = options.tolerance ?? Findings.defaultTolerance
  const occurredAt = DateTime.formatIso(row.occurredAt)
  const base = { requestId: row.requestId, occurredAt, provider: row.provider, model: row.model }
  const findings: Array<Reconciliation.FindingInput> = [...detectStored(row)]
  const storedComputed = row.breakdown?.total ?? null
  const result = {
    requestId: row.requestId,
    occurredAt,
    provider: row.provider,
    model: row.model,
    currency: currencyOf(row),
    storedTotal: row.total,
    storedComputed,
    reported: row.reportedCost
  }

  // An estimated row's input was counted from the request body, which the ledger does not keep:
  // its payload cannot reproduce the figure, so it is reported (streaming-without-usage), not re-derived.
  if (row.costSource === "estimated") return { ...result, rederived: null, rederivedSnapshotId: null, whatIf: null, findings }
  const call = renormalize(row, options.normalize ?? Normalize.normalize)
  if (Result.isFailure(call)) {
    findings.push(Findings.make({ ...base, kind: Findings.Kinds.renormalizeFailed, severity: "error", message: call.failure, evidence: { api: row.api ?? null } }))
    return { ...result, rederived: null, rederivedSnapshotId: null, whatIf: null, findings }
  }
  const renormalized = call.success
  // The row's usage is what was priced (a fine-tuned match may have flagged it); compare tokens.
  if (usageKey(renormalized.usage) !== usageKey(row.usage)) {
    const stored = row.usage
    const fresh = renormalized.usage
    const cached = Usage.tokens(fresh, "cacheRead")
    const extraInput = Usage.tokens(stored, "inputText") - Usage.tokens(fresh, "inputText")
    const doubleCounted = cached > 0 && extraInput === cached
    findings.push(Findings.make({
      ...base,
      kind: doubleCounted ? Findings.Kinds.cachedTokensDoubleCounted : Findings.Kinds.usageDrift,
      severity: "error",
      message: doubleCounted
        ? `the provider's ${cached} cached input tokens were recorded as plain input (input ${Usage.tokens(stored, "inputText")} recorded, ${Usage.tokens(fresh, "inputText")} in the payload)`
        : "re-normalizing the stored payload gives other usage than the ledger holds: the normalizer changed since",
      evidence: { storedTokens: nonZeroTokens(stored), rederivedTokens: nonZeroTokens(fresh) }
    }))
  }

  const scope = PriceScope.ofLabels(options.tenantId, row.labels)
  const at = DateTime.toEpochMillis(row.occurredAt)
  const costed = Costing.cost(options.book, renormalized, { at, scope })
  let rederived: Money.Decimal | null = costed.breakdown?.total ?? null
  let rederivedSnapshotId = costed.snapshotId
  if (row.snapshotId !== null && costed.snapshotId !== row.snapshotId) {
    const stored = options.snapshots?.get(row.snapshotId)
    if (stored !== undefined && renormalized.subCalls.length === 0) {
      const priced = CostEngine.price(renormalized.usage, stored)
      rederived = Result.isSuccess(priced) ? priced.success.total : null
      rederivedSnapshotId = row.snapshotId
    } else {
      findings.push(Findings.make({
        ...base,
        kind: Findings.Kinds.snapshotUnavailable,
        severity: "info",
        message: `the row was priced with snapshot ${row.snapshotId}; the book now resolves ${costed.snapshotId ?? "no snapshot"} and the snapshot is not stored`,
        evidence: { snapshotId: row.snapshotId, bookSnapshotId: costed.snapshotId }
      }))
      rederived = null
      rederivedSnapshotId = null
    }
  }
  const snapshotKnown = rederivedSnapshotId !== null && rederivedSnapshotId === row.snapshotId
  if (snapshotKnown && (storedComputed === null) !== (rederived === null)) {
    // One side priced, the other not.
    findings.push(Findings.make({
      ...base,
      kind: Findings.Kinds.priceDrift,
      severity: "error",
      computedCost: rederived,
      currency: currencyOf(row),
      message: `re-pricing with snapshot ${row.snapshotId} gives ${rederived === null ? "no price" : Money.format(rederived)}, the ledger holds ${storedComputed === null ? "no price" : Money.format(storedComputed)}`,
      evidence: { snapshotId: row.snapshotId, stored: storedComputed === null ? null : Money.format(storedComputed), rederived: rederived === null ? null : Money.format(rederived) }
    }))
  } else if (snapshotKnown && storedComputed !== null && rederived !== null && !storedComputed.eq(rederived)) {
    findings.push(Findings.make({
      ...base,
      kind: Findings.Kinds.priceDrift,
      severity: "error",
      computedCost: rederived,
      difference: rederived.minus(storedComputed),
      currency: currencyOf(row),
      message: `re-pricing with snapshot ${row.snapshotId} gives ${Money.format(rederived)}, the ledger holds ${Money.format(storedComputed)}`,
      evidence: { snapshotId: row.snapshotId, stored: Money.format(storedComputed), rederived: Money.format(rederived) }
    }))
  }

  // What budgets, usage and chargeback add up is the billed `total` column, not the breakdown: a
  // computed row whose billed total differs from the re-priced cost is drift even when its stored
  // breakdown still agrees (e.g. the column was changed in the database).
  if (
    snapshotKnown && rederived !== null && row.costSource === "computed" && row.total !== null &&
    !row.total.eq(rederived) && (storedComputed === null || !row.total.eq(storedComputed))
  ) {
    findings.push(Findings.make({
      ...base,
      kind: Findings.Kinds.priceDrift,
      severity: "error",
      computedCost: rederived,
      difference: rederived.minus(row.total),
      currency: currencyOf(row),
      message: `re-pricing with snapshot ${row.snapshotId} gives ${Money.format(rederived)}, the billed total is ${Money.format(row.total)}${
        storedComputed === null ? "" : ` (its breakdown says ${Money.format(storedComputed)})`
      }`,
      evidence: {
        snapshotId: row.snapshotId,
        billed: Money.format(row.total),
        breakdown: storedComputed === null ? null : Money.format(storedComputed),
        rederived: Money.format(rederived)
      }
    }))
  }

  if (row.reportedCost !== null && rederived !== null && (row.reportedCurrency === null || row.reportedCurrency === costed.breakdown?.currency || costed.breakdown === null)) {
    if (Findings.beyond(tolerance, row.reportedCost, rederived)) {
      findings.push(Findings.make({
        ...base,
        kind: Findings.Kinds.reportedCostVariance,
        severity: "warning",
        reportedCost: row.reportedCost,
        computedCost: rederived,
        difference: row.reportedCost.minus(rederived),
        currency: row.reportedCurrency,
        message: `the provider reported ${Money.format(row.reportedCost)} for this call, Tally computes ${Money.format(rederived)}`,
        evidence: { snapshotId: rederivedSnapshotId }
      }))
    }
  }

  let whatIf: Money.Decimal | null = null
  if (options.whatIf !== undefined) {
    const book = options.whatIf.book ?? options.book
    const whatIfCosted = Costing.cost(book, renormalized, { at: options.whatIf.at?.getTime() ?? at, scope })
    whatIf = whatIfCosted.breakdown?.total ?? null
  }
  return { ...result, rederived, rederivedSnapshotId, whatIf, findings }
}
