/**
 * `/graphql` on the worker's HTTP server: the request handed to yoga as a web Request, its
 * Response (JSON, or a server-sent event stream for subscriptions) handed back.
 *
 * The layer builds yoga once over the worker's services, adding the engine services resolvers
 * call (budgets, enforcement, chargeback, tenant pricing, repricing, anomalies), which need only the database and the
 * store.
 */
import { Budgets, Chargeback, Currencies, Enforcement, type Governance, type GovernanceCache, Reprice, SalePricing, TenantPricing } from "@tally/engine"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { Catalog } from "@tally/catalog"
import type { Database, Store } from "@tally/store"
import * as AnswerCache from "./AnswerCache.ts"
import { makeRunner, type Services } from "./Context.ts"
import { endpoint, makeYoga } from "./yoga.ts"

export const path = endpoint

export class GraphqlApi extends Context.Service<GraphqlApi, {
  readonly fetch: (request: Request) => Promise<Response>
  /** The answer cache's size and hits; undefined when it is off. */
  readonly answerCache: (() => AnswerCache.Stats) | undefined
}>()("@tally/worker/graphql/GraphqlApi") {}

const pollMessage = "expected milliseconds from 1 to 300000"
const bytesMessage = "expected bytes, an integer from 0 to 4294967296"

/**
 * `TALLY_GRAPHIQL` (default: on unless NODE_ENV=production), `TALLY_GRAPHQL_POLL_MS` (default 2000,
 * at most the 300 s a subscription may ask for), `TALLY_GRAPHQL_CACHE_BYTES` (the answer cache's
 * budget, default 64 MiB; 0 turns it off). `tally serve` reads them before it starts.
 */
export const settings = Config.all({
  graphiql: Config.Boolean("TALLY_GRAPHIQL").pipe(Config.withDefault(process.env["NODE_ENV"] !== "production")),
  pollMillis: Config.schema(
    Schema.NumberFromString.check(Schema.isInt({ message: pollMessage }), Schema.isBetween({ minimum: 1, maximum: 300_000 }, { message: pollMessage })),
    "TALLY_GRAPHQL_POLL_MS"
  ).pipe(Config.withDefault(2000)),
  cacheBytes: Config.schema(
    Schema.NumberFromString.check(Schema.isInt({ message: bytesMessage }), Schema.isBetween({ minimum: 0, maximum: 2 ** 32 }, { message: bytesMessage })),
    "TALLY_GRAPHQL_CACHE_BYTES"
  ).pipe(Config.withDefault(AnswerCache.defaultBytes))
})

/** `options.cacheBytes`, when given, overrides `TALLY_GRAPHQL_CACHE_BYTES` (benchmarks compare with and without). */
const make = (options: { readonly cacheBytes?: number | undefined }) => Effect.gen(function*() {
  const { graphiql, pollMillis, cacheBytes } = yield* settings
  const budget = options.cacheBytes ?? cacheBytes
  const answerCache = budget > 0 ? AnswerCache.make(budget) : undefined
  const context = yield* Effect.context<Services>()
  const yoga = makeYoga({
    graphiql,
    pollMillis,
    answerCache,
    runner: (signal) =>
      makeRunner(context, {
        signal,
        onDefect: (cause) => Effect.runFork(Effect.logError("GraphQL resolver failed", cause))
      })
  })
  return GraphqlApi.of({ fetch: (request) => Promise.resolve(yoga.fetch(request)), answerCache: answerCache?.stats })
})

/** What the API needs from the worker. */
export type Requirements =
  | Catalog.Catalog
  | Database.Database
  | Store.Services
  // One decision service (and cache) for HTTP and GraphQL: the worker's (`routes/Budgets.ts`).
  | Governance.Governance
  | GovernanceCache.GovernanceCache

/** The API over the worker's services; `cacheBytes` overrides `TALLY_GRAPHQL_CACHE_BYTES`. */
export const layerWith = (options: { readonly cacheBytes?: number | undefined }): Layer.Layer<GraphqlApi, Config.ConfigError, Requirements> => Layer.effect(GraphqlApi, make(options)).pipe(
  Layer.provide(Layer.mergeAll(
    Budgets.Budgets.layer,
    Enforcement.Enforcement.layer,
    Chargeback.Chargeback.layer,
    Currencies.Currencies.layer,
    TenantPricing.TenantPricing.layer,
    Reprice.Repricing.layer,
    SalePricing.SalePricing.layer
  ))
)

/** The API over the worker's services, configured from the environment. */
export const layer: Layer.Layer<GraphqlApi, Config.ConfigError, Requirements> = layerWith({})

export const handler = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const api = yield* GraphqlApi
  const web = yield* HttpServerRequest.toWeb(request)
  const response = yield* Effect.promise(() => api.fetch(web))
  return HttpServerResponse.fromWeb(response)
}).pipe(
  Effect.catchTag("RequestParseError", (error) =>
    Effect.succeed(HttpServerResponse.jsonUnsafe({ errors: [{ message: `malformed request: ${error.message}` }] }, { status: 400 })))
)
