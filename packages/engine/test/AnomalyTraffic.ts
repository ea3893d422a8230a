/**
 * Generated LLM traffic for the anomaly tests: several workloads with their own labels, models
 * and prompt sizes, a daily cycle peaking mid-afternoon UTC, quieter weekends, Poisson arrivals,
 * log-normal token counts and a nightly batch burst. Deterministic for a seed. Anomalies are
 * injected as extra or altered calls at known hours.
 */
import { CostEngine, Money, PricingSnapshot, type Usage, type UsageRecord } from "@tally/core"
import { UsageLedger } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { ConfigOverrides } from "../src/Anomalies.ts"

export const MINUTE = 60_000
export const HOUR = 3_600_000
export const DAY = 24 * HOUR

/** Monday 2025-03-03T00:00Z: day 5 and 6 are a weekend. */
export const start = Date.UTC(2025, 2, 3)
export const days = 10
/** Hours judged by the tests: the last two days. */
export const judgedFrom = start + 8 * DAY
export const judgedTo = start + 10 * DAY
export const at = (day: number, hour: number, minute = 0) => start + day * DAY + hour * HOUR + minute * MINUTE

const snapshot = (modelKey: string, input: string, output: string) =>
  PricingSnapshot.decodeSnapshot({ provider: "openai", modelKey, rates: { inputText: input, outputText: output } })

/** Per million tokens: a mini model, a mid one and a frontier one. */
export const snapshots = {
  "gpt-4o-mini": snapshot("gpt-4o-mini", "0.15", "0.60"),
  "gpt-4o": snapshot("gpt-4o", "2.50", "10"),
  "claude-opus-4": snapshot("claude-opus-4", "15", "75")
} as const
export type Model = keyof typeof snapshots

/** mulberry32: small, fast, deterministic. */
export const rng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Random = () => number

const normal = (random: Random) => {
  const u = Math.max(random(), 1e-12)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
}

const logNormal = (random: Random, median: number, sigma: number) => Math.max(1, Math.round(median * Math.exp(sigma * normal(random))))

const poisson = (random: Random, lambda: number) => {
  if (lambda > 40) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal(random)))
  const limit = Math.exp(-lambda)
  let k = 0
  let p = random()
  while (p > limit) {
    k++
    p *= random()
  }
  return k
}

export interface Labels {
  readonly project: string
  readonly feature: string
  readonly team: string
  readonly apiKeyId: string
  readonly workflow?: string
}

export interface Workload {
  readonly name: string
  readonly labels: Labels
  /** Calls per hour at the daily peak on a weekday. */
  readonly peakPerHour: number
  readonly models: ReadonlyArray<readonly [Model, number]>
  readonly inputMedian: number
  readonly outputMedian: number
}

export const workloads: ReadonlyArray<Workload> = [
  {
    name: "search",
    labels: { project: "search", feature: "semantic-search", team: "core", apiKeyId: "key_search" },
    peakPerHour: 60,
    models: [["gpt-4o-mini", 0.85], ["gpt-4o", 0.15]],
    inputMedian: 6_000,
    outputMedian: 300
  },
  {
    name: "assistant",
    labels: { project: "chat", feature: "assistant", team: "growth", apiKeyId: "key_chat" },
    peakPerHour: 40,
    models: [["gpt-4o", 1]],
    inputMedian: 8_000,
    outputMedian: 600
  },
  {
    name: "summarize",
    labels: { project: "chat", feature: "summarize", team: "growth", apiKeyId: "key_chat" },
    peakPerHour: 30,
    models: [["gpt-4o-mini", 1]],
    inputMedian: 12_000,
    outputMedian: 400
  },
  {
    name: "agents",
    labels: { project: "agents", feature: "research-agent", team: "core", apiKeyId: "key_agents" },
    peakPerHour: 25,
    models: [["gpt-4o", 0.7], ["claude-opus-4", 0.3]],
    inputMedian: 20_000,
    outputMedian: 1_500
  }
]

/** Every night 02:00-02:30 UTC: a burst of digest calls, part of normal life. */
export const nightly: Workload = {
  name: "nightly",
  labels: { project: "batch", feature: "digest", team: "growth", apiKeyId: "key_batch" },
  peakPerHour: 150,
  models: [["gpt-4o-mini", 1]],
  inputMedian: 8_000,
  outputMedian: 500
}

