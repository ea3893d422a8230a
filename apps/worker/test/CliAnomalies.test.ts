/**
 * `tally anomalies` against a real database the CLI process opens itself: an embedded PGlite data
 * directory always, and a throwaway PostgreSQL database when `TALLY_TEST_DATABASE_URL` is set. The
 * ledger holds the anomaly tests' generated traffic with its injected anomalies.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Database, Store, Tenants } from "@tally/store"
import { Effect, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Cli from "../src/cli/Cli.ts"
import * as T from "../../../packages/engine/test/AnomalyTraffic.ts"
import { oneStderrLine, tally, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

type Services = Store.Services | Database.Database

interface Target {
  readonly name: string
  readonly env: Readonly<Record<string, string>>
  readonly flag: ReadonlyArray<string>
  readonly run: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
  readonly close: () => Promise<void>
}

const pgliteTarget = (): Target => {
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-anomalies-"))
  seedDataDir(dir)
  const layer = Store.layerWith(Database.layerPglite({ dataDir: dir }))
  return {
    name: "pglite",
    env: { TALLY_DATA_DIR: dir },
    flag: ["--data-dir", dir],
    run: (effect) => Effect.runPromise(Effect.provide(effect, layer)),
    close: async () => rmSync(dir, { recursive: true, force: true })
  }
}

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
    flag: ["--database-url", url.toString()],
    run: (effect) => runtime.runPromise(effect),
    close: () => runtime.dispose()
  }
}

const TENANT = "acme"
const iso = (millis: number) => new Date(millis).toISOString()
/** The afternoon of the injected day: the burst, the swap's confirmation, the runaway loop. */
const window = ["--from", iso(T.at(9, 12)), "--to", iso(T.at(9, 18))]

interface Output {
  readonly backend: string
  readonly tenant: string
  readonly from: string
  readonly to: string
  readonly detection: { readonly recorded: ReadonlyArray<string>; readonly duplicates: number; readonly evaluated: Record<string, number> } | null
  readonly findings: ReadonlyArray<{
    readonly id: string
    readonly kind: string
    readonly scope: { readonly kind: string; readonly value: string | null }
    readonly window: { readonly from: string; readonly to: string }
    readonly severity: string
    readonly observed: string
    readonly summary: string
    readonly evidence: Record<string, unknown>
  }>
}

const adminUrl = process.env.TALLY_TEST_DATABASE_URL
const targetNames = ["pglite", ...(adminUrl === undefined || adminUrl === "" ? [] : ["postgres"])]

