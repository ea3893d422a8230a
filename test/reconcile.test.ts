/**
 * Reconciliation through the worker's APIs end to end: usage ingested over HTTP into a real
 * database, a provider CSV report uploaded with `POST /api/v1/reconcile/reports`, the run started
 * with the `runReconciliation` mutation (graphql-request) naming the upload, and its findings read
 * back with `reconciliation(from, to)`: a day the provider billed that the ledger never saw is
 * `missing-on-our-side`, with the provider's amount as an exact decimal string.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { client, ingest, newTenant, type TestTenant, usageEvent } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, request, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"

const march = { from: "2025-03-01T00:00:00Z", to: "2025-04-01T00:00:00Z" }

// The provider's view: 03-03 matches the ingested call in tokens; 03-10 is usage Tally never saw.
const csv = [
  "date,provider,model,project,input_tokens,output_tokens,cost,currency",
  "2025-03-03,openai,gpt-4o-2024-08-06,web,1000,200,0.0045,USD",
  "2025-03-10,openai,gpt-4o-mini,web,50000,9000,1.2500,USD"
].join("\n")

const runMutation = `mutation ($from: DateTime!, $to: DateTime!, $reportIds: [ID!]) {
  runReconciliation(from: $from, to: $to, reportIds: $reportIds) {
    __typename
    ... on ReconciliationRun { id summary findings { kind severity model reportedCost computedCost currency evidence } }
    ... on Error { message }
  }
}`

const readQuery = `query ($from: DateTime!, $to: DateTime!) {
  reconciliation(from: $from, to: $to) {
    __typename
    ... on ReconciliationRun { id findings { kind severity reportedCost } }
  }
}`

interface FindingView {
  readonly kind: string
  readonly severity: string
  readonly model: string | null
  readonly reportedCost: string | null
  readonly computedCost: string | null
  readonly currency: string | null
  readonly evidence: unknown
}

describe.each(targets)("reconciliation over HTTP and GraphQL on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let tenant: TestTenant

  const upload = (query: string, body: string, key = tenant.admin) =>
    request(`${server.url}/api/v1/reconcile/reports${query}`, { method: "POST", body, headers: { authorization: `Bearer ${key}`, "content-type": "text/csv" } })

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    tenant = await newTenant(server, { name: "Reconcile Co" })
    await ingest(server, tenant, [
      usageEvent("r1", "2025-03-03T10:00:00Z", { labels: { project: "web" }, inputText: 1000, outputText: 200 }),
      usageEvent("r2", "2025-04-02T10:00:00Z", { labels: { project: "web" } })
    ])
  }, 180_000)

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  it("an uploaded report is run against the ledger and a day we never saw is missing on our side", async () => {
    const uploaded = await upload("?format=csv&name=march", csv)
    expect(uploaded.status).toBe(201)
    expect(uploaded.json).toMatchObject({
      format: "csv",
      provider: "openai",
      name: "march",
      rowCount: 2,
      period: { from: "2025-03-03T00:00:00.000Z", to: "2025-03-11T00:00:00.000Z" }
    })

    const graphql = client(server, tenant.admin)
    const { runReconciliation: run } = await graphql.request<{ runReconciliation: { __typename: string; id: string; summary: { rows: number }; findings: ReadonlyArray<FindingView> } }>(
      runMutation,
      { ...march, reportIds: [uploaded.json.id] }
    )
    expect(run.__typename).toBe("ReconciliationRun")
    expect(run.summary.rows).toBe(1)
    const missing = run.findings.filter((f) => f.kind === "missing-on-our-side")
    expect(missing).toHaveLength(1)
    expect(missing[0]).toMatchObject({ severity: "ERROR", reportedCost: "1.25", currency: "USD" })
    expect(missing[0]!.model).toMatch(/^gpt-4o-mini/)

    // The stored run reads back through the query with a read key.
    const { reconciliation } = await client(server, tenant.read).request<{ reconciliation: { id: string; findings: ReadonlyArray<FindingView> } | null }>(readQuery, march)
    expect(reconciliation?.id).toBe(run.id)
    expect(reconciliation?.findings.map((f) => f.kind)).toEqual(run.findings.map((f) => f.kind))
  })

  it("bad uploads, unknown report ids, periods and scopes are answered by name", async () => {
    const badFormat = await upload("?format=xlsx", csv)
    expect(badFormat.status).toBe(400)
    expect(badFormat.json.error.code).toBe("invalid_request")
    expect(badFormat.json.error.message).toMatch(/^format: expected one of openai-costs/)
    const malformed = await upload("?format=csv", "date,cost\n2025-03-03,1\nyesterday,2")
    expect(malformed.status).toBe(422)
    expect(malformed.json.error).toEqual({ code: "invalid_report", message: "csv report: line 3: date \"yesterday\" is not YYYY-MM-DD" })
    expect((await upload("?format=csv", csv, tenant.read)).status).toBe(403)

    const graphql = client(server, tenant.admin)
    const unknown = await graphql.request<{ runReconciliation: { __typename: string; message: string } }>(runMutation, {
      ...march,
      reportIds: ["00000000-0000-0000-0000-000000000000"]
    })
    expect(unknown.runReconciliation.__typename).toBe("NotFound")
    const backwards = await graphql.request<{ runReconciliation: { __typename: string; message: string } }>(runMutation, { from: march.to, to: march.from })
    expect(backwards.runReconciliation.__typename).toBe("InvalidInput")
    const byReader = await client(server, tenant.read).request<{ runReconciliation: { __typename: string } }>(runMutation, march)
    expect(byReader.runReconciliation.__typename).toBe("Forbidden")
    const none = await graphql.request<{ reconciliation: unknown }>(readQuery, { from: "2024-01-01T00:00:00Z", to: "2024-02-01T00:00:00Z" })
    expect(none.reconciliation).toBeNull()
  })
})
