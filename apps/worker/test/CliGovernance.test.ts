/**
 * `tally decide` and `tally policy` as a script runs them (through `Cli.run`, what bin.ts prints),
 * over an embedded PGlite data directory and, when `TALLY_TEST_DATABASE_URL` is set, a throwaway
 * PostgreSQL database: token and request budgets made with `tally budget create`, policies with
 * `tally policy create`, decisions with every reason, a reservation, and bad flags named.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Database, Store, Tenants } from "@tally/store"
import { Effect, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { oneStderrLine, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

interface Target {
  readonly flags: ReadonlyArray<string>
  readonly createTenant: (id: string) => Promise<void>
  readonly close: () => Promise<void>
}

const pgliteTarget = (): Target => {
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-governance-"))
  seedDataDir(dir)
  const layer = Store.layerWith(Database.layerPglite({ dataDir: dir }))
  return {
    flags: ["--data-dir", dir],
    createTenant: (id) => Effect.runPromise(Effect.provide(Effect.asVoid(Tenants.Tenants.use((t) => t.create({ id, name: id }))), layer)),
    close: async () => rmSync(dir, { recursive: true, force: true })
  }
}

const postgresTarget = async (adminUrl: string): Promise<Target> => {
  const runtime = ManagedRuntime.make(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(adminUrl))))
  const name = await runtime.runPromise(Effect.gen(function*() {
    const { sql } = yield* Database.Database
    const [row] = yield* sql<{ name: string }>`SELECT current_database() AS name`
    return row!.name
  }))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    flags: ["--database-url", url.toString()],
    createTenant: (id) => runtime.runPromise(Effect.asVoid(Tenants.Tenants.use((t) => t.create({ id, name: id })))),
    close: () => runtime.dispose()
  }
}

const adminUrl = process.env.TALLY_TEST_DATABASE_URL
const targetNames = ["pglite", ...(adminUrl === undefined || adminUrl === "" ? [] : ["postgres"])]

describe.each(targetNames)("tally decide and policy (%s)", { timeout: 300_000 }, (name) => {
  let target: Target
  const tenant = "cli-governance"
  const run = async (args: ReadonlyArray<string>) => {
    const out = await tallyHere([...args, ...target.flags])
    return { ...out, json: out.stdout === "" ? undefined : JSON.parse(out.stdout) }
  }

  beforeAll(async () => {
    target = name === "postgres" ? await postgresTarget(adminUrl!) : pgliteTarget()
    await target.createTenant(tenant)
  })

  afterAll(async () => {
    await target?.close()
  })

  it("budgets in tokens and requests and model policies decide calls with every reason", async () => {
    const tokens = await run([
      "budget", "create", "--tenant", tenant, "--name", "output per minute", "--period", "rolling", "--window-seconds", "60",
      "--unit", "tokens", "--token-kind", "output", "--amount", "1000", "--action", "block"
    ])
    expect(tokens.stderr).toBe("")
    expect(tokens.json).toMatchObject({ period: "rolling", windowSeconds: 60, unit: "tokens", tokenKind: "output", amount: "1000" })
    const badUnit = await run(["budget", "create", "--tenant", tenant, "--name", "x", "--period", "day", "--amount", "1.5", "--unit", "requests"])
    expect([badUnit.code, oneStderrLine(badUnit)]).toEqual([2, "tally: budget create: amount: a requests budget counts whole requests, got 1.5"])
    const badKind = await run(["budget", "create", "--tenant", tenant, "--name", "x", "--period", "day", "--amount", "1", "--token-kind", "output"])
    expect(oneStderrLine(badKind)).toBe("tally: budget create: tokenKind: only a tokens budget counts a kind of tokens; this budget counts cost")

    const policy = await run(["policy", "create", "--tenant", tenant, "--name", "openai only", "--allow-provider", "openai", "--deny-model", "startsWith:o1", "--team", "search"])
    expect(policy.stderr).toBe("")
    expect(policy.json).toMatchObject({ name: "openai only", scope: { team: "search" }, rules: { allowProviders: ["openai"], denyModels: [{ startsWith: "o1" }] } })
    const badPolicy = await run(["policy", "create", "--tenant", tenant, "--name", "x", "--max-cost-per-call", "abc"])
    expect(badPolicy.code).toBe(2)
    expect(oneStderrLine(badPolicy)).toMatch(/^tally: policy create: --max-cost-per-call: expected a decimal string/)

    const allowed = await run(["decide", "--tenant", tenant, "--model", "gpt-4o", "--provider", "openai", "--team", "search", "--output-tokens", "600"])
    expect(allowed.code).toBe(0)
    expect(allowed.json).toMatchObject({ decision: "allow", reasons: [] })
    const denied = await run(["decide", "--tenant", tenant, "--model", "o1-mini", "--provider", "azure", "--team", "search", "--output-tokens", "50"])
    expect(denied.code).toBe(0)
    expect(denied.json.reasons.map((r: { rule: string }) => r.rule)).toEqual(["allowProviders", "denyModels"])

    const reserved = await run(["decide", "--tenant", tenant, "--model", "gpt-4o", "--cost", "0.01", "--output-tokens", "700", "--reserve", "--request-id", "cli-1"])
    expect(reserved.json.decision).toBe("allow")
    expect(reserved.json.reservation.id).toBeTypeOf("string")
    const full = await run(["decide", "--tenant", tenant, "--model", "gpt-4o", "--cost", "0.01", "--output-tokens", "301"])
    expect(full.json.reasons).toEqual([expect.objectContaining({ kind: "budget", budgetName: "output per minute", remaining: "300", estimate: "301" })])

    const badFlag = await run(["decide", "--tenant", tenant, "--model", "gpt-4o", "--output-tokens=-3"])
    expect([badFlag.code, oneStderrLine(badFlag)]).toEqual([2, `tally: decide: --output-tokens must be a non-negative integer, got "-3"`])
    const badCost = await run(["decide", "--tenant", tenant, "--model", "gpt-4o", "--cost", "1e3"])
    expect(oneStderrLine(badCost)).toMatch(/^tally: decide: --cost: expected a decimal string/)

    const listed = await run(["policy", "list", "--tenant", tenant])
    expect(listed.json.map((p: { name: string }) => p.name)).toEqual(["openai only"])
    const archived = await run(["policy", "archive", "--tenant", tenant, "--policy", policy.json.id])
    expect(archived.json.archivedAt).not.toBeNull()
    expect((await run(["policy", "list", "--tenant", tenant])).json).toEqual([])
    const unknown = await run(["policy", "archive", "--tenant", tenant, "--policy", "nope"])
    expect([unknown.code, oneStderrLine(unknown)]).toEqual([2, `tally: policy archive: model policy "nope" does not exist`])
  })
})
