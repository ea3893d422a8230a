/**
 * Commitments and prepaid credits through GraphQL, end to end over real HTTP on PGlite and
 * PostgreSQL: an admin key creates a provisioned-throughput commitment and grants a credit pack,
 * raw Vertex payloads are ingested (one served on the capacity, one spilled over), and a read key
 * sees the commitment's report, the break-even estimate, the pack's drawdowns and the balance.
 */
import { describe, expect, it } from "vitest"
import { client, ingest, newTenant } from "./support/Graphql.ts"
import { inProcessWorker, targets } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

// gemini-2.5-flash: $0.30 per 1M input, $2.50 per 1M output. 200,000 + 100,000 tokens = 0.06 + 0.25 = 0.31.
const vertex = (trafficType: string) => ({
  candidates: [{ content: { role: "model", parts: [{ text: "…" }] }, finishReason: "STOP" }],
  usageMetadata: { promptTokenCount: 200000, candidatesTokenCount: 100000, totalTokenCount: 300000, trafficType },
  modelVersion: "gemini-2.5-flash"
})

describe.each(targets)("commitments and credits through GraphQL on %s", (target) => {
  const worker = inProcessWorker(target)

  it("a provisioned-throughput commitment, a credit pack, their reports and balances", async () => {
    const tenant = await newTenant(worker.server, { name: "Resale Co" })
    const admin = client(worker.server, tenant.admin)
    const read = client(worker.server, tenant.read)
    const created: Json = await admin.request(`mutation {
      createCommitment(input: { name: "vertex-pt", kind: PROVISIONED, provider: "google", model: "gemini-2.5-flash", currency: "USD",
        fee: "10", feePeriod: HOUR, startsAt: "2026-01-01T00:00:00Z" }) { __typename ... on Commitment { id kind fee } }
    }`)
    expect(created.createCommitment).toMatchObject({ __typename: "Commitment", kind: "PROVISIONED", fee: "10" })
    const bad: Json = await admin.request(`mutation {
      createCommitment(input: { name: "x", kind: PROVISIONED, model: "m", currency: "USD", feePeriod: HOUR, startsAt: "2026-01-01T00:00:00Z" }) {
        __typename ... on InvalidInput { field message }
      }
    }`)
    expect(bad.createCommitment).toEqual({ __typename: "InvalidInput", field: "fee", message: "fee: required for a provisioned commitment" })

    const grant: Json = await admin.request(`mutation {
      grantCredits(input: { customer: "acme", unit: "USD", amount: "0.5", effectiveAt: "2026-01-01T00:00:00Z", alertThresholds: ["0.2"] }) {
        __typename ... on CreditGrant { id remaining }
      }
    }`)
    expect(grant.grantCredits).toMatchObject({ __typename: "CreditGrant", remaining: "0.5" })

    const labels = { customer: "acme" }
    await ingest(worker.server, tenant, [
      { requestId: "pt-1", occurredAt: "2026-01-15T00:30:00Z", provider: "google", labels, payload: vertex("PROVISIONED_THROUGHPUT") },
      { requestId: "od-1", occurredAt: "2026-01-15T01:30:00Z", provider: "google", labels, payload: vertex("ON_DEMAND") }
    ])

    const report: Json = await read.request(`{
      commitment(id: "${created.createCommitment.id}") { ... on Commitment {
        report(from: "2026-01-15T00:00:00Z", to: "2026-01-15T02:00:00Z") {
          fee { amount } covered { calls onDemand { amount } charged { amount } } spillover { calls onDemand { amount } }
          utilisation effectiveCost { amount } savings { amount }
        }
      } }
      capacityBreakEven(input: { provider: "google", model: "gemini-2.5-flash", currency: "USD", fee: "730", feePeriod: MONTH, at: "2026-01-20T00:00:00Z" }) {
        ... on CapacityBreakEven { onDemand { amount } feePerMonth { amount } worthBuying }
      }
    }`)
    // Two hours at 10; the covered call would have cost 0.31, the spilled one cost 0.31.
    expect(report.commitment.report).toEqual({
      fee: { amount: "20" },
      covered: { calls: 1, onDemand: { amount: "0.31" }, charged: { amount: "0" } },
      spillover: { calls: 1, onDemand: { amount: "0.31" } },
      utilisation: "0.0155",
      effectiveCost: { amount: "20.31" },
      savings: { amount: "-19.69" }
    })
    expect(report.capacityBreakEven).toEqual({ onDemand: { amount: "0.62" }, feePerMonth: { amount: "730" }, worthBuying: false })

    // The pack pays the spilled call's 0.31 (the covered call cost 0): 0.19 left, below the 0.2 threshold.
    const credits: Json = await read.request(`{
      creditBalance(customer: "acme") { ... on QueryCreditBalanceSuccess { data { unit balance granted } } }
      creditGrants(customer: "acme") { ... on QueryCreditGrantsSuccess { data { remaining drawdowns { requestId amount basis } } } }
      commitments { ... on QueryCommitmentsSuccess { data { name kind } } }
    }`)
    expect(credits.creditBalance.data).toEqual([{ unit: "USD", balance: "0.19", granted: "0.5" }])
    expect(credits.creditGrants.data).toEqual([{ remaining: "0.19", drawdowns: [{ requestId: "od-1", amount: "0.31", basis: "COST" }] }])
    expect(credits.commitments.data).toEqual([{ name: "vertex-pt", kind: "PROVISIONED" }])
    const neither: Json = await read.request(`{ creditBalance { __typename ... on InvalidInput { field } } }`)
    expect(neither.creditBalance).toEqual({ __typename: "InvalidInput", field: "customer" })
  })
})
