/**
 * HTTP ingest throughput, end to end: events per second through `POST /api/v1/usage/ingest` of a
 * real `tally serve` process on real PostgreSQL, driven by a load generator in another process
 * over loopback (batches of 500 raw provider payloads, mixed providers, unique request ids,
 * 4 requests in flight), next to the store's own bulk insert of the same calls in the same run.
 *
 * Three figures, each over the same events:
 * - http:   the load generator's wall clock from the first request to the last answer (JSON
 *           encoding on the client, HTTP, auth, decode, normalize, match, price, the pipeline,
 *           one ledger transaction per batch, the JSON answer);
 * - pipeline: the same batches handed to the worker's `IngestPipeline` in this process, 4 at a
 *           time (decode, normalize, match, price, ledger): the HTTP path without HTTP;
 * - store:  `UsageLedger.insertBatch` of the same calls already priced (priced outside the
 *           timer), batches of 500, 4 at a time on a pool of 10 (the pipeline's concurrency);
 * - store (sequential): the same, one batch at a time (as the store's own benchmark runs).
 * Each line also gives the CPU seconds the Tally process spent per 1,000 events (the server for
 * http, this process for the others; PostgreSQL's own CPU is not counted): on a shared machine
 * wall-clock rates swing with the load, CPU time per event much less.
 * The goal (issue 6): http >= 10,000 events/s on this 2-core machine, and HTTP overhead
 * (store rate / http rate - 1, i.e. the extra time per event relative to the store path) < 50%,
 * measured against the faster of the two store figures.
 *
 *   node apps/worker/bench/http-ingest.bench.ts      (or: pnpm bench http-ingest)
 *
 * TALLY_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) is the server;
 * the bench creates two databases there (one per path) and drops them afterwards.
 * TALLY_BENCH_EVENTS (default 50,000), TALLY_BENCH_BATCH (500), TALLY_BENCH_CONCURRENCY (4).
 * TALLY_BENCH_PROFILE=<dir> writes a V8 CPU profile of the server process there (where time goes).
 * TALLY_BENCH_HTTP_ONLY=1 runs the HTTP path alone (a long sustained run without the baselines).
 */
import type { UsageRecord } from "@tally/core"
import { Catalog } from "@tally/catalog"
import { Ingest, IngestPipeline } from "@tally/engine"
import { ApiKeys, Database, Store, Tenants, UsageLedger } from "@tally/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { spawn, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"
import * as Server from "../src/server/Server.ts"
import * as ServerConfig from "../src/server/ServerConfig.ts"
import { events } from "./support/Events.ts"
import { tallyArgs } from "../src/cli/Launch.ts"

const root = resolve(import.meta.dirname, "../../..")
const adminUrl = process.env["TALLY_BENCH_DATABASE_URL"] || "postgres://postgres@127.0.0.1:5432/postgres"
const total = Number(process.env["TALLY_BENCH_EVENTS"] || 50_000)
const batch = Number(process.env["TALLY_BENCH_BATCH"] || 500)
const concurrency = Number(process.env["TALLY_BENCH_CONCURRENCY"] || 4)
const withBaselines = process.env["TALLY_BENCH_HTTP_ONLY"] !== "1"

/** A throwaway database (dropped with the layer) and its URL, for the server process. */
const ephemeral = Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(adminUrl))).pipe(Layer.orDie)

const urlOf = Effect.gen(function*() {
  const { sql } = yield* Database.Database
  const [row] = yield* sql<{ name: string }>`SELECT current_database() AS name`
  const url = new URL(adminUrl)
  url.pathname = `/${row!.name}`
  return url.toString()
})

/** CPU seconds (user + system) a process has used so far, from /proc. */
const clockTicks = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100
const processCpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}
const ownCpuSeconds = () => {
  const used = process.cpuUsage()
  return (used.user + used.system) / 1e6
}

interface Child {
  readonly lines: AsyncIterator<string>
  readonly exited: Promise<number | null>
  readonly kill: () => void
  readonly stderr: () => string
  readonly pid: number
}

