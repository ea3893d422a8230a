/**
 * Budget routes. Bodies are JSON; amounts are decimal strings in the tenant's currency.
 *
 * For gateways, with a key that has the `ingest` scope (the key a gateway also ingests with):
 *   POST /api/v1/budgets/check    { labels?, estimatedCost, currency? }          -> decision
 *   POST /api/v1/budgets/reserve  { labels?, estimatedCost, currency?, requestId?, ttlSeconds? }
 *                                                                               -> decision + reservation
 *   POST /api/v1/budgets/settle   { reservationId, actualCost, requestId? }      -> reservation
 *   POST /api/v1/budgets/release  { reservationId }                              -> reservation
 * A denial is an answer, not an error: 200 with `"decision": "deny"`. The key's id and default
 * labels apply as in ingest (the body's labels win field by field).
 *
 * For people and dashboards:
 *   GET   /api/v1/budgets      (`read`)  every active budget with its current period's status
 *   POST  /api/v1/budgets      (`admin`) creates a budget -> 201
 *   PATCH /api/v1/budgets/:id  (`admin`) changes name, amount, thresholds or action -> the budget
 *
 * Errors are the worker's problem details (`ApiError.problem`), with `error.code`: `invalid_request` (422, names
 * the field), `not_found` (404, unknown reservation or budget), `reservation_closed` (409),
 * `budget_archived` (409).
 */
import type { ApiKey} from "@tally/core";
import { Budget } from "@tally/core"
import { Budgets, BudgetJobs, Enforcement, WebhookDelivery } from "@tally/engine"
import { Outbox } from "@tally/store"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import type * as Result from "effect/Result"
import * as ServiceErrors from "../../ServiceErrors.ts"
import * as Auth from "../Auth.ts"
import * as RequestBody from "../RequestBody.ts"
import { ServerConfig } from "../ServerConfig.ts"

export const paths = {
  budgets: "/api/v1/budgets",
  budget: "/api/v1/budgets/:id",
  check: "/api/v1/budgets/check",
  reserve: "/api/v1/budgets/reserve",
  settle: "/api/v1/budgets/settle",
  release: "/api/v1/budgets/release"
} as const

const respond = ServiceErrors.respond("budget request")

const jsonBody = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const config = yield* ServerConfig
  const text = yield* RequestBody.readText(request, config.maxBodyBytes)
  return yield* Effect.fromResult(RequestBody.parseJson(text))
})

const authenticated = (scope: ApiKey.Scope) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    return yield* Auth.authenticate(request, scope)
  })

/** The call's labels: the key's defaults under the body's, and the key's own id. */
const callLabels = (
  key: ApiKey.VerifiedKey,
  labels: typeof Enforcement.RequestLabels.Type | undefined
): Budget.CallScope => ({
  project: key.defaultLabels.project,
  environment: key.defaultLabels.environment,
  feature: key.defaultLabels.feature,
  team: key.defaultLabels.team,
  customer: key.defaultLabels.customer,
  ...labels,
  apiKeyId: key.keyId
})

const decoded = <A, E>(result: Result.Result<A, E>) => Effect.fromResult(result)

export const check = respond(Effect.gen(function*() {
  const key = yield* authenticated("ingest")
  const body = yield* decoded(Enforcement.decodeCheck(yield* jsonBody))
  const enforcement = yield* Enforcement.Enforcement
  const decision = yield* enforcement.check(key.tenantId, {
    labels: callLabels(key, body.labels),
    estimatedCost: body.estimatedCost,
    currency: body.currency
  })
  return HttpServerResponse.jsonUnsafe(Enforcement.decisionToJson(decision))
}))

export const reserve = respond(Effect.gen(function*() {
  const key = yield* authenticated("ingest")
  const body = yield* decoded(Enforcement.decodeReserve(yield* jsonBody))
  const enforcement = yield* Enforcement.Enforcement
  const decision = yield* enforcement.reserve(key.tenantId, {
    labels: callLabels(key, body.labels),
    estimatedCost: body.estimatedCost,
    currency: body.currency,
    requestId: body.requestId,
    ttlSeconds: body.ttlSeconds
  })
  return HttpServerResponse.jsonUnsafe(Enforcement.decisionToJson(decision))
}))

export const settle = respond(Effect.gen(function*() {
  const key = yield* authenticated("ingest")
  const body = yield* decoded(Enforcement.decodeSettle(yield* jsonBody))
  const enforcement = yield* Enforcement.Enforcement
  const reservation = yield* enforcement.settle(key.tenantId, body.reservationId, {
    actualCost: body.actualCost,
    requestId: body.requestId
  })
  return HttpServerResponse.jsonUnsafe(Enforcement.reservationToJson(reservation))
}))

export const release = respond(Effect.gen(function*() {
  const key = yield* authenticated("ingest")
  const body = yield* decoded(Enforcement.decodeRelease(yield* jsonBody))
  const enforcement = yield* Enforcement.Enforcement
  const reservation = yield* enforcement.release(key.tenantId, body.reservationId)
  return HttpServerResponse.jsonUnsafe(Enforcement.reservationToJson(reservation))
}))

export const list = respond(Effect.gen(function*() {
  const key = yield* authenticated("read")
  const budgets = yield* Budgets.Budgets
  const status = yield* budgets.status(key.tenantId).pipe(
    Effect.catchTag("BudgetNotFound", (error) => Effect.die(error))
  )
  return HttpServerResponse.jsonUnsafe({ budgets: status.map(Budgets.statusToJson) })
}))

export const create = respond(Effect.gen(function*() {
  const key = yield* authenticated("admin")
  const input = yield* decoded(Budget.decodeBudgetInput(yield* jsonBody))
  const budgets = yield* Budgets.Budgets
  const budget = yield* budgets.create(key.tenantId, input)
  return HttpServerResponse.jsonUnsafe(Budgets.budgetToJson(budget), { status: 201 })
}))

/** A JSON patch (`Budget.decodeBudgetPatch`); the key's id is the change's actor in the audit. */
export const update = respond(Effect.gen(function*() {
  const key = yield* authenticated("admin")
  const budgetId = (yield* HttpRouter.params).id ?? ""
  const patch = yield* decoded(Budget.decodeBudgetPatch(yield* jsonBody))
  const budgets = yield* Budgets.Budgets
  const budget = yield* budgets.update(key.tenantId, budgetId, patch, { actor: key.keyId })
  return HttpServerResponse.jsonUnsafe(Budgets.budgetToJson(budget))
}))

/** The routes, for the server's route table. */
export const routes = [
  HttpRouter.route("POST", paths.check, check),
  HttpRouter.route("POST", paths.reserve, reserve),
  HttpRouter.route("POST", paths.settle, settle),
  HttpRouter.route("POST", paths.release, release),
  HttpRouter.route("GET", paths.budgets, list),
  HttpRouter.route("POST", paths.budgets, create),
  HttpRouter.route("PATCH", paths.budget, update)
]

/** What the routes need, and the background jobs: webhook delivery and the budget sweep. */
export type Services = Budgets.Budgets | Enforcement.Enforcement | WebhookDelivery.WebhookDelivery | Outbox.Outbox

export const layer = BudgetJobs.layer().pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      Budgets.Budgets.layer,
      Enforcement.Enforcement.layer,
      WebhookDelivery.WebhookDelivery.layer.pipe(
        Layer.provide(FetchHttpClient.layer),
        Layer.provideMerge(Outbox.Outbox.layer)
      )
    )
  )
)
