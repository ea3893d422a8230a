/**
 * `tally sale-price-book`, `tally margin` and `tally statement` against a database the CLI opens
 * itself: an embedded PGlite data directory, and a throwaway PostgreSQL database when
 * `TALLY_TEST_DATABASE_URL` is set. Calls arrive through `tally ingest`, which prices them at sale
 * in the same transaction. Amounts by hand in the comments.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Database } from "@tally/store"
import { Effect, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { oneStderrLine, tally, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

const adminUrl = process.env.TALLY_TEST_DATABASE_URL
const targetNames = ["pglite", ...(adminUrl === undefined || adminUrl === "" ? [] : ["postgres"])]

interface Target {
  readonly env: Readonly<Record<string, string>>
  readonly dir: string
  readonly close: () => Promise<void>
}

const pgliteTarget = (): Target => {
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-resale-"))
  seedDataDir(join(dir, "data"))
  return { env: { TALLY_DATA_DIR: join(dir, "data") }, dir, close: async () => rmSync(dir, { recursive: true, force: true }) }
}

/** A fresh database on the test server, kept by this process and dropped at the end. */
const postgresTarget = async (admin: string): Promise<Target> => {
  const runtime = ManagedRuntime.make(Database.layerEphemeralPostgres(Redacted.make(admin)))
  const [row] = await runtime.runPromise(Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ name: string }>`SELECT current_database() AS name`
  }))
  const url = new URL(admin)
  url.pathname = `/${row!.name}`
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-resale-"))
  return {
    env: { TALLY_DATABASE_URL: url.toString() },
    dir,
    close: async () => {
      rmSync(dir, { recursive: true, force: true })
      await runtime.dispose()
    }
  }
}

/** gpt-4o-mini, 1000 input and 200 output tokens: cost 0.00015 + 0.00012 = 0.00027 USD. */
const event = (requestId: string, customer: string, occurredAt: string) => ({
  requestId,
  occurredAt,
  provider: "openai",
  model: "gpt-4o-mini",
  labels: { customer },
  usage: { tokens: { inputText: 1000, outputText: 200 } }
})

