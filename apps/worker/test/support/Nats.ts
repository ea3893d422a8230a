/**
 * For the NATS tests: a unique stream, subject prefix and consumer per run (deleted afterwards, so
 * runs on a shared server never see each other), publishing, waiting for the consumer to settle,
 * and reading the ledger as its owner.
 */
import { type JetStreamManager, jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Duration, Effect, Schedule, Semaphore } from "effect"
import { Database } from "@tally/store"
import { randomBytes } from "node:crypto"
import * as NatsConfig from "../../src/nats/NatsConfig.ts"
import * as Streams from "../../src/nats/Streams.ts"

export const natsUrl = process.env.TALLY_TEST_NATS_URL

/** Names no other run uses. */
export const uniqueNames = () => {
  const id = randomBytes(5).toString("hex")
  return { stream: `TALLY_TEST_${id}`, subjectPrefix: `tally-test-${id}.usage`, consumer: "tally-worker" }
}

/** Quick retries and short waits, so failure paths finish in a test's time. */
export const testConfig = (overrides: Partial<NatsConfig.NatsConfig> = {}): NatsConfig.NatsConfig =>
  NatsConfig.make(natsUrl ?? "nats://127.0.0.1:4222", {
    ...uniqueNames(),
    maxDeliver: 3,
    retryDelay: Duration.millis(50),
    maxRetryDelay: Duration.millis(200),
    fetchExpires: Duration.seconds(1),
    lagInterval: Duration.millis(200),
    ...overrides
  })

/** The environment that gives a spawned `tally serve` the same configuration. */
export const configEnv = (config: NatsConfig.NatsConfig): Record<string, string> => ({
  TALLY_NATS_URL: config.servers.join(","),
  TALLY_NATS_STREAM: config.stream,
  TALLY_NATS_SUBJECT_PREFIX: config.subjectPrefix,
  TALLY_NATS_CONSUMER: config.consumer,
  TALLY_NATS_MAX_DELIVER: String(config.maxDeliver),
  TALLY_NATS_ACK_WAIT: `${Duration.toMillis(config.ackWait)} millis`,
  TALLY_NATS_RETRY_DELAY: `${Duration.toMillis(config.retryDelay)} millis`,
  TALLY_NATS_MAX_RETRY_DELAY: `${Duration.toMillis(config.maxRetryDelay)} millis`,
  TALLY_NATS_MAX_IN_FLIGHT: String(config.maxInFlight),
  TALLY_NATS_FETCH_EXPIRES: `${Duration.toMillis(config.fetchExpires)} millis`,
  TALLY_NATS_LAG_INTERVAL: `${Duration.toMillis(config.lagInterval)} millis`
})

export interface Nats {
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager
  /** Publishes one message (a string, or JSON of anything else) and waits for the stream's ack. */
  readonly publish: (config: NatsConfig.NatsConfig, subjectRest: string, body: unknown) => Effect.Effect<void>
  /** Waits until the consumer has nothing left to deliver and nothing unacked. */
  readonly settled: (config: NatsConfig.NatsConfig, timeout?: Duration.Input) => Effect.Effect<void>
  readonly consumerInfo: (config: NatsConfig.NatsConfig) => ReturnType<JetStreamManager["consumers"]["info"]>
  /** Messages in the dead-letter stream, oldest first. */
  readonly deadLetterMessages: (config: NatsConfig.NatsConfig) => Effect.Effect<ReadonlyArray<StoredMsg>>
}

/** A connection for the test, and the deletion of every stream `track`ed, when the scope closes. */
export const nats = Effect.gen(function*() {
  const streams = new Set<string>()
  const nc = yield* Effect.acquireRelease(
    Effect.promise(() => connect({ servers: natsUrl ?? "nats://127.0.0.1:4222" })),
    (nc) => Effect.promise(() => nc.close())
  )
  const jsm = yield* Effect.promise(() => jetstreamManager(nc))
  yield* Effect.addFinalizer(() =>
    Effect.forEach([...streams], (name) => Effect.promise(() => jsm.streams.delete(name).catch(() => false)), { discard: true })
  )
  const js = jetstream(nc)
  /** Registers the config's streams for deletion and creates them, as a worker would at start. */
  const lock = yield* Semaphore.make(1)
  const track = (config: NatsConfig.NatsConfig) =>
    lock.withPermits(1)(Effect.suspend(() =>
      streams.has(config.stream) ? Effect.void : Effect.gen(function*() {
        streams.add(config.stream)
        streams.add(config.deadLetterStream)
        yield* Effect.orDie(Streams.ensureUsageStream(jsm, config))
        yield* Effect.orDie(Streams.ensureDeadLetterStream(jsm, config))
      })
    ))
  const consumerInfo = (config: NatsConfig.NatsConfig) => jsm.consumers.info(config.stream, config.consumer)
  const service: Nats = {
    nc,
    jsm,
    publish: (config, rest, body) => {
      const data = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body)
      return track(config).pipe(
        Effect.andThen(Effect.promise(() => js.publish(`${config.subjectPrefix}.${rest}`, data))),
        Effect.asVoid
      )
    },
    settled: (config, timeout = "60 seconds") =>
      Effect.promise(() => consumerInfo(config)).pipe(
        Effect.flatMap((info) =>
          info.num_pending === 0 && info.num_ack_pending === 0
            ? Effect.void
            : Effect.fail(`pending ${info.num_pending}, unacked ${info.num_ack_pending}`)
        ),
        Effect.retry(Schedule.spaced("100 millis")),
        Effect.timeout(timeout),
        Effect.orDie
      ),
    consumerInfo,
    deadLetterMessages: (config) =>
      Effect.promise(async () => {
        const info = await jsm.streams.info(config.deadLetterStream).catch(() => undefined)
        const out: Array<StoredMsg> = []
        if (info === undefined) return out
        for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
          const msg = await jsm.streams.getMessage(config.deadLetterStream, { seq })
          if (msg !== null) out.push(msg)
        }
        return out
      })
  }
  return { ...service, track }
})

/** Re-runs `check` until it succeeds (a few times a second), dying after `timeout`. */
export const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, timeout: Duration.Input = "60 seconds") =>
  check.pipe(
    Effect.retry(Schedule.spaced("100 millis")),
    Effect.timeout(timeout),
    Effect.orDie
  )

/** Ledger rows of a tenant and their token sum, read as the owner (no row security). */
export const ledger = (tenantId: string) =>
  Effect.gen(function*() {
    const db = yield* Database.Database
    const [row] = yield* db.sql<{ n: string; tokens: string | null }>`SELECT count(*)::text AS n,
      sum(coalesce(input_text, 0) + coalesce(output_text, 0))::text AS tokens
      FROM tally.usage_ledger WHERE tenant_id = ${tenantId}`
    return { events: Number(row!.n), tokens: Number(row!.tokens ?? 0) }
  })

/** A normalized usage event: cheap to price, and its tokens are known. */
export const usageEvent = (requestId: string, inputText: number, outputText: number) => ({
  requestId,
  occurredAt: "2026-03-01T12:00:00Z",
  provider: "openai",
  model: "gpt-4o",
  usage: { tokens: { inputText, outputText } }
})
