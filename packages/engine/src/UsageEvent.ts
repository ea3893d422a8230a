/**
 * A usage event as producers send it (HTTP ingest, NATS, the embedding API): who made the call,
 * when, attributed to what, and either the raw provider call or its usage already normalized.
 *
 * Decoding is strict: an unknown key is an error, so a misspelt label (`enviroment`) is never
 * silently dropped. A rejection names the JSON path of the first problem.
 */
import { CalendarTime, FastDecode, FieldError, StorableText, Usage, UsageRecord } from "@tally/core"
import { DateTime, Predicate, Result, Schema, SchemaTransformation } from "effect"

/** An instant with its zone, e.g. `2026-05-01T12:00:00Z` or `2026-05-01T14:00:00.250+02:00`. */
const IsoDateTime = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i, {
    message: "expected an ISO 8601 date-time with a zone, e.g. 2026-05-01T12:00:00Z"
  }),
  // The calendar: 2026-02-30 and T24:00 are refused, not rolled over to another day.
  Schema.makeFilter((text: string) => {
    const problem = CalendarTime.problemOf(text)
    return problem === undefined ? undefined : `expected a real date and time: ${problem}`
  })
)

export const OccurredAt = IsoDateTime.pipe(Schema.decodeTo(Schema.DateTimeUtc, SchemaTransformation.dateTimeUtcFromString))

/** A string of at most `max` characters (`StorableText.limits`). */
const Bounded = (max: number) =>
  Schema.String.check(Schema.isMaxLength(max, { message: `expected at most ${max} characters` }))
const { limits } = StorableText
const Label = Bounded(limits.label)

/** Attribution labels as producers name them (`user` is the end user of the caller's product). */
export const EventLabels = Schema.Struct({
  project: Schema.optionalKey(Label),
  environment: Schema.optionalKey(Label),
  feature: Schema.optionalKey(Label),
  team: Schema.optionalKey(Label),
  customer: Schema.optionalKey(Label),
  user: Schema.optionalKey(Label),
  workflow: Schema.optionalKey(Label),
  costCenter: Schema.optionalKey(Label)
})
export type EventLabels = typeof EventLabels.Type

const common = {
  requestId: UsageRecord.RequestId,
  occurredAt: OccurredAt,
  labels: Schema.optionalKey(EventLabels),
  tags: Schema.optionalKey(Schema.Record(Bounded(limits.tagKey), Bounded(limits.tagValue))),
  provider: Schema.NonEmptyString.check(Schema.isMaxLength(limits.provider, { message: `expected at most ${limits.provider} characters` }))
}

/** A raw provider call: the payload exactly as `tally cost` accepts it (JSON, chunk array, SSE/NDJSON text). */
export const RawEvent = Schema.Struct({
  ...common,
  api: Schema.optionalKey(Bounded(limits.api)),
  model: Schema.optionalKey(Bounded(limits.model)),
  request: Schema.optionalKey(Schema.Unknown),
  /** The call ran as part of a provider batch job (billed at the batch discount). */
  batch: Schema.optionalKey(Schema.Boolean),
  payload: Schema.Unknown
})
export type RawEvent = typeof RawEvent.Type

/** Usage already normalized by the producer (`Usage` JSON: disjoint token buckets, units). */
export const NormalizedEvent = Schema.Struct({
  ...common,
  model: Schema.NonEmptyString.check(Schema.isMaxLength(limits.model, { message: `expected at most ${limits.model} characters` })),
  usage: Usage.Usage
})
export type NormalizedEvent = typeof NormalizedEvent.Type

export type UsageEvent = RawEvent | NormalizedEvent

export const isRaw = (event: UsageEvent): event is RawEvent => "payload" in event

/** An event that cannot be decoded: where (a JSON path such as `labels.team`) and what is wrong. */
export class EventRejected extends Schema.TaggedError<EventRejected>()("EventRejected", {
  /** The request id, when the event has a usable one. */
  requestId: Schema.NullOr(Schema.String),
  /** JSON path of the problem inside the event; `(event)` for the event as a whole. */
  path: Schema.String,
  message: Schema.String
}) {}

