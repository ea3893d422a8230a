/**
 * Governance through the worker end to end, on a real server over a real database: token,
 * request and rolling-window budgets and model policies created over HTTP and GraphQL, a gateway's
 * `POST /api/v1/decide` (with and without a reservation) and GraphQL's `decide`, each answering
 * with every reason, usage ingested over HTTP counting in tokens and requests.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { client, ingest, newTenant, type TestTenant, usageEvent } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, postJson, request, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GraphQL answers are read as JSON
type Json = any

describe.each(targets)("governance over HTTP and GraphQL on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let tenant: TestTenant

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    tenant = await newTenant(server, { name: "Governed Co" })
  }, 300_000)

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  const post = (path: string, body: unknown, key: string) => postJson(`${server.url}${path}`, key, body)

  it("token and request budgets and policies made over HTTP decide a gateway's calls with every reason", async () => {
    const tokens = await post("/api/v1/budgets", {
      name: "search output per day", period: "day", unit: "tokens", tokenKind: "output", amount: "1000", action: "block",
      scope: { project: "search" }
    }, tenant.admin)
    expect(tokens.status).toBe(201)
    expect(tokens.json).toMatchObject({ unit: "tokens", tokenKind: "output", amount: "1000", period: "day" })
    const perMinute = await post("/api/v1/budgets", {
      name: "2 requests a minute", period: "rolling", windowSeconds: 60, unit: "requests", amount: "2", action: "block"
    }, tenant.admin)
    expect(perMinute.json).toMatchObject({ period: "rolling", windowSeconds: 60, unit: "requests" })
    const bad = await post("/api/v1/budgets", { name: "x", period: "rolling", unit: "requests", amount: "2" }, tenant.admin)
    expect([bad.status, bad.json.error.code, bad.json.error.message]).toEqual([422, "invalid_request", "windowSeconds: a rolling budget needs its window in seconds"])
    const policy = await post("/api/v1/policies", { name: "openai only", allowProviders: ["openai"], maxOutputTokens: 2000 }, tenant.admin)
    expect(policy.status).toBe(201)
    expect((await post("/api/v1/policies", { name: "x", allowModels: [{ regex: "(" }] }, tenant.admin)).json.error.code).toBe("invalid_request")
    const listed = await request(`${server.url}/api/v1/policies`, { headers: { authorization: `Bearer ${tenant.read}` } })
    expect(listed.json.policies.map((p: { name: string }) => p.name)).toEqual(["openai only"])

    await ingest(server, tenant, [usageEvent("w-1", new Date().toISOString(), { labels: { project: "search" }, outputText: 700 })])
    const allowed = await post("/api/v1/decide", {
      labels: { project: "search" }, provider: "openai", model: "gpt-4o", estimate: { inputTokens: 500, outputTokens: 300 }
    }, tenant.ingest)
    expect(allowed.status).toBe(200)
    expect(allowed.json).toMatchObject({ decision: "allow", costSource: "priced", reasons: [] })
    expect(Object.fromEntries(allowed.json.budgets.map((b: { name: string; unit: string; spent: string }) => [b.name, [b.unit, b.spent]]))).toEqual({
      "search output per day": ["output tokens", "700"],
      "2 requests a minute": ["requests", "1"]
    })

    const denied = await post("/api/v1/decide", {
      labels: { project: "search" }, provider: "anthropic", model: "claude-sonnet-4", estimate: { cost: "0.01", outputTokens: 3000 }
    }, tenant.ingest)
    expect(denied.json.decision).toBe("deny")
    expect(denied.json.reasons.map((r: { kind: string; rule?: string }) => r.rule ?? r.kind)).toEqual(["allowProviders", "maxOutputTokens"])

    // A reservation takes the second request of the minute; the third call is refused by the rolling budget.
    const reserved = await post("/api/v1/decide", {
      labels: { project: "search" }, provider: "openai", model: "gpt-4o", estimate: { cost: "0.01", outputTokens: 100 }, reserve: true, requestId: "w-2"
    }, tenant.ingest)
    expect(reserved.json.decision).toBe("allow")
    expect(reserved.json.reservation.id).toBeTypeOf("string")
    const third = await post("/api/v1/decide", { provider: "openai", model: "gpt-4o", estimate: { cost: "0.01" } }, tenant.ingest)
    expect(third.json.reasons).toEqual([expect.objectContaining({ kind: "budget", budgetName: "2 requests a minute", unit: "requests", remaining: "0", estimate: "1" })])
    const settled = await post("/api/v1/budgets/settle", { reservationId: reserved.json.reservation.id, actualCost: "0.008", actualTokens: { output: 90 } }, tenant.ingest)
    expect(settled.json.status).toBe("settled")

    const invalid = await post("/api/v1/decide", { model: "", estimate: { outputTokens: -1 } }, tenant.ingest)
    expect([invalid.status, invalid.json.error.code]).toEqual([422, "invalid_request"])
    const unauthorized = await post("/api/v1/decide", { model: "gpt-4o" }, tenant.read)
    expect(unauthorized.status).toBe(403)
  })

  it("GraphQL creates token budgets and policies and answers decide with the same reasons", async () => {
    const other = await newTenant(server, { name: "Chat Co" })
    const admin = client(server, other.admin)
    const created: Json = await admin.request(`mutation {
      createBudget(input: { name: "chat input per hour", period: ROLLING, windowSeconds: 3600, unit: TOKENS, tokenKind: INPUT, amount: "5000", action: BLOCK, scope: { project: "chat" } }) {
        ... on Budget { id unit tokenKind windowSeconds period amount }
      }
      createModelPolicy(input: { name: "no o1 in chat", scope: { project: "chat" }, denyModels: ["startsWith:o1"], pricedOnly: true }) {
        ... on ModelPolicy { id name rules }
      }
    }`)
    expect(created.createBudget).toMatchObject({ unit: "TOKENS", tokenKind: "INPUT", windowSeconds: 3600, period: "ROLLING", amount: "5000" })
    expect(created.createModelPolicy.rules).toEqual({ denyModels: [{ startsWith: "o1" }], pricedOnly: true })
    const read = client(server, other.read)
    const answer: Json = await read.request(`query {
      decide(labels: { project: "chat" }, provider: "openai", model: "o1-mini", estimate: { inputTokens: 6000 }) {
        ... on GovernanceDecision { allowed costSource priced reasons { kind rule policyName budgetName unit remaining estimate message }
          budget { budgets { unit estimate remaining } } }
      }
    }`)
    expect(answer.decide.allowed).toBe(false)
    expect(answer.decide.reasons.map((r: { rule: string | null; kind: string }) => r.rule ?? r.kind)).toEqual(["denyModels"])
    const budgetOnly: Json = await read.request(`query {
      decide(labels: { project: "chat" }, provider: "openai", model: "gpt-4o", estimate: { inputTokens: 6000 }) {
        ... on GovernanceDecision { allowed reasons { kind budgetName unit remaining estimate } }
      }
    }`)
    expect(budgetOnly.decide).toEqual({
      allowed: false,
      reasons: [{ kind: "budget", budgetName: "chat input per hour", unit: "input tokens", remaining: "5000", estimate: "6000" }]
    })
    const policies: Json = await read.request(`query { modelPolicies { ... on ModelPolicyConnection { edges { node { name } } } } }`)
    expect(policies.modelPolicies.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(["no o1 in chat"])
    const archived: Json = await admin.request(`mutation($id: ID!) { archiveModelPolicy(id: $id) { ... on ModelPolicy { archivedAt } } }`, {
      id: created.createModelPolicy.id
    })
    expect(archived.archiveModelPolicy.archivedAt).not.toBeNull()
  })
})
