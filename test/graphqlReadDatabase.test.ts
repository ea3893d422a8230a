/**
 * `TALLY_READ_DATABASE_URL`: GraphQL usage queries read through a second database connection (a
 * replica in production; here the same PostgreSQL database reached by another pool), while writes
 * stay on the primary. A real GraphQL client over real HTTP against the worker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Money } from "../packages/core/src/index.ts"
import { Database } from "../packages/store/src/index.ts"
import { client, ingest, newTenant, type TestTenant, usageEvent } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"
import { Effect } from "./support/Workspace.ts"

// Every GraphQL answer here is loosely typed JSON.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const march = { from: "2025-03-01T00:00:00.000Z", to: "2025-04-01T00:00:00.000Z" }

describe.each(targets.filter((target) => target === "postgres"))("GraphQL usage from the read database on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let tenant: TestTenant

  const owner = <A>(statement: string, params: ReadonlyArray<unknown> = []) =>
    server.run(Effect.gen(function*() {
      const { sql } = yield* Database.Database
      return (yield* sql.unsafe(statement, [...params])) as unknown as ReadonlyArray<A>
    }))

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database, { readDatabaseUrl: database.config.databaseUrl }))
    tenant = await newTenant(server, { name: "Read replica tenant", timeZone: "UTC" })
    await ingest(server, tenant, Array.from({ length: 60 }, (_, i) =>
      usageEvent(`replica-${i}`, new Date(Date.UTC(2025, 2, 1 + (i % 28), i % 24)).toISOString(), {
        provider: "openai",
        model: i % 3 === 0 ? "gpt-4o-mini" : "gpt-4o",
        labels: { team: i % 2 === 0 ? "core" : "growth" },
        inputText: 1_000 + i,
        outputText: 100 + i
      })))
  }, 300_000)

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  it("answers usage through the reader's connections with the ledger's sums, and writes still land on the primary", async () => {
    const answer: Json = await client(server, tenant.read).request(
      `query($from: DateTime!, $to: DateTime!) {
        usage(from: $from, to: $to, groupBy: [TEAM], granularity: TOTAL) {
          ... on UsageReport { buckets { group { team } requests spend { amount } } totals { requests spend { amount } } }
        }
      }`,
      march
    )
    const rows = await owner<{ team: string; requests: string; cost: string }>(
      `SELECT team, count(*)::text AS requests, sum(total)::text AS cost FROM tally.usage_ledger
        WHERE tenant_id = $1 GROUP BY team ORDER BY team`,
      [tenant.id]
    )
    expect(rows.length).toBe(2)
    const byTeam = Object.fromEntries(answer.usage.buckets.map((b: Json) => [b.group.team, b]))
    for (const row of rows) {
      expect(byTeam[row.team].requests).toBe(Number(row.requests))
      expect(byTeam[row.team].spend[0].amount).toBe(Money.format(new Money.Decimal(row.cost)))
    }
    expect(answer.usage.totals.requests).toBe(60)

    // The query went through the reader's pool: its connections name themselves `tally-read`.
    const readers = await owner<{ n: string }>(
      "SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tally-read'"
    )
    expect(Number(readers[0]!.n)).toBeGreaterThan(0)

    // A mutation is a write: it goes to the primary and is visible there.
    const created: Json = await client(server, tenant.admin).request(
      `mutation { createBudget(input: { name: "replica check", period: MONTH, amount: "10" }) { __typename ... on Budget { id } } }`
    )
    expect(created.createBudget.__typename).toBe("Budget")
    const budgets = await owner<{ n: string }>("SELECT count(*)::text AS n FROM tally.budgets WHERE tenant_id = $1", [tenant.id])
    expect(Number(budgets[0]!.n)).toBe(1)
  })
})
