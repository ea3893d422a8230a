/**
 * Resolves a reported (provider, model, time, scope) to the definition that prices it and the
 * snapshot in force at that time, deterministically and with an explanation.
 *
 * Every definition of the searched providers is tried against the reported name and its
 * normalized forms (see `ModelName.candidates`); a definition takes part with the earliest name
 * form its rule matches. Candidates are ranked by these criteria, the first difference decides:
 *
 *   1. class           custom definitions beat built-in ones
 *   2. scope           among custom ones, the narrower layer wins (apiKey > team > project > tenant > global)
 *   3. name form       a match on the reported name beats a match on a normalized form, earlier steps first
 *   4. provider order  the requested provider, then its fallback providers in order
 *   5. specificity     see `MatchRule`: equals > longer prefix/suffix > contains > regex
 *   6. id              the smaller definition id (a stable tie-break; definition order never matters)
 *
 * The best-ranked candidate with a snapshot in force at the event time wins; candidates without
 * one are skipped (and say so). Layer multipliers then scale the winning snapshot.
 */
import { Money, PricingSnapshot } from "@tally/core"
import { Result, Schema } from "effect"
import * as MatchRule from "./MatchRule.ts"
import * as ModelDefinition from "./ModelDefinition.ts"
import * as ModelName from "./ModelName.ts"
import * as PriceBook from "./PriceBook.ts"
import * as Provider from "./Provider.ts"

export interface MatchQuery {
  /** The provider as reported or configured ("openai", "bedrock", "azure"); omit when unknown. */
  readonly provider?: string | undefined
  /** The model name as reported. */
  readonly model: string
  /** The event's time: snapshots are chosen by when the usage happened, not when it arrived. */
  readonly at: Date | string | number
  readonly scope?: PriceBook.Scope | undefined
}

export const NotMatchedReason = Schema.Literals([
  "empty-model",
  "invalid-time",
  "unknown-provider",
  "no-rule-matched",
  "no-snapshot-in-force"
])
export type NotMatchedReason = typeof NotMatchedReason.Type

export class ModelNotMatched extends Schema.TaggedError<ModelNotMatched>()("ModelNotMatched", {
  /** The provider as given ("" when none was given). */
  provider: Schema.String,
  model: Schema.String,
  reason: NotMatchedReason,
  detail: Schema.String,
  message: Schema.String
}) {}

export type Criterion = "class" | "scope" | "name-form" | "provider-order" | "specificity" | "id"

export interface CandidateExplanation {
  readonly definitionId: string
  readonly provider: string
  readonly maintainer: ModelDefinition.Maintainer
  readonly layer: string
  readonly name: string
  readonly nameStage: number
  readonly providerRank: number
  readonly rule: string
  readonly specificity: MatchRule.Specificity
  /** Why this candidate did not win (absent for the winner). */
  readonly lostOn?: Criterion | "no-snapshot-in-force"
  readonly detail: string
}

export interface SnapshotExplanation {
  readonly snapshotId: string
  readonly listSnapshotId: string
  readonly version: number
  readonly historyIndex: number
  readonly effectiveFrom: string | null
  readonly effectiveTo: string | null
  readonly timeOfDay: ModelDefinition.TimeOfDayWindow | null
  readonly reason: string
  readonly override: { readonly layerId: string; readonly reason: string | null } | null
}

export interface Explanation {
  readonly matched: boolean
  readonly reason: NotMatchedReason | null
  readonly query: { readonly provider: string | null; readonly model: string; readonly at: string | null; readonly scope: PriceBook.Scope }
  readonly provider: { readonly requested: string | null; readonly resolved: string | null; readonly detail: string; readonly searchOrder: ReadonlyArray<string> }
  readonly names: ReadonlyArray<{ readonly name: string; readonly stage: number; readonly steps: ReadonlyArray<string> }>
  readonly layers: ReadonlyArray<{ readonly id: string; readonly level: PriceBook.ScopeLevel }>
  readonly builtIn: { readonly enabled: boolean; readonly switchedBy: string | null }
  /** Every candidate, best first (capped at 20; `candidateCount` has the total). */
  readonly candidates: ReadonlyArray<CandidateExplanation>
  readonly candidateCount: number
  readonly winner: CandidateExplanation | null
  readonly snapshot: SnapshotExplanation | null
  readonly multipliers: ReadonlyArray<PriceBook.AppliedMultiplier>
  readonly fineTuned: boolean
  readonly summary: string
}

