/**
 * The web console in a real browser (Debian's Chromium through playwright-core) against the worker
 * on a random port, over a tenant with a month of traffic, budgets, chargeback runs and anomalies.
 *
 * Every page is opened as a person would (signed in through the form with a read key, or through
 * the `#key=` link `tally demo` prints with an admin key); its figures are compared with the
 * GraphQL API's answers for the same data, its charts must have drawn, and no page may log a
 * console error, throw, or load anything from outside the worker. An admin creates a budget and
 * finalizes a chargeback run; a read key is offered neither and the API refuses it. A screenshot
 * of each page is saved under test/.output/console (and under docs/console when
 * TALLY_CONSOLE_SCREENSHOTS=docs, to refresh the documentation's pictures).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BrowserContext, Page } from "playwright-core"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import * as Period from "../apps/console/src/Period.ts"
import { available, launch, type Launched, type Problems, watch } from "./support/Browser.ts"
import { type ConsoleData, seed } from "./support/ConsoleData.ts"
import { client } from "./support/Graphql.ts"
import { type InProcess, makeDatabase, postJson, root, sample, spawnTally, startInProcess, type TestDatabase, testConfig } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const shotDirs = [join(root, "test/.output/console"), ...(process.env["TALLY_CONSOLE_SCREENSHOTS"] === "docs" ? [join(root, "docs/console")] : [])]
const zone = "Europe/Berlin"

// CI installs Chromium (.ci/run); elsewhere without it these tests say so instead of failing.
describe.skipIf(!available() && process.env["CI"] !== "true")("the console in Chromium", () => {
  let database: TestDatabase
  let server: InProcess
  let data: ConsoleData
  let launched: Launched
  const problems: Array<Problems> = []

  const gql = (key: string, query: string, variables: object = {}): Promise<Json> => client(server, key).request(query, variables as Record<string, unknown>)

  const screenshot = async (page: Page, name: string, fullPage = true) => {
    for (const dir of shotDirs) {
      mkdirSync(dir, { recursive: true })
      await page.screenshot({ path: join(dir, `${name}.png`), fullPage })
    }
  }

  const newPage = async (context: BrowserContext) => {
    const page = await context.newPage()
    problems.push(watch(page, server.url))
    page.on("dialog", (dialog) => void dialog.accept())
    return page
  }

  /** The chart drew: its canvas has pixels of more than one colour. */
  const chartDrew = (page: Page, selector = ".chart-host canvas") =>
    page.locator(selector).first().evaluate((canvas: HTMLCanvasElement) => {
      const ctx = canvas.getContext("2d")!
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height)
      const colours = new Set<number>()
      for (let i = 0; i < data.length; i += 16) colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!)
      return canvas.width > 100 && colours.size > 3
    })

  const amounts = (page: Page, selector: string) => page.locator(`${selector} .money`).evaluateAll((nodes) => nodes.map((n) => n.getAttribute("data-amount")))

  /** What the console shows as its default period, as the instants the API is asked about. */
  const rangeOf = async (page: Page) => {
    const url = new URL(page.url())
    const period = Period.fromQuery(url.searchParams)
    expect(period).toBeDefined()
    return Period.toRange(period!, zone)
  }

  beforeAll(async () => {
    database = await makeDatabase("pglite")
    server = await startInProcess(testConfig(database))
    data = await seed(server)
    launched = await launch()
  }, 300_000)

  afterAll(async () => {
    await launched?.close()
    await server?.close()
    await database?.drop()
  })

  describe("with a read key", () => {
    let context: BrowserContext
    let page: Page

    beforeAll(async () => {
      context = await launched.browser.newContext({ viewport: { width: 1366, height: 900 } })
      page = await newPage(context)
    })
    afterAll(() => context?.close())
    afterEach(async (test) => {
      if (test.task.result?.state === "fail") await screenshot(page, `failed-${test.task.name.slice(0, 40).replace(/\W+/g, "-")}`)
    })

    it("refuses an unknown key at sign-in, saying so", async () => {
      // Its own page: the browser logs the refused request (401) as an error, which is the point here.
      const own = await context.newPage()
      await own.goto(server.url)
      await own.getByLabel("API key").fill("tly_not_a_key")
      await own.getByRole("button", { name: "Sign in" }).click()
      await expect.poll(() => own.getByRole("alert").textContent()).toContain("refused")
      await own.close()
    })

    it("signs in through the form, keeps the key in the session only, and opens the overview on the last 30 days", async () => {
      await page.goto(server.url)
      await screenshot(page, "sign-in")
      await page.getByLabel("API key").fill(data.tenant.read)
      await page.getByRole("button", { name: "Sign in" }).click()
      await page.waitForURL(/\/overview\?from=/)
      expect(page.url()).not.toContain(data.tenant.read)
      expect(await page.evaluate(() => ({ session: sessionStorage.getItem("tally.apiKey"), local: localStorage.length }))).toEqual({ session: data.tenant.read, local: 0 })
      const range = await rangeOf(page)
      const days = (Date.parse(range.to) - Date.parse(range.from)) / 86_400_000
      expect(days).toBeGreaterThanOrEqual(29.9)
      expect(days).toBeLessThanOrEqual(30.1)
    })

    it("overview figures equal the API's: spend, calls, top teams and models, unit costs, cost at risk; the chart draws", async () => {
      await page.locator("[data-table=top-teams]").waitFor()
      const range = await rangeOf(page)
      const api = await gql(data.tenant.read, `query($from: DateTime!, $to: DateTime!) {
        totals: usage(from: $from, to: $to, granularity: TOTAL) { ... on UsageReport { totals { requests unpricedRequests spend { amount currency } } } }
        teams: usage(from: $from, to: $to, granularity: TOTAL, groupBy: [TEAM]) { ... on UsageReport { buckets { group { team } spend { amount } } } }
        models: usage(from: $from, to: $to, granularity: TOTAL, groupBy: [PROVIDER, MODEL]) { ... on UsageReport { buckets { group { provider model } spend { amount } } } }
        unitCosts(from: $from, to: $to) { ... on UnitCosts { units { kind average { amount } } } }
        coverage(from: $from, to: $to) { ... on CoverageReport { unmatchedCalls } }
      }`, range)
      expect(await amounts(page, "[data-stat=spend]")).toEqual(api.totals.totals.spend.map((m: Json) => m.amount))
      expect(await page.locator("[data-stat=requests] dd").textContent()).toBe(api.totals.totals.requests.toLocaleString("en-US"))
      expect(await page.locator("[data-stat=unpriced] dd").textContent()).toBe(String(api.totals.totals.unpricedRequests))
      expect(api.totals.totals.unpricedRequests).toBeGreaterThan(0)
      for (const bucket of api.teams.buckets) {
        expect(await amounts(page, `[data-table=top-teams] tr[data-name="${bucket.group.team ?? ""}"]`)).toEqual(bucket.spend.map((m: Json) => m.amount))
      }
      const topModel = [...api.models.buckets].filter((b: Json) => b.spend.length > 0).sort((a: Json, b: Json) => Number(b.spend[0].amount) - Number(a.spend[0].amount))[0]
      expect(await amounts(page, `[data-table=top-models] tr[data-name="${topModel.group.provider} / ${topModel.group.model}"]`)).toEqual([topModel.spend[0].amount])
      for (const unit of api.unitCosts.units) {
        expect(await amounts(page, `[data-table=unit-costs] tr[data-kind=${unit.kind}] td:nth-child(2)`)).toEqual(unit.average.map((m: Json) => m.amount))
      }
      expect(await page.locator("[data-stat=risk-unmatched] dd").textContent()).toBe(api.coverage.unmatchedCalls.toLocaleString("en-US"))
      expect(await page.locator("[data-table=risk-reasons] tbody tr").count()).toBeGreaterThan(0)
      expect(await chartDrew(page)).toBe(true)
      await page.getByRole("button", { name: "Model", exact: true }).click()
      await page.waitForURL(/by=MODEL/)
      await page.locator("[data-chart=stacked-bars] canvas").waitFor()
      expect(await chartDrew(page)).toBe(true)
      await screenshot(page, "overview")
    })

    it("budgets show each budget's status as the API reports it, with a burn-down; a read key is offered no change and the API refuses one", async () => {
      // The forecast moves with the clock, so the figures are compared with the API's answer to the page itself.
      const answered = page.waitForResponse((r) => r.url().endsWith("/graphql") && (r.request().postData() ?? "").includes("query Budgets"))
      await page.getByRole("link", { name: "Budgets" }).click()
      const shown: Json = (await (await answered).json()).data
      await page.locator(".budget").first().waitFor()
      const api = await gql(data.tenant.read, `{ budgets(first: 50) { ... on BudgetConnection { edges { node { id status { spent remaining reserved } alerts { threshold } } } } } }`)
      expect(shown.budgets.edges.map((e: Json) => e.node.id)).toEqual(api.budgets.edges.map((e: Json) => e.node.id))
      for (const [i, { node }] of shown.budgets.edges.entries()) {
        const card = `#budget-${node.id}`
        await page.locator(`${card} .chart-host canvas`).waitFor()
        // Spend and reservations do not move with the clock: equal to a separate question too.
        expect(node.status.spent).toBe(api.budgets.edges[i].node.status.spent)
        expect(await amounts(page, `${card} [data-stat=spent]`)).toEqual([node.status.spent])
        expect(await amounts(page, `${card} [data-stat=remaining]`)).toEqual([node.status.remaining])
        expect(await amounts(page, `${card} [data-stat=reserved]`)).toEqual([node.status.reserved])
        expect(await amounts(page, `${card} [data-stat=forecast]`)).toEqual([node.status.forecast.projectedSpend])
        expect(await chartDrew(page, `${card} .chart-host canvas`)).toBe(true)
      }
      expect(api.budgets.edges.some((e: Json) => e.node.alerts.length > 0)).toBe(true)
      expect(await page.getByRole("button", { name: "New budget" }).count()).toBe(0)
      expect(await page.getByRole("button", { name: /^Edit budget/ }).count()).toBe(0)
      await expect.poll(() => page.locator("[data-note=read-only]").textContent()).toContain("admin key")
      // The same change the form would send, with this key: the API refuses it.
      const refused = await page.evaluate(async () => {
        const response = await fetch("/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${sessionStorage.getItem("tally.apiKey")}` },
          body: JSON.stringify({ query: `mutation { createBudget(input: { name: "x", period: DAY, amount: "1" }) { __typename ... on Forbidden { requiredScope } } }` })
        })
        return (await response.json()).data.createBudget
      })
      expect(refused).toEqual({ __typename: "Forbidden", requiredScope: "admin" })
      await page.locator("details summary", { hasText: "Alert history" }).first().click()
      await screenshot(page, "budgets")
    })

    it("chargeback shows a run's lines and corrections exactly as stored, and offers a read key no finalize", async () => {
      await page.goto(`${server.url}/chargeback?run=${data.draftRunId}`)
      await page.locator("[data-table=allocation]").waitFor()
      const api = await gql(data.tenant.read, `query($id: ID!) { chargebackRun(id: $id) { ... on ChargebackRun { total lines { lineNo kind amount direct allocated } } } }`, { id: data.draftRunId })
      const run = api.chargebackRun
      expect(await amounts(page, "[data-stat=total]")).toEqual([run.total])
      for (const line of run.lines) {
        const table = line.kind === "CORRECTION" ? "corrections" : "allocation"
        expect(await amounts(page, `[data-table=${table}] tr[data-line="${line.lineNo}"]`)).toEqual([line.direct, line.allocated, line.amount])
      }
      expect(run.lines.some((l: Json) => l.kind === "CORRECTION")).toBe(true)
      expect(await page.getByRole("button", { name: "Finalize" }).count()).toBe(0)
      const download = page.waitForEvent("download")
      await page.getByRole("button", { name: "Download FOCUS" }).click()
      expect((await download).suggestedFilename()).toBe(`chargeback-${data.draftRunId}-focus.csv`)
      await screenshot(page, "chargeback")
    })

    it("anomalies list every finding of the period with its evidence and the series around it", async () => {
      await page.getByRole("link", { name: "Anomalies" }).click()
      await page.locator(".finding").first().waitFor()
      const range = await rangeOf(page)
      const api = await gql(data.tenant.read, `query($from: DateTime!, $to: DateTime!) { anomalies(from: $from, to: $to, first: 100) { ... on AnomalyConnection { edges { node { id summary } } } } }`, range)
      expect(api.anomalies.edges.length).toBeGreaterThan(0)
      expect(await page.locator(".finding").count()).toBe(api.anomalies.edges.length)
      await page.locator(".finding-detail .chart-host canvas").waitFor()
      expect(await page.locator(".finding-detail .summary").textContent()).toBe(api.anomalies.edges[0].node.summary)
      expect(await chartDrew(page, ".finding-detail .chart-host canvas")).toBe(true)
      await screenshot(page, "anomalies")
    })

    it("calls list the newest calls as the API pages them, and one call shows its cost lines, prices, match and raw payload", async () => {
      await page.getByRole("link", { name: "Calls" }).click()
      await page.locator("[data-table=calls]").waitFor()
      const range = await rangeOf(page)
      const api = await gql(data.tenant.read, `query($from: DateTime!, $to: DateTime!) { usageRecords(first: 50, filter: { from: $from, to: $to }) { ... on UsageRecordConnection { edges { node { requestId cost { amount } } } } } }`, range)
      const ids = await page.locator("[data-table=calls] tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-request")))
      expect(ids).toEqual(api.usageRecords.edges.map((e: Json) => e.node.requestId))
      await screenshot(page, "calls")

      await page.goto(`${server.url}/calls?id=${data.rawCallId}`)
      await page.locator("[data-table=lines]").waitFor()
      const call = (await gql(data.tenant.read, `query($id: String!) { usageRecords(first: 1, filter: { requestId: [$id] }) { ... on UsageRecordConnection { edges { node {
        cost { amount } lines { amount unitPrice } snapshotId raw
      } } } } }`, { id: data.rawCallId })).usageRecords.edges[0].node
      expect(await amounts(page, "[data-field=cost]")).toEqual([call.cost.amount])
      expect(await amounts(page, "[data-table=lines] tbody")).toEqual(call.lines.flatMap((l: Json) => [l.unitPrice, l.amount]))
      expect(await page.locator("pre.json").textContent()).toContain(call.raw.id)
      expect(await page.getByText(call.snapshotId).count()).toBeGreaterThan(0)
      await screenshot(page, "call")
    })

    it("models: search the catalog, one model's price history by effective date, coverage of unmatched names", async () => {
      await page.getByRole("link", { name: "Models" }).click()
      await page.getByLabel("Name contains").fill("gpt-4o")
      await page.getByRole("button", { name: "Search" }).click()
      await page.waitForURL(/q=gpt-4o/)
      await page.locator("[data-table=models] tbody tr").first().waitFor()
      const api = await gql(data.tenant.read, `{ models(first: 50, search: "gpt-4o") { ... on ModelDefinitionConnection { edges { node { id } } } } }`)
      const ids = await page.locator("[data-table=models] tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-model")))
      expect(ids).toEqual(api.models.edges.map((e: Json) => e.node.id))
      await screenshot(page, "models")
      await page.locator(`[data-table=models] tr[data-model="openai/gpt-4o"] a`).click()
      await page.locator("[data-table=history]").waitFor()
      const model = await gql(data.tenant.read, `{ model(id: "openai/gpt-4o") { ... on ModelDefinition { history { version effectiveFrom rates { inputText outputText } } } } }`)
      const history = [...model.model.history].reverse()
      expect(history.length).toBeGreaterThan(1)
      expect(await page.locator("[data-table=history] tbody tr").count()).toBe(history.length)
      expect(await amounts(page, "[data-table=history] tbody tr:first-child")).toEqual(expect.arrayContaining([history[0].rates.inputText, history[0].rates.outputText]))
      expect(await chartDrew(page)).toBe(true)
      await screenshot(page, "model")
      await page.goto(`${server.url}/models?tab=coverage`)
      await page.locator("[data-table=coverage]").waitFor()
      expect(await page.locator("[data-table=coverage] tbody").textContent()).toContain("acme-finetune-x")
      await screenshot(page, "coverage")
    })

    it("GraphiQL at /graphql loads from the worker and runs a query with the signed-in key", async () => {
      await page.goto(`${server.url}/graphql`)
      await page.locator(".graphiql-container").first().waitFor({ timeout: 30_000 })
      await page.locator(".graphiql-execute-button").click()
      await expect.poll(() => page.locator(".graphiql-response").textContent(), { timeout: 20_000 }).toMatch(/Acme.Corp/)
      await screenshot(page, "graphiql")
    })
  })

  describe("with an admin key from a #key= link", () => {
    let context: BrowserContext
    let page: Page

    beforeAll(async () => {
      context = await launched.browser.newContext({ viewport: { width: 1366, height: 900 } })
      page = await newPage(context)
    })
    afterAll(() => context?.close())
    afterEach(async (test) => {
      if (test.task.result?.state === "fail") await screenshot(page, `failed-${test.task.name.slice(0, 40).replace(/\W+/g, "-")}`)
    })

    it("the link signs in, and the key leaves the address bar at once", async () => {
      await page.goto(`${server.url}/#key=${encodeURIComponent(data.tenant.admin)}`)
      await page.waitForURL(/\/overview\?from=/)
      expect(page.url()).not.toContain(data.tenant.admin)
      expect(await page.locator(".badge").textContent()).toBe("admin key")
    })

    it("creates a budget through the form; the API then has it", async () => {
      await page.getByRole("link", { name: "Budgets" }).click()
      await page.getByRole("button", { name: "New budget" }).click()
      await page.getByLabel("Name", { exact: true }).fill("Evals, weekly")
      await page.getByLabel(/^Amount/).fill("12.50")
      await page.getByRole("combobox", { name: /^Period/ }).selectOption("WEEK")
      await page.getByLabel("project", { exact: true }).fill("evals")
      await page.getByRole("button", { name: "Create budget" }).click()
      await page.getByRole("heading", { name: "Evals, weekly" }).waitFor()
      const api = await gql(data.tenant.read, `{ budgets(first: 50) { ... on BudgetConnection { edges { node { name amount period scope { project } } } } } }`)
      expect(api.budgets.edges.map((e: Json) => e.node)).toContainEqual({ name: "Evals, weekly", amount: "12.5", period: "WEEK", scope: { project: "evals" } })
      await screenshot(page, "budgets-admin")
    })

    it("finalizes a draft chargeback run; the API then has it final", async () => {
      await page.goto(`${server.url}/chargeback?run=${data.draftRunId}`)
      await page.getByRole("button", { name: "Finalize" }).click()
      await expect.poll(() => page.locator("[data-stat=status] dd").textContent()).toContain("final since")
      const api = await gql(data.tenant.read, `query($id: ID!) { chargebackRun(id: $id) { ... on ChargebackRun { status } } }`, { id: data.draftRunId })
      expect(api.chargebackRun.status).toBe("FINAL")
    })
  })

  it("fits a phone's width", async () => {
    const context = await launched.browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true })
    const page = await newPage(context)
    await page.goto(`${server.url}/#key=${encodeURIComponent(data.tenant.read)}`)
    await page.locator("[data-table=top-teams]").waitFor()
    await page.locator(".chart-host canvas").first().waitFor()
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    await screenshot(page, "overview-phone", false)
    await context.close()
  })

  it("pnpm start's path: tally demo, the printed curl, then the printed link shows the sample calls priced in charts and tables", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "tally-console-demo-"))
    const demo = spawnTally(["demo", "--port", "0"], { TALLY_DATABASE_URL: "", TALLY_NATS_URL: "", TALLY_DATA_DIR: join(cwd, "data") }, cwd)
    try {
      await demo.nextLine()
      const printed = (await demo.nextLine()).demo as { apiKey: string; console: string }
      const url = new URL(printed.console).origin
      expect((await postJson(`${url}/api/v1/usage/ingest`, printed.apiKey, readFileSync(sample, "utf8"))).json.inserted).toBe(3)
      const context = await launched.browser.newContext({ viewport: { width: 1366, height: 900 } })
      const page = await context.newPage()
      problems.push(watch(page, url))
      await page.goto(printed.console)
      await page.locator("[data-table=top-models]").waitFor()
      // The sample's calls are of 2 Nov 2026: whatever today's date, the overview opens on them.
      expect(await amounts(page, "[data-stat=spend]")).toEqual(["0.02146"])
      expect(await page.locator("[data-stat=requests] dd").textContent()).toBe("3")
      expect(await chartDrew(page)).toBe(true)
      await screenshot(page, "demo-overview")
      await page.getByRole("link", { name: "Calls" }).click()
      await page.locator("[data-table=calls] tbody tr").first().waitFor()
      expect(await amounts(page, "[data-table=calls]")).toEqual(["0.00123", "0.01701", "0.00322"])
      await context.close()
    } finally {
      demo.child.kill("SIGTERM")
      await demo.exited
      rmSync(cwd, { recursive: true, force: true })
    }
  }, 180_000) // a fresh demo process opens PGlite and loads the catalog: slow on a loaded machine

  it("no page logged a console error, threw, or loaded anything from outside the worker", () => {
    expect(problems.flatMap((p) => p.list)).toEqual([])
  })
})
