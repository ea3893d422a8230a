/**
 * `tally serve`: the worker process. One HTTP server (usage ingest, OTLP traces, health, metrics)
 * over the configured database, plus any extension (the NATS consumer when `TALLY_NATS_URL` is
 * set). Runs until SIGTERM or SIGINT, then shuts down gracefully: stop accepting, finish requests
 * in flight, drain the pipeline, close the database.
 *
 * Once listening it prints one JSON line on stdout, `{ "listening": "<url>", ... }` (scripts and
 * tests read the port from it, e.g. with `--port 0`); logs go to stderr. On shutdown it prints
 * `{ "stopped": "<signal>" }`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { CliError, ExitCode, invalidConfiguration, invalidInput } from "../CliError.ts"
import * as GraphqlRoute from "../../graphql/Http.ts"
import * as NatsConfig from "../../nats/NatsConfig.ts"
import * as Logging from "../../server/Logging.ts"
import * as Server from "../../server/Server.ts"
import * as ServerConfig from "../../server/ServerConfig.ts"
import * as UsageConsumer from "../../nats/UsageConsumer.ts"

/**
 * THE place where further intakes join the serve process: each returned layer runs beside the HTTP
 * server over the same services (`Server.Services`: the ingest pipeline, metrics, store, database,
 * config), is started after them and stopped before them. `tally serve` and `tally demo` both use it.
 */
export const extensions = (config: ServerConfig.ServerConfigShape): ReadonlyArray<Server.Extension> => [
  // NATS JetStream consumer: added here when config.natsUrl is set (apps/worker/src/nats).
  ...(config.natsUrl === undefined ? [] : [UsageConsumer.serveExtension(config.natsUrl)])
]

interface FlagValues {
  readonly port?: string | undefined
  readonly host?: string | undefined
  readonly "database-url"?: string | undefined
  readonly "data-dir"?: string | undefined
  readonly "nats-url"?: string | undefined
  readonly "max-body-bytes"?: string | undefined
  readonly "max-batch-events"?: string | undefined
}

/**
 * The configuration: environment first, flags over it, then `defaults` for what neither sets.
 * Every setting the process reads as it starts (GraphQL's, and NATS' when a consumer runs) is
 * checked here too, so a bad one exits 2 with one line before the database is opened.
 */
export const readConfig = Effect.fnUntraced(function*(command: string, values: FlagValues) {
  const invalid = invalidConfiguration(command)
  const env = yield* Effect.catch(ServerConfig.fromEnv, invalid)
  const port = yield* Spec.nonNegativeInt(command, "port", values.port)
  if (port !== undefined && port > 65_535) return yield* invalidInput(`${command}: --port must be at most 65535, got ${port}`)
  const url = values["database-url"]
  if (url !== undefined && url !== "" && !ServerConfig.isDatabaseUrl(url)) {
    return yield* invalidInput(`${command}: --database-url: ${ServerConfig.expectedDatabaseUrl}`)
  }
  const config = ServerConfig.override(env, {
    port,
    host: values.host,
    databaseUrl: url === undefined || url === "" ? undefined : Redacted.make(url),
    dataDir: values["data-dir"],
    natsUrl: values["nats-url"],
    maxBodyBytes: yield* Spec.nonNegativeInt(command, "max-body-bytes", values["max-body-bytes"]),
    maxBatchEvents: yield* Spec.nonNegativeInt(command, "max-batch-events", values["max-batch-events"])
  })
  yield* Effect.catch(GraphqlRoute.settings, invalid)
  if (config.natsUrl !== undefined) {
    if (!Schema.is(NatsConfig.Servers)(config.natsUrl)) {
      const source = values["nats-url"] === undefined ? "TALLY_NATS_URL" : "--nats-url"
      return yield* invalidInput(`${command}: ${source}: ${NatsConfig.expectedServers}, got ${JSON.stringify(config.natsUrl)}`)
    }
    yield* Effect.catch(NatsConfig.fromEnv(config.natsUrl), invalid)
  }
  return config
})

export type Signal = "SIGINT" | "SIGTERM"

/** Resolves with the first SIGINT or SIGTERM. Its handlers are removed then, so a second signal ends the process at once. */
const awaitSignal = Effect.callback<Signal>((resume) => {
  const remove = () => {
    process.off("SIGINT", onInt)
    process.off("SIGTERM", onTerm)
  }
  const onInt = () => {
    remove()
    resume(Effect.succeed("SIGINT"))
  }
  const onTerm = () => {
    remove()
    resume(Effect.succeed("SIGTERM"))
  }
  process.on("SIGINT", onInt)
  process.on("SIGTERM", onTerm)
  return Effect.sync(remove)
})

const describeStartError = (config: ServerConfig.ServerConfigShape, error: unknown): string => {
  const tag = (error as { readonly _tag?: unknown })?._tag
  const cause = (error as { readonly cause?: unknown })?.cause
  const detail = cause instanceof Error ? `${cause.message}` : error instanceof Error ? error.message : String(error)
  if (tag === "ServeError") return `cannot listen on ${config.host}:${config.port}: ${detail}`
  if (tag === "SqlError" || tag === "MigrationError") return `cannot open the database (${ServerConfig.describeDatabase(config)}): ${detail}`
  return `cannot start: ${detail}`
}

/** The URL a client on this machine reaches the server at (the bound port, for `--port 0`). */
const localUrl = (host: string, address: HttpServer.HttpServer["Service"]["address"]): string => {
  if (address._tag === "UnixPathAddress") return `unix:${address.path}`
  const shown = host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${address.port}`
}

/**
 * Runs the worker until a signal: builds the process, announces it, runs `onReady` (the demo sets
 * up its tenant there), waits, then releases everything in order.
 */
export const runServer = <E>(
  config: ServerConfig.ServerConfigShape,
  onReady: (url: string) => Effect.Effect<void, E, Server.Services>
): Effect.Effect<{ readonly stopped: Signal }, CliError | E> =>
  Effect.gen(function*() {
    const logging = yield* Effect.catch(Logging.fromEnv, invalidConfiguration("serve"))
    return yield* serveWith(config, onReady).pipe(Effect.provide(Logging.layer(logging)))
  })

const serveWith = <E>(
  config: ServerConfig.ServerConfigShape,
  onReady: (url: string) => Effect.Effect<void, E, Server.Services>
): Effect.Effect<{ readonly stopped: Signal }, CliError | E> =>
  Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(Server.layer(config, extensions(config))).pipe(
      Effect.mapError((error) => new CliError({ message: describeStartError(config, error), exitCode: ExitCode.unexpected }))
    )
    const url = localUrl(config.host, Context.get(context, HttpServer.HttpServer).address)
    const database = ServerConfig.describeDatabase(config)
    yield* Effect.sync(() => process.stdout.write(`${JSON.stringify({ listening: url, database })}\n`))
    yield* Effect.logInfo(`listening on ${url} (${database})`)
    yield* onReady(url).pipe(Effect.provide(context))
    const signal = yield* awaitSignal
    yield* Effect.logInfo(`${signal}: shutting down; finishing requests and batches in flight`)
    return { stopped: signal }
  })).pipe(
    Effect.tap(() => Effect.logInfo("stopped"))
  )

export const run = ({ values }: Parsed<typeof Commands.serve.flags>) =>
  Effect.gen(function*() {
    const config = yield* readConfig("serve", values)
    return yield* runServer(config, () => Effect.void)
  })
