/**
 * The worker's metrics, shared by every intake (HTTP, OTLP, the NATS consumer) and rendered in
 * Prometheus text format at `GET /metrics`.
 *
 * Built on Effect's `Metric` module, whose registry is a context reference with one process-wide
 * default, so every fiber of the worker updates the same series.
 *
 * - `tally_events_total{status}`: events by outcome (inserted, duplicate, conflict, rejected).
 * - `tally_ingest_batch_seconds`: from handing a batch to the pipeline to its commit.
 * - `tally_consumer_lag`: messages the JetStream consumer has not yet been delivered (set by it).
 * - `tally_otlp_spans_skipped_total`: OTLP spans without GenAI usage, skipped.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { PrometheusMetrics } from "effect/observability"

export type EventStatus = "inserted" | "duplicate" | "conflict" | "rejected"

export const statuses: ReadonlyArray<EventStatus> = ["inserted", "duplicate", "conflict", "rejected"]

/** The counts a batch result carries (the engine's `IngestResult` has them). */
export interface Counts {
  readonly inserted: number
  readonly duplicates: number
  readonly conflicts: number
  readonly rejected: number
}

export interface MetricsService {
  /** Counts a committed batch's outcomes and how long it took, in seconds. */
  readonly recordBatch: (counts: Counts, seconds: number) => Effect.Effect<void>
  /** Sets the consumer lag gauge (pending messages). */
  readonly setConsumerLag: (pending: number) => Effect.Effect<void>
  readonly recordSkippedSpans: (count: number) => Effect.Effect<void>
  /** Every metric of the process in Prometheus text exposition format. */
  readonly render: Effect.Effect<string>
}

const events = Metric.counter("tally_events_total", {
  description: "Usage events by outcome: inserted, duplicate, conflict, rejected",
  incremental: true
})
const eventsBy = Object.fromEntries(statuses.map((status) => [status, Metric.withAttributes(events, { status })])) as Record<
  EventStatus,
  Metric.Metric<number, Metric.CounterState<number>>
>
const batchSeconds = Metric.histogram("tally_ingest_batch_seconds", {
  description: "Seconds from handing a batch to the ingest pipeline until it committed",
  // 1 ms .. ~16 s
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 15 })
})
const consumerLag = Metric.gauge("tally_consumer_lag", {
  description: "Messages of the JetStream consumer not yet delivered to this worker"
})
const skippedSpans = Metric.counter("tally_otlp_spans_skipped_total", {
  description: "OTLP spans without GenAI usage attributes, skipped",
  incremental: true
})

export class Metrics extends Context.Service<Metrics, MetricsService>()("@tally/worker/server/Metrics") {
  static readonly layer: Layer.Layer<Metrics> = Layer.effect(
    Metrics,
    Effect.gen(function*() {
      // Every series exists from the start, so a scrape shows zeros rather than nothing.
      yield* Effect.forEach(statuses, (status) => Metric.update(eventsBy[status], 0), { discard: true })
      yield* Metric.update(consumerLag, 0)
      yield* Metric.update(skippedSpans, 0)

      const recordBatch = (counts: Counts, seconds: number) =>
        Effect.all([
          Metric.update(eventsBy.inserted, counts.inserted),
          Metric.update(eventsBy.duplicate, counts.duplicates),
          Metric.update(eventsBy.conflict, counts.conflicts),
          Metric.update(eventsBy.rejected, counts.rejected),
          Metric.update(batchSeconds, seconds)
        ], { discard: true })

      return Metrics.of({
        recordBatch,
        setConsumerLag: (pending) => Metric.update(consumerLag, pending),
        recordSkippedSpans: (count) => Metric.update(skippedSpans, count),
        render: PrometheusMetrics.format()
      })
    })
  )
}
