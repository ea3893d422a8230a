/**
 * The engine the wrapper tests record into: a `createTally()` facade on PGlite in memory, or on a
 * fresh PostgreSQL database (dropped afterwards) when TALLY_TEST_DATABASE_URL is set.
 */
import { createTally, type TallyFacade } from "@tally/engine"
import { Database } from "@tally/store"
import { Effect, ManagedRuntime } from "effect"

export const backend = process.env["TALLY_TEST_DATABASE_URL"] ? "postgres" : "pglite"

export interface TestTally {
  readonly tally: TallyFacade
  /** The PostgreSQL URL of the fresh database ("" on PGlite), for a process of its own. */
  readonly url: () => Promise<string>
  readonly close: () => Promise<void>
}

export const openTestTally = async (): Promise<TestTally> => {
  const admin = process.env["TALLY_TEST_DATABASE_URL"]
  if (admin === undefined || admin === "") {
    const tally = createTally()
    return { tally, url: async () => "", close: () => tally.close() }
  }
  // A fresh database (created and migrated by the store's test layer, dropped on dispose).
  const runtime = ManagedRuntime.make(Database.layerTest)
  const name = await runtime.runPromise(Database.Database.use((db) =>
    Effect.map(db.sql<{ name: string }>`SELECT current_database() AS name`, (rows) => rows[0]!.name)))
  const url = new URL(admin)
  url.pathname = `/${name}`
  const tally = createTally({ database: url.toString() })
  return {
    tally,
    url: async () => url.toString(),
    close: async () => {
      await tally.close()
      await runtime.dispose()
    }
  }
}
