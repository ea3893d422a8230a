/**
 * Chargeback run time over a large generated ledger in real PostgreSQL.
 *
 * Generates `TALLY_BENCH_ROWS` priced calls (default 10,000,000) for one tenant, spread evenly over
 * `TALLY_BENCH_DAYS` days from 2025-01-01 (default 90), through the store's bulk path
 * (`UsageLedger.insertBatch`, batches of 1,000, two writers): 12 teams with uneven traffic, a shared
 * "platform" team, 8% of calls without a team, two models, 8% provider-priced and 2% unpriced
 * calls, raw payloads kept. Then measures, on January (31 of the 90 days):
 *   - spend by team, FOCUS cost groups and the cost at risk, each from the ledger (the baseline) and
 *     from its daily summary (0023, 0028)
 *   - showback by team (proportional, platform shared): p50 / p95 of `TALLY_BENCH_ITERATIONS` runs
 *   - a stored run by team (the same plus writing the draft)
 *   - runs by cost center and by a tag (`tag:region`, read from the ledger's jsonb)
 *   - finalizing January, recording 1,000 late January calls, and February's run with corrections
 *   - the FOCUS export of January's run, and the usage export of one day
 * Prints one JSON line per measurement, with the load average when it ended.
 *
 * On a shared 2-core machine the bulk path writes 1,000 to 5,000 rows a second, so 10M rows take
 * hours. TALLY_BENCH_BULK_ROWS (default: all) writes only that many through the bulk path and
 * reaches TALLY_BENCH_ROWS by copying those ledger rows in SQL under new request ids (same
 * instants, labels and costs; rollups and idempotency keys are not copied, chargeback reads
 * neither). The JSON lines say how the rows were made.
 *
 *   node packages/engine/bench/chargeback.bench.ts
 *
 * TALLY_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) is the server.
 * The generated database (`tally_bench_chargeback_<rows>`) is dropped afterwards unless
 * TALLY_BENCH_KEEP=1, in which case a later run with the same sizes reuses it and skips generation.
 */
import { CostAllocation, CostEngine, Money, PricingSnapshot, type Usage, type UsageRecord } from "@tally/core"
import { ChargebackLedger, CostAtRisk, Database, Store, Tenants, UsageLedger } from "@tally/store"
import { DateTime, Effect, Layer, Redacted, Stream } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Result from "effect/Result"
import { loadavg } from "node:os"
// The engine does not depend on the SQL driver itself; the bench borrows the store's copy.
import * as PgClient from "../../store/node_modules/@effect/sql-pg/dist/PgClient.js"
import * as Chargeback from "../src/chargeback/index.ts"

const serverUrl = process.env.TALLY_BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres"
const totalRows = Number(process.env.TALLY_BENCH_ROWS || 10_000_000)
const bulkRows = Math.min(totalRows, Number(process.env.TALLY_BENCH_BULK_ROWS || totalRows))
const days = Number(process.env.TALLY_BENCH_DAYS || 90)
const batchSize = Number(process.env.TALLY_BENCH_BATCH || 1_000)
const writers = Number(process.env.TALLY_BENCH_WRITERS || 2)
const iterations = Number(process.env.TALLY_BENCH_ITERATIONS || 5)
const keep = process.env.TALLY_BENCH_KEEP === "1"
const dbName = `tally_bench_chargeback_${totalRows}_${bulkRows}_${days}`

const start = Date.UTC(2025, 0, 1)
const span = days * 86_400_000