export interface Match {
  /** Canonical provider of the definition. */
  readonly provider: string
  readonly model: string
  /** The definition as this scope sees it (overrides applied). */
  readonly definition: ModelDefinition.ModelDefinition
  readonly origin: PriceBook.Origin
  /** The history entry in force at the event time. */
  readonly entry: ModelDefinition.HistoryEntry
  /** The snapshot to price with: the entry's snapshot with layer multipliers applied. */
  readonly snapshot: PricingSnapshot.PricingSnapshot
  readonly snapshotId: string
  /**
   * The reported name designates a fine-tuned version of the matched base model (e.g. `ft:`);
   * set `usage.fineTuned` so the snapshot's `fineTunedRates` apply where it has them.
   */
  readonly fineTuned: boolean
  readonly explanation: Explanation
}

// ---------------------------------------------------------------------------------------------

interface Ranked {
  readonly effective: PriceBook.EffectiveDefinition
  readonly candidate: ModelName.NameCandidate
  readonly providerRank: number
  readonly match: MatchRule.RuleMatch
}

const classRank = (r: Ranked): number => r.effective.origin.kind === "custom" ? 0 : 1
const scopeRank = (r: Ranked): number => r.effective.origin.kind === "custom" ? -r.effective.origin.level : 0

/** Compares two candidates; negative when `a` ranks before `b`. Also names the deciding criterion. */
const compare = (a: Ranked, b: Ranked): { order: number; criterion: Criterion } => {
  const steps: ReadonlyArray<[Criterion, number]> = [
    ["class", classRank(a) - classRank(b)],
    ["scope", scopeRank(a) - scopeRank(b)],
    ["name-form", a.candidate.stage - b.candidate.stage],
    ["provider-order", a.providerRank - b.providerRank],
    ["specificity", MatchRule.compareSpecificity(b.match.specificity, a.match.specificity)],
    ["id", a.effective.definition.id < b.effective.definition.id ? -1 : a.effective.definition.id > b.effective.definition.id ? 1 : 0]
  ]
  for (const [criterion, order] of steps) if (order !== 0) return { order, criterion }
  return { order: 0, criterion: "id" }
}

const layerName = (origin: PriceBook.Origin): string => origin.kind === "built-in" ? "built-in" : origin.layerId

const lossDetail = (criterion: Criterion, loser: Ranked, winner: Ranked): string => {
  switch (criterion) {
    case "class":
      return "a custom definition matched; custom beats built-in"
    case "scope":
      return `layer "${layerName(winner.effective.origin)}" is narrower than "${layerName(loser.effective.origin)}"`
    case "name-form":
      return `matched only the normalized name "${loser.candidate.name}"; the winner matched "${winner.candidate.name}", an earlier form`
    case "provider-order":
      return `provider "${loser.effective.provider}" comes after "${winner.effective.provider}" in the search order`
    case "specificity":
      return `rule ${MatchRule.describe(loser.match.leaf)} (${MatchRule.formatSpecificity(loser.match.specificity)}) is less specific than ${MatchRule.describe(winner.match.leaf)} (${MatchRule.formatSpecificity(winner.match.specificity)})`
    case "id":
      return `equal rank; "${winner.effective.definition.id}" sorts before "${loser.effective.definition.id}"`
  }
}

const candidateOf = (r: Ranked, lostOn: CandidateExplanation["lostOn"], detail: string): CandidateExplanation => ({
  definitionId: r.effective.definition.id,
  provider: r.effective.provider,
  maintainer: r.effective.definition.maintainer,
  layer: layerName(r.effective.origin),
  name: r.candidate.name,
  nameStage: r.candidate.stage,
  providerRank: r.providerRank,
  rule: MatchRule.describe(r.match.leaf),
  specificity: r.match.specificity,
  ...(lostOn === undefined ? {} : { lostOn }),
  detail
})

/** Epoch ms of the query time, or undefined when it is not a valid instant. */
export const instantOf = (at: Date | string | number): number | undefined => {
  const ms = typeof at === "number" ? at : typeof at === "string" ? ModelDefinition.parseInstant(at) : at.getTime()
  return ms === undefined || !Number.isFinite(ms) ? undefined : ms
}

const scaledCache = new WeakMap<PricingSnapshot.PricingSnapshot, Map<string, PricingSnapshot.PricingSnapshot>>()

/** The snapshot with the multipliers applied in order; the same inputs give the same object (and id). */
const scaled = (snapshot: PricingSnapshot.PricingSnapshot, multipliers: ReadonlyArray<PriceBook.AppliedMultiplier>): PricingSnapshot.PricingSnapshot => {
  if (multipliers.length === 0) return snapshot
  const key = JSON.stringify(multipliers)
  let byKey = scaledCache.get(snapshot)
  if (byKey === undefined) {
    byKey = new Map()
    scaledCache.set(snapshot, byKey)
  }
  let result = byKey.get(key)
  if (result === undefined) {
    result = multipliers.reduce(
      (s, m) => PriceBook.scaleSnapshot(s, new Money.Decimal(m.factor), `x${m.factor} ${m.reason} (layer ${m.layerId})`),
      snapshot
    )
    byKey.set(key, result)
  }
  return result
}

