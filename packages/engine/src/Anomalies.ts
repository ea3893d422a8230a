/**
 * Anomaly detection over the ledger and its hourly rollups, per scope (the tenant, each project,
 * feature, team, customer, API key and model):
 *
 * - `spend_spike`: an hour's spend against the same hour of the previous days (median and MAD,
 *   modified z-score), above a minimum spend;
 * - `token_rate_spike`: minutes burning tokens at several times the scope's busiest normal minutes
 *   (runaway agent loops), from the ledger at minute granularity;
 * - `model_mix_shift`: a step change in the share of spend by model (a mini model silently
 *   replaced by a frontier one);
 * - `cost_per_request_jump`: a model's cost per request rising well above its usual level
 *   (prompt growth).
 *
 * A run evaluates whole UTC hours. Findings are stored with their evidence once per (kind,
 * scope, window, currency) and sent through the outbox in the same transaction; a condition that
 * persists is reported when it starts (see `episodeLookbackHours`), not again every hour.
 * The detectors themselves are core's (`AnomalyDetectors`, pure); this service loads the series
 * through the store's `AnomalyFindings`, runs them hour by hour, and records what they find.
 * Method, thresholds and defaults: docs/anomalies.md.
 */
import { Anomaly, AnomalyDetectors, AnomalySeries, Money } from "@tally/core"
import { AnomalyFindings, type Database, Tenants } from "@tally/store"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"

type Decimal = Money.Decimal
const D = (value: string | number): Decimal => new Money.Decimal(value)

const { ceilTo, DAY, floorTo, HOUR, MINUTE } = AnomalySeries

export interface Config {
  readonly spend: AnomalyDetectors.SpendConfig
  readonly tokenRate: AnomalyDetectors.TokenRateConfig
  readonly modelMix: AnomalyDetectors.ModelMixConfig
  readonly costPerRequest: AnomalyDetectors.CostPerRequestConfig
  /** Complete hours before `at` that `detect` evaluates (again): late data gets a second look. */
  readonly lookbackHours: number
}

export const defaults: Config = {
  spend: {
    baselineDays: 7,
    minHistoryHours: 72,
    minBaselinePoints: 5,
    minSpend: D("1"),
    minExcess: D("1"),
    minRatio: 1.5,
    minZ: 6,
    minRelativeSpread: 0.1,
    minAbsoluteSpread: D("0.1"),
    costDispersion: 2,
    warningRatio: 2,
    criticalRatio: 5,
    episodeLookbackHours: 6
  },
  tokenRate: {
    baselineDays: 7,
    baselineGapHours: 24,
    minBaselineMinutes: 60,
    referenceQuantile: 0.99,
    minRatio: 4,
    minTokensPerMinute: 50_000,
    minSpikeMinutes: 3,
    criticalRatio: 10,
    episodeLookbackHours: 6
  },
  modelMix: {
    baselineDays: 7,
    baselineGapHours: 24,
    minBaselineHours: 24,
    minSpend: D("1"),
    minRequests: 20,
    minShift: 0.3,
    minZ: 5,
    minSpread: 0.02,
    noiseQuantile: 0.98,
    minShiftOverNoise: 0.15,
    criticalShift: 0.6,
    criticalCostImpact: 2,
    confirmHours: 2,
    episodeLookbackHours: 24
  },
  costPerRequest: {
    baselineDays: 7,
    minBaselineHours: 24,
    minRequests: 20,
    minSpend: D("0.5"),
    minRatio: 1.5,
    minZ: 6,
    minRelativeSpread: 0.05,
    criticalRatio: 3,
    confirmHours: 2,
    episodeLookbackHours: 24
  },
  lookbackHours: 2
}

/** Overrides of some thresholds; the rest keep their defaults. */
export interface ConfigOverrides {
  readonly spend?: Partial<AnomalyDetectors.SpendConfig> | undefined
  readonly tokenRate?: Partial<AnomalyDetectors.TokenRateConfig> | undefined
  readonly modelMix?: Partial<AnomalyDetectors.ModelMixConfig> | undefined
  readonly costPerRequest?: Partial<AnomalyDetectors.CostPerRequestConfig> | undefined
  readonly lookbackHours?: number | undefined
}