// A small deterministic generator: every run builds the same ledger.
const rng = (seed: number) => {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const snapshots = [
  PricingSnapshot.decodeSnapshot({
    provider: "openai",
    modelKey: "gpt-4o",
    rates: { inputText: "2.50", cacheRead: "1.25", outputText: "10", reasoning: "10" },
    units: { perThousandWebSearches: "25" }
  }),
  PricingSnapshot.decodeSnapshot({
    provider: "anthropic",
    modelKey: "claude-sonnet-4",
    rates: { inputText: "3", cacheRead: "0.30", cacheWrite5m: "3.75", outputText: "15" }
  })
]
const teams = ["search", "chat", "ads", "growth", "ml", "infra", "data", "mobile", "web", "payments", "risk", "support"]
/** Uneven traffic: team i gets weight 1/(i+1). */
const teamWeights = (() => {
  const w = teams.map((_, i) => 1 / (i + 1))
  const sum = w.reduce((a, b) => a + b, 0)
  let acc = 0
  return w.map((x) => (acc += x / sum))
})()

const call = (index: number, occurredAt: number, prefix = "r"): UsageRecord.UsageRecord => {
  const random = rng(index * 2654435761)
  const int = (max: number) => Math.floor(random() * max)
  const snapshot = snapshots[index % 2]!
  const anthropic = snapshot.provider === "anthropic"
  const tokens: Usage.TokenCounts = anthropic
    ? { inputText: int(20_000), cacheRead: int(50_000), cacheWrite5m: int(2_000), outputText: int(4_000) }
    : { inputText: int(8_000), cacheRead: int(4_000), outputText: int(2_000), reasoning: int(1_000) }
  const usage: Usage.Usage = anthropic ? { tokens } : { tokens, webSearches: int(3) }
  const breakdown = Result.getOrThrow(CostEngine.price(usage, snapshot))
  const requestId = `${prefix}-${index.toString(36).padStart(8, "0")}`
  const who = random()
  const team = who < 0.08 ? undefined : who < 0.16 ? "platform" : teams[teamWeights.findIndex((c) => c >= random())] ?? teams[0]!
  const base = {
    requestId,
    occurredAt: DateTime.makeUnsafe(occurredAt),
    provider: snapshot.provider,
    api: anthropic ? "messages" : "chat.completions",
    model: snapshot.modelKey,
    definitionId: `${snapshot.provider}/${snapshot.modelKey}`,
    usage,
    labels: {
      ...(team === undefined ? {} : { team }),
      project: `project-${int(6)}`,
      environment: random() < 0.8 ? "prod" : "staging",
      costCenter: `cc-${int(8)}`,
      customer: `customer-${int(50)}`
    },
    tags: { region: random() < 0.5 ? "us" : "eu" },
    raw: { id: requestId, model: snapshot.modelKey, usage: { prompt_tokens: (tokens.inputText ?? 0) + (tokens.cacheRead ?? 0), completion_tokens: tokens.outputText ?? 0 } }
  }
  const kind = random()
  if (kind < 0.9) {
    return { ...base, snapshotId: breakdown.snapshotId, breakdown, total: breakdown.total, costSource: "computed", unpricedReason: null, reportedCost: null, reportedCurrency: null, difference: null }
  }
  if (kind < 0.98) {
    const reported = breakdown.total.times("1.001")
    return { ...base, snapshotId: breakdown.snapshotId, breakdown, total: reported, costSource: "provider", unpricedReason: null, reportedCost: reported, reportedCurrency: "USD", difference: reported.minus(breakdown.total) }
  }
  return { ...base, definitionId: null, snapshotId: null, breakdown: null, total: null, costSource: "unpriced", unpricedReason: "no model definition matches", reportedCost: null, reportedCurrency: null, difference: null }
}

/** Evenly over the period, in index order, so every batch touches one month partition or two. */
const instantOf = (index: number): number => start + Math.floor((index * span) / bulkRows)

const log = (line: Record<string, unknown>) => console.log(JSON.stringify(line))
const progress = (message: string) => console.error(`chargeback bench: ${message}`)

const millis = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const time = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const t0 = process.hrtime.bigint()
    const value = yield* effect
    return { value, ms: millis(t0) }
  })

/** A statement on the server's own database (create or drop the bench database). */
const admin = (statement: string) =>
  Effect.scoped(
    Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(serverUrl), maxConnections: 1 })
      return yield* sql.unsafe(statement)
    })
  ).pipe(Effect.provide(Reactivity.layer))

const dbUrl = (() => {
  const url = new URL(serverUrl)
  url.pathname = `/${dbName}`
  return url.toString()
})()

