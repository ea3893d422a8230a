/**
 * Resale over real HTTP and GraphQL: sale price rules and a plan set through mutations, calls
 * ingested over HTTP get their price beside their cost (a replay no second one), margin by
 * customer, and a customer statement finalized with its CSV and HTML. Amounts by hand in comments.
 */
import { describe, expect, it } from "vitest"
import { client, ingest, newTenant, usageEvent } from "./support/Graphql.ts"
import { inProcessWorker, postJson, targets } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const addRule = (input: string) => `mutation {
  addSalePriceRule(input: { ${input} }) {
    __typename
    ... on SalePriceRule { id name kind percent currency rates { component rate } }
    ... on InvalidInput { field message }
    ... on Forbidden { requiredScope }
  }
}`

const january = `from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z"`

describe.each(targets)("GraphQL resale on %s", (target) => {
  const worker = inProcessWorker(target)

  it("prices each call beside its cost, reports margin by customer and finalizes a statement", async () => {
    const tenant = await newTenant(worker.server, { name: "Resale Co" })
    const admin = client(worker.server, tenant.admin)
    const created: Json = await admin.request(`mutation {
      createModel(input: { id: "acme/m1", provider: "openai", modelKey: "m1", price: { rates: { inputText: "0.1", outputText: "0.5" } } }) { __typename }
    }`)
    expect(created.createModel.__typename).toBe("ModelDefinition")
    const markup: Json = await admin.request(addRule(`name: "globex +25%", customer: "globex", kind: MARKUP_PERCENT, percent: "25", effectiveFrom: "2026-01-01T00:00:00Z"`))
    expect(markup.addSalePriceRule).toMatchObject({ __typename: "SalePriceRule", kind: "MARKUP_PERCENT", percent: "25", currency: null })
    const list: Json = await admin.request(addRule(`name: "pro list", plan: "pro", kind: LIST_PRICE, rates: { inputText: "0.333", outputText: "1.111" }, currency: "USD", effectiveFrom: "2026-01-01T00:00:00Z"`))
    expect(list.addSalePriceRule.rates).toEqual([{ component: "inputText", rate: "0.333" }, { component: "outputText", rate: "1.111" }])
    const plan: Json = await admin.request(`mutation {
      assignCustomerPlan(input: { customer: "initech", plan: "pro", effectiveFrom: "2026-01-01T00:00:00Z" }) { __typename ... on CustomerPlan { customer plan } }
    }`)
    expect(plan.assignCustomerPlan).toEqual({ __typename: "CustomerPlan", customer: "initech", plan: "pro" })

    const big = { model: "m1", inputText: 1_000_000, outputText: 100_000 }
    await ingest(worker.server, tenant, [
      usageEvent("g1", "2026-01-05T10:00:00Z", { ...big, labels: { customer: "globex" } }),
      usageEvent("i1", "2026-01-06T10:00:00Z", { ...big, labels: { customer: "initech", feature: "search" } })
    ])
    const replay = await postJson(`${worker.server.url}/api/v1/usage/ingest`, tenant.ingest, [
      usageEvent("g1", "2026-01-05T10:00:00Z", { ...big, labels: { customer: "globex" } })
    ])
    expect(replay.json.duplicates).toBe(1)

    // Cost 1M x 0.1 + 100k x 0.5 per 1M = 0.15; globex: x 1.25 = 0.1875 (0.125 + 0.0625).
    const price: Json = await admin.request(`{
      callPrice(requestId: "g1") {
        __typename
        ... on CallPrice { status customer total currency costTotal margin lines { component cost amount basis } }
      }
    }`)
    expect(price.callPrice).toEqual({
      __typename: "CallPrice",
      status: "priced",
      customer: "globex",
      total: "0.1875",
      currency: "USD",
      costTotal: "0.15",
      margin: "0.0375",
      lines: [
        { component: "inputText", cost: "0.1", amount: "0.125", basis: "cost x 1.25" },
        { component: "outputText", cost: "0.05", amount: "0.0625", basis: "cost x 1.25" }
      ]
    })
    const missing: Json = await admin.request(`{ callPrice(requestId: "nope") { __typename ... on NotFound { resource } } }`)
    expect(missing.callPrice).toEqual({ __typename: "NotFound", resource: "callPrice" })

    // initech (plan pro): 1M x 0.333 + 100k x 1.111 per 1M = 0.4441; margin 0.4441 - 0.15 = 0.2941.
    const margin: Json = await admin.request(`{
      margin(input: { ${january}, groupBy: [CUSTOMER] }) {
        __typename ... on MarginRowConnection { edges { node { customer requests price cost margin marginPercent } } }
      }
    }`)
    expect(margin.margin.edges.map((e: Json) => e.node)).toEqual([
      { customer: "globex", requests: 1, price: "0.1875", cost: "0.15", margin: "0.0375", marginPercent: "20" },
      { customer: "initech", requests: 1, price: "0.4441", cost: "0.15", margin: "0.2941", marginPercent: "66.2238" }
    ])

    // 0.333 -> 0.33 and 0.1111 -> 0.11: 0.44 (the exact 0.4441 rounded half-even).
    const statement = `{ customer: "initech", ${january}, currency: "USD", groupBy: FEATURE }`
    const final: Json = await admin.request(`mutation {
      finalizeCustomerStatement(input: ${statement}) {
        __typename
        ... on CustomerStatementResult { changed statement { id kind status total exactTotal finalizedBy lines { group component quantity unitPrice amount } csv html } }
      }
    }`)
    const s = final.finalizeCustomerStatement.statement
    expect(final.finalizeCustomerStatement.changed).toBe(true)
    expect(s).toMatchObject({ kind: "statement", status: "final", total: "0.44", exactTotal: "0.4441" })
    expect(s.finalizedBy).toMatch(/^key_/)
    expect(s.lines).toEqual([
      { group: "search", component: "inputText", quantity: "1000000", unitPrice: "0.333", amount: "0.33" },
      { group: "search", component: "outputText", quantity: "100000", unitPrice: "1.111", amount: "0.11" }
    ])
    expect(s.csv).toContain("total,,,,,,,0.44,USD")
    expect(s.html).toContain("<td class=\"n\">0.44</td>")
    const again: Json = await admin.request(`mutation { finalizeCustomerStatement(input: ${statement}) { __typename ... on CustomerStatementResult { changed } } }`)
    expect(again.finalizeCustomerStatement.changed).toBe(false)
    const listed: Json = await admin.request(`{ customerStatements(customer: "initech") { __typename ... on CustomerStatementConnection { edges { node { id total } } } } }`)
    expect(listed.customerStatements.edges.map((e: Json) => e.node)).toEqual([{ id: s.id, total: "0.44" }])
  })

  it("a read key may not add a rule; a bad rule names its field", async () => {
    const tenant = await newTenant(worker.server, { name: "Resale Refusals" })
    const read: Json = await client(worker.server, tenant.read).request(addRule(`name: "x", kind: MARKUP_PERCENT, percent: "5", effectiveFrom: "2026-01-01T00:00:00Z"`))
    expect(read.addSalePriceRule).toEqual({ __typename: "Forbidden", requiredScope: "admin" })
    const admin = client(worker.server, tenant.admin)
    const bad: Json = await admin.request(addRule(`name: "x", kind: LIST_PRICE, currency: "USD", effectiveFrom: "2026-01-01T00:00:00Z"`))
    expect(bad.addSalePriceRule).toMatchObject({ __typename: "InvalidInput", field: "rates" })
    const badRate: Json = await admin.request(addRule(`name: "x", kind: LIST_PRICE, rates: { inputText: 2 }, currency: "USD", effectiveFrom: "2026-01-01T00:00:00Z"`))
    expect(badRate.addSalePriceRule).toMatchObject({ __typename: "InvalidInput", field: "rates.inputText" })
  })
})
