/**
 * The one ingest pipeline HTTP, OTLP and NATS all feed: submissions go into a bounded queue, one
 * Stream takes them out, gathers them into batches by size (events) or time, and records each
 * batch per tenant with `Ingest.ingestBatch`, one ledger transaction per tenant and batch. Each
 * submission's `Deferred` is completed with its own results once its batch committed.
 *
 * - Backpressure: `submit` suspends while the queue is full; nothing is dropped. A slow database
 *   slows intake. Memory is bounded by `queueCapacity` submissions plus the batches in flight.
 * - A submission is never split: its events go into one transaction together, in order, and its
 *   result lists them in input order. A batch may exceed `maxBatch` by the last submission that
 *   filled it (a submission larger than `maxBatch` is a batch of its own).
 * - A failure of the database fails every submission of that tenant's batch (nothing of it was
 *   written): callers answer 503 or do not ack, and retry. Other tenants' batches are unaffected.
 * - The layer is scoped: on release it stops intake (`submit` then fails `unavailable`), records
 *   what was queued or in flight, and only then lets the database go.
 */
import type { Duration } from "effect"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer, Queue, Schedule, Sink, Stream } from "effect"
import { Ingest, IngestFailure, type IngestOptions, type IngestResult, type Submission, summarize } from "./Ingest.ts"

export interface PipelineConfig {
  /** Events per batch before it is recorded without waiting (default 500). */
  readonly maxBatch?: number | undefined
  /** Longest a batch waits to fill once its first submission arrived (default 10 millis). */
  readonly maxWait?: Duration.Input | undefined
  /** Submissions the queue holds before submitters suspend (default 1024). */
  readonly queueCapacity?: number | undefined
  /** Batches recorded at once (default 4): the next batch is priced while one is committing. */
  readonly concurrency?: number | undefined
}

export interface IngestPipelineService {
  /**
   * Enqueue a tenant's events; resolves with their per-item results once their batch committed.
   * Backpressure: suspends while the bounded queue is full (never drops).
   */
  readonly submit: (
    tenantId: string,
    events: ReadonlyArray<unknown>,
    options?: IngestOptions
  ) => Effect.Effect<IngestResult, IngestFailure>
  /**
   * Stops intake (later `submit`s fail `unavailable`) and waits until every queued and in-flight
   * submission is recorded and answered. Releasing the layer does the same; this lets a caller
   * drain first and answer its own callers before tearing anything down. Idempotent.
   */
  readonly drain: Effect.Effect<void>
}

interface Pending {
  readonly tenantId: string
  readonly submission: Submission
  readonly deferred: Deferred.Deferred<IngestResult, IngestFailure>
}

interface Batch {
  readonly pending: Array<Pending>
  events: number
}

const positive = (value: number | undefined, fallback: number): number =>
  value === undefined || !Number.isFinite(value) ? fallback : Math.max(1, Math.floor(value))

/** Submissions of a batch by tenant, in arrival order within each tenant. */
const byTenant = (pending: ReadonlyArray<Pending>): Map<string, Array<Pending>> => {
  const groups = new Map<string, Array<Pending>>()
  for (const p of pending) {
    const group = groups.get(p.tenantId)
    if (group === undefined) groups.set(p.tenantId, [p])
    else group.push(p)
  }
  return groups
}

/** What a submitter sees when its batch did not commit: the typed failure, or `unavailable`. */
const failureOf = (tenantId: string, cause: Cause.Cause<IngestFailure>): Exit.Exit<never, IngestFailure> => {
  if (Cause.hasFails(cause) || Cause.hasDies(cause)) return Exit.failCause(cause)
  return Exit.fail(
    new IngestFailure({
      reason: "unavailable",
      tenantId,
      message: "the ingest pipeline stopped before the batch committed; retry"
    })
  )
}

export const make = (config: PipelineConfig = {}) =>
  Effect.gen(function*() {
    const ingest = yield* Ingest
    const maxBatch = positive(config.maxBatch, 500)
    const maxWait = config.maxWait ?? "10 millis"
    const concurrency = positive(config.concurrency, 4)
    const queue = yield* Queue.bounded<Pending, Cause.Done>(positive(config.queueCapacity, 1024))

    // Batches weigh their events, not their submissions, so a batch is about one insert's worth.
    const batchOf = Sink.fold(
      (): Batch => ({ pending: [], events: 0 }),
      (batch) => batch.events < maxBatch,
      (batch, pending: Pending) =>
        Effect.sync(() => {
          batch.pending.push(pending)
          batch.events += pending.submission.events.length
          return batch
        })
    )

    const record = (batch: Batch) =>
      Effect.forEach(
        byTenant(batch.pending),
        ([tenantId, group]) =>
          Effect.exit(ingest.ingestBatch(tenantId, group.map((p) => p.submission))).pipe(
            Effect.flatMap((exit) =>
              Effect.sync(() => {
                if (Exit.isSuccess(exit)) {
                  group.forEach((p, i) => Deferred.doneUnsafe(p.deferred, Exit.succeed(exit.value[i]!)))
                } else {
                  const failed = failureOf(tenantId, exit.cause)
                  for (const p of group) Deferred.doneUnsafe(p.deferred, failed)
                }
              })
            )
          ),
        { concurrency: "unbounded", discard: true }
      )

    const pipeline = Stream.fromQueue(queue).pipe(
      Stream.aggregateWithin(batchOf, Schedule.spaced(maxWait)),
      Stream.filter((batch) => batch.pending.length > 0),
      Stream.mapEffect(record, { concurrency }),
      Stream.runDrain
    )
    const fiber = yield* Effect.forkScoped(pipeline)
    const drain = Effect.andThen(Queue.end(queue), Effect.asVoid(Fiber.await(fiber)))
    // Runs before the fork's own finalizer (finalizers run in reverse): end intake, then wait
    // until every queued and in-flight batch is recorded.
    yield* Effect.addFinalizer(() => drain)

    const submit = Effect.fn("IngestPipeline.submit")(function*(
      tenantId: string,
      events: ReadonlyArray<unknown>,
      options?: IngestOptions
    ) {
      if (events.length === 0) return summarize([])
      const deferred = yield* Deferred.make<IngestResult, IngestFailure>()
      const accepted = yield* Queue.offer(queue, { tenantId, submission: { events, options }, deferred })
      if (!accepted) {
        return yield* new IngestFailure({
          reason: "unavailable",
          tenantId,
          message: "the ingest pipeline is shutting down; retry"
        })
      }
      return yield* Deferred.await(deferred)
    })

    return IngestPipeline.of({ submit, drain })
  })

export class IngestPipeline extends Context.Service<IngestPipeline, IngestPipelineService>()("@tally/engine/IngestPipeline") {
  /** Scoped: on release it stops intake and drains in-flight batches. */
  static readonly layer = (config: PipelineConfig = {}): Layer.Layer<IngestPipeline, never, Ingest> =>
    Layer.effect(IngestPipeline, make(config))
}