describe.each(targetNames)("tally resale (%s)", { timeout: 300_000 }, (name) => {
  let target: Target
  /** In this process (`Cli.run`); one case below spawns the real binary, as a script would. */
  const run = (args: ReadonlyArray<string>) => tallyHere(args, target.env)
  const ok = async (args: ReadonlyArray<string>) => {
    const out = await run(args)
    expect(out.stderr).toBe("")
    expect(out.code).toBe(0)
    return out.stdout
  }

  beforeAll(async () => {
    target = name === "postgres" ? await postgresTarget(adminUrl!) : pgliteTarget()
    await ok(["tenant", "create", "--id", "acme", "--name", "Acme"])
  }, 300_000)

  afterAll(async () => {
    await target?.close()
  })

  it("rules and a plan from the CLI price ingested calls; margin and a final statement follow", async () => {
    const markup = JSON.parse(await ok(["sale-price-book", "add", "--tenant", "acme", "--name", "globex +25%", "--kind", "markup-percent", "--percent", "25", "--customer", "globex", "--from", "2026-01-01"]))
    expect(markup).toMatchObject({ kind: "markup-percent", percent: "25", customer: "globex", effectiveFrom: "2026-01-01T00:00:00.000Z" })
    const list = JSON.parse(await ok(["sale-price-book", "add", "--tenant", "acme", "--name", "pro", "--kind", "list-price", "--rate", "inputText=2", "--rate", "outputText=8", "--currency", "USD", "--plan", "pro", "--from", "2026-01-01"]))
    expect(list.rates).toEqual({ inputText: "2", outputText: "8" })
    await ok(["sale-price-book", "assign-plan", "--tenant", "acme", "--customer", "initech", "--plan", "pro", "--from", "2026-01-01"])
    expect(JSON.parse(await ok(["sale-price-book", "list", "--tenant", "acme"])).rules.map((r: { name: string }) => r.name)).toEqual(["pro", "globex +25%"])

    const file = join(target.dir, "events.json")
    writeFileSync(file, JSON.stringify([event("g1", "globex", "2026-01-05T10:00:00Z"), event("g2", "globex", "2026-01-06T10:00:00Z"), event("i1", "initech", "2026-01-07T10:00:00Z")]))
    const ingested = await run(["ingest", "--tenant", "acme", "--quiet", file])
    expect(ingested.code).toBe(0)

    // globex: 0.00027 x 1.25 = 0.0003375
    const price = JSON.parse(await ok(["sale-price-book", "price", "--tenant", "acme", "--request", "g1"]))
    expect(price).toMatchObject({ status: "priced", total: "0.0003375", costTotal: "0.00027", margin: "0.0000675", ruleId: markup.id })
    // initech (pro): 1000 x 2/1M + 200 x 8/1M = 0.002 + 0.0016 = 0.0036
    const margin = JSON.parse(await ok(["margin", "--tenant", "acme", "--from", "2026-01-01", "--to", "2026-02-01", "--group-by", "customer"]))
    expect(margin.rows.map((r: Record<string, unknown>) => [r["customer"], r["price"], r["cost"], r["margin"]])).toEqual([
      ["globex", "0.000675", "0.00054", "0.000135"],
      ["initech", "0.0036", "0.00027", "0.00333"]
    ])

    const args = ["--tenant", "acme", "--customer", "initech", "--from", "2026-01-01", "--to", "2026-02-01", "--currency", "USD"]
    const csv = await ok(["statement", "preview", ...args, "--format", "csv"])
    // 0.002 -> 0.00 and 0.0016 -> 0.00: the total 0.0036 rounds half-even to 0.00.
    expect(csv).toContain("gpt-4o-mini,inputText,token,1000,2,1M tokens,false,0.00,USD\r\n")
    const final = JSON.parse(await ok(["statement", "finalize", ...args, "--by", "alice"]))
    expect(final).toMatchObject({ changed: true, statement: { kind: "statement", status: "final", total: "0.00", exactTotal: "0.0036", finalizedBy: "alice" } })
    expect(JSON.parse(await ok(["statement", "finalize", ...args]))).toEqual({ changed: false, statement: null })
    const html = join(target.dir, "statement.html")
    const exported = JSON.parse(await ok(["statement", "export", "--tenant", "acme", "--id", final.statement.id, "--format", "html", "--out", html]))
    expect(exported).toMatchObject({ format: "html", total: "0.00", currency: "USD" })
    expect(readFileSync(html, "utf8")).toContain("<!doctype html>")
    expect(JSON.parse(await ok(["statement", "list", "--tenant", "acme", "--customer", "initech"])).statements).toHaveLength(1)
  })

  it("bad input is one line on stderr naming the flag, exit 2", async () => {
    // The real binary, spawned: exit code and one stderr line as a script sees them.
    const noRates = tally(["sale-price-book", "add", "--tenant", "acme", "--name", "x", "--kind", "list-price", "--currency", "USD", "--from", "2026-01-01"], { env: target.env })
    expect(noRates.code).toBe(2)
    expect(oneStderrLine(noRates)).toBe("tally: sale-price-book add: --rate: required by a list-price rule")
    const badRate = await run(["sale-price-book", "add", "--tenant", "acme", "--name", "x", "--kind", "list-price", "--rate", "inputText", "--currency", "USD", "--from", "2026-01-01"])
    expect(oneStderrLine(badRate)).toMatch(/--rate must be component=decimal/)
    const badDim = await run(["margin", "--tenant", "acme", "--from", "2026-01-01", "--to", "2026-02-01", "--group-by", "colour"])
    expect([badDim.code, oneStderrLine(badDim)]).toEqual([2, "tally: margin: --group-by: unknown dimension \"colour\"; expected customer, plan, model, provider, feature, day, month"])
    const unknownRule = await run(["sale-price-book", "archive", "--tenant", "acme", "--rule", "00000000-0000-4000-8000-000000000000"])
    expect([unknownRule.code, oneStderrLine(unknownRule)]).toEqual([2, "tally: sale-price-book archive: no active sale price rule \"00000000-0000-4000-8000-000000000000\" in this tenant"])
  })
})
