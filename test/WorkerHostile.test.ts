/**
 * The worker under hostile input and a failing database, over the real HTTP listener: every
 * request is answered with a status and the worker's error body, never an empty 500; deep JSON is
 * refused at the documented depth before anything is stored; a dropped database connection is a
 * logged 503 with `Retry-After` whose message says the batch may have been stored.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { createTenantWithKey } from "../apps/worker/src/cli/commands/Tenant.ts"
import { adminSql, type InProcess, makeDatabase, postJson, request, startInProcess, targets, type TestDatabase, testConfig, totals } from "./support/Worker.ts"

const ingestPath = "/api/v1/usage/ingest"

const chat = (requestId: string, extra: Record<string, unknown> = {}) => ({
  requestId,
  occurredAt: "2026-11-02T10:00:00Z",
  provider: "openai",
  payload: {
    id: `chatcmpl-${requestId}`,
    object: "chat.completion",
    model: "gpt-4o-2024-08-06",
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 1000, completion_tokens: 100, total_tokens: 1100 }
  },
  ...extra
})

/** JSON text of `value` wrapped in `depth` arrays. */
const nested = (depth: number, inner = "1") => `${"[".repeat(depth)}${inner}${"]".repeat(depth)}`

describe.each(targets)("the worker under hostile input on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let tenant: string
  let key: string
  let admin: string

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    const a = await server.run(createTenantWithKey({ name: "Acme" }))
    tenant = a.tenant.id
    key = a.secret
    admin = a.secret
  }, 180_000)

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  const stored = () => server.run(totals(tenant))
  const ingest = (body: unknown) => postJson(`${server.url}${ingestPath}`, key, body)

  it("an ingest body nested 3,000 levels deep is 400 at the documented depth and stores nothing", async () => {
    const before = await stored()
    const good = JSON.stringify(chat("deep-good"))
    const deep = `[${good}, {"requestId":"deep-bad","occurredAt":"2026-11-02T10:00:00Z","provider":"openai","payload":${nested(3000)}}]`
    const reply = await ingest(deep)
    expect(reply.status).toBe(400)
    expect(reply.json.error.code).toBe("malformed_body")
    expect(reply.json.error.message).toMatch(/nested deeper than 64 levels/)
    expect(await stored()).toEqual(before)
    // At the limit the body is read; the event itself is answered per item.
    const atLimit = await ingest(`[${good.slice(0, -1)}, "tags": {}}, ${nested(62, "{}")}]`)
    expect(atLimit.status).toBe(200)
  })

  it("NDJSON lines are held to the same depth", async () => {
    const reply = await request(`${server.url}${ingestPath}`, {
      body: `${JSON.stringify(chat("nd-1"))}\n${nested(3000)}\n`,
      headers: { "content-type": "application/x-ndjson", authorization: `Bearer ${key}` }
    })
    expect(reply.status).toBe(400)
    expect(reply.json.error.message).toMatch(/line 2: .*nested deeper than 64 levels/)
  })

  it("a provider report nested 3,000 levels deep is 400, not an empty 500", async () => {
    const deep = `{"object":"page","data":${nested(3000)}}`
    const reply = await request(`${server.url}/api/v1/reconcile/reports?format=openai-costs`, {
      body: deep,
      headers: { "content-type": "application/json", authorization: `Bearer ${admin}` }
    })
    expect(reply.status).toBe(400)
    expect(reply.json.error.message).toMatch(/nested deeper than 64 levels/)
  })

  it("a usage export from a day the month does not have is 400, not rolled over", async () => {
    for (const [from, problem] of [["2026-02-30T00:00:00Z", "has no day 30"], ["2026-03-01T24:00:00Z", "hour 24"]] as const) {
      const reply = await request(`${server.url}/api/v1/exports/usage?from=${from}&to=2026-04-01T00:00:00Z`, {
        headers: { authorization: `Bearer ${key}` }
      })
      expect(reply.status).toBe(400)
      expect(reply.json.error.message).toContain(problem)
    }
  })

  const graphql = (query: string, variables?: Record<string, unknown>) =>
    postJson(`${server.url}/graphql`, key, { query, ...(variables === undefined ? {} : { variables }) })

  it("a NUL in GraphQL filters, tag groups or literals is invalid input, not UNAVAILABLE", async () => {
    const range = `from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z"`
    const cases: ReadonlyArray<readonly [string, Record<string, unknown> | undefined, string]> = [
      [`query($id: String!) { usageRecords(filter: { requestId: [$id] }) { __typename } }`, { id: "a\u0000b" }, "variables.id"],
      [`query($p: String!) { usage(${range}, filter: { project: [$p] }) { __typename } }`, { p: "web\u0000" }, "variables.p"],
      [`query($t: String!) { usage(${range}, groupByTags: [$t]) { __typename } }`, { t: "\u0000" }, "variables.t"],
      [`{ usageRecords(filter: { requestId: ["a\\u0000b"] }) { __typename } }`, undefined, "query"],
      [`query($t: String!) { usage(${range}, groupByTags: [$t]) { __typename } }`, { t: "x\ud800" }, "variables.t"]
    ]
    for (const [query, variables, field] of cases) {
      const reply = await graphql(query, variables)
      // Variables are refused before the query runs (400); a literal fails validation (yoga answers 200).
      expect([200, 400], query).toContain(reply.status)
      expect(reply.json.errors[0].extensions.code).toBe("INVALID_INPUT")
      expect(reply.json.errors[0].extensions.field).toBe(field)
    }
  })

  it("a usage report grouped by tags that selects no measure answers, not UNAVAILABLE", async () => {
    const reply = await graphql(`{ usage(from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z", groupByTags: ["abc"]) { __typename } }`)
    expect(reply.json.errors).toBeUndefined()
    expect(reply.json.data.usage.__typename).toBe("UsageReport")
  })

  it("a NUL in a reconciliation CSV is an invalid report naming the line, and nothing is stored", async () => {
    const csv = "date,provider,model,project,input_tokens,output_tokens,cost,currency\n2025-03-03,openai,gpt-4o\u0000,web,1000,200,0.0045,USD"
    const reply = await request(`${server.url}/api/v1/reconcile/reports?format=csv`, {
      method: "POST",
      body: csv,
      headers: { authorization: `Bearer ${admin}`, "content-type": "text/csv" }
    })
    expect(reply.status).toBe(422)
    expect(reply.json.error.code).toBe("invalid_report")
    expect(reply.json.error.message).toMatch(/line 2: contains a NUL character/)
  })

  it("amounts with more digits than money has are refused by name, never admitted or echoed", async () => {
    const tiny = `0.${"0".repeat(5000)}1`
    const huge = "9".repeat(200_000)
    for (const [estimatedCost, problem] of [[tiny, "at most 30 digits after the decimal point, got 5001"], [huge, "at most 20 digits before the decimal point, got 200000"]] as const) {
      const reply = await postJson(`${server.url}/api/v1/budgets/check`, key, { estimatedCost })
      expect(reply.status).toBe(422)
      expect(reply.json.error.message).toContain(problem)
      expect(reply.text.length).toBeLessThan(1000)
    }
    const created = await postJson(`${server.url}/api/v1/budgets`, key, { name: "big", period: "month", amount: huge })
    expect(created.status).toBe(422)
    expect(created.json.error.message).toContain("at most 20 digits before the decimal point")
    expect(created.text.length).toBeLessThan(1000)
    const viaGraphql = await graphql(`mutation($a: Decimal!) { createBudget(input: { name: "g", period: MONTH, amount: $a }) { __typename } }`, { a: tiny })
    expect(viaGraphql.json.errors[0].message).toContain("at most 30 digits after the decimal point")
  })

  if (target === "postgres") {
    it("a usage export whose query fails mid-stream aborts the connection without the final chunk, and is logged", async () => {
      const name = database.postgresName!
      // Enough calls for several pages of the export (2,000 calls a page).
      for (let b = 0; b < 14; b++) {
        const reply = await ingest(Array.from({ length: 500 }, (_, i) => chat(`export-${b}-${i}`, { occurredAt: `2026-10-${String(1 + (i % 28)).padStart(2, "0")}T10:00:00Z` })))
        expect(reply.status).toBe(200)
      }
      const logged: Array<string> = []
      const spies = (["log", "error", "warn", "info"] as const).map((level) =>
        vi.spyOn(console, level).mockImplementation((...args: Array<unknown>) => {
          logged.push(args.map(String).join(" "))
        }))
      try {
        const response = await fetch(`${server.url}/api/v1/exports/usage?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z`, {
          headers: { authorization: `Bearer ${key}` }
        })
        expect(response.status).toBe(200)
        const reader = response.body!.getReader()
        const first = await reader.read()
        expect(first.done).toBe(false)
        // The first page is on its way; the database goes away before the next one is read.
        await adminSql(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
        await adminSql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`)
        let outcome: "complete" | "aborted" = "complete"
        try {
          for (;;) {
            const chunk = await reader.read()
            if (chunk.done) break
          }
        } catch {
          outcome = "aborted"
        }
        expect(outcome).toBe("aborted")
        // The client may see the abort a moment before the server's log line is written.
        await vi.waitFor(() => expect(logged.some((line) => line.includes("usage export failed mid-stream"))).toBe(true), { timeout: 10_000 })
      } finally {
        await adminSql(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)
        spies.forEach((spy) => spy.mockRestore())
      }
    }, 120_000)

    it("connections dropped mid-request answer a logged 503 with Retry-After, never an empty 500", async () => {
      const name = database.postgresName!
      const logged: Array<string> = []
      const spies = (["log", "error", "warn", "info"] as const).map((level) =>
        vi.spyOn(console, level).mockImplementation((...args: Array<unknown>) => {
          logged.push(args.map(String).join(" "))
        }))
      let killing = true
      const killer = (async () => {
        while (killing) {
          await adminSql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`)
          await new Promise((resolve) => setTimeout(resolve, 15))
        }
      })()
      const replies = await Promise.all(Array.from({ length: 60 }, (_, i) =>
        ingest(Array.from({ length: 20 }, (_, j) => chat(`drop-${i}-${j}`)))
      ))
      killing = false
      await killer
      spies.forEach((spy) => spy.mockRestore())
      const statuses = replies.map((reply) => reply.status)
      expect(statuses.filter((status) => status !== 200 && status !== 503)).toEqual([])
      const unavailable = replies.filter((reply) => reply.status === 503)
      for (const reply of unavailable) {
        expect(reply.json.error.code).toBe("unavailable")
        // Before the key is verified nothing can have been stored; after it, the batch may have been.
        expect(reply.json.error.message).toMatch(/^the database is unavailable; (retry later|the request may have been stored; retrying is safe)$/)
        expect(reply.headers.get("retry-after")).toBe("1")
      }
      if (unavailable.length > 0) expect(logged.some((line) => /failed|not committed/.test(line))).toBe(true)
      // Every batch answered 503 lands when retried; those that were committed answer duplicate.
      const retried = await Promise.all(replies.map((_, i) => ingest(Array.from({ length: 20 }, (_, j) => chat(`drop-${i}-${j}`)))))
      expect(retried.map((reply) => reply.status).every((status) => status === 200)).toBe(true)
      const after = await stored()
      expect(after.ledgerRows).toBeGreaterThanOrEqual(60 * 20)
      expect(after.rollupRequests).toBe(after.ledgerRows)
    }, 120_000)
  }
})
