/**
 * The NATS JetStream intake: a durable pull consumer that feeds usage messages into the same
 * ingest pipeline as HTTP, shared by every worker that runs it.
 *
 * Delivery is at-least-once; the ledger makes it exactly-once. A message is acked only after the
 * pipeline committed its batch, so a worker that dies mid-batch leaves its messages unacked and
 * JetStream delivers them again (to any worker) after `ackWait`. A redelivered event whose batch
 * did commit before the crash finds its (tenant, request id) taken and counts as a duplicate: the
 * totals do not change.
 *
 * A message that fails is redelivered with a growing delay (`nak`). Its last allowed delivery is
 * ingested alone, outside the shared batches, so only a message that fails by itself is given up
 * on. If that fails too, it is dead-lettered with the reason and then terminated, never acked
 * silently:
 * - to the tenant's dead letters in the database (`DeadLetters`, source `nats`) when the tenant
 *   exists: a body that is not events, or a batch the database kept refusing;
 * - to the dead-letter stream (`<stream>_DEAD_LETTERS`, subject `<prefix>-dead-letters.<tenant>`,
 *   reason in the `Tally-Reason` header) when the subject names no tenant, since a database dead
 *   letter must belong to one.
 * If the dead letter cannot be written, the message is not terminated but retried later.
 *
 * A graceful stop (the layer's scope closes, e.g. on SIGTERM) stops pulling, lets the pull request
 * already open run out (at most `fetchExpires`), ingests and acks everything already received,
 * then drains the connection so the acks reach the server.
 */
import { type JetStreamClient, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream"
import { connect, headers, type NatsConnection } from "@nats-io/transport-node"
import { Ingest, type IngestFailure, IngestPipeline } from "@tally/engine"
import { DeadLetters, Tenants } from "@tally/store"
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MutableRef from "effect/MutableRef"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type { SqlError } from "effect/sql/SqlError"
import { Metrics } from "../server/Metrics.ts"
import * as NatsConfig from "./NatsConfig.ts"
import { retryDelayFor, Servers } from "./NatsConfig.ts"
import { fromCause, NatsError } from "./NatsError.ts"
import * as Streams from "./Streams.ts"
import { bodyText, eventsOf, type MessageRejected, tenantOf } from "./UsageMessage.ts"

export type Outcome = "acked" | "retried" | "dead_lettered"

const messages = Metric.counter("tally_nats_messages_total", {
  description: "JetStream usage messages by outcome: acked (committed), retried (nak), dead_lettered (then terminated)",
  incremental: true
})
const messagesBy: Record<Outcome, Metric.Metric<number, Metric.CounterState<number>>> = {
  acked: Metric.withAttributes(messages, { outcome: "acked" }),
  retried: Metric.withAttributes(messages, { outcome: "retried" }),
  dead_lettered: Metric.withAttributes(messages, { outcome: "dead_lettered" })
}

/** Why a delivery failed, and where its dead letter goes if it is the last one allowed. */
type Failure =
  | { readonly _tag: "NoTenant"; readonly reason: string }
  | { readonly _tag: "Tenant"; readonly tenantId: string; readonly kind: "malformed" | "failed"; readonly reason: string }

const oneLine = (text: string) => text.replace(/[\r\n]+/g, " ")

/** Whether a server version (`2.10.4`) is at least `major.minor`. */
const atLeast = (version: string | undefined, major: number, minor: number): boolean => {
  const [a, b] = (version ?? "0.0").split(".").map((part) => Number.parseInt(part, 10))
  return (a ?? 0) > major || ((a ?? 0) === major && (b ?? 0) >= minor)
}

const connectTo = (config: NatsConfig.NatsConfig) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        connect({
          servers: [...config.servers],
          name: `tally-worker ${process.pid}`,
          // Keep trying for as long as the worker runs; pulls resume once the server is back.
          maxReconnectAttempts: -1
        }),
      catch: fromCause("connect", `cannot connect to NATS at ${config.servers.join(",")}`)
    }),
    // Drain flushes the acks still in the client's buffer before the socket closes.
    (nc) => Effect.promise(() => nc.drain().catch(() => nc.close()))
  )

