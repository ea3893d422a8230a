/**
 * `tally reconcile` as a script runs it: a real CLI process over a database it opens itself (an
 * embedded PGlite data directory; a throwaway PostgreSQL database when `TALLY_TEST_DATABASE_URL`
 * is set). The ledger is seeded through the store with a real OpenAI payload priced by the engine;
 * a provider CSV adds a day the ledger never saw and a day after the period. Checked: the
 * summary's fields on stdout, the full report written to `--out`, and exit 2 with one `tally:`
 * line for bad input.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Catalog } from "@tally/catalog"
import { Costing } from "@tally/engine"
import { Normalize } from "@tally/providers"
import { Database, Store, Tenants, UsageLedger } from "@tally/store"
import { DateTime, Effect, ManagedRuntime, Redacted, Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { oneStderrLine, root, tally, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

const book = Result.getOrThrow(Catalog.loadBookSync())
const payload = (JSON.parse(readFileSync(join(root, "apps/worker/test/fixtures/payloads/openai/chat_completion_basic.json"), "utf8")) as { payload: unknown }).payload
const at = "2026-05-01T10:00:00Z"
const costed = Costing.cost(book, Result.getOrThrow(Normalize.normalize({ provider: "openai", payload })), { at })
const call = Costing.toUsageRecord(costed, { requestId: "c-1", occurredAt: DateTime.makeUnsafe(at), labels: { project: "web" }, tags: {} })

const TENANT = "recon"
const period = ["--tenant", TENANT, "--from", "2026-05-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z"]

type Services = Store.Services | Database.Database

interface Target {
  readonly env: Readonly<Record<string, string>>
  readonly run: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
  readonly close: () => Promise<void>
}

const adminUrl = process.env.TALLY_TEST_DATABASE_URL
const targetNames = ["pglite", ...(adminUrl === undefined || adminUrl === "" ? [] : ["postgres"])]

const makeTarget = async (name: string, dir: string): Promise<Target> => {
  if (name === "pglite") {
    // One process at a time may hold a data directory: open it around each use.
    const layer = Store.layerWith(Database.layerPglite({ dataDir: join(dir, "data") }))
    return { env: { TALLY_DATA_DIR: join(dir, "data") }, run: (effect) => Effect.runPromise(Effect.provide(effect, layer)), close: async () => {} }
  }
  const runtime = ManagedRuntime.make(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(adminUrl!))))
  const [row] = await runtime.runPromise(Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ name: string }>`SELECT current_database() AS name`
  }))
  const url = new URL(adminUrl!)
  url.pathname = `/${row!.name}`
  return { env: { TALLY_DATABASE_URL: url.toString() }, run: (effect) => runtime.runPromise(effect), close: () => runtime.dispose() }
}

describe.each(targetNames)("tally reconcile (%s)", { timeout: 300_000 }, (name) => {
  let dir: string
  let target: Target
  let csv: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tally-cli-reconcile-"))
    seedDataDir(join(dir, "data"))
    target = await makeTarget(name, dir)
    await target.run(Effect.gen(function*() {
      yield* (yield* Tenants.Tenants).create({ id: TENANT, name: TENANT })
      const result = yield* (yield* UsageLedger.UsageLedger).insertBatch(TENANT, [call])
      if (result.inserted !== 1) throw new Error(`seeding: ${JSON.stringify(result.items)}`)
    }))
    csv = join(dir, "openai.csv")
    // 06-01 is the run's `to`, outside its period: left out and counted, not missing on our side.
    writeFileSync(csv, "date,provider,model,project,input_tokens,output_tokens,cost,currency\n2026-05-07,openai,gpt-4.1-nano,web,9000,100,0.0125,USD\n2026-06-01,openai,gpt-4.1-nano,web,500,10,0.0007,USD\n")
  }, 300_000)

  afterAll(async () => {
    await target?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("prints the summary, stores the run and writes the full report", () => {
    const out = join(dir, "report.json")
    const run = tally(["reconcile", ...period, "--report", csv, "--format", "csv", "--out", out], { env: target.env })
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const printed = JSON.parse(run.stdout)
    expect(Object.keys(printed).sort()).toEqual(["out", "period", "runId", "summary", "tenant"])
    expect(printed).toMatchObject({ tenant: TENANT, out, period: { from: "2026-05-01T00:00:00.000Z", to: "2026-06-01T00:00:00.000Z" } })
    expect(printed.runId).toMatch(/^[0-9a-f-]{36}$/)
    expect(printed.summary).toMatchObject({ rows: 1, rederivedMatching: 1, bySeverity: { error: 1 }, byKind: { "missing-on-our-side": 1 } })
    // Only ledger rows inside the report's period (05-07 to 06-02) are compared: the 05-01 call is not missing on theirs.
    expect(printed.summary.billed).toEqual({ USD: printed.summary.rederived.USD })
    expect(printed.summary.reports).toEqual([
      { format: "csv", provider: "openai", counts: expect.objectContaining({ "missing-on-our-side": 1, "missing-on-their-side": 0 }), rowsOutsidePeriod: 1 }
    ])
    const report = JSON.parse(readFileSync(out, "utf8"))
    expect(report.runId).toBe(printed.runId)
    const missing = report.findings.find((f: { kind: string }) => f.kind === "missing-on-our-side")
    expect(missing).toMatchObject({ severity: "error", reportedCost: "0.0125", currency: "USD" })
  })

  it("bad input exits 2 with one line naming the problem", async () => {
    const unknownFormat = await tallyHere(["reconcile", ...period, "--report", csv, "--format", "xlsx"], target.env)
    expect(unknownFormat.code).toBe(2)
    expect(oneStderrLine(unknownFormat)).toMatch(/^tally: reconcile: .*openai\.csv: xlsx report: unknown format/)
    const broken = join(dir, "broken.csv")
    writeFileSync(broken, "date,cost\n2026-05-03,abc\n")
    const malformed = await tallyHere(["reconcile", ...period, "--report", broken, "--format", "csv"], target.env)
    expect(malformed.code).toBe(2)
    expect(oneStderrLine(malformed)).toContain("line 2: cost \"abc\" is not a decimal")
    const backwards = await tallyHere(["reconcile", "--tenant", TENANT, "--from", "2026-06-01T00:00:00Z", "--to", "2026-05-01T00:00:00Z"], target.env)
    expect(backwards.code).toBe(2)
    expect(oneStderrLine(backwards)).toContain("must be after --from")
    const unknownTenant = await tallyHere(["reconcile", "--tenant", "nobody", "--from", "2026-05-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z"], target.env)
    expect(unknownTenant.code).toBe(2)
    expect(oneStderrLine(unknownTenant)).toBe("tally: reconcile: no tenant with id \"nobody\"")
  })
})