const options = { onExcessProperty: "error", errors: "first" } as const
const decodeRaw = Schema.decodeUnknownResult(RawEvent, options)
const decodeNormalized = Schema.decodeUnknownResult(NormalizedEvent, options)

/**
 * The hot path for raw events: `RawEvent` with `occurredAt` as its checked text, compiled
 * (`FastDecode`), then the instant read as `OccurredAt`'s transformation reads it. An event it
 * does not accept goes through `decodeRaw`, which names the problem.
 */
const fastRawWire = FastDecode.compile(Schema.Struct({ ...RawEvent.fields, occurredAt: IsoDateTime }), { exact: true })
const fastRaw = (input: unknown): RawEvent | undefined => {
  const wire = fastRawWire?.(input)
  if (wire === undefined) return undefined
  const at = DateTime.make(wire.occurredAt)
  if (at._tag === "None") return undefined
  // A string with a zone makes a UTC DateTime already; `toUtc` would build a second one.
  return { ...wire, occurredAt: DateTime.isUtc(at.value) ? at.value : DateTime.toUtc(at.value) }
}
const requestIdOf = (input: Record<string, unknown>): string | null => {
  const id = input["requestId"]
  return UsageRecord.isRequestId(id) ? id : null
}

const rejected = (requestId: string | null, path: string, message: string): EventRejected =>
  new EventRejected({ requestId, path, message: `${path}: ${message}` })

/**
 * Decodes one event; the rejection names the JSON path and the problem. Text the database cannot
 * store (a NUL, a lone surrogate), anywhere in the event including the payload, is refused first.
 */
export const decodeEvent = (input: unknown): Result.Result<UsageEvent, EventRejected> => {
  if (!Predicate.isObject(input) || Array.isArray(input)) {
    return Result.fail(rejected(null, "(event)", `expected an event object, got ${input === null ? "null" : Array.isArray(input) ? "an array" : typeof input}`))
  }
  const record = input as Record<string, unknown>
  const requestId = requestIdOf(record)
  const unstorable = StorableText.find(record)
  if (unstorable !== undefined) return Result.fail(rejected(requestId, unstorable.path, unstorable.problem))
  const hasPayload = "payload" in record
  const hasUsage = "usage" in record
  if (hasPayload && hasUsage) {
    return Result.fail(rejected(requestId, "usage", "an event carries either a raw `payload` or normalized `usage`, not both"))
  }
  if (!hasPayload && !hasUsage) {
    return Result.fail(rejected(requestId, "(event)", "expected a raw provider call (`payload`) or normalized usage (`usage` with `model`)"))
  }
  if (hasPayload) {
    const fast = fastRaw(input)
    if (fast !== undefined) return Result.succeed(fast)
  }
  const decoded: Result.Result<UsageEvent, Schema.SchemaError> = hasPayload ? decodeRaw(input) : decodeNormalized(input)
  if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
  const { field, message } = FieldError.fromSchemaError(decoded.failure, { root: "(event)" })
  return Result.fail(rejected(requestId, field, message))
}

/**
 * The ledger labels of an event: the event's own labels over the defaults (field by field),
 * `user` stored as `endUser`, and the API key id from the caller.
 */
export const ledgerLabels = (
  labels: EventLabels | undefined,
  defaults: Partial<UsageRecord.Labels> | undefined,
  apiKeyId: string | undefined
): UsageRecord.Labels => {
  const out: { -readonly [K in keyof UsageRecord.Labels]?: string } = { ...defaults }
  if (labels !== undefined) {
    if (labels.project !== undefined) out.project = labels.project
    if (labels.environment !== undefined) out.environment = labels.environment
    if (labels.feature !== undefined) out.feature = labels.feature
    if (labels.team !== undefined) out.team = labels.team
    if (labels.customer !== undefined) out.customer = labels.customer
    if (labels.user !== undefined) out.endUser = labels.user
    if (labels.workflow !== undefined) out.workflow = labels.workflow
    if (labels.costCenter !== undefined) out.costCenter = labels.costCenter
  }
  if (apiKeyId !== undefined) out.apiKeyId = apiKeyId
  for (const key of Object.keys(out) as Array<keyof UsageRecord.Labels>) if (out[key] === undefined) delete out[key]
  return out
}

