/**
 * `tally rollups rebuild` against a real database the CLI process opens itself: an embedded
 * PGlite data directory (`TALLY_DATA_DIR`) always, and a throwaway PostgreSQL database
 * (`TALLY_DATABASE_URL`) when `TALLY_TEST_DATABASE_URL` is set. The ledger is seeded through the
 * store with calls priced by the engine from real payload fixtures; the rollups are then damaged
 * and the CLI must restore exactly what the inserts had produced.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Catalog } from "@tally/catalog"
import { Money, type UsageRecord } from "@tally/core"
import { Costing } from "@tally/engine"
import { Normalize } from "@tally/providers"
import { Database, Rollups, Store, Tenants, UsageLedger } from "@tally/store"
import { DateTime, Effect, ManagedRuntime, Redacted, Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Cli from "../src/cli/Cli.ts"
import { oneStderrLine, root, tally, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

const fixtures = join(root, "apps/worker/test/fixtures/payloads")
const book = Result.getOrThrow(Catalog.loadBookSync())

/** A fixture's call, priced by the engine at `at`, as the ledger records it. */
const call = (fixture: string, provider: string, requestId: string, at: string, labels: UsageRecord.Labels = {}): UsageRecord.UsageRecord => {
  const payload = (JSON.parse(readFileSync(join(fixtures, fixture), "utf8")) as { payload: unknown }).payload
  const normalized = Result.getOrThrow(Normalize.normalize({ provider, payload }))
  const costed = Costing.cost(book, normalized, { at })
  return Costing.toUsageRecord(costed, { requestId, occurredAt: DateTime.makeUnsafe(at), labels, tags: {} })
}

const ACME = "acme"
const GLOBEX = "globex"
const seed: Record<string, ReadonlyArray<UsageRecord.UsageRecord>> = {
  [ACME]: [
    call("anthropic/messages_basic.json", "anthropic", "a-1", "2026-05-01T10:05:00Z", { project: "search" }),
    call("anthropic/messages_basic.json", "anthropic", "a-2", "2026-05-01T10:40:00Z", { project: "search" }),
    call("openai/chat_completion_basic.json", "openai", "a-3", "2026-05-01T10:59:59.999Z"),
    call("openai/embeddings.json", "openai", "a-4", "2026-05-01T11:20:00Z", { project: "index" }),
    call("openai/chat_completion_basic.json", "openai", "a-5", "2026-05-02T09:00:00Z")
  ],
  [GLOBEX]: [
    call("openai/chat_completion_prompt_cached.json", "openai", "g-1", "2026-05-01T10:10:00Z"),
    call("openai/chat_completion_prompt_cached.json", "openai", "g-2", "2026-05-01T23:30:00Z")
  ]
}
const everything = { from: DateTime.makeUnsafe("2026-01-01T00:00:00Z"), to: DateTime.makeUnsafe("2027-01-01T00:00:00Z") }

type Services = Store.Services | Database.Database

interface Target {
  readonly name: string
  /** What the CLI process gets to find the same database. */
  readonly env: Readonly<Record<string, string>>
  readonly run: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
  readonly close: () => Promise<void>
}

/** An embedded data directory: opened and closed around each use, since one process at a time may hold it. */
const pgliteTarget = (): Target => {
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-rollups-"))
  seedDataDir(dir)
  const layer = Store.layerWith(Database.layerPglite({ dataDir: dir }))
  return {
    name: "pglite",
    env: { TALLY_DATA_DIR: dir },
    run: (effect) => Effect.runPromise(Effect.provide(effect, layer)),
    close: async () => rmSync(dir, { recursive: true, force: true })
  }
}

/** A fresh database on the test server, kept open by this process and dropped at the end. */
const postgresTarget = async (adminUrl: string): Promise<Target> => {
  const runtime = ManagedRuntime.make(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(adminUrl))))
  const [row] = await runtime.runPromise(Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ name: string }>`SELECT current_database() AS name`
  }))
  const url = new URL(adminUrl)
  url.pathname = `/${row!.name}`
  return {
    name: "postgres",
    env: { TALLY_DATABASE_URL: url.toString() },
    run: (effect) => runtime.runPromise(effect),
    close: () => runtime.dispose()
  }
}

