/**
 * The GraphQL API end to end: a real GraphQL client over real HTTP against the worker listening
 * on a random port, on PGlite and (when TALLY_TEST_DATABASE_URL is set) PostgreSQL.
 *
 * Usage is ingested over the HTTP ingest API, then read back through GraphQL and compared with the
 * ledger read as the database owner (no row security in the way): sums, groups, pages. A second
 * tenant's data is never visible to the first tenant's keys, whatever they ask.
 */
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Money } from "../packages/core/src/index.ts"
import { Database } from "../packages/store/src/index.ts"
import { client, ClientError, ingest, newTenant, type TestTenant, usageEvent } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"
import { Effect } from "./support/Workspace.ts"

// Every GraphQL answer here is loosely typed JSON.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const teams = ["core", "growth", "ml", ""]
const models = [
  { provider: "openai", model: "gpt-4o" },
  { provider: "openai", model: "gpt-4o-mini" },
  { provider: "anthropic", model: "claude-sonnet-4-5" },
  { provider: "openai", model: "mystery-model-x" } // unpriced: usage kept, no cost
]

/** March 2025 traffic of one tenant: labels, models and times drawn reproducibly. */
const traffic = (prefix: string, count: number, seed: number) =>
  fc.sample(
    fc.record({
      at: fc.integer({ min: Date.UTC(2025, 1, 27), max: Date.UTC(2025, 3, 2) }),
      team: fc.constantFrom(...teams),
      project: fc.constantFrom("search", "chat"),
      customer: fc.constantFrom("acme", "globex", "initech"),
      workflow: fc.integer({ min: 0, max: 40 }),
      model: fc.constantFrom(...models),
      input: fc.integer({ min: 0, max: 50_000 }),
      output: fc.integer({ min: 0, max: 5_000 }),
      tag: fc.constantFrom("a", "b")
    }),
    { numRuns: count, seed }
  ).map((r, i) =>
    usageEvent(`${prefix}-${i}`, new Date(r.at).toISOString(), {
      provider: r.model.provider,
      model: r.model.model,
      labels: {
        ...(r.team === "" ? {} : { team: r.team }),
        project: r.project,
        customer: r.customer,
        workflow: `${prefix}-wf-${r.workflow}`,
        user: `${prefix}-user-${r.workflow % 7}`
      },
      tags: { variant: r.tag },
      inputText: r.input,
      outputText: r.output
    })
  )

/** A NUMERIC as PostgreSQL prints it, in the API's canonical form. */
const canonical = (text: string) => Money.format(new Money.Decimal(text))

const march = { from: "2025-02-28T23:00:00.000Z", to: "2025-03-31T22:00:00.000Z" } // March in Europe/Berlin