interface Outcome {
  readonly explanation: Explanation
  readonly match: Match | undefined
}

const resolve = (book: PriceBook.PriceBook, query: MatchQuery): Outcome => {
  const scope = query.scope ?? {}
  const requested = query.provider === undefined || query.provider.trim() === "" ? undefined : query.provider.trim().toLowerCase()
  const view = PriceBook.view(book, scope)
  const names = ModelName.candidates(query.model)
  const at = instantOf(query.at)
  const base = {
    query: {
      provider: requested ?? null,
      model: query.model,
      at: at === undefined ? null : new Date(at).toISOString(),
      scope
    },
    names: names.map((n) => ({ name: n.name, stage: n.stage, steps: n.steps.map((s) => `${s.step}: ${s.detail}`) })),
    layers: view.layers.map((layer) => ({ id: layer.id, level: PriceBook.levelName(PriceBook.levelOf(layer.scope)) })),
    builtIn: { enabled: view.builtInEnabled, switchedBy: view.builtInSwitchedBy ?? null }
  }
  const fail = (
    reason: NotMatchedReason,
    summary: string,
    provider: Explanation["provider"],
    candidates: ReadonlyArray<CandidateExplanation> = [],
    candidateCount = 0
  ): Outcome => ({
    match: undefined,
    explanation: {
      ...base,
      matched: false,
      reason,
      provider,
      candidates,
      candidateCount,
      winner: null,
      snapshot: null,
      multipliers: [],
      fineTuned: false,
      summary
    }
  })

  const noProvider = { requested: requested ?? null, resolved: null, detail: "", searchOrder: [] as ReadonlyArray<string> }
  if (names[0]!.name === "") return fail("empty-model", "the model name is empty", { ...noProvider, detail: "no model name" })
  if (at === undefined) {
    return fail("invalid-time", `the event time ${JSON.stringify(String(query.at))} is not a valid instant`, { ...noProvider, detail: "not resolved" })
  }

  // Provider search order.
  let searchOrder: Array<string>
  let providerDetail: string
  let resolvedProvider: string | null
  if (requested !== undefined) {
    const resolved = Provider.resolve(book.providers, requested)
    resolvedProvider = resolved.id
    providerDetail = resolved.detail
    searchOrder = [resolved.id]
    for (const fallback of book.providerById.get(resolved.id)?.fallbackProviders ?? []) {
      const id = book.canonicalProvider(fallback)
      if (!searchOrder.includes(id)) searchOrder.push(id)
    }
    if (searchOrder.length > 1) providerDetail += `; then its fallback providers ${searchOrder.slice(1).join(", ")}`
    const known = book.providerById.has(resolved.id) || view.byProvider.has(resolved.id)
    if (!known) {
      return fail("unknown-provider", `no built-in or custom definitions for provider "${requested}"`, {
        requested,
        resolved: resolved.id,
        detail: providerDetail,
        searchOrder
      })
    }
  } else {
    const byName = Provider.byModelName(book.providers, names[0]!.name).map((p) => p.id)
    const rest = [...view.byProvider.keys()].filter((id) => !byName.includes(id)).sort()
    searchOrder = [...byName, ...rest]
    resolvedProvider = null
    providerDetail = byName.length > 0
      ? `no provider given; providers whose model rule matches the name first (${byName.join(", ")}), then all others`
      : "no provider given; searched every provider"
  }
  const provider = { requested: requested ?? null, resolved: resolvedProvider, detail: providerDetail, searchOrder }

  // Candidates: each definition at the earliest name form its rule matches.
  const ranked: Array<Ranked> = []
  for (const [providerRank, providerId] of searchOrder.entries()) {
    for (const effective of view.byProvider.get(providerId) ?? []) {
      for (const candidate of names) {
        const m = MatchRule.evaluate(effective.definition.match, candidate.name)
        if (m !== undefined) {
          ranked.push({ effective, candidate, providerRank, match: m })
          break
        }
      }
    }
  }
  ranked.sort((a, b) => compare(a, b).order)

  if (ranked.length === 0) {
    const switched = view.builtInEnabled ? "" : ` (the built-in catalog is switched off by layer "${view.builtInSwitchedBy}")`
    return fail(
      "no-rule-matched",
      `no definition of ${searchOrder.join(", ") || "any provider"} matches "${query.model}" (tried ${names.map((n) => `"${n.name}"`).join(", ")})${switched}`,
      provider
    )
  }

  let winnerIndex = -1
  let inForce: ModelDefinition.InForce | undefined
  for (const [i, r] of ranked.entries()) {
    inForce = ModelDefinition.entryAt(r.effective.definition.history, at)
    if (inForce !== undefined) {
      winnerIndex = i
      break
    }
  }
  const atText = new Date(at).toISOString()
  const shown = ranked.slice(0, 20)
  if (winnerIndex < 0 || inForce === undefined) {
    const candidates = shown.map((r) => candidateOf(r, "no-snapshot-in-force", `no snapshot in force at ${atText}`))
    return fail(
      "no-snapshot-in-force",
      `${ranked.length} definition(s) match "${query.model}" (best: ${ranked[0]!.effective.definition.id}) but none has a snapshot in force at ${atText}`,
      provider,
      candidates,
      ranked.length
    )
  }
  const winner = ranked[winnerIndex]!
  const candidates = shown.map((r, i) => {
    if (i === winnerIndex) return candidateOf(r, undefined, `won: ${MatchRule.describe(r.match.leaf)} on "${r.candidate.name}"`)
    if (i < winnerIndex) return candidateOf(r, "no-snapshot-in-force", `ranked higher but has no snapshot in force at ${atText}`)
    const { criterion } = compare(r, winner)
    return candidateOf(r, criterion, lossDetail(criterion, r, winner))
  })

  // Multipliers.
  const applied: Array<PriceBook.AppliedMultiplier> = PriceBook.multipliersFor(book, view.layers, winner.effective)
    .map(({ layerId, multiplier }) => ({ layerId, factor: multiplier.factor.toFixed(), reason: multiplier.reason }))
  const snapshot = scaled(inForce.entry.snapshot, applied)
  const snapshotId = PricingSnapshot.snapshotId(snapshot)
  const entry = inForce.entry
  const definition = winner.effective.definition
  const fineTuned = winner.candidate.fineTuned
  const steps = winner.candidate.steps.map((s) => s.detail)
  const summary = [
    `"${query.model}" matched ${definition.maintainer} definition ${definition.id} (layer ${layerName(winner.effective.origin)})`,
    `by rule ${MatchRule.describe(winner.match.leaf)} on ${steps.length === 0 ? "the reported name" : `"${winner.candidate.name}" (${steps.join("; ")})`}`,
    ...(winner.providerRank > 0 && requested !== undefined ? [`via fallback provider ${winner.effective.provider} of ${resolvedProvider}`] : []),
    ranked.length > 1 ? `ahead of ${ranked.length - 1} other candidate(s)` : "the only candidate",
    `snapshot ${snapshotId}: ${inForce.reason}`,
    ...(winner.effective.override === undefined ? [] : [`prices overridden by layer ${winner.effective.override.layerId}`]),
    ...applied.map((m) => `x${m.factor} ${m.reason} (layer ${m.layerId})`),
    ...(fineTuned ? [`fine-tuned model: price with usage.fineTuned${entry.snapshot.fineTunedRates === undefined ? " (this snapshot has no fineTunedRates, so base rates apply)" : ""}`] : [])
  ].join("; ")

  const explanation: Explanation = {
    ...base,
    matched: true,
    reason: null,
    provider,
    candidates,
    candidateCount: ranked.length,
    winner: candidates[winnerIndex] ?? candidateOf(winner, undefined, "won"),
    snapshot: {
      snapshotId,
      listSnapshotId: PricingSnapshot.snapshotId(entry.snapshot),
      version: entry.version,
      historyIndex: inForce.index,
      effectiveFrom: entry.snapshot.effectiveFrom ?? null,
      effectiveTo: entry.snapshot.effectiveTo ?? null,
      timeOfDay: entry.timeOfDay ?? null,
      reason: inForce.reason,
      override: winner.effective.override === undefined
        ? null
        : { layerId: winner.effective.override.layerId, reason: winner.effective.override.reason ?? null }
    },
    multipliers: applied,
    fineTuned,
    summary
  }
  return {
    explanation,
    match: {
      provider: winner.effective.provider,
      model: query.model,
      definition,
      origin: winner.effective.origin,
      entry,
      snapshot,
      snapshotId,
      fineTuned,
      explanation
    }
  }
}

/** The definition and snapshot that price `query`, or why there is none. */
export const match = (book: PriceBook.PriceBook, query: MatchQuery): Result.Result<Match, ModelNotMatched> => {
  const outcome = resolve(book, query)
  if (outcome.match !== undefined) return Result.succeed(outcome.match)
  const e = outcome.explanation
  return Result.fail(new ModelNotMatched({
    provider: query.provider ?? "",
    model: query.model,
    reason: e.reason ?? "no-rule-matched",
    detail: e.summary,
    message: `model not matched: ${e.summary}`
  }))
}

/** Which rule of which layer won for `query`, and why every other candidate lost. */
export const explainMatch = (book: PriceBook.PriceBook, query: MatchQuery): Explanation => resolve(book, query).explanation
