/**
 * What the daily summaries kept by the ledger's triggers cost the write path: the daily cost
 * summary (migration 0023) and the daily at-risk summary (0028). The same generated calls through
 * `UsageLedger.insertBatch` (batches of 1,000, one transaction each) in three modes, rotating batch
 * by batch so that all see the same load on a shared machine: `all` (both summaries' insert
 * triggers, the write path now), `cost` (0023's alone: the write path before 0028, the baseline
 * for 0028) and `off` (neither: the write path before 0023).
 *
 * Prints one JSON line per mode (rows/s, ms per batch p50), the ratios, and the load average.
 *
 *   node packages/store/bench/cost-summary.bench.ts
 *
 * TALLY_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) is the server;
 * the bench makes a throwaway database there. TALLY_BENCH_ROWS (default 40,000) and
 * TALLY_BENCH_BATCH (1,000) override the sizes. TALLY_BENCH_AT_RISK (default 0.02) is the share of
 * calls at risk, half of them unpriced and half partial (an unpriced video price). TALLY_BENCH_SPREAD=1
 * spreads the calls over 90 days with independent labels (as the insert bench does): nearly every
 * call then writes its own summary rows, the worst case; by default a batch spans a day with
 * correlated labels, as live traffic.
 */
import { CostEngine, Money, PricingSnapshot, type UsageRecord } from "@tally/core"
import * as Effect from "effect/Effect"
import * as DateTime from "effect/DateTime"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { loadavg } from "node:os"
import * as Database from "../src/Database.ts"
import * as Store from "../src/Store.ts"
import { Tenants } from "../src/Tenants.ts"
import { UsageLedger } from "../src/UsageLedger.ts"

const url = process.env.TALLY_BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres"
const totalRows = Number(process.env.TALLY_BENCH_ROWS || 40_000)
const batchSize = Number(process.env.TALLY_BENCH_BATCH || 1_000)
const spread = process.env.TALLY_BENCH_SPREAD === "1"
const atRisk = Number(process.env.TALLY_BENCH_AT_RISK || 0.02)

const snapshot = PricingSnapshot.decodeSnapshot({
  provider: "openai",
  modelKey: "gpt-4o",
  rates: { inputText: "2.50", cacheRead: "1.25", outputText: "10", reasoning: "10" }
})
const teams = ["search", "chat", "ads", "growth", "ml", "infra", "data", "mobile", "web", "payments", "risk", "support"]

const call = (index: number): UsageRecord.UsageRecord => {
  const usage = { tokens: { inputText: 1_000 + (index % 7_000), cacheRead: index % 3_000, outputText: 100 + (index % 1_900), reasoning: index % 500 } }
  // Independent pseudo-random labels, minute within 90 days and kind of call.
  const h = Math.imul(index + 1, 2654435761) >>> 0
  const kind = (h % 10_000) / 10_000
  const base = {
    requestId: `r-${index}`,
    occurredAt: DateTime.makeUnsafe(Date.UTC(2025, 0, 1) + (spread ? h % 129_600 : index) * 60_000),
    provider: "openai",
    api: "chat.completions",
    model: "gpt-4o",
    definitionId: "openai/gpt-4o",
    usage,
    labels: spread
      ? { team: teams[(h >>> 3) % teams.length]!, project: `project-${(h >>> 9) % 6}`, costCenter: `cc-${(h >>> 15) % 8}` }
      : { team: teams[index % teams.length]!, project: `project-${index % 6}`, costCenter: `cc-${index % 8}` },
    tags: {},
    raw: { id: `r-${index}` },
    reportedCost: null,
    reportedCurrency: null,
    difference: null
  }
  if (kind < atRisk / 2) {
    return { ...base, definitionId: null, snapshotId: null, breakdown: null, total: null, costSource: "unpriced", unpricedReason: "no model definition matches" }
  }
  if (kind < atRisk) {
    const withVideo = { ...usage, videoSeconds: new Money.Decimal(10) }
    const { breakdown } = CostEngine.pricePartial(withVideo, snapshot)
    return { ...base, usage: withVideo, snapshotId: breakdown.snapshotId, breakdown, total: breakdown.total, costSource: "partial", unpricedReason: "missing-rate: no price for videoSeconds" }
  }
  const breakdown = Result.getOrThrow(CostEngine.price(usage, snapshot))
  return { ...base, snapshotId: breakdown.snapshotId, breakdown, total: breakdown.total, costSource: "computed", unpricedReason: null }
}

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const triggers = { cost: "usage_cost_daily_insert", atRisk: "usage_at_risk_daily_insert" } as const
/** The summaries' insert triggers each mode has on. */
const modes = { all: ["cost", "atRisk"], cost: ["cost"], off: [] } as const satisfies Record<string, ReadonlyArray<keyof typeof triggers>>
type Mode = keyof typeof modes

const program = Effect.gen(function*() {
  const { sql } = yield* Database.Database
  const tenantId = (yield* Tenants.use((t) => t.create({ name: "Bench Co" }))).id
  const ledger = yield* UsageLedger
  const order = Object.keys(modes) as Array<Mode>
  const samples: Record<Mode, Array<number>> = { all: [], cost: [], off: [] }
  const setTriggers = (on: ReadonlyArray<keyof typeof triggers>) =>
    Effect.forEach(Object.entries(triggers), ([name, trigger]) =>
      sql.unsafe(`ALTER TABLE tally.usage_ledger ${on.includes(name as keyof typeof triggers) ? "ENABLE" : "DISABLE"} TRIGGER ${trigger}`).unprepared)
  const batches = Math.ceil(totalRows / batchSize)
  for (let b = 0; b < batches; b++) {
    const mode = order[b % order.length]!
    yield* setTriggers(modes[mode])
    const calls = Array.from({ length: batchSize }, (_, i) => call(b * batchSize + i))
    const t0 = process.hrtime.bigint()
    yield* ledger.insertBatch(tenantId, calls)
    // The first batch of each mode warms up.
    if (b >= order.length) samples[mode].push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  yield* setTriggers(modes.all)
  const line = (mode: Mode) => {
    const ms = samples[mode].reduce((a, b) => a + b, 0)
    return { bench: "cost-summary", triggers: mode, batches: samples[mode].length, rowsPerSecond: Math.round((samples[mode].length * batchSize) / (ms / 1000)), p50BatchMs: Math.round(percentile(samples[mode], 50)) }
  }
  const lines = { all: line("all"), cost: line("cost"), off: line("off") }
  for (const mode of order) console.log(JSON.stringify(lines[mode]))
  const ratio = (what: string, a: { rowsPerSecond: number }, b: { rowsPerSecond: number }) =>
    console.log(JSON.stringify({ bench: "cost-summary", ratio: what, value: Number((a.rowsPerSecond / b.rowsPerSecond).toFixed(3)) }))
  ratio("rows/s with both summaries (0023, 0028) / 0023's alone", lines.all, lines.cost)
  ratio("rows/s with 0023's summary / without summaries", lines.cost, lines.off)
  ratio("rows/s with both summaries / without summaries", lines.all, lines.off)
  console.log(JSON.stringify({ bench: "cost-summary", atRisk, spread, loadAverage: loadavg().map((l) => Number(l.toFixed(2))) }))
})

await Effect.runPromise(
  program.pipe(Effect.provide(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(url))).pipe(Layer.orDie)))
)