const program = Effect.gen(function*() {
  const exists = (yield* admin(`SELECT 1 FROM pg_database WHERE datname = '${dbName}'`)).length > 0
  if (!exists) yield* admin(`CREATE DATABASE ${dbName}`)
  const layer = Layer.mergeAll(Chargeback.Chargeback.layer, ChargebackLedger.ChargebackLedger.layer).pipe(
    Layer.provideMerge(Store.layerWith(Database.layerPostgres({ url: Redacted.make(dbUrl), maxConnections: writers + 2 })))
  )
  return yield* Effect.gen(function*() {
    const { sql } = yield* Database.Database
    yield* sql`CREATE TABLE IF NOT EXISTS public.bench_meta (tenant_id text NOT NULL, rows bigint NOT NULL, complete boolean NOT NULL)`
    const [meta] = yield* sql<{ tenant_id: string; complete: boolean }>`SELECT tenant_id, complete FROM public.bench_meta`
    let tenantId: string
    if (meta?.complete === true) {
      tenantId = meta.tenant_id
      progress(`reusing ${totalRows} rows in ${dbName}; removing the runs and late calls of the last session`)
      // The bench's own database: as its owner, lift the immutability triggers to start over.
      for (const statement of [
        "ALTER TABLE tally.chargeback_runs DISABLE TRIGGER USER",
        "ALTER TABLE tally.chargeback_lines DISABLE TRIGGER USER",
        "ALTER TABLE tally.chargeback_audit DISABLE TRIGGER USER",
        "ALTER TABLE tally.chargeback_cost_groups DISABLE TRIGGER USER",
        "DELETE FROM tally.chargeback_cost_groups",
        "DELETE FROM tally.chargeback_audit",
        "DELETE FROM tally.chargeback_lines",
        "DELETE FROM tally.chargeback_runs",
        "ALTER TABLE tally.chargeback_runs ENABLE TRIGGER USER",
        "ALTER TABLE tally.chargeback_lines ENABLE TRIGGER USER",
        "ALTER TABLE tally.chargeback_audit ENABLE TRIGGER USER",
        "ALTER TABLE tally.chargeback_cost_groups ENABLE TRIGGER USER",
        "DELETE FROM tally.usage_ledger WHERE request_id LIKE 'late-%'",
        // Their raw payloads (0022) too, or recording the late calls again collides with them.
        "DELETE FROM tally.usage_payloads WHERE request_id LIKE 'late-%'",
        "DELETE FROM tally.usage_request_ids WHERE request_id LIKE 'late-%'"
      ]) yield* sql.unsafe(statement).unprepared
    } else {
      if (meta !== undefined) {
        progress(`an earlier generation did not finish; drop database ${dbName} (or run without TALLY_BENCH_KEEP) and start again`)
        return yield* Effect.die(new Error("incomplete bench database"))
      }
      tenantId = (yield* Tenants.Tenants.use((t) => t.create({ name: "Bench Co" }))).id
      yield* sql`INSERT INTO public.bench_meta VALUES (${tenantId}, ${totalRows}, false)`
      progress(`generating ${bulkRows} rows through the bulk path${totalRows > bulkRows ? `, then copying to ${totalRows}` : ""}`)
      const ledger = yield* UsageLedger.UsageLedger
      const batches = Math.ceil(bulkRows / batchSize)
      const t0 = process.hrtime.bigint()
      let done = 0
      let next = 0
      const writer = Effect.gen(function*() {
        while (next < batches) {
          const b = next++
          const calls: Array<UsageRecord.UsageRecord> = []
          for (let i = b * batchSize; i < Math.min(bulkRows, (b + 1) * batchSize); i++) calls.push(call(i, instantOf(i)))
          const result = yield* ledger.insertBatch(tenantId, calls)
          if (result.inserted !== calls.length) return yield* Effect.die(new Error(`batch ${b}: ${result.inserted} of ${calls.length} inserted`))
          done++
          if (done % Math.max(1, Math.floor(batches / 40)) === 0) {
            const s = millis(t0) / 1000
            progress(`${done * batchSize} rows in ${s.toFixed(0)} s (${Math.round((done * batchSize) / s)} rows/s)`)
          }
        }
      })
      yield* Effect.all(Array.from({ length: writers }, () => writer), { concurrency: "unbounded" })
      const seconds = millis(t0) / 1000
      log({ bench: "chargeback", step: "generate through UsageLedger.insertBatch", rows: bulkRows, days, seconds: Math.round(seconds), rowsPerSecond: Math.round(bulkRows / seconds) })
      if (totalRows > bulkRows) {
        const columns = (yield* sql<{ column_name: string }>`SELECT column_name FROM information_schema.columns
          WHERE table_schema = 'tally' AND table_name = 'usage_ledger' ORDER BY ordinal_position`).map((c) => c.column_name)
        const list = columns.join(", ")
        const select = columns.map((c) => (c === "request_id" ? "request_id || '-c' || $1::text" : c === "ingested_at" ? "now()" : c)).join(", ")
        const copies = Math.ceil(totalRows / bulkRows) - 1
        const t1 = process.hrtime.bigint()
        for (let k = 1; k <= copies; k++) {
          const limit = Math.min(bulkRows, totalRows - k * bulkRows)
          yield* sql.unsafe(
            `INSERT INTO tally.usage_ledger (${list})
              SELECT ${select} FROM tally.usage_ledger WHERE tenant_id = $2 AND request_id NOT LIKE '%-c%'
              ORDER BY occurred_at, request_id LIMIT $3`,
            [String(k), tenantId, limit]
          )
          progress(`copied ${k} of ${copies}`)
        }
        const copySeconds = millis(t1) / 1000
        log({ bench: "chargeback", step: "copy ledger rows in SQL", rows: totalRows - bulkRows, seconds: Math.round(copySeconds) })
      }
      yield* sql`UPDATE public.bench_meta SET complete = true`
    }
    yield* sql.unsafe("VACUUM ANALYZE tally.usage_ledger").unprepared
    const [{ rows, size }] = (yield* sql<{ rows: string; size: string }>`SELECT
        (SELECT count(*) FROM tally.usage_ledger WHERE occurred_at >= '2025-01-01' AND occurred_at < '2025-02-01')::text AS rows,
        pg_size_pretty(pg_total_relation_size('tally.usage_ledger_2025_01')) AS size`) as unknown as [{ rows: string; size: string }]
    progress(`January: ${rows} rows, partition ${size}`)

    const service = yield* Chargeback.Chargeback
    const january = { month: "2025-01", dimension: "team", shared: ["platform"] } as const
    const measure = Effect.fnUntraced(function*(step: string, n: number, effect: Effect.Effect<unknown, unknown>) {
      const samples: Array<number> = []
      for (let i = 0; i < n; i++) samples.push((yield* time(effect)).ms)
      log({ bench: "chargeback", step, monthRows: Number(rows), iterations: n, p50Ms: Math.round(percentile(samples, 50)), p95Ms: Math.round(percentile(samples, 95)), minMs: Math.round(Math.min(...samples)), loadAverage: loadavg().map((l) => Number(l.toFixed(2))) })
    })

    // The two sources side by side: the ledger scan every run read before the daily cost summary
    // (0023), and the summary. Same amounts (the store's tests check it); here, their time.
    const reader = yield* ChargebackLedger.ChargebackLedger
    const janPeriod = { from: DateTime.makeUnsafe("2025-01-01T00:00:00Z"), to: DateTime.makeUnsafe("2025-02-01T00:00:00Z") }
    const byTeam = Result.getOrThrow(CostAllocation.Dimension.parse("team"))
    const spendFrom = (source: "ledger" | "auto") =>
      Effect.flatMap(reader.asOf(tenantId), (asOf) => reader.spend(tenantId, { ...janPeriod, dimension: byTeam, asOf, source }))
    const [fromLedger, fromSummary] = [yield* spendFrom("ledger"), yield* spendFrom("auto")]
    const sameSpend = JSON.stringify(fromLedger.owners.map((o) => [o.owner, o.currency, Money.format(o.cost), o.requests]).sort()) ===
      JSON.stringify(fromSummary.owners.map((o) => [o.owner, o.currency, Money.format(o.cost), o.requests]).sort())
    const [{ summaryRows }] = (yield* sql<{ summaryRows: string }>`SELECT count(*)::text AS "summaryRows" FROM tally.usage_cost_daily
      WHERE day >= '2025-01-01' AND day < '2025-02-01' AND dimension = 'team'`) as unknown as [{ summaryRows: string }]
    log({ bench: "chargeback", step: "January spend by team: both sources agree", same: sameSpend, summaryRows: Number(summaryRows) })
    yield* measure("spend January by team: ledger scan (the path before 0023, baseline)", Math.min(iterations, 3), spendFrom("ledger"))
    yield* measure("spend January by team: daily cost summary", iterations, spendFrom("auto"))
    const groupsFrom = (source: "ledger" | "auto") =>
      Effect.flatMap(reader.asOf(tenantId), (asOf) => reader.costGroups(tenantId, { ...janPeriod, dimension: byTeam, asOf, currency: "USD", source }))
    yield* measure("FOCUS cost groups of January by team: ledger jsonb expansion (baseline)", 1, groupsFrom("ledger"))
    yield* measure("FOCUS cost groups of January by team: daily cost summary", iterations, groupsFrom("auto"))

    // The cost at risk a run reports: the ledger's partial and unpriced rows (the path before 0028)
    // and the daily at-risk summary.
    const atRisk = yield* CostAtRisk.CostAtRisk
    const atRiskFrom = (source: "ledger" | "auto") =>
      Effect.flatMap(reader.asOf(tenantId), (asOf) => atRisk.report(tenantId, { ...janPeriod, ingestedBy: asOf, source }))
    const plainRisk = (r: CostAtRisk.CostAtRiskReport) =>
      JSON.stringify([r.partialCalls, r.unpricedCalls, r.components.map((c) => [c.component, c.unit, Money.format(c.quantity), c.calls])])
    const riskSummary = yield* Effect.flatMap(reader.asOf(tenantId), (asOf) => atRisk.summaryReport(tenantId, { ...janPeriod, ingestedBy: asOf }))
    const riskLedger = yield* atRiskFrom("ledger")
    const [{ atRiskRows }] = (yield* sql<{ atRiskRows: string }>`SELECT count(*)::text AS "atRiskRows" FROM tally.usage_at_risk_daily
      WHERE day >= '2025-01-01' AND day < '2025-02-01'`) as unknown as [{ atRiskRows: string }]
    log({
      bench: "chargeback",
      step: "January cost at risk: both sources agree",
      fromSummary: riskSummary !== undefined,
      same: riskSummary !== undefined && plainRisk(riskSummary) === plainRisk(riskLedger),
      atRiskCalls: riskLedger.partialCalls + riskLedger.unpricedCalls,
      summaryRows: Number(atRiskRows)
    })
    yield* measure("cost at risk of January: ledger's partial and unpriced rows (the path before 0028, baseline)", Math.min(iterations, 3), atRiskFrom("ledger"))
    yield* measure("cost at risk of January: daily at-risk summary", iterations, atRiskFrom("auto"))

    yield* measure("showback January by team (proportional, platform shared)", iterations, service.showback(tenantId, january))
    yield* measure("run January by team (stored draft)", iterations, service.run(tenantId, january))
    yield* measure("run January by cost center, even split", Math.min(iterations, 3), service.run(tenantId, { month: "2025-01", dimension: "costCenter", rule: { kind: "even" } }))
    yield* measure("run January by tag:region (jsonb)", Math.min(iterations, 3), service.run(tenantId, { month: "2025-01", dimension: "tag:region" }))

    const final = yield* service.run(tenantId, january)
    yield* service.finalize(tenantId, final.id, { finalizedBy: "bench" })
    const late = Array.from({ length: 1000 }, (_, i) => call(totalRows + i, Date.UTC(2025, 0, 10) + i * 60_000, "late"))
    yield* UsageLedger.UsageLedger.use((l) => l.insertBatch(tenantId, late))
    const february = yield* time(service.run(tenantId, { month: "2025-02", dimension: "team", shared: ["platform"] }))
    log({
      bench: "chargeback",
      step: "run February by team with January final and 1,000 late January calls (recomputes January)",
      ms: Math.round(february.ms),
      corrections: february.value.lines.filter((l) => l.kind === "correction").length
    })
    yield* measure("run February by team, January already re-checked in a draft (late check again)", Math.min(iterations, 3), service.run(tenantId, { month: "2025-02", dimension: "team", shared: ["platform"] }))

    const focus = yield* time(service.focus(tenantId, final.id))
    log({ bench: "chargeback", step: "FOCUS rows of January's run", ms: Math.round(focus.ms), rows: focus.value.rows.length, total: Money.format(focus.value.run.total) })
    const csv = yield* time(Effect.sync(() => CostAllocation.Csv.focus(focus.value.rows)))
    log({ bench: "chargeback", step: "FOCUS CSV of January's run", ms: Math.round(csv.ms), bytes: csv.value.length })

    const day = { from: DateTime.makeUnsafe("2025-01-15T00:00:00Z"), to: DateTime.makeUnsafe("2025-01-16T00:00:00Z") }
    const usage = yield* time(Effect.flatMap(service.usage(tenantId, day), ({ csv }) => Stream.runFold(csv, () => 0, (n, chunk) => n + chunk.length)))
    log({ bench: "chargeback", step: "usage export of one day (FOCUS CSV, streamed)", ms: Math.round(usage.ms), bytes: usage.value, callsPerSecond: Math.round((Number(rows) / 31) / (usage.ms / 1000)) })
  }).pipe(Effect.provide(layer))
})

await Effect.runPromise(
  program.pipe(
    Effect.ensuring(keep ? Effect.void : Effect.ignore(admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)))
  )
)