describe.each(targets)("GraphQL on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let a: TestTenant
  let b: TestTenant
  let bBudgetId: string
  let bKeyId: string

  /** The ledger of a tenant read as the owner. */
  const ledger = <A>(statement: string, params: ReadonlyArray<unknown>) =>
    server.run(Effect.gen(function*() {
      const { sql } = yield* Database.Database
      return (yield* sql.unsafe(statement, [...params])) as unknown as ReadonlyArray<A>
    }))

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    a = await newTenant(server, { name: "Tenant A", timeZone: "Europe/Berlin" })
    b = await newTenant(server, { name: "Tenant B", timeZone: "America/New_York" })
    await ingest(server, a, traffic("a", 1200, 1))
    await ingest(server, b, traffic("b", 300, 2))
    const created: Json = await client(server, b.admin).request(`mutation {
      createBudget(input: { name: "b secret", period: MONTH, amount: "10" }) { ... on Budget { id } }
      createModel(input: { id: "b/secret-model", provider: "openai", modelKey: "b-secret", price: { rates: { inputText: "1" } } }) { ... on ModelDefinition { id } }
      issueApiKey(name: "b extra", scopes: [READ]) { ... on IssuedApiKey { key { id } } }
    }`)
    bBudgetId = created.createBudget.id
    bKeyId = created.issueApiKey.key.id
  }, 300_000)

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  describe("usage", () => {
    it("a month by team, model and day equals the ledger grouped the same way, to the last decimal", async () => {
      const answer: Json = await client(server, a.read).request(
        `query($from: DateTime!, $to: DateTime!) {
          usage(from: $from, to: $to, groupBy: [TEAM, MODEL], granularity: DAY) {
            __typename
            ... on UsageReport {
              timeZone sources
              buckets { label group { team model } requests unpricedRequests spend { amount currency } tokens { inputText outputText } }
              totals { requests unpricedRequests spend { amount currency } tokens { inputText outputText total } }
            }
          }
        }`,
        march
      )
      const report = answer.usage
      expect(report.__typename).toBe("UsageReport")
      expect(report.timeZone).toBe("Europe/Berlin")
      expect(report.sources).toContain("DAILY")
      const rows = await ledger<{ day: string; team: string; model: string; requests: string; unpriced: string; cost: string; input: string; output: string }>(
        `SELECT to_char(occurred_at AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD') AS day, team, model,
            count(*)::text AS requests, count(*) FILTER (WHERE cost_source = 'unpriced')::text AS unpriced,
            coalesce(sum(total), 0)::text AS cost, coalesce(sum(input_text), 0)::text AS input, coalesce(sum(output_text), 0)::text AS output
          FROM tally.usage_ledger WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
        [a.id, march.from, march.to]
      )
      const expected = rows.map((r) => ({
        label: r.day,
        team: r.team,
        model: r.model,
        requests: Number(r.requests),
        unpriced: Number(r.unpriced),
        cost: r.cost === "0" ? [] : [canonical(r.cost)],
        input: Number(r.input),
        output: Number(r.output)
      }))
      const actual = report.buckets.map((bucket: Json) => ({
        label: bucket.label,
        team: bucket.group.team,
        model: bucket.group.model,
        requests: bucket.requests,
        unpriced: bucket.unpricedRequests,
        cost: bucket.spend.map((s: Json) => s.amount),
        input: bucket.tokens.inputText,
        output: bucket.tokens.outputText
      }))
      const key = (x: { label: string; team: string | null; model: string }) => `${x.label}|${x.team ?? ""}|${x.model}`
      expect(actual.map(key).sort()).toEqual(expected.map(key).sort())
      const byKey = new Map(expected.map((e) => [key(e), e]))
      for (const bucket of actual) {
        const want = byKey.get(key(bucket))!
        expect(bucket).toEqual({ ...want, team: want.team === null || want.team === "" ? null : want.team })
      }
      const [total] = await ledger<{ requests: string; cost: string }>(
        `SELECT count(*)::text AS requests, coalesce(sum(total), 0)::text AS cost FROM tally.usage_ledger
          WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3`,
        [a.id, march.from, march.to]
      )
      expect(report.totals.requests).toBe(Number(total!.requests))
      expect(report.totals.spend).toHaveLength(1)
      expect(report.totals.spend[0].amount).toBe(canonical(total!.cost))
    })

    it("series: the same month as one row per group with its points in time order, each point a bucket of the answer", async () => {
      const answer: Json = await client(server, a.read).request(
        `query($from: DateTime!, $to: DateTime!) {
          usage(from: $from, to: $to, groupBy: [TEAM, MODEL], granularity: DAY) {
            ... on UsageReport {
              buckets { label start group { team model } requests unpricedRequests spend { amount currency } tokens { inputText outputText total } }
              series { group { team model } labels starts requests unpricedRequests spend { currency amounts } tokens { inputText outputText total } }
            }
          }
        }`,
        march
      )
      const { buckets, series } = answer.usage
      const groupKey = (g: Json) => `${g.team ?? ""}|${g.model}`
      expect(new Set(series.map((s: Json) => groupKey(s.group))).size).toBe(series.length)
      const points = series.flatMap((s: Json) => {
        expect([...s.labels].sort()).toEqual(s.labels)
        for (const list of [s.starts, s.requests, s.unpricedRequests, s.tokens.inputText, s.tokens.outputText, s.tokens.total]) expect(list).toHaveLength(s.labels.length)
        for (const money of s.spend) expect(money.amounts).toHaveLength(s.labels.length)
        return s.labels.map((label: string, i: number) => ({
          label,
          start: s.starts[i],
          group: s.group,
          requests: s.requests[i],
          unpricedRequests: s.unpricedRequests[i],
          spend: s.spend.filter((m: Json) => m.amounts[i] !== "0").map((m: Json) => ({ amount: m.amounts[i], currency: m.currency })),
          tokens: { inputText: s.tokens.inputText[i], outputText: s.tokens.outputText[i], total: s.tokens.total[i] }
        }))
      })
      const order = (x: Json) => `${x.label}|${groupKey(x.group)}`
      expect(points.map(order).sort()).toEqual(buckets.map(order).sort())
      const byKey = new Map(buckets.map((b: Json) => [order(b), b]))
      for (const point of points) expect(point).toEqual(byKey.get(order(point)))
    })

    it("every granularity, source and filter adds up to the same ledger totals", async () => {
      const c = client(server, a.read)
      const [total] = await ledger<{ requests: string; cost: string }>(
        `SELECT count(*)::text AS requests, coalesce(sum(total), 0)::text AS cost FROM tally.usage_ledger
          WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND project = 'search'`,
        [a.id, "2025-03-03T10:17:00Z", "2025-03-29T05:00:00Z"]
      )
      for (const granularity of ["HOUR", "DAY", "MONTH", "TOTAL"]) {
        for (const groupBy of ["[]", "[CUSTOMER]", "[END_USER]", "[CURRENCY, PROVIDER]"]) {
          const answer: Json = await c.request(`{
            usage(from: "2025-03-03T10:17:00Z", to: "2025-03-29T05:00:00Z", granularity: ${granularity}, groupBy: ${groupBy}, filter: { project: ["search"] }) {
              ... on UsageReport { buckets { requests spend { amount } } totals { requests spend { amount } } }
            }
          }`)
          const report = answer.usage
          expect(report.totals.requests).toBe(Number(total!.requests))
          expect(report.totals.spend[0].amount).toBe(canonical(total!.cost))
          const bucketSum = report.buckets.reduce((sum: Money.Decimal, bucket: Json) => sum.plus(bucket.spend[0]?.amount ?? "0"), Money.ZERO)
          expect(Money.format(bucketSum)).toBe(canonical(total!.cost))
          expect(report.buckets.reduce((n: number, bucket: Json) => n + bucket.requests, 0)).toBe(Number(total!.requests))
        }
      }
    })

    it("tags and workflows group from the ledger; a bad range is an InvalidInput naming the field", async () => {
      const c = client(server, a.read)
      const tagged: Json = await c.request(`{
        usage(from: "${march.from}", to: "${march.to}", granularity: TOTAL, groupByTags: ["variant"]) {
          ... on UsageReport { sources buckets { group { tags { key value } } requests } }
        }
      }`)
      expect(tagged.usage.sources).toEqual(["LEDGER"])
      expect(tagged.usage.buckets.map((b: Json) => b.group.tags[0].value).sort()).toEqual(["a", "b"])
      const bad: Json = await c.request(`{ usage(from: "${march.to}", to: "${march.from}") { __typename ... on InvalidInput { field message } } }`)
      expect(bad.usage).toMatchObject({ __typename: "InvalidInput", field: "to" })
      const zone: Json = await c.request(`{ usage(from: "${march.from}", to: "${march.to}", timeZone: "Mars/Base") { __typename ... on InvalidInput { field } } }`)
      expect(zone.usage).toMatchObject({ __typename: "InvalidInput", field: "timeZone" })
    })

    it("unit costs count distinct units and keep unattributed spend apart", async () => {
      const answer: Json = await client(server, a.read).request(`{
        unitCosts(from: "${march.from}", to: "${march.to}") {
          ... on UnitCosts { units { kind units requests spend { amount } average { amount } unattributedRequests top(first: 3) { unit requests spend { amount } } } }
        }
      }`)
      const byKind = Object.fromEntries(answer.unitCosts.units.map((u: Json) => [u.kind, u]))
      const [row] = await ledger<{ requests: string; workflows: string; customers: string; noteam: string }>(
        `SELECT count(*)::text AS requests, count(DISTINCT workflow)::text AS workflows, count(DISTINCT customer)::text AS customers,
            count(*) FILTER (WHERE feature IS NULL)::text AS noteam
          FROM tally.usage_ledger WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3`,
        [a.id, march.from, march.to]
      )
      expect(byKind.REQUEST.units).toBe(Number(row!.requests))
      expect(byKind.WORKFLOW.units).toBe(Number(row!.workflows))
      expect(byKind.CUSTOMER.units).toBe(Number(row!.customers))
      expect(byKind.FEATURE.units).toBe(0)
      expect(byKind.FEATURE.unattributedRequests).toBe(Number(row!.noteam))
      expect(byKind.CUSTOMER.top).toHaveLength(3)
      expect(byKind.REQUEST.top).toEqual([])
    })

    it("coverage lists the unpriced model with its calls", async () => {
      const answer: Json = await client(server, a.read).request(`{
        coverage(from: "${march.from}", to: "${march.to}", referenceModel: "openai/gpt-4o") {
          ... on CoverageReport { unmatchedModels unmatchedCalls costAtRisk { amount currency } entries { model status calls tokensAtRisk costAtRisk { amount } } }
        }
      }`)
      const [row] = await ledger<{ n: string }>(
        `SELECT count(*)::text AS n FROM tally.usage_ledger WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND cost_source = 'unpriced'`,
        [a.id, march.from, march.to]
      )
      expect(answer.coverage.unmatchedModels).toBe(1)
      expect(answer.coverage.entries).toHaveLength(1)
      expect(answer.coverage.entries[0]).toMatchObject({ model: "mystery-model-x", status: "UNMATCHED", calls: Number(row!.n) })
      expect(answer.coverage.costAtRisk[0].currency).toBe("USD")
    })
  })

  describe("records", () => {
    it("usageSpan is the first and last call's instants; null before any call", async () => {
      const answer: Json = await client(server, a.read).request(`{ usageSpan { ... on UsageSpan { first last } } }`)
      const [row] = await ledger<{ first: Date; last: Date }>(
        `SELECT min(occurred_at) AS first, max(occurred_at) AS last FROM tally.usage_ledger WHERE tenant_id = $1`,
        [a.id]
      )
      expect(answer.usageSpan).toEqual({ first: row!.first.toISOString(), last: row!.last.toISOString() })
      const empty = await newTenant(server, { name: "No calls yet" })
      const none: Json = await client(server, empty.read).request(`{ usageSpan { ... on UsageSpan { first } } }`)
      expect(none.usageSpan).toBeNull()
      const forbidden: Json = await client(server, a.ingest).request(`{ usageSpan { __typename ... on Forbidden { requiredScope } } }`)
      expect(forbidden.usageSpan).toEqual({ __typename: "Forbidden", requiredScope: "read" })
    })

    it("page newest first, without gaps or repeats, and the raw payload comes only when asked", async () => {
      const c = client(server, a.read)
      const seen: Array<string> = []
      let after: string | null = null
      let pages = 0
      const filter = `{ from: "2025-03-10T00:00:00Z", to: "2025-03-12T00:00:00Z" }`
      for (;;) {
        const answer: Json = await c.request(
          `query($after: String) { usageRecords(first: 7, after: $after, filter: ${filter}) {
            ... on UsageRecordConnection { pageInfo { hasNextPage endCursor } edges { cursor node { requestId occurredAt costSource cost { amount } } } }
          } }`,
          { after }
        )
        const page = answer.usageRecords
        seen.push(...page.edges.map((e: Json) => e.node.requestId))
        pages++
        if (!page.pageInfo.hasNextPage) break
        after = page.pageInfo.endCursor
      }
      const rows = await ledger<{ request_id: string }>(
        `SELECT request_id FROM tally.usage_ledger WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3
          ORDER BY occurred_at DESC, request_id DESC`,
        [a.id, "2025-03-10T00:00:00Z", "2025-03-12T00:00:00Z"]
      )
      expect(seen).toEqual(rows.map((r) => r.request_id))
      expect(pages).toBe(Math.max(1, Math.ceil(rows.length / 7)))

      const detail: Json = await c.request(`{ usageRecords(first: 3, filter: { costSource: [COMPUTED] }) {
        ... on UsageRecordConnection { edges { node {
          requestId cost { amount currency } computedCost { amount } reportedCost { amount } costSource
          lines { component quantity unitPrice amount } snapshotId snapshot { id rates { inputText } } definition { id } raw labels { team } tags { key value }
        } } }
      } }`)
      for (const { node } of detail.usageRecords.edges) {
        expect(node.snapshot.id).toBe(node.snapshotId)
        expect(node.raw).toMatchObject({ tokens: expect.any(Object) })
        const sum = node.lines.reduce((s: Money.Decimal, l: Json) => s.plus(l.amount), Money.ZERO)
        expect(Money.format(sum)).toBe(node.cost.amount)
        expect(node.computedCost.amount).toBe(node.cost.amount)
      }
      const bad: Json = await c.request(`{ usageRecords(first: 2, after: "not-a-cursor") { __typename ... on InvalidInput { field } } }`)
      expect(bad.usageRecords).toMatchObject({ __typename: "InvalidInput", field: "after" })
      const tooMany: Json = await c.request(`{ usageRecords(first: 501) { __typename ... on InvalidInput { field } } }`)
      expect(tooMany.usageRecords).toMatchObject({ __typename: "InvalidInput", field: "first" })
    })

    it("models page through the catalog and show their price history", async () => {
      const c = client(server, a.read)
      const ids: Array<string> = []
      let after: string | null = null
      for (let i = 0; i < 3; i++) {
        const answer: Json = await c.request(
          `query($after: String) { models(first: 5, provider: "openai", after: $after) { ... on ModelDefinitionConnection { pageInfo { hasNextPage endCursor } edges { node { id provider } } } } }`,
          { after }
        )
        ids.push(...answer.models.edges.map((e: Json) => e.node.id))
        expect(answer.models.edges.every((e: Json) => e.node.provider === "openai")).toBe(true)
        after = answer.models.pageInfo.endCursor
      }
      expect(new Set(ids).size).toBe(15)
      const one: Json = await c.request(`{ model(id: "openai/gpt-4o") { ... on ModelDefinition { id maintainer history { version snapshotId rates { inputText outputText } } priceAt(at: "2025-03-10T00:00:00Z") { version } } } }`)
      expect(one.model).toMatchObject({ id: "openai/gpt-4o", maintainer: "BUILT_IN" })
      expect(one.model.history[0].rates.inputText).toBe("2.5")
    })
  })

  describe("isolation", () => {
    it("tenant A's keys never see tenant B's usage, records, models, budgets, keys or runs", async () => {
      const c = client(server, a.admin)
      const answer: Json = await c.request(`{
        usage(from: "2025-01-01T00:00:00Z", to: "2025-06-01T00:00:00Z", granularity: TOTAL) { ... on UsageReport { totals { requests } } }
        usageRecords(first: 5, filter: { requestId: ["b-0", "b-1", "b-2"] }) { ... on UsageRecordConnection { edges { node { requestId } } } }
        prefixed: usageRecords(first: 100, filter: { usage: { workflow: ["b-wf-1", "b-wf-2"] } }) { ... on UsageRecordConnection { edges { node { requestId } } } }
        model(id: "b/secret-model") { __typename ... on NotFound { resource id } }
        models(first: 100, search: "secret") { ... on ModelDefinitionConnection { edges { node { id } } } }
        budget(id: "${bBudgetId}") { __typename ... on NotFound { resource } }
        budgets(first: 50, includeArchived: true) { ... on BudgetConnection { edges { node { id } } } }
        apiKeys(first: 50) { ... on ApiKeyConnection { edges { node { id } } } }
        chargebackRuns(first: 50) { ... on ChargebackRunConnection { edges { node { id } } } }
        priceBook { ... on PriceBook { customDefinitionIds } }
        viewer { ... on Viewer { tenant { id } } }
      }`)
      const [count] = await ledger<{ n: string }>(`SELECT count(*)::text AS n FROM tally.usage_ledger WHERE tenant_id = $1`, [a.id])
      expect(answer.usage.totals.requests).toBe(Number(count!.n))
      expect(answer.usageRecords.edges).toEqual([])
      expect(answer.prefixed.edges).toEqual([])
      expect(answer.model).toMatchObject({ __typename: "NotFound", resource: "model", id: "b/secret-model" })
      expect(answer.models.edges).toEqual([])
      expect(answer.budget.__typename).toBe("NotFound")
      expect(answer.budgets.edges).toEqual([])
      expect(answer.apiKeys.edges.map((e: Json) => e.node.id)).not.toContain(bKeyId)
      expect(answer.apiKeys.edges).toHaveLength(3)
      expect(answer.chargebackRuns.edges).toEqual([])
      expect(answer.priceBook.customDefinitionIds).toEqual([])
      expect(answer.viewer.tenant.id).toBe(a.id)
    })

    it("guessing B's ids in changes reads as not found and changes nothing of B's", async () => {
      const c = client(server, a.admin)
      const answer: Json = await c.request(`mutation {
        deleteBudget(id: "${bBudgetId}") { __typename ... on NotFound { resource } }
        revokeApiKey(id: "${bKeyId}") { __typename ... on NotFound { resource } }
        updateModel(input: { id: "b/secret-model", displayName: "hijacked" }) { __typename ... on NotFound { resource } }
        setPriceOverride(definitionId: "b/secret-model", price: { rates: { inputText: "0" } }) { __typename ... on NotFound { resource } }
        finalizeChargebackRun(id: "00000000-0000-4000-8000-000000000000") { __typename ... on NotFound { resource } }
      }`)
      expect(answer.deleteBudget.__typename).toBe("NotFound")
      expect(answer.revokeApiKey.__typename).toBe("NotFound")
      expect(answer.updateModel.__typename).toBe("NotFound")
      expect(answer.setPriceOverride.__typename).toBe("NotFound")
      expect(answer.finalizeChargebackRun.__typename).toBe("NotFound")
      const theirs: Json = await client(server, b.read).request(`{
        budget(id: "${bBudgetId}") { ... on Budget { archivedAt } }
        model(id: "b/secret-model") { ... on ModelDefinition { displayName } }
        usage(from: "2025-01-01T00:00:00Z", to: "2025-06-01T00:00:00Z", granularity: TOTAL) { ... on UsageReport { totals { requests } } }
      }`)
      expect(theirs.budget.archivedAt).toBeNull()
      expect(theirs.model.displayName).toBeNull()
      expect(theirs.usage.totals.requests).toBe(300)
    })
  })

  describe("auth and limits", () => {
    it("no key, a malformed header or a revoked key is 401 before anything runs", async () => {
      for (const headers of [{}, { authorization: "Basic abc" }, { authorization: "Bearer tly_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }]) {
        const error = await client(server, undefined).request("{ viewer { __typename } }", {}, headers).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ClientError)
        expect((error as ClientError).response.status).toBe(401)
        expect((error as ClientError).response.errors?.[0]?.extensions?.["code"]).toBe("UNAUTHENTICATED")
      }
      const issued: Json = await client(server, a.admin).request(`mutation { issueApiKey(name: "short-lived", scopes: [READ]) { ... on IssuedApiKey { secret key { id } } } }`)
      const temporary = client(server, issued.issueApiKey.secret)
      expect(((await temporary.request("{ viewer { ... on Viewer { scopes } } }")) as Json).viewer.scopes).toEqual(["read"])
      await client(server, a.admin).request(`mutation { revokeApiKey(id: "${issued.issueApiKey.key.id}") { ... on ApiKey { revokedAt } } }`)
      const refused = await temporary.request("{ viewer { __typename } }").catch((e: unknown) => e)
      expect((refused as ClientError).response.status).toBe(401)
    })

    it("an ingest key may read nothing and a read key may change nothing: Forbidden results", async () => {
      const ingestOnly: Json = await client(server, a.ingest).request(`{
        usage(from: "${march.from}", to: "${march.to}") { __typename ... on Forbidden { requiredScope message } }
        budgets { __typename ... on Forbidden { requiredScope } }
      }`)
      expect(ingestOnly.usage).toMatchObject({ __typename: "Forbidden", requiredScope: "read" })
      expect(ingestOnly.budgets.__typename).toBe("Forbidden")
      const readOnly: Json = await client(server, a.read).request(`mutation {
        createBudget(input: { name: "x", period: DAY, amount: "1" }) { __typename ... on Forbidden { requiredScope } }
        issueApiKey(name: "x", scopes: [ADMIN]) { __typename ... on Forbidden { requiredScope } }
        runChargeback(input: { month: "2025-03", dimension: "team" }) { __typename ... on Forbidden { requiredScope } }
      }`)
      for (const field of ["createBudget", "issueApiKey", "runChargeback"]) {
        expect(readOnly[field]).toMatchObject({ __typename: "Forbidden", requiredScope: "admin" })
      }
      const keys: Json = await client(server, a.read).request(`{ apiKeys { __typename ... on Forbidden { requiredScope } } }`)
      expect(keys.apiKeys).toMatchObject({ __typename: "Forbidden", requiredScope: "admin" })
    })

    it("too deep, too costly and too broad queries are refused before any resolver runs", async () => {
      const c = client(server, a.read)
      const nested = (levels: number): string => (levels === 0 ? "id" : `status { budget { ${nested(levels - 1)} } }`)
      const deep = `{ budgets { ... on BudgetConnection { edges { node { ${nested(5)} } } } } }`
      const refusedDeep = await c.request(deep).catch((e: unknown) => e)
      expect((refusedDeep as ClientError).response.errors?.[0]?.extensions?.["code"]).toBe("QUERY_TOO_COMPLEX")
      expect((refusedDeep as ClientError).response.errors?.[0]?.message).toMatch(/levels deep/)
      const costly = `{ usageRecords(first: 500) { ... on UsageRecordConnection { edges { node {
        requestId occurredAt ingestedAt provider api model definitionId snapshotId costSource unpricedReason
        cost { amount currency } computedCost { amount currency } reportedCost { amount currency }
        lines { component quantity unit listRate unitPrice amount conditions } labels { project team customer endUser workflow }
      } } } } }`
      const refusedCostly = await c.request(costly).catch((e: unknown) => e)
      expect((refusedCostly as ClientError).response.errors?.[0]?.message).toMatch(/costs \d+; at most 20000/)
      const broad = `{ ${Array.from({ length: 450 }, (_, i) => `v${i}: viewer { __typename }`).join(" ")} }`
      const refusedBroad = await c.request(broad).catch((e: unknown) => e)
      expect((refusedBroad as ClientError).response.errors?.[0]?.message).toMatch(/selects \d+ fields/)
    })
  })
})
