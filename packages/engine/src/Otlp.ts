/**
 * OTLP/HTTP JSON traces (`POST /v1/traces`, an `ExportTraceServiceRequest`) to usage events.
 *
 * Each span with GenAI usage (any `gen_ai.usage.*` attribute) becomes one raw event for the
 * OTel normalizer: `provider: "otel"`, `api: "span"`, and as payload the span's attributes as
 * one flat object (`{"gen_ai.usage.input_tokens": 5120, …}`), the shape that normalizer reads.
 * OTLP's int64 `intValue` strings become numbers when they are exact integers; arrays and key/value
 * lists become JSON arrays and objects. The request id is the span id (hex, lower-cased) and
 * the event time the span's end (its start when it has no end).
 * Spans without GenAI usage (HTTP, database, agent steps) are skipped and counted, not errors.
 *
 * Labels come from the resource's attributes, then the span's own (the span wins), then the API
 * key's defaults (applied by `Ingest`, lowest):
 *
 * | label        | attributes, first present wins                                          |
 * |--------------|--------------------------------------------------------------------------|
 * | project      | `tally.project`, `service.name`                                          |
 * | environment  | `tally.environment`, `deployment.environment.name`, `deployment.environment` |
 * | team         | `tally.team`, `service.namespace`                                        |
 * | feature      | `tally.feature`                                                          |
 * | customer     | `tally.customer`                                                         |
 * | user         | `tally.user`, `enduser.id`, `user.id`                                    |
 * | workflow     | `tally.workflow`, `gen_ai.conversation.id`                               |
 * | costCenter   | `tally.cost_center`                                                      |
 *
 * Tags: `otel.trace_id`, `otel.span_name`, and `otel.scope` (the instrumentation scope's name)
 * when present, so a call can be found in the tracing backend.
 */
import { FieldError } from "@tally/core"
import { Predicate, Result, Schema } from "effect"

export interface SkippedSpan {
  readonly spanId: string
  readonly reason: string
}

export interface Converted {
  /** Raw usage events (`provider: "otel"`, `api: "span"`), one per span with GenAI usage, in body order. */
  readonly events: Array<unknown>
  readonly skipped: Array<SkippedSpan>
}

/** The body is not an OTLP JSON `ExportTraceServiceRequest`; `path` names where. */
export class OtlpInvalid extends Schema.TaggedError<OtlpInvalid>()("OtlpInvalid", {
  path: Schema.String,
  message: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------
// The OTLP JSON shape (opentelemetry-proto, JSON encoding). Unknown fields are ignored, as the
// protocol requires of receivers.

interface AnyValue {
  readonly stringValue?: string
  readonly boolValue?: boolean
  readonly intValue?: string | number
  readonly doubleValue?: number | string
  readonly bytesValue?: string
  readonly arrayValue?: { readonly values?: ReadonlyArray<AnyValue> }
  readonly kvlistValue?: { readonly values?: ReadonlyArray<KeyValue> }
}

interface KeyValue {
  readonly key: string
  readonly value?: AnyValue | null
}

const AnyValueSchema: Schema.Codec<AnyValue> = Schema.Struct({
  stringValue: Schema.optionalKey(Schema.String),
  boolValue: Schema.optionalKey(Schema.Boolean),
  intValue: Schema.optionalKey(Schema.Union([Schema.String, Schema.Number])),
  doubleValue: Schema.optionalKey(Schema.Union([Schema.Number, Schema.String])),
  bytesValue: Schema.optionalKey(Schema.String),
  arrayValue: Schema.optionalKey(
    Schema.Struct({ values: Schema.optionalKey(Schema.Array(Schema.suspend((): Schema.Codec<AnyValue> => AnyValueSchema))) })
  ),
  kvlistValue: Schema.optionalKey(
    Schema.Struct({ values: Schema.optionalKey(Schema.Array(Schema.suspend((): Schema.Codec<KeyValue> => KeyValueSchema))) })
  )
})

const KeyValueSchema: Schema.Codec<KeyValue> = Schema.Struct({
  key: Schema.String,
  value: Schema.optionalKey(Schema.NullOr(AnyValueSchema))
})

const Attributes = Schema.optionalKey(Schema.Array(KeyValueSchema))

const UnixNano = Schema.optionalKey(Schema.Union([
  Schema.String.check(Schema.isPattern(/^\d{1,20}$/, { message: "expected nanoseconds since the epoch as digits" })),
  Schema.Number
]))

const HexId = (bytes: number) =>
  Schema.String.check(
    Schema.isPattern(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), { message: `expected ${bytes * 2} hex digits` })
  )

const Span = Schema.Struct({
  traceId: Schema.optionalKey(HexId(16)),
  spanId: HexId(8),
  name: Schema.optionalKey(Schema.String),
  startTimeUnixNano: UnixNano,
  endTimeUnixNano: UnixNano,
  attributes: Attributes
})
type Span = typeof Span.Type

const ExportTraceServiceRequest = Schema.Struct({
  resourceSpans: Schema.optionalKey(Schema.Array(Schema.Struct({
    resource: Schema.optionalKey(Schema.NullOr(Schema.Struct({ attributes: Attributes }))),
    scopeSpans: Schema.optionalKey(Schema.Array(Schema.Struct({
      scope: Schema.optionalKey(Schema.NullOr(Schema.Struct({ name: Schema.optionalKey(Schema.String) }))),
      spans: Schema.optionalKey(Schema.Array(Span))
    })))
  })))
})

const decodeRequest = Schema.decodeUnknownResult(ExportTraceServiceRequest, { errors: "first" })

// ---------------------------------------------------------------------------------------------
// Conversion

/** An AnyValue as plain JSON: int64 text as a number when exact, lists and maps as arrays and objects. */
const valueOf = (value: AnyValue | null | undefined): unknown => {
  if (value == null) return undefined
  if (value.stringValue !== undefined) return value.stringValue
  if (value.boolValue !== undefined) return value.boolValue
  if (value.intValue !== undefined) {
    if (typeof value.intValue === "number") return value.intValue
    const n = Number(value.intValue)
    return Number.isSafeInteger(n) && /^-?\d+$/.test(value.intValue) ? n : value.intValue
  }
  if (value.doubleValue !== undefined) return value.doubleValue
  if (value.bytesValue !== undefined) return value.bytesValue
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map((v) => valueOf(v) ?? null)
  if (value.kvlistValue !== undefined) return flatten(value.kvlistValue.values)
  return undefined
}

/** Attributes as one object; an attribute without a value is left out, a repeated key keeps the last. */
const flatten = (attributes: ReadonlyArray<KeyValue> | undefined): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const attribute of attributes ?? []) {
    const value = valueOf(attribute.value)
    if (value !== undefined) out[attribute.key] = value
  }
  return out
}

