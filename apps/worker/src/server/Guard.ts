/**
 * The last line of every route: a request whose handler died (a defect, e.g. a database
 * connection dropped where no typed error was expected) is still answered with the worker's error
 * body, and the cause is logged. A cause that involves the database is `503 unavailable` with
 * `Retry-After` (the work may or may not have been committed, and a retry is safe because every
 * write the API offers is idempotent or refused when repeated); anything else is `500 internal`.
 * Typed failures and interruptions pass through unchanged: the routes answer their own errors.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import { isSqlError, isSqlErrorReason } from "effect/sql/SqlError"
import * as ApiError from "./ApiError.ts"

/** The message of a 503 whose work may have been committed before the database failed. */
export const unavailableMessage = "the database is unavailable; the request may have been stored; retrying is safe"

/** True when something in the cause is a failure of the database (at any depth of `cause`). */
export const involvesDatabase = (cause: Cause.Cause<unknown>): boolean =>
  cause.reasons.some((reason) => {
    let current: unknown = Cause.isDieReason(reason) ? reason.defect : Cause.isFailReason(reason) ? reason.error : undefined
    for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
      if (isSqlError(current) || isSqlErrorReason(current)) return true
      current = (current as { readonly cause?: unknown }).cause
    }
    return false
  })

export const layer = HttpRouter.middleware((effect) =>
  Effect.catchCause(effect, (cause) => {
    if (!Cause.hasDies(cause)) return Effect.failCause(cause)
    return Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const database = involvesDatabase(cause)
      yield* Effect.logError(`${request.method} ${request.url} failed${database ? " (database)" : ""}`, cause)
      return database
        ? ApiError.respond(503, "unavailable", unavailableMessage)
        : ApiError.respond(500, "internal", "internal error; the cause is in the worker's log")
    })
  }), { global: true })
