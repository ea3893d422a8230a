/**
 * What an operator watches: spans from the OpenTelemetry SDK's protobuf exporter land as usage,
 * `/metrics` has spend, tokens, unpriced calls, budgets, webhooks and HTTP durations, the Grafana
 * dashboard in docs/ asks only for metrics the worker exports, logs follow `TALLY_LOG_LEVEL` and
 * `TALLY_LOG_FORMAT`, and a second process cannot open a PGlite directory in use.
 */
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenantWithKey } from "../apps/worker/src/cli/commands/Tenant.ts"
import { Budgets } from "../packages/engine/src/index.ts"
import { Budget } from "../packages/core/src/index.ts"
import { Database } from "../packages/store/src/index.ts"
import {
  type InProcess,
  makeDatabase,
  postJson,
  request,
  root,
  spawnTally,
  startInProcess,
  targets,
  type TestDatabase,
  testConfig,
  totals
} from "./support/Worker.ts"
import { Effect } from "./support/Workspace.ts"

/** The metric families of a Prometheus text exposition, by name, with their type. */
const families = (text: string): Map<string, string> =>
  new Map(text.split("\n").filter((line) => line.startsWith("# TYPE ")).map((line) => {
    const [, , name, type] = line.split(" ")
    return [name!, type!]
  }))

/** The value of the first sample whose name and labels contain `selector`'s parts. */
const sample = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  const line = text.split("\n").find((l) =>
    (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) &&
    Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))
  )
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

describe.each(targets)("observability on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let tenant: string
  let key: string

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    const created = await server.run(createTenantWithKey({ name: "Acme" }))
    tenant = created.tenant.id
    key = created.secret
  })

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  it("the OpenTelemetry SDK's protobuf exporter lands GenAI spans as usage", async () => {
    const before = await server.run(totals(tenant))
    const exporter = new OTLPTraceExporter({ url: `${server.url}/v1/traces`, headers: { authorization: `Bearer ${key}` } })
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ "service.name": "checkout" }),
      spanProcessors: [new SimpleSpanProcessor({ exporter })]
    })
    const tracer = provider.getTracer("openai-instrumentation")
    const start = new Date("2026-11-02T10:00:00Z")
    const chat = tracer.startSpan("chat gpt-4o", {
      startTime: start,
      attributes: {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300
      }
    })
    chat.end(new Date(start.getTime() + 2000))
    const other = tracer.startSpan("GET /cart", { startTime: start, attributes: { "http.request.method": "GET" } })
    other.end(new Date(start.getTime() + 10))
    await provider.forceFlush()
    await provider.shutdown()

    const after = await server.run(totals(tenant))
    expect(after.ledgerRows - before.ledgerRows).toBe(1)
    const spanId = chat.spanContext().spanId
    const [row] = await server.run(Effect.gen(function*() {
      const { sql } = yield* Database.Database
      return yield* sql<{ request_id: string; project: string; total: string }>`SELECT request_id, project, total::text FROM tally.usage_ledger WHERE tenant_id = ${tenant} AND request_id = ${spanId}`
    }))
    expect(row).toEqual({ request_id: spanId, project: "checkout", total: "0.006" })
  })

  it("/metrics has spend, tokens and calls by provider and model, unpriced calls, budgets, the outbox and HTTP durations", async () => {
    await server.run(Effect.gen(function*() {
      const budgets = yield* Budgets.Budgets
      const input = yield* Effect.fromResult(Budget.decodeBudgetInput({ name: "All", period: "month", amount: "100", currency: "USD", thresholds: [50, 100] }))
      yield* budgets.create(tenant, input)
    }))
    const events = [
      { requestId: "m-1", occurredAt: "2026-11-02T10:00:00Z", provider: "openai", model: "gpt-4o", usage: { tokens: { inputText: 1000, outputText: 100 } } },
      { requestId: "m-2", occurredAt: "2026-11-02T10:00:00Z", provider: "openai", model: "no-such-model-xyz", usage: { tokens: { inputText: 10 } } }
    ]
    // The registry is the process's: tests of both databases add to it, so compare before and after.
    const before = (await request(`${server.url}/metrics`)).text
    const delta = (name: string, labels: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0)
    const reply = await postJson(`${server.url}/api/v1/usage/ingest`, key, events)
    expect(reply.status).toBe(200)
    // A replay changes no metric of spend.
    await postJson(`${server.url}/api/v1/usage/ingest`, key, events)
    await request(`${server.url}/api/v1/budgets/nothing-here`)

    const after = (await request(`${server.url}/metrics`)).text
    const text = after
    expect(delta("tally_spend_total", { provider: "openai", model: "gpt-4o", currency: "USD" })).toBeCloseTo(0.0035, 9)
    expect(delta("tally_tokens_total", { provider: "openai", model: "gpt-4o", direction: "input" })).toBe(1000)
    expect(delta("tally_tokens_total", { provider: "openai", model: "gpt-4o", direction: "output" })).toBe(100)
    expect(delta("tally_calls_total", { provider: "openai", model: "unmatched", cost_source: "unpriced" })).toBe(1)
    expect(delta("tally_calls_total", { provider: "openai", model: "gpt-4o", cost_source: "computed" })).toBe(1)
    expect(delta("tally_events_total", { status: "duplicate" })).toBe(2)
    expect(sample(text, "tally_budgets_active")).toBe(1)
    expect(sample(text, "tally_budgets_exceeded")).toBe(0)
    expect(sample(text, "tally_budget_utilization_max_ratio")).toBeGreaterThanOrEqual(0)
    expect(sample(text, "tally_outbox_messages", { status: "pending" })).toBe(0)
    expect(sample(text, "tally_webhook_deliveries_total", { outcome: "failed" })).toBe(0)
    expect(delta("tally_http_request_duration_seconds_count", { method: "POST", route: "/api/v1/usage/ingest", status: "200" })).toBe(2)
    // The route pattern, never the URL: the label set stays bounded.
    expect(text).not.toContain("nothing-here")
    expect(families(text).get("tally_http_request_duration_seconds")).toBe("histogram")
  })

  it("every query of the Grafana dashboard names metrics the worker exports", async () => {
    const exported = families((await request(`${server.url}/metrics`)).text)
    const dashboard = JSON.parse(readFileSync(join(root, "docs/grafana/tally-dashboard.json"), "utf8")) as {
      panels: ReadonlyArray<{ title: string; targets: ReadonlyArray<{ expr: string }> }>
    }
    const named = dashboard.panels.flatMap((panel) => panel.targets.flatMap((t) => t.expr.match(/\btally_[a-z_]+/g) ?? []))
    expect(named.length).toBeGreaterThan(10)
    const missing = named
      .map((name) => exported.has(name) ? name : name.replace(/_(bucket|sum|count)$/, ""))
      .filter((name) => !exported.has(name))
    expect(missing).toEqual([])
    // And the dashboard shows every family the worker exports.
    expect([...exported.keys()].filter((name) => name.startsWith("tally_") && !named.some((n) => n.startsWith(name)))).toEqual([])
  })
})

