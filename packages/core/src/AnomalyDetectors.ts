/**
 * The four anomaly detectors with their thresholds, as pure functions of a series and an hour.
 * Each answers `not-evaluable` (too little history or too little signal to tell), `normal`, or
 * `deviating` with a draft finding: its statistic, severity, summary and evidence. The method and
 * the defaults are documented in docs/anomalies.md; keep the two in step.
 */
import type * as Schema from "effect/Schema"
import * as Anomaly from "./Anomaly.ts"
import { type Cell, DAY, floorTo, HOUR, lowerBound, MINUTE, type MinuteSeries, type ModelCell, type MoneySeries } from "./AnomalySeries.ts"
import * as Stats from "./AnomalyStats.ts"
import * as Money from "./Money.ts"

type Decimal = Money.Decimal
const D = (value: string | number): Decimal => new Money.Decimal(value)

// ---------------------------------------------------------------------------------------------
// Thresholds of each detector (defaults: the engine's `Anomalies.defaults`)

/** Money amounts are in the unit of the series' currency (1 = one dollar, one euro). */
export interface SpendConfig {
  /** Days of history compared with an hour. */
  readonly baselineDays: number
  /** A scope younger than this (since its first spend) is not judged. */
  readonly minHistoryHours: number
  /** Baseline hours needed to judge. */
  readonly minBaselinePoints: number
  /** An hour spending less is not judged (noise floor). */
  readonly minSpend: Decimal
  /** Spend above the baseline median needed to report. */
  readonly minExcess: Decimal
  /** Spend / baseline median needed to report. */
  readonly minRatio: number
  /** Modified z-score needed to report. */
  readonly minZ: number
  /** The z-score's scale is at least this fraction of the baseline median... */
  readonly minRelativeSpread: number
  /** ...and at least this amount... */
  readonly minAbsoluteSpread: Decimal
  /**
   * ...and at least the spread of Poisson arrivals at the baseline's usual rate and cost per call,
   * with E[cost²] taken as this many times the squared mean cost (calls of one model vary in size).
   */
  readonly costDispersion: number
  /** Ratio from which a finding is a warning (below: info). */
  readonly warningRatio: number
  /** Ratio from which a finding is critical; an hour spending where the baseline median is 0 is too. */
  readonly criticalRatio: number
  /** A deviating hour directly after a deviating hour (within this many hours) continues its episode. */
  readonly episodeLookbackHours: number
}

export interface TokenRateConfig {
  readonly baselineDays: number
  /** The baseline ends this many hours before the hour judged, so a burst earlier today is not part of it. */
  readonly baselineGapHours: number
  /** Minutes with calls needed in the baseline to judge. */
  readonly minBaselineMinutes: number
  /** The baseline's reference level: this quantile of its minutes with calls. */
  readonly referenceQuantile: number
  /** A spike minute uses at least this many times the reference... */
  readonly minRatio: number
  /** ...and at least this many tokens. */
  readonly minTokensPerMinute: number
  /** Spike minutes in the hour needed to report (a loop runs for minutes, one big call does not). */
  readonly minSpikeMinutes: number
  /** Peak / reference from which a finding is critical (below: warning). */
  readonly criticalRatio: number
  readonly episodeLookbackHours: number
}

export interface ModelMixConfig {
  readonly baselineDays: number
  /** The baseline ends this many hours before the hour judged, so a recent change is not part of it. */
  readonly baselineGapHours: number
  /** Baseline hours that pass the floors below, needed to judge. */
  readonly minBaselineHours: number
  /** An hour with less spend is not judged. */
  readonly minSpend: Decimal
  /** An hour with fewer requests is not judged, nor compared with as a baseline hour. */
  readonly minRequests: number
  /** Total variation distance between the hour's mix and the baseline's needed to report (0..1). */
  readonly minShift: number
  /** Modified z-score of that distance against the baseline hours' own distances. */
  readonly minZ: number
  /** Smallest scale of that z-score (a distance). */
  readonly minSpread: number
  /** The shift must also exceed this quantile of the baseline hours' shifts... */
  readonly noiseQuantile: number
  /** ...by at least this much. */
  readonly minShiftOverNoise: number
  /** Critical when the shift reaches this and the hour cost this many times the usual per request. */
  readonly criticalShift: number
  readonly criticalCostImpact: number
  /** A step change must hold for this many consecutive hours (the first one is reported). */
  readonly confirmHours: number
  readonly episodeLookbackHours: number
}

