/**
 * OTLP/HTTP JSON traces to usage events.
 */
import { Result, Schema } from "effect"

export interface SkippedSpan {
  readonly spanId: string
  readonly reason: string
}

export interface Converted {
  /** Raw usage events (`provider: "otel"`, `api: "span"`), one per span with GenAI usage. */
  readonly events: Array<unknown>
  readonly skipped: Array<SkippedSpan>
}

/** The body is not an OTLP JSON `ExportTraceServiceRequest`; `path` names where. */
export class OtlpInvalid extends Schema.TaggedError<OtlpInvalid>()("OtlpInvalid", {
  path: Schema.String,
  message: Schema.String
}) {}

export const spansToEvents = (_otlpJson: unknown): Result.Result<Converted, OtlpInvalid> =>
  Result.succeed({ events: [], skipped: [] })
