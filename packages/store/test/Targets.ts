/**
 * The databases every store test runs against: embedded PGlite always, and real PostgreSQL when
 * `TALLY_TEST_DATABASE_URL` is set (CI sets it). Each target is a fresh database per test file,
 * dropped afterwards.
 */
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Database from "../src/Database.ts"
import * as Store from "../src/Store.ts"

export interface Target {
  readonly name: "pglite" | "postgres"
  readonly layer: Layer.Layer<Store.Services | Database.Database, Database.LayerError>
}

const url = process.env.TALLY_TEST_DATABASE_URL

export const targets: ReadonlyArray<Target> = [
  { name: "pglite", layer: Store.layerWith(Database.layerPgliteTest) },
  ...(url === undefined || url === ""
    ? []
    : [{ name: "postgres" as const, layer: Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(url))) }])
]

/** Options for `layer(...)`: real clock (the pool's timers), and time for PGlite to start. */
export const layerOptions = { excludeTestServices: true, timeout: "120 seconds" } as const
