/**
 * Cost at risk through GraphQL, end to end over real HTTP on PGlite and PostgreSQL: calls priced
 * in part (a gpt-4o call with video seconds, which the catalog has no per-second price for) and
 * calls priced not at all (a model nothing matches) show up with their missing components and
 * quantities in usage, in a budget's status, in showback and a chargeback run, and in coverage.
 */
import { describe, expect, it } from "vitest"
import { client, ingest, newTenant } from "./support/Graphql.ts"
import { inProcessWorker, targets } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

describe.each(targets)("cost at risk through GraphQL on %s", (target) => {
  const worker = inProcessWorker(target)

  it("usage, budgets, showback, chargeback runs and coverage say what spend leaves out", async () => {
    const tenant = await newTenant(worker.server, { name: "At Risk Co" })
    const admin = client(worker.server, tenant.admin)
    const read = client(worker.server, tenant.read)
    const budget: Json = await admin.request(`mutation {
      createBudget(input: { name: "search", period: MONTH, amount: "100", scope: { project: "search" } }) { __typename ... on Budget { id } }
    }`)
    expect(budget.createBudget.__typename).toBe("Budget")
    // This month, in the tenant's zone (UTC): the budget's period, the usage range and the chargeback month.
    const now = new Date()
    const at = now.toISOString()
    const month = at.slice(0, 7)
    const from = `${month}-01T00:00:00Z`
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString()
    const labels = { project: "search", team: "core" }
    await ingest(worker.server, tenant, [
      // gpt-4o: 1M input x $2.50 = $2.50 priced; 10 s of video have no price: partial.
      { requestId: "partial-1", occurredAt: at, provider: "openai", model: "gpt-4o", labels, usage: { tokens: { inputText: 1_000_000 }, videoSeconds: "10" } },
      { requestId: "partial-2", occurredAt: at, provider: "openai", model: "gpt-4o", labels, usage: { tokens: { inputText: 1_000_000 }, videoSeconds: "5" } },
      // Nothing matches: unpriced, every token at risk.
      { requestId: "unpriced-1", occurredAt: at, provider: "openai", model: "house-mystery-7", labels, usage: { tokens: { inputText: 700, outputText: 30 } } },
      { requestId: "priced-1", occurredAt: at, provider: "openai", model: "gpt-4o", labels, usage: { tokens: { inputText: 1_000_000 } } }
    ])

    const usage: Json = await read.request(`{
      usage(from: "${from}", to: "${next}", granularity: TOTAL, filter: { project: ["search"] }) {
        ... on UsageReport {
          totals { requests partialRequests unpricedRequests spend { amount currency } }
          costAtRisk { partialCalls unpricedCalls partialSpend { amount currency } components { component unit quantity calls partialCalls unpricedCalls } models { provider model partialCalls unpricedCalls } }
        }
      }
    }`)
    // Spend: 3 gpt-4o calls x $2.50 = $7.50, the partial calls' priced lines included.
    expect(usage.usage.totals).toEqual({ requests: 4, partialRequests: 2, unpricedRequests: 1, spend: [{ amount: "7.5", currency: "USD" }] })
    expect(usage.usage.costAtRisk).toEqual({
      partialCalls: 2,
      unpricedCalls: 1,
      partialSpend: [{ amount: "5", currency: "USD" }],
      components: [
        { component: "videoSeconds", unit: "second", quantity: "15", calls: 2, partialCalls: 2, unpricedCalls: 0 },
        { component: "inputText", unit: "token", quantity: "700", calls: 1, partialCalls: 0, unpricedCalls: 1 },
        { component: "outputText", unit: "token", quantity: "30", calls: 1, partialCalls: 0, unpricedCalls: 1 }
      ],
      models: [
        { provider: "openai", model: "gpt-4o", partialCalls: 2, unpricedCalls: 0 },
        { provider: "openai", model: "house-mystery-7", partialCalls: 0, unpricedCalls: 1 }
      ]
    })
    const elsewhere: Json = await read.request(`{
      usage(from: "${from}", to: "${next}", granularity: TOTAL, filter: { project: ["other"] }) { ... on UsageReport { costAtRisk { partialCalls unpricedCalls components { component } } } }
    }`)
    expect(elsewhere.usage.costAtRisk).toEqual({ partialCalls: 0, unpricedCalls: 0, components: [] })

    const status: Json = await read.request(`{
      budgets(first: 5) { ... on BudgetConnection { edges { node { status { spent calls unpricedCalls partialCalls notCounted { partialCalls unpricedCalls components { component quantity calls } } } } } } }
    }`)
    expect(status.budgets.edges[0].node.status).toEqual({
      spent: "7.5",
      calls: 3,
      unpricedCalls: 1,
      partialCalls: 2,
      notCounted: {
        partialCalls: 2,
        unpricedCalls: 1,
        components: [
          { component: "videoSeconds", quantity: "15", calls: 2 },
          { component: "inputText", quantity: "700", calls: 1 },
          { component: "outputText", quantity: "30", calls: 1 }
        ]
      }
    })

    const show: Json = await read.request(`{
      showback(input: { month: "${month}", dimension: "team", rule: { kind: EVEN } }) {
        __typename ... on ChargebackComputation { inputs { ledgerTotal requests unpricedRequests partialRequests atRisk { component quantity partialCalls unpricedCalls } } }
      }
    }`)
    const inputs = {
      ledgerTotal: "7.5",
      requests: 3,
      unpricedRequests: 1,
      partialRequests: 2,
      atRisk: [
        { component: "videoSeconds", quantity: "15", partialCalls: 2, unpricedCalls: 0 },
        { component: "inputText", quantity: "700", partialCalls: 0, unpricedCalls: 1 },
        { component: "outputText", quantity: "30", partialCalls: 0, unpricedCalls: 1 }
      ]
    }
    expect(show.showback.inputs).toEqual(inputs)
    const run: Json = await admin.request(`mutation {
      runChargeback(input: { month: "${month}", dimension: "team" }) {
        __typename ... on ChargebackRun { id inputs { ledgerTotal requests unpricedRequests partialRequests atRisk { component quantity partialCalls unpricedCalls } } }
      }
    }`)
    expect(run.runChargeback.inputs).toEqual(inputs)
    // Read back from the stored run: the same.
    const stored: Json = await read.request(`{
      chargebackRun(id: "${run.runChargeback.id}") { ... on ChargebackRun { inputs { partialRequests atRisk { component quantity } } } }
    }`)
    expect(stored.chargebackRun.inputs).toEqual({ partialRequests: 2, atRisk: inputs.atRisk.map(({ component, quantity }) => ({ component, quantity })) })

    const coverage: Json = await read.request(`{
      coverage(from: "${from}", to: "${next}") {
        ... on CoverageReport { unmatchedCalls partialModels partialCalls entries { model kind status calls missingComponents } }
      }
    }`)
    expect(coverage.coverage).toMatchObject({ unmatchedCalls: 1, partialModels: 1, partialCalls: 2 })
    expect(coverage.coverage.entries).toEqual([
      { model: "house-mystery-7", kind: "UNPRICED", status: "UNMATCHED", calls: 1, missingComponents: [] },
      { model: "gpt-4o", kind: "PARTIAL", status: "UNPRICED_BUCKET", calls: 2, missingComponents: ["videoSeconds"] }
    ])
  })
})
