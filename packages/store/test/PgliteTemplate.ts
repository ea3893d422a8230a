/**
 * One migrated PGlite cluster per test run. Creating an embedded database runs initdb and every
 * migration in WASM, seconds each time, and the suite creates one per test file and target (and
 * per CLI data directory). The run's global setup does it once; test databases then start from it:
 *
 * - in memory (`Database.layerPgliteTest`, `layerTest`): from its `dumpDataDir` archive, named by
 *   `TALLY_TEST_PGLITE_TEMPLATE`;
 * - on disk (`seedDataDir`): a copy of its directory, so a spawned `tally` opens a ready database.
 *
 * The migrations still run on open and find nothing to do. Tests that are about creating a
 * database from nothing (the store's migration tests, `tally demo` on a new directory) do not use it.
 */
import { PGlite } from "@electric-sql/pglite"
import * as Database from "../src/Database.ts"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** The directory of the run's migrated cluster, for on-disk copies. */
const directoryVariable = "TALLY_TEST_PGLITE_TEMPLATE_DIR"

/** Vitest's global setup: builds the cluster, names it in the environment the test workers inherit. */
export default async function setup(): Promise<() => void> {
  const root = mkdtempSync(join(tmpdir(), "tally-pglite-template-"))
  const dataDir = join(root, "data")
  await Effect.runPromise(Effect.scoped(Layer.build(Database.layerPglite({ dataDir }))))
  const db = await PGlite.create(dataDir, { username: "postgres", database: "postgres" })
  const archive = await db.dumpDataDir("none")
  await db.close()
  const archivePath = join(root, "cluster.tar")
  writeFileSync(archivePath, Buffer.from(await archive.arrayBuffer()))
  process.env[Database.testTemplateVariable] = archivePath
  process.env[directoryVariable] = dataDir
  return () => rmSync(root, { recursive: true, force: true })
}

/**
 * Fills `dataDir` (which must not exist yet) with a copy of the run's migrated cluster; without a
 * global setup (a single file run by hand with another config) it does nothing and the first open
 * creates the database as usual.
 */
export const seedDataDir = (dataDir: string): void => {
  const template = process.env[directoryVariable]
  if (template === undefined || template === "" || !existsSync(template)) return
  cpSync(template, dataDir, { recursive: true })
}