export interface CostPerRequestConfig {
  readonly baselineDays: number
  /** Baseline hours of the model with `minRequests`, needed to judge. */
  readonly minBaselineHours: number
  /** A model's hour with fewer requests or less spend is not judged, nor counted in the baseline. */
  readonly minRequests: number
  readonly minSpend: Decimal
  /** Cost per request / baseline median needed to report. */
  readonly minRatio: number
  readonly minZ: number
  /** The z-score's scale is at least this fraction of the baseline median. */
  readonly minRelativeSpread: number
  /** Ratio from which a finding is critical (below: warning). */
  readonly criticalRatio: number
  /** A step change must hold for this many consecutive hours (the first one is reported). */
  readonly confirmHours: number
  readonly episodeLookbackHours: number
}


export interface Draft {
  readonly kind: Anomaly.Kind
  readonly scope: Anomaly.Scope
  readonly currency: string | null
  readonly windowStart: number
  readonly windowEnd: number
  readonly severity: Anomaly.Severity
  readonly observed: Decimal
  readonly expected: Decimal
  readonly statistic: string
  readonly score: Decimal
  readonly summary: string
  readonly evidence: Schema.JsonObject
  /** Where the calls behind the finding are: their evidence is read from the ledger. */
  readonly calls: { readonly from: number; readonly to: number }
}

export type Evaluation =
  | { readonly status: "not-evaluable"; readonly reason: string }
  /** `score`: the kind's statistic, to show how close ordinary hours come to the thresholds. */
  | { readonly status: "normal"; readonly score: number }
  | { readonly status: "deviating"; readonly draft: Draft }

const notEvaluable = (reason: string): Evaluation => ({ status: "not-evaluable", reason })
const normal = (score: Decimal | number): Evaluation => ({ status: "normal", score: typeof score === "number" ? score : score.toNumber() })

const iso = (millis: number) => new Date(millis).toISOString()
const money = (value: Decimal) => Money.format(value)
/** A statistic for people and JSON: 4 decimal places. */
const stat = (value: Decimal) => Money.format(value.toDecimalPlaces(4))
const statNumber = (value: number) => Math.round(value * 10_000) / 10_000
const times = (ratio: Decimal | undefined) => (ratio === undefined ? "from nothing" : `${ratio.toDecimalPlaces(1).toFixed(1)}×`)
const window = (start: number, end: number) => ({ from: iso(start), to: iso(end) })

const severityOf = (ratio: Decimal | undefined, warning: number, critical: number): Anomaly.Severity =>
  ratio === undefined || ratio.greaterThanOrEqualTo(critical)
    ? "critical"
    : ratio.greaterThanOrEqualTo(warning)
    ? "warning"
    : "info"

/** Memo of derived values per cell object: shares of spend by model, cost per request by model. */
export class Memo {
  readonly shares = new WeakMap<Cell, Map<string, number>>()
  readonly costPerRequest = new WeakMap<ModelCell, Decimal>()

  /** Shares of spend by model: ratios, not money, so plain numbers. */
  sharesOf(cell: Cell): Map<string, number> {
    let shares = this.shares.get(cell)
    if (shares === undefined) {
      shares = Stats.Numbers.shares(new Map([...cell.models].map(([model, m]) => [model, m.costNumber])))
      this.shares.set(cell, shares)
    }
    return shares
  }

  costPerRequestOf(cell: ModelCell): Decimal {
    let cpr = this.costPerRequest.get(cell)
    if (cpr === undefined) {
      cpr = cell.cost.dividedBy(cell.requests)
      this.costPerRequest.set(cell, cpr)
    }
    return cpr
  }
}

