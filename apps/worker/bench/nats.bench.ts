/**
 * Events per second through NATS JetStream into PostgreSQL with 1 and with 2 `tally serve` worker
 * processes sharing the durable consumer. Raw OpenAI chat completion payloads, 100 events per
 * message; each run gets its own stream and tenant in one throwaway database.
 *
 * The clock runs from the first publish to the moment the consumer has nothing pending or unacked
 * and the ledger holds every event (publishing is much faster than ingesting, so this is the
 * workers' rate). Needs PostgreSQL (TALLY_BENCH_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/postgres) and NATS (TALLY_BENCH_NATS_URL, default
 * nats://127.0.0.1:4222). TALLY_BENCH_NATS_EVENTS sets the events per run (default 20,000).
 *
 *   node apps/worker/bench/nats.bench.ts        or        pnpm bench nats
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Database, Store, Tenants } from "@tally/store"
import { Context, Effect, Layer, Redacted } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join, resolve } from "node:path"
import * as NatsConfig from "../src/nats/NatsConfig.ts"
import * as Streams from "../src/nats/Streams.ts"
import { tallyArgs } from "../src/cli/Launch.ts"

const root = resolve(import.meta.dirname, "../../..")
const postgresUrl = process.env.TALLY_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const natsUrl = process.env.TALLY_BENCH_NATS_URL ?? "nats://127.0.0.1:4222"
const total = Number(process.env.TALLY_BENCH_NATS_EVENTS ?? 20_000)
const perMessage = 100

const sample = (JSON.parse(readFileSync(join(root, "examples/usage-events.json"), "utf8")) as Array<Record<string, unknown>>)[0]!

const spawnWorker = (env: Record<string, string>) =>
  new Promise<ChildProcess>((resolveWorker, reject) => {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("TALLY_")))
    const child = spawn(process.execPath, tallyArgs(["serve", "--port", "0", "--host", "127.0.0.1"]), {
      cwd: root,
      env: { ...inherited, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let err = ""
    child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()))
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("\"listening\"")) resolveWorker(child)
    })
    child.on("exit", (code) => reject(new Error(`tally serve exited (${code}) before listening: ${err}`)))
  })

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
const cpuSeconds = (child: ChildProcess): number => {
  const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const stopWorker = (child: ChildProcess) =>
  new Promise<void>((done) => {
    child.on("exit", () => done())
    child.kill("SIGTERM")
  })

const program = Effect.scoped(Effect.gen(function*() {
  const context = yield* Layer.build(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(postgresUrl))))
  const db = Context.get(context, Database.Database)
  const tenants = Context.get(context, Tenants.Tenants)
  const [row] = yield* db.sql<{ name: string }>`SELECT current_database() AS name`
  const url = new URL(postgresUrl)
  url.pathname = `/${row!.name}`

  const nc = yield* Effect.acquireRelease(Effect.promise(() => connect({ servers: natsUrl })), (nc) => Effect.promise(() => nc.close()))
  const jsm = yield* Effect.promise(() => jetstreamManager(nc))
  const js = jetstream(nc)

  for (const workers of [1, 2, 1, 2]) {
    const id = `${Date.now().toString(36)}${workers}`
    const config = NatsConfig.make(natsUrl, { stream: `TALLY_BENCH_${id}`, subjectPrefix: `tally-bench-${id}.usage` })
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        await jsm.streams.delete(config.stream).catch(() => false)
        await jsm.streams.delete(config.deadLetterStream).catch(() => false)
      })
    )
    yield* Effect.orDie(Streams.ensureUsageStream(jsm, config))
    const tenant = (yield* tenants.create({ name: `bench ${id}` })).id
    const env = {
      TALLY_DATABASE_URL: url.toString(),
      TALLY_NATS_URL: natsUrl,
      TALLY_NATS_STREAM: config.stream,
      TALLY_NATS_SUBJECT_PREFIX: config.subjectPrefix
    }
    const children = yield* Effect.promise(() => Promise.all(Array.from({ length: workers }, () => spawnWorker(env))))

    const cpuBefore = children.map(cpuSeconds)
    const started = performance.now()
    const subject = `${config.subjectPrefix}.${tenant}`
    const bodies = Array.from({ length: total / perMessage }, (_, m) =>
      JSON.stringify(Array.from({ length: perMessage }, (_, i) => ({ ...sample, requestId: `${id}-${m}-${i}` }))))
    yield* Effect.forEach(bodies, (body) => Effect.promise(() => js.publish(subject, body)), { concurrency: 64, discard: true })
    const published = performance.now()
    for (;;) {
      const info = yield* Effect.promise(() => jsm.consumers.info(config.stream, config.consumer))
      if (info.num_pending === 0 && info.num_ack_pending === 0) break
      yield* Effect.sleep("50 millis")
    }
    const finished = performance.now()
    const workerCpu = children.reduce((sum, child, i) => sum + cpuSeconds(child) - cpuBefore[i]!, 0)
    const [count] = yield* db.sql<{ n: string }>`SELECT count(*)::text AS n FROM tally.usage_ledger WHERE tenant_id = ${tenant}`
    yield* Effect.promise(() => Promise.all(children.map(stopWorker)))
    if (Number(count!.n) !== total) throw new Error(`ledger holds ${count!.n} of ${total} events`)
    const seconds = (finished - started) / 1000
    console.log(JSON.stringify({
      bench: "nats-consume",
      workers,
      events: total,
      messages: bodies.length,
      eventsPerMessage: perMessage,
      publishSeconds: Number(((published - started) / 1000).toFixed(2)),
      seconds: Number(seconds.toFixed(2)),
      eventsPerSecond: Math.round(total / seconds),
      // Less sensitive to other load on the machine than the wall-clock rate.
      workerCpuMicrosPerEvent: Math.round((workerCpu * 1e6) / total),
      loadAverage: Number(loadavg()[0]!.toFixed(1)),
      cores: cpus().length
    }))
  }
}))

await Effect.runPromise(program)
