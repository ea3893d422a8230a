/**
 * `tally reprice` against a real database the CLI process opens itself: an embedded PGlite data
 * directory always, and a throwaway PostgreSQL database when `TALLY_TEST_DATABASE_URL` is set.
 * The ledger is seeded with calls priced by the engine from a real payload fixture, two of them
 * for a model no price book knows yet; the tenant then adds its price, and the CLI prices them.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Catalog } from "@tally/catalog"
import type { UsageRecord } from "@tally/core"
import { Costing, TenantPricing } from "@tally/engine"
import { Normalize } from "@tally/providers"
import { Database, Store, Tenants, UsageLedger } from "@tally/store"
import { DateTime, Effect, Layer, ManagedRuntime, Redacted, Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Cli from "../src/cli/Cli.ts"
import { oneStderrLine, root, tally, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

const book = Result.getOrThrow(Catalog.loadBookSync())
const payload = (JSON.parse(readFileSync(join(root, "apps/worker/test/fixtures/payloads/openai/chat_completion_basic.json"), "utf8")) as {
  payload: Record<string, unknown>
}).payload

/** The fixture's call (16 prompt, 363 completion tokens) for `model`, priced by the engine at `at`. */
const call = (requestId: string, model: string, at: string): UsageRecord.UsageRecord => {
  const normalized = Result.getOrThrow(Normalize.normalize({ provider: "openai", payload: { ...payload, model } }))
  const costed = Costing.cost(book, normalized, { at })
  return Costing.toUsageRecord(costed, { requestId, occurredAt: DateTime.makeUnsafe(at), labels: {}, tags: {} })
}

const ACME = "acme"
const calls = [
  call("r-1", "acme-internal", "2026-05-01T10:05:00Z"),
  call("r-2", "acme-internal", "2026-05-02T11:00:00Z"),
  call("r-3", "gpt-4.1-nano-2025-04-14", "2026-05-03T12:00:00Z")
]

type Services = Store.Services | Database.Database | TenantPricing.TenantPricing

interface Target {
  readonly env: Readonly<Record<string, string>>
  readonly run: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
  readonly close: () => Promise<void>
}

const withPricing = <E>(store: Layer.Layer<Store.Services | Database.Database, E>) =>
  TenantPricing.TenantPricing.layer.pipe(Layer.provideMerge(Layer.merge(store, Catalog.Catalog.layer)))

/** An embedded data directory: opened and closed around each use, since one process at a time may hold it. */
const pgliteTarget = (): Target => {
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-reprice-"))
  seedDataDir(dir)
  const layer = withPricing(Store.layerWith(Database.layerPglite({ dataDir: dir })))
  return {
    env: { TALLY_DATA_DIR: dir },
    run: (effect) => Effect.runPromise(Effect.provide(effect, layer)),
    close: async () => rmSync(dir, { recursive: true, force: true })
  }
}

/** A fresh database on the test server, kept open by this process and dropped at the end. */
const postgresTarget = async (adminUrl: string): Promise<Target> => {
  const runtime = ManagedRuntime.make(withPricing(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(adminUrl)))))
  const [row] = await runtime.runPromise(Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ name: string }>`SELECT current_database() AS name`
  }))
  const url = new URL(adminUrl)
  url.pathname = `/${row!.name}`
  return { env: { TALLY_DATABASE_URL: url.toString() }, run: (effect) => runtime.runPromise(effect), close: () => runtime.dispose() }
}

const ledger = (target: Target) =>
  target.run(Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ request_id: string; cost_source: string; total: string | null }>`
      SELECT request_id, cost_source, total::text AS total FROM tally.usage_ledger WHERE tenant_id = ${ACME} ORDER BY request_id`
  }))

const adminUrl = process.env.TALLY_TEST_DATABASE_URL
const targetNames = ["pglite", ...(adminUrl === undefined || adminUrl === "" ? [] : ["postgres"])]

