/**
 * `POST /v1/traces`: OTLP/HTTP traces, in the binary protobuf encoding (`application/x-protobuf`,
 * the OpenTelemetry SDKs' default) or the JSON one (`application/json`). Spans carrying OpenTelemetry GenAI
 * usage attributes become usage events (span id as request id) in the same pipeline as
 * `/api/v1/usage/ingest`; other spans are skipped, not errors. Same Bearer key and limits.
 *
 * Answers follow OTLP/HTTP, in the request's encoding: 200 with an `ExportTraceServiceResponse`
 * (its `partialSuccess` set only when some spans were rejected), errors as a `google.rpc.Status`
 * `{ code, message }`.
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
import * as OtlpProtobuf from "../internal/OtlpProtobuf.ts"
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

type Encoding = "json" | "protobuf"

const protobufType = "application/x-protobuf"

const encodingOf = (contentType: string): Encoding | undefined =>
  contentType === "" || contentType === "application/json" ? "json" : contentType === protobufType ? "protobuf" : undefined

const statusResponse = (error: ApiError.ApiError, encoding: Encoding) => {
  const options = { status: error.status, ...(error.code === "unavailable" ? { headers: { "retry-after": "1" } } : {}) }
  return encoding === "protobuf"
    ? HttpServerResponse.uint8Array(OtlpProtobuf.encodeStatus(grpcCode[error.code], error.message), { ...options, contentType: protobufType })
    : HttpServerResponse.jsonUnsafe({ code: grpcCode[error.code], message: error.message }, options)
}

const successResponse = (encoding: Encoding, partialSuccess?: { readonly rejectedSpans: number; readonly errorMessage: string }) =>
  encoding === "protobuf"
    ? HttpServerResponse.uint8Array(OtlpProtobuf.encodeResponse(partialSuccess), { contentType: protobufType })
    // int64 in the proto3 JSON mapping is a decimal string.
    : HttpServerResponse.jsonUnsafe(
      partialSuccess === undefined ? {} : { partialSuccess: { ...partialSuccess, rejectedSpans: String(partialSuccess.rejectedSpans) } }
    )

/** The request as OTLP JSON, read in its encoding. */
const readRequest = (request: HttpServerRequest.HttpServerRequest, encoding: Encoding, maxBytes: number) =>
  encoding === "protobuf"
    ? RequestBody.readBytes(request, maxBytes).pipe(
      Effect.flatMap((bytes) =>
        Effect.fromResult(Result.mapError(
          OtlpProtobuf.decodeRequest(bytes),
          (reason) => ApiError.make("malformed_body", `not a protobuf ExportTraceServiceRequest: ${reason}`)
        ))
      )
    )
    : RequestBody.readText(request, maxBytes).pipe(Effect.flatMap((body) => Effect.fromResult(RequestBody.parseJson(body))))

/** At most this many rejection reasons are spelled out in `errorMessage`. */
const shownReasons = 5

export const handler = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const contentType = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
  const encoding = encodingOf(contentType)
  return yield* handle(request, contentType, encoding).pipe(
    Effect.catchTag("ApiError", (error) => Effect.succeed(statusResponse(error, encoding ?? "json")))
  )
})

const handle = Effect.fnUntraced(function*(request: HttpServerRequest.HttpServerRequest, contentType: string, encoding: Encoding | undefined) {
  const config = yield* ServerConfig
  const metrics = yield* Metrics
  const key = yield* Auth.authenticate(request, "ingest")
  if (encoding === undefined) {
    return yield* ApiError.make(
      "unsupported_media_type",
      `OTLP/HTTP is accepted as application/x-protobuf or application/json, got "${contentType}"`
    )
  }
  const json = yield* readRequest(request, encoding, config.maxBodyBytes)
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
  if (rejected.length === 0) return successResponse(encoding)
  const reasons = rejected.slice(0, shownReasons).map((item) => `span ${item.requestId ?? `#${item.index}`}: ${item.reason ?? item.status}`)
  if (rejected.length > shownReasons) reasons.push(`(+${rejected.length - shownReasons} more)`)
  return successResponse(encoding, { rejectedSpans: rejected.length, errorMessage: reasons.join("; ") })
})
