/**
 * The store's connection to PostgreSQL, real or embedded, and the tenant scope every unit of work
 * runs in.
 *
 * Both backends are reached by the same `@effect/sql-pg` client: real PostgreSQL over TCP, PGlite
 * through an in-process stream. Building a layer runs the migrations, so a `Database` in context
 * always has the current schema.
 *
 * Tenancy is enforced by PostgreSQL row-level security, not by WHERE clauses: `withTenant` runs its
 * effect in a transaction that sets `tally.tenant_id` and switches to the application role, which
 * owns no table and cannot bypass the policies. Any SQL issued inside, raw or not, sees and writes
 * only that tenant's rows.
 */
import { PGlite } from "@electric-sql/pglite"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { MigrationError } from "effect/sql/Migrator"
import { ConnectionError, SqlError } from "effect/sql/SqlError"
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { mkdir } from "node:fs/promises"
import lockfile from "proper-lockfile"
import * as PgliteStream from "./internal/PgliteStream.ts"
import * as Migrations from "./Migrations.ts"

/** The role every tenant-scoped transaction switches to. Not an owner, no BYPASSRLS. */
export const appRole = "tally_app"

/** Where the embedded database keeps its files unless told otherwise. */
export const defaultDataDir = "./.tally/data"

export type Backend = "postgres" | "pglite"

/**
 * Raised (as a defect: it is a programming error) when a tenant scope is opened inside another
 * tenant's scope. The inner scope would share the outer transaction and leave the wrong tenant set.
 */
export class TenantScopeViolation extends Schema.TaggedError<TenantScopeViolation>()("TenantScopeViolation", {
  active: Schema.NullOr(Schema.String),
  requested: Schema.NullOr(Schema.String),
  message: Schema.String
}) {}

/** The tenant scope the current fiber runs in: a tenant id, `null` for the app role without a tenant. */
const CurrentScope = Context.Reference<{ readonly tenantId: string | null } | undefined>(
  "@tally/store/Database/CurrentScope",
  { defaultValue: () => undefined }
)

export interface DatabaseService {
  readonly backend: Backend
  /**
   * The client as the connecting (owner) user. Outside `withTenant` it is not subject to row-level
   * security: the store uses it only for system work (migrations, built-in catalog rows, listing
   * tenants for schedulers). Application code reads and writes tenant data through `withTenant`.
   */
  readonly sql: PgClient.PgClient
  /**
   * Runs `effect` in one transaction scoped to `tenantId`: `set_config('tally.tenant_id', ..., true)`
   * and `SET LOCAL ROLE tally_app`. Commits when it succeeds, rolls back when it fails or is
   * interrupted. Inside an open scope of the same tenant it joins that transaction.
   */
  readonly withTenant: <A, E, R>(tenantId: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
  /**
   * Runs `effect` as the application role with no tenant set: every tenant table reads as empty
   * and rejects writes. Used for lookups that must not name a tenant (API key verification).
   */
  readonly withoutTenant: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
}

export class Database extends Context.Service<Database, DatabaseService>()("@tally/store/Database") {}

const scopeLabel = (tenantId: string | null) => (tenantId === null ? "no tenant" : `tenant ${JSON.stringify(tenantId)}`)

/**
 * Builds the service over a connected client, after running the migrations (unless `migrate` is
 * false: a reader on a replica, which refuses writes, over a schema the primary migrated).
 */
export const make = (backend: Backend, options: { readonly migrate?: boolean } = {}) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    if (options.migrate !== false) yield* Migrations.run

    const enter = <A, E, R>(tenantId: string | null, effect: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const current = yield* CurrentScope
        if (current !== undefined) {
          if (current.tenantId === tenantId) return yield* effect
          return yield* Effect.die(
            new TenantScopeViolation({
              active: current.tenantId,
              requested: tenantId,
              message: `cannot open a scope for ${scopeLabel(tenantId)} inside the scope of ${scopeLabel(current.tenantId)}`
            })
          )
        }
        return yield* sql.withTransaction(
          Effect.andThen(
            sql`SELECT set_config('tally.tenant_id', ${tenantId ?? ""}, true), set_config('role', ${appRole}, true)`,
            effect
          )
        ).pipe(Effect.provideService(CurrentScope, { tenantId }))
      })

    return Database.of({
      backend,
      sql,
      withTenant: (tenantId, effect) => enter(tenantId, effect),
      withoutTenant: (effect) => enter(null, effect)
    })
  })