describe.each(targetNames)("tally reprice (%s)", { timeout: 300_000 }, (name) => {
  let target: Target
  const args = ["reprice", "--tenant", ACME, "--from", "2026-05-01", "--to", "2026-06-01"]

  beforeAll(async () => {
    target = name === "postgres" ? await postgresTarget(adminUrl!) : pgliteTarget()
    await target.run(Effect.gen(function*() {
      yield* Tenants.Tenants.use((tenants) => tenants.create({ id: ACME, name: "Acme" }))
      const result = yield* UsageLedger.UsageLedger.use((l) => l.insertBatch(ACME, calls))
      if (result.inserted !== calls.length) throw new Error(`seeding: ${JSON.stringify(result.items)}`)
      yield* TenantPricing.TenantPricing.use((p) =>
        p.createDefinition(ACME, {
          id: "acme/acme-internal",
          provider: "openai",
          modelKey: "acme-internal",
          price: { rates: { inputText: "1", outputText: "2" } }
        })
      )
    }))
  }, 300_000)

  afterAll(async () => {
    await target?.close()
  })

  it("a dry run prints what would change and writes nothing", async () => {
    const before = await ledger(target)
    expect(before.map((r) => r.cost_source)).toEqual(["unpriced", "unpriced", "computed"])
    const out = await tallyHere([...args, "--only-unpriced", "--dry-run"], target.env)
    expect(out.stderr).toBe("")
    expect(out.code).toBe(0)
    // Each call: 16 x $1/M + 363 x $2/M = 0.000016 + 0.000726 = 0.000742
    expect(JSON.parse(out.stdout)).toMatchObject({
      tenant: ACME,
      runId: null,
      dryRun: true,
      onlyUnpriced: true,
      scanned: 2,
      repriced: 2,
      newlyPriced: 2,
      corrections: 0,
      unchanged: 0,
      totals: [{ currency: "USD", before: "0", after: "0.001484", delta: "0.001484" }]
    })
    expect(await ledger(target)).toEqual(before)
  })

  it("prices the unpriced calls once, with the actor on the audit record; a second run changes nothing", async () => {
    const out = await tallyHere([...args, "--by", "ops"], target.env)
    expect(out.stderr).toBe("")
    expect(out.code).toBe(0)
    const summary = JSON.parse(out.stdout)
    expect(summary).toMatchObject({ dryRun: false, actor: "ops", scanned: 3, repriced: 2, newlyPriced: 2, corrections: 0, unchanged: 1, skipped: 0 })
    expect(summary.runId).toMatch(/^[0-9a-f-]{36}$/)
    expect((await ledger(target)).map((r) => [r.request_id, r.cost_source, r.total])).toEqual([
      ["r-1", "computed", "0.000742"],
      ["r-2", "computed", "0.000742"],
      ["r-3", "computed", calls[2]!.total!.toString()]
    ])
    const runs = await target.run(Effect.gen(function*() {
      const { sql } = yield* Database.Database
      return yield* sql<{ id: string; actor: string }>`SELECT id::text AS id, actor FROM tally.reprice_runs WHERE tenant_id = ${ACME}`
    }))
    expect(runs).toEqual([{ id: summary.runId, actor: "ops" }])

    const again = await tallyHere(args, target.env)
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ runId: null, scanned: 3, repriced: 0, unchanged: 3, totals: [] })
  })

  it("an unknown tenant is an error, not an empty success", () => {
    // The real binary, spawned, as a script runs it.
    const out = tally(["reprice", "--tenant", "initech", "--from", "2026-05-01", "--to", "2026-06-01"], { env: target.env })
    expect(out).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(out)).toContain("reprice:")
    expect(oneStderrLine(out)).toContain("initech")
  })
})

describe("tally reprice: bad input exits 2 before any database is opened", () => {
  it.each([
    [["--from", "2026-05-01", "--to", "2026-06-01"], "tally: reprice: --tenant is required"],
    [["--tenant", "acme", "--to", "2026-06-01"], "tally: reprice: --from is required"],
    [["--tenant", "acme", "--from", "2026-06-01", "--to", "2026-05-01"], "tally: reprice: --to (2026-05-01T00:00:00.000Z) must be after --from (2026-06-01T00:00:00.000Z)"],
    [["--tenant", "acme", "--from", "2026-05-01", "--to", "2026-06-01", "--by", " "], "tally: reprice: --by must not be empty"],
    [["--tenant", "acme", "--from", "2026-05-01", "--to", "2026-06-01", "extra"], "tally: reprice: unexpected argument \"extra\""]
  ])("%j", async (argv, message) => {
    const neverCreated = join(tmpdir(), `tally-never-created-${process.pid}`)
    const out = await Cli.run(["reprice", ...argv], { env: { TALLY_DATA_DIR: neverCreated } })
    expect(out).toEqual({ exitCode: 2, stdout: "", stderr: `${message}\n` })
  })
})