export const configure = (overrides: ConfigOverrides = {}): Config => ({
  spend: { ...defaults.spend, ...overrides.spend },
  tokenRate: { ...defaults.tokenRate, ...overrides.tokenRate },
  modelMix: { ...defaults.modelMix, ...overrides.modelMix },
  costPerRequest: { ...defaults.costPerRequest, ...overrides.costPerRequest },
  lookbackHours: overrides.lookbackHours ?? defaults.lookbackHours
})

export class InvalidDetection extends Schema.TaggedError<InvalidDetection>()("InvalidDetection", {
  field: Schema.String,
  message: Schema.String
}) {}

export interface DetectOptions {
  readonly tenantId: string
  /** The moment of the run: hours that ended by then are judged, and the minutes so far of the current one for token rates. */
  readonly at: DateTime.Utc
}

export interface DetectRangeOptions {
  readonly tenantId: string
  /** Hours starting in `[from, to)` (widened to whole hours) are judged. */
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  /** Data up to this moment counts; hours not complete by then are judged for token rates only. Default: now. */
  readonly asOf?: DateTime.Utc | undefined
}

export interface DetectionResult {
  readonly tenantId: string
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly asOf: DateTime.Utc
  /** Anomaly.Scope-hours judged per kind (had enough history and signal), whether they deviated or not. */
  readonly evaluated: { readonly [K in Anomaly.Kind]: number }
  /** Anomaly.Scope-hours that deviated, per kind, including those continuing an episode already reported. */
  readonly deviating: { readonly [K in Anomaly.Kind]: number }
  /**
   * Per kind, the judged scope-hour that came closest to deviating without doing so: its statistic
   * (modified z; for token rates the peak's ratio to the reference). For tuning thresholds.
   */
  readonly closest: { readonly [K in Anomaly.Kind]: Closest | null }
  /** Findings recorded by this run. */
  readonly recorded: ReadonlyArray<Anomaly.Finding>
  /** Findings this run produced that were recorded before (an earlier run, a concurrent worker). */
  readonly duplicates: number
}

export interface Closest {
  readonly score: number
  readonly scope: Anomaly.Scope
  readonly hour: DateTime.Utc
}

export interface AnomaliesService {
  readonly config: Config
  /** The scheduled run: the last `lookbackHours` complete hours before `at`, and the current hour's token rates. */
  readonly detect: (options: DetectOptions) => Effect.Effect<DetectionResult, InvalidDetection | SqlError>
  /** Detection over a range of hours (backfill, re-runs). */
  readonly detectRange: (options: DetectRangeOptions) => Effect.Effect<DetectionResult, InvalidDetection | SqlError>
}

/** Hours judged per load: bounds memory on long backfills. */
const CHUNK_HOURS = 7 * 24
/** Longest range one `detectRange` accepts. */
const MAX_RANGE_DAYS = 400

const zeroCounts = (): { [K in Anomaly.Kind]: number } => ({
  spend_spike: 0,
  token_rate_spike: 0,
  model_mix_shift: 0,
  cost_per_request_jump: 0
})

const noClosest = (): { [K in Anomaly.Kind]: Closest | null } => ({
  spend_spike: null,
  token_rate_spike: null,
  model_mix_shift: null,
  cost_per_request_jump: null
})

const confirmations = (draft: AnomalyDetectors.Draft): ReadonlyArray<string> => {
  const list = draft.evidence.confirmedBy
  return Array.isArray(list) ? list.filter((item): item is string => typeof item === "string") : []
}

const maxLookback = (config: Config) =>
  Math.max(
    config.spend.episodeLookbackHours,
    config.tokenRate.episodeLookbackHours,
    config.modelMix.episodeLookbackHours,
    config.costPerRequest.episodeLookbackHours
  )

