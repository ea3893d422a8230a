/**
 * The worker process as layers: the database (PostgreSQL or embedded PGlite), the store, the
 * catalog, the ingest pipeline, the metrics, and one HTTP server with every route.
 *
 * `layer(config, extensions)` is the whole process. Extensions are further layers that run in the
 * same process over the same services (the NATS JetStream consumer is one); see
 * `cli/commands/Serve.ts` for where they are chosen.
 *
 * Releasing the layer shuts down in dependency order: the HTTP server stops accepting and lets
 * requests in flight finish, extensions stop, the pipeline drains its in-flight batches, and the
 * database closes last.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Catalog } from "@tally/catalog"
import { Anomalies, Ingest, IngestPipeline } from "@tally/engine"
import { Database, Store, UsageReport } from "@tally/store"
import * as HttpApiScalar from "effect/http-api/HttpApiScalar"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import * as GraphqlRoute from "../graphql/Http.ts"
import { Metrics } from "./Metrics.ts"
import * as Api from "./Api.ts"
import * as ClientErrors from "./ClientErrors.ts"
import * as Guard from "./Guard.ts"
import * as RequestMetrics from "./RequestMetrics.ts"
import * as BudgetsRoute from "./routes/Budgets.ts"
import * as ConsoleRoute from "./routes/Console.ts"
import * as ExportsRoute from "./routes/Exports.ts"
import * as Health from "./routes/Health.ts"
import * as IngestRoute from "./routes/Ingest.ts"
import * as OtlpRoute from "./routes/Otlp.ts"
import * as ReconcileRoute from "./routes/Reconcile.ts"
import { ServerConfig, type ServerConfigShape } from "./ServerConfig.ts"

/** What the routes and every extension can use. */
export type Services =
  | ServerConfig
  | Metrics
  | IngestPipeline
  | Ingest.Ingest
  | Catalog.Catalog
  | Database.Database
  | Store.Services
  | BudgetsRoute.Services
  | ExportsRoute.Services
  | GraphqlRoute.GraphqlApi
  | ConsoleRoute.ConsoleAssets

/** A layer that runs beside the HTTP server in the same process, over the same services. */
export type Extension = Layer.Layer<never, unknown, Services>

/** Every route of the server but `/docs` (mounted by `HttpApiScalar`); `Api` describes each REST one. */
export const table = [
  HttpRouter.route("POST", IngestRoute.path, IngestRoute.handler),
  HttpRouter.route("POST", OtlpRoute.path, OtlpRoute.handler),
  HttpRouter.route("GET", "/healthz", Health.healthz),
  HttpRouter.route("GET", "/readyz", Health.readyz),
  HttpRouter.route("GET", "/metrics", Health.metrics),
  HttpRouter.route("GET", "/openapi.json", Health.openapi),
  ...BudgetsRoute.routes,
  ...ExportsRoute.routes,
  ...ReconcileRoute.routes,
  HttpRouter.route("*", GraphqlRoute.path, GraphqlRoute.handler),
  // Last: its fallback answers every path no route above takes (a JSON 404 unless a browser asks for a page).
  ...ConsoleRoute.routes
] as const

export const routes = Layer.merge(
  HttpRouter.use((router) => router.addAll(table)),
  // The API reference, with Scalar's script bundled in `effect` (no CDN).
  HttpApiScalar.layer(Api.api, { path: "/docs" })
)

/** PostgreSQL when a URL is configured, else PGlite in the data directory. */
export const layerDatabase = (config: ServerConfigShape) =>
  config.databaseUrl === undefined
    ? Database.layerPglite({ dataDir: config.dataDir })
    : Database.layerPostgres({ url: config.databaseUrl })

/**
 * The GraphQL API; with `readDatabaseUrl` its usage queries (`UsageReport`) read there (a replica)
 * while everything else, writes included, uses the primary. The answer cache probes the write
 * version through the same `UsageReport`, so it reads the version where the answers come from.
 */
export const layerGraphql = (config: ServerConfigShape) => {
  // fresh: the store already built `UsageReport.layer` over the primary, and layers are memoized by reference.
  const report = Layer.fresh(
    config.usageCache === undefined
      ? UsageReport.UsageReport.layer
      : UsageReport.UsageReport.layerWith({ cacheBuckets: config.usageCache.buckets, settleSeconds: config.usageCache.settleSeconds })
  )
  const api = config.graphqlCacheBytes === undefined ? GraphqlRoute.layer : GraphqlRoute.layerWith({ cacheBytes: config.graphqlCacheBytes })
  return config.readDatabaseUrl === undefined || config.databaseUrl === undefined
    ? config.usageCache === undefined ? api : api.pipe(Layer.provide(report))
    : api.pipe(Layer.provide(report.pipe(Layer.provide(Database.layerPostgresReader({ url: config.readDatabaseUrl })))))
}

/** Everything but the HTTP server: what an extension or a test needs to run intake in-process. */
export const layerServices = (config: ServerConfigShape) =>
  IngestPipeline.layer().pipe(
    Layer.provideMerge(Ingest.Ingest.layer),
    Layer.provideMerge(layerGraphql(config)),
    Layer.provideMerge(Layer.mergeAll(
      Metrics.layer,
      Layer.succeed(ServerConfig, config),
      // Decisions price estimates with the catalog.
      BudgetsRoute.layer.pipe(Layer.provideMerge(Catalog.Catalog.layer)),
      ExportsRoute.layer,
      ConsoleRoute.ConsoleAssets.layer,
      // Anomaly detection for every tenant at 5 past each hour; concurrent workers record nothing twice.
      Anomalies.layerSchedule().pipe(Layer.provideMerge(Anomalies.Anomalies.layer))
    )),
    Layer.provideMerge(Store.layerWith(layerDatabase(config)))
  )

/** The HTTP server with every route, listening on the configured host and port. */
export const layerHttp = (config: ServerConfigShape): Layer.Layer<HttpServer.HttpServer, unknown, Services> =>
  HttpRouter.serve(Layer.mergeAll(routes, RequestMetrics.layer, Guard.layer), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => ClientErrors.answerWithProblems(createServer()), { port: config.port, host: config.host }))
  )

/** The whole worker process. */
export const layer = (config: ServerConfigShape, extensions: ReadonlyArray<Extension> = []) => {
  // Extensions start before the listener, not beside it: an extension failing at once would
  // otherwise interrupt a listen in progress and leave its socket open, and the process would
  // never exit. Released in reverse, the listener also closes before the extensions stop.
  const [first, ...rest] = extensions
  const http = first === undefined ? layerHttp(config) : layerHttp(config).pipe(Layer.provideMerge(Layer.mergeAll(first, ...rest)))
  return http.pipe(Layer.provideMerge(layerServices(config)))
}