/** A rollup row as plain values, comparable with toEqual. */
const plain = (row: Rollups.RollupRow) => ({
  ...row,
  hour: DateTime.formatIso(row.hour),
  cost: Money.format(row.cost),
  audioSeconds: Money.format(row.audioSeconds),
  videoSeconds: Money.format(row.videoSeconds)
})
type Rows = ReadonlyArray<ReturnType<typeof plain>>

const rollups = (tenantId: string) => Effect.map(Rollups.Rollups.use((r) => r.list(tenantId, everything)), (rows): Rows => rows.map(plain))
const inHours = (rows: Rows, from: string, to: string) => rows.filter((r) => r.hour >= from && r.hour < to)

const adminUrl = process.env.TALLY_TEST_DATABASE_URL
const targetNames = ["pglite", ...(adminUrl === undefined || adminUrl === "" ? [] : ["postgres"])]

describe.each(targetNames)("tally rollups rebuild (%s)", { timeout: 300_000 }, (name) => {
  let target: Target
  let before: Record<string, Rows>

  beforeAll(async () => {
    target = name === "postgres" ? await postgresTarget(adminUrl!) : pgliteTarget()
    before = await target.run(Effect.gen(function*() {
      const tenants = yield* Tenants.Tenants
      const ledger = yield* UsageLedger.UsageLedger
      const expected: Record<string, Rows> = {}
      for (const [tenantId, calls] of Object.entries(seed)) {
        yield* tenants.create({ id: tenantId, name: tenantId })
        const result = yield* ledger.insertBatch(tenantId, calls)
        if (result.inserted !== calls.length) throw new Error(`seeding ${tenantId}: ${JSON.stringify(result.items)}`)
        expected[tenantId] = yield* rollups(tenantId)
      }
      // Damage the rollups as the owner: lose all of acme's, inflate globex's.
      const { sql } = yield* Database.Database
      yield* sql`DELETE FROM tally.usage_rollups_hourly WHERE tenant_id = ${ACME}`
      yield* sql`UPDATE tally.usage_rollups_hourly SET cost = cost + 1, request_count = request_count + 5 WHERE tenant_id = ${GLOBEX}`
      return expected
    }))
  }, 300_000)

  afterAll(async () => {
    await target?.close()
  })

  it("the seed produced rollups to compare with", async () => {
    // acme: 10:00 anthropic/search, 10:00 openai, 11:00 openai/index, 2026-05-02 09:00 openai; globex: 10:00, 23:00.
    expect(before[ACME]!.map((r) => r.hour)).toEqual([
      "2026-05-01T10:00:00.000Z",
      "2026-05-01T10:00:00.000Z",
      "2026-05-01T11:00:00.000Z",
      "2026-05-02T09:00:00.000Z"
    ])
    expect(before[ACME]!.find((r) => r.hour === "2026-05-01T10:00:00.000Z" && r.provider === "anthropic")).toMatchObject({
      requestCount: 2,
      // 2 × (12 input × $3/M + 29 output × $15/M)
      cost: "0.000942"
    })
    expect(before[GLOBEX]!).toHaveLength(2)
  })

  it("one tenant, a range widened to whole hours: only those hours are rebuilt", async () => {
    const out = await tallyHere(["rollups", "rebuild", "--from", "2026-05-01T10:15:00Z", "--to", "2026-05-01T11:30:00Z", "--tenant", ACME], target.env)
    expect(out.stderr).toBe("")
    expect(out.code).toBe(0)
    expect(JSON.parse(out.stdout)).toEqual({
      backend: name,
      tenant: ACME,
      from: "2026-05-01T10:00:00.000Z",
      to: "2026-05-01T12:00:00.000Z",
      hours: 2,
      tenants: 1,
      rows: 3
    })
    const after = await target.run(rollups(ACME))
    expect(after).toEqual(inHours(before[ACME]!, "2026-05-01T10:00", "2026-05-01T12:00"))
  })

  it("every tenant over two days: the rollups equal what the inserts produced, and a second run changes nothing", async () => {
    const args = ["rollups", "rebuild", "--from", "2026-05-01", "--to", "2026-05-03"]
    const out = await tallyHere(args, target.env)
    expect(out.code).toBe(0)
    const expected = { backend: name, tenant: null, from: "2026-05-01T00:00:00.000Z", to: "2026-05-03T00:00:00.000Z", hours: 48, tenants: 2, rows: 6 }
    expect(JSON.parse(out.stdout)).toEqual(expected)
    expect(await target.run(rollups(ACME))).toEqual(before[ACME])
    expect(await target.run(rollups(GLOBEX))).toEqual(before[GLOBEX])

    const again = await tallyHere(args, target.env)
    expect(JSON.parse(again.stdout)).toEqual(expected)
    expect(await target.run(rollups(GLOBEX))).toEqual(before[GLOBEX])
  })

  it("an unknown tenant is an error, not an empty success (the database named by flag instead of the environment)", async () => {
    const flag = name === "postgres" ? ["--database-url", target.env.TALLY_DATABASE_URL!] : ["--data-dir", target.env.TALLY_DATA_DIR!]
    const out = await tallyHere(["rollups", "rebuild", "--from", "2026-05-01", "--to", "2026-05-02", "--tenant", "initech", ...flag], {})
    expect(out).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(out)).toBe(`tally: rollups rebuild: no tenant with id "initech"`)
  })
})

