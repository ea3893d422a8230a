/**
 * withTally recording to a Tally worker over HTTP: the real worker on a random port over a real
 * database, the official SDKs against the local fake provider server, calls ingested with the
 * gateway's key (its default labels under the wrapper's), budgets reserved and settled through
 * the worker's budget API, a refused call never sent, and a worker that refuses the key reported
 * to onError without failing the call.
 */
import Anthropic from "@anthropic-ai/sdk"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenantWithKey } from "../apps/worker/src/cli/commands/Tenant.ts"
import { type FakeProviders, startFakeProviders } from "../examples/clients/fake-providers.mjs"
import type { WorkerError } from "../packages/clients/src/index.ts";
import { BudgetExceeded, type RecordedCall, withTally } from "../packages/clients/src/index.ts"
import { ApiKeys } from "../packages/store/src/index.ts"
import { type InProcess, makeDatabase, postJson, request, startInProcess, targets, type TestDatabase, testConfig, totals } from "./support/Worker.ts"
import { Effect, Redacted } from "./support/Workspace.ts"

describe.each(targets)("withTally over HTTP to a worker on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let fake: FakeProviders
  let tenantId: string
  let gatewayKey: string
  let readKey: string

  beforeAll(async () => {
    fake = await startFakeProviders()
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    const created = await server.run(createTenantWithKey({ name: "Wrapped over HTTP" }))
    tenantId = created.tenant.id
    const keys = await server.run(Effect.gen(function*() {
      const apiKeys = yield* ApiKeys.ApiKeys
      const gateway = yield* apiKeys.create(tenantId, { name: "gateway", scopes: ["ingest"], defaultLabels: { environment: "prod" } })
      const read = yield* apiKeys.create(tenantId, { name: "dashboards", scopes: ["read"] })
      return { gateway: Redacted.value(gateway.secret), read: Redacted.value(read.secret) }
    }))
    gatewayKey = keys.gateway
    readKey = keys.read
    const budget = await postJson(`${server.url}/api/v1/budgets`, created.secret, { name: "bot", period: "month", amount: "0.01", action: "block", scope: { project: "bot" } })
    expect(budget.status).toBe(201)
  }, 180_000)

  afterAll(async () => {
    await server?.close()
    await database?.drop()
    await fake?.close()
  }, 180_000)

  const wrap = <C extends object>(client: C, key = gatewayKey) => {
    const records: Array<RecordedCall> = []
    const errors: Array<Error> = []
    const wrapped = withTally(client, {
      url: server.url,
      apiKey: key,
      labels: { project: "bot" },
      budget: { defaultMaxOutputTokens: 1000 },
      onRecord: (call) => records.push(call),
      onError: (error) => errors.push(error)
    })
    const recorded = async (count: number) => {
      while (records.length < count) await new Promise((resolve) => setTimeout(resolve, 10))
      return records
    }
    return { client: wrapped, records, errors, recorded }
  }

  it("records calls through the ingest API and settles their reservations through the budget API", async () => {
    const openai = wrap(new OpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 }))
    await openai.client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
    const stream = await openai.client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], stream: true })
    for await (const _ of stream) void _
    const anthropic = wrap(new Anthropic({ apiKey: "sk-ant-fake", baseURL: fake.url, maxRetries: 0 }))
    const messages = await anthropic.client.messages.create({ model: "claude-haiku-4-5", max_tokens: 500, messages: [{ role: "user", content: "Hi" }], stream: true })
    for await (const _ of messages) void _

    const calls = [...await openai.recorded(2), ...await anthropic.recorded(1)]
    expect(calls.map((c) => [c.status, c.total, c.costSource, c.reservation?.state]), JSON.stringify({ calls, errors: [...openai.errors, ...anthropic.errors].map((e) => e.message) })).toEqual([
      ["inserted", "0.000435", "computed", "settled"],
      ["inserted", "0.000435", "computed", "settled"],
      // claude-haiku-4-5: 1200 input × $1/M + 400 output × $5/M.
      ["inserted", "0.0032", "computed", "settled"]
    ])
    expect(openai.errors).toEqual([])
    const stored = await server.run(totals(tenantId))
    expect([stored.ledgerRows, Number(stored.ledgerCost)]).toEqual([3, 0.00407])
    // The budget sees the recorded spend, and no hold is left.
    const listed = await request(`${server.url}/api/v1/budgets`, { headers: { authorization: `Bearer ${readKey}` } })
    expect(listed.json.budgets.map((b: { spent: string; reserved: string }) => [b.spent, b.reserved])).toEqual([["0.00407", "0"]])
  }, 180_000)

  it("a dropped connection to the worker is retried for recording and settling, never for reserving", async () => {
    const paths: Array<string> = []
    let dropped = 0
    const flaky: typeof fetch = (input, init) => {
      const path = new URL(String(input)).pathname
      paths.push(path)
      // Every first attempt of each request fails as a socket closed under a kept-alive connection.
      if (paths.filter((p) => p === path).length % 2 === 1 && path !== "/api/v1/budgets/reserve") {
        dropped++
        return Promise.reject(new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) }))
      }
      return fetch(input, init)
    }
    const records: Array<RecordedCall> = []
    const errors: Array<Error> = []
    const client = withTally(new OpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 }), {
      url: server.url,
      apiKey: gatewayKey,
      fetch: flaky,
      labels: { project: "bot" },
      budget: true,
      onRecord: (call) => records.push(call),
      onError: (error) => errors.push(error)
    })
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
    while (records.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(errors).toEqual([])
    expect([records[0]!.status, records[0]!.reservation?.state]).toEqual(["inserted", "settled"])
    expect(paths).toEqual(["/api/v1/budgets/reserve", "/api/v1/usage/ingest", "/api/v1/usage/ingest", "/api/v1/budgets/settle", "/api/v1/budgets/settle"])
    expect(dropped).toBe(2)
  }, 180_000)

  it("refuses a call that would exceed the budget without sending it", async () => {
    const openai = wrap(new OpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 }))
    const before = fake.requests.length
    const refused = await openai.client.chat.completions.create({ model: "gpt-4o", max_tokens: 100_000, messages: [{ role: "user", content: "Hi" }] }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(BudgetExceeded)
    expect(fake.requests.length).toBe(before)
  }, 180_000)

  it("a key the worker refuses fails the reservation before the call; without a budget the call succeeds and onError hears why", async () => {
    const openai = wrap(new OpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 }), "tally_not_a_key")
    const refused = await openai.client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }).catch((e: unknown) => e)
    expect((refused as { _tag: string; step: string })._tag).toBe("TallyUnavailable")
    expect((refused as { step: string }).step).toBe("reserve")

    const errors: Array<Error> = []
    const records: Array<RecordedCall> = []
    const unbudgeted = withTally(new OpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 }), {
      url: server.url,
      apiKey: "tally_not_a_key",
      onRecord: (call) => records.push(call),
      onError: (error) => errors.push(error)
    })
    const completion = await unbudgeted.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
    expect(completion.choices[0]!.message.content).toBe("Tally prices every call.")
    while (records.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(records[0]!.status).toBe("not-recorded")
    expect(errors).toHaveLength(1)
    expect((errors[0]!.cause as WorkerError).code).toBe("unauthorized")
    expect((errors[0]!.cause as WorkerError).status).toBe(401)
  }, 180_000)
})
