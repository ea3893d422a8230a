/**
 * The store the engine tests run on: its layers (PGlite, or a fresh PostgreSQL database when
 * TALLY_TEST_DATABASE_URL is set) and Ingest over it, tenants, and owner-side reads of what landed.
 */
import type { Tenant } from "@tally/core"
import { Catalog } from "@tally/catalog"
import { Database, DeadLetters, Store, Tenants } from "@tally/store"
import { Effect, Layer, Option } from "effect"
import * as Ingest from "../src/Ingest.ts"

/** The store on PGlite, or on a fresh PostgreSQL database when TALLY_TEST_DATABASE_URL is set. */
export const storeLayer = Store.layerWith(Database.layerTest)

/** Ingest over the shipped built-in catalog and the test store, with the store kept in context. */
export const ingestLayer = Layer.provideMerge(Ingest.Ingest.layer, Layer.merge(storeLayer, Catalog.Catalog.layer))

export const backend = process.env.TALLY_TEST_DATABASE_URL ? "postgres" : "pglite"

/** Options for `layer(...)`: real clock (the pool's timers), and time for PGlite to start. */
export const layerOptions = { excludeTestServices: true, timeout: "120 seconds" } as const

/** Per test: the first one in a file may wait for PGlite and the catalog on a busy machine. */
export const testTimeout = 180_000

/** Ingest built now, so its first book is read after the price changes a test made. */
export const ingestNow = (tenantId: string, events: ReadonlyArray<unknown>) =>
  Effect.scoped(
    Effect.gen(function*() {
      const context = yield* Layer.build(Ingest.Ingest.layer)
      return yield* Effect.provide(Ingest.Ingest.use((ingest) => ingest.ingest(tenantId, events)), context)
    })
  )

export const newTenant = (input: Partial<Tenant.CreateTenant> = {}) =>
  Effect.map(Tenants.Tenants.use((tenants) => tenants.create({ name: "Acme", ...input })), (tenant) => tenant.id)

/** What is stored for a tenant, counted as the owner (no row security). */
export const counts = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    const [row] = yield* sql<{ ledger: bigint | number; dead: bigint | number; requests: string }>`SELECT
      (SELECT count(*) FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger,
      (SELECT count(*) FROM tally.dead_letters WHERE tenant_id = ${tenantId}) AS dead,
      (SELECT coalesce(sum(request_count), 0)::text FROM tally.usage_rollups_hourly WHERE tenant_id = ${tenantId}) AS requests`
    return { ledger: Number(row!.ledger), deadLetters: Number(row!.dead), rollupRequests: Number(row!.requests) }
  })

/** Request ids in the ledger, ordered by id. */
export const ledgerIds = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    const rows = yield* sql<{ request_id: string }>`SELECT request_id FROM tally.usage_ledger WHERE tenant_id = ${tenantId} ORDER BY request_id`
    return rows.map((row) => row.request_id)
  })

export const deadLetters = (tenantId: string) =>
  DeadLetters.DeadLetters.use((letters) => letters.list(tenantId, { limit: 1000 }))

/**
 * A URL to the test database when it is real PostgreSQL (the fresh database `Database.layerTest`
 * made for this file), for code under test that opens its own connection; undefined otherwise.
 */
export const testDatabaseUrl = Effect.gen(function*() {
  const admin = process.env.TALLY_TEST_DATABASE_URL
  const database = yield* Effect.serviceOption(Database.Database)
  if (admin === undefined || admin === "" || Option.isNone(database)) return undefined
  const [row] = yield* database.value.sql<{ name: string }>`SELECT current_database() AS name`
  const url = new URL(admin)
  url.pathname = `/${row!.name}`
  return url.toString()
})

/** The fresh PostgreSQL database of `Database.layerTest` when there is one; nothing on PGlite. */
export const postgresOnlyLayer = backend === "postgres" ? Layer.orDie(storeLayer) : Layer.empty
