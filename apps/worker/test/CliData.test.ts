/**
 * Data in and out of the `tally` CLI, as a script runs it (real processes, a real database: an
 * embedded PGlite directory, and a throwaway PostgreSQL database when `TALLY_TEST_DATABASE_URL`
 * is set): `tally ingest` (NDJSON and arrays, batches, resuming), `tally usage` (JSON, CSV,
 * table), `tally import litellm-spend-logs` round-tripping a LiteLLM SpendLogs export into a
 * reconciliation, and `tally cost` pricing an event at its `occurredAt`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Database } from "@tally/store"
import { Effect, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { oneStderrLine, root, tally, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

const events = JSON.parse(readFileSync(join(root, "examples/usage-events.json"), "utf8")) as Array<Record<string, unknown>>
const spendLogs = join(root, "apps/worker/test/fixtures/litellm/spend-logs-export.json")

const adminUrl = process.env.TALLY_TEST_DATABASE_URL
const targetNames = ["pglite", ...(adminUrl === undefined || adminUrl === "" ? [] : ["postgres"])]

interface Target {
  readonly env: Readonly<Record<string, string>>
  readonly close: () => Promise<void>
}

const makeTarget = async (name: string, dir: string): Promise<Target> => {
  if (name === "pglite") return { env: { TALLY_DATA_DIR: join(dir, "data") }, close: async () => {} }
  const runtime = ManagedRuntime.make(Database.layerEphemeralPostgres(Redacted.make(adminUrl!)))
  const [row] = await runtime.runPromise(Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ name: string }>`SELECT current_database() AS name`
  }))
  const url = new URL(adminUrl!)
  url.pathname = `/${row!.name}`
  return { env: { TALLY_DATABASE_URL: url.toString() }, close: () => runtime.dispose() }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test reads of printed JSON
const json = (stdout: string) => JSON.parse(stdout) as Record<string, any>

describe.each(targetNames)("tally ingest, usage and import (%s)", { timeout: 300_000 }, (name) => {
  let dir: string
  let target: Target
  /** In this process (`Cli.run`) unless it reads stdin: that spawns the real binary, as a script would. */
  const run = (args: ReadonlyArray<string>, input?: string) => input === undefined ? tallyHere(args, target.env) : Promise.resolve(tally(args, { env: target.env, input }))

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tally-cli-data-"))
    seedDataDir(join(dir, "data"))
    target = await makeTarget(name, dir)
    for (const id of ["acme", "lite"]) {
      const created = await run(["tenant", "create", "--name", id, "--id", id])
      expect(created.code, created.stderr).toBe(0)
    }
  }, 300_000)

  afterAll(async () => {
    await target?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("ingest streams NDJSON in batches, and a rerun after an interruption inserts only what is missing", async () => {
    const ndjson = join(dir, "events.ndjson")
    writeFileSync(ndjson, events.map((e) => JSON.stringify(e)).join("\n") + "\n")
    // An interrupted load: only the first event landed.
    const first = await run(["ingest", "--tenant", "acme", "-"], `${JSON.stringify(events[0])}\n`)
    expect(first.code, first.stderr).toBe(0)
    expect(json(first.stdout)).toMatchObject({ tenant: "acme", input: "-", events: 1, inserted: 1, duplicates: 0, batches: 1 })

    // Spawned: ingest reports its progress on the process' own stderr.
    const resumed = tally(["ingest", "--tenant", "acme", "--batch-size", "2", ndjson], { env: target.env })
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(json(resumed.stdout)).toMatchObject({ events: 3, inserted: 2, duplicates: 1, conflicts: 0, rejected: 0, batches: 2, rejections: [] })
    // The summary goes to stderr, never to stdout.
    expect(resumed.stderr).toMatch(/^tally ingest: 3 events: 2 inserted, 1 duplicates, 0 conflicts, 0 rejected in \d+\.\d s\n$/)

    // A JSON array is read as well; everything is there already.
    const again = await run(["ingest", "--tenant", "acme", join(root, "examples/usage-events.json")])
    expect(json(again.stdout)).toMatchObject({ events: 3, inserted: 0, duplicates: 3 })
  })

  it("ingest lands the good events, names the first bad one by line and exits 2", async () => {
    const mixed = [JSON.stringify({ ...events[0], requestId: "bad-1", occurredAt: "2026-02-30T00:00:00Z" }), "{not json", JSON.stringify({ ...events[1], requestId: "good-1" })].join("\n")
    const out = await run(["ingest", "--tenant", "acme", "-"], mixed)
    expect(out.code).toBe(2)
    expect(json(out.stdout)).toMatchObject({ events: 3, inserted: 1, rejected: 2 })
    expect(json(out.stdout).rejections.map((r: { at: number }) => r.at)).toEqual([2, 1])
    expect(oneStderrLine(out)).toMatch(/^tally: ingest: 3 events: 1 inserted, .* first not stored, at 2: not valid JSON/)
    expect(await run(["ingest", "--tenant", "nobody", "-"], mixed)).toMatchObject({ code: 2, stderr: "tally: ingest: tenant \"nobody\" does not exist\n" })
  })

  it("usage sums the rollups per model and day as JSON, CSV and a table", async () => {
    const period = ["--tenant", "acme", "--from", "2026-11-01", "--to", "2026-12-01"]
    const total = json((await run(["usage", ...period])).stdout)
    expect(total).toMatchObject({ tenant: "acme", groupBy: [], granularity: "total" })
    expect(total.rows).toHaveLength(1)
    expect(total.rows[0]).toMatchObject({ currency: "USD", requests: 4, unpriced: 0 })

    const byModel = json((await run(["usage", ...period, "--group-by", "provider,model", "--granularity", "day"])).stdout)
    expect(byModel.rows.map((r: { bucket: string; provider: string }) => [r.bucket, r.provider])).toEqual([
      ["2026-11-02T00:00:00.000Z", "anthropic"],
      ["2026-11-02T00:00:00.000Z", "openai"],
      ["2026-11-02T00:00:00.000Z", "openai"],
      ["2026-11-02T00:00:00.000Z", "openai"]
    ].slice(0, byModel.rows.length))
    const sum = byModel.rows.reduce((s: number, r: { requests: number }) => s + r.requests, 0)
    expect(sum).toBe(4)

    const csv = await run(["usage", ...period, "--group-by", "provider", "--format", "csv"])
    expect(csv.code, csv.stderr).toBe(0)
    const lines = csv.stdout.trimEnd().split("\r\n")
    expect(lines[0]).toBe("provider,currency,requests,unpriced,cost,inputTokens,outputTokens")
    expect(lines.slice(1).map((l) => l.split(",")[0]).sort()).toEqual(["anthropic", "openai"])

    const table = await run(["usage", ...period, "--group-by", "provider", "--format", "table"])
    expect(table.stdout.split("\n")[0]).toMatch(/^provider\s+currency\s+requests/)
    expect(table.stdout).toContain("anthropic")

    const written = join(dir, "usage.csv")
    const toFile = json((await run(["usage", ...period, "--format", "csv", "--out", written])).stdout)
    expect(toFile).toMatchObject({ out: written, rows: 1 })
    expect(readFileSync(written, "utf8").split("\r\n")[0]).toBe("currency,requests,unpriced,cost,inputTokens,outputTokens")

    expect(oneStderrLine(await run(["usage", ...period, "--group-by", "colour"]))).toBe(
      "tally: usage: --group-by must be among provider, model, project, environment, feature, team, customer, costCenter, apiKey, got \"colour\""
    )
    expect(await run(["usage", "--tenant", "acme", "--from", "2026-11-01"])).toMatchObject({ code: 2, stderr: "tally: usage: --to is required\n" })
  })

  it("import litellm-spend-logs round-trips an export: LiteLLM's spend is the reported cost and reconcile names the call it overcharged", async () => {
    const imported = await run(["import", "litellm-spend-logs", "--tenant", "lite", spendLogs])
    expect(imported.code, imported.stderr).toBe(0)
    // Four rows: three calls and a rate-limited failure, which bills nothing.
    expect(json(imported.stdout)).toMatchObject({ events: 3, inserted: 3, skipped: 1, rejected: 0 })
    expect(json((await run(["import", "litellm-spend-logs", "--tenant", "lite", spendLogs])).stdout)).toMatchObject({ inserted: 0, duplicates: 3 })

    const usage = json((await run(["usage", "--tenant", "lite", "--from", "2026-11-01", "--to", "2026-12-01", "--group-by", "team"])).stdout)
    // Billed at LiteLLM's spend (the provider-reported cost), per team of the keys.
    expect(usage.rows.map((r: { team: string; cost: string }) => [r.team, r.cost])).toEqual([["research", "2.3"], ["support", "0.01372"]])

    const reportFile = join(dir, "litellm-reconcile.json")
    const reconciled = await run(["reconcile", "--tenant", "lite", "--from", "2026-11-01", "--to", "2026-12-01", "--out", reportFile])
    expect(reconciled.code, reconciled.stderr).toBe(0)
    expect(json(reconciled.stdout).summary).toMatchObject({
      rows: 3,
      byKind: { "reported-cost-variance": 1 },
      billed: { USD: "2.31372" },
      rederived: { USD: "1.21372" }
    })
    const report = JSON.parse(readFileSync(reportFile, "utf8"))
    expect(report.findings).toEqual([expect.objectContaining({
      kind: "reported-cost-variance",
      requestId: "chatcmpl-71b4e9c2-0f5a-4d3b-8e6c-2a1d9f0b7c53",
      provider: "litellm",
      model: "gpt-4o-2024-08-06",
      reportedCost: "2.3",
      computedCost: "1.2",
      difference: "1.1"
    })])
  })
})

