/**
 * What commitments and prepaid credits add to ingest: the same batches of raw events (every one
 * labelled with one of 50 customers) through `Ingest.ingest` into a tenant with neither, and into a
 * tenant with a committed-use discount on OpenAI, a provisioned-throughput commitment on Gemini and
 * a credit pack for each customer (each batch then records commitment usage and draws credits in
 * its transaction), alternating batch by batch in the same run and database.
 *
 * Prints JSON lines: one per tenant, and the ratio with / without.
 *
 *   node --conditions=source packages/engine/bench/credits.bench.ts
 *
 * Real PostgreSQL when TALLY_BENCH_DATABASE_URL or TALLY_TEST_DATABASE_URL is set, else PGlite in
 * memory. TALLY_BENCH_EVENTS (default 10,000) and TALLY_BENCH_BATCH (default 500) override the sizes.
 */
import { Catalog } from "@tally/catalog"
import { Database, Store, Tenants } from "@tally/store"
import { Duration, Effect, Layer, Redacted } from "effect"
import * as Commitments from "../src/Commitments.ts"
import * as Credits from "../src/Credits.ts"
import { Ingest } from "../src/Ingest.ts"
import { event } from "./events.ts"

const url = process.env.TALLY_BENCH_DATABASE_URL || process.env.TALLY_TEST_DATABASE_URL || undefined
const totalEvents = Number(process.env.TALLY_BENCH_EVENTS || 10_000)
const batchSize = Number(process.env.TALLY_BENCH_BATCH || 500)

const program = Effect.gen(function*() {
  const ingest = yield* Ingest
  const tenants = yield* Tenants.Tenants
  const plain = (yield* tenants.create({ name: "Bench plain" })).id
  const sold = (yield* tenants.create({ name: "Bench commitments and credits" })).id
  const startsAt = "2000-01-01T00:00:00Z"
  yield* Commitments.create(sold, { name: "cud", kind: "spend", provider: "openai", currency: "USD", discountPercent: "15", amount: "1000", startsAt })
  yield* Commitments.create(sold, { name: "pt", kind: "provisioned", provider: "google", model: "gemini*", currency: "USD", fee: "5", feePeriod: "hour", startsAt })
  for (let i = 0; i < 50; i++) {
    yield* Credits.grant(sold, { customer: `customer-${i}`, unit: "USD", amount: "1000000", effectiveAt: startsAt, alertThresholds: ["10"] })
  }

  let next = 0
  const batch = () => Array.from({ length: batchSize }, () => event(next++))
  // Warm up both paths (caches, prepared statements, JIT).
  for (let i = 0; i < 2; i++) {
    yield* ingest.ingest(plain, batch())
    yield* ingest.ingest(sold, batch())
  }
  let plainTime = Duration.zero
  let soldTime = Duration.zero
  const batches = Math.ceil(totalEvents / batchSize)
  for (let b = 0; b < batches; b++) {
    const events = batch()
    const [a] = yield* Effect.timed(ingest.ingest(plain, events))
    const [c] = yield* Effect.timed(ingest.ingest(sold, events))
    plainTime = Duration.sum(plainTime, a)
    soldTime = Duration.sum(soldTime, c)
  }
  const events = batches * batchSize
  const line = (path: string, elapsed: Duration.Duration) => {
    const seconds = Duration.toMillis(elapsed) / 1000
    return { bench: "engine.credits", backend: url === undefined ? "pglite" : "postgres", path, events, batch: batchSize, seconds: Number(seconds.toFixed(3)), eventsPerSecond: Math.round(events / seconds) }
  }
  const a = line("Ingest.ingest, no commitments or credits", plainTime)
  const c = line("Ingest.ingest, 2 commitments and 50 credit packs", soldTime)
  console.log(JSON.stringify(a))
  console.log(JSON.stringify(c))
  console.log(JSON.stringify({
    bench: "engine.credits",
    ratio: Number((c.eventsPerSecond / a.eventsPerSecond).toFixed(3)),
    meaning: "events/s with commitments and credits divided by events/s without, same run"
  }))
})

const database = url === undefined ? Database.layerPgliteMemory : Database.layerEphemeralPostgres(Redacted.make(url))
const layer = Layer.provideMerge(Ingest.layer, Layer.merge(Store.layerWith(database), Catalog.Catalog.layer)).pipe(Layer.orDie)

Effect.runPromise(program.pipe(Effect.provide(layer))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
