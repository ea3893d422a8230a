/**
 * Chargeback and usage exports through the worker's HTTP API end to end: usage ingested over HTTP
 * into a real database, a chargeback run finalized, usage arriving late, the next run carrying it
 * as a correction, and every export read back over HTTP with Bearer keys, parsed as CSV and checked
 * for FOCUS 1.2 conformance and exact sums. A key never reaches another tenant's run.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenantWithKey } from "../apps/worker/src/cli/commands/Tenant.ts"
import { CostAllocation } from "../packages/core/src/index.ts"
import { Chargeback } from "../packages/engine/src/index.ts"
import * as FocusSpec from "../packages/engine/test/FocusSpec.ts"
import { ApiKeys } from "../packages/store/src/index.ts"
import { type InProcess, makeDatabase, postJson, request, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"
import { Effect, Redacted } from "./support/Workspace.ts"

const event = (requestId: string, occurredAt: string, team: string | undefined, inputText: number, outputText: number) => ({
  requestId,
  occurredAt,
  provider: "openai",
  model: "gpt-4o",
  ...(team === undefined ? {} : { labels: { team } }),
  usage: { tokens: { inputText, outputText } }
})

const march = [
  event("m1", "2025-03-03T10:00:00Z", "search", 120_001, 3_003),
  event("m2", "2025-03-04T10:00:00Z", "search", 7_777, 777),
  event("m3", "2025-03-05T10:00:00Z", "chat", 40_009, 1_009),
  event("m4", "2025-03-06T10:00:00Z", "platform", 55_555, 4_444),
  event("m5", "2025-03-07T10:00:00Z", undefined, 33_333, 1_111),
  { ...event("m6", "2025-03-08T10:00:00Z", "chat", 10, 10), model: "no-such-model-anywhere" }
]

describe.each(targets)("chargeback exports over HTTP on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let tenantId: string
  let readKey: string
  let ingestKey: string
  let otherReadKey: string
  let marchRunId: string
  let aprilRunId: string

  const get = (path: string, key: string | null = readKey) =>
    request(`${server.url}${path}`, key === null ? {} : { headers: { authorization: `Bearer ${key}` } })

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    const created = await server.run(createTenantWithKey({ name: "Exports Co" }))
    tenantId = created.tenant.id
    const other = await server.run(createTenantWithKey({ name: "Other Co" }))
    const keys = await server.run(Effect.gen(function*() {
      const apiKeys = yield* ApiKeys.ApiKeys
      const read = yield* apiKeys.create(tenantId, { name: "finops", scopes: ["read"] })
      const ingest = yield* apiKeys.create(tenantId, { name: "gateway", scopes: ["ingest"] })
      const otherRead = yield* apiKeys.create(other.tenant.id, { name: "finops", scopes: ["read"] })
      return { read: Redacted.value(read.secret), ingest: Redacted.value(ingest.secret), otherRead: Redacted.value(otherRead.secret) }
    }))
    readKey = keys.read
    ingestKey = keys.ingest
    otherReadKey = keys.otherRead
    const ingested = await postJson(`${server.url}/api/v1/usage/ingest`, ingestKey, march)
    expect(ingested.status).toBe(200)
    const march2025 = { from: "2025-03-01T00:00:00Z", to: "2025-04-01T00:00:00Z" }
    marchRunId = await server.run(Effect.gen(function*() {
      const service = yield* Chargeback.Chargeback
      const input = CostAllocation.Input.decodeRunInput({ ...march2025, dimension: "team", shared: ["platform"] })
      if (input._tag === "Failure") return yield* Effect.die(input.failure)
      const run = yield* service.run(tenantId, { ...input.success, createdBy: "finops" })
      yield* service.finalize(tenantId, run.id, { finalizedBy: "cfo" })
      return run.id
    }))
    // Late for March, and April's own usage.
    const late = await postJson(`${server.url}/api/v1/usage/ingest`, ingestKey, [
      event("late", "2025-03-30T10:00:00Z", "chat", 500_000, 20_000),
      event("a1", "2025-04-02T10:00:00Z", "search", 1_000, 100)
    ])
    expect(late.status).toBe(200)
    aprilRunId = await server.run(Effect.gen(function*() {
      const service = yield* Chargeback.Chargeback
      const run = yield* service.run(tenantId, { month: "2025-04", dimension: "team", shared: ["platform"] })
      return run.id
    }))
  })

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  it("the CSV of a run has its lines, summing exactly to its total", async () => {
    const reply = await get(`/api/v1/exports/chargeback/${marchRunId}?format=csv`)
    expect(reply.status).toBe(200)
    expect(reply.headers.get("content-type")).toBe("text/csv; charset=utf-8")
    expect(reply.headers.get("content-disposition")).toBe(`attachment; filename="chargeback-${marchRunId}.csv"`)
    const { header, rows } = FocusSpec.parseCsv(reply.text)
    expect(header.slice(0, 4)).toEqual(["run_id", "status", "period_start", "period_end"])
    expect(rows.map((r) => [r["kind"], r["owner"]])).toEqual([["owner", "chat"], ["owner", "search"]])
    const run = await server.run(Chargeback.Chargeback.use((s) => s.get(tenantId, marchRunId)))
    expect(FocusSpec.total(rows, "amount").equals(run.total)).toBe(true)
    expect(rows.every((r) => r["status"] === "final" && r["inputs_sha256"] === run.inputs.sha256)).toBe(true)
    // Without format, CSV lines are the default.
    expect((await get(`/api/v1/exports/chargeback/${marchRunId}`)).text).toBe(reply.text)
  })

  it("the FOCUS export of a run conforms and sums to the run's total; corrections are Correction rows", async () => {
    for (const runId of [marchRunId, aprilRunId]) {
      const reply = await get(`/api/v1/exports/chargeback/${runId}?format=focus`)
      expect(reply.status).toBe(200)
      const { header, rows } = FocusSpec.parseCsv(reply.text)
      expect(FocusSpec.problems(header, rows)).toEqual([])
      const run = await server.run(Chargeback.Chargeback.use((s) => s.get(tenantId, runId)))
      expect(FocusSpec.total(rows, "BilledCost").equals(run.total)).toBe(true)
      expect(rows.length).toBeGreaterThan(0)
    }
    const april = FocusSpec.parseCsv((await get(`/api/v1/exports/chargeback/${aprilRunId}?format=focus`)).text).rows
    const corrections = april.filter((r) => r["ChargeClass"] === "Correction")
    expect(corrections.length).toBeGreaterThan(0)
    expect(corrections.every((r) => r["x_CorrectedRunId"] === marchRunId && r["ChargePeriodStart"] === "2025-03-01T00:00:00Z")).toBe(true)
    // 1.3 corrections are ledger style (a reversal and the corrected charge); 1.2 one difference row.
    expect(corrections.map((r) => r["x_CorrectionEntry"])).toContain("reversal")
    const old = FocusSpec.parseCsv((await get(`/api/v1/exports/chargeback/${aprilRunId}?format=focus&version=1.2`)).text)
    expect(FocusSpec.problems(old.header, old.rows, "1.2")).toEqual([])
    expect(old.header).not.toContain("ContractApplied")
    expect(old.rows.filter((r) => r["ChargeClass"] === "Correction").length).toBe(corrections.length / 2)
    const bad = await get(`/api/v1/exports/chargeback/${aprilRunId}?format=focus&version=2.0`)
    expect(bad.status).toBe(400)
    expect(bad.json.error.message).toBe("version: expected 1.3 or 1.2, got \"2.0\"")
  })

  it("a row's lineage is a usage export listing the request ids behind it", async () => {
    const rows = FocusSpec.parseCsv((await get(`/api/v1/exports/chargeback/${marchRunId}?format=focus`)).text).rows
    const search = rows.find((r) => r["x_Owner"] === "search" && r["x_Allocation"] === "direct")!
    const lineage = await get(search["x_Lineage"]!)
    expect(lineage.status).toBe(200)
    const calls = FocusSpec.parseCsv(lineage.text).rows
    expect([...new Set(calls.map((r) => r["x_RequestId"]))].sort()).toEqual(["m1", "m2"])
    const shared = rows.find((r) => r["x_Allocation"] === "allocated")!
    const pool = FocusSpec.parseCsv((await get(shared["x_Lineage"]!)).text).rows
    // The late call is not in March's pool: the run read the ledger before it arrived.
    expect([...new Set(pool.map((r) => r["x_RequestId"]))].sort()).toEqual(["m4", "m5"])
  })

  it("the usage export streams FOCUS rows of every priced call with its request id", async () => {
    const reply = await get("/api/v1/exports/usage?from=2025-03-01T00:00:00Z&to=2025-05-01T00:00:00Z&format=focus")
    expect(reply.status).toBe(200)
    expect(reply.headers.get("x-tally-unpriced-calls")).toBe("1")
    const { header, rows } = FocusSpec.parseCsv(reply.text)
    expect(FocusSpec.problems(header, rows)).toEqual([])
    expect([...new Set(rows.map((r) => r["x_RequestId"]))].sort()).toEqual(["a1", "late", "m1", "m2", "m3", "m4", "m5"])
    const old = FocusSpec.parseCsv((await get("/api/v1/exports/usage?from=2025-03-01T00:00:00Z&to=2025-05-01T00:00:00Z&format=focus&version=1.2")).text)
    expect(FocusSpec.problems(old.header, old.rows, "1.2")).toEqual([])
    expect(FocusSpec.total(old.rows, "BilledCost").equals(FocusSpec.total(rows, "BilledCost"))).toBe(true)
    // Every call is in the tenant's currency: converting changes nothing, and needs no rate.
    const converted = FocusSpec.parseCsv((await get("/api/v1/exports/usage?from=2025-03-01T00:00:00Z&to=2025-05-01T00:00:00Z&format=focus&convert=true")).text)
    expect(converted.rows).toEqual(rows)
    expect((await get("/api/v1/exports/usage?from=2025-03-01T00:00:00Z&to=2025-05-01T00:00:00Z&convert=yes")).json.error.message).toBe("convert: expected true or false, got \"yes\"")
  })

  it("keys, scopes, tenants and parameters are checked", async () => {
    expect((await get(`/api/v1/exports/chargeback/${marchRunId}`, null)).status).toBe(401)
    expect((await get(`/api/v1/exports/chargeback/${marchRunId}`, ingestKey)).status).toBe(403)
    const foreign = await get(`/api/v1/exports/chargeback/${marchRunId}?format=focus`, otherReadKey)
    expect(foreign.status).toBe(404)
    expect(foreign.json.error.code).toBe("not_found")
    expect((await get("/api/v1/exports/chargeback/not-a-run")).status).toBe(404)
    const otherUsage = await get("/api/v1/exports/usage?from=2025-03-01T00:00:00Z&to=2025-05-01T00:00:00Z", otherReadKey)
    expect(FocusSpec.parseCsv(otherUsage.text).rows).toEqual([])
    const badFormat = await get(`/api/v1/exports/chargeback/${marchRunId}?format=xlsx`)
    expect(badFormat.status).toBe(400)
    expect(badFormat.json.error).toEqual({ code: "invalid_request", message: "format: expected csv or focus, got \"xlsx\"" })
    expect((await get("/api/v1/exports/usage?to=2025-05-01T00:00:00Z")).json.error.message).toMatch(/^from: /)
    expect((await get("/api/v1/exports/usage?from=yesterday&to=2025-05-01T00:00:00Z")).json.error.message).toMatch(/^from: /)
    expect((await get("/api/v1/exports/usage?from=2025-05-01T00:00:00Z&to=2025-03-01T00:00:00Z")).status).toBe(400)
    expect((await get("/api/v1/exports/usage?from=2025-03-01T00:00:00Z&to=2025-05-01T00:00:00Z&owner=x")).json.error.message).toMatch(/^dimension: /)
    expect((await get("/api/v1/exports/usage?from=2025-03-01T00:00:00Z&to=2025-05-01T00:00:00Z&format=csv")).status).toBe(400)
  })
})
