/**
 * The worker as a newcomer and a script run it: `tally tenant create`, `tally serve` and
 * `tally demo` (`pnpm start`) as real processes on a random port over a real database, stopped
 * with SIGTERM, and what they stored read back afterwards.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Server from "../apps/worker/src/server/Server.ts"
import { Store } from "../packages/store/src/index.ts"
import {
  makeDatabase,
  postJson,
  request,
  sample,
  type Spawned,
  spawnTally,
  tally,
  targets,
  type TestDatabase,
  testConfig,
  totals
} from "./support/Worker.ts"
import { Effect } from "./support/Workspace.ts"

const ingestPath = "/api/v1/usage/ingest"
const sampleBody = readFileSync(sample, "utf8")

const chat = (requestId: string) => ({
  requestId,
  occurredAt: "2026-11-03T08:00:00Z",
  provider: "openai",
  payload: { id: requestId, object: "chat.completion", model: "gpt-4o-mini", choices: [], usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 } }
})

/** What the database holds for a tenant, read with the server stopped (PGlite has one process). */
const storedTotals = (database: TestDatabase, tenantId: string) =>
  Effect.runPromise(Effect.provide(totals(tenantId), Store.layerWith(Server.layerDatabase(testConfig(database)))))

/** Each test starts processes that open (and on first use migrate) the database; generous on a busy machine. */
const processTimeout = 240_000