describe("the worker process", () => {
  it("a second process cannot open a PGlite directory in use; logs are JSON lines at the configured level", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tally-lock-"))
    const env = { TALLY_DATA_DIR: join(dir, "data"), TALLY_LOG_FORMAT: "json", TALLY_LOG_LEVEL: "info" }
    const first = spawnTally(["serve", "--port", "0", "--host", "127.0.0.1"], env)
    try {
      const listening = await first.nextLine()
      expect(listening.listening).toMatch(/^http:/)
      const second = spawnTally(["serve", "--port", "0", "--host", "127.0.0.1"], env)
      const exit = await second.exited
      expect(exit.code).toBe(1)
      expect(second.stderr()).toContain("is in use by another process")
      expect(second.stderr()).toContain(`${env.TALLY_DATA_DIR}.lock`)
      // The first still answers.
      expect((await request(`${String(listening.listening)}/readyz`)).status).toBe(200)

      const badLevel = spawnTally(["serve", "--port", "0"], { ...env, TALLY_LOG_LEVEL: "loud" })
      expect((await badLevel.exited).code).toBe(2)
      expect(badLevel.stderr()).toContain("TALLY_LOG_LEVEL")
    } finally {
      first.child.kill("SIGTERM")
      await first.exited
      rmSync(dir, { recursive: true, force: true })
    }
    const logLines = first.stderr().split("\n").filter((line) => line.trim() !== "")
    expect(logLines.length).toBeGreaterThan(0)
    const parsed = logLines.map((line) => JSON.parse(line) as { message: unknown; logLevel: string })
    expect(parsed.some((line) => String(line.message).includes("listening on"))).toBe(true)
    expect(parsed.filter((line) => /debug|trace/i.test(line.logLevel))).toEqual([])
  })
})
