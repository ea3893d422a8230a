/**
 * What `tally serve` needs to know: where to listen, which database, which NATS server, and the
 * request limits. Read from the environment (`TALLY_*`); command-line flags override it.
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { Database } from "@tally/store"

export interface ServerConfigShape {
  /** 0 picks a free port (tests); the bound one is reported once listening. */
  readonly port: number
  readonly host: string
  /** Real PostgreSQL when set; otherwise embedded PGlite in `dataDir`. */
  readonly databaseUrl: Redacted.Redacted<string> | undefined
  /**
   * A PostgreSQL replica (or a second connection) for GraphQL usage queries; unset, they read the
   * primary. Never migrated by the worker; every write stays on `databaseUrl`.
   */
  readonly readDatabaseUrl?: Redacted.Redacted<string> | undefined
  /**
   * The GraphQL usage answer cache (docs/graphql.md, "Caching"): buckets it holds (0 turns it off)
   * and its settle window in seconds. Unset: the store's defaults. Set in code only (benchmarks
   * compare with and without; tests shorten the window).
   */
  readonly usageCache?: { readonly buckets: number; readonly settleSeconds?: number | undefined } | undefined
  /**
   * The GraphQL answer cache's budget in bytes (docs/graphql.md, "Caching"; 0 turns it off). Set
   * in code only, over `TALLY_GRAPHQL_CACHE_BYTES` (benchmarks compare with and without).
   */
  readonly graphqlCacheBytes?: number | undefined
  /** PGlite's directory (`memory://` keeps it in memory). */
  readonly dataDir: string
  /** Where the JetStream consumer connects; no consumer runs when unset. */
  readonly natsUrl: string | undefined
  /** Largest request body accepted, in bytes (413 above it). */
  readonly maxBodyBytes: number
  /** Most events accepted in one request (422 above it). */
  readonly maxBatchEvents: number
}

export class ServerConfig extends Context.Service<ServerConfig, ServerConfigShape>()("@tally/worker/server/ServerConfig") {}

export const defaults = {
  port: 8787,
  host: "0.0.0.0",
  dataDir: Database.defaultDataDir,
  maxBodyBytes: 10 * 1024 * 1024,
  maxBatchEvents: 5_000
} as const

const nonNegativeInt = (name: string, max: number) => {
  const message = max === Number.MAX_SAFE_INTEGER ? "expected a non-negative integer" : `expected an integer from 0 to ${max}`
  return Config.schema(Schema.NumberFromString.check(Schema.isInt({ message }), Schema.isBetween({ minimum: 0, maximum: max }, { message })), name)
}

const optionalString = (name: string) =>
  Config.option(Config.String(name)).pipe(Config.map((value) => Option.getOrUndefined(Option.filter(value, (s) => s !== ""))))

/** What a database URL must look like; `describeDatabase` and the PostgreSQL client read it as a URL. */
export const expectedDatabaseUrl = "expected a PostgreSQL URL such as postgres://user@host:5432/database"

/** True for a `postgres://` or `postgresql://` URL. */
export const isDatabaseUrl = (url: string): boolean =>
  URL.canParse(url) && ["postgres:", "postgresql:"].includes(new URL(url).protocol)

const DatabaseUrl = Schema.String.check(Schema.makeFilter(isDatabaseUrl, { message: expectedDatabaseUrl }))

/** The configuration from `TALLY_PORT`, `TALLY_HOST`, `TALLY_DATABASE_URL`, `TALLY_READ_DATABASE_URL`, `TALLY_DATA_DIR`, `TALLY_NATS_URL`, `TALLY_MAX_BODY_BYTES`, `TALLY_MAX_BATCH_EVENTS`. */
export const fromEnv: Config.Config<ServerConfigShape> = Config.all({
  port: nonNegativeInt("TALLY_PORT", 65_535).pipe(Config.withDefault(defaults.port)),
  host: Config.String("TALLY_HOST").pipe(Config.withDefault(defaults.host)),
  databaseUrl: Config.option(Config.schema(DatabaseUrl, "TALLY_DATABASE_URL")).pipe(
    Config.map((url) => Option.getOrUndefined(Option.map(url, Redacted.make)))
  ),
  readDatabaseUrl: Config.option(Config.schema(DatabaseUrl, "TALLY_READ_DATABASE_URL")).pipe(
    Config.map((url) => Option.getOrUndefined(Option.map(url, Redacted.make)))
  ),
  dataDir: Config.String("TALLY_DATA_DIR").pipe(Config.withDefault(defaults.dataDir)),
  natsUrl: optionalString("TALLY_NATS_URL"),
  maxBodyBytes: nonNegativeInt("TALLY_MAX_BODY_BYTES", Number.MAX_SAFE_INTEGER).pipe(Config.withDefault(defaults.maxBodyBytes)),
  maxBatchEvents: nonNegativeInt("TALLY_MAX_BATCH_EVENTS", Number.MAX_SAFE_INTEGER).pipe(Config.withDefault(defaults.maxBatchEvents))
})

export type Overrides = { readonly [K in keyof ServerConfigShape]?: ServerConfigShape[K] | undefined }

/** `base` with every override that is set. */
export const override = (base: ServerConfigShape, overrides: Overrides): ServerConfigShape => {
  const result: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) result[key] = value
  return result as unknown as ServerConfigShape
}

/** Which database a configuration points at, in words safe to print (no password). */
export const describeDatabase = (config: ServerConfigShape): string => {
  if (config.databaseUrl === undefined) return `PGlite at ${config.dataDir}`
  if (!URL.canParse(Redacted.value(config.databaseUrl))) return "PostgreSQL at a URL that does not parse"
  const url = new URL(Redacted.value(config.databaseUrl))
  url.password = ""
  return `PostgreSQL at ${url.toString()}`
}
