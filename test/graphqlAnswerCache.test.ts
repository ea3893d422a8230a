/**
 * The GraphQL answer cache end to end over real HTTP (docs/graphql.md, "Caching"): a kept answer
 * is the very bytes the worker sends without the cache; a write between two questions (a new call,
 * a late one, a repricing) is seen by the next; tenants and API keys never share an answer; an
 * answer with an error (a typed one, or a refused key) is not kept; the byte budget evicts the
 * least recently used answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as GraphqlRoute from "../apps/worker/src/graphql/Http.ts"
import { UsageReport } from "../packages/store/src/index.ts"
import { client, ingest, newTenant, type TestTenant, usageEvent } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"
import { Context, Effect } from "./support/Workspace.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const question = `query Spend($from: DateTime!, $to: DateTime!) {
  usage(from: $from, to: $to, groupBy: [TEAM, MODEL], granularity: DAY) {
    __typename ... on UsageReport {
      buckets { label group { team model } requests unpricedRequests spend { amount currency } tokens { inputText outputText } }
      series { group { team model } labels requests spend { currency amounts } }
      totals { requests unpricedRequests spend { amount currency } }
    }
    ... on Error { message }
  }
}`

const april = { from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z" }

const events = [
  usageEvent("a-1", "2026-04-02T10:00:00Z", { labels: { team: "core" }, inputText: 1_000_000, outputText: 0 }),
  usageEvent("a-2", "2026-04-03T10:00:00Z", { model: "cache-onprem", labels: { team: "ml" }, inputText: 2_000_000, outputText: 0 }),
  usageEvent("a-3", "2026-04-03T12:00:00Z", { model: "gpt-4o-mini", labels: { team: "ml" } })
]

/** The raw answer over HTTP: status, media type and the body's bytes. */
const post = async (server: InProcess, key: string, body: unknown) => {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body)
  })
  return { status: response.status, type: response.headers.get("content-type"), bytes: Buffer.from(await response.arrayBuffer()) }
}

const stats = (server: InProcess) => {
  const read = Context.get(server.context, GraphqlRoute.GraphqlApi).answerCache
  if (read === undefined) throw new Error("the answer cache is off")
  return read()
}