/** Messages this consumer settled since it started, by outcome. */
export interface Stats {
  readonly acked: number
  readonly retried: number
  readonly deadLettered: number
}

export type Requirements = IngestPipeline | Ingest.Ingest | DeadLetters.DeadLetters | Tenants.Tenants | Metrics

/**
 * Consumes `config`'s stream from the moment it is built until its scope closes. Needs the ingest
 * pipeline (and `Ingest` itself for last attempts), the store's dead letters and tenants, and the
 * worker's metrics.
 */
export const make = (config: NatsConfig.NatsConfig): Effect.Effect<UsageConsumer["Service"], NatsError, Requirements | Scope.Scope> =>
  Effect.gen(function*() {
    if (!Schema.is(Servers)(config.servers.join(","))) {
      return yield* new NatsError({
        operation: "connect",
        message: `TALLY_NATS_URL: expected a NATS URL such as nats://127.0.0.1:4222, got ${JSON.stringify(config.servers.join(","))}`
      })
    }
    const pipeline = yield* IngestPipeline
    const ingest = yield* Ingest.Ingest
    const deadLetters = yield* DeadLetters.DeadLetters
    const tenants = yield* Tenants.Tenants
    const metrics = yield* Metrics

    // The series exist from the start, so a scrape shows zeros rather than nothing.
    yield* Effect.forEach(Object.values(messagesBy), (metric) => Metric.update(metric, 0), { discard: true })

    const nc: NatsConnection = yield* connectTo(config)
    const jsm = yield* Effect.tryPromise({ try: () => jetstreamManager(nc), catch: fromCause("connect", "JetStream is not available") })
    yield* Streams.ensureUsageStream(jsm, config)
    yield* Streams.ensureDeadLetterStream(jsm, config)
    yield* Streams.ensureConsumer(jsm, config)
    const js: JetStreamClient = jetstream(nc)
    const consumer = yield* Effect.tryPromise({
      try: () => js.consumers.get(config.stream, config.consumer),
      catch: fromCause("consumer", `opening consumer ${config.consumer}`)
    })

    const termTakesReason = atLeast(nc.info?.version, 2, 11)
    const stopping = MutableRef.make(false)
    const stopped = yield* Deferred.make<void>()
    const permits = yield* Semaphore.make(config.maxInFlight)
    const inFlight = new Set<JsMsg>()
    const processing = yield* FiberSet.make<void, never>()

    const stats = { acked: 0, retried: 0, deadLettered: 0 }
    const count = (outcome: Outcome) =>
      Effect.suspend(() => {
        if (outcome === "acked") stats.acked++
        else if (outcome === "retried") stats.retried++
        else stats.deadLettered++
        return Metric.update(messagesBy[outcome], 1)
      })

    /** Dead letters for a subject without a tenant go to the dead-letter stream, reason in headers. */
    const publishDeadLetter = (msg: JsMsg, reason: string) => {
      const rest = msg.subject.startsWith(`${config.subjectPrefix}.`)
        ? msg.subject.slice(config.subjectPrefix.length + 1)
        : msg.subject
      const h = headers()
      h.set("Tally-Reason", oneLine(reason))
      h.set("Tally-Subject", msg.subject)
      h.set("Tally-Stream-Sequence", String(msg.seq))
      h.set("Tally-Delivery-Count", String(msg.info.deliveryCount))
      return Effect.tryPromise({
        try: () => js.publish(`${config.deadLetterPrefix}.${rest}`, msg.data, { headers: h }),
        catch: fromCause("dead-letter", `publishing the dead letter of ${msg.subject}`)
      })
    }

    const recordDeadLetter = (msg: JsMsg, failure: Failure, reason: string): Effect.Effect<unknown, NatsError | SqlError> =>
      failure._tag === "NoTenant"
        ? publishDeadLetter(msg, reason)
        : deadLetters.record(failure.tenantId, [{
          source: "nats",
          kind: failure.kind,
          reason,
          item: {
            subject: msg.subject,
            stream: msg.info.stream,
            consumer: msg.info.consumer,
            streamSequence: msg.seq,
            deliveryCount: msg.info.deliveryCount
          },
          rawText: bodyText(msg.data)
        }])

    const settleFailure = Effect.fnUntraced(function*(msg: JsMsg, failure: Failure) {
      const deliveries = msg.info.deliveryCount
      if (deliveries < config.maxDeliver) {
        msg.nak(Duration.toMillis(retryDelayFor(config, deliveries)))
        return yield* count("retried")
      }
      const reason = deliveries === config.maxDeliver
        ? `${failure.reason} (failed ${deliveries} of ${config.maxDeliver} deliveries)`
        : `${failure.reason} (failed ${deliveries} deliveries, ${config.maxDeliver} allowed)`
      const recorded = yield* Effect.result(recordDeadLetter(msg, failure, reason))
      if (Result.isFailure(recorded)) {
        // Not recorded, so not terminated: it comes back and the dead letter is tried again.
        yield* Effect.logWarning(`nats: cannot dead-letter ${msg.subject} #${msg.seq}: ${String(recorded.failure)}`)
        msg.nak(Duration.toMillis(retryDelayFor(config, deliveries)))
        return yield* count("retried")
      }
      yield* Effect.logWarning(`nats: dead-lettered ${msg.subject} #${msg.seq}: ${reason}`)
      // Servers before 2.11 do not know `+TERM <reason>` and would ignore the whole term.
      if (termTakesReason) msg.term(oneLine(reason))
      else msg.term()
      yield* count("dead_lettered")
    })

    /** A message whose body is not events: its tenant must exist for a database dead letter. */
    const malformed = (tenantId: string, rejected: MessageRejected) =>
      tenants.get(tenantId).pipe(
        Effect.map((): Failure => ({ _tag: "Tenant", tenantId, kind: "malformed", reason: `body: ${rejected.message}` })),
        Effect.catchTag("TenantNotFound", (e): Effect.Effect<Failure> =>
          Effect.succeed({ _tag: "NoTenant", reason: `${e.message}; body: ${rejected.message}` })),
        // The database is away: retry like any database failure.
        Effect.catchTag("SqlError", (e): Effect.Effect<Failure> =>
          Effect.succeed({ _tag: "Tenant", tenantId, kind: "failed", reason: `the database failed: ${e.message}` }))
      )

    /** Ingests one message and settles it: ack after commit, else nak or dead-letter and term. */
    const handle = Effect.fnUntraced(function*(msg: JsMsg) {
      const tenant = tenantOf(config.subjectPrefix, msg.subject)
      if (Result.isFailure(tenant)) return yield* settleFailure(msg, { _tag: "NoTenant", reason: tenant.failure.message })
      const tenantId = tenant.success
      const events = eventsOf(msg.data)
      if (Result.isFailure(events)) return yield* settleFailure(msg, yield* malformed(tenantId, events.failure))
      const started = yield* Clock.currentTimeMillis
      // The last allowed delivery is ingested on its own: in a shared batch, another message's
      // failure would fail it too, and it would be dead-lettered for something it did not do.
      const alone = msg.info.deliveryCount >= config.maxDeliver
      const submitted = yield* Effect.result(
        alone ? ingest.ingest(tenantId, events.success) : pipeline.submit(tenantId, events.success)
      )
      if (Result.isFailure(submitted)) {
        const error: IngestFailure = submitted.failure
        return yield* settleFailure(
          msg,
          error.reason === "unknown-tenant"
            ? { _tag: "NoTenant", reason: error.message }
            : { _tag: "Tenant", tenantId, kind: "failed", reason: `the database failed: ${error.message}` }
        )
      }
      msg.ack()
      const finished = yield* Clock.currentTimeMillis
      yield* metrics.recordBatch(submitted.success, (finished - started) / 1000)
      yield* count("acked")
    })

    const start = (msg: JsMsg) => {
      inFlight.add(msg)
      return FiberSet.run(
        processing,
        handle(msg).pipe(
          Effect.catchCause((cause) => Effect.logError(`nats: ${msg.subject} #${msg.seq} failed unexpectedly`, cause)),
          Effect.ensuring(Effect.suspend(() => {
            inFlight.delete(msg)
            return permits.release(1)
          }))
        )
      )
    }

    /**
     * One pull request for as many messages as there are free slots. The slots are reserved
     * before asking, so a worker never holds more than `maxInFlight` messages.
     */
    const fetchOnce = Effect.gen(function*() {
      yield* permits.take(1)
      let reserved = 1
      while (reserved < config.maxInFlight && (yield* permits.takeIfAvailable(1))) reserved++
      let received = 0
      const batch = yield* Effect.tryPromise({
        try: () => consumer.fetch({ max_messages: reserved, expires: Duration.toMillis(config.fetchExpires) }),
        catch: fromCause("fetch", "pulling messages")
      }).pipe(Effect.onError(() => permits.release(reserved)))
      yield* Stream.fromAsyncIterable(batch, fromCause("fetch", "receiving messages")).pipe(
        Stream.runForEach((msg) => {
          received++
          return start(msg)
        }),
        Effect.ensuring(Effect.suspend(() => permits.release(reserved - received)))
      )
    })

    const pull = Effect.gen(function*() {
      let failures = 0
      while (!MutableRef.get(stopping)) {
        const fetched = yield* Effect.result(fetchOnce)
        if (Result.isSuccess(fetched)) {
          failures = 0
          continue
        }
        failures++
        if (MutableRef.get(stopping)) break
        yield* Effect.logWarning(`nats: ${fetched.failure.message}; pulling again`)
        // A stop does not wait out the pause.
        yield* Effect.raceFirst(
          Effect.sleep(Duration.millis(Math.min(500 * 2 ** Math.min(failures, 6), 30_000))),
          Deferred.await(stopped)
        )
      }
    })

    // In-flight messages may wait for a busy database longer than ackWait: keep them ours.
    const keepAlive = Effect.sync(() => {
      for (const msg of inFlight) msg.working()
    }).pipe(
      Effect.delay(Duration.millis(Math.max(Duration.toMillis(config.ackWait) / 3, 100))),
      Effect.forever
    )

    const readLag = Effect.tryPromise({ try: () => consumer.info(), catch: fromCause("consumer", "reading lag") }).pipe(
      Effect.flatMap((info) => metrics.setConsumerLag(info.num_pending)),
      Effect.catch((error) => Effect.logDebug(`nats: ${error.message}`)),
      // Read at once, then every interval: a scrape right after start already shows the backlog.
      Effect.andThen(Effect.sleep(config.lagInterval)),
      Effect.forever
    )

    yield* Effect.forkScoped(keepAlive)
    yield* Effect.forkScoped(readLag)
    const puller = yield* Effect.forkScoped(pull)

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        MutableRef.set(stopping, true)
        yield* Deferred.succeed(stopped, undefined)
        yield* Fiber.await(puller)
        yield* FiberSet.awaitEmpty(processing)
      }).pipe(
        Effect.timeoutOption(config.shutdownTimeout),
        Effect.flatMap((done) =>
          done._tag === "Some"
            ? Effect.logInfo("nats: stopped; every message received was settled")
            : Effect.logWarning(`nats: ${inFlight.size} messages still in flight after ${Duration.format(config.shutdownTimeout)}; JetStream will redeliver them`)
        )
      )
    )

    yield* Effect.logInfo(
      `nats: consuming ${Streams.usageSubjects(config)} from stream ${config.stream} as ${config.consumer} (${config.servers.join(",")})`
    )
    return UsageConsumer.of({ stats: Effect.sync(() => ({ ...stats })) })
  })

export class UsageConsumer extends Context.Service<UsageConsumer, {
  readonly stats: Effect.Effect<Stats>
}>()("@tally/worker/nats/UsageConsumer") {
  /** The consumer for `config`, running while the layer is in use; a graceful stop on release. */
  static readonly layer = (config: NatsConfig.NatsConfig): Layer.Layer<UsageConsumer, NatsError, Requirements> =>
    Layer.effect(UsageConsumer, make(config))
}

/**
 * What `tally serve` runs when NATS is configured: the consumer for the servers at `url`
 * (`TALLY_NATS_URL` or `--nats-url`), everything else from `TALLY_NATS_*` (see `NatsConfig.fromEnv`).
 */
export const serveExtension = (url: string): Layer.Layer<never, NatsError | Config.ConfigError, Requirements> =>
  Layer.effectDiscard(Effect.flatMap(NatsConfig.fromEnv(url), make))
