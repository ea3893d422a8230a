/**
 * Real `tally serve` processes consuming a real JetStream stream (TALLY_TEST_NATS_URL) into a real
 * database: a fresh PostgreSQL database with TALLY_TEST_DATABASE_URL, else PGlite in a temporary
 * directory. PGlite belongs to one process, so the two-worker test needs PostgreSQL (CI sets it);
 * on PGlite the database is opened by the test only while no worker runs.
 *
 * Timeouts are generous: each PGlite open and each worker start migrates and loads the catalog,
 * which takes tens of seconds on a busy 2-core machine.
 */
import { assert, describe, it } from "@effect/vitest"
import { Database, DeadLetters, Store, Tenants } from "@tally/store"
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import type * as NatsConfig from "../src/nats/NatsConfig.ts"
import { configEnv, eventually, ledger, nats, natsUrl, testConfig, usageEvent } from "./support/Nats.ts"
import { tallyArgs } from "../src/cli/Launch.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

const root = resolve(import.meta.dirname, "../../..")
const postgresUrl = process.env.TALLY_TEST_DATABASE_URL
const backend = postgresUrl ? "postgres" : "pglite"

type StoreServices = Database.Database | Store.Services

/**
 * The database the workers share, and a way for the test to use it. PostgreSQL: one fresh database
 * for the whole test, usable at any time. PGlite: a directory, opened for each use.
 */
const sharedDatabase = Effect.gen(function*() {
  if (postgresUrl !== undefined) {
    const context = yield* Layer.build(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(postgresUrl))))
    const db = Context.get(context, Database.Database)
    const [row] = yield* db.sql<{ name: string }>`SELECT current_database() AS name`
    const url = new URL(postgresUrl)
    url.pathname = `/${row!.name}`
    return {
      env: { TALLY_DATABASE_URL: url.toString() },
      use: <A, E>(effect: Effect.Effect<A, E, StoreServices>) => Effect.provide(effect, context)
    }
  }
  const dataDir = join(mkdtempSync(join(tmpdir(), "tally-nats-")), "data")
  seedDataDir(dataDir)
  return {
    env: { TALLY_DATA_DIR: dataDir },
    use: <A, E>(effect: Effect.Effect<A, E, StoreServices>) =>
      Effect.scoped(Effect.provide(effect, Store.layerWith(Database.layerPglite({ dataDir })))).pipe(Effect.orDie)
  }
})

interface Worker {
  readonly child: ChildProcess
  readonly url: string
  readonly exited: Promise<number | null>
  readonly stderr: () => string
}

/** A `tally serve` process, listening once this succeeds; SIGKILLed (by pid) if still alive at the end. */
const startWorker = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<Worker>((resolveWorker, reject) => {
        const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("TALLY_")))
        const child = spawn(process.execPath, tallyArgs(["serve", "--port", "0", "--host", "127.0.0.1"]), {
          cwd: root,
          env: { ...inherited, ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let out = ""
        let err = ""
        const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)))
        child.stderr!.on("data", (chunk: Buffer) => {
          err += chunk.toString()
        })
        child.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString()
          const newline = out.indexOf("\n")
          if (newline >= 0) {
            const line = JSON.parse(out.slice(0, newline)) as { listening?: string }
            if (line.listening !== undefined) resolveWorker({ child, url: line.listening, exited, stderr: () => err })
          }
        })
        void exited.then((code) => reject(new Error(`tally serve exited (${code}) before listening: ${err}`)))
      })
    ),
    (worker) => Effect.sync(() => {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL")
    })
  )

/** The worker's count of messages by outcome, from its /metrics. */
const settledBy = (worker: Worker) =>
  Effect.promise(async () => {
    const text = await (await fetch(`${worker.url}/metrics`)).text()
    const count = (outcome: string) => {
      const match = new RegExp(`^tally_nats_messages_total\\{outcome="${outcome}"\\} (\\d+)`, "m").exec(text)
      return match === null ? 0 : Number(match[1])
    }
    const duplicates = /^tally_events_total\{status="duplicate"\} (\d+)/m.exec(text)
    return {
      acked: count("acked"),
      retried: count("retried"),
      deadLettered: count("dead_lettered"),
      duplicateEvents: duplicates === null ? 0 : Number(duplicates[1])
    }
  })

const stop = (worker: Worker, signal: "SIGTERM" | "SIGKILL") =>
  Effect.promise(() => {
    worker.child.kill(signal)
    return worker.exited
  })

