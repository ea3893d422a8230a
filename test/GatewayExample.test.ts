/**
 * The TypeScript gateway example (examples/gateway/fetch-middleware.ts) against a real worker and
 * a stand-in provider on loopback: each call is decided (and held) before it runs, settled with
 * the provider's tokens and recorded after, and refused with Tally's reasons once the output-token
 * budget would be exceeded.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { TallyDenied, withTally } from "../examples/gateway/fetch-middleware.ts"
import { newTenant, type TestTenant } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, postJson, startInProcess, targets, type TestDatabase, testConfig, totals } from "./support/Worker.ts"

describe.each(targets)("the fetch middleware example on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let tenant: TestTenant
  let provider: Server
  let providerUrl: string
  let providerCalls = 0

  beforeAll(async () => {
    provider = createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        providerCalls += 1
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ id: `chatcmpl-${providerCalls}`, model: "gpt-4o", choices: [], usage: { prompt_tokens: 40, completion_tokens: 300 } }))
      })
    })
    await new Promise<void>((resolve) => provider.listen(0, "127.0.0.1", resolve))
    providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1/chat/completions`
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    tenant = await newTenant(server, { name: "Middleware Co" })
  }, 300_000)

  afterAll(async () => {
    await server?.close()
    await database?.drop()
    await new Promise<void>((resolve) => provider.close(() => resolve()))
  })

  it("decides before, records after, and refuses with the budget's reason", async () => {
    const budget = await postJson(`${server.url}/api/v1/budgets`, tenant.admin, {
      name: "search output per day", period: "day", unit: "tokens", tokenKind: "output", amount: "1000", action: "block", scope: { project: "search" }
    })
    expect(budget.status).toBe(201)
    const guarded = withTally(fetch, { url: server.url, key: tenant.ingest, labels: { project: "search" } })
    const chat = () => guarded(providerUrl, { method: "POST", body: JSON.stringify({ model: "gpt-4o", max_tokens: 600, messages: [{ role: "user", content: "hi" }] }) })

    expect((await chat()).status).toBe(200)
    expect((await chat()).status).toBe(200)
    // 600 output tokens recorded; 600 more would pass 1000.
    const refused = await chat().then(() => undefined, (error: unknown) => error)
    expect(refused).toBeInstanceOf(TallyDenied)
    expect((refused as TallyDenied).reasons).toEqual([
      expect.objectContaining({ kind: "budget", message: expect.stringContaining("400 output tokens remain, the call needs 600") })
    ])
    expect(providerCalls).toBe(2)
    const stored = await server.run(totals(tenant.id))
    expect(stored.ledgerRows).toBe(2)
  })
})