/** `Database.withTenant` as a function of the context. */
export const withTenant = <A, E, R>(
  tenantId: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError, R | Database> => Database.use((db) => db.withTenant(tenantId, effect))

/** `Database.withoutTenant` as a function of the context. */
export const withoutTenant = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R | Database> =>
  Database.use((db) => db.withoutTenant(effect))

export type LayerError = SqlError | MigrationError

export interface PostgresOptions {
  readonly url: Redacted.Redacted<string>
  /** Pool size; defaults to 10. */
  readonly maxConnections?: number | undefined
}

/** Real PostgreSQL at `url`. */
export const layerPostgres = (options: PostgresOptions): Layer.Layer<Database, LayerError> =>
  Layer.effect(Database, make("postgres")).pipe(
    Layer.provide(PgClient.layer({
      url: options.url,
      maxConnections: options.maxConnections ?? 10,
      applicationName: "tally"
    }))
  )

/**
 * A reader on PostgreSQL at `url` (a streaming replica, or any connection to a database the
 * primary has migrated): no migrations run, and the connections name themselves `tally-read`.
 * The tenant scope works as on the primary (`set_config` and the role are transaction-local,
 * which a hot standby accepts); only queries that read belong on it.
 */
export const layerPostgresReader = (options: PostgresOptions): Layer.Layer<Database, LayerError> =>
  Layer.effect(Database, make("postgres", { migrate: false })).pipe(
    Layer.provide(PgClient.layer({
      url: options.url,
      maxConnections: options.maxConnections ?? 10,
      applicationName: "tally-read"
    }))
  )

export interface PgliteOptions {
  /**
   * A directory for the database files, created if missing; `"memory://"` keeps everything in
   * memory. Defaults to `./.tally/data`.
   */
  readonly dataDir?: string | undefined
  /**
   * A cluster to start a new database from: a `PGlite.dumpDataDir` archive. It replaces initdb;
   * the migrations then apply only what the archive lacks. Refused by PGlite for a directory that
   * already holds a database.
   */
  readonly loadDataDir?: Blob | undefined
}

/**
 * Holds `<dataDir>.lock` (proper-lockfile: a directory created atomically, its time refreshed while
 * held, taken over once stale after a crash) for as long as the database is open: PGlite is one
 * process's database, and a second process opening the same files would corrupt them.
 */
const lockDataDir = (dataDir: string): Effect.Effect<void, SqlError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        lockfile.lock(dataDir, {
          realpath: false,
          stale: 10_000,
          update: 2_000,
          // A lock lost to a suspended process is reported, not thrown from a timer.
          onCompromised: (error) => process.emitWarning(`the lock of the embedded database at ${dataDir} was compromised: ${error.message}`)
        }),
      catch: (cause) =>
        connectionError(
          cause,
          (cause as { readonly code?: unknown })?.code === "ELOCKED"
            ? `the embedded database at ${dataDir} is in use by another process (it holds ${dataDir}.lock); stop that process, or give this one another TALLY_DATA_DIR or a TALLY_DATABASE_URL`
            : `could not lock the embedded database at ${dataDir}: ${cause instanceof Error ? cause.message : String(cause)}`
        )
    }),
    (release) => Effect.promise(() => release().catch(() => undefined))
  ).pipe(Effect.asVoid)

const openPglite = (dataDir: string, loadDataDir: Blob | undefined): Effect.Effect<PGlite, SqlError, Scope.Scope> =>
  Effect.gen(function*() {
    const onDisk = !dataDir.includes("://")
    if (onDisk) {
      yield* Effect.tryPromise({
        try: () => mkdir(dataDir, { recursive: true }),
        catch: (cause) => connectionError(cause, `could not create the directory of the embedded database at ${dataDir}`)
      })
      yield* lockDataDir(dataDir)
    }
    return yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => PGlite.create(dataDir, { username: "postgres", database: "postgres", ...(loadDataDir === undefined ? {} : { loadDataDir }) }),
        catch: (cause) => connectionError(cause, `could not open the embedded database at ${dataDir}`)
      }),
      (db) => Effect.promise(() => db.close())
    )
  })

const connectionError = (cause: unknown, message: string): SqlError =>
  new SqlError({ reason: new ConnectionError({ cause, message, operation: "connect" }) })

