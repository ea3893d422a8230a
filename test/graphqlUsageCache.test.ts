/**
 * The usage answer cache end to end over real HTTP (docs/graphql.md, "Caching"): the same question
 * twice gives the same answer, and the second comes from the cache (the store hands back the very
 * report it kept); a new call of the period and a repricing each change the tenant's write version,
 * so the next answer is read afresh and shows them; two tenants asking the same question never
 * share an answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DateTime } from "../apps/worker/node_modules/effect/dist/index.js"
import { Money } from "../packages/core/src/index.ts"
import { UsageReport } from "../packages/store/src/index.ts"
import { client, ingest, newTenant, usageEvent } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"
import { Effect } from "./support/Workspace.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const question = `{
  usage(from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z", groupBy: [TEAM, MODEL], granularity: DAY) {
    __typename ... on UsageReport {
      buckets { label group { team model } requests unpricedRequests spend { amount currency } }
      totals { requests unpricedRequests spend { amount currency } }
    }
  }
}`

describe.each(targets)("GraphQL usage cache on %s", (target) => {
  // No settle window: answers are cached right after a write (production waits `settleSeconds`).
  const worker = {} as { server: InProcess }
  let database: TestDatabase | undefined
  beforeAll(async () => {
    database = await makeDatabase(target)
    worker.server = await startInProcess({ ...testConfig(database), usageCache: { buckets: 10_000, settleSeconds: 0 } })
  }, 300_000)
  afterAll(async () => {
    await worker.server?.close()
    await database?.drop()
  })

  it("answers again from the cache, and afresh after an ingest and after a repricing", async () => {
    const tenant = await newTenant(worker.server, { name: "Cache Co", timeZone: "UTC" })
    const read = client(worker.server, tenant.read)
    await ingest(worker.server, tenant, [
      usageEvent("c-1", "2026-04-02T10:00:00Z", { labels: { team: "core" }, inputText: 1_000_000, outputText: 0 }),
      usageEvent("c-2", "2026-04-03T10:00:00Z", { model: "cache-onprem", labels: { team: "ml" }, inputText: 2_000_000, outputText: 0 })
    ])
    const first: Json = await read.request(question)
    expect(first.usage.totals).toMatchObject({ requests: 2, unpricedRequests: 1 })
    const second: Json = await read.request(question)
    expect(second).toEqual(first)

    // The store keeps the report: the same question asked twice of one report service returns the same object.
    const question2 = {
      from: DateTime.makeUnsafe("2026-04-01T00:00:00Z"),
      to: DateTime.makeUnsafe("2026-05-01T00:00:00Z"),
      granularity: "day" as const,
      groupBy: ["team", "model"] as const
    }
    const [kept, again] = await worker.server.run(Effect.provide(
      Effect.gen(function*() {
        const report = yield* UsageReport.UsageReport
        return [yield* report.usage(tenant.id, question2), yield* report.usage(tenant.id, question2)] as const
      }),
      UsageReport.UsageReport.layerWith({ cacheBuckets: 10_000, settleSeconds: 0 })
    ))
    expect(kept.totals.requests).toBe(2)
    expect(again).toBe(kept)

    // A new call of the period: the answer follows.
    await ingest(worker.server, tenant, [usageEvent("c-3", "2026-04-03T11:00:00Z", { labels: { team: "core" } })])
    const ingested: Json = await read.request(question)
    expect(ingested.usage.totals.requests).toBe(3)
    expect(ingested.usage.buckets.map((b: Json) => [b.label, b.group.team, b.requests])).toContainEqual(["2026-04-03", "core", 1])

    // A repricing: the unpriced call gains a price, and the answer follows.
    const admin = client(worker.server, tenant.admin)
    const created: Json = await admin.request(`mutation {
      createModel(input: { id: "cache/onprem", provider: "openai", modelKey: "cache-onprem", price: { rates: { inputText: "0.50" } } }) { __typename }
    }`)
    expect(created.createModel.__typename).toBe("ModelDefinition")
    const run: Json = await admin.request(`mutation {
      reprice(input: { from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z" }) { __typename ... on RepriceSummary { repriced } }
    }`)
    expect(run.reprice).toMatchObject({ __typename: "RepriceSummary", repriced: 1 })
    const repriced: Json = await read.request(question)
    expect(repriced.usage.totals.unpricedRequests).toBe(0)
    const spend = (answer: Json) => new Money.Decimal(answer.usage.totals.spend[0].amount)
    // 2M input tokens at 0.50 per 1M: 1 more.
    expect(Money.format(spend(repriced).minus(spend(ingested)))).toBe("1")
  })

  it("two tenants asking the same question never share an answer", async () => {
    const a = await newTenant(worker.server, { name: "Cache A", timeZone: "UTC" })
    const b = await newTenant(worker.server, { name: "Cache B", timeZone: "UTC" })
    await ingest(worker.server, a, [usageEvent("same-1", "2026-04-02T10:00:00Z", { labels: { team: "a-team" } })])
    await ingest(worker.server, b, [
      usageEvent("same-1", "2026-04-02T10:00:00Z", { labels: { team: "b-team" } }),
      usageEvent("same-2", "2026-04-02T11:00:00Z", { labels: { team: "b-team" } })
    ])
    const fromA: Json = await client(worker.server, a.read).request(question)
    const fromB: Json = await client(worker.server, b.read).request(question)
    const againA: Json = await client(worker.server, a.read).request(question)
    expect(fromA.usage.buckets.map((x: Json) => [x.group.team, x.requests])).toEqual([["a-team", 1]])
    expect(fromB.usage.buckets.map((x: Json) => [x.group.team, x.requests])).toEqual([["b-team", 2]])
    expect(againA).toEqual(fromA)
  })
})
