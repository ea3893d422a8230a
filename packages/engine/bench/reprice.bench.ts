/**
 * Repricing throughput against real PostgreSQL.
 *
 * Records `TALLY_BENCH_ROWS` calls (default 20,000) of a model no price book knows, spread over 30
 * days and 8 teams, through the store's batch path (`UsageLedger.insertBatch`, batches of 1,000):
 * all `unpriced`. Then adds the model's price and measures:
 *   - the first reprice of the month: every call newly priced (a correction entry each, rollups
 *     and daily summaries moved, one transaction per 500 calls);
 *   - a second reprice: every call read and priced again, nothing changes, nothing is written;
 *   - the batch insert of the same number of calls, as the baseline of this machine in this run.
 * Prints one JSON line per measurement.
 *
 *   node --conditions=source packages/engine/bench/reprice.bench.ts
 *
 * TALLY_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) is the server;
 * the bench creates its own database there and drops it afterwards.
 */
import { Catalog } from "@tally/catalog"
import type { UsageRecord } from "@tally/core"
import { Database, Store, Tenants, UsageLedger } from "@tally/store"
import { DateTime, Effect, Layer, Redacted } from "effect"
import * as Reprice from "../src/Reprice.ts"
import * as TenantPricing from "../src/TenantPricing.ts"

const url = process.env.TALLY_BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres"
const rows = Number(process.env.TALLY_BENCH_ROWS || 20_000)
const teams = ["search", "ads", "chat", "mail", "maps", "docs", "ml", "ops"]
const start = Date.UTC(2026, 0, 1)

const unpriced = (i: number, prefix: string): UsageRecord.UsageRecord => ({
  requestId: `${prefix}-${i}`,
  occurredAt: DateTime.makeUnsafe(start + Math.floor((i * 30 * 86_400_000) / rows)),
  provider: "openai",
  api: "span",
  model: "bench-onprem",
  definitionId: null,
  snapshotId: null,
  usage: { tokens: { inputText: 1_000 + (i % 997), outputText: 100 + (i % 89) } },
  breakdown: null,
  total: null,
  costSource: "unpriced",
  unpricedReason: "no-rule-matched: no price for openai/bench-onprem",
  reportedCost: null,
  reportedCurrency: null,
  difference: null,
  labels: { team: teams[i % teams.length]! },
  tags: {},
  raw: { tokens: { inputText: 1_000 + (i % 997), outputText: 100 + (i % 89) } }
})

const log = (line: Record<string, unknown>) => console.log(JSON.stringify(line))

const seconds = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const began = performance.now()
    const value = yield* effect
    return { value, seconds: (performance.now() - began) / 1000 }
  })

const insert = (tenantId: string, prefix: string) =>
  Effect.gen(function*() {
    const ledger = yield* UsageLedger.UsageLedger
    for (let i = 0; i < rows; i += 1_000) {
      const batch = Array.from({ length: Math.min(1_000, rows - i) }, (_, j) => unpriced(i + j, prefix))
      const result = yield* ledger.insertBatch(tenantId, batch)
      if (result.inserted !== batch.length) return yield* Effect.die(new Error(`inserted ${result.inserted} of ${batch.length}`))
    }
  })

const program = Effect.gen(function*() {
  const tenantId = (yield* Tenants.Tenants.use((t) => t.create({ name: "Bench" }))).id
  const other = (yield* Tenants.Tenants.use((t) => t.create({ name: "Baseline" }))).id
  const inserted = yield* seconds(insert(tenantId, "r"))
  log({ bench: "reprice", measure: "insert (baseline)", rows, seconds: inserted.seconds, rowsPerSecond: Math.round(rows / inserted.seconds) })
  yield* TenantPricing.TenantPricing.use((p) =>
    p.createDefinition(tenantId, { id: "bench/onprem", provider: "openai", modelKey: "bench-onprem", price: { rates: { inputText: "0.60", outputText: "0.60" } } })
  )
  const month = { from: DateTime.makeUnsafe(start), to: DateTime.makeUnsafe(start + 31 * 86_400_000) }
  const first = yield* seconds(Reprice.Repricing.use((r) => r.reprice(tenantId, { ...month, actor: "bench" })))
  log({
    bench: "reprice",
    measure: "first run (all newly priced)",
    rows,
    repriced: first.value.repriced,
    seconds: first.seconds,
    rowsPerSecond: Math.round(rows / first.seconds),
    totals: Reprice.summaryJson(first.value).totals
  })
  const second = yield* seconds(Reprice.Repricing.use((r) => r.reprice(tenantId, { ...month, actor: "bench" })))
  log({ bench: "reprice", measure: "second run (nothing changes)", rows, repriced: second.value.repriced, seconds: second.seconds, rowsPerSecond: Math.round(rows / second.seconds) })
  const again = yield* seconds(insert(other, "b"))
  log({ bench: "reprice", measure: "insert (baseline, after)", rows, seconds: again.seconds, rowsPerSecond: Math.round(rows / again.seconds) })
})

const store = Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(url)))
const services = Layer.mergeAll(TenantPricing.TenantPricing.layer, Reprice.Repricing.layer).pipe(
  Layer.provideMerge(Layer.merge(store, Catalog.Catalog.layer))
)
await Effect.runPromise(Effect.scoped(Effect.provide(program, services)))