const run = (args: ReadonlyArray<string>, env: Record<string, string>): Child => {
  const child = spawn(process.execPath, [...args], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  let stderr = ""
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
  return {
    lines: createInterface({ input: child.stdout })[Symbol.asyncIterator](),
    exited: new Promise((done) => child.on("exit", (code) => done(code))),
    kill: () => child.kill("SIGTERM"),
    stderr: () => stderr,
    pid: child.pid!
  }
}

const nextJson = (child: Child) =>
  Effect.promise(async () => {
    const next = await child.lines.next()
    if (next.done === true) throw new Error(`process ended early:\n${child.stderr()}`)
    return JSON.parse(next.value) as Record<string, unknown>
  })

/** The HTTP path: `tally serve` on its own database, the load generator posting to it. */
const httpPath = Effect.gen(function*() {
  const url = yield* urlOf
  let serverCpu = 0
  const tenantId = (yield* (yield* Tenants.Tenants).create({ name: "Bench http" })).id
  const key = yield* (yield* ApiKeys.ApiKeys).create(tenantId, { name: "bench", scopes: ["ingest"] })
  const profile = process.env["TALLY_BENCH_PROFILE"]
  const server = run([...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : []), ...tallyArgs(["serve", "--port", "0", "--host", "127.0.0.1", "--database-url", url])], { TALLY_NATS_URL: "" })
  const listening = (yield* nextJson(server)).listening as string
  const generator = run([join(root, "apps/worker/bench/support/LoadGenerator.ts")], {
    BENCH_URL: listening,
    BENCH_KEY: Redacted.value(key.secret),
    BENCH_EVENTS: String(total),
    BENCH_BATCH: String(batch),
    BENCH_CONCURRENCY: String(concurrency)
  })
  const measuring = yield* nextJson(generator)
  if (measuring.phase !== "measuring") return yield* Effect.die(new Error(`unexpected line from the load generator: ${JSON.stringify(measuring)}`))
  const serverCpuBefore = processCpuSeconds(server.pid)
  const measured = yield* nextJson(generator).pipe(
    Effect.tap(() => Effect.sync(() => (serverCpu = processCpuSeconds(server.pid) - serverCpuBefore))),
    Effect.ensuring(Effect.sync(() => server.kill()))
  )
  const [generatorExit, serverExit] = yield* Effect.promise(() => Promise.all([generator.exited, server.exited]))
  if (generatorExit !== 0 || serverExit !== 0) return yield* Effect.die(new Error(`exit codes: generator ${generatorExit}, server ${serverExit}\n${server.stderr()}`))
  const { sql } = yield* Database.Database
  const [count] = yield* sql<{ n: string }>`SELECT count(*)::text AS n FROM tally.usage_ledger WHERE tenant_id = ${tenantId} AND request_id LIKE 'bench-%'`
  if (Number(count!.n) < total) return yield* Effect.die(new Error(`the ledger holds ${count!.n} of ${total} events`))
  return { ...(measured as { seconds: number; bytes: number; cpuSeconds: number }), serverCpu }
})

/** The worker's services without HTTP: the same raw batches through `IngestPipeline.submit`. */
const pipelinePath = Effect.gen(function*() {
  const url = yield* urlOf
  const config = ServerConfig.override({ ...ServerConfig.defaults, natsUrl: undefined, databaseUrl: undefined }, { databaseUrl: Redacted.make(url) })
  return yield* Effect.gen(function*() {
    const pipeline = yield* IngestPipeline
    const tenantId = (yield* (yield* Tenants.Tenants).create({ name: "Bench pipeline" })).id
    for (let b = 0; b < 4; b++) yield* pipeline.submit(tenantId, events(total + b * batch, batch))
    const batches = Array.from({ length: Math.ceil(total / batch) }, (_, b) => events(b * batch, Math.min(batch, total - b * batch)))
    const cpu = ownCpuSeconds()
    const [elapsed, results] = yield* Effect.timed(Effect.forEach(batches, (list) => pipeline.submit(tenantId, list), { concurrency }))
    const cpuSeconds = ownCpuSeconds() - cpu
    const inserted = results.reduce((n, r) => n + r.inserted, 0)
    if (inserted !== total) return yield* Effect.die(new Error(`pipeline inserted ${inserted} of ${total}`))
    return { seconds: Duration.toMillis(elapsed) / 1000, cpuSeconds }
  }).pipe(Effect.provide(Server.layerServices(config).pipe(Layer.orDie)))
})

