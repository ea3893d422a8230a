/**
 * The JetStream resources the consumer needs, created when missing and checked when present:
 * the usage stream, the durable pull consumer all workers share, and the dead-letter stream for
 * messages that name no tenant.
 *
 * Every worker runs this at start, possibly at the same moment; creating a stream or consumer
 * that another worker just created with the same configuration is not an error for the server,
 * and a lost race is settled by reading the resource again.
 */
import {
  AckPolicy,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type StreamInfo
} from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { covers } from "./internal/Subjects.ts"
import type { NatsConfig } from "./NatsConfig.ts"
import { fromCause, NatsError } from "./NatsError.ts"

const isApiError = (code: number) => (cause: unknown): boolean => cause instanceof JetStreamApiError && cause.code === code

/** Runs `lookup`; `undefined` when the server says the resource does not exist. */
const find = <A>(operation: string, what: string, notFound: number, lookup: () => Promise<A>) =>
  Effect.tryPromise({ try: lookup, catch: (cause) => cause }).pipe(
    Effect.catch((cause) =>
      isApiError(notFound)(cause) ? Effect.succeed(undefined) : Effect.fail(fromCause(operation, what)(cause))
    )
  )

/** The usage subjects the stream must capture. */
export const usageSubjects = (config: NatsConfig): string => `${config.subjectPrefix}.>`

const ensureStream = Effect.fnUntraced(function*(
  jsm: JetStreamManager,
  name: string,
  subject: string,
  retention: "workqueue" | "limits"
) {
  const existing = yield* find("stream", `reading stream ${name}`, JetStreamApiCodes.StreamNotFound, () => jsm.streams.info(name))
  const info: StreamInfo = existing ?? (yield* Effect.tryPromise({
    try: () =>
      jsm.streams.add({
        name,
        subjects: [subject],
        retention: retention === "workqueue" ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
        storage: StorageType.File
      }),
      catch: (cause) => cause
    }).pipe(
      // Another worker created it first: read what it made.
      Effect.catch((cause) =>
        Effect.tryPromise({ try: () => jsm.streams.info(name), catch: () => fromCause("stream", `creating stream ${name}`)(cause) })
      )
    ))
  const subjects = info.config.subjects ?? []
  if (!subjects.some((pattern) => covers(pattern, subject))) {
    return yield* new NatsError({
      operation: "stream",
      message: `stream ${name} exists but does not capture ${subject} (its subjects: ${subjects.join(", ") || "none"}); add the subject to it or choose another stream name`
    })
  }
  return info
})

/**
 * The usage stream. Created as a work queue: a message is removed once acked (or terminated after
 * it was dead-lettered), so the stream holds only what is still to be ingested, however long the
 * workers are away. An existing stream is used as it is if it captures the subjects.
 */
export const ensureUsageStream = (jsm: JetStreamManager, config: NatsConfig) =>
  ensureStream(jsm, config.stream, usageSubjects(config), "workqueue")

/** Where messages without a tenant are kept, until someone looks (limits retention, no expiry). */
export const ensureDeadLetterStream = (jsm: JetStreamManager, config: NatsConfig) =>
  ensureStream(jsm, config.deadLetterStream, `${config.deadLetterPrefix}.>`, "limits")

/**
 * The durable pull consumer. `max_deliver` is left unlimited on the server on purpose: the worker
 * counts deliveries itself and dead-letters a message on its `maxDeliver`-th failure. A server-side
 * limit would instead stop delivering it silently, and if recording the dead letter failed (the
 * database is down) the message would be stranded.
 */
export const ensureConsumer = Effect.fnUntraced(function*(jsm: JetStreamManager, config: NatsConfig) {
  const wanted = {
    ack_wait: nanos(Duration.toMillis(config.ackWait)),
    max_deliver: -1,
    filter_subject: usageSubjects(config)
  }
  const read = () => jsm.consumers.info(config.stream, config.consumer)
  const existing: ConsumerInfo | undefined = yield* find(
    "consumer",
    `reading consumer ${config.consumer}`,
    JetStreamApiCodes.ConsumerNotFound,
    read
  )
  if (existing === undefined) {
    return yield* Effect.tryPromise({
      try: () =>
        jsm.consumers.add(config.stream, {
          durable_name: config.consumer,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          replay_policy: ReplayPolicy.Instant,
          ...wanted
        }),
      catch: (cause) => cause
    }).pipe(
      Effect.catch((cause) =>
        Effect.tryPromise({ try: read, catch: () => fromCause("consumer", `creating consumer ${config.consumer}`)(cause) })
      )
    )
  }
  const current = existing.config
  if (current.ack_policy !== AckPolicy.Explicit) {
    return yield* new NatsError({
      operation: "consumer",
      message: `consumer ${config.consumer} exists with ack policy ${current.ack_policy}; the worker needs explicit acks (delete it or choose another name)`
    })
  }
  if (
    current.ack_wait === wanted.ack_wait && current.max_deliver === wanted.max_deliver &&
    current.filter_subject === wanted.filter_subject
  ) return existing
  // Workers started with a new configuration bring the shared consumer along.
  return yield* Effect.tryPromise({
    try: () => jsm.consumers.update(config.stream, config.consumer, wanted),
    catch: fromCause("consumer", `updating consumer ${config.consumer}`)
  })
})
