/**
 * Changing a budget end to end over real HTTP: `updateBudget` through a real GraphQL client and
 * `PATCH /api/v1/budgets/:id`, against the worker listening on a random port over a real database.
 * A change that puts spend past a threshold is announced at once through the outbox; the change is
 * in the budget's history with the key that made it; what cannot change is refused with a typed
 * error.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Outbox } from "../packages/store/src/index.ts"
import { client, ClientError, ingest, newTenant, type TestTenant, usageEvent } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, postJson, request, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const budgetFields = `__typename
  ... on Budget { id name amount thresholds action period scope { project } archivedAt
    status { spent percent crossed { threshold spent } }
    changes { action actor at fields { field from to } } }
  ... on Error { message }
  ... on InvalidInput { field }
  ... on NotFound { resource missingId: id }
  ... on Forbidden { requiredScope }`

describe.each(targets)("budget updates over HTTP on %s", (target) => {
  let database: TestDatabase
  let server: InProcess

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
  }, 300_000)

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  const keyIdOf = async (key: string): Promise<string> => {
    const viewer: Json = await client(server, key).request(`{ viewer { ... on Viewer { apiKeyId } } }`)
    return viewer.viewer.apiKeyId
  }

  const crossingsOf = async (tenant: TestTenant, budgetId: string) => {
    const messages = await server.run(Outbox.Outbox.use((o) => o.list(tenant.id, { kind: "budget.threshold_crossed" })))
    return messages
      .filter((m) => (m.payload["budget"] as { id: string }).id === budgetId)
      .map((m) => ({ threshold: m.payload["threshold"], amount: m.payload["amount"], spent: m.payload["spent"], percent: m.payload["percent"] }))
      .sort((a, b) => Number(a.threshold) - Number(b.threshold))
  }

  const createBudget = async (tenant: TestTenant, input: string): Promise<string> => {
    const created: Json = await client(server, tenant.admin).request(`mutation { createBudget(input: { ${input} }) { ... on Budget { id } } }`)
    return created.createBudget.id
  }

  it("updateBudget changes a budget, announces a threshold the new amount has already reached, and keeps who changed what", async () => {
    const tenant = await newTenant(server, { name: "Update Co" })
    const admin = client(server, tenant.admin)
    const adminKeyId = await keyIdOf(tenant.admin)
    const id = await createBudget(tenant, `name: "search", period: MONTH, amount: "10", thresholds: ["50", "100"], scope: { project: "search" }`)
    // gpt-4o input at 2.50 per million tokens: 6 of 10 spent, 50% announced by ingest.
    await ingest(server, tenant, [usageEvent("u-1", new Date().toISOString(), { labels: { project: "search" }, inputText: 2_400_000, outputText: 0 })])
    expect(await crossingsOf(tenant, id)).toEqual([{ threshold: "50", amount: "10", spent: "6", percent: "60" }])

    const updated: Json = await admin.request(
      `mutation($id: ID!, $input: UpdateBudgetInput!) { updateBudget(id: $id, input: $input) { ${budgetFields} } }`,
      { id, input: { amount: "5", name: "search monthly", action: "BLOCK" } }
    )
    expect(updated.updateBudget).toMatchObject({
      __typename: "Budget",
      id,
      name: "search monthly",
      amount: "5",
      action: "BLOCK",
      thresholds: ["50", "100"],
      period: "MONTH",
      scope: { project: "search" },
      archivedAt: null
    })
    // Lowering the amount below spend crossed 100% at once: recorded, shown and in the outbox.
    expect(updated.updateBudget.status).toEqual({
      spent: "6",
      percent: "120",
      crossed: [{ threshold: "50", spent: "6" }, { threshold: "100", spent: "6" }]
    })
    expect(await crossingsOf(tenant, id)).toEqual([
      { threshold: "50", amount: "10", spent: "6", percent: "60" },
      { threshold: "100", amount: "5", spent: "6", percent: "120" }
    ])
    expect(updated.updateBudget.changes).toEqual([{
      action: "UPDATED",
      actor: adminKeyId,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      fields: [
        { field: "name", from: "search", to: "search monthly" },
        { field: "amount", from: "10", to: "5" },
        { field: "action", from: "alert", to: "block" }
      ]
    }])

    // The new terms hold at once: the block budget is overspent and refuses the next call.
    const check: Json = await client(server, tenant.read).request(`{
      budgetCheck(labels: { project: "search" }, estimatedCost: "0.01") { ... on BudgetDecision { allowed deniedBy } }
    }`)
    expect(check.budgetCheck).toEqual({ allowed: false, deniedBy: [id] })

    // Another change announces nothing twice.
    const renamed: Json = await admin.request(`mutation { updateBudget(id: "${id}", input: { name: "search (monthly)" }) { ${budgetFields} } }`)
    expect(renamed.updateBudget.changes.map((c: Json) => c.fields.map((f: Json) => f.field))).toEqual([["name", "amount", "action"], ["name"]])
    expect(await crossingsOf(tenant, id)).toHaveLength(2)

    // The alert history: every crossing with its period, spend and the amount it was measured against.
    const history: Json = await client(server, tenant.read).request(`{ budget(id: "${id}") { ... on Budget {
      status { periodStart periodEnd }
      alerts { periodStart periodEnd threshold spent budgetAmount currency crossedAt }
    } } }`)
    const { periodStart, periodEnd } = history.budget.status
    expect(history.budget.alerts).toEqual([
      { periodStart, periodEnd, threshold: "50", spent: "6", budgetAmount: "10", currency: "USD", crossedAt: expect.stringMatching(/^\d{4}-/) },
      { periodStart, periodEnd, threshold: "100", spent: "6", budgetAmount: "5", currency: "USD", crossedAt: expect.stringMatching(/^\d{4}-/) }
    ])
  })

  it("updateBudget refuses with typed errors: a read key, bad values, unknown and foreign ids, fixed fields, archived budgets", async () => {
    const tenant = await newTenant(server, { name: "Refusals Co" })
    const other = await newTenant(server, { name: "Other Co" })
    const admin = client(server, tenant.admin)
    const id = await createBudget(tenant, `name: "team", period: DAY, amount: "10"`)
    const theirs = await createBudget(other, `name: "theirs", period: DAY, amount: "10"`)

    const read: Json = await client(server, tenant.read).request(`mutation { updateBudget(id: "${id}", input: { amount: "1" }) { ${budgetFields} } }`)
    expect(read.updateBudget).toMatchObject({ __typename: "Forbidden", requiredScope: "admin" })
    expect(read.updateBudget.message).toMatch(/"admin" scope/)

    const refused: Json = await admin.request(`mutation {
      zero: updateBudget(id: "${id}", input: { amount: "0" }) { ${budgetFields} }
      twice: updateBudget(id: "${id}", input: { thresholds: ["50", "50.0"] }) { ${budgetFields} }
      range: updateBudget(id: "${id}", input: { thresholds: ["50", "1001"] }) { ${budgetFields} }
      empty: updateBudget(id: "${id}", input: {}) { ${budgetFields} }
      unknown: updateBudget(id: "00000000-0000-4000-8000-000000000000", input: { amount: "1" }) { ${budgetFields} }
      foreign: updateBudget(id: "${theirs}", input: { amount: "1" }) { ${budgetFields} }
    }`)
    expect(refused.zero).toMatchObject({ __typename: "InvalidInput", field: "amount", message: "amount: expected a positive decimal, got 0" })
    expect(refused.twice).toMatchObject({ __typename: "InvalidInput", field: "thresholds", message: "thresholds: threshold 50 is given twice" })
    expect(refused.range).toMatchObject({ __typename: "InvalidInput", field: "thresholds[1]" })
    expect(refused.empty).toMatchObject({ __typename: "InvalidInput", field: "input" })
    expect(refused.empty.message).toMatch(/^input: expected at least one of name, amount, thresholds, action/)
    expect(refused.unknown).toMatchObject({ __typename: "NotFound", resource: "budget", missingId: "00000000-0000-4000-8000-000000000000" })
    expect(refused.foreign).toMatchObject({ __typename: "NotFound", resource: "budget", missingId: theirs })

    // Period, scope and currency are not in the input type: the schema itself refuses them.
    const period = await admin.request(`mutation { updateBudget(id: "${id}", input: { period: WEEK }) { __typename } }`).catch((error: unknown) => error)
    expect(period).toBeInstanceOf(ClientError)
    expect((period as ClientError).response.errors?.[0]?.message).toMatch(/"period" is not defined by type "UpdateBudgetInput"/)

    // Nothing above changed either budget.
    const unchanged: Json = await client(server, tenant.read).request(`{ budget(id: "${id}") { ... on Budget { amount thresholds changes { action } } } }`)
    expect(unchanged.budget).toEqual({ amount: "10", thresholds: ["80", "100"], changes: [] })
    const theirsNow: Json = await client(server, other.read).request(`{ budget(id: "${theirs}") { ... on Budget { amount changes { action } } } }`)
    expect(theirsNow.budget).toEqual({ amount: "10", changes: [] })

    await admin.request(`mutation { deleteBudget(id: "${id}") { __typename } }`)
    const archived: Json = await admin.request(`mutation { updateBudget(id: "${id}", input: { amount: "1" }) { ${budgetFields} } }`)
    expect(archived.updateBudget.__typename).toBe("Conflict")
    expect(archived.updateBudget.message).toMatch(/was archived at .* create a new budget instead$/)
    const history: Json = await client(server, tenant.read).request(`{ budget(id: "${id}") { ... on Budget { changes { action actor fields { field from } } } } }`)
    expect(history.budget.changes).toEqual([{ action: "ARCHIVED", actor: await keyIdOf(tenant.admin), fields: [{ field: "archivedAt", from: null }] }])
  })

  it("PATCH /api/v1/budgets/:id changes a budget with an admin key; errors name the field in the worker's error body", async () => {
    const tenant = await newTenant(server, { name: "Rest Co" })
    const created = await postJson(`${server.url}/api/v1/budgets`, tenant.admin, { name: "rest", period: "day", amount: "10", scope: { team: "a" } })
    expect(created.status).toBe(201)
    const id = created.json.id as string
    /** PATCH with the admin key, another key, or (null) none; a string body is sent as it is. */
    const patch = (budgetId: string, body: unknown, key: string | null = tenant.admin) =>
      request(`${server.url}/api/v1/budgets/${budgetId}`, {
        method: "PATCH",
        body: typeof body === "string" ? body : JSON.stringify(body),
        headers: { "content-type": "application/json", ...(key === null ? {} : { authorization: `Bearer ${key}` }) }
      })

    const ok = await patch(id, { amount: "20", thresholds: [25, "50"], period: "day", scope: { team: "a" } })
    expect(ok.status).toBe(200)
    expect(ok.json).toMatchObject({ id, name: "rest", amount: "20", thresholds: ["25", "50"], period: "day", scope: { team: "a" }, action: "alert" })

    const errors = [
      [{ period: "week" }, 422, "invalid_request", /^period: a budget's period cannot be changed .*; create a new budget instead$/],
      [{ scope: { team: "b" } }, 422, "invalid_request", /^scope: a budget's scope cannot be changed .*; create a new budget instead$/],
      [{ amount: 5 }, 422, "invalid_request", /^amount: /],
      [{ amount: "-1" }, 422, "invalid_request", /^amount: expected a positive decimal, got -1$/],
      [{ colour: "red" }, 422, "invalid_request", /^colour: /],
      [{}, 422, "invalid_request", /^\(input\): expected at least one of name, amount, thresholds, action/]
    ] as const
    for (const [body, status, code, message] of errors) {
      const reply = await patch(id, body)
      expect([reply.status, reply.json.error.code], JSON.stringify(body)).toEqual([status, code])
      expect(reply.json.error.message).toMatch(message)
    }
    expect((await patch(id, { amount: "1" }, tenant.read)).status).toBe(403)
    expect((await patch(id, { amount: "1" }, null)).status).toBe(401)
    expect((await patch("00000000-0000-4000-8000-000000000000", { amount: "1" })).json.error.code).toBe("not_found")
    expect((await patch("not-a-uuid", { amount: "1" })).status).toBe(404)
    expect((await patch(id, "{not json")).status).toBe(400)

    const history: Json = await client(server, tenant.read).request(`{ budget(id: "${id}") { ... on Budget { amount changes { actor fields { field } } } } }`)
    expect(history.budget).toEqual({ amount: "20", changes: [{ actor: await keyIdOf(tenant.admin), fields: [{ field: "amount" }, { field: "thresholds" }] }] })

    await client(server, tenant.admin).request(`mutation { deleteBudget(id: "${id}") { __typename } }`)
    const archived = await patch(id, { name: "again" })
    expect(archived.status).toBe(409)
    expect(archived.json.error.code).toBe("budget_archived")
    expect(archived.json.error.message).toMatch(/create a new budget instead$/)
  })
})
