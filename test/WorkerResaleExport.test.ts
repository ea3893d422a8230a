/**
 * The resale side of the worked example (docs/worked-example.md) as a user gets it: the FOCUS rows
 * of what the tenant charges its customers over HTTP (`/api/v1/exports/usage?side=sold`) and the
 * CLI (`tally sold-usage`), and the customer statement with the credit its calls drew, over
 * GraphQL and the CLI, on a real database. Totals by hand (see the docs and ResaleEndToEnd.test.ts):
 *   acme   a1 1,000 x 0.0001835 = 0.1835 (0.10 of it drawn from its pack, which bills 0.10)
 *          + a2 1,000 x 0.000164375 EUR x 1.08 = 0.177525           -> 0.361025 USD
 *   globex g1 8.984 + g2 5.872                                       -> 14.856 USD
 *   total                                                               15.217025 USD
 * acme's USD statement: 0.1835 -> 0.18, credit applied 0.10, amount due 0.08.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { run as cli } from "../apps/worker/src/cli/Cli.ts"
import { Money } from "../packages/core/src/index.ts"
import { Currencies, SalePricing, TenantPricing } from "../packages/engine/src/index.ts"
import * as FocusSpec from "../packages/engine/test/FocusSpec.ts"
import { N, setup } from "../packages/engine/test/ResaleExample.ts"
import { ApiKeys } from "../packages/store/src/index.ts"
import { client } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, request, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"
import { Effect, Layer, Redacted } from "./support/Workspace.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const march = "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z"
const sold = `/api/v1/exports/usage?${march}&format=focus&side=sold`

const total = (rows: ReadonlyArray<FocusSpec.Row>, column = "BilledCost") => Money.format(FocusSpec.total(rows, column))
const of = (rows: ReadonlyArray<FocusSpec.Row>, customer: string) => rows.filter((r) => r["SubAccountName"] === customer)

describe.each(targets)("resale exports and statement credits on %s", (target) => {
  let database: TestDatabase
  let server: InProcess | undefined
  let tenantId: string
  let packId: string
  let readKey: string
  let adminKey: string
  const dir = mkdtempSync(join(tmpdir(), "tally-sold-"))

  const get = (path: string) => request(`${server!.url}${path}`, { headers: { authorization: `Bearer ${readKey}` } })

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    const created = await server.run(
      setup.pipe(Effect.provide(Layer.mergeAll(SalePricing.SalePricing.layer, TenantPricing.TenantPricing.layer, Currencies.Currencies.layer)))
    )
    tenantId = created.id
    packId = created.pack.id
    const keys = await server.run(Effect.gen(function*() {
      const apiKeys = yield* ApiKeys.ApiKeys
      const read = yield* apiKeys.create(tenantId, { name: "finops", scopes: ["read"] })
      const admin = yield* apiKeys.create(tenantId, { name: "billing", scopes: ["admin"] })
      return { read: Redacted.value(read.secret), admin: Redacted.value(admin.secret) }
    }))
    readKey = keys.read
    adminKey = keys.admin
  }, 300_000)

  afterAll(async () => {
    await server?.close()
    await database?.drop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("GET side=sold serves what the tenant charges: FOCUS 1.3 rows summing to acme 0.361025, globex 14.856, total 15.217025 USD", async () => {
    const reply = await get(`${sold}&convert=true`)
    expect(reply.status).toBe(200)
    expect(reply.headers.get("content-type")).toContain("text/csv")
    expect(reply.headers.get("content-disposition")).toContain("sold-usage-")
    expect(reply.headers.get("x-tally-unpriced-calls")).toBe("0")
    const { header, rows } = FocusSpec.parseCsv(reply.text)
    expect(FocusSpec.problems(header, rows, "1.3")).toEqual([])
    // The pack's Purchase first (One-Time, EffectiveCost 0), then one row per price line.
    expect([rows[0]!["ChargeCategory"], rows[0]!["ChargeFrequency"], rows[0]!["BilledCost"], rows[0]!["EffectiveCost"], rows[0]!["ResourceId"]]).toEqual([
      "Purchase",
      "One-Time",
      "0.1",
      "0",
      `credit:${packId}`
    ])
    expect(rows.length).toBe(1 + 9 * N)
    expect([total(of(rows, "acme")), total(of(rows, "globex")), total(rows), total(rows, "EffectiveCost")]).toEqual(["0.361025", "14.856", "15.217025", "15.217025"])
    // acme's usage bills 0.361025 - 0.10 drawn; the drawdowns are in ContractApplied.
    const acmeUsage = of(rows, "acme").filter((r) => r["ChargeCategory"] === "Usage")
    expect(total(acmeUsage)).toBe("0.261025")
    const applied = acmeUsage.flatMap((r) => (r["ContractApplied"] === null ? [] : FocusSpec.contractApplied(r["ContractApplied"]!)))
    expect(Money.format(Money.sum(applied.map((e) => new Money.Decimal(e["ContractCommitmentAppliedCost"]!))))).toBe("0.1")
    expect(new Set(rows.map((r) => [r["ServiceProviderName"], r["InvoiceIssuerName"], r["BillingCurrency"]].join()))).toEqual(new Set(["Reseller Inc,Reseller Inc,USD"]))
  })

  it("customer= keeps those customers' calls and packs; 1.2 bills calls in full without the pack's purchase; EUR stays EUR unconverted", async () => {
    const acme = FocusSpec.parseCsv((await get(`${sold}&convert=true&customer=acme`)).text).rows
    expect(acme.length).toBe(1 + 4 * N)
    expect([new Set(acme.map((r) => r["SubAccountName"])), total(acme)]).toEqual([new Set(["acme"]), "0.361025"])
    const both = FocusSpec.parseCsv((await get(`${sold}&convert=true&customer=globex&customer=acme`)).text).rows
    expect(total(both)).toBe("15.217025")
    const v12 = FocusSpec.parseCsv((await get(`${sold}&convert=true&version=1.2`)).text)
    expect(v12.header).not.toContain("ContractApplied")
    expect(FocusSpec.problems(v12.header, v12.rows, "1.2")).toEqual([])
    expect([v12.rows.length, total(v12.rows), total(of(v12.rows, "acme"))]).toEqual([9 * N, "15.217025", "0.361025"])
    const unconverted = FocusSpec.parseCsv((await get(`${sold}&customer=acme`)).text).rows
    const eur = unconverted.filter((r) => r["BillingCurrency"] === "EUR")
    expect([eur.length, total(eur)]).toEqual([2 * N, "0.164375"])
  })

  it("names the bad parameter", async () => {
    const side = await get(`/api/v1/exports/usage?${march}&format=focus&side=resale`)
    expect([side.status, side.text]).toEqual([400, expect.stringContaining("side: expected cost or sold")])
    const owner = await get(`${sold}&dimension=customer&owner=acme`)
    expect([owner.status, owner.text]).toEqual([400, expect.stringContaining("not with side=sold")])
    const customer = await get(`/api/v1/exports/usage?${march}&format=focus&customer=acme`)
    expect([customer.status, customer.text]).toEqual([400, expect.stringContaining("customer: only with side=sold")])
    const backwards = await get(`/api/v1/exports/usage?from=2026-04-01T00:00:00Z&to=2026-03-01T00:00:00Z&format=focus&side=sold`)
    expect([backwards.status, backwards.text]).toEqual([400, expect.stringContaining("to: expected an instant after from")])
  })

  it("acme's statement lists the 0.10 its calls drew from the pack after the lines: 0.18 - 0.10 = 0.08 due (GraphQL)", async () => {
    const final: Json = await client(server!, adminKey).request(`mutation {
      finalizeCustomerStatement(input: { customer: "acme", from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z", currency: "USD", groupBy: MODEL }) {
        __typename
        ... on CustomerStatementResult { statement { id total creditTotal amountDue credits { grantId name exactAmount amount } json csv html } }
      }
    }`)
    const s = final.finalizeCustomerStatement.statement
    expect([s.total, s.creditTotal, s.amountDue]).toEqual(["0.18", "0.1", "0.08"])
    expect(s.credits).toEqual([{ grantId: packId, name: "starter pack", exactAmount: "0.1", amount: "0.1" }])
    expect([s.json.creditTotal, s.json.amountDue, s.json.credits]).toEqual(["0.10", "0.08", [{ grantId: packId, name: "starter pack", exactAmount: "0.1", amount: "0.10" }]])
    expect(s.csv).toContain(`total,,,,,,,0.18,USD\r\ncredit,${packId},,,,,,-0.10,USD\r\namount_due,,,,,,,0.08,USD`)
    expect(s.html).toContain("Prepaid credit applied: starter pack")
    expect(s.html).toContain("<td class=\"n\">0.08</td>")
  })

  it("the CLI writes the same rows to a file and prints the statement with its credit", async () => {
    // One process at a time on an embedded database: the worker stops first.
    await server!.close()
    server = undefined
    const file = join(dir, "sold.csv")
    const written = await cli(["sold-usage", "--tenant", tenantId, "--from", "2026-03-01", "--to", "2026-04-01", "--convert", "--out", file], { env: database.env })
    expect(written.stderr).toBe("")
    expect(JSON.parse(written.stdout)).toEqual({ tenant: tenantId, file, focusVersion: "1.3", converted: true, unpricedCalls: 0 })
    const { header, rows } = FocusSpec.parseCsv(readFileSync(file, "utf8"))
    expect(FocusSpec.problems(header, rows, "1.3")).toEqual([])
    expect([total(of(rows, "acme")), total(of(rows, "globex")), total(rows)]).toEqual(["0.361025", "14.856", "15.217025"])

    const globex = await cli(["sold-usage", "--tenant", tenantId, "--from", "2026-03-01", "--to", "2026-04-01", "--customer", "globex", "--out", "-"], { env: database.env })
    expect(total(FocusSpec.parseCsv(globex.stdout).rows)).toBe("14.856")
    const badVersion = await cli(["sold-usage", "--tenant", tenantId, "--from", "2026-03-01", "--to", "2026-04-01", "--focus-version", "2", "--out", "-"], { env: database.env })
    expect([badVersion.exitCode, badVersion.stderr]).toEqual([2, expect.stringContaining("--focus-version must be 1.3 or 1.2")])

    const listed = await cli(["statement", "list", "--tenant", tenantId, "--customer", "acme"], { env: database.env })
    const [statement] = JSON.parse(listed.stdout).statements
    expect([statement.total, statement.creditTotal, statement.amountDue]).toEqual(["0.18", "0.10", "0.08"])
    const csv = await cli(["statement", "export", "--tenant", tenantId, "--id", statement.id, "--format", "csv", "--out", "-"], { env: database.env })
    expect(csv.stdout).toContain(`credit,${packId},,,,,,-0.10,USD\r\namount_due,,,,,,,0.08,USD`)
  })
})
