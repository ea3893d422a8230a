/**
 * Times every HTTP request into `tally_http_request_duration_seconds{method,route,status}`. The
 * route is the matched pattern (`/api/v1/budgets/:id`), never the URL, so the series stay few;
 * a request no route takes is `unmatched`.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import { Metrics } from "./Metrics.ts"

const statusOf = (exit: Exit.Exit<{ readonly status: number }, unknown>): number => {
  if (Exit.isSuccess(exit)) return exit.value.status
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined && HttpServerError.isHttpServerError(failure.error)) {
    return failure.error.reason._tag === "RouteNotFound" ? 404 : failure.error.reason._tag === "RequestParseError" ? 400 : 500
  }
  return 500
}

export const layer = HttpRouter.middleware((effect) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const metrics = yield* Metrics
    const started = yield* Clock.currentTimeNanos
    return yield* effect.pipe(
      Effect.onExit((exit) =>
        Effect.withFiber((fiber) => {
          const route = Context.getOrUndefined(fiber.context, HttpRouter.RouteContext)?.route.path ?? "unmatched"
          return Effect.flatMap(Clock.currentTimeNanos, (finished) =>
            metrics.recordRequest({
              method: request.method,
              route: String(route),
              status: statusOf(exit),
              seconds: Number(finished - started) / 1e9
            }))
        })
      )
    )
  }), { global: true })