/** The store path: the same events priced outside the timer, then `insertBatch`. */
const storePath = (parallel: number, prefix: string) =>
  Effect.gen(function*() {
    const ledger = yield* UsageLedger.UsageLedger
    const { book } = yield* Catalog.Catalog
    const tenantId = (yield* (yield* Tenants.Tenants).create({ name: `Bench store ${parallel}` })).id
    const priced = (from: number, count: number): Array<UsageRecord.UsageRecord> =>
      events(from, count, prefix).flatMap((e) => {
        const p = Ingest.prepare({ book, tenantId, options: {} }, e)
        return p._tag === "Priced" ? [p.call] : []
      })
    // Warm-up, in the id space after the measured events, as the load generator does.
    for (let b = 0; b < 4; b++) yield* ledger.insertBatch(tenantId, priced(total + b * batch, batch))
    const batches = Array.from({ length: Math.ceil(total / batch) }, (_, b) => priced(b * batch, Math.min(batch, total - b * batch)))
    const cpu = ownCpuSeconds()
    const [elapsed, results] = yield* Effect.timed(Effect.forEach(batches, (calls) => ledger.insertBatch(tenantId, calls), { concurrency: parallel }))
    const cpuSeconds = ownCpuSeconds() - cpu
    const inserted = results.reduce((n, r) => n + r.inserted, 0)
    if (inserted !== total) return yield* Effect.die(new Error(`store path inserted ${inserted} of ${total}`))
    return { seconds: Duration.toMillis(elapsed) / 1000, cpuSeconds }
  })

const line = (path: string, seconds: number, cpuSeconds: number, extra: Record<string, unknown> = {}) => ({
  bench: "worker.http-ingest",
  path,
  events: total,
  batch,
  seconds: Number(seconds.toFixed(3)),
  eventsPerSecond: Math.round(total / seconds),
  tallyCpuSecondsPer1000: Number((cpuSeconds / total * 1000).toFixed(4)),
  ...extra
})

const main = Effect.gen(function*() {
  const http = yield* httpPath.pipe(Effect.provide(ephemeral))
  const httpLine = line("http (load generator process -> tally serve -> PostgreSQL)", http.seconds, http.serverCpu, {
    concurrency,
    requestBytes: http.bytes,
    generatorCpuSecondsPer1000: Number((http.cpuSeconds / total * 1000).toFixed(4))
  })
  console.log(JSON.stringify(httpLine))
  // A long run of the HTTP path alone (e.g. over 1M events) leaves out the comparison paths.
  if (!withBaselines) return
  const pipeline = yield* pipelinePath.pipe(Effect.provide(ephemeral))
  const [store, storeSequential] = yield* Effect.all([storePath(concurrency, "bench"), storePath(1, "bench")]).pipe(
    Effect.provide(Layer.merge(ephemeral, Catalog.Catalog.layer.pipe(Layer.orDie)))
  )
  const pipelineLine = line(`pipeline in-process (IngestPipeline.submit, ${concurrency} at a time, no HTTP)`, pipeline.seconds, pipeline.cpuSeconds)
  const storeLine = line(`store insertBatch of the same calls, ${concurrency} batches at a time`, store.seconds, store.cpuSeconds)
  const sequentialLine = line("store insertBatch of the same calls, one batch at a time", storeSequential.seconds, storeSequential.cpuSeconds)
  const fastestStore = Math.max(storeLine.eventsPerSecond, sequentialLine.eventsPerSecond)
  const overhead = fastestStore / httpLine.eventsPerSecond - 1
  for (const l of [pipelineLine, storeLine, sequentialLine]) console.log(JSON.stringify(l))
  console.log(JSON.stringify({
    bench: "worker.http-ingest",
    httpOverStore: Number((httpLine.eventsPerSecond / fastestStore).toFixed(3)),
    overhead: Number(overhead.toFixed(3)),
    httpOverPipeline: Number((httpLine.eventsPerSecond / pipelineLine.eventsPerSecond).toFixed(3)),
    goal: { eventsPerSecond: 10_000, overhead: 0.5 },
    ok: httpLine.eventsPerSecond >= 10_000 && overhead < 0.5
  }))
})

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