// ---------------------------------------------------------------------------------------------
// Hourly spend against the same hour of previous days

/**
 * Hours compared with `hour`: the same hour on each of the previous `baselineDays` days, from the
 * scope's first hour with spend on (before that it did not exist). Comparing like hours of the
 * day keeps the daily cycle, and a nightly job's burst, from reading as anomalies.
 */
const seasonalHours = (config: SpendConfig, series: MoneySeries, hour: number): Array<number> => {
  const hours: Array<number> = []
  for (let day = 1; day <= config.baselineDays; day++) {
    const h = hour - day * DAY
    if (h >= series.firstHour) hours.push(h)
  }
  return hours
}

/**
 * The spread that chance alone gives an hour's spend: calls arrive as a Poisson stream at the
 * usual rate for this time of day, each priced like a call drawn from the scope's week (its mix of
 * models and their mean cost per call). For compound Poisson spend the variance is λ·E[c²]; E[c²]
 * is the calls' mean squared cost times `costDispersion`, since calls vary in size. A scope whose
 * handful of frontier calls an hour come and go swings far more than the median and MAD of seven
 * like hours reveal, above all at night.
 *
 * λ is the mean requests of the same hour and its neighbours on the previous days, plus one
 * pseudo-call: a rare model absent from those hours by chance must not make a single call of it
 * look impossible.
 */
const chanceSpread = (config: SpendConfig, series: MoneySeries, hour: number): number => {
  let calls = 1
  let hours = 0
  for (let day = 1; day <= config.baselineDays; day++) {
    for (let offset = -1; offset <= 1; offset++) {
      const h = hour - day * DAY + offset * HOUR
      if (h < series.firstHour) continue
      hours++
      calls += series.cells.get(h)?.requests ?? 0
    }
  }
  // A spread, not an amount: floats are fine here and keep this cheap.
  let requests = 0
  let secondMoment = 0
  for (let h = hour - config.baselineDays * DAY; h < hour; h += HOUR) {
    for (const m of series.cells.get(h)?.models.values() ?? []) {
      requests += m.requests
      // Σ cost² / requests over (hour, model) cells: requests × their mean cost squared.
      if (m.requests > 0) secondMoment += (m.costNumber * m.costNumber) / m.requests
    }
  }
  if (requests === 0 || hours === 0) return 0
  return Math.sqrt((calls / hours) * (secondMoment / requests) * config.costDispersion)
}

