/**
 * The console's Margin page in a real browser (Debian's Chromium through playwright-core) against
 * the worker: two customers on different sale price rules, calls ingested over HTTP, a final
 * statement; the page's figures must equal the GraphQL API's for the same period, and the page
 * may log no error nor load anything from outside the worker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Page } from "playwright-core"
import { available, launch, type Launched, type Problems, watch } from "./support/Browser.ts"
import { client, ingest, newTenant, type TestTenant, usageEvent } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, startInProcess, type TestDatabase, testConfig } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

describe.skipIf(!available() && process.env["CI"] !== "true")("the console's Margin page in Chromium", () => {
  let database: TestDatabase
  let server: InProcess
  let launched: Launched
  let tenant: TestTenant
  let problems: Problems

  beforeAll(async () => {
    database = await makeDatabase("pglite")
    server = await startInProcess(testConfig(database))
    tenant = await newTenant(server, { name: "Margin Co" })
    const admin = client(server, tenant.admin)
    await admin.request(`mutation {
      createModel(input: { id: "acme/m1", provider: "openai", modelKey: "m1", price: { rates: { inputText: "0.1", outputText: "0.5" } } }) { __typename }
      a: addSalePriceRule(input: { name: "globex +25%", customer: "globex", kind: MARKUP_PERCENT, percent: "25", effectiveFrom: "2026-01-01T00:00:00Z" }) { __typename }
      b: addSalePriceRule(input: { name: "initech list", customer: "initech", kind: LIST_PRICE, rates: { inputText: "0.333", outputText: "1.111" }, currency: "USD", effectiveFrom: "2026-01-01T00:00:00Z" }) { __typename }
    }`)
    const big = { model: "m1", inputText: 1_000_000, outputText: 100_000 }
    await ingest(server, tenant, [
      usageEvent("g1", "2026-01-05T10:00:00Z", { ...big, labels: { customer: "globex" } }),
      usageEvent("g2", "2026-01-06T10:00:00Z", { ...big, labels: { customer: "globex" } }),
      usageEvent("i1", "2026-01-07T10:00:00Z", { ...big, labels: { customer: "initech" } })
    ])
    await admin.request(`mutation {
      finalizeCustomerStatement(input: { customer: "initech", from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", currency: "USD" }) { __typename }
    }`)
    launched = await launch()
  }, 300_000)

  afterAll(async () => {
    await launched?.close()
    await server?.close()
    await database?.drop()
  })

  const open = async (path: string): Promise<Page> => {
    const context = await launched.browser.newContext({ viewport: { width: 1366, height: 900 } })
    const page = await context.newPage()
    problems = watch(page, server.url)
    await page.goto(`${server.url}/#key=${encodeURIComponent(tenant.read)}`)
    await page.waitForURL(/\/overview/)
    await page.goto(`${server.url}${path}`)
    return page
  }

  it("shows price, cost and margin per customer as the API reports them, and the final statement", async () => {
    const page = await open("/margin?from=2026-01-01&to=2026-01-31")
    await page.locator("[data-table=margin] tbody tr").first().waitFor({ timeout: 20_000 }).catch(async (error) => {
      throw new Error(`${String(error)}\n${await page.locator("main").innerText()}\n${problems.list.join("\n")}\n${page.url()}`)
    })
    const api: Json = await client(server, tenant.read).request(`{
      margin(input: { from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", groupBy: [CUSTOMER] }) {
        ... on MarginRowConnection { edges { node { customer price cost margin } } }
      }
    }`)
    // globex: 2 x 0.15 x 1.25 = 0.375 against 0.3; initech: 0.333 + 0.1111 = 0.4441 against 0.15.
    expect(api.margin.edges.map((e: Json) => e.node)).toEqual([
      { customer: "globex", price: "0.375", cost: "0.3", margin: "0.075" },
      { customer: "initech", price: "0.4441", cost: "0.15", margin: "0.2941" }
    ])
    const rows = await page.locator("[data-table=margin] tbody tr").evaluateAll((trs) =>
      trs.map((tr) => [tr.querySelector("th")!.textContent, ...[...tr.querySelectorAll(".money")].map((m) => m.getAttribute("data-amount"))])
    )
    expect(rows).toEqual(api.margin.edges.map((e: Json) => [e.node.customer, e.node.price, e.node.cost, e.node.margin]))
    const statements = await page.locator("[data-table=statements] tbody tr").evaluateAll((trs) =>
      trs.map((tr) => [tr.querySelector("th")!.textContent, tr.querySelector(".money")!.getAttribute("data-amount")])
    )
    // 0.333 -> 0.33 and 0.1111 -> 0.11.
    expect(statements).toEqual([["initech", "0.44"]])
    await page.getByRole("button", { name: "By model" }).click()
    await page.waitForURL(/by=model/)
    await page.locator("[data-table=margin] tbody th", { hasText: "m1" }).waitFor()
    expect(problems.list).toEqual([])
  })
})
