/**
 * A usage message as it arrives from NATS: the tenant comes from its subject
 * (`<prefix>.<tenantId>`), the events from its body, in the formats HTTP ingest takes: one event
 * object, a JSON array of events, `{ "events": [...] }`, or NDJSON (one event per line).
 *
 * Only the message's framing is checked here. Each event is decoded by the ingest pipeline, which
 * rejects a bad event on its own (dead-lettered with its reason) and keeps the rest of the batch.
 */
import { Tenant } from "@tally/core"
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import * as JsonDepth from "../server/internal/JsonDepth.ts"
import * as Schema from "effect/Schema"

/** Why a message can never be ingested as it is; `part` says where the fault is. */
export class MessageRejected extends Schema.TaggedError<MessageRejected>()("MessageRejected", {
  part: Schema.Literals(["subject", "body"]),
  message: Schema.String
}) {}

const isTenantId = Schema.is(Tenant.TenantId)

/**
 * The tenant a subject names: everything after `<prefix>.`. Tenant ids may contain `.`, which
 * NATS reads as extra tokens; the stream's `<prefix>.>` captures them all.
 */
export const tenantOf = (prefix: string, subject: string): Result.Result<string, MessageRejected> => {
  if (!subject.startsWith(`${prefix}.`)) {
    return Result.fail(new MessageRejected({ part: "subject", message: `subject ${JSON.stringify(subject)} is not under ${prefix}.<tenant>` }))
  }
  const tenantId = subject.slice(prefix.length + 1)
  return isTenantId(tenantId)
    ? Result.succeed(tenantId)
    : Result.fail(
      new MessageRejected({
        part: "subject",
        message: `subject ${JSON.stringify(subject)}: ${JSON.stringify(tenantId)} is not a tenant id (expected 1 to 128 letters, digits or \`_.:-\`, starting with a letter or digit)`
      })
    )
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

const body = (message: string) => new MessageRejected({ part: "body", message })

const parseJson = (text: string): Result.Result<unknown, string> =>
  JsonDepth.exceeds(text)
    ? Result.fail(JsonDepth.message())
    : Result.try({ try: () => JSON.parse(text) as unknown, catch: (cause) => (cause instanceof Error ? cause.message : String(cause)) })

const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

/** A parsed document as events: an array, `{ events: [...] }`, or one event object. */
const fromDocument = (value: unknown): Result.Result<ReadonlyArray<unknown>, MessageRejected> => {
  if (Array.isArray(value)) return Result.succeed(value)
  if (Predicate.isObject(value)) {
    const keys = Object.keys(value)
    const events = (value as { readonly events?: unknown }).events
    if (keys.length === 1 && keys[0] === "events") {
      return Array.isArray(events)
        ? Result.succeed(events)
        : Result.fail(body(`"events" must be an array of events, got ${describe(events)}`))
    }
    return Result.succeed([value])
  }
  return Result.fail(body(`expected an event object, an array of events or NDJSON, got ${describe(value)}`))
}

/** The events a message body carries, in order. */
export const eventsOf = (data: Uint8Array): Result.Result<ReadonlyArray<unknown>, MessageRejected> => {
  let text: string
  try {
    text = utf8.decode(data)
  } catch {
    return Result.fail(body("the body is not UTF-8 text"))
  }
  if (text.trim() === "") return Result.fail(body("the body is empty; expected an event, an array of events or NDJSON"))
  const whole = parseJson(text)
  if (Result.isSuccess(whole)) return fromDocument(whole.success)
  const lines = text.split("\n")
  if (lines.filter((line) => line.trim() !== "").length < 2) return Result.fail(body(`invalid JSON: ${whole.failure}`))
  // NDJSON: every non-blank line is one event.
  const events: Array<unknown> = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.trim() === "") continue
    const parsed = parseJson(line)
    if (Result.isFailure(parsed)) return Result.fail(body(`line ${i + 1}: invalid JSON: ${parsed.failure}`))
    events.push(parsed.success)
  }
  return Result.succeed(events)
}

/** The body as text for a dead letter: UTF-8 when it is, else base64 marked as such. */
export const bodyText = (data: Uint8Array): string => {
  try {
    return utf8.decode(data)
  } catch {
    return `base64:${Buffer.from(data).toString("base64")}`
  }
}
