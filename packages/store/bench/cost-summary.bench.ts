/**
 * What the daily cost summary (migration 0023) costs the write path: the same generated priced
 * calls through `UsageLedger.insertBatch` (batches of 1,000, one transaction each) with the
 * summary's insert trigger on and off, and on with the foreign key from the summary's tenant to
 * the tenants that 0023 had before it was dropped (`fk`: the trigger as first merged), rotating
 * batch by batch so that all see the same load on a shared machine. Off is the write path before
 * 0023 (the baseline).
 *
 * Prints one JSON line per mode (rows/s, ms per batch p50) and the ratios to off.
 *
 *   node packages/store/bench/cost-summary.bench.ts
 *
 * TALLY_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) is the server;
 * the bench makes a throwaway database there. TALLY_BENCH_ROWS (default 40,000) and
 * TALLY_BENCH_BATCH (1,000) override the sizes. TALLY_BENCH_SPREAD=1 spreads the calls over 90 days
 * with independent labels (as the insert bench does): nearly every call then writes its own summary
 * rows, the worst case; by default a batch spans a day with correlated labels, as live traffic.
 */
import { CostEngine, PricingSnapshot, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Database from "../src/Database.ts"
import * as Store from "../src/Store.ts"
import { Tenants } from "../src/Tenants.ts"
import { UsageLedger } from "../src/UsageLedger.ts"

const url = process.env.TALLY_BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres"
const totalRows = Number(process.env.TALLY_BENCH_ROWS || 40_000)
const batchSize = Number(process.env.TALLY_BENCH_BATCH || 1_000)
const spread = process.env.TALLY_BENCH_SPREAD === "1"

const snapshot = PricingSnapshot.decodeSnapshot({
  provider: "openai",
  modelKey: "gpt-4o",
  rates: { inputText: "2.50", cacheRead: "1.25", outputText: "10", reasoning: "10" }
})
const teams = ["search", "chat", "ads", "growth", "ml", "infra", "data", "mobile", "web", "payments", "risk", "support"]

const call = (index: number): UsageRecord.UsageRecord => {
  const usage = { tokens: { inputText: 1_000 + (index % 7_000), cacheRead: index % 3_000, outputText: 100 + (index % 1_900), reasoning: index % 500 } }
  const breakdown = Result.getOrThrow(CostEngine.price(usage, snapshot))
  // Independent pseudo-random labels and minute within 90 days for the spread data.
  const h = Math.imul(index + 1, 2654435761) >>> 0
  return {
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
    snapshotId: breakdown.snapshotId,
    breakdown,
    total: breakdown.total,
    costSource: "computed",
    unpricedReason: null,
    reportedCost: null,
    reportedCurrency: null,
    difference: null
  }
}

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const program = Effect.gen(function*() {
  const { sql } = yield* Database.Database
  const tenantId = (yield* Tenants.use((t) => t.create({ name: "Bench Co" }))).id
  const ledger = yield* UsageLedger
  const modes = ["on", "off", "fk"] as const
  const samples = { on: [] as Array<number>, off: [] as Array<number>, fk: [] as Array<number> }
  const batches = Math.ceil(totalRows / batchSize)
  for (let b = 0; b < batches; b++) {
    const mode = modes[b % modes.length]!
    yield* sql.unsafe(`ALTER TABLE tally.usage_ledger ${mode === "off" ? "DISABLE" : "ENABLE"} TRIGGER usage_cost_daily_insert`).unprepared
    if (mode === "fk") {
      yield* sql.unsafe(`ALTER TABLE tally.usage_cost_daily ADD CONSTRAINT bench_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tally.tenants (id) NOT VALID`).unprepared
    }
    const calls = Array.from({ length: batchSize }, (_, i) => call(b * batchSize + i))
    const t0 = process.hrtime.bigint()
    yield* ledger.insertBatch(tenantId, calls)
    // The first batch of each mode warms up.
    if (b >= modes.length) samples[mode].push(Number(process.hrtime.bigint() - t0) / 1e6)
    if (mode === "fk") yield* sql.unsafe(`ALTER TABLE tally.usage_cost_daily DROP CONSTRAINT bench_tenant_fk`).unprepared
  }
  yield* sql.unsafe(`ALTER TABLE tally.usage_ledger ENABLE TRIGGER usage_cost_daily_insert`).unprepared
  const line = (mode: (typeof modes)[number]) => {
    const ms = samples[mode].reduce((a, b) => a + b, 0)
    return { bench: "cost-summary", trigger: mode, batches: samples[mode].length, rowsPerSecond: Math.round((samples[mode].length * batchSize) / (ms / 1000)), p50BatchMs: Math.round(percentile(samples[mode], 50)) }
  }
  const on = line("on")
  const off = line("off")
  const fk = line("fk")
  console.log(JSON.stringify(off))
  console.log(JSON.stringify(on))
  console.log(JSON.stringify(fk))
  const ratio = (what: string, a: { rowsPerSecond: number }) =>
    console.log(JSON.stringify({ bench: "cost-summary", ratio: what, value: Number((a.rowsPerSecond / off.rowsPerSecond).toFixed(3)) }))
  ratio("rows/s with the 0023 trigger / without", on)
  ratio("rows/s with the trigger and the summary's former tenant foreign key / without", fk)
})

await Effect.runPromise(
  program.pipe(Effect.provide(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(url))).pipe(Layer.orDie)))
)