describe.each(targets)("GraphQL answer cache on %s", (target) => {
  // No settle window: answers are kept right after a write (production waits `settleSeconds`).
  const cached = {} as { server: InProcess; database: TestDatabase }
  const plain = {} as { server: InProcess; database: TestDatabase }
  beforeAll(async () => {
    cached.database = await makeDatabase(target)
    cached.server = await startInProcess({ ...testConfig(cached.database), usageCache: { buckets: 10_000, settleSeconds: 0 } })
    // The same calls on a worker with no cache at all: what the answer is without one.
    plain.database = await makeDatabase(target)
    plain.server = await startInProcess({ ...testConfig(plain.database), usageCache: { buckets: 0, settleSeconds: 0 }, graphqlCacheBytes: 0 })
  }, 300_000)
  afterAll(async () => {
    await cached.server?.close()
    await cached.database?.drop()
    await plain.server?.close()
    await plain.database?.drop()
  })

  it("a kept answer is byte for byte the answer without the cache", async () => {
    const withCache = await newTenant(cached.server, { name: "Bytes Co", timeZone: "UTC" })
    const without = await newTenant(plain.server, { name: "Bytes Co", timeZone: "UTC" })
    await ingest(cached.server, withCache, events)
    await ingest(plain.server, without, events)
    const body = { query: question, variables: april, operationName: "Spend" }
    const reference = await post(plain.server, without.read, body)
    expect(reference.status).toBe(200)
    expect(JSON.parse(reference.bytes.toString("utf8")).data.usage.totals.requests).toBe(3)
    const before = stats(cached.server)
    const miss = await post(cached.server, withCache.read, body)
    const hit = await post(cached.server, withCache.read, body)
    const after = stats(cached.server)
    expect(after.misses - before.misses).toBe(1)
    expect(after.hits - before.hits).toBe(1)
    expect(after.entries - before.entries).toBe(1)
    for (const answer of [miss, hit]) {
      expect(answer.status).toBe(reference.status)
      expect(answer.type).toBe(reference.type)
      expect(answer.bytes.equals(reference.bytes)).toBe(true)
    }
    // The same question with its variables in another order and other spacing is the same answer.
    const respaced = await post(cached.server, withCache.read, {
      query: question.replace(/\n\s*/g, " "),
      variables: { to: april.to, from: april.from },
      operationName: "Spend"
    })
    expect(respaced.bytes.equals(reference.bytes)).toBe(true)
    expect(stats(cached.server).hits - after.hits).toBe(1)
  })

  it("a new call, a late call and a repricing between two questions are each seen by the next", async () => {
    const tenant = await newTenant(cached.server, { name: "Writes Co", timeZone: "UTC" })
    const read = client(cached.server, tenant.read)
    await ingest(cached.server, tenant, events)
    const first: Json = await read.request(question, april)
    expect(first.usage.totals).toMatchObject({ requests: 3, unpricedRequests: 1 })
    expect(await read.request(question, april)).toEqual(first)

    await ingest(cached.server, tenant, [usageEvent("b-1", "2026-04-20T09:00:00Z", { labels: { team: "core" } })])
    const ingested: Json = await read.request(question, april)
    expect(ingested.usage.totals.requests).toBe(4)

    // Late usage: a call of a day already answered, recorded now.
    await ingest(cached.server, tenant, [usageEvent("b-2", "2026-04-02T08:00:00Z", { labels: { team: "core" } })])
    const late: Json = await read.request(question, april)
    expect(late.usage.totals.requests).toBe(5)
    expect(late.usage.buckets.filter((b: Json) => b.label === "2026-04-02").map((b: Json) => b.requests)).toEqual([2])

    const admin = client(cached.server, tenant.admin)
    const created: Json = await admin.request(`mutation {
      createModel(input: { id: "answers/onprem", provider: "openai", modelKey: "cache-onprem", price: { rates: { inputText: "0.50" } } }) { __typename }
    }`)
    expect(created.createModel.__typename).toBe("ModelDefinition")
    const run: Json = await admin.request(`mutation {
      reprice(input: { from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z" }) { __typename ... on RepriceSummary { repriced } }
    }`)
    expect(run.reprice).toMatchObject({ __typename: "RepriceSummary", repriced: 1 })
    const repriced: Json = await read.request(question, april)
    expect(repriced.usage.totals.unpricedRequests).toBe(0)
    expect(repriced.usage.totals.spend).not.toEqual(late.usage.totals.spend)
  })

  it("within the settle window after a write the tenant has no version, so nothing is kept or served", async () => {
    const tenant = await newTenant(cached.server, { name: "Settle Co", timeZone: "UTC" })
    await ingest(cached.server, tenant, events)
    const versionWithin = (settleSeconds: number) =>
      cached.server.run(Effect.provide(
        UsageReport.UsageReport.use((report) => report.writeVersion(tenant.id)),
        UsageReport.UsageReport.layerWith({ cacheBuckets: 0, settleSeconds })
      ))
    // The calls were recorded a moment ago: inside a 60 s window, outside a 0 s one.
    expect(await versionWithin(60)).toBeNull()
    expect(await versionWithin(0)).toMatch(/^UTC\//)
  })

  it("two tenants and two keys of one tenant never share an answer", async () => {
    const a = await newTenant(cached.server, { name: "Share A", timeZone: "UTC" })
    const b = await newTenant(cached.server, { name: "Share B", timeZone: "UTC" })
    await ingest(cached.server, a, [usageEvent("s-1", "2026-04-02T10:00:00Z", { labels: { team: "a-team" } })])
    await ingest(cached.server, b, [
      usageEvent("s-1", "2026-04-02T10:00:00Z", { labels: { team: "b-team" } }),
      usageEvent("s-2", "2026-04-02T11:00:00Z", { labels: { team: "b-team" } })
    ])
    const teams = (answer: Json) => answer.usage.buckets.map((x: Json) => [x.group.team, x.requests])
    const fromA: Json = await client(cached.server, a.read).request(question, april)
    const before = stats(cached.server)
    const fromB: Json = await client(cached.server, b.read).request(question, april)
    expect(teams(fromA)).toEqual([["a-team", 1]])
    expect(teams(fromB)).toEqual([["b-team", 2]])
    expect(stats(cached.server).hits).toBe(before.hits)

    // Another key of tenant A (admin) asks the same: its own answer, computed for it.
    const viaAdmin: Json = await client(cached.server, a.admin).request(question, april)
    expect(viaAdmin).toEqual(fromA)
    expect(stats(cached.server).hits).toBe(before.hits)
    expect(stats(cached.server).entries).toBe(before.entries + 2)
    // An ingest-only key is refused, whatever the read key has kept.
    const refused: Json = await client(cached.server, a.ingest).request(question, april)
    expect(refused.usage.__typename).toBe("Forbidden")
    const againA: Json = await client(cached.server, a.read).request(question, april)
    expect(againA).toEqual(fromA)
    expect(stats(cached.server).hits).toBe(before.hits + 1)
  })

  it("an answer with an error is not kept", async (): Promise<void> => {
    const tenant = await newTenant(cached.server, { name: "Errors Co", timeZone: "UTC" })
    await ingest(cached.server, tenant, events)
    const read = client(cached.server, tenant.read)
    const backwards = { from: april.to, to: april.from }
    const before = stats(cached.server)
    for (let i = 0; i < 2; i++) {
      const answer: Json = await read.request(question, backwards)
      expect(answer.usage).toMatchObject({ __typename: "InvalidInput" })
    }
    // A key without the read scope: `Forbidden`, twice, never kept.
    for (let i = 0; i < 2; i++) {
      const answer: Json = await client(cached.server, tenant.ingest).request(question, april)
      expect(answer.usage.__typename).toBe("Forbidden")
    }
    const after = stats(cached.server)
    expect(after.entries).toBe(before.entries)
    expect(after.hits).toBe(before.hits)
  })

  it("keeps at most its byte budget, the least recently used answer out first", async () => {
    // Each answer's size on the first worker sets the second's budget: room for two, not three.
    const sizer = await newTenant(cached.server, { name: "Budget Co", timeZone: "UTC" })
    await ingest(cached.server, sizer, events)
    const before = stats(cached.server)
    await client(cached.server, sizer.read).request(question, april)
    const entry = stats(cached.server).bytes - before.bytes
    expect(entry).toBeGreaterThan(0)
    const database = await makeDatabase(target)
    const small = await startInProcess({
      ...testConfig(database),
      usageCache: { buckets: 0, settleSeconds: 0 },
      graphqlCacheBytes: Math.floor(entry * 2.5)
    })
    try {
      const tenant: TestTenant = await newTenant(small, { name: "Budget Co", timeZone: "UTC" })
      await ingest(small, tenant, events)
      const read = client(small, tenant.read)
      // Three questions with answers of the same size (ranges ending after every call).
      const [first, second, third] = ["2026-05-01T00:00:00Z", "2026-04-30T00:00:00Z", "2026-04-29T00:00:00Z"].map((to) => ({ from: april.from, to }))
      await read.request(question, first)
      await read.request(question, second)
      expect(stats(small)).toMatchObject({ entries: 2, hits: 0, misses: 2 })
      await read.request(question, first)
      expect(stats(small).hits).toBe(1)
      // A third: the least recently used (the second) goes.
      await read.request(question, third)
      expect(stats(small).entries).toBe(2)
      expect(stats(small).bytes).toBeLessThanOrEqual(Math.floor(entry * 2.5))
      await read.request(question, first)
      expect(stats(small).hits).toBe(2)
      await read.request(question, second)
      expect(stats(small)).toMatchObject({ hits: 2, misses: 4 })
    } finally {
      await small.close()
      await database.drop()
    }
  }, 300_000)
})
