/**
 * Budgets through the worker's HTTP API end to end: the real server on a random port over a real
 * database, gateways asking `check` / `reserve` / `settle` / `release` with their ingest key,
 * budgets created and read with admin and read keys, usage ingested over HTTP crossing a
 * threshold, and the alert reaching a real webhook receiver, signed.
 */
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Webhook, WebhookVerificationError } from "standardwebhooks"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenantWithKey } from "../apps/worker/src/cli/commands/Tenant.ts"
import { WebhookDelivery } from "../packages/engine/src/index.ts"
import { ApiKeys, Outbox } from "../packages/store/src/index.ts"
import { type InProcess, makeDatabase, postJson, request, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"
import { Effect, Redacted } from "./support/Workspace.ts"

const secret = "whsec_budgets_0123456789"

describe.each(targets)("budgets over HTTP on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let tenantId: string
  let adminKey: string
  let gatewayKey: string
  let gatewayKeyId: string
  let readKey: string
  let receiver: Server
  let receiverUrl: string
  const received: Array<{ headers: IncomingMessage["headers"]; body: string }> = []

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") })
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/tally`
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    const created = await server.run(createTenantWithKey({ name: "Gateway Co" }))
    tenantId = created.tenant.id
    adminKey = created.secret
    const keys = await server.run(Effect.gen(function*() {
      const apiKeys = yield* ApiKeys.ApiKeys
      const gateway = yield* apiKeys.create(tenantId, { name: "gateway", scopes: ["ingest"], defaultLabels: { project: "search" } })
      const read = yield* apiKeys.create(tenantId, { name: "dashboards", scopes: ["read"] })
      yield* Outbox.Outbox.use((o) => o.setWebhook(tenantId, { url: receiverUrl, secret }))
      return { gateway, read: Redacted.value(read.secret) }
    }))
    gatewayKey = Redacted.value(keys.gateway.secret)
    gatewayKeyId = keys.gateway.key.id
    readKey = keys.read
  })

  afterAll(async () => {
    await server?.close()
    await database?.drop()
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
  })

  /** Posts with the gateway's key, another key, or (null) none. */
  const post = (path: string, body: unknown, key: string | null = gatewayKey) => postJson(`${server.url}${path}`, key ?? undefined, body)

  it("an admin creates budgets; a read key lists them with their status", async () => {
    const created = await post("/api/v1/budgets", { name: "search daily", period: "day", amount: "0.05", action: "block", scope: { project: "search" } }, adminKey)
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({ name: "search daily", amount: "0.05", currency: "USD", thresholds: ["80", "100"], action: "block" })
    const invalid = await post("/api/v1/budgets", { name: "x", period: "fortnight", amount: "1" }, adminKey)
    expect(invalid.status).toBe(422)
    expect(invalid.json.error.code).toBe("invalid_request")
    expect(invalid.json.error.message).toContain("period")
    expect((await post("/api/v1/budgets", { name: "x", period: "day", amount: "1" }, gatewayKey)).status).toBe(403)
    const listed = await request(`${server.url}/api/v1/budgets`, { headers: { authorization: `Bearer ${readKey}` } })
    expect(listed.status).toBe(200)
    expect(listed.json.budgets.map((b: { budget: { name: string }; spent: string }) => [b.budget.name, b.spent])).toEqual([["search daily", "0"]])
  })

  it("check, reserve, settle and release answer a gateway; errors name what is wrong", async () => {
    const check = await post("/api/v1/budgets/check", { estimatedCost: "0.01" })
    expect(check.status).toBe(200)
    expect(check.json).toMatchObject({ decision: "allow", allowed: true, remaining: "0.05", currency: "USD" })
    // The key's default project applies: the budget covers the call.
    expect(check.json.budgets).toHaveLength(1)
    const elsewhere = await post("/api/v1/budgets/check", { estimatedCost: "1", labels: { project: "other" } })
    expect(elsewhere.json).toMatchObject({ decision: "allow", remaining: null, budgets: [] })

    const reserved = await post("/api/v1/budgets/reserve", { estimatedCost: "0.04", requestId: "gw-1", ttlSeconds: 120 })
    expect(reserved.status).toBe(200)
    expect(reserved.json.decision).toBe("allow")
    const reservationId = reserved.json.reservation.id as string
    const denied = await post("/api/v1/budgets/reserve", { estimatedCost: "0.02" })
    expect(denied.json).toMatchObject({ decision: "deny", allowed: false, remaining: "0.01" })
    expect(denied.json.reservation).toBeUndefined()

    const settled = await post("/api/v1/budgets/settle", { reservationId, actualCost: "0.035" })
    expect(settled.status).toBe(200)
    expect(settled.json).toMatchObject({ status: "settled", actual: "0.035", requestId: "gw-1", labels: { project: "search", apiKeyId: gatewayKeyId } })
    expect((await post("/api/v1/budgets/release", { reservationId })).status).toBe(409)
    expect((await post("/api/v1/budgets/release", { reservationId: "00000000-0000-4000-8000-000000000000" })).status).toBe(404)
    const r2 = (await post("/api/v1/budgets/reserve", { estimatedCost: "0.01" })).json.reservation.id
    const released = await post("/api/v1/budgets/release", { reservationId: r2 })
    expect(released.json.status).toBe("released")

    const bad = await post("/api/v1/budgets/check", { estimatedCost: 0.01 })
    expect(bad.status).toBe(422)
    expect(bad.json.error.message).toMatch(/^estimatedCost: /)
    const unknownKey = await post("/api/v1/budgets/check", { estimatedCost: "0.01", labels: { apiKeyId: "x" } })
    expect(unknownKey.status).toBe(422)
    expect(unknownKey.json.error.message).toMatch(/^labels\.apiKeyId: /)
    expect((await post("/api/v1/budgets/check", "{not json")).status).toBe(400)
    expect((await post("/api/v1/budgets/check", { estimatedCost: "0.01" }, null)).status).toBe(401)
    expect((await post("/api/v1/budgets/check", { estimatedCost: "0.01" }, readKey)).status).toBe(403)
  })

  it("parallel reservations over HTTP never admit more than the block budget holds", async () => {
    const created = await post("/api/v1/budgets", { name: "burst", period: "day", amount: "1", action: "block", scope: { feature: "burst" } }, adminKey)
    expect(created.status).toBe(201)
    const replies = await Promise.all(Array.from({ length: 30 }, () =>
      // Not the key's default project: the search budget is nearly spent by the test before.
      post("/api/v1/budgets/reserve", { estimatedCost: "0.1", labels: { project: "burst", feature: "burst" } })
    ))
    expect(replies.every((r) => r.status === 200)).toBe(true)
    expect(replies.filter((r) => r.json.allowed).length).toBe(10)
  })

  it("usage ingested over HTTP crosses a threshold once, and the signed alert reaches the webhook", async () => {
    const event = (requestId: string, inputText: number) => ({
      requestId,
      occurredAt: new Date().toISOString(),
      provider: "openai",
      model: "gpt-4o",
      labels: { project: "alerts" },
      usage: { tokens: { inputText } }
    })
    const budget = await post("/api/v1/budgets", { name: "alerts", period: "month", amount: "0.01", scope: { project: "alerts" } }, adminKey)
    expect(budget.status).toBe(201)
    // gpt-4o input: 2.50 per million tokens. 3400 tokens = 0.0085 (85%), then 800 more = 0.0105.
    for (const [batch, replay] of [[[event("al-1", 3400)], false], [[event("al-1", 3400)], true], [[event("al-2", 800)], false]] as const) {
      const reply = await postJson(`${server.url}/api/v1/usage/ingest`, gatewayKey, batch)
      expect(reply.status).toBe(200)
      expect(reply.json.inserted).toBe(replay ? 0 : 1)
    }
    // Deliver now (the server's own loop may take some first; its lease keeps us off those).
    const pending = () =>
      server.run(Effect.map(Outbox.Outbox.use((o) => o.list(tenantId)), (messages) => messages.filter((m) => m.status !== "delivered").length))
    for (let pass = 0; pass < 50 && (await pending()) > 0; pass++) {
      await server.run(WebhookDelivery.WebhookDelivery.use((d) => d.deliverDue))
      if ((await pending()) > 0) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(await pending()).toBe(0)
    const alerts = received.filter((r) => JSON.parse(r.body).data.budget.id === budget.json.id)
    expect(alerts.map((r) => JSON.parse(r.body).data.threshold).sort()).toEqual(["100", "80"])
    for (const alert of alerts) {
      // Verified as a receiver would, with the standardwebhooks library (which also checks the timestamp).
      const headers = Object.fromEntries(["webhook-id", "webhook-timestamp", "webhook-signature"].map((h) => [h, String(alert.headers[h])]))
      expect(new Webhook(secret, { format: "raw" }).verify(alert.body, headers)).toEqual(JSON.parse(alert.body))
      expect(() => new Webhook("another-secret-0123456789", { format: "raw" }).verify(alert.body, headers)).toThrow(WebhookVerificationError)
      expect(JSON.parse(alert.body)).toMatchObject({ kind: "budget.threshold_crossed", tenantId })
    }
    // Delivered once: another pass sends nothing more for them.
    await server.run(WebhookDelivery.WebhookDelivery.use((d) => d.deliverDue))
    expect(received.filter((r) => JSON.parse(r.body).data.budget.id === budget.json.id)).toHaveLength(2)
  })
})
