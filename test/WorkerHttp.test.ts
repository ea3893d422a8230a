/**
 * The worker's HTTP API end to end: the real server (in this process, a real listener on a random
 * port) over a real database, driven with fetch, and what is stored read back from the database.
 */
import { readFileSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenantWithKey } from "../apps/worker/src/cli/commands/Tenant.ts"
import { ApiKeys, Database } from "../packages/store/src/index.ts"
import {
  adminSql,
  type InProcess,
  makeDatabase,
  postJson,
  request,
  sample,
  startInProcess,
  targets,
  type TestDatabase,
  testConfig,
  totals
} from "./support/Worker.ts"
import { Effect, Redacted } from "./support/Workspace.ts"

const ingestPath = "/api/v1/usage/ingest"

/** An OpenAI chat completion as the provider returns it. */
const chat = (requestId: string, prompt = 1000, completion = 100, extra: Record<string, unknown> = {}) => ({
  requestId,
  occurredAt: "2026-11-02T10:00:00Z",
  provider: "openai",
  payload: {
    id: `chatcmpl-${requestId}`,
    object: "chat.completion",
    model: "gpt-4o-2024-08-06",
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
  },
  ...extra
})

/** The sample batch of the README's curl, with request ids made unique to one test. */
const sampleEvents = (prefix: string) =>
  (JSON.parse(readFileSync(sample, "utf8")) as Array<{ requestId: string }>).map((event) => ({ ...event, requestId: `${prefix}-${event.requestId}` }))

const span = (spanId: string, attributes: Record<string, string | number>) => ({
  traceId: "5b8efff798038103d269b633813fc60c",
  spanId,
  name: "chat",
  kind: 3,
  startTimeUnixNano: "1793614500000000000",
  endTimeUnixNano: "1793614502000000000",
  attributes: Object.entries(attributes).map(([key, value]) => ({
    key,
    value: typeof value === "number" ? { intValue: String(value) } : { stringValue: value }
  }))
})

const otlp = (spans: ReadonlyArray<unknown>) => ({
  resourceSpans: [{
    resource: { attributes: [{ key: "service.name", value: { stringValue: "checkout" } }] },
    scopeSpans: [{ scope: { name: "opentelemetry.instrumentation.openai" }, spans }]
  }]
})

