/**
 * What sale pricing costs ingest: the same batches through `Ingest.ingest` into a tenant without
 * sale price rules (the baseline) and into one with rules (a markup for everyone, a list price for
 * one customer), alternating batch by batch so both see the same machine load. With rules, each
 * inserted call is priced at sale and its `usage_prices` row is written in the batch transaction.
 *
 * Prints JSON lines: one per tenant, and the ratio with rules / without.
 *
 *   node --conditions=source packages/engine/bench/sale-pricing.bench.ts
 *
 * Real PostgreSQL when TALLY_BENCH_DATABASE_URL or TALLY_TEST_DATABASE_URL is set (a fresh
 * database is created there and dropped afterwards), else PGlite in memory. TALLY_BENCH_EVENTS
 * (default 10,000) and TALLY_BENCH_BATCH (default 500) override the sizes.
 */
import { Catalog } from "@tally/catalog"
import { Money } from "@tally/core"
import { Database, Store, Tenants } from "@tally/store"
import { DateTime, Duration, Effect, Layer, Redacted } from "effect"
import { Ingest } from "../src/Ingest.ts"
import { SalePricing } from "../src/SalePricing.ts"
import { event } from "./events.ts"

const url = process.env.TALLY_BENCH_DATABASE_URL || process.env.TALLY_TEST_DATABASE_URL || undefined
const totalEvents = Number(process.env.TALLY_BENCH_EVENTS || 10_000)
const batchSize = Number(process.env.TALLY_BENCH_BATCH || 500)

const program = Effect.gen(function*() {
  const ingest = yield* Ingest
  const tenants = yield* Tenants.Tenants
  const sale = yield* SalePricing
  const plain = (yield* tenants.create({ name: "Bench without sale rules" })).id
  const selling = (yield* tenants.create({ name: "Bench with sale rules" })).id
  const from = DateTime.makeUnsafe("2000-01-01T00:00:00Z")
  yield* sale.addRule(selling, { name: "everyone +20%", kind: "markup-percent", percent: new Money.Decimal(20), effectiveFrom: from })
  yield* sale.addRule(selling, {
    name: "one customer at list",
    customer: "customer-1",
    kind: "list-price",
    rates: { inputText: new Money.Decimal(2), outputText: new Money.Decimal(8) },
    currency: "USD",
    effectiveFrom: from
  })

  let next = 0
  const batch = () => Array.from({ length: batchSize }, () => event(next++))
  // Warm-up: both tenants' books loaded, the code paths compiled.
  yield* ingest.ingest(plain, batch())
  yield* ingest.ingest(selling, batch())

  const batches = Math.ceil(totalEvents / batchSize)
  let without = Duration.zero
  let withRules = Duration.zero
  for (let b = 0; b < batches; b++) {
    const [a] = yield* Effect.timed(ingest.ingest(plain, batch()))
    const [s] = yield* Effect.timed(ingest.ingest(selling, batch()))
    without = Duration.sum(without, a)
    withRules = Duration.sum(withRules, s)
  }
  const { sql } = yield* Database.Database
  const [priced] = yield* sql<{ n: string }>`SELECT count(*)::text AS n FROM tally.usage_prices WHERE tenant_id = ${selling}`
  const events = batches * batchSize
  const line = (path: string, elapsed: Duration.Duration) => {
    const seconds = Duration.toMillis(elapsed) / 1000
    return { bench: "engine.sale-pricing", backend: url === undefined ? "pglite" : "postgres", path, events, batch: batchSize, seconds: Number(seconds.toFixed(3)), eventsPerSecond: Math.round(events / seconds) }
  }
  const base = line("Ingest.ingest, tenant without sale rules", without)
  const rules = line("Ingest.ingest, tenant with sale rules", withRules)
  console.log(JSON.stringify(base))
  console.log(JSON.stringify({ ...rules, pricesWritten: Number(priced!.n) }))
  console.log(JSON.stringify({
    bench: "engine.sale-pricing",
    ratio: Number((rules.eventsPerSecond / base.eventsPerSecond).toFixed(3)),
    meaning: "events/s with sale rules divided by events/s without, same run, alternating batches"
  }))
})

const database = url === undefined ? Database.layerPgliteMemory : Database.layerEphemeralPostgres(Redacted.make(url))
const layer = Layer.provideMerge(
  Layer.merge(Ingest.layer, SalePricing.layer),
  Layer.merge(Store.layerWith(database), Catalog.Catalog.layer)
).pipe(Layer.orDie)

Effect.runPromise(program.pipe(Effect.provide(layer))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
