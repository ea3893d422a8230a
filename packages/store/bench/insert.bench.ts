/**
 * Ledger insert throughput against real PostgreSQL.
 *
 * Inserts 200,000 generated priced calls in batches of 1,000 through the full ledger path
 * (`UsageLedger.insertBatch`: checks, event hashes, idempotency keys, month partitions, ledger
 * rows, rollup increments, one transaction per batch), and the same rows as a raw multi-row
 * INSERT into a bare table with the ledger's columns and no key, index, idempotency or rollups
 * (two statements of 500 rows per batch, since a statement takes at most 32,767 parameters).
 * Each batch is generated once and fed to both paths; generation is not timed.
 *
 * Prints one JSON line per path and one with the ratio (goal: ledger >= 40% of bare).
 *
 *   node packages/store/bench/insert.bench.ts
 *
 * TALLY_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) is the server;
 * the bench creates its own database there and drops it afterwards. TALLY_BENCH_ROWS and
 * TALLY_BENCH_BATCH override the sizes.
 */
import { CostBreakdown, CostEngine, Money, PricingSnapshot, type Usage, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Database from "../src/Database.ts"
import * as Store from "../src/Store.ts"
import { Tenants } from "../src/Tenants.ts"
import { UsageLedger } from "../src/UsageLedger.ts"

const url = process.env.TALLY_BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres"
const totalRows = Number(process.env.TALLY_BENCH_ROWS || 200_000)
const batchSize = Number(process.env.TALLY_BENCH_BATCH || 1_000)
const warmupBatches = 3

// A small deterministic generator, so every run inserts the same data.
const random = (() => {
  let state = 0x7a11c0de
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
})()
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
const int = (max: number) => Math.floor(random() * max)

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
    rates: { inputText: "3", cacheRead: "0.30", cacheWrite5m: "3.75", cacheWrite1h: "6", outputText: "15" }
  })
]
const projects = ["search", "chat", "agents", "summaries", "support"]
const teams = ["core", "growth", "platform", "ml"]
const customers = Array.from({ length: 50 }, (_, i) => `customer-${i}`)
const start = Date.UTC(2025, 0, 1)
const span = 90 * 24 * 3_600_000