const LABELS: ReadonlyArray<readonly [label: string, keys: ReadonlyArray<string>]> = [
  ["project", ["tally.project", "service.name"]],
  ["environment", ["tally.environment", "deployment.environment.name", "deployment.environment"]],
  ["feature", ["tally.feature"]],
  ["team", ["tally.team", "service.namespace"]],
  ["customer", ["tally.customer"]],
  ["user", ["tally.user", "enduser.id", "user.id"]],
  ["workflow", ["tally.workflow", "gen_ai.conversation.id"]],
  ["costCenter", ["tally.cost_center"]]
]

const labelsFrom = (attributes: Record<string, unknown>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [label, keys] of LABELS) {
    for (const key of keys) {
      const value = attributes[key]
      if (Predicate.isString(value) && value !== "") {
        out[label] = value
        break
      }
      if (Predicate.isNumber(value) || Predicate.isBoolean(value)) {
        out[label] = String(value)
        break
      }
    }
  }
  return out
}

const NANOS_PER_MILLI = 1_000_000n

/** An OTLP timestamp as ISO 8601 (millisecond precision); undefined when absent or zero. */
const isoOf = (nanos: string | number | undefined): string | undefined => {
  if (nanos === undefined) return undefined
  const value = typeof nanos === "number" ? (Number.isFinite(nanos) && nanos >= 0 ? BigInt(Math.trunc(nanos)) : 0n) : BigInt(nanos)
  if (value === 0n) return undefined
  const date = new Date(Number(value / NANOS_PER_MILLI))
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}

const hasUsage = (attributes: Record<string, unknown>): boolean =>
  Object.keys(attributes).some((key) => key.startsWith("gen_ai.usage."))

const eventOf = (
  span: Span,
  attributes: Record<string, unknown>,
  resourceLabels: Record<string, string>,
  scopeName: string | undefined
) => {
  const labels = { ...resourceLabels, ...labelsFrom(attributes) }
  const tags: Record<string, string> = {}
  if (span.traceId !== undefined) tags["otel.trace_id"] = span.traceId.toLowerCase()
  if (span.name !== undefined && span.name !== "") tags["otel.span_name"] = span.name
  if (scopeName !== undefined && scopeName !== "") tags["otel.scope"] = scopeName
  const occurredAt = isoOf(span.endTimeUnixNano) ?? isoOf(span.startTimeUnixNano)
  return {
    requestId: span.spanId.toLowerCase(),
    // A span with neither time is passed on without one, so ingest rejects it naming the field.
    ...(occurredAt === undefined ? {} : { occurredAt }),
    provider: "otel",
    api: "span",
    ...(Object.keys(labels).length === 0 ? {} : { labels }),
    ...(Object.keys(tags).length === 0 ? {} : { tags }),
    payload: attributes
  }
}

/** Converts an OTLP/HTTP JSON trace export into usage events; see the module comment. */
export const spansToEvents = (otlpJson: unknown): Result.Result<Converted, OtlpInvalid> => {
  if (!Predicate.isObject(otlpJson) || Array.isArray(otlpJson)) {
    return Result.fail(new OtlpInvalid({ path: "(body)", message: "(body): expected an OTLP JSON ExportTraceServiceRequest object" }))
  }
  const decoded = decodeRequest(otlpJson)
  if (Result.isFailure(decoded)) {
    const { field: path, message } = FieldError.fromSchemaError(decoded.failure, { root: "(body)" })
    return Result.fail(new OtlpInvalid({ path, message: `${path}: ${message}` }))
  }
  const events: Array<unknown> = []
  const skipped: Array<SkippedSpan> = []
  for (const resourceSpans of decoded.success.resourceSpans ?? []) {
    const resourceLabels = labelsFrom(flatten(resourceSpans.resource?.attributes))
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      const scopeName = scopeSpans.scope?.name
      for (const span of scopeSpans.spans ?? []) {
        const attributes = flatten(span.attributes)
        if (hasUsage(attributes)) events.push(eventOf(span, attributes, resourceLabels, scopeName))
        else skipped.push({ spanId: span.spanId.toLowerCase(), reason: "no gen_ai.usage.* attributes" })
      }
    }
  }
  return Result.succeed({ events, skipped })
}
