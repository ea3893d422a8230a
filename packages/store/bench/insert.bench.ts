/**
 * Ledger insert throughput against real PostgreSQL, beside three bare baselines of the same rows.
 *
 * Each batch of generated priced calls is generated once (not timed) and written, one path after
 * the other in the same run, by:
 *
 * - `ledger`: the full ledger path (`UsageLedger.insertBatch`: checks, event hashes, idempotency
 *   keys, month partitions, ledger rows, rollup increments and the daily summaries their triggers
 *   keep, one transaction per batch);
 * - `copy`: a bare `COPY ... FROM STDIN` (text format, node-postgres with pg-copy-streams, since
 *   the store's driver speaks no COPY) into a table with the ledger's columns and no key, index,
 *   idempotency or rollups: the goal's baseline;
 * - `unnest`: the same bare table filled by `INSERT ... SELECT FROM unnest($1::text[], ...)`, one
 *   typed array per column bound in binary: the statement shape the ledger path uses;
 * - `insert`: the same bare table filled by a multi-row `INSERT ... VALUES` (two statements of 500
 *   rows: the protocol's parameter count is 16 bits), the baseline of earlier rounds.
 *
 * Then the profile of what the ledger path spends, per stage, on fresh rows: `rowWork` (checks,
 * hashes, arrays; no database), `idsAndLedger` (the batch statement without the rollup CTE: what
 * moving rollups off the insert transaction would leave), and the ledger path with 2 writers at
 * once (as two workers' batches: one tenant, then two tenants).
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
import * as CheckedRecord from "../src/internal/CheckedRecord.ts"
import * as LedgerRow from "../src/internal/LedgerRow.ts"
import * as RollupSql from "../src/internal/RollupSql.ts"
import pg from "pg"
import { from as copyFrom } from "pg-copy-streams"
import { pipeline } from "node:stream/promises"
import { Readable } from "node:stream"

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

/** A value in COPY's text format: `\N` for null, backslash escapes for the separators. */
const copyText = (value: unknown): string => {
  if (value === null || value === undefined) return "\\N"
  const text = value instanceof Date ? value.toISOString() : typeof value === "boolean" ? (value ? "t" : "f") : String(value)
  return text.replace(/[\\\t\n\r]/g, (ch) => (ch === "\\" ? "\\\\" : ch === "\t" ? "\\t" : ch === "\n" ? "\\n" : "\\r"))
}

/**
 * The ledger's batch statement (as `UsageLedger` runs it) with its rollup step swapped: `upsert`
 * (as today), `none` (what moving rollups off the insert transaction would leave) or `append` (the
 * batch's aggregate appended to an unindexed table, to be folded into the rollups later).
 */
const batchStatement = (rollup: "upsert" | "none" | "append") => `WITH input AS (SELECT * FROM ${LedgerRow.unnestInput(2)}),
  ids AS (
    INSERT INTO tally.usage_request_ids (tenant_id, ${LedgerRow.idColumns.join(", ")})
    SELECT $1, ${LedgerRow.idColumns.join(", ")} FROM input ORDER BY request_id
    ON CONFLICT DO NOTHING RETURNING request_id
  ),
  ledger AS (
    INSERT INTO tally.usage_ledger (tenant_id, ${LedgerRow.ledgerColumns.join(", ")})
    SELECT $1, ${LedgerRow.ledgerColumns.map((c) => `input.${c}`).join(", ")} FROM input JOIN ids USING (request_id)
    ORDER BY input.occurred_at, input.request_id
    RETURNING ${RollupSql.sourceColumns.join(", ")}
  )${
  rollup === "upsert"
    ? `, rollup AS (${RollupSql.upsert(RollupSql.aggregate("ledger"))})`
    : rollup === "append"
    ? `, rollup AS (INSERT INTO bench_rollup_pending (${RollupSql.insertColumns.join(", ")}) ${RollupSql.aggregate("ledger")})`
    : ""
}
  SELECT count(*)::int AS n FROM ids`

/** Every column of a call as the ledger path writes it: ledger row and payload row together. */
const allColumns = [...LedgerRow.ledgerColumns, ...LedgerRow.payloadColumns]

/**
 * Where the raw payload and the breakdown live: `inline` in the ledger row (before 0022), `raw` in
 * a side table (0022), `rawAndBreakdown` in a side table (the next step). Bare tables with the
 * ledger's keys and indexes, no rollups, so that only the layout differs.
 */