export const customers = ["acme", "globex", "initech", "umbrella"] as const

/** Share of the peak rate in a UTC hour: a bell around 15:00, a floor at night, weekends at 60%. */
export const dailyFactor = (millis: number) => {
  const date = new Date(millis)
  const hour = date.getUTCHours() + date.getUTCMinutes() / 60
  const weekday = date.getUTCDay()
  const weekend = weekday === 0 || weekday === 6 ? 0.6 : 1
  return (0.12 + 0.88 * Math.exp(-(((hour - 15) / 4.5) ** 2))) * weekend
}

export interface Call {
  readonly occurredAt: number
  readonly model: Model
  readonly inputText: number
  readonly outputText: number
  readonly labels: Labels
  readonly customer: string
}

const pick = <A>(random: Random, weighted: ReadonlyArray<readonly [A, number]>): A => {
  let r = random()
  for (const [value, weight] of weighted) {
    if (r < weight) return value
    r -= weight
  }
  return weighted[weighted.length - 1]![0]
}

export const callOf = (random: Random, workload: Workload, occurredAt: number, overrides: Partial<Call> = {}): Call => ({
  occurredAt,
  model: pick(random, workload.models),
  inputText: logNormal(random, workload.inputMedian, 0.45),
  outputText: logNormal(random, workload.outputMedian, 0.5),
  labels: workload.labels,
  customer: customers[Math.floor(random() * customers.length)]!,
  ...overrides
})

/** Calls of one workload in one hour at `factor` times its peak rate. */
export const hourOf = (random: Random, workload: Workload, hour: number, factor = dailyFactor(hour)): Array<Call> => {
  const n = poisson(random, workload.peakPerHour * factor)
  return Array.from({ length: n }, () => callOf(random, workload, hour + Math.floor(random() * HOUR)))
}

/** `days` of ordinary traffic from `start`. */
export const cleanTraffic = (seed: number): Array<Call> => {
  const random = rng(seed)
  const calls: Array<Call> = []
  for (let hour = start; hour < start + days * DAY; hour += HOUR) {
    for (const workload of workloads) calls.push(...hourOf(random, workload, hour))
    if (new Date(hour).getUTCHours() === 2) {
      for (let i = 0; i < nightly.peakPerHour; i++) calls.push(callOf(random, nightly, hour + Math.floor(random() * 30 * MINUTE)))
    }
  }
  return calls
}

export const toUsageRecord = (call: Call, requestId: string): UsageRecord.UsageRecord => {
  const usage: Usage.Usage = { tokens: { inputText: call.inputText, outputText: call.outputText } }
  const breakdown = Result.getOrThrow(CostEngine.price(usage, snapshots[call.model]))
  return {
    requestId,
    occurredAt: DateTime.makeUnsafe(call.occurredAt),
    provider: "openai",
    model: call.model,
    definitionId: `openai/${call.model}`,
    snapshotId: breakdown.snapshotId,
    usage,
    breakdown,
    total: breakdown.total,
    costSource: "computed",
    unpricedReason: null,
    reportedCost: null,
    reportedCurrency: null,
    difference: null,
    labels: { ...call.labels, customer: call.customer },
    tags: {},
    raw: { generated: true }
  }
}

/** Records calls through the real ledger, in batches; fails the test if any call is refused. */
export const record = (tenantId: string, calls: ReadonlyArray<Call>, prefix = "call") =>
  Effect.gen(function*() {
    const ledger = yield* UsageLedger.UsageLedger
    const sorted = [...calls].sort((a, b) => a.occurredAt - b.occurredAt)
    for (let i = 0; i < sorted.length; i += 1_000) {
      const batch = sorted.slice(i, i + 1_000).map((call, j) => toUsageRecord(call, `${prefix}-${i + j}`))
      const result = yield* ledger.insertBatch(tenantId, batch)
      if (result.inserted !== batch.length) {
        return yield* Effect.die(new Error(`expected ${batch.length} inserted, got ${JSON.stringify(result.items.find((item) => item.status !== "inserted"))}`))
      }
    }
    return sorted.length
  })