/**
 * The embedded default: PGlite in this process, reached by the same client as real PostgreSQL.
 * PGlite is a single backend, so the pool holds one connection.
 */
export const layerPglite = (options: PgliteOptions = {}): Layer.Layer<Database, LayerError> =>
  Layer.effect(Database, make("pglite")).pipe(
    Layer.provide(PgClient.layerFrom(
      Effect.flatMap(openPglite(options.dataDir ?? defaultDataDir, options.loadDataDir), (db) =>
        PgClient.make({
          stream: PgliteStream.makeFactory(db),
          username: "postgres",
          database: "postgres",
          applicationName: "tally",
          maxConnections: 1,
          minConnections: 1,
          idleTimeout: "365 days"
        }))
    ))
  )

/** PGlite entirely in memory: nothing outlives the layer. */
export const layerPgliteMemory: Layer.Layer<Database, LayerError> = layerPglite({ dataDir: "memory://" })

/**
 * Where a test run keeps its migrated PGlite cluster (a `dumpDataDir` archive), written once by the
 * run's global setup (`packages/store/test/PgliteTemplate.ts`).
 */
export const testTemplateVariable = "TALLY_TEST_PGLITE_TEMPLATE"

/**
 * PGlite in memory for tests: started from the run's migrated cluster when `TALLY_TEST_PGLITE_TEMPLATE`
 * names one, else from scratch like `layerPgliteMemory`. The archive spares each test database
 * initdb and the migrations (seconds of WASM each); the migrations still run, and find nothing to do.
 */
export const layerPgliteTest: Layer.Layer<Database, LayerError> = Layer.suspend(() => {
  const template = process.env[testTemplateVariable]
  return template === undefined || template === ""
    ? layerPgliteMemory
    : layerPglite({ dataDir: "memory://", loadDataDir: new Blob([readFileSync(template)]) })
})

/**
 * `TALLY_DATABASE_URL` set: real PostgreSQL at that URL. Otherwise the embedded database in
 * `TALLY_DATA_DIR` (default `./.tally/data`).
 */
export const layerFromConfig: Layer.Layer<Database, LayerError | Config.ConfigError> = Layer.unwrap(
  Effect.gen(function*() {
    const url = yield* Config.option(Config.Redacted("TALLY_DATABASE_URL"))
    if (Option.isSome(url)) return layerPostgres({ url: url.value })
    const dataDir = yield* Config.String("TALLY_DATA_DIR").pipe(Config.withDefault(defaultDataDir))
    return layerPglite({ dataDir })
  })
)

/** Runs `f` with a short-lived single-connection client, e.g. to create or drop a database. */
const withClient = <A, E>(
  url: Redacted.Redacted<string>,
  f: (sql: PgClient.PgClient) => Effect.Effect<A, E>
): Effect.Effect<A, E | SqlError> =>
  Effect.scoped(Effect.flatMap(PgClient.make({ url, maxConnections: 1, applicationName: "tally" }), f)).pipe(
    Effect.provide(Reactivity.layer)
  )

/**
 * A fresh database on the PostgreSQL server at `adminUrl`, migrated, and dropped when the layer is
 * released. Each use gets its own database, so concurrent test runs never see each other.
 */
export const layerEphemeralPostgres = (adminUrl: Redacted.Redacted<string>): Layer.Layer<Database, LayerError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const name = `tally_test_${randomBytes(8).toString("hex")}`
      yield* Effect.acquireRelease(
        withClient(adminUrl, (sql) => sql`CREATE DATABASE ${sql(name)}`),
        () =>
          withClient(adminUrl, (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`).pipe(
            Effect.ignore
          )
      )
      const url = new URL(Redacted.value(adminUrl))
      url.pathname = `/${name}`
      return layerPostgres({ url: Redacted.make(url.toString()), maxConnections: 8 })
    })
  )

/**
 * For tests of this and other packages: a fresh PostgreSQL database when `TALLY_TEST_DATABASE_URL`
 * is set, else PGlite in memory.
 */
export const layerTest: Layer.Layer<Database, LayerError | Config.ConfigError> = Layer.unwrap(
  Effect.gen(function*() {
    const url = yield* Config.option(Config.Redacted("TALLY_TEST_DATABASE_URL"))
    return Option.isSome(url) ? layerEphemeralPostgres(url.value) : layerPgliteTest
  })
)