export const spend = (config: SpendConfig, series: MoneySeries, hour: number): Evaluation => {
  const cell = series.cells.get(hour)
  const observed = cell?.cost ?? Money.ZERO
  if (hour - series.firstHour < config.minHistoryHours * HOUR) return notEvaluable("history")
  if (observed.lessThan(config.minSpend)) return notEvaluable("below-floor")
  const hours = seasonalHours(config, series, hour)
  if (hours.length < config.minBaselinePoints) return notEvaluable("history")
  const values = hours.map((h) => series.cells.get(h)?.cost ?? Money.ZERO)
  const baseline = Stats.robust(values)!
  const chance = D(chanceSpread(config, series, hour).toPrecision(12))
  const minScale = Money.Decimal.max(baseline.median.times(config.minRelativeSpread), config.minAbsoluteSpread, chance)
  const z = Stats.modifiedZ(observed, baseline, minScale)
  const ratio = baseline.median.isZero() ? undefined : observed.dividedBy(baseline.median)
  const excess = observed.minus(baseline.median)
  if (
    z.lessThan(config.minZ) || excess.lessThan(config.minExcess) ||
    (ratio !== undefined && ratio.lessThan(config.minRatio))
  ) return normal(z)

  const models = [...(cell?.models ?? new Map<string, ModelCell>())].map(([model, m]) => {
    const usual = Stats.median(hours.map((h) => series.cells.get(h)?.models.get(model)?.cost ?? Money.ZERO))!
    return { model, cost: m.cost, requests: m.requests, usual, excess: m.cost.minus(usual) }
  }).sort((a, b) => b.excess.comparedTo(a.excess) || a.model.localeCompare(b.model))
  const severity = severityOf(ratio, config.warningRatio, config.criticalRatio)
  const label = Anomaly.scopeKey(series.scope)
  return {
    status: "deviating",
    draft: {
      kind: "spend_spike",
      scope: series.scope,
      currency: series.currency,
      windowStart: hour,
      windowEnd: hour + HOUR,
      severity,
      observed,
      expected: baseline.median,
      statistic: "modified_z",
      score: z.toDecimalPlaces(4),
      summary: `${label} spent ${money(observed.toDecimalPlaces(2))} ${series.currency} in the hour from ${
        iso(hour)
      }, ${times(ratio)} its usual ${money(baseline.median.toDecimalPlaces(2))} (modified z ${stat(z)})`,
      evidence: {
        window: window(hour, hour + HOUR),
        observed: { spend: money(observed), requests: cell?.requests ?? 0, tokens: cell?.tokens ?? 0 },
        baseline: {
          method: `the same hour on the previous ${config.baselineDays} days`,
          hours: hours.length,
          median: money(baseline.median),
          mad: money(baseline.mad),
          scale: money(Money.Decimal.max(Stats.sigma(baseline), minScale).toDecimalPlaces(6)),
          chanceSpread: money(chance.toDecimalPlaces(6)),
          values: hours.map((h, i) => ({ hour: iso(h), spend: money(values[i]!) }))
        },
        statistic: { name: "modified_z", value: stat(z), threshold: config.minZ },
        ratio: ratio === undefined ? null : stat(ratio),
        excess: money(excess),
        models: models.map((m) => ({
          model: m.model,
          spend: money(m.cost),
          requests: m.requests,
          usualSpend: money(m.usual),
          excess: money(m.excess)
        }))
      },
      calls: { from: hour, to: hour + HOUR }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens per minute against the scope's busiest normal minutes

export const tokenRate = (config: TokenRateConfig, series: MinuteSeries, hour: number, asOf: number): Evaluation => {
  const end = Math.min(hour + HOUR, floorTo(asOf, MINUTE))
  if (end <= hour) return notEvaluable("no complete minute")
  const i0 = lowerBound(series.minutes, hour)
  const i1 = lowerBound(series.minutes, end)
  if (i0 === i1) return notEvaluable("no calls")
  // The last day is left out: a 99th percentile is no robust statistic, and an hour of a burst
  // earlier today would already lift it.
  const b0 = lowerBound(series.minutes, hour - config.baselineDays * DAY)
  const b1 = lowerBound(series.minutes, hour - config.baselineGapHours * HOUR)
  const baseline = series.tokens.subarray(b0, Math.min(b1, i0))
  if (baseline.length < config.minBaselineMinutes) return notEvaluable("history")
  let peak = 0
  let peakAt = hour
  for (let i = i0; i < i1; i++) {
    if (series.tokens[i]! > peak) {
      peak = series.tokens[i]!
      peakAt = series.minutes[i]!
    }
  }
  if (peak < config.minTokensPerMinute) return notEvaluable("below-floor")
  // Active minutes only: a quiet scope's idle minutes would make every busy one look extreme.
  const reference = Math.max(1, Stats.Numbers.quantile(baseline, config.referenceQuantile)!)
  const threshold = Math.max(reference * config.minRatio, config.minTokensPerMinute)
  const spikes: Array<{ minute: string; tokens: number; requests: number }> = []
  let spikeTokens = 0
  let first = Infinity
  let last = -Infinity
  for (let i = i0; i < i1; i++) {
    if (series.tokens[i]! >= threshold) {
      spikes.push({ minute: iso(series.minutes[i]!), tokens: series.tokens[i]!, requests: series.requests[i]! })
      spikeTokens += series.tokens[i]!
      first = Math.min(first, series.minutes[i]!)
      last = Math.max(last, series.minutes[i]!)
    }
  }
  const ratio = peak / reference
  if (spikes.length < config.minSpikeMinutes) return normal(ratio)
  const median = Stats.Numbers.median(baseline)!
  const label = Anomaly.scopeKey(series.scope)
  const quantileName = `p${statNumber(config.referenceQuantile * 100)}`
  return {
    status: "deviating",
    draft: {
      kind: "token_rate_spike",
      scope: series.scope,
      currency: null,
      windowStart: hour,
      windowEnd: hour + HOUR,
      severity: ratio >= config.criticalRatio ? "critical" : "warning",
      observed: D(peak),
      expected: D(statNumber(reference)),
      statistic: `ratio_to_${quantileName}`,
      score: D(statNumber(ratio)),
      summary: `${label} used ${peak.toLocaleString("en")} tokens in the minute from ${iso(peakAt)}, ${
        ratio.toFixed(1)
      }× its ${quantileName} minute (${Math.round(reference).toLocaleString("en")}); ${spikes.length} minutes over ${
        Math.round(threshold).toLocaleString("en")
      } tokens`,
      evidence: {
        window: window(hour, hour + HOUR),
        evaluatedUntil: iso(end),
        observed: { peakTokensPerMinute: peak, peakMinute: iso(peakAt), spikeMinutes: spikes.length, spikeTokens },
        baseline: {
          method: `minutes with calls in the ${config.baselineDays} days before, the last ${config.baselineGapHours} hours left out`,
          from: iso(hour - config.baselineDays * DAY),
          to: iso(hour - config.baselineGapHours * HOUR),
          activeMinutes: baseline.length,
          [quantileName]: statNumber(reference),
          median: statNumber(median)
        },
        threshold: statNumber(threshold),
        statistic: { name: `ratio_to_${quantileName}`, value: statNumber(ratio), threshold: config.minRatio },
        spikes: spikes.slice(0, 60)
      },
      calls: { from: first, to: last + MINUTE }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Model mix: the hour's share of spend by model against the baseline's

/** The cells of the `days` before `hour`, leaving out the last `gapHours`. */
const baselineCells = (series: MoneySeries, hour: number, days: number, gapHours = 0) => {
  const cells: Array<readonly [number, Cell]> = []
  for (let h = hour - days * DAY; h < hour - gapHours * HOUR; h += HOUR) {
    const cell = series.cells.get(h)
    if (cell !== undefined) cells.push([h, cell])
  }
  return cells
}

const shareList = (shares: ReadonlyMap<string, number>) => Object.fromEntries([...shares].map(([m, s]) => [m, statNumber(s)]))
const percent = (share: number) => `${Math.round(share * 100)}%`

export const modelMix = (config: ModelMixConfig, series: MoneySeries, hour: number, memo: Memo): Evaluation => {
  const cell = series.cells.get(hour)
  if (cell === undefined || cell.cost.lessThan(config.minSpend) || cell.requests < config.minRequests) {
    return notEvaluable("below-floor")
  }
  // The last day is left out: the tail of ordinary shifts below is no robust statistic, and a
  // swap a few hours old would already be part of it.
  const cells = baselineCells(series, hour, config.baselineDays, config.baselineGapHours)
  let baselineCost = 0
  let baselineRequests = 0
  for (const [, c] of cells) {
    baselineCost += c.costNumber
    baselineRequests += c.requests
  }
  // Baseline hours need calls enough for a mix to mean something, not spend: a cheap model's
  // hours are exactly the ones a swap to a frontier model must be compared with.
  const qualifying = cells.filter(([, c]) => c.requests >= config.minRequests)
  if (qualifying.length < config.minBaselineHours || baselineCost === 0) return notEvaluable("history")
  // The usual mix: each model's median share over those hours, normalized. Pooling the week's
  // spend instead would let a few hours of a model 100 times dearer (the swap itself, an hour
  // ago) outweigh the whole week.
  const models = new Set(qualifying.flatMap(([, c]) => [...c.models.keys()]))
  const usual = Stats.Numbers.shares(
    new Map([...models].map((model) => [model, Stats.Numbers.median(qualifying.map(([, c]) => memo.sharesOf(c).get(model) ?? 0))!]))
  )
  if (usual.size === 0) return notEvaluable("history")
  const observed = memo.sharesOf(cell)
  const shift = Stats.Numbers.totalVariation(observed, usual)
  // How far ordinary hours stray from the usual mix: the shift must stand out against that.
  const ordinary = qualifying.map(([, c]) => Stats.Numbers.totalVariation(memo.sharesOf(c), usual))
  const spread = Stats.Numbers.robust(ordinary)!
  const z = Stats.Numbers.modifiedZ(shift, spread, config.minSpread)
  // A scope whose few expensive calls come and go has a long tail of ordinary shifts (an hour
  // without its one frontier call); median and MAD describe the bulk, this the tail.
  const ceiling = Stats.Numbers.quantile(ordinary, config.noiseQuantile)!
  if (shift < config.minShift || z < config.minZ || shift - ceiling < config.minShiftOverNoise) return normal(z)

  // A ratio of costs per request, not an amount.
  const costImpact = cell.costNumber / cell.requests / (baselineCost / baselineRequests)
  const severity: Anomaly.Severity = costImpact < 1
    ? "info"
    : shift >= config.criticalShift && costImpact >= config.criticalCostImpact
    ? "critical"
    : "warning"
  const rows = [...new Set([...observed.keys(), ...usual.keys()])].map((model) => {
    const before = usual.get(model) ?? 0
    const now = observed.get(model) ?? 0
    const m = cell.models.get(model)
    return { model, before, now, delta: now - before, spend: m?.cost ?? Money.ZERO, requests: m?.requests ?? 0 }
  }).sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta) || a.model.localeCompare(b.model))
  const gained = rows.filter((m) => m.delta > 0)
  const lost = rows.filter((m) => m.delta < 0)
  const describe = (list: typeof rows) =>
    list.slice(0, 3).map((m) => `${m.model} ${percent(m.before)} → ${percent(m.now)}`).join(", ")
  const quantileName = `p${statNumber(config.noiseQuantile * 100)}`
  return {
    status: "deviating",
    draft: {
      kind: "model_mix_shift",
      scope: series.scope,
      currency: series.currency,
      windowStart: hour,
      windowEnd: hour + HOUR,
      severity,
      observed: D(statNumber(shift)),
      expected: D(statNumber(spread.median)),
      statistic: "modified_z",
      score: D(statNumber(z)),
      summary: `${Anomaly.scopeKey(series.scope)}'s spend moved between models in the hour from ${iso(hour)}: ${describe(gained)}${
        lost.length > 0 ? `; ${describe(lost)}` : ""
      } (shift ${statNumber(shift)} of 1; cost per request ${statNumber(costImpact)}× usual)`,
      evidence: {
        window: window(hour, hour + HOUR),
        observed: { spend: money(cell.cost), requests: cell.requests, shares: shareList(observed) },
        baseline: {
          method: `median share of spend by model over the hours with ${config.minRequests}+ requests`,
          from: iso(hour - config.baselineDays * DAY),
          to: iso(hour - config.baselineGapHours * HOUR),
          spend: money(Money.sum(cells.map(([, c]) => c.cost))),
          requests: baselineRequests,
          shares: shareList(usual),
          comparedHours: qualifying.length,
          shiftMedian: statNumber(spread.median),
          shiftMad: statNumber(spread.mad),
          [`shift${quantileName.toUpperCase()}`]: statNumber(ceiling)
        },
        shift: statNumber(shift),
        statistic: { name: "modified_z", value: statNumber(z), threshold: config.minZ },
        costImpact: statNumber(costImpact),
        models: rows.map((m) => ({
          model: m.model,
          usualShare: statNumber(m.before),
          share: statNumber(m.now),
          spend: money(m.spend),
          requests: m.requests
        }))
      },
      calls: { from: hour, to: hour + HOUR }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Cost per request, model by model, against the same model's previous hours

export const costPerRequest = (config: CostPerRequestConfig, series: MoneySeries, hour: number, memo: Memo): Evaluation => {
  const cell = series.cells.get(hour)
  if (cell === undefined) return notEvaluable("no calls")
  const cells = baselineCells(series, hour, config.baselineDays)
  const results: Array<{
    model: string
    cpr: Decimal
    baseline: Stats.Robust
    z: Decimal
    ratio: Decimal
    requests: number
    tokensPerRequest: Decimal
    usualTokensPerRequest: Decimal
    deviating: boolean
  }> = []
  // Per model: a swap between models is the mix detector's business, not a change in prompts.
  for (const [model, m] of cell.models) {
    if (m.requests < config.minRequests || m.cost.lessThan(config.minSpend)) continue
    const history = cells.flatMap(([, c]) => {
      const mc = c.models.get(model)
      return mc !== undefined && mc.requests >= config.minRequests ? [mc] : []
    })
    if (history.length < config.minBaselineHours) continue
    const baseline = Stats.robust(history.map((mc) => memo.costPerRequestOf(mc)))!
    if (baseline.median.isZero()) continue
    const cpr = memo.costPerRequestOf(m)
    const z = Stats.modifiedZ(cpr, baseline, baseline.median.times(config.minRelativeSpread))
    const ratio = cpr.dividedBy(baseline.median)
    results.push({
      model,
      cpr,
      baseline,
      z,
      ratio,
      requests: m.requests,
      tokensPerRequest: D(m.tokens).dividedBy(m.requests),
      usualTokensPerRequest: Stats.median(history.map((mc) => D(mc.tokens).dividedBy(mc.requests)))!,
      deviating: z.greaterThanOrEqualTo(config.minZ) && ratio.greaterThanOrEqualTo(config.minRatio)
    })
  }
  if (results.length === 0) return notEvaluable("below-floor")
  const deviating = results.filter((r) => r.deviating).sort((a, b) => b.ratio.comparedTo(a.ratio) || a.model.localeCompare(b.model))
  const top = deviating[0]
  if (top === undefined) return normal(Math.max(...results.map((r) => r.z.toNumber())))
  return {
    status: "deviating",
    draft: {
      kind: "cost_per_request_jump",
      scope: series.scope,
      currency: series.currency,
      windowStart: hour,
      windowEnd: hour + HOUR,
      severity: top.ratio.greaterThanOrEqualTo(config.criticalRatio) ? "critical" : "warning",
      observed: top.cpr.toDecimalPlaces(12),
      expected: top.baseline.median.toDecimalPlaces(12),
      statistic: "modified_z",
      score: top.z.toDecimalPlaces(4),
      summary: `${Anomaly.scopeKey(series.scope)}: cost per request of ${top.model} was ${money(top.cpr.toDecimalPlaces(6))} ${series.currency} in the hour from ${
        iso(hour)
      }, ${times(top.ratio)} its usual ${money(top.baseline.median.toDecimalPlaces(6))} (tokens per request ${
        top.tokensPerRequest.toDecimalPlaces(0).toFixed(0)
      } vs ${top.usualTokensPerRequest.toDecimalPlaces(0).toFixed(0)})`,
      evidence: {
        window: window(hour, hour + HOUR),
        baseline: {
          method: `the same model's hours with at least ${config.minRequests} requests in the previous ${config.baselineDays} days`,
          from: iso(hour - config.baselineDays * DAY),
          to: iso(hour)
        },
        statistic: { name: "modified_z", value: stat(top.z), threshold: config.minZ },
        models: results.map((r) => ({
          model: r.model,
          deviating: r.deviating,
          requests: r.requests,
          costPerRequest: money(r.cpr.toDecimalPlaces(12)),
          usualCostPerRequest: money(r.baseline.median.toDecimalPlaces(12)),
          mad: money(r.baseline.mad.toDecimalPlaces(12)),
          comparedHours: r.baseline.n,
          ratio: stat(r.ratio),
          modifiedZ: stat(r.z),
          tokensPerRequest: stat(r.tokensPerRequest),
          usualTokensPerRequest: stat(r.usualTokensPerRequest)
        }))
      },
      calls: { from: hour, to: hour + HOUR }
    }
  }
}
