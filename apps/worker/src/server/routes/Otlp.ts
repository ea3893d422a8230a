/**
 * `POST /v1/traces`: OTLP/HTTP traces in the JSON encoding. Spans carrying OpenTelemetry GenAI
 * usage attributes become usage events (span id as request id) in the same pipeline as
 * `/api/v1/usage/ingest`; other spans are skipped, not errors. Same Bearer key and limits.
 *
 * Answers follow OTLP/HTTP: 200 with an `ExportTraceServiceResponse` (its `partialSuccess` set
 * only when some spans were rejected), errors as a `google.rpc.Status` JSON `{ code, message }`.
 */
import { Otlp } from "@tally/engine"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as Auth from "../Auth.ts"
import * as Intake from "../Intake.ts"
import { Metrics } from "../Metrics.ts"
import * as RequestBody from "../RequestBody.ts"
import { ServerConfig } from "../ServerConfig.ts"

export const path = "/v1/traces"

/** gRPC status codes, as OTLP/HTTP's `Status` body carries them. */
const grpcCode: Record<ApiError.Code, number> = {
  malformed_body: 3, // INVALID_ARGUMENT
  invalid_batch: 3,
  unsupported_media_type: 3,
  batch_too_large: 8, // RESOURCE_EXHAUSTED
  body_too_large: 8,
  unauthorized: 16, // UNAUTHENTICATED
  forbidden: 7, // PERMISSION_DENIED
  not_found: 5,
  unavailable: 14, // UNAVAILABLE: the exporter retries
  internal: 13
}

const statusResponse = (error: ApiError.ApiError) =>
  HttpServerResponse.jsonUnsafe({ code: grpcCode[error.code], message: error.message }, {
    status: error.status,
    ...(error.code === "unavailable" ? { headers: { "retry-after": "1" } } : {})
  })

/** At most this many rejection reasons are spelled out in `errorMessage`. */
const shownReasons = 5

export const handler = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const config = yield* ServerConfig
  const metrics = yield* Metrics
  const key = yield* Auth.authenticate(request, "ingest")
  const contentType = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
  if (contentType !== "" && contentType !== "application/json") {
    return yield* ApiError.make(
      "unsupported_media_type",
      `only the OTLP/HTTP JSON encoding is accepted (Content-Type: application/json), got "${contentType}"; set OTEL_EXPORTER_OTLP_PROTOCOL=http/json`
    )
  }
  const body = yield* RequestBody.readText(request, config.maxBodyBytes)
  const json = yield* Effect.fromResult(RequestBody.parseJson(body))
  const converted = Otlp.spansToEvents(json)
  if (Result.isFailure(converted)) {
    return yield* ApiError.make("invalid_batch", `not an OTLP ExportTraceServiceRequest: ${converted.failure.message} at ${converted.failure.path}`)
  }
  const { events, skipped } = converted.success
  if (events.length > config.maxBatchEvents) {
    return yield* ApiError.make("batch_too_large", `the request has ${events.length} GenAI spans; at most ${config.maxBatchEvents} are accepted per request`)
  }
  yield* metrics.recordSkippedSpans(skipped.length)
  const result = yield* Intake.submit(key, events)
  const rejected = result.items.filter((item) => item.status === "rejected" || item.status === "conflict")
  if (rejected.length === 0) return HttpServerResponse.jsonUnsafe({})
  // int64 in the proto3 JSON mapping is a decimal string.
  const reasons = rejected.slice(0, shownReasons).map((item) => `span ${item.requestId ?? `#${item.index}`}: ${item.reason ?? item.status}`)
  if (rejected.length > shownReasons) reasons.push(`(+${rejected.length - shownReasons} more)`)
  return HttpServerResponse.jsonUnsafe({ partialSuccess: { rejectedSpans: String(rejected.length), errorMessage: reasons.join("; ") } })
}).pipe(
  Effect.catchTag("ApiError", (error) => Effect.succeed(statusResponse(error)))
)
