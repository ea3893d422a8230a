/**
 * The `reprice` mutation end to end over real HTTP: usage ingested before its model had a price is
 * recorded unpriced; once the tenant adds the price, a dry run says what would change and changes
 * nothing, the run prices the calls (the API key as the actor), the usage report follows, and a
 * second run changes nothing. A read key may not reprice; a backwards range names the field.
 */
import { describe, expect, it } from "vitest"
import { client, ingest, newTenant, usageEvent } from "./support/Graphql.ts"
import { inProcessWorker, targets } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const reprice = (input: string) => `mutation {
  reprice(input: { ${input} }) {
    __typename
    ... on RepriceSummary {
      runId dryRun actor scanned repriced newlyPriced corrections unchanged skipped
      totals { currency before after delta }
      snapshotsBefore snapshotsAfter
    }
    ... on InvalidInput { field message }
    ... on Forbidden { requiredScope }
  }
}`

const records = `{
  usageRecords(filter: { from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z" }) {
    __typename ... on UsageRecordConnection { edges { node { requestId costSource cost { amount currency } } } }
  }
}`

describe.each(targets)("GraphQL reprice on %s", (target) => {
  const worker = inProcessWorker(target)

  it("unpriced usage is priced once its price exists; dry run first, then once, then nothing", async () => {
    const tenant = await newTenant(worker.server, { name: "Reprice Co" })
    const admin = client(worker.server, tenant.admin)
    await ingest(worker.server, tenant, [
      usageEvent("q-1", "2026-04-02T10:00:00Z", { model: "llama-onprem", inputText: 1_000_000, outputText: 100_000 }),
      usageEvent("q-2", "2026-04-03T10:00:00Z", { model: "llama-onprem", inputText: 2_000_000, outputText: 0 })
    ])
    const before: Json = await admin.request(records)
    expect(before.usageRecords.edges.map((e: Json) => e.node.costSource)).toEqual(["UNPRICED", "UNPRICED"])

    const created: Json = await admin.request(`mutation {
      createModel(input: { id: "acme/llama-onprem", provider: "openai", modelKey: "llama-onprem", price: { rates: { inputText: "0.50", outputText: "1.50" } } }) {
        __typename
      }
    }`)
    expect(created.createModel.__typename).toBe("ModelDefinition")

    const range = `from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z"`
    const dry: Json = await admin.request(reprice(`${range}, onlyUnpriced: true, dryRun: true`))
    // q-1: 1M x 0.50 + 100k x 1.50 per 1M = 0.5 + 0.15 = 0.65; q-2: 2M x 0.50 = 1
    expect(dry.reprice).toMatchObject({
      __typename: "RepriceSummary",
      runId: null,
      dryRun: true,
      scanned: 2,
      repriced: 2,
      newlyPriced: 2,
      totals: [{ currency: "USD", before: "0", after: "1.65", delta: "1.65" }]
    })
    expect(await admin.request(records)).toEqual(before)

    const run: Json = await admin.request(reprice(range))
    expect(run.reprice).toMatchObject({ dryRun: false, scanned: 2, repriced: 2, newlyPriced: 2, corrections: 0, unchanged: 0, skipped: 0 })
    expect(run.reprice.runId).toMatch(/^[0-9a-f-]{36}$/)
    expect(run.reprice.actor).toMatch(/^key_/)
    const after: Json = await admin.request(records)
    expect(after.usageRecords.edges.map((e: Json) => [e.node.requestId, e.node.costSource, e.node.cost])).toEqual([
      ["q-2", "COMPUTED", { amount: "1", currency: "USD" }],
      ["q-1", "COMPUTED", { amount: "0.65", currency: "USD" }]
    ])
    // The usage report (daily summaries) follows the new prices.
    const usage: Json = await admin.request(`{
      usage(from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z", granularity: MONTH) {
        __typename ... on UsageReport { totals { requests unpricedRequests spend { amount currency } } }
      }
    }`)
    expect(usage.usage.totals).toEqual({ requests: 2, unpricedRequests: 0, spend: [{ amount: "1.65", currency: "USD" }] })

    const again: Json = await admin.request(reprice(range))
    expect(again.reprice).toMatchObject({ runId: null, scanned: 2, repriced: 0, unchanged: 2, totals: [] })
  })

  it("a read key may not reprice; a range that ends before it starts names the field", async () => {
    const tenant = await newTenant(worker.server, { name: "Guarded Co" })
    const read: Json = await client(worker.server, tenant.read).request(reprice(`from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z"`))
    expect(read.reprice).toMatchObject({ __typename: "Forbidden", requiredScope: "admin" })
    const backwards: Json = await client(worker.server, tenant.admin).request(reprice(`from: "2026-05-01T00:00:00Z", to: "2026-04-01T00:00:00Z"`))
    expect(backwards.reprice).toMatchObject({ __typename: "InvalidInput", field: "to" })
  })
})
