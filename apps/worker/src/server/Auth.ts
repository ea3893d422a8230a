/**
 * Who is calling: the Bearer API key of a request selects the tenant, and must carry the scope
 * the route needs. Unknown, malformed and revoked keys are answered alike (401), so a caller
 * learns nothing about which keys exist.
 */
import type { ApiKey } from "@tally/core"
import { ApiKeys } from "@tally/store"
import * as Effect from "effect/Effect"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as ApiError from "./ApiError.ts"

const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i

/** The verified key of the request, which must hold `scope`. */
export const authenticate = Effect.fnUntraced(function*(
  request: HttpServerRequest.HttpServerRequest,
  scope: ApiKey.Scope
): Effect.fn.Return<ApiKey.VerifiedKey, ApiError.ApiError, ApiKeys.ApiKeys> {
  const header = request.headers["authorization"]
  if (header === undefined || header === "") {
    return yield* ApiError.make("unauthorized", "missing API key: send the header Authorization: Bearer <key>")
  }
  const secret = bearer.exec(header)?.[1]
  if (secret === undefined) {
    return yield* ApiError.make("unauthorized", "the Authorization header must read Bearer <key>")
  }
  const keys = yield* ApiKeys.ApiKeys
  const key = yield* keys.verify(secret).pipe(
    Effect.catchTags({
      ApiKeyRejected: () => Effect.fail(ApiError.make("unauthorized", "the API key is not valid (unknown or revoked)")),
      SqlError: (error) =>
        Effect.logError(`API key verification failed: ${error.message}`).pipe(
          Effect.andThen(Effect.fail(ApiError.make("unavailable", "the database is unavailable; retry later")))
        )
    })
  )
  if (!key.scopes.includes(scope)) {
    return yield* ApiError.make("forbidden", `the API key lacks the "${scope}" scope (it has ${key.scopes.join(", ")})`)
  }
  return key
})