const workload = (name: string) => workloads.find((w) => w.name === name)!

/** An anomaly the injected traffic contains, and the finding it must produce. */
export interface Expected {
  readonly kind: "spend_spike" | "token_rate_spike" | "model_mix_shift" | "cost_per_request_jump"
  readonly scope: { readonly kind: "project" | "feature" | "team" | "apiKey"; readonly value: string }
  readonly windowStart: number
  readonly severity: "info" | "warning" | "critical"
}

/** Where the anomalies are: day 9 (a Wednesday), from 10:00 on. */
export const injections = {
  /** feature=semantic-search: prompts five times longer from 10:00 on (same models). */
  promptGrowth: at(9, 10),
  /** feature=summarize: gpt-4o-mini silently replaced by claude-opus-4 from 12:00 on. */
  modelSwap: at(9, 12),
  /** project=agents: ten times its usual calls in the hour from 13:00. */
  agentsBurst: at(9, 13),
  /** feature=assistant: three and a half times its usual calls in the hour from 14:00. */
  assistantBurst: at(9, 14),
  /** apiKey=key_agents, workflow trace-runaway: a call every 3 s from 16:10 to 16:40, context growing. */
  runawayLoop: at(9, 16, 10)
} as const

export const expected: ReadonlyArray<Expected> = [
  { kind: "model_mix_shift", scope: { kind: "feature", value: "summarize" }, windowStart: injections.modelSwap, severity: "critical" },
  {
    kind: "cost_per_request_jump",
    scope: { kind: "feature", value: "semantic-search" },
    windowStart: injections.promptGrowth,
    severity: "critical"
  },
  { kind: "spend_spike", scope: { kind: "project", value: "agents" }, windowStart: injections.agentsBurst, severity: "critical" },
  { kind: "spend_spike", scope: { kind: "feature", value: "assistant" }, windowStart: injections.assistantBurst, severity: "warning" },
  { kind: "token_rate_spike", scope: { kind: "apiKey", value: "key_agents" }, windowStart: at(9, 16), severity: "critical" }
]

export const runawayWorkflow = "trace-runaway"

/** Clean traffic of `seed` with the anomalies above; the clean calls they alter keep their ids' order. */
export const injectedTraffic = (seed: number): Array<Call> => {
  const random = rng(seed + 7_919)
  const calls = cleanTraffic(seed).map((call) =>
    call.labels.feature === "summarize" && call.occurredAt >= injections.modelSwap
      ? { ...call, model: "claude-opus-4" as const }
      : call.labels.feature === "semantic-search" && call.occurredAt >= injections.promptGrowth
      ? { ...call, inputText: call.inputText * 5 }
      : call
  )
  const agents = workload("agents")
  const assistant = workload("assistant")
  calls.push(...hourOf(random, agents, injections.agentsBurst, dailyFactor(injections.agentsBurst) * 9))
  calls.push(...hourOf(random, assistant, injections.assistantBurst, dailyFactor(injections.assistantBurst) * 2.5))
  for (let i = 0; i < 600; i++) {
    calls.push({
      occurredAt: injections.runawayLoop + i * 3_000,
      model: "gpt-4o",
      inputText: 20_000 + i * 60,
      outputText: 300,
      labels: { ...agents.labels, workflow: runawayWorkflow },
      customer: "acme"
    })
  }
  return calls
}

/** Scopes the injected traffic does not touch at all: any finding there is a false positive. */
export const untouchedScopes = [
  { kind: "project", value: "batch" },
  { kind: "feature", value: "digest" },
  { kind: "apiKey", value: "key_batch" }
] as const

/** Thresholds for the generated tenant (~$50 a day): the defaults' floors suit larger tenants. */
export const testThresholds: ConfigOverrides = {
  spend: { minSpend: new Money.Decimal("0.1"), minExcess: new Money.Decimal("0.1"), minAbsoluteSpread: new Money.Decimal("0.01") },
  modelMix: { minSpend: new Money.Decimal("0.1"), minRequests: 10 },
  costPerRequest: { minSpend: new Money.Decimal("0.05"), minRequests: 10 },
  tokenRate: { minTokensPerMinute: 20_000 }
}

export const decimal = (text: string): Money.Decimal => new Money.Decimal(text)