const layouts = {
  inline: [] as ReadonlyArray<string>,
  raw: LedgerRow.payloadColumns as ReadonlyArray<string>,
  rawAndBreakdown: [...LedgerRow.payloadColumns, "cost_breakdown"]
}
type Layout = keyof typeof layouts
const layoutStatement = (layout: Layout) => {
  const moved = layouts[layout]
  const kept = allColumns.filter((c) => !moved.includes(c))
  const main = `INSERT INTO bench_${layout} (tenant_id, ${kept.join(", ")}) SELECT $1, ${kept.join(", ")} FROM input`
  return moved.length === 0
    ? `WITH input AS (SELECT * FROM ${LedgerRow.unnestInput(2)}) ${main}`
    : `WITH input AS (SELECT * FROM ${LedgerRow.unnestInput(2)}),
        side AS (
          INSERT INTO bench_${layout}_side (tenant_id, occurred_at, request_id, ${moved.join(", ")})
          SELECT $1, occurred_at, request_id, ${moved.join(", ")} FROM input
        )
        ${main}`
}

const program = Effect.gen(function*() {
  const db = yield* Database.Database
  const { sql } = db
  const ledger = yield* UsageLedger
  const tenants = yield* Tenants
  const tenantId = (yield* tenants.create({ name: "Bench" })).id
  const otherTenantId = (yield* tenants.create({ name: "Bench 2" })).id
  // The ledger's columns and its payload's, without key, index, idempotency or rollups.
  yield* sql`CREATE TABLE bench_bare (LIKE tally.usage_ledger INCLUDING DEFAULTS, raw jsonb, raw_text text)`
  const [{ name: databaseName }] = (yield* sql<{ name: string }>`SELECT current_database() AS name`) as [{ name: string }]

  // node-postgres, only for the COPY baseline: the store's driver does not speak COPY.
  const copyUrl = new URL(url)
  copyUrl.pathname = `/${databaseName}`
  const copyClient = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: copyUrl.toString() })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end())
  )
  const copyStatement = `COPY bench_bare (${bareColumns.map(([name]) => name).join(", ")}) FROM STDIN`
  const copy = (calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
    Effect.promise(async () => {
      const lines: Array<string> = []
      for (const c of calls) lines.push(bareColumns.map(([, get]) => copyText(get(c, tenantId))).join("\t") + "\n")
      await copyClient.query("BEGIN")
      await pipeline(Readable.from([lines.join("")]), copyClient.query(copyFrom(copyStatement)))
      await copyClient.query("COMMIT")
    })

  const unnestStatement = `INSERT INTO bench_bare (tenant_id, ${allColumns.join(", ")})
    SELECT $1, ${allColumns.join(", ")} FROM ${LedgerRow.unnestInput(2)}`
  // Checked (hashed) before the clock starts: the bare path does no ledger work, only the arrays.
  const unnest = (_: ReadonlyArray<UsageRecord.UsageRecord>, checked: ReadonlyArray<CheckedRecord.Checked>) =>
    sql.withTransaction(Effect.suspend(() => sql.unsafe(unnestStatement, [tenantId, ...LedgerRow.arrays(checked)])))

  // The wire protocol's parameter count is 16 bits (the client caps it at 32,767), so a batch of
  // 1,000 rows with 53 columns goes as two statements of 500 rows, in one transaction.
  const perStatement = Math.floor(32_767 / bareColumns.length)
  const chunk = Math.ceil(batchSize / Math.ceil(batchSize / perStatement))
  const statements = new Map<number, string>()
  const insert = (calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
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

  const paths = {
    ledger: (calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
      Effect.flatMap(ledger.insertBatch(tenantId, calls), (result) =>
        result.inserted === calls.length
          ? Effect.void
          : Effect.die(new Error(`expected ${calls.length} inserted, got ${result.inserted}`))),
    copy,
    unnest,
    insert
  }
  const elapsed: Record<keyof typeof paths, Duration.Duration> = {
    ledger: Duration.zero,
    copy: Duration.zero,
    unnest: Duration.zero,
    insert: Duration.zero
  }

  const check = (calls: ReadonlyArray<UsageRecord.UsageRecord>) => calls.map(CheckedRecord.check) as Array<CheckedRecord.Checked>
  for (let i = 0; i < warmupBatches; i++) {
    const calls = batch()
    const checked = check(calls)
    for (const run of Object.values(paths)) yield* run(calls, checked)
  }
  for (let done = 0; done < totalRows; done += batchSize) {
    const calls = batch()
    const checked = check(calls)
    for (const [path, run] of Object.entries(paths) as Array<[keyof typeof paths, typeof unnest]>) {
      const [took] = yield* Effect.timed(run(calls, checked))
      elapsed[path] = Duration.sum(elapsed[path], took)
    }
  }

  const [counts] = yield* sql<{ ledger: bigint; bare: bigint; rollups: string }>`SELECT
      (SELECT count(*) FROM tally.usage_ledger) AS ledger,
      (SELECT count(*) FROM bench_bare) AS bare,
      (SELECT sum(request_count)::text FROM tally.usage_rollups_hourly) AS rollups`
  const expected = BigInt(totalRows + warmupBatches * batchSize)
  if (counts!.ledger !== expected || counts!.bare !== 3n * expected || counts!.rollups !== String(expected)) {
    return yield* Effect.die(new Error(`row counts disagree: ${JSON.stringify(counts, (_, v) => String(v))}`))
  }

  const rate = (rows: number, took: Duration.Duration) => Math.round(rows / (Duration.toMillis(took) / 1000))
  const line = (path: string, rows: number, took: Duration.Duration, extra: Record<string, unknown> = {}) => {
    const seconds = Duration.toMillis(took) / 1000
    console.log(JSON.stringify({ bench: "store.insert", path, rows, batch: batchSize, seconds: Number(seconds.toFixed(3)), rowsPerSecond: rate(rows, took), ...extra }))
  }
  for (const [path, took] of Object.entries(elapsed)) line(path, totalRows, took)
  const ledgerRate = rate(totalRows, elapsed.ledger)
  const ratio = (baseline: Duration.Duration) => Number((ledgerRate / rate(totalRows, baseline)).toFixed(3))
  console.log(JSON.stringify({
    bench: "store.insert",
    ratioToCopy: ratio(elapsed.copy),
    ratioToUnnest: ratio(elapsed.unnest),
    ratioToInsert: ratio(elapsed.insert),
    goal: { rowsPerSecond: 20_000, ratioToCopy: 0.5 },
    ok: ledgerRate >= 20_000 && ratio(elapsed.copy) >= 0.5
  }))

  // Profile of the ledger path, on fresh rows (a quarter of the run per variant).
  yield* sql`CREATE TABLE bench_rollup_pending (LIKE tally.usage_rollups_hourly)`
  yield* sql`GRANT INSERT ON bench_rollup_pending TO tally_app`
  for (const [layout, moved] of Object.entries(layouts)) {
    yield* sql.unsafe(`CREATE TABLE bench_${layout} (LIKE tally.usage_ledger INCLUDING ALL, raw jsonb, raw_text text)`)
    if (moved.length === 0) continue
    yield* sql.unsafe(`ALTER TABLE bench_${layout} ${moved.map((c) => `DROP COLUMN ${c}`).join(", ")}`)
    yield* sql.unsafe(`CREATE TABLE bench_${layout}_side (
      tenant_id text NOT NULL, occurred_at timestamptz NOT NULL, request_id text NOT NULL,
      raw jsonb, raw_text text, cost_breakdown jsonb, PRIMARY KEY (tenant_id, occurred_at, request_id))`)
  }
  const profileRows = Math.max(batchSize, Math.floor(totalRows / 4 / batchSize) * batchSize)
  const ledgerTriggers = (yield* sql<{ name: string }>`SELECT tgname AS name FROM pg_trigger
    WHERE tgrelid = 'tally.usage_ledger'::regclass AND NOT tgisinternal AND tgname LIKE '%\_insert'`).map((t) => t.name)
  const setLedgerTriggers = (action: "ENABLE" | "DISABLE") =>
    Effect.forEach(ledgerTriggers, (name) => sql.unsafe(`ALTER TABLE tally.usage_ledger ${action} TRIGGER ${name}`), { discard: true })
  const variants: Record<string, (arrays: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown>> = {
    "statement.upsertRollups": (arrays: ReadonlyArray<unknown>) => db.withTenant(tenantId, sql.unsafe(batchStatement("upsert"), [tenantId, ...arrays])),
    "statement.noRollups": (arrays: ReadonlyArray<unknown>) => db.withTenant(tenantId, sql.unsafe(batchStatement("none"), [tenantId, ...arrays])),
    "statement.appendRollups": (arrays: ReadonlyArray<unknown>) => db.withTenant(tenantId, sql.unsafe(batchStatement("append"), [tenantId, ...arrays])),
    // What the ledger's statement triggers (0023's daily cost summary) add: the same statement with
    // them switched off for this batch (the switching is not timed).
    ...(ledgerTriggers.length === 0 ? {} : {
      "statement.upsertRollups.withoutLedgerTriggers": (arrays: ReadonlyArray<unknown>) =>
        Effect.acquireUseRelease(
          setLedgerTriggers("DISABLE"),
          () => Effect.timed(db.withTenant(tenantId, sql.unsafe(batchStatement("upsert"), [tenantId, ...arrays]))),
          () => Effect.orDie(setLedgerTriggers("ENABLE"))
        )
    }),
    ...Object.fromEntries(Object.keys(layouts).map((layout) => [
      `layout.${layout}`,
      (arrays: ReadonlyArray<unknown>) => sql.withTransaction(sql.unsafe(layoutStatement(layout as Layout), [tenantId, ...arrays]))
    ]))
  }
  let rowWork = Duration.zero
  const profile: Record<string, Duration.Duration> = {}
  for (let done = 0; done < profileRows; done += batchSize) {
    for (const [variant, run] of Object.entries(variants)) {
      const calls = batch()
      const [workTook, arrays] = yield* Effect.timed(Effect.sync(() => LedgerRow.arrays(check(calls))))
      rowWork = Duration.sum(rowWork, workTook)
      const [took, result] = yield* Effect.timed(run(arrays))
      // A variant that times itself (switching triggers around it) returns its own [duration, _].
      const own = Array.isArray(result) && Duration.isDuration(result[0]) ? result[0] as Duration.Duration : took
      profile[variant] = Duration.sum(profile[variant] ?? Duration.zero, own)
    }
  }
  const variantCount = Object.keys(variants).length
  line("ledger.rowWork", profileRows * variantCount, rowWork, { note: "checks, event hashes, arrays; no database" })
  for (const variant of Object.keys(variants)) line(variant, profileRows, profile[variant]!, { note: "arrays given" })
  const heapBytesPerRow: Record<string, number> = {}
  for (const [layout, moved] of Object.entries(layouts)) {
    const [size] = yield* sql.unsafe<{ heap: string; side: string | null; rows: string }>(`SELECT
        pg_relation_size('bench_${layout}')::text AS heap,
        ${moved.length === 0 ? "NULL" : `pg_total_relation_size('bench_${layout}_side')::text`} AS side,
        (SELECT count(*) FROM bench_${layout})::text AS rows`)
    heapBytesPerRow[layout] = Math.round(Number(size!.heap) / Number(size!.rows))
    if (size!.side !== null) heapBytesPerRow[`${layout}.sideTable`] = Math.round(Number(size!.side) / Number(size!.rows))
  }
  console.log(JSON.stringify({
    bench: "store.insert",
    heapBytesPerRow,
    note: "ledger heap a period scan reads, per call, by layout; the side table (with its key) beside it"
  }))

  // Two writers at once, as two workers' batches: each writes profileRows / 2.
  const writers = (tenantOf: (writer: number) => string) =>
    Effect.timed(Effect.forEach([0, 1], (writer) =>
      Effect.gen(function*() {
        for (let done = 0; done < profileRows / 2; done += batchSize) {
          yield* ledger.insertBatch(tenantOf(writer), batch())
        }
      }), { concurrency: 2, discard: true }))
  const contentionBefore = yield* ledger.contention
  const [sameTenant] = yield* writers(() => tenantId)
  const [twoTenants] = yield* writers((writer) => (writer === 0 ? tenantId : otherTenantId))
  const contentionAfter = yield* ledger.contention
  line("ledger.2writers.oneTenant", profileRows, sameTenant)
  line("ledger.2writers.twoTenants", profileRows, twoTenants, {
    retriedDeadlocks: contentionAfter.deadlocks - contentionBefore.deadlocks
  })
})

const layer = Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(url))).pipe(Layer.orDie)

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(layer))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
