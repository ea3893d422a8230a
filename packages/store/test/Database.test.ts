import { PGlite } from "@electric-sql/pglite"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as SqlClient from "effect/sql/SqlClient"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ApiKeys } from "../src/ApiKeys.ts"
import * as Database from "../src/Database.ts"
import { ensureRole } from "../src/internal/migrations/0001_tenancy.ts"
import * as PgliteStream from "../src/internal/PgliteStream.ts"
import * as Migrations from "../src/Migrations.ts"
import * as Store from "../src/Store.ts"
import { Tenants } from "../src/Tenants.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { pricedCall } from "./Fixtures.ts"
import { layerOptions, targets } from "./Targets.ts"

describe.each(targets)("Database on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("migrations ran once; running them again applies nothing", () =>
      Effect.gen(function*() {
        const db = yield* Database.Database
        assert.strictEqual(db.backend, target.name)
        const applied = yield* Migrations.run.pipe(Effect.provideService(SqlClient.SqlClient, db.sql))
        assert.deepStrictEqual(applied, [])
        const rows = yield* db.sql<{ migration_id: number; name: string }>`SELECT migration_id, name
          FROM tally.schema_migrations ORDER BY migration_id`
        // Every migration this build knows, each recorded once, in order.
        const known = yield* Effect.orDie(Migrations.loader)
        assert.deepStrictEqual(
          rows.map((row) => `${row.migration_id}_${row.name}`),
          [...known].sort((a, b) => a[0] - b[0]).map(([id, name]) => `${id}_${name}`)
        )
        assert.includeMembers(rows.map((row) => row.name), ["tenancy", "usage", "budgets"])
      }))

    if (target.name === "postgres") {
      it.effect("creating the application role tolerates other databases creating it at the same moment", () =>
        Effect.gen(function*() {
          const { sql } = yield* Database.Database
          // The migration's own statement, for a throwaway role: four transactions all find it
          // missing, one creates it, the others wait for that one and then see the duplicate.
          const role = `tally_race_${randomBytes(6).toString("hex")}`
          yield* Effect.addFinalizer(() => sql.unsafe(`DROP ROLE IF EXISTS ${role}`).pipe(Effect.ignore))
          yield* Effect.forEach(
            [1, 2, 3, 4],
            () => sql.withTransaction(Effect.andThen(sql.unsafe(ensureRole(role)).unprepared, sql`SELECT pg_sleep(0.3)`)),
            { concurrency: 4, discard: true }
          )
          const rows = yield* sql`SELECT 1 FROM pg_roles WHERE rolname = ${role} AND NOT rolbypassrls AND NOT rolcanlogin`
          assert.strictEqual(rows.length, 1)
        }))
    }

    it.effect("NUMERIC comes back exact, as text, at any scale", () =>
      Effect.gen(function*() {
        const { sql } = yield* Database.Database
        const [row] = yield* sql<{ a: string; b: string }>`SELECT
          ${"12345678901234567890.123456789012345678901234567890"}::numeric * 3 AS a,
          0.1::numeric + 0.2::numeric AS b`
        assert.deepStrictEqual(row, { a: "37037036703703703670.370370367037037036703703703670", b: "0.3" })
      }))
  })
})

/** Builds a layer, runs `use` against it and releases it, so a second build sees what it left. */
const withLayer = <A, E>(
  database: Layer.Layer<Database.Database, Database.LayerError>,
  use: Effect.Effect<A, E, Store.Services | Database.Database>
) => Effect.scoped(Effect.flatMap(Layer.build(Store.layerWith(database)), (context) => Effect.provide(use, context)))

describe("embedded PGlite", () => {
  it.live("a data directory keeps tenants, keys and the ledger across restarts", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "tally-store-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))
      const config = ConfigProvider.layer(ConfigProvider.fromEnvRecord({ TALLY_DATA_DIR: join(dataDir, "data") }))
      const fromConfig = Database.layerFromConfig.pipe(Layer.provide(config), Layer.orDie)
      const { secret, tenantId } = yield* withLayer(
        fromConfig,
        Effect.gen(function*() {
          const tenant = yield* (yield* Tenants).create({ id: "persisted", name: "Persisted" })
          const { secret } = yield* (yield* ApiKeys).create(tenant.id, { name: "k", scopes: ["ingest"] })
          yield* (yield* UsageLedger).insertBatch(tenant.id, [pricedCall({ requestId: "kept" })])
          return { secret, tenantId: tenant.id }
        })
      )
      yield* withLayer(
        fromConfig,
        Effect.gen(function*() {
          const db = yield* Database.Database
          assert.strictEqual(db.backend, "pglite")
          assert.strictEqual((yield* (yield* Tenants).get(tenantId)).name, "Persisted")
          assert.strictEqual((yield* (yield* ApiKeys).verify(secret)).tenantId, tenantId)
          const again = yield* (yield* UsageLedger).insertBatch(tenantId, [pricedCall({ requestId: "kept" })])
          assert.deepStrictEqual(again.items.map((item) => item.status), ["duplicate"])
          const [row] = yield* db.sql<{ n: bigint }>`SELECT count(*) AS n FROM tally.schema_migrations`
          assert.strictEqual(row!.n, BigInt((yield* Effect.orDie(Migrations.loader)).length))
        })
      )
    }), 120_000)

  it.live("a new session starts clean after one that died inside a transaction", () =>
    Effect.gen(function*() {
      const pglite = yield* Effect.acquireRelease(
        Effect.promise(() => PGlite.create("memory://")),
        (db) => Effect.promise(() => db.close())
      )
      const factory = PgliteStream.makeFactory(pglite)
      const session = <A, E>(f: (sql: PgClient.PgClient) => Effect.Effect<A, E>) =>
        Effect.scoped(
          Effect.flatMap(
            PgClient.makeClient({ stream: factory, username: "postgres", database: "postgres" }),
            f
          )
        ).pipe(Effect.provide(Reactivity.layer))
      // The first session opens a transaction, creates a table, sets a value and never commits.
      yield* session((sql) =>
        Effect.gen(function*() {
          yield* sql`BEGIN`
          yield* sql`CREATE TABLE leftover (id int)`
          yield* sql`SELECT set_config('tally.tenant_id', 'ghost', false)`
        })
      )
      const [state] = yield* session((sql) =>
        sql<{ leftover: string | null; tenant: string | null; prepared: bigint }>`SELECT
          to_regclass('leftover')::text AS leftover,
          nullif(current_setting('tally.tenant_id', true), '') AS tenant,
          (SELECT count(*) FROM pg_prepared_statements) AS prepared`
      )
      assert.deepStrictEqual(state, { leftover: null, tenant: null, prepared: 1n })
    }), 120_000)

  it.live("TALLY_DATABASE_URL selects real PostgreSQL over the embedded database", () =>
    Effect.gen(function*() {
      const config = ConfigProvider.layer(
        ConfigProvider.fromEnvRecord({ TALLY_DATABASE_URL: "postgres://tally@127.0.0.1:1/nowhere?connect_timeout=2" })
      )
      const error = yield* Effect.flip(Layer.build(Database.layerFromConfig.pipe(Layer.provide(config))).pipe(Effect.scoped))
      assert.strictEqual(error._tag, "SqlError")
      if (error._tag === "SqlError") assert.strictEqual(error.reason._tag, "ConnectionError")
    }), 30_000)
})