describe("tally import litellm-spend-logs --out and tally cost at occurredAt", () => {
  it("writes the events as NDJSON, each row verbatim as its payload, without a database", () => {
    const out = tally(["import", "litellm-spend-logs", "--out", "-", spendLogs])
    expect(out.code, out.stderr).toBe(0)
    const lines = out.stdout.trimEnd().split("\n").map((l) => JSON.parse(l))
    const rows = JSON.parse(readFileSync(spendLogs, "utf8")) as Array<Record<string, unknown>>
    expect(lines.map((e) => e.payload)).toEqual(rows.slice(0, 3))
    expect(lines[0]).toMatchObject({
      requestId: rows[0]!["request_id"],
      // LiteLLM prints startTime without a zone: it is UTC.
      occurredAt: "2026-11-10T09:15:02.123000Z",
      provider: "litellm",
      api: "spend-log",
      labels: { team: "support", customer: "globex", user: "default_user_id" }
    })
  })

  it("cost prices an event at its occurredAt unless --at says otherwise, and prints the instant", () => {
    const event = JSON.stringify(events[0])
    const atEvent = JSON.parse(tally(["cost", "-"], { input: event }).stdout)
    expect(atEvent).toMatchObject({ pricedAt: "2026-11-02T09:15:00.000Z", pricedAtFrom: "occurredAt", definition: "openai/gpt-4o" })
    const atFlag = JSON.parse(tally(["cost", "--at", "2026-05-01", "-"], { input: event }).stdout)
    expect(atFlag).toMatchObject({ pricedAt: "2026-05-01T00:00:00.000Z", pricedAtFrom: "--at" })
    const payloadOnly = JSON.parse(tally(["cost", "--provider", "openai", "-"], { input: JSON.stringify(events[0]!["payload"]) }).stdout)
    expect(payloadOnly.pricedAtFrom).toBe("now")
    const bad = tally(["cost", "-"], { input: JSON.stringify({ ...events[0], occurredAt: "2026-02-30T00:00:00Z" }) })
    expect(bad.code).toBe(2)
    expect(oneStderrLine(bad)).toMatch(/^tally: cost: occurredAt must be an ISO 8601 date or date-time/)
  })
})