const validateConfig = (config: Config): InvalidDetection | undefined => {
  const bad = (field: string, message: string) => new InvalidDetection({ field: `config.${field}`, message })
  const positive = (value: number) => Number.isSafeInteger(value) && value > 0
  for (const [name, section] of Object.entries({ spend: config.spend, tokenRate: config.tokenRate, modelMix: config.modelMix, costPerRequest: config.costPerRequest })) {
    if (!positive(section.baselineDays) || section.baselineDays > 60) return bad(`${name}.baselineDays`, "expected a whole number of days from 1 to 60")
    if (!positive(section.episodeLookbackHours) || section.episodeLookbackHours > 168) {
      return bad(`${name}.episodeLookbackHours`, "expected a whole number of hours from 1 to 168")
    }
  }
  for (const [name, hours] of [["modelMix", config.modelMix.confirmHours], ["costPerRequest", config.costPerRequest.confirmHours]] as const) {
    if (!positive(hours) || hours > 24) return bad(`${name}.confirmHours`, "expected a whole number of hours from 1 to 24")
  }
  if (!(config.tokenRate.referenceQuantile > 0 && config.tokenRate.referenceQuantile <= 1)) {
    return bad("tokenRate.referenceQuantile", "expected a quantile in (0, 1]")
  }
  if (!(config.modelMix.minSpread > 0)) return bad("modelMix.minSpread", "expected > 0")
  for (const [name, section] of [["modelMix", config.modelMix], ["tokenRate", config.tokenRate]] as const) {
    if (!Number.isSafeInteger(section.baselineGapHours) || section.baselineGapHours < 0 || section.baselineGapHours >= section.baselineDays * 24) {
      return bad(`${name}.baselineGapHours`, "expected a whole number of hours, shorter than the baseline")
    }
  }
  if (!(config.modelMix.noiseQuantile > 0 && config.modelMix.noiseQuantile <= 1)) {
    return bad("modelMix.noiseQuantile", "expected a quantile in (0, 1]")
  }
  if (!config.spend.minAbsoluteSpread.isPositive() || config.spend.minAbsoluteSpread.isZero()) {
    return bad("spend.minAbsoluteSpread", "expected > 0")
  }
  if (!(config.costPerRequest.minRelativeSpread > 0)) {
    return bad("costPerRequest.minRelativeSpread", "expected > 0")
  }
  if (!Number.isSafeInteger(config.lookbackHours) || config.lookbackHours < 1 || config.lookbackHours > 168) {
    return bad("lookbackHours", "expected a whole number of hours from 1 to 168")
  }
  return undefined
}