const call = (index: number): UsageRecord.UsageRecord => {
  const snapshot = snapshots[index % snapshots.length]!
  const anthropic = snapshot.provider === "anthropic"
  const tokens: Usage.TokenCounts = anthropic
    ? { inputText: int(20_000), cacheRead: int(50_000), cacheWrite5m: int(2_000), outputText: int(4_000) }
    : { inputText: int(8_000), cacheRead: int(4_000), outputText: int(2_000), reasoning: int(1_000) }
  const usage: Usage.Usage = anthropic ? { tokens } : { tokens, webSearches: int(3) }
  const breakdown = Result.getOrThrow(CostEngine.price(usage, snapshot))
  const requestId = `${anthropic ? "msg" : "chatcmpl"}-${index.toString(36).padStart(10, "0")}`
  const raw = {
    id: requestId,
    model: snapshot.modelKey,
    usage: anthropic
      ? {
        input_tokens: tokens.inputText ?? 0,
        cache_read_input_tokens: tokens.cacheRead ?? 0,
        cache_creation_input_tokens: tokens.cacheWrite5m ?? 0,
        output_tokens: tokens.outputText ?? 0
      }
      : { prompt_tokens: (tokens.inputText ?? 0) + (tokens.cacheRead ?? 0), completion_tokens: tokens.outputText ?? 0 }
  }
  const kind = random()
  const base = {
    requestId,
    occurredAt: DateTime.makeUnsafe(start + int(span)),
    provider: snapshot.provider,
    api: anthropic ? "messages" : "chat.completions",
    model: snapshot.modelKey,
    definitionId: `${snapshot.provider}/${snapshot.modelKey}`,
    usage,
    labels: {
      project: pick(projects),
      environment: random() < 0.8 ? "prod" : "staging",
      team: pick(teams),
      customer: pick(customers),
      costCenter: `cc-${int(8)}`,
      apiKeyId: `key_${int(20)}`,
      workflow: `trace-${int(1e9).toString(16)}`
    },
    tags: { region: random() < 0.5 ? "us" : "eu" },
    raw,
    ...(index % 10 === 0 ? { rawText: JSON.stringify(raw) } : {})
  }
  if (kind < 0.9) {
    return {
      ...base,
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
  if (kind < 0.98) {
    const reported = breakdown.total.times("1.001")
    return {
      ...base,
      snapshotId: breakdown.snapshotId,
      breakdown,
      total: reported,
      costSource: "provider",
      unpricedReason: null,
      reportedCost: reported,
      reportedCurrency: "USD",
      difference: reported.minus(breakdown.total)
    }
  }
  return {
    ...base,
    definitionId: null,
    snapshotId: null,
    breakdown: null,
    total: null,
    costSource: "unpriced",
    unpricedReason: `no model definition matches "${base.model}"`,
    reportedCost: null,
    reportedCurrency: null,
    difference: null
  }
}

const decimal = (value: Money.Decimal | null | undefined) =>
  value === null || value === undefined ? null : Money.format(value)
const count = (value: number | undefined) => (value === undefined ? null : value)
const json = (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(value))

/** The bare table's columns and how a call fills them: the ledger's columns, as plain values. */
const bareColumns: ReadonlyArray<readonly [string, (c: UsageRecord.UsageRecord, tenantId: string) => unknown]> = [
  ["tenant_id", (_, tenantId) => tenantId],
  ["occurred_at", (c) => DateTime.toDateUtc(c.occurredAt)],
  ["request_id", (c) => c.requestId],
  ["provider", (c) => c.provider],
  ["api", (c) => c.api ?? null],
  ["model", (c) => c.model],
  ["definition_id", (c) => c.definitionId],
  ["snapshot_id", (c) => c.snapshotId],
  ["input_text", (c) => count(c.usage.tokens.inputText)],
  ["cache_read", (c) => count(c.usage.tokens.cacheRead)],
  ["cache_write_5m", (c) => count(c.usage.tokens.cacheWrite5m)],
  ["cache_write_1h", (c) => count(c.usage.tokens.cacheWrite1h)],
  ["input_image", (c) => count(c.usage.tokens.inputImage)],
  ["input_audio", (c) => count(c.usage.tokens.inputAudio)],
  ["input_video", (c) => count(c.usage.tokens.inputVideo)],
  ["output_text", (c) => count(c.usage.tokens.outputText)],
  ["reasoning", (c) => count(c.usage.tokens.reasoning)],
  ["output_image", (c) => count(c.usage.tokens.outputImage)],
  ["output_audio", (c) => count(c.usage.tokens.outputAudio)],
  ["output_video", (c) => count(c.usage.tokens.outputVideo)],
  ["embedding", (c) => count(c.usage.tokens.embedding)],
  ["training", (c) => count(c.usage.tokens.training)],
  ["requests", (c) => count(c.usage.requests)],
  ["images_generated", (c) => json(c.usage.imagesGenerated)],
  ["audio_seconds", (c) => decimal(c.usage.audioSeconds)],
  ["video_seconds", (c) => decimal(c.usage.videoSeconds)],
  ["web_searches", (c) => count(c.usage.webSearches)],
  ["tool_calls", (c) => json(c.usage.toolCalls)],
  ["prompt_tokens", (c) => count(c.usage.promptTokens)],
  ["batch", (c) => c.usage.batch ?? null],
  ["fine_tuned", (c) => c.usage.fineTuned ?? null],
  ["service_tier", (c) => c.usage.serviceTier ?? null],
  ["region", (c) => c.usage.region ?? null],
  ["cost_source", (c) => c.costSource],
  ["unpriced_reason", (c) => c.unpricedReason],
  ["currency", (c) => (c.costSource === "unpriced" ? null : c.costSource === "provider" ? c.reportedCurrency : c.breakdown!.currency)],
  ["total", (c) => decimal(c.total)],
  ["cost_breakdown", (c) => json(c.breakdown === null ? null : CostBreakdown.encode(c.breakdown))],
  ["reported_cost", (c) => decimal(c.reportedCost)],
  ["reported_currency", (c) => c.reportedCurrency],
  ["cost_difference", (c) => decimal(c.difference)],
  ["project", (c) => c.labels.project ?? null],
  ["environment", (c) => c.labels.environment ?? null],
  ["feature", (c) => c.labels.feature ?? null],
  ["team", (c) => c.labels.team ?? null],
  ["customer", (c) => c.labels.customer ?? null],
  ["end_user", (c) => c.labels.endUser ?? null],
  ["workflow", (c) => c.labels.workflow ?? null],
  ["cost_center", (c) => c.labels.costCenter ?? null],
  ["api_key_id", (c) => c.labels.apiKeyId ?? null],
  ["tags", (c) => json(c.tags)],
  ["raw", (c) => json(c.raw)],
  ["raw_text", (c) => c.rawText ?? null]
]

const bareInsertSql = (rows: number) => {
  const width = bareColumns.length
  const tuples = Array.from(
    { length: rows },
    (_, r) => `(${bareColumns.map((_, c) => `$${r * width + c + 1}`).join(", ")})`
  )
  return `INSERT INTO bench_bare (${bareColumns.map(([name]) => name).join(", ")}) VALUES ${tuples.join(", ")}`
}

const program = Effect.gen(function*() {
  const { sql } = yield* Database.Database
  const ledger = yield* UsageLedger
  const tenantId = (yield* (yield* Tenants).create({ name: "Bench" })).id
  yield* sql`CREATE TABLE bench_bare (LIKE tally.usage_ledger INCLUDING DEFAULTS)`

  // The wire protocol's parameter count is 16 bits (the client caps it at 32,767), so a batch of
  // 1,000 rows with 53 columns goes as two statements of 500 rows, in one transaction.
  const perStatement = Math.floor(32_767 / bareColumns.length)
  const chunk = Math.ceil(batchSize / Math.ceil(batchSize / perStatement))
  const statements = new Map<number, string>()
  const bare = (calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
    sql.withTransaction(Effect.forEach(
      Array.from({ length: Math.ceil(calls.length / chunk) }, (_, i) => calls.slice(i * chunk, (i + 1) * chunk)),
      (rows) =>
        Effect.suspend(() => {
          const params: Array<unknown> = []
          for (const c of rows) for (const [, get] of bareColumns) params.push(get(c, tenantId))
          let statement = statements.get(rows.length)
          if (statement === undefined) statements.set(rows.length, statement = bareInsertSql(rows.length))
          return sql.unsafe(statement, params)
        }),
      { discard: true }
    ))

  let next = 0
  const batch = () => Array.from({ length: batchSize }, () => call(next++))

  for (let i = 0; i < warmupBatches; i++) {
    const calls = batch()
    yield* ledger.insertBatch(tenantId, calls)
    yield* bare(calls)
  }

  let ledgerTime = Duration.zero
  let bareTime = Duration.zero
  let inserted = 0
  for (let done = 0; done < totalRows; done += batchSize) {
    const calls = batch()
    const [ledgerElapsed, result] = yield* Effect.timed(ledger.insertBatch(tenantId, calls))
    const [bareElapsed] = yield* Effect.timed(bare(calls))
    ledgerTime = Duration.sum(ledgerTime, ledgerElapsed)
    bareTime = Duration.sum(bareTime, bareElapsed)
    inserted += result.inserted
  }
  if (inserted !== totalRows) return yield* Effect.die(new Error(`expected ${totalRows} inserted, got ${inserted}`))

  const [counts] = yield* sql<{ ledger: bigint; bare: bigint; rollups: string }>`SELECT
      (SELECT count(*) FROM tally.usage_ledger) AS ledger,
      (SELECT count(*) FROM bench_bare) AS bare,
      (SELECT sum(request_count)::text FROM tally.usage_rollups_hourly) AS rollups`
  const expected = BigInt(totalRows + warmupBatches * batchSize)
  if (counts!.ledger !== expected || counts!.bare !== expected || counts!.rollups !== String(expected)) {
    return yield* Effect.die(new Error(`row counts disagree: ${JSON.stringify(counts, (_, v) => String(v))}`))
  }

  const line = (path: string, elapsed: Duration.Duration) => {
    const seconds = Duration.toMillis(elapsed) / 1000
    return { bench: "store.insert", path, rows: totalRows, batch: batchSize, seconds: Number(seconds.toFixed(3)), rowsPerSecond: Math.round(totalRows / seconds) }
  }
  const ledgerLine = line("ledger", ledgerTime)
  const bareLine = line("bare", bareTime)
  const ratio = ledgerLine.rowsPerSecond / bareLine.rowsPerSecond
  console.log(JSON.stringify(ledgerLine))
  console.log(JSON.stringify(bareLine))
  console.log(JSON.stringify({ bench: "store.insert", ratio: Number(ratio.toFixed(3)), goal: 0.4, ok: ratio >= 0.4 }))
})

const layer = Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(url))).pipe(Layer.orDie)

Effect.runPromise(program.pipe(Effect.provide(layer))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
