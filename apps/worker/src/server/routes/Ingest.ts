/**
 * `POST /api/v1/usage/ingest`: a batch of usage events (JSON array, `{ "events": [...] }` or
 * NDJSON) for the tenant of the Bearer key. 200 with one result per event, in order, even when
 * some were rejected; an error status only when nothing of the request was taken.
 */
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as ApiError from "../ApiError.ts"
import * as Auth from "../Auth.ts"
import * as Intake from "../Intake.ts"
import * as RequestBody from "../RequestBody.ts"
import { ServerConfig } from "../ServerConfig.ts"

export const path = "/api/v1/usage/ingest"

export const handler = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const config = yield* ServerConfig
  const key = yield* Auth.authenticate(request, "ingest")
  const body = yield* RequestBody.readText(request, config.maxBodyBytes)
  const events = yield* Effect.fromResult(RequestBody.events(body, request.headers["content-type"], config.maxBatchEvents))
  const result = yield* Intake.submit(key, events)
  return HttpServerResponse.jsonUnsafe(result)
}).pipe(
  Effect.catchTag("ApiError", (error) => Effect.succeed(ApiError.toResponse(error)))
)