export const make = (config: Config) =>
  Effect.gen(function*() {
    const invalidConfig = validateConfig(config)
    if (invalidConfig !== undefined) return yield* invalidConfig
    const findings = yield* AnomalyFindings.AnomalyFindings
    const baselineDays = Math.max(
      config.spend.baselineDays,
      config.tokenRate.baselineDays,
      config.modelMix.baselineDays,
      config.costPerRequest.baselineDays
    )
    const lookback = maxLookback(config)
    const confirmHours = (kind: Anomaly.Kind) =>
      kind === "model_mix_shift" ? config.modelMix.confirmHours : kind === "cost_per_request_jump" ? config.costPerRequest.confirmHours : 1
    const maxConfirm = Math.max(config.modelMix.confirmHours, config.costPerRequest.confirmHours)

    /** Judges the hours in `[fromHour, toHour)` with data up to `asOf`; drafts of new episodes. */
    const judgeChunk = Effect.fnUntraced(function*(tenantId: string, fromHour: number, toHour: number, asOf: number) {
      // Every hour judged may look back `lookback` hours, each of which needs its own baseline,
      // and a step change is confirmed by the hours after it.
      const loadFrom = fromHour - baselineDays * DAY - (lookback + 1) * HOUR
      const hourlyTo = Math.min(toHour + (maxConfirm - 1) * HOUR, floorTo(asOf, HOUR))
      const minutesTo = Math.min(toHour, floorTo(asOf, MINUTE))
      const range = (to: number) => ({ from: DateTime.makeUnsafe(loadFrom), to: DateTime.makeUnsafe(Math.max(to, loadFrom + MINUTE)) })
      const hourlyRows = yield* findings.hourly(tenantId, range(hourlyTo))
      const minuteRows = yield* findings.minutes(tenantId, range(minutesTo))
      const money = AnomalySeries.moneySeries(hourlyRows)
      const minutes = AnomalySeries.minuteSeries(minuteRows)
      const memo = new AnomalyDetectors.Memo()
      const rawCache = new Map<string, AnomalyDetectors.Evaluation>()
      const cache = new Map<string, AnomalyDetectors.Evaluation>()
      const evaluated = zeroCounts()
      const deviating = zeroCounts()
      const closest = noClosest()
      const drafts: Array<AnomalyDetectors.Draft> = []

      /** The detector's verdict on one hour alone. */
      const raw = (kind: Anomaly.Kind, key: string, hour: number): AnomalyDetectors.Evaluation => {
        const cacheKey = `${kind} ${key} ${hour}`
        const cached = rawCache.get(cacheKey)
        if (cached !== undefined) return cached
        let result: AnomalyDetectors.Evaluation
        if (kind === "token_rate_spike") {
          result = AnomalyDetectors.tokenRate(config.tokenRate, minutes.get(key)!, hour, asOf)
        } else {
          const series = money.get(key)!
          // Only complete hours carry money signals: a partial hour always looks cheap.
          result = hour + HOUR > hourlyTo
            ? { status: "not-evaluable", reason: "incomplete hour" }
            : kind === "spend_spike"
            ? AnomalyDetectors.spend(config.spend, series, hour)
            : kind === "model_mix_shift"
            ? AnomalyDetectors.modelMix(config.modelMix, series, hour, memo)
            : AnomalyDetectors.costPerRequest(config.costPerRequest, series, hour, memo)
        }
        rawCache.set(cacheKey, result)
        return result
      }

      /** The verdict with confirmation: a step change deviates only if the next hours deviate too. */
      const evaluate = (kind: Anomaly.Kind, key: string, hour: number): AnomalyDetectors.Evaluation => {
        const cacheKey = `${kind} ${key} ${hour}`
        const cached = cache.get(cacheKey)
        if (cached !== undefined) return cached
        let result = raw(kind, key, hour)
        for (let k = 1; result.status === "deviating" && k < confirmHours(kind); k++) {
          const next = raw(kind, key, hour + k * HOUR)
          if (next.status === "not-evaluable") result = { status: "not-evaluable", reason: "unconfirmed" }
          else if (next.status === "normal") result = { status: "normal", score: next.score }
          else {
            result = {
              status: "deviating",
              draft: {
                ...result.draft,
                evidence: {
                  ...result.draft.evidence,
                  confirmedBy: [...confirmations(result.draft), new Date(hour + k * HOUR).toISOString()]
                }
              }
            }
          }
        }
        cache.set(cacheKey, result)
        return result
      }

      const episodeLookback = (kind: Anomaly.Kind) =>
        kind === "spend_spike"
          ? config.spend.episodeLookbackHours
          : kind === "token_rate_spike"
          ? config.tokenRate.episodeLookbackHours
          : kind === "model_mix_shift"
          ? config.modelMix.episodeLookbackHours
          : config.costPerRequest.episodeLookbackHours

      /**
       * A deviating hour starts an episode unless the latest hour before it that could be judged,
       * within the lookback, deviated too. Hours without enough signal (a quiet night) neither end
       * nor continue an episode, so a lasting change is reported once, not every morning.
       */
      const startsEpisode = (kind: Anomaly.Kind, key: string, hour: number) => {
        for (let h = hour - HOUR; h >= hour - episodeLookback(kind) * HOUR; h -= HOUR) {
          const previous = evaluate(kind, key, h)
          if (previous.status === "not-evaluable") continue
          return previous.status === "normal"
        }
        return true
      }

      const judge = (kind: Anomaly.Kind, key: string, scope: Anomaly.Scope, hour: number) => {
        const result = evaluate(kind, key, hour)
        if (result.status === "not-evaluable") return
        evaluated[kind]++
        if (result.status === "normal") {
          const best = closest[kind]
          if (best === null || result.score > best.score) closest[kind] = { score: result.score, scope, hour: DateTime.makeUnsafe(hour) }
          return
        }
        deviating[kind]++
        if (startsEpisode(kind, key, hour)) drafts.push(result.draft)
      }

      for (let hour = fromHour; hour < toHour; hour += HOUR) {
        for (const [key, series] of money) {
          if (!series.cells.has(hour)) continue
          judge("spend_spike", key, series.scope, hour)
          judge("cost_per_request_jump", key, series.scope, hour)
          if (series.scope.kind !== "model") judge("model_mix_shift", key, series.scope, hour)
        }
        for (const [key, series] of minutes) judge("token_rate_spike", key, series.scope, hour)
      }
      return { evaluated, deviating, closest, drafts }
    })

    const toFinding = Effect.fnUntraced(function*(tenantId: string, draft: AnomalyDetectors.Draft) {
      const calls = yield* findings.involved(tenantId, draft.scope, {
        from: DateTime.makeUnsafe(draft.calls.from),
        to: DateTime.makeUnsafe(draft.calls.to)
      })
      return {
        kind: draft.kind,
        scope: draft.scope,
        windowStart: DateTime.makeUnsafe(draft.windowStart),
        windowEnd: DateTime.makeUnsafe(draft.windowEnd),
        severity: draft.severity,
        currency: draft.currency,
        observed: draft.observed,
        expected: draft.expected,
        statistic: draft.statistic,
        score: draft.score,
        summary: draft.summary,
        evidence: {
          ...draft.evidence,
          calls: {
            from: new Date(draft.calls.from).toISOString(),
            to: new Date(draft.calls.to).toISOString(),
            groups: calls.map((group) => ({
              model: group.model,
              workflow: group.workflow,
              requests: group.requests,
              tokens: group.tokens,
              cost: group.cost.map((c) => ({ currency: c.currency, amount: c.amount })),
              sampleRequestIds: [...group.sampleRequestIds]
            }))
          }
        }
      } satisfies Anomaly.FindingInput
    })

    const detectRange = Effect.fn("Anomalies.detectRange")(function*(options: DetectRangeOptions) {
      const from = floorTo(DateTime.toEpochMillis(options.from), HOUR)
      const to = ceilTo(DateTime.toEpochMillis(options.to), HOUR)
      const asOf = DateTime.toEpochMillis(options.asOf ?? (yield* DateTime.now))
      if (!(to > from)) return yield* new InvalidDetection({ field: "to", message: "expected `to` after `from`" })
      if (to - from > MAX_RANGE_DAYS * DAY) {
        return yield* new InvalidDetection({ field: "from", message: `expected a range of at most ${MAX_RANGE_DAYS} days` })
      }
      const evaluated = zeroCounts()
      const deviating = zeroCounts()
      const closest = noClosest()
      const recorded: Array<Anomaly.Finding> = []
      let duplicates = 0
      for (let start = from; start < to; start += CHUNK_HOURS * HOUR) {
        const chunk = yield* judgeChunk(options.tenantId, start, Math.min(to, start + CHUNK_HOURS * HOUR), asOf)
        for (const kind of Anomaly.kinds) {
          evaluated[kind] += chunk.evaluated[kind]
          deviating[kind] += chunk.deviating[kind]
          const candidate = chunk.closest[kind]
          if (candidate !== null && (closest[kind] === null || candidate.score > closest[kind].score)) closest[kind] = candidate
        }
        if (chunk.drafts.length === 0) continue
        const drafted = yield* Effect.forEach(chunk.drafts, (draft) => toFinding(options.tenantId, draft))
        const result = yield* findings.record(options.tenantId, drafted, yield* DateTime.now).pipe(
          Effect.catchTag("InvalidAnomalyQuery", (error) => Effect.die(error))
        )
        recorded.push(...result.recorded)
        duplicates += result.duplicates
      }
      return {
        tenantId: options.tenantId,
        from: DateTime.makeUnsafe(from),
        to: DateTime.makeUnsafe(to),
        asOf: DateTime.makeUnsafe(asOf),
        evaluated,
        deviating,
        closest,
        recorded,
        duplicates
      } satisfies DetectionResult
    }, Effect.catchTag("InvalidAnomalyQuery", (error) => Effect.die(error)))

    const detect = Effect.fn("Anomalies.detect")(function*(options: DetectOptions) {
      const at = DateTime.toEpochMillis(options.at)
      const currentHour = floorTo(at, HOUR)
      return yield* detectRange({
        tenantId: options.tenantId,
        from: DateTime.makeUnsafe(currentHour - config.lookbackHours * HOUR),
        // The current hour too: its complete minutes are judged for token rates.
        to: DateTime.makeUnsafe(currentHour + HOUR),
        asOf: options.at
      })
    })

    return Anomalies.of({ config, detect, detectRange })
  })

