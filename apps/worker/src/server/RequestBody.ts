/**
 * Reading an intake request's body: size-limited, then parsed as one JSON document or as NDJSON,
 * with malformed input answered by the line and column where it breaks.
 */
import * as ByteSize from "effect/ByteSize"
import * as Effect from "effect/Effect"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import type * as HttpServerError from "effect/http/HttpServerError"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as ApiError from "./ApiError.ts"
import * as JsonDepth from "./internal/JsonDepth.ts"
import * as JsonSyntax from "./internal/JsonSyntax.ts"

const tooLarge = (limit: number) =>
  ApiError.make("body_too_large", `the request body exceeds the limit of ${limit} bytes; send smaller batches`)

/** Reads the body with `read`, refusing a declared `Content-Length` over the limit before reading and cutting off a body that grows past it. */
const limited = <A>(
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number,
  read: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<A, HttpServerError.HttpServerError>
): Effect.Effect<A, ApiError.ApiError> => {
  const declared = request.headers["content-length"]
  if (declared !== undefined && Number(declared) > maxBytes) return Effect.fail(tooLarge(maxBytes))
  return read(request).pipe(
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.fromInputUnsafe(maxBytes)),
    Effect.mapError((error) =>
      error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
        ? tooLarge(maxBytes)
        : ApiError.make("malformed_body", `could not read the request body: ${error.message}`)
    )
  )
}

/** The body as text, at most `maxBytes` long. */
export const readText = (request: HttpServerRequest.HttpServerRequest, maxBytes: number): Effect.Effect<string, ApiError.ApiError> =>
  limited(request, maxBytes, (r) => r.text)

/** The body as bytes, at most `maxBytes` long. */
export const readBytes = (request: HttpServerRequest.HttpServerRequest, maxBytes: number): Effect.Effect<Uint8Array, ApiError.ApiError> =>
  limited(request, maxBytes, (r) => Effect.map(r.arrayBuffer, (buffer) => new Uint8Array(buffer)))

const stripBom = (text: string) => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)

const syntaxMessage = (text: string, cause: unknown): string => {
  const located = JsonSyntax.check(text)
  return located === undefined
    ? `malformed JSON: ${(cause as Error).message}`
    : `malformed JSON at line ${located.line}, column ${located.column} (position ${located.position}): ${located.message}`
}

/** One JSON document, nested at most `JsonDepth.maxDepth` levels. */
export const parseJson = (body: string): Result.Result<unknown, ApiError.ApiError> => {
  const text = stripBom(body)
  if (text.trim() === "") return Result.fail(ApiError.make("malformed_body", "the request body is empty; expected JSON"))
  if (JsonDepth.exceeds(text)) return Result.fail(ApiError.make("malformed_body", JsonDepth.message()))
  try {
    return Result.succeed(JSON.parse(text))
  } catch (cause) {
    return Result.fail(ApiError.make("malformed_body", syntaxMessage(text, cause)))
  }
}

/** Content types that mean one JSON event per line. */
const ndjsonTypes = new Set(["application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"])

export const isNdjson = (contentType: string | undefined): boolean =>
  contentType !== undefined && ndjsonTypes.has(contentType.split(";")[0]!.trim().toLowerCase())

/** One JSON value per non-blank line; a fault names its line. */
export const parseNdjson = (body: string, maxEvents: number): Result.Result<ReadonlyArray<unknown>, ApiError.ApiError> => {
  const lines = stripBom(body).split("\n")
  const events: Array<unknown> = []
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.endsWith("\r") ? lines[index]!.slice(0, -1) : lines[index]!
    if (line.trim() === "") continue
    if (events.length === maxEvents) return Result.fail(batchTooLarge(maxEvents, "more than"))
    if (JsonDepth.exceeds(line)) {
      return Result.fail(ApiError.make("malformed_body", `malformed NDJSON at line ${index + 1}: ${JsonDepth.message()}`))
    }
    try {
      events.push(JSON.parse(line))
    } catch (cause) {
      const located = JsonSyntax.check(line)
      return Result.fail(ApiError.make(
        "malformed_body",
        located === undefined
          ? `malformed NDJSON at line ${index + 1}: ${(cause as Error).message}`
          : `malformed NDJSON at line ${index + 1}, column ${located.column}: ${located.message}`
      ))
    }
  }
  return Result.succeed(events)
}

const batchTooLarge = (maxEvents: number, count: number | "more than") =>
  ApiError.make(
    "batch_too_large",
    `the batch has ${count === "more than" ? `more than ${maxEvents}` : count} events; at most ${maxEvents} are accepted per request, send smaller batches`
  )

/**
 * The events of an ingest request: a JSON array, an object `{ "events": [...] }`, or NDJSON when
 * the content type says so. At most `maxEvents` of them.
 */
export const events = (
  body: string,
  contentType: string | undefined,
  maxEvents: number
): Result.Result<ReadonlyArray<unknown>, ApiError.ApiError> => {
  if (isNdjson(contentType)) return parseNdjson(body, maxEvents)
  return Result.flatMap(parseJson(body), (json) => {
    const batch = decodeBatch(json)
    if (Result.isFailure(batch)) {
      return Result.fail(ApiError.make(
        "invalid_batch",
        `expected a JSON array of events, an object { "events": [...] }, or NDJSON with Content-Type application/x-ndjson; got ${describe(json)}`
      ))
    }
    const list = Array.isArray(batch.success) ? batch.success : (batch.success as { readonly events: ReadonlyArray<unknown> }).events
    return list.length > maxEvents ? Result.fail(batchTooLarge(maxEvents, list.length)) : Result.succeed(list)
  })
}

const Batch = Schema.Union([Schema.Array(Schema.Unknown), Schema.Struct({ events: Schema.Array(Schema.Unknown) })])
const decodeBatch = (json: unknown) => Schema.decodeUnknownResult(Batch)(json, { onExcessProperty: "error" })

const describe = (json: unknown): string => {
  if (json === null) return "null"
  if (Array.isArray(json)) return "an array"
  if (typeof json === "object") {
    const keys = Object.keys(json)
    return keys.length === 0 ? "an empty object" : `an object with keys ${keys.slice(0, 5).map((k) => JSON.stringify(k)).join(", ")}`
  }
  return `a ${typeof json}`
}
