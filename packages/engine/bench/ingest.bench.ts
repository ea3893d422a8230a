/**
 * Ingest throughput: events per second through `Ingest.ingest` (decode, normalize, match, price,
 * one ledger call per batch) next to the store's own `UsageLedger.insertBatch` of the same calls already
 * priced, in the same run and database.
 *
 * Events are raw provider payloads as producers send them: OpenAI chat completions (JSON), OpenAI
 * streams (SSE text), Anthropic messages, Gemini generateContent and OTel GenAI span attributes,
 * with varied token counts, cache use and labels; a few use a model the catalog does not know
 * (recorded unpriced). Batches of 500. For every batch: `Ingest.ingest` into one tenant, then the
 * pre-priced calls of the same events (priced outside the timer) through `UsageLedger.insertBatch` into
 * another. A third line runs the same batches through `IngestPipeline` with 4 concurrent
 * submitters (the worker's path: pricing overlaps the previous batch's commit).
 *
 * Prints JSON lines: one per path, and the ratio ingest / bare.
 *
 *   node packages/engine/bench/ingest.bench.ts
 *
 * Real PostgreSQL when TALLY_BENCH_DATABASE_URL or TALLY_TEST_DATABASE_URL is set (a fresh
 * database is created there and dropped afterwards), else PGlite in memory. TALLY_BENCH_EVENTS
 * (default 20,000) and TALLY_BENCH_BATCH (default 500) override the sizes.
 */
import type { UsageRecord } from "@tally/core"
import { Catalog } from "@tally/catalog"
import { Database, Store, Tenants, UsageLedger } from "@tally/store"
import { Duration, Effect, Layer, Redacted } from "effect"
import { Ingest, prepare } from "../src/Ingest.ts"
import { IngestPipeline } from "../src/Pipeline.ts"
import { event } from "./events.ts"

const url = process.env.TALLY_BENCH_DATABASE_URL || process.env.TALLY_TEST_DATABASE_URL || undefined
const totalEvents = Number(process.env.TALLY_BENCH_EVENTS || 20_000)
const batchSize = Number(process.env.TALLY_BENCH_BATCH || 500)
const warmupBatches = 2

const program = Effect.gen(function*() {
  const ingest = yield* Ingest
  const ledger = yield* UsageLedger.UsageLedger
  const tenants = yield* Tenants.Tenants
  const { book } = yield* Catalog.Catalog
  const viaIngest = (yield* tenants.create({ name: "Bench ingest" })).id
  const viaStore = (yield* tenants.create({ name: "Bench store" })).id
  const viaPipeline = (yield* tenants.create({ name: "Bench pipeline" })).id

  let next = 0
  const batch = () => Array.from({ length: batchSize }, () => event(next++))
  /** The same events priced ahead of time, as the store path receives them. */
  const priced = (tenantId: string, events: ReadonlyArray<unknown>): Array<UsageRecord.UsageRecord> =>
    events.flatMap((e) => {
      const p = prepare({ book, tenantId, options: {} }, e)
      return p._tag === "Priced" ? [p.call] : []
    })

  for (let i = 0; i < warmupBatches; i++) {
    const events = batch()
    yield* ingest.ingest(viaIngest, events)
    yield* ledger.insertBatch(viaStore, priced(viaStore, events))
  }

  const batches = Math.ceil(totalEvents / batchSize)
  const kept: Array<ReadonlyArray<unknown>> = []
  let ingestTime = Duration.zero
  let storeTime = Duration.zero
  let prepareTime = Duration.zero
  let inserted = 0
  let unpriced = 0
  let rejected = 0
  for (let b = 0; b < batches; b++) {
    const events = batch()
    kept.push(events)
    const [ingestElapsed, result] = yield* Effect.timed(ingest.ingest(viaIngest, events))
    const [prepareElapsed, calls] = yield* Effect.timed(Effect.sync(() => priced(viaStore, events)))
    const [storeElapsed] = yield* Effect.timed(ledger.insertBatch(viaStore, calls))
    ingestTime = Duration.sum(ingestTime, ingestElapsed)
    storeTime = Duration.sum(storeTime, storeElapsed)
    prepareTime = Duration.sum(prepareTime, prepareElapsed)
    inserted += result.inserted
    rejected += result.rejected
    unpriced += result.items.filter((item) => item.costSource === "unpriced").length
  }
  const events = batches * batchSize
  if (inserted !== events) return yield* Effect.die(new Error(`expected ${events} inserted, got ${inserted} (${rejected} rejected)`))

  // The worker's path: the same batches from 4 concurrent submitters through the pipeline.
  const [pipelineTime, results] = yield* Effect.timed(
    IngestPipeline.use((pipeline) =>
      Effect.forEach(kept, (events) => pipeline.submit(viaPipeline, events), { concurrency: 4 })
    )
  )
  const pipelineInserted = results.reduce((n, r) => n + r.inserted, 0)
  if (pipelineInserted !== events) return yield* Effect.die(new Error(`pipeline inserted ${pipelineInserted} of ${events}`))

  const line = (path: string, elapsed: Duration.Duration) => {
    const seconds = Duration.toMillis(elapsed) / 1000
    return {
      bench: "engine.ingest",
      backend: url === undefined ? "pglite" : "postgres",
      path,
      events,
      batch: batchSize,
      seconds: Number(seconds.toFixed(3)),
      eventsPerSecond: Math.round(events / seconds)
    }
  }
  const ingestLine = line("Ingest.ingest", ingestTime)
  const storeLine = line("UsageLedger.insertBatch (pre-priced)", storeTime)
  console.log(JSON.stringify({ ...ingestLine, unpriced }))
  console.log(JSON.stringify(storeLine))
  console.log(JSON.stringify(line("decode+normalize+price only (no database)", prepareTime)))
  console.log(JSON.stringify(line("IngestPipeline, 4 concurrent submitters", pipelineTime)))
  console.log(JSON.stringify({
    bench: "engine.ingest",
    ratio: Number((ingestLine.eventsPerSecond / storeLine.eventsPerSecond).toFixed(3)),
    meaning: "Ingest.ingest events/s divided by the store's bare UsageLedger.insertBatch events/s"
  }))
})

const database = url === undefined ? Database.layerPgliteMemory : Database.layerEphemeralPostgres(Redacted.make(url))
const ingestLayer = Layer.provideMerge(Ingest.layer, Layer.merge(Store.layerWith(database), Catalog.Catalog.layer))
const layer = Layer.provideMerge(IngestPipeline.layer({ maxBatch: batchSize }), ingestLayer).pipe(Layer.orDie)

Effect.runPromise(program.pipe(Effect.provide(layer))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