export class Anomalies extends Context.Service<Anomalies, AnomaliesService>()("@tally/engine/Anomalies") {
  /** Detection with the default thresholds, over the store's findings table. */
  static readonly layer: Layer.Layer<Anomalies, never, Database.Database> = Layer.effect(Anomalies, Effect.orDie(make(defaults))).pipe(
    Layer.provide(AnomalyFindings.AnomalyFindings.layer)
  )

  /** Detection with some thresholds overridden; fails with `InvalidDetection` naming a bad one. */
  static readonly layerWith = (overrides: ConfigOverrides): Layer.Layer<Anomalies, InvalidDetection, Database.Database> =>
    Layer.effect(Anomalies, make(configure(overrides))).pipe(Layer.provide(AnomalyFindings.AnomalyFindings.layer))
}

/** `Anomalies.detect` as a function of the context: the entry point for a periodic run. */
export const detectAnomalies = (options: DetectOptions): Effect.Effect<DetectionResult, InvalidDetection | SqlError, Anomalies> =>
  Anomalies.use((anomalies) => anomalies.detect(options))

export interface ScheduleOptions {
  /** Time between runs; runs are aligned to multiples of it (UTC). Default 1 hour. */
  readonly every?: Duration.Input | undefined
  /** How long after each boundary to run, so calls of the hour just ended have landed. Default 5 minutes. */
  readonly delay?: Duration.Input | undefined
  /** Called after each run with the result of every tenant detected without failure (metrics, tests). */
  readonly onRun?: ((results: ReadonlyArray<DetectionResult>) => Effect.Effect<void>) | undefined
}

