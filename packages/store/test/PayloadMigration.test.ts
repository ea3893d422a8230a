/**
 * Migration 0022 on a database that already holds usage: the raw payloads recorded before it move
 * to `usage_payloads`, every existing month gets its payload partition, and the calls read back
 * exactly as they were written.
 */
import { PGlite } from "@electric-sql/pglite"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Database from "../src/Database.ts"
import * as PgliteStream from "../src/internal/PgliteStream.ts"
import * as Migrations from "../src/Migrations.ts"
import * as Store from "../src/Store.ts"
import { UsageLedger } from "../src/UsageLedger.ts"

const tenant = "t-before-0022"

/** Migrates up to 0021, writes two calls the way the ledger stored them then, migrates the rest. */
const upgrade = (sql: PgClient.PgClient) =>
  Effect.gen(function*() {
    yield* sql`CREATE SCHEMA IF NOT EXISTS tally`
    const before = Effect.map(Migrations.loader, (all) => all.filter(([id]) => id < 22))
    yield* Migrator.make({})({ loader: before, table: Migrations.table })
    yield* sql`INSERT INTO tally.tenants (id, name, currency, time_zone) VALUES (${tenant}, 'Before', 'USD', 'UTC')`
    // May's partition exists and stays empty: it gets its payload month too.
    yield* sql`SELECT tally.ensure_usage_partition('2025-03-01Z'), tally.ensure_usage_partition('2025-05-01Z'),
      tally.ensure_usage_partition('2025-07-01Z')`
    for (const [requestId, at, raw, rawText] of [
      ["old-1", "2025-03-14T10:00:00Z", { id: "old-1", usage: { prompt_tokens: 3 } }, null],
      ["old-2", "2025-07-02T08:30:00Z", null, "text only"]
    ] as const) {
      yield* sql`INSERT INTO tally.usage_request_ids (tenant_id, request_id, event_hash, occurred_at)
        VALUES (${tenant}, ${requestId}, ${new Uint8Array(32)}, ${at})`
      yield* sql.unsafe(
        `INSERT INTO tally.usage_ledger (tenant_id, occurred_at, request_id, provider, model, cost_source, unpriced_reason, raw, raw_text)
          VALUES ($1, $2, $3, 'openai', 'gpt-4o', 'unpriced', 'no price', $4::jsonb, $5)`,
        [tenant, at, requestId, raw === null ? null : JSON.stringify(raw), rawText]
      )
    }
    const ran = yield* Migrations.run
    assert.deepStrictEqual(ran.map(([id]) => id).filter((id) => id === 22), [22])
    const partitions = yield* sql<{ name: string }>`SELECT c.relname AS name FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tally.usage_payloads'::regclass ORDER BY 1`
    assert.deepStrictEqual(partitions.map((p) => p.name), ["usage_payloads_2025_03", "usage_payloads_2025_05", "usage_payloads_2025_07"])
  }).pipe(Effect.provideService(SqlClient.SqlClient, sql))

/** After the upgrade, through the store: both calls read back with their payloads. */
const readBack = Effect.gen(function*() {
  const ledger = yield* UsageLedger
  const one = Option.getOrThrow(yield* ledger.get(tenant, "old-1"))
  const two = Option.getOrThrow(yield* ledger.get(tenant, "old-2"))
  assert.deepStrictEqual(one.call.raw, { id: "old-1", usage: { prompt_tokens: 3 } })
  assert.strictEqual(one.call.rawText, undefined)
  assert.strictEqual(two.call.raw, null)
  assert.strictEqual(two.call.rawText, "text only")
})

describe("migration 0022 (raw payloads beside the ledger)", () => {
  it.live("moves the payloads of existing calls on PGlite", () =>
    Effect.gen(function*() {
      const dataDir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "tally-0022-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      yield* Effect.scoped(Effect.gen(function*() {
        const pglite = yield* Effect.acquireRelease(
          Effect.promise(() => PGlite.create(dataDir, { username: "postgres", database: "postgres" })),
          (db) => Effect.promise(() => db.close())
        )
        const client = PgClient.makeClient({ stream: PgliteStream.makeFactory(pglite), username: "postgres", database: "postgres" })
        yield* Effect.flatMap(client, upgrade).pipe(Effect.provide(Reactivity.layer))
      }))
      // The store opens the upgraded files as any later start would.
      yield* readBack.pipe(Effect.provide(Store.layerWith(Database.layerPglite({ dataDir }))))
    }), 120_000)

  const url = process.env.TALLY_TEST_DATABASE_URL
  if (url !== undefined && url !== "") {
    it.live("moves the payloads of existing calls on PostgreSQL", () =>
      Effect.gen(function*() {
        const admin = Redacted.make(url)
        const name = `tally_test_${randomBytes(8).toString("hex")}`
        const adminClient = (f: (sql: PgClient.PgClient) => Effect.Effect<unknown, unknown>) =>
          Effect.scoped(Effect.flatMap(PgClient.make({ url: admin, maxConnections: 1 }), f)).pipe(
            Effect.provide(Reactivity.layer)
          )
        yield* Effect.acquireRelease(
          adminClient((sql) => sql.unsafe(`CREATE DATABASE ${name}`)),
          () => adminClient((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).pipe(Effect.ignore)
        )
        const target = new URL(url)
        target.pathname = `/${name}`
        yield* Effect.scoped(
          Effect.flatMap(PgClient.make({ url: Redacted.make(target.toString()), maxConnections: 1 }), upgrade)
        ).pipe(Effect.provide(Reactivity.layer))
        yield* readBack.pipe(
          Effect.provide(Store.layerWith(Database.layerPostgres({ url: Redacted.make(target.toString()) })))
        )
      }), 120_000)
  }
})