describe.each(targets)("the worker's HTTP API on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let tenantA: string
  let keyA: string
  let keyB: string
  let tenantB: string
  let readOnlyKey: string
  let revokedKey: string
  let labelledKey: string
  let labelledKeyId: string

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database, { maxBodyBytes: 256 * 1024, maxBatchEvents: 100 }))
    const a = await server.run(createTenantWithKey({ name: "Acme" }))
    const b = await server.run(createTenantWithKey({ name: "Globex" }))
    tenantA = a.tenant.id
    keyA = a.secret
    tenantB = b.tenant.id
    keyB = b.secret
    const more = await server.run(Effect.gen(function*() {
      const keys = yield* ApiKeys.ApiKeys
      const readOnly = yield* keys.create(tenantA, { name: "dashboards", scopes: ["read"] })
      const revoked = yield* keys.create(tenantA, { name: "old", scopes: ["ingest"] })
      yield* keys.revoke(tenantA, revoked.key.id)
      const labelled = yield* keys.create(tenantA, { name: "search", scopes: ["ingest"], defaultLabels: { project: "from-key", team: "key-team" } })
      return { readOnly: Redacted.value(readOnly.secret), revoked: Redacted.value(revoked.secret), labelled }
    }))
    readOnlyKey = more.readOnly
    revokedKey = more.revoked
    labelledKey = Redacted.value(more.labelled.secret)
    labelledKeyId = more.labelled.key.id
  })

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  const totalsOf = (tenantId: string) => server.run(totals(tenantId))
  /** Posts a batch with tenant A's key, another key, or (null) none. */
  const ingest = (body: unknown, key: string | null = keyA, headers: Record<string, string> = {}) =>
    postJson(`${server.url}${ingestPath}`, key ?? undefined, body, headers)

  it("GET /healthz answers ok and /readyz ready with every migration applied", async () => {
    const health = await request(`${server.url}/healthz`)
    expect(health.status).toBe(200)
    expect(health.json).toEqual({ status: "ok" })
    const ready = await request(`${server.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(ready.json.status).toBe("ready")
    expect(ready.json.database).toBe(target)
  })

  it("a batch of raw provider payloads is priced and stored; ledger and hourly rollups hold it", async () => {
    const before = await totalsOf(tenantA)
    const reply = await ingest(sampleEvents("priced"))
    expect(reply.status).toBe(200)
    expect(reply.json.inserted).toBe(3)
    expect(reply.json.items.map((i: { status: string; total: string; definition: string }) => [i.status, i.total, i.definition])).toEqual([
      ["inserted", "0.00322", "openai/gpt-4o"],
      ["inserted", "0.01701", "anthropic/claude-sonnet-4-5"],
      ["inserted", "0.00123", "openai/gpt-4o-mini"]
    ])
    const after = await totalsOf(tenantA)
    expect(after.ledgerRows - before.ledgerRows).toBe(3)
    expect(after.rollupRequests - before.rollupRequests).toBe(3)
    expect(Number(after.ledgerCost) - Number(before.ledgerCost)).toBeCloseTo(0.02146, 10)
    expect(after.rollupCost).toBe(after.ledgerCost)
  })

  it("replaying a batch answers only duplicate and changes no total", async () => {
    const events = sampleEvents("replay")
    expect((await ingest(events)).json.inserted).toBe(3)
    const before = await totalsOf(tenantA)
    const replay = await ingest(events)
    expect(replay.status).toBe(200)
    expect(replay.json.items.map((i: { status: string }) => i.status)).toEqual(["duplicate", "duplicate", "duplicate"])
    expect(replay.json.duplicates).toBe(3)
    expect(await totalsOf(tenantA)).toEqual(before)
  })

  it("accepts { \"events\": [...] } and NDJSON bodies alike", async () => {
    const wrapped = await ingest({ events: [chat("wrapped-1"), chat("wrapped-2")] })
    expect(wrapped.status).toBe(200)
    expect(wrapped.json.inserted).toBe(2)
    const ndjson = await ingest(`${JSON.stringify(chat("ndjson-1"))}\n\n${JSON.stringify(chat("ndjson-2"))}\r\n`, keyA, {
      "content-type": "application/x-ndjson"
    })
    expect(ndjson.status).toBe(200)
    expect(ndjson.json.items.map((i: { requestId: string; status: string }) => [i.requestId, i.status])).toEqual([["ndjson-1", "inserted"], ["ndjson-2", "inserted"]])
  })

  it("the key's default labels apply and the event's own labels win", async () => {
    const reply = await ingest([chat("labelled-1", 10, 10, { labels: { project: "own-project" } })], labelledKey)
    expect(reply.json.inserted).toBe(1)
    const [row] = await server.run(Effect.gen(function*() {
      const { sql } = yield* Database.Database
      return yield* sql<{ project: string; team: string; api_key_id: string }>`SELECT project, team, api_key_id FROM tally.usage_ledger WHERE tenant_id = ${tenantA} AND request_id = 'labelled-1'`
    }))
    expect(row).toEqual({ project: "own-project", team: "key-team", api_key_id: labelledKeyId })
  })

  it("an unknown provider and negative tokens are rejected with their reason; the rest of the batch lands", async () => {
    const before = await totalsOf(tenantA)
    const reply = await ingest([
      chat("mixed-ok"),
      { ...chat("mixed-unknown"), provider: "no-such-provider" },
      { requestId: "mixed-negative", occurredAt: "2026-11-02T10:00:00Z", provider: "openai", model: "gpt-4o", usage: { tokens: { inputText: -5 } } }
    ])
    expect(reply.status).toBe(200)
    const [ok, unknown, negative] = reply.json.items
    expect(ok.status).toBe("inserted")
    expect(unknown.status).toBe("rejected")
    expect(unknown.reason).toContain("no-such-provider")
    expect(negative.status).toBe("rejected")
    expect(negative.reason).toMatch(/inputText/)
    const after = await totalsOf(tenantA)
    expect(after.ledgerRows - before.ledgerRows).toBe(1)
    expect(after.deadLetters - before.deadLetters).toBe(2)
  })

  it("OTLP/HTTP JSON: GenAI spans become usage with the span id as request id, other spans are skipped", async () => {
    const before = await totalsOf(tenantA)
    const body = otlp([
      span("aaaa00000000000a", {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300
      }),
      span("bbbb00000000000b", { "http.request.method": "GET", "url.path": "/cart" })
    ])
    const reply = await postJson(`${server.url}/v1/traces`, keyA, body)
    expect(reply.status).toBe(200)
    expect(reply.json).toEqual({})
    const after = await totalsOf(tenantA)
    expect(after.ledgerRows - before.ledgerRows).toBe(1)
    const stored = await server.run(Effect.gen(function*() {
      const { sql } = yield* Database.Database
      return yield* sql<{ provider: string; project: string; total: string }>`SELECT provider, project, total::text FROM tally.usage_ledger WHERE tenant_id = ${tenantA} AND request_id = 'aaaa00000000000a'`
    }))
    expect(stored).toEqual([{ provider: "otel", project: "checkout", total: "0.006" }])
    // An exporter's retry is harmless.
    expect((await postJson(`${server.url}/v1/traces`, keyA, body)).json).toEqual({})
    expect(await totalsOf(tenantA)).toEqual(after)
  })

  it("OTLP: a rejected span is reported in partialSuccess; other encodings, bad protobuf and bad keys are refused", async () => {
    const reply = await postJson(`${server.url}/v1/traces`, keyA, otlp([
      span("cccc00000000000c", { "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": -3 })
    ]))
    expect(reply.status).toBe(200)
    expect(reply.json.partialSuccess.rejectedSpans).toBe("1")
    expect(reply.json.partialSuccess.errorMessage).toContain("cccc00000000000c")
    const xml = await request(`${server.url}/v1/traces`, { body: "<spans/>", headers: { "content-type": "application/xml", authorization: `Bearer ${keyA}` } })
    expect(xml.status).toBe(415)
    expect(xml.json.message).toContain("application/x-protobuf")
    // A length-delimited field that runs past the end of the body.
    const truncated = await request(`${server.url}/v1/traces`, { body: new Uint8Array([10, 50, 1]), headers: { "content-type": "application/x-protobuf", authorization: `Bearer ${keyA}` } })
    expect(truncated.status).toBe(400)
    expect(truncated.headers.get("content-type")).toBe("application/x-protobuf")
    const unauthorized = await postJson(`${server.url}/v1/traces`, "tly_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", otlp([]))
    expect(unauthorized.status).toBe(401)
    expect(unauthorized.json.code).toBe(16)
  })

  describe("bad requests get their status and change nothing", () => {
    const unchanged = async (send: () => Promise<{ status: number; json: { error: { code: string; message: string } } }>) => {
      const before = [await totalsOf(tenantA), await totalsOf(tenantB)]
      const reply = await send()
      expect([await totalsOf(tenantA), await totalsOf(tenantB)]).toEqual(before)
      return reply
    }

    it("malformed JSON is 400 and names the line and column", async () => {
      const reply = await unchanged(() => ingest(`[\n  ${JSON.stringify(chat("malformed-1"))},\n  { "requestId": }\n]`))
      expect(reply.status).toBe(400)
      expect(reply.json.error.code).toBe("malformed_body")
      expect(reply.json.error.message).toMatch(/line 3, column 18/)
    })

    it("malformed NDJSON is 400 and names the line", async () => {
      const body = `${JSON.stringify(chat("ndjson-bad-1"))}\n{"requestId": "x",\n`
      const reply = await unchanged(() => ingest(body, keyA, { "content-type": "application/x-ndjson" }))
      expect(reply.status).toBe(400)
      expect(reply.json.error.message).toMatch(/^malformed NDJSON at line 2/)
    })

    it("a body over the size limit is 413", async () => {
      const events = Array.from({ length: 90 }, (_, i) => chat(`big-${i}`, 1, 1, { tags: { padding: "x".repeat(3_000) } }))
      const reply = await unchanged(() => ingest(events))
      expect(reply.status).toBe(413)
      expect(reply.json.error.code).toBe("body_too_large")
      expect(reply.json.error.message).toContain(String(256 * 1024))
    })

    it("a batch longer than the limit is 422, and so is a body that is not a batch", async () => {
      const long = await unchanged(() => ingest(Array.from({ length: 101 }, (_, i) => chat(`long-${i}`))))
      expect(long.status).toBe(422)
      expect(long.json.error.code).toBe("batch_too_large")
      expect(long.json.error.message).toContain("101")
      const object = await unchanged(() => ingest(chat("not-an-array")))
      expect(object.status).toBe(422)
      expect(object.json.error.code).toBe("invalid_batch")
    })

    it("a missing, malformed, unknown or revoked key is 401", async () => {
      for (const key of [null, "not-a-key", "tly_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", revokedKey]) {
        const reply = await unchanged(() => ingest([chat(`unauthorized-${key ?? "none"}`)], key))
        expect(reply.status).toBe(401)
        expect(reply.json.error.code).toBe("unauthorized")
      }
      const basic = await unchanged(() => ingest([chat("basic-auth")], null, { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` }))
      expect(basic.status).toBe(401)
    })

    it("a key without the ingest scope is 403", async () => {
      const reply = await unchanged(() => ingest([chat("read-only")], readOnlyKey))
      expect(reply.status).toBe(403)
      expect(reply.json.error.code).toBe("forbidden")
      expect(reply.json.error.message).toContain("ingest")
    })
  })

  it("a valid key of another tenant writes to that tenant only", async () => {
    const events = sampleEvents("cross")
    expect((await ingest(events, keyA)).json.inserted).toBe(3)
    const beforeA = await totalsOf(tenantA)
    const beforeB = await totalsOf(tenantB)
    const reply = await ingest(events, keyB)
    expect(reply.json.items.map((i: { status: string }) => i.status)).toEqual(["inserted", "inserted", "inserted"])
    expect(await totalsOf(tenantA)).toEqual(beforeA)
    expect((await totalsOf(tenantB)).ledgerRows - beforeB.ledgerRows).toBe(3)
  })

  it("GET /metrics counts events by status in Prometheus text", async () => {
    const count = async (status: string) => {
      const metrics = await request(`${server.url}/metrics`)
      expect(metrics.headers.get("content-type")).toContain("text/plain")
      const line = metrics.text.split("\n").find((l) => l.startsWith(`tally_events_total{status="${status}"}`))
      return Number(line?.split(" ").at(-1))
    }
    const before = { inserted: await count("inserted"), duplicate: await count("duplicate"), rejected: await count("rejected") }
    await ingest([chat("metrics-1"), chat("metrics-1"), { ...chat("metrics-2"), provider: "nope" }])
    expect(await count("inserted")).toBe(before.inserted + 1)
    expect(await count("duplicate")).toBe(before.duplicate + 1)
    expect(await count("rejected")).toBe(before.rejected + 1)
    const text = (await request(`${server.url}/metrics`)).text
    expect(text).toMatch(/^tally_ingest_batch_seconds_count \d+$/m)
    expect(text).toMatch(/^tally_consumer_lag \d+$/m)
  })

  it("an unknown route is 404 with the error body", async () => {
    const reply = await request(`${server.url}/api/v1/nothing`)
    expect(reply.status).toBe(404)
    expect(reply.json.error.code).toBe("not_found")
  })

  if (target === "postgres") {
    it("while the database refuses connections ingest answers 503 and stores nothing; the retry lands", async () => {
      const name = database.postgresName!
      const events = [chat("outage-1"), chat("outage-2")]
      const before = await totalsOf(tenantA)
      await adminSql(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
      await adminSql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`)
      try {
        const reply = await ingest(events)
        expect(reply.status).toBe(503)
        expect(reply.json.error.code).toBe("unavailable")
        const ready = await request(`${server.url}/readyz`)
        expect(ready.status).toBe(503)
      } finally {
        await adminSql(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)
      }
      expect(await totalsOf(tenantA)).toEqual(before)
      const retry = await ingest(events)
      expect(retry.status).toBe(200)
      expect(retry.json.inserted).toBe(2)
    })
  }
})
