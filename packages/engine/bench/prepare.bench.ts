/**
 * Ingest CPU per event without a database: `prepare` (decode the event, normalize the raw
 * payload, match the model, price the call, build the ledger row) over the ingest benches' event
 * mix, in CPU seconds per 1,000 events of this process (`process.cpuUsage`, user + system).
 *
 * Baselines in the same run: `prepare` with the compiled Schema fast paths off (`FastDecode`:
 * every event and payload through the full `Schema` decoders, as before they existed), and
 * `JSON.parse(JSON.stringify(event))` of the same events, the work a worker does anyway to read
 * them off the wire, which makes figures comparable across machines and loads. Five alternating
 * rounds after a warm-up; medians reported.
 *
 *   node --conditions=source packages/engine/bench/prepare.bench.ts
 *
 * TALLY_BENCH_EVENTS (default 20,000 per round) overrides the size.
 */
import { Catalog } from "@tally/catalog"
import { FastDecode } from "@tally/core"
import { Effect } from "effect"
import { prepare, type PrepareContext } from "../src/Ingest.ts"
import { event } from "./events.ts"

const perRound = Number(process.env.TALLY_BENCH_EVENTS || 20_000)
const rounds = 5

const { book } = await Effect.runPromise(Effect.provide(Effect.gen(function*() { return yield* Catalog.Catalog }), Catalog.Catalog.layer))
const context: PrepareContext = { book, tenantId: "00000000-0000-4000-8000-000000000001", options: {} }

let next = 0
const fresh = () => Array.from({ length: perRound }, () => event(next++))

/** CPU seconds (user + system) and wall seconds of `run` over `events`. */
const measure = (events: ReadonlyArray<unknown>, run: (e: unknown) => unknown) => {
  globalThis.gc?.()
  const cpu = process.cpuUsage()
  const wall = performance.now()
  let sink = 0
  for (const e of events) if (run(e) !== undefined) sink++
  const used = process.cpuUsage(cpu)
  if (sink !== events.length) throw new Error("a run returned nothing")
  return { cpu: (used.user + used.system) / 1e6, wall: (performance.now() - wall) / 1000 }
}

let priced = 0
const viaPrepare = (e: unknown) => {
  const p = prepare(context, e)
  if (p._tag === "Priced") priced++
  return p
}
const viaJson = (e: unknown) => JSON.parse(JSON.stringify(e))

measure(fresh(), viaPrepare) // warm-up
FastDecode.setEnabled(false)
measure(fresh(), viaPrepare)
FastDecode.setEnabled(true)
measure(fresh(), viaJson)

const results: Record<"prepare" | "slow" | "json", Array<{ cpu: number; wall: number }>> = { prepare: [], slow: [], json: [] }
const checked = (events: ReadonlyArray<unknown>) => {
  priced = 0
  const result = measure(events, viaPrepare)
  if (priced !== events.length) throw new Error(`expected ${events.length} priced, got ${priced}`)
  return result
}
for (let r = 0; r < rounds; r++) {
  results.prepare.push(checked(fresh()))
  FastDecode.setEnabled(false)
  results.slow.push(checked(fresh()))
  FastDecode.setEnabled(true)
  results.json.push(measure(fresh(), viaJson))
}
const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const line = (path: string, runs: ReadonlyArray<{ cpu: number; wall: number }>) => {
  const cpu = median(runs.map((r) => r.cpu))
  const wall = median(runs.map((r) => r.wall))
  return {
    bench: "engine.prepare",
    path,
    events: perRound,
    cpuSecondsPer1000: Number((cpu / perRound * 1000).toFixed(4)),
    eventsPerCpuSecond: Math.round(perRound / cpu),
    eventsPerSecond: Math.round(perRound / wall)
  }
}
const prepared = line("prepare (decode, normalize, match, price, row)", results.prepare)
const slow = line("baseline: prepare with the Schema fast paths off", results.slow)
const json = line("baseline: JSON.parse(JSON.stringify(event))", results.json)
console.log(JSON.stringify(prepared))
console.log(JSON.stringify(slow))
console.log(JSON.stringify(json))
console.log(JSON.stringify({
  bench: "engine.prepare",
  ratioToSlowPath: Number((prepared.cpuSecondsPer1000 / slow.cpuSecondsPer1000).toFixed(3)),
  ratioToJson: Number((prepared.cpuSecondsPer1000 / json.cpuSecondsPer1000).toFixed(2)),
  meaning: "prepare CPU per event divided by each baseline's CPU per event (lower is better)",
  goal: "prepare <= 0.05 CPU-s per 1,000 events"
}))