describe.each(targetNames)("tally anomalies (%s)", { timeout: 300_000 }, (name) => {
  let target: Target

  beforeAll(async () => {
    target = name === "postgres" ? await postgresTarget(adminUrl!) : pgliteTarget()
    await target.run(Effect.gen(function*() {
      yield* Tenants.Tenants.use((tenants) => tenants.create({ id: TENANT, name: "Acme" }))
      yield* T.record(TENANT, T.injectedTraffic(21))
    }))
  }, 300_000)

  afterAll(async () => {
    await target?.close()
  })

  it("lists nothing before any detection ran", async () => {
    const out = await tallyHere(["anomalies", "--tenant", TENANT, ...window], target.env)
    expect(out.stderr).toBe("")
    expect(out.code).toBe(0)
    expect(JSON.parse(out.stdout)).toEqual({
      backend: name,
      tenant: TENANT,
      from: iso(T.at(9, 12)),
      to: iso(T.at(9, 18)),
      detection: null,
      findings: []
    })
  })

  it("--detect over a range records the injected anomalies with their evidence; a second run records nothing new", async () => {
    const out = await tallyHere(["anomalies", "--tenant", TENANT, ...window, "--detect"], target.env)
    expect(out.stderr).toBe("")
    expect(out.code).toBe(0)
    const first = JSON.parse(out.stdout) as Output
    expect(first.detection!.recorded.length).toBeGreaterThan(0)
    expect(first.detection!.evaluated.spend_spike).toBeGreaterThan(50)
    const find = (kind: string, scope: string, value: string, hour: number) =>
      first.findings.find((f) =>
        f.kind === kind && f.scope.kind === scope && f.scope.value === value && f.window.from === iso(T.at(9, hour))
      )
    expect(find("spend_spike", "project", "agents", 13)).toMatchObject({ window: { to: iso(T.at(9, 14)) }, severity: "critical" })
    expect(find("token_rate_spike", "apiKey", "key_agents", 16)).toMatchObject({ severity: "critical" })
    expect(find("model_mix_shift", "feature", "summarize", 12)).toMatchObject({ severity: "critical" })
    const loop = find("token_rate_spike", "apiKey", "key_agents", 16)!
    expect((loop.evidence.calls as { groups: ReadonlyArray<{ workflow: string }> }).groups[0]!.workflow).toBe(T.runawayWorkflow)
    // Every finding listed in the window was recorded by this run, newest window first.
    expect(first.findings.map((f) => f.id).sort()).toEqual([...first.detection!.recorded].sort())
    const starts = first.findings.map((f) => f.window.from)
    expect(starts).toEqual([...starts].sort().reverse())

    const again = JSON.parse((await tallyHere(["anomalies", "--tenant", TENANT, ...window, "--detect"], target.env)).stdout) as Output
    expect(again.detection!.recorded).toEqual([])
    expect(again.detection!.duplicates).toBe(first.detection!.recorded.length)
    expect(again.findings).toEqual(first.findings)
  })

  it("filters by kind and scope, and names the database by flag", async () => {
    const out = await tallyHere(["anomalies", "--tenant", TENANT, ...window, "--kind", "token_rate_spike", "--scope", "apiKey", "--scope", "project", ...target.flag], {})
    expect(out.code).toBe(0)
    const listed = JSON.parse(out.stdout) as Output
    const scopes = listed.findings.map((f) => `${f.scope.kind}=${f.scope.value}`)
    expect(scopes).toEqual(expect.arrayContaining(["apiKey=key_agents", "project=agents"]))
    for (const f of listed.findings) {
      expect(f.kind).toBe("token_rate_spike")
      expect(["apiKey", "project"]).toContain(f.scope.kind)
    }
  })

  it("an unknown tenant is an error, not a quiet tenant", async () => {
    const out = await tallyHere(["anomalies", "--tenant", "initech", ...target.flag], {})
    expect(out).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(out)).toBe(`tally: anomalies: no tenant with id "initech"`)
  })
})

describe("tally anomalies: bad input exits 2 before any database is opened", { timeout: 300_000 }, () => {
  const neverCreated = join(tmpdir(), `tally-never-created-anomalies-${process.pid}`)

  it("in a real process: one line on stderr, nothing on stdout, exit 2", async () => {
    const out = tally(["anomalies", "--tenant", TENANT, "--from", "2026-05-02", "--to", "2026-05-01"], { env: { TALLY_DATA_DIR: neverCreated } })
    expect(out).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(out)).toBe("tally: anomalies: --to (2026-05-01T00:00:00.000Z) must be after --from (2026-05-02T00:00:00.000Z)")
    expect(existsSync(neverCreated)).toBe(false)
  })

  it.each([
    [[], "tally: anomalies: --tenant is required"],
    [["--tenant", TENANT, "--from", "yesterday"], "--from must be an ISO 8601 date or date-time"],
    [["--tenant", TENANT, "--kind", "spike"], "--kind must be one of spend_spike, token_rate_spike, model_mix_shift, cost_per_request_jump, got \"spike\""],
    [["--tenant", TENANT, "--scope", "user"], "--scope must be one of tenant, project, feature, team, customer, apiKey, model, got \"user\""],
    [["--tenant", TENANT, "--limit", "0"], "--limit must be at least 1"],
    [["--tenant", TENANT, "--limit", "ten"], "--limit must be a non-negative integer"],
    [["--tenant", TENANT, "extra"], "unexpected argument \"extra\""],
    [["--tenant", TENANT, "--database-url", "postgres://x", "--data-dir", "y"], "give --database-url or --data-dir, not both"]
  ])("%j → %s", async (args, message) => {
    const outcome = await Cli.run(["anomalies", ...args])
    expect(outcome.exitCode).toBe(2)
    expect(outcome.stdout).toBe("")
    expect(outcome.stderr).toContain(message)
    expect(outcome.stderr.trimEnd().split("\n")).toHaveLength(1)
  })
})