describe("tally rollups rebuild: bad input exits 2 before any database is opened", { timeout: 300_000 }, () => {
  // A data directory that must never come to exist: these fail on the arguments alone.
  const neverCreated = join(tmpdir(), `tally-never-created-${process.pid}`)

  it("in a real process: one line on stderr, nothing on stdout, exit 2", async () => {
    const out = tally(["rollups", "rebuild", "--from", "2026-05-02", "--to", "2026-05-01"], { env: { TALLY_DATA_DIR: neverCreated } })
    expect(out).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(out)).toBe("tally: rollups rebuild: --to (2026-05-01T00:00:00.000Z) must be after --from (2026-05-02T00:00:00.000Z)")
    expect(existsSync(neverCreated)).toBe(false)
  })

  // The same checks through Cli.run, the function bin.ts prints: no process start per case.
  it.each([
    [["--from", "2026-05-01"], "tally: rollups rebuild: --to is required"],
    [["--from", "May 1st", "--to", "2026-05-02"], `tally: rollups rebuild: --from must be an ISO 8601 date or date-time such as 2026-05-01 or 2026-05-01T12:00:00Z, got "May 1st"`],
    [["--from", "2026-05-01", "--to", "2026-04-31"], `tally: rollups rebuild: --to must be an ISO 8601 date or date-time such as 2026-05-01 or 2026-05-01T12:00:00Z, got "2026-04-31"`],
    [["--from", "2026-05-01T10:00:00Z", "--to", "2026-05-01T10:00:00+00:00"], "tally: rollups rebuild: --to (2026-05-01T10:00:00.000Z) must be after --from (2026-05-01T10:00:00.000Z)"],
    [["--from", "2026-05-01", "--to", "2026-05-02", "--tenant", ""], "tally: rollups rebuild: --tenant must not be empty"],
    [["--from", "2026-05-01", "--to", "2026-05-02", "extra"], `tally: rollups rebuild: unexpected argument "extra"`],
    [["--since", "2026-05-01"], "tally: rollups rebuild: unknown flag --since"],
    [["--from", "2026-05-01", "--to", "2026-05-02", "--database-url", "postgres://x", "--data-dir", "d"], "tally: rollups rebuild: give --database-url or --data-dir, not both"]
  ])("%j", async (args, message) => {
    const out = await Cli.run(["rollups", "rebuild", ...args])
    expect(out).toMatchObject({ exitCode: 2, stdout: "" })
    expect(out.stderr.split("\n")).toHaveLength(2) // one line and its newline
    expect(out.stderr.startsWith(message), out.stderr).toBe(true)
  })

  it("rollups alone prints its help; an unknown subcommand is exit 2 naming the closest one", async () => {
    const help = await Cli.run(["rollups"])
    expect(help).toMatchObject({ exitCode: 0, stderr: "" })
    expect(help.stdout).toMatch(/^ {2}rebuild +Recomputes the hourly rollups/m)
    expect(await Cli.run(["rollups", "rebuilt"])).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: `tally: rollups: unknown subcommand "rebuilt"; did you mean rebuild? (tally rollups --help lists them)\n`
    })
    expect(existsSync(neverCreated)).toBe(false)
  })
})