/**
 * Runs `detect` for every tenant at each boundary (by default 5 minutes past every hour), for as
 * long as the layer lives. A failure is logged and the next run goes ahead; a run that overlaps
 * another worker's records nothing twice.
 */
export const layerSchedule = (
  options: ScheduleOptions = {}
): Layer.Layer<never, never, Anomalies | Tenants.Tenants> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const anomalies = yield* Anomalies
    const tenants = yield* Tenants.Tenants
    const every = Duration.toMillis(options.every ?? "1 hour")
    const delay = Duration.toMillis(options.delay ?? "5 minutes")

    const runAll = Effect.gen(function*() {
      const at = yield* DateTime.now
      const results: Array<DetectionResult> = []
      for (const tenant of yield* tenants.list) {
        const result = yield* anomalies.detect({ tenantId: tenant.id, at }).pipe(
          Effect.catchCause((cause) =>
            Effect.as(
              Effect.logWarning("anomaly detection failed", cause).pipe(Effect.annotateLogs({ tenantId: tenant.id })),
              undefined
            )
          )
        )
        if (result !== undefined) results.push(result)
      }
      if (options.onRun !== undefined) yield* options.onRun(results)
    }).pipe(Effect.catchCause((cause) => Effect.logWarning("anomaly detection run failed", cause)))

    // Runs at every boundary (`delay` past each multiple of `every`). A run that overruns the next
    // boundary, or a process that slept through several, runs once at once and then keeps to the
    // boundaries again: no burst of runs for the hours missed, whose data the next run sees anyway.
    const loop = Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      let next = ceilTo(start - delay, every) + delay
      while (true) {
        const now = yield* Clock.currentTimeMillis
        if (now < next) yield* Effect.sleep(Duration.millis(next - now))
        else next = floorTo(now - delay, every) + delay
        yield* runAll
        next += every
      }
    })
    yield* Effect.forkScoped(loop)
  }))