const workerEnv = (config: NatsConfig.NatsConfig, database: { readonly env: Record<string, string> }) => ({
  ...configEnv(config),
  ...database.env
})

const newTenant = Tenants.Tenants.use((tenants) => tenants.create({ name: "Acme" })).pipe(Effect.map((t) => t.id))

/** `messages` messages of `perMessage` events; message m, event i has m + 1 input and i output tokens. */
const publishUsage = (
  bus: Effect.Success<typeof nats>,
  config: NatsConfig.NatsConfig,
  tenant: string,
  messages: number,
  perMessage: number
) =>
  Effect.forEach(
    Array.from({ length: messages }, (_, m) => m),
    (m) => bus.publish(config, tenant, Array.from({ length: perMessage }, (_, i) => usageEvent(`m${m}-e${i}`, m + 1, i))),
    { concurrency: 32, discard: true }
  )

const tokensOf = (messages: number, perMessage: number) =>
  (perMessage * messages * (messages + 1)) / 2 + messages * (perMessage * (perMessage - 1)) / 2

const natsDescribe = natsUrl === undefined ? describe.skip : describe

natsDescribe(`tally serve workers on NATS and ${backend}`, () => {
  it.live.skipIf(postgresUrl === undefined)(
    "10,000 events, two workers, one SIGKILLed mid-stream and restarted: every event recorded exactly once",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const database = yield* sharedDatabase
        const bus = yield* nats
        // A short ack wait, so the killed worker's unacked messages come back quickly.
        const config = testConfig({ ackWait: Duration.seconds(4), maxInFlight: 16 })
        const tenant = yield* database.use(newTenant)
        const env = workerEnv(config, database)
        yield* bus.track(config)

        const first = yield* startWorker(env)
        const second = yield* startWorker(env)
        const messages = 1000
        const perMessage = 10
        yield* publishUsage(bus, config, tenant, messages, perMessage)

        // Kill the first worker once it has committed some messages, while many are still to come.
        const before = yield* eventually(
          Effect.flatMap(settledBy(first), (s) => (s.acked >= 30 ? Effect.succeed(s) : Effect.fail("not yet"))),
          "120 seconds"
        )
        yield* stop(first, "SIGKILL")
        const atKill = yield* Effect.promise(() => bus.consumerInfo(config))
        assert.isAbove(atKill.num_pending + atKill.num_ack_pending, 0, "killed mid-stream")

        const restarted = yield* startWorker(env)
        yield* bus.settled(config, "240 seconds")

        assert.deepStrictEqual(yield* database.use(ledger(tenant)), {
          events: messages * perMessage,
          tokens: tokensOf(messages, perMessage)
        })
        const afterSecond = yield* settledBy(second)
        const afterRestart = yield* settledBy(restarted)
        yield* Effect.logInfo("two workers, one killed", { killedAfter: before, survivor: afterSecond, restarted: afterRestart })
        assert.isAbove(before.acked, 0)
        assert.isAbove(afterSecond.acked, 0)
        assert.strictEqual(afterSecond.deadLettered + afterRestart.deadLettered, 0)
        const letters = yield* database.use(DeadLetters.DeadLetters.use((d) => d.list(tenant)))
        assert.strictEqual(letters.length, 0)
        assert.strictEqual(yield* stop(second, "SIGTERM"), 0)
        assert.strictEqual(yield* stop(restarted, "SIGTERM"), 0)
      })),
    600_000
  )

  it.live("SIGTERM mid-stream: the worker acks every message it committed before it exits", () =>
    Effect.scoped(Effect.gen(function*() {
      const database = yield* sharedDatabase
      const bus = yield* nats
      const config = testConfig({ maxInFlight: 16 })
      const tenant = yield* database.use(newTenant)
      const env = workerEnv(config, database)
      const messages = 400
      const perMessage = 10
      yield* publishUsage(bus, config, tenant, messages, perMessage)

      const worker = yield* startWorker(env)
      yield* eventually(Effect.flatMap(settledBy(worker), (s) => (s.acked >= 20 ? Effect.void : Effect.fail("not yet"))), "120 seconds")
      assert.strictEqual(yield* stop(worker, "SIGTERM"), 0, worker.stderr())

      // Nothing delivered is left unacked, so the ledger holds exactly the acked messages' events.
      const info = yield* Effect.promise(() => bus.consumerInfo(config))
      assert.strictEqual(info.num_ack_pending, 0)
      assert.isAbove(info.num_pending, 0, "stopped mid-stream")
      const acked = messages - info.num_pending
      const stored = yield* database.use(ledger(tenant))
      assert.strictEqual(stored.events, acked * perMessage)

      // A new worker takes the rest, and nothing is recorded twice.
      const next = yield* startWorker(env)
      yield* bus.settled(config, "240 seconds")
      assert.strictEqual((yield* settledBy(next)).duplicateEvents, 0)
      assert.strictEqual(yield* stop(next, "SIGTERM"), 0, next.stderr())
      assert.deepStrictEqual(yield* database.use(ledger(tenant)), {
        events: messages * perMessage,
        tokens: tokensOf(messages, perMessage)
      })
    })), 600_000)

  it.live("tally publish puts a file's events on the stream, and a worker ingests each once", () =>
    Effect.scoped(Effect.gen(function*() {
      const database = yield* sharedDatabase
      const bus = yield* nats
      const config = testConfig()
      const tenant = yield* database.use(newTenant)
      const env = workerEnv(config, database)
      yield* bus.track(config)
      const file = join(root, "examples/usage-events.json")
      const sent = JSON.parse(readFileSync(file, "utf8")) as ReadonlyArray<{ readonly requestId: string }>
      const publish = () => {
        const out = spawnSync(process.execPath, tallyArgs(["publish", "--tenant", tenant, "--per-message", "2", file]), {
          cwd: root,
          env: { ...process.env, ...env },
          encoding: "utf8"
        })
        assert.strictEqual(out.status, 0, out.stderr)
        return JSON.parse(out.stdout) as unknown
      }
      assert.deepStrictEqual(publish(), {
        messages: Math.ceil(sent.length / 2),
        events: sent.length,
        subject: `${config.subjectPrefix}.${tenant}`,
        stream: config.stream
      })
      publish()

      const worker = yield* startWorker(env)
      yield* bus.settled(config, "120 seconds")
      const settled = yield* settledBy(worker)
      assert.strictEqual(settled.acked, 2 * Math.ceil(sent.length / 2))
      assert.strictEqual(settled.duplicateEvents, sent.length)
      assert.strictEqual(yield* stop(worker, "SIGTERM"), 0, worker.stderr())
      const ids = yield* database.use(Effect.gen(function*() {
        const db = yield* Database.Database
        const rows = yield* db.sql<{ request_id: string }>`SELECT request_id FROM tally.usage_ledger WHERE tenant_id = ${tenant} ORDER BY request_id`
        return rows.map((row) => row.request_id)
      }))
      assert.deepStrictEqual(ids, sent.map((e) => e.requestId).sort())
    })), 400_000)

  it.live("a poison message ends in the tenant's dead letters after max_deliver deliveries, with its reason", () =>
    Effect.scoped(Effect.gen(function*() {
      const database = yield* sharedDatabase
      const bus = yield* nats
      const config = testConfig({ maxDeliver: 4 })
      const tenant = yield* database.use(newTenant)
      yield* bus.publish(config, tenant, "[{\"requestId\": \"p-1\"},")
      yield* bus.publish(config, tenant, [usageEvent("ok-1", 5, 5)])

      const worker = yield* startWorker(workerEnv(config, database))
      const settled = yield* eventually(
        Effect.flatMap(settledBy(worker), (s) => (s.deadLettered === 1 && s.acked === 1 ? Effect.succeed(s) : Effect.fail("not yet"))),
        "120 seconds"
      )
      assert.strictEqual(settled.retried, 3)
      yield* bus.settled(config)
      assert.strictEqual(yield* stop(worker, "SIGTERM"), 0, worker.stderr())

      const letters = yield* database.use(DeadLetters.DeadLetters.use((d) => d.list(tenant)))
      assert.strictEqual(letters.length, 1)
      assert.strictEqual(letters[0]!.source, "nats")
      assert.match(letters[0]!.reason, /^body: invalid JSON: .* \(failed 4 of 4 deliveries\)$/)
      assert.strictEqual(letters[0]!.rawText, "[{\"requestId\": \"p-1\"},")
      assert.deepStrictEqual(yield* database.use(ledger(tenant)), { events: 1, tokens: 10 })
      const stream = yield* Effect.promise(() => bus.jsm.streams.info(config.stream))
      assert.strictEqual(stream.state.messages, 0)
    })), 400_000)
})