describe.each(targets)("tally serve and tally demo as processes on %s", (target) => {
  let database: TestDatabase
  const running: Array<Spawned> = []
  /** PGlite in the test's temporary directory, or the throwaway PostgreSQL database; TALLY_DATABASE_URL cleared for PGlite. */
  const env = () => ({ TALLY_DATABASE_URL: "", TALLY_NATS_URL: "", ...database.env })

  const start = async (args: ReadonlyArray<string>, cwd?: string) => {
    const spawned = spawnTally(args, env(), cwd)
    running.push(spawned)
    const listening = await spawned.nextLine()
    expect(listening.listening).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    return { spawned, url: listening.listening as string }
  }

  const stop = async (spawned: Spawned) => {
    spawned.child.kill("SIGTERM")
    return spawned.exited
  }

  beforeAll(async () => {
    database = await makeDatabase(target)
  })

  afterAll(async () => {
    for (const spawned of running) if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill("SIGKILL")
    await Promise.all(running.map((s) => s.exited))
    await database?.drop()
  })

  it("a tenant made by tally tenant create ingests through tally serve; SIGTERM drains, exits 0, and everything acknowledged is stored", async () => {
    const created = tally(["tenant", "create", "--name", "Acme", "--currency", "EUR", "--time-zone", "Europe/Berlin"], env())
    expect(created.code).toBe(0)
    const tenant = JSON.parse(created.stdout)
    expect(tenant).toMatchObject({ name: "Acme", currency: "EUR", timeZone: "Europe/Berlin" })
    expect(tenant.apiKey).toMatch(/^tly_[0-9a-f]{8}_/)

    const { spawned, url } = await start(["serve", "--port", "0", "--host", "127.0.0.1"])
    expect((await request(`${url}/readyz`)).status).toBe(200)
    const first = await postJson(`${url}${ingestPath}`, tenant.apiKey, sampleBody)
    expect(first.status).toBe(200)
    expect(first.json.inserted).toBe(3)

    // A batch sent as the stop signal arrives: either it was taken (200) and is stored, or it was
    // refused before being read; never half of it.
    const late = postJson(`${url}${ingestPath}`, tenant.apiKey, Array.from({ length: 200 }, (_, i) => chat(`late-${i}`))).catch(() => undefined)
    spawned.child.kill("SIGTERM")
    const [lateReply, exit] = await Promise.all([late, spawned.exited])
    expect(exit).toEqual({ code: 0, signal: null })
    expect(spawned.stderr()).toContain("SIGTERM: shutting down")

    const stored = await storedTotals(database, tenant.tenantId)
    const lateStored = lateReply?.status === 200 ? lateReply.json.inserted as number : 0
    expect(lateReply === undefined || lateReply.status === 200 || lateReply.status === 503).toBe(true)
    expect(stored.ledgerRows).toBe(3 + lateStored)
    expect(stored.rollupRequests).toBe(3 + lateStored)
  }, processTimeout)

  it("a key revoked with tally apikey revoke is refused by the next tally serve", async () => {
    const tenant = JSON.parse(tally(["tenant", "create", "--name", "Initech"], env()).stdout)
    const key = JSON.parse(tally(["apikey", "create", "--tenant", tenant.tenantId, "--scopes", "ingest", "--label", "project=etl"], env()).stdout)
    expect(key.defaultLabels).toEqual({ project: "etl" })
    const revoked = tally(["apikey", "revoke", "--tenant", tenant.tenantId, "--key", key.apiKeyId], env())
    expect(revoked.code).toBe(0)
    expect(JSON.parse(revoked.stdout).revokedAt).not.toBeNull()

    const { spawned, url } = await start(["serve", "--port", "0", "--host", "127.0.0.1"])
    const refused = await postJson(`${url}${ingestPath}`, key.apiKey, [chat("revoked-1")])
    expect(refused.status).toBe(401)
    const accepted = await postJson(`${url}${ingestPath}`, tenant.apiKey, [chat("revoked-1")])
    expect(accepted.json.inserted).toBe(1)
    expect(await stop(spawned)).toEqual({ code: 0, signal: null })
  }, processTimeout)

  it("apikey list, create and revoke refuse an unknown tenant with exit 2, as the other commands do", () => {
    for (const args of [["list"], ["create", "--scopes", "read"], ["revoke", "--key", "key_never_made"]]) {
      const [sub, ...rest] = args
      const refused = tally(["apikey", sub!, "--tenant", "nobody", ...rest], env())
      expect(refused, args.join(" ")).toMatchObject({ code: 2, stdout: "", stderr: `tally: apikey ${sub}: tenant "nobody" does not exist\n` })
    }
  }, processTimeout)

  it("tally demo (pnpm start) makes a demo tenant once, prints a curl whose sample is priced, and keeps the key across restarts", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "tally-demo-"))
    try {
      const first = await start(["demo", "--port", "0"], cwd)
      const demo = (await first.spawned.nextLine()).demo as { tenantId: string; apiKey: string; curl: string; stateFile: string; console: string }
      expect(demo.curl).toContain(`${first.url}/api/v1/usage/ingest`)
      expect(demo.curl).toContain(`Bearer ${demo.apiKey}`)
      expect(demo.curl).toMatch(/--data-binary @\S*examples\/usage-events\.json$/)
      expect(statSync(join(cwd, ".tally/demo.json")).mode & 0o777).toBe(0o600)

      const priced = await postJson(`${first.url}${ingestPath}`, demo.apiKey, sampleBody)
      expect(priced.status).toBe(200)
      expect(priced.json.items.map((i: { status: string; total: string; currency: string }) => [i.status, i.total, i.currency])).toEqual([
        ["inserted", "0.00322", "USD"],
        ["inserted", "0.01701", "USD"],
        ["inserted", "0.00123", "USD"]
      ])
      // The console link signs in with the key in the fragment, which browsers never send; the
      // process serves the console's page and an offline GraphiQL (tests/console.test.ts drives them).
      expect(demo.console).toBe(`${first.url}/#key=${encodeURIComponent(demo.apiKey)}`)
      const page = await request(`${first.url}/`, { headers: { accept: "text/html" } })
      expect(page.status).toBe(200)
      expect(page.text).toContain(`<div id="app">`)
      const graphiql = await request(`${first.url}/graphql`, { headers: { accept: "text/html" } })
      expect(graphiql.text).toContain(`src="/graphiql/graphiql.js"`)
      expect(graphiql.text).not.toMatch(/src="https?:/)
      expect(await stop(first.spawned)).toEqual({ code: 0, signal: null })
      expect(first.spawned.stderr()).toContain(`Created the demo tenant ${demo.tenantId}`)

      const second = await start(["demo", "--port", "0"], cwd)
      const again = (await second.spawned.nextLine()).demo as { tenantId: string; apiKey: string }
      expect(again).toMatchObject({ tenantId: demo.tenantId, apiKey: demo.apiKey })
      const replay = await postJson(`${second.url}${ingestPath}`, again.apiKey, sampleBody)
      expect(replay.json.duplicates).toBe(3)
      expect(await stop(second.spawned)).toEqual({ code: 0, signal: null })
      expect(second.spawned.stderr()).toContain(`Demo tenant ${demo.tenantId} (from ./.tally/demo.json)`)
    } finally {
      rmSync(cwd, { recursive: true, force: true })
    }
  }, processTimeout)

  it("bad configuration is refused before anything starts", () => {
    const badPort = tally(["serve", "--port", "http"], env())
    expect(badPort.code).toBe(2)
    expect(badPort.stderr).toBe(`tally: serve: --port must be a non-negative integer, got "http"\n`)
    const badEnv = tally(["serve"], { ...env(), TALLY_MAX_BATCH_EVENTS: "-1" })
    expect(badEnv.code).toBe(2)
    expect(badEnv.stderr).toBe(`tally: serve: TALLY_MAX_BATCH_EVENTS: expected a non-negative integer, got "-1"\n`)
    // Read by the GraphQL endpoint as it starts, yet refused as early, with the same one line.
    const badGraphql = tally(["serve"], { ...env(), TALLY_GRAPHQL_POLL_MS: "soon" })
    expect(badGraphql.code).toBe(2)
    expect(badGraphql.stderr).toBe(`tally: serve: TALLY_GRAPHQL_POLL_MS: expected milliseconds from 1 to 300000, got "soon"\n`)
    // Every setting, one by one: apps/worker/test/CliServe.test.ts.
  }, processTimeout)
})
