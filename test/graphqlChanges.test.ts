/**
 * Changes and live views through GraphQL, end to end over real HTTP: custom models priced by the
 * worker's ingest, price changes as new versions, overrides and multipliers, budgets, API keys,
 * chargeback runs whose lines sum to the ledger, and subscriptions over server-sent events
 * (graphql-sse as the client) for budget status and anomalies.
 */
import { beforeAll, describe, expect, it } from "vitest"
import { Money } from "../packages/core/src/index.ts"
import * as FocusSpec from "../packages/engine/test/FocusSpec.ts"
import { AnomalyFindings, Database } from "../packages/store/src/index.ts"
import { client, ingest, newTenant, sseClient, type TestTenant, usageEvent } from "./support/Graphql.ts"
import { inProcessWorker, targets } from "./support/Worker.ts"
import { DateTime } from "../apps/worker/node_modules/effect/dist/index.js"
import { Effect, Layer } from "./support/Workspace.ts"

const DateTimeOf = (millis: number) => DateTime.makeUnsafe(millis)

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

describe.each(targets)("GraphQL changes on %s", (target) => {
  const worker = inProcessWorker(target)

  it("custom models, price versions, overrides and multipliers price the tenant's usage", async () => {
    const tenant = await newTenant(worker.server, { name: "Pricing Co" })
    const admin = client(worker.server, tenant.admin)
    const created: Json = await admin.request(`mutation {
      createModel(input: {
        id: "acme/llama-70b", provider: "openai", modelKey: "llama-70b", displayName: "Llama 70B (self-hosted)",
        price: { currency: "USD", rates: { inputText: "0.50", outputText: "1.50" }, note: "GPU cost" }
      }) { __typename ... on ModelDefinition { id maintainer history { version rates { inputText } note } } }
      cloneModel(input: { sourceId: "openai/gpt-4o", id: "acme/gpt-4o", price: { effectiveFrom: "2025-01-01", rates: { inputText: "2" } } }) {
        __typename ... on ModelDefinition { id clonedFrom history { version effectiveFrom effectiveTo } }
      }
    }`)
    expect(created.createModel).toMatchObject({ __typename: "ModelDefinition", id: "acme/llama-70b", maintainer: "CUSTOM" })
    expect(created.createModel.history).toEqual([{ version: 1, rates: { inputText: "0.5" }, note: "GPU cost" }])
    expect(created.cloneModel.clonedFrom).toBe("openai/gpt-4o")
    expect(created.cloneModel.history.map((h: Json) => h.version)).toEqual([1, 2])

    const changed: Json = await admin.request(`mutation {
      updateModel(input: { id: "acme/llama-70b", price: { effectiveFrom: "2025-03-15", rates: { inputText: "0.25" }, note: "new GPUs" } }) {
        __typename ... on ModelDefinition { history { version effectiveFrom effectiveTo rates { inputText outputText } } }
      }
      setPriceOverride(definitionId: "acme/gpt-4o", scope: { team: "research" }, price: { effectiveFrom: "2025-01-01", rates: { inputText: "1" } }, reason: "grant") {
        __typename ... on PriceOverride { definitionId scope { team } reason }
      }
      addPriceMultiplier(scope: { project: "internal" }, factor: "0.5", reason: "internal rate", definitionIds: ["acme/llama-70b"]) {
        __typename ... on PriceMultiplier { id factor }
      }
      badRate: createModel(input: { id: "acme/bad", provider: "openai", modelKey: "bad", price: { rates: { inputText: "-1" } } }) {
        __typename ... on InvalidInput { field }
      }
      taken: createModel(input: { id: "acme/llama-70b", provider: "openai", modelKey: "x", price: { rates: { inputText: "1" } } }) {
        __typename ... on Conflict { message }
      }
      builtin: updateModel(input: { id: "openai/gpt-4o", displayName: "mine" }) { __typename ... on NotFound { resource } }
    }`)
    expect(changed.updateModel.history).toEqual([
      { version: 1, effectiveFrom: null, effectiveTo: "2025-03-15", rates: { inputText: "0.5", outputText: "1.5" } },
      { version: 2, effectiveFrom: "2025-03-15", effectiveTo: null, rates: { inputText: "0.25", outputText: "1.5" } }
    ])
    expect(changed.setPriceOverride).toMatchObject({ __typename: "PriceOverride", scope: { team: "research" } })
    expect(changed.addPriceMultiplier).toMatchObject({ __typename: "PriceMultiplier", factor: "0.5" })
    expect(changed.badRate.__typename).toBe("InvalidInput")
    expect(changed.badRate.field).toMatch(/^price\.rates\.inputText/)
    expect(changed.taken.__typename).toBe("Conflict")
    expect(changed.builtin.__typename).toBe("NotFound")

    // Ingest after the changes: the worker prices with the tenant's price book.
    const million = { inputText: 1_000_000, outputText: 0 }
    await ingest(worker.server, tenant, [
      usageEvent("llama-before", "2025-03-10T12:00:00Z", { model: "llama-70b", ...million }),
      usageEvent("llama-after", "2025-03-20T12:00:00Z", { model: "llama-70b", ...million }),
      usageEvent("llama-internal", "2025-03-20T12:00:00Z", { model: "llama-70b", labels: { project: "internal" }, ...million }),
      usageEvent("gpt-plain", "2025-03-20T12:00:00Z", { model: "gpt-4o", ...million }),
      usageEvent("gpt-research", "2025-03-20T12:00:00Z", { model: "gpt-4o", labels: { team: "research" }, ...million })
    ])
    const records: Json = await client(worker.server, tenant.read).request(`{ usageRecords(first: 10) {
      ... on UsageRecordConnection { edges { node { requestId definitionId cost { amount } snapshotId snapshot { id source rates { inputText } } } } }
    } }`)
    const byId = Object.fromEntries(records.usageRecords.edges.map((e: Json) => [e.node.requestId, e.node]))
    expect(byId["llama-before"]).toMatchObject({ definitionId: "acme/llama-70b", cost: { amount: "0.5" }, snapshot: { source: "stored" } })
    expect(byId["llama-after"].cost.amount).toBe("0.25")
    expect(byId["llama-internal"].cost.amount).toBe("0.125")
    // Priced through the multiplier: the scaled prices are found again by matching the call.
    expect(byId["llama-internal"].snapshot).toEqual({ id: byId["llama-internal"].snapshotId, source: "price-book", rates: { inputText: "0.125" } })
    expect(byId["gpt-plain"]).toMatchObject({ definitionId: "acme/gpt-4o", cost: { amount: "2" } })
    expect(byId["gpt-research"].cost.amount).toBe("1")
    const book: Json = await client(worker.server, tenant.read).request(`{ priceBook { ... on PriceBook { version customDefinitionIds overrides { definitionId } multipliers { reason } } } }`)
    expect(book.priceBook.customDefinitionIds).toEqual(["acme/gpt-4o", "acme/llama-70b"])
    expect(book.priceBook.version).toBeGreaterThanOrEqual(5)
  })

  it("budgets are created, read with live status, checked and deleted", async () => {
    const tenant = await newTenant(worker.server, { name: "Budget Co" })
    const admin = client(worker.server, tenant.admin)
    const created: Json = await admin.request(`mutation {
      createBudget(input: { name: "search", period: MONTH, amount: "100", action: BLOCK, scope: { project: "search" }, thresholds: ["50", "100"] }) {
        __typename ... on Budget { id name amount thresholds action scope { project } }
      }
      bad: createBudget(input: { name: "bad", period: DAY, amount: "-5" }) { __typename ... on InvalidInput { field message } }
    }`)
    expect(created.createBudget).toMatchObject({ __typename: "Budget", amount: "100", thresholds: ["50", "100"], action: "BLOCK" })
    expect(created.bad).toMatchObject({ __typename: "InvalidInput", field: "amount" })
    const now = new Date().toISOString()
    await ingest(worker.server, tenant, [usageEvent("b-1", now, { labels: { project: "search" }, inputText: 1_000_000, outputText: 0 })])
    const read: Json = await client(worker.server, tenant.read).request(`{
      budgets { ... on BudgetConnection { edges { node { id status { spent remaining percent calls periodLabel forecast { projectedSpend } } } } } }
      budgetCheck(labels: { project: "search" }, estimatedCost: "98") { ... on BudgetDecision { allowed remaining deniedBy budgets { remainingAfter } } }
    }`)
    const status = read.budgets.edges[0].node.status
    expect(status).toMatchObject({ spent: "2.5", remaining: "97.5", calls: 1 })
    expect(read.budgetCheck).toMatchObject({ allowed: false, remaining: "97.5", deniedBy: [created.createBudget.id] })
    const deleted: Json = await admin.request(`mutation { deleteBudget(id: "${created.createBudget.id}") { ... on Budget { archivedAt } } }`)
    expect(deleted.deleteBudget.archivedAt).not.toBeNull()
    const after: Json = await client(worker.server, tenant.read).request(`{ budgets { ... on BudgetConnection { edges { node { id } } } } }`)
    expect(after.budgets.edges).toEqual([])
  })

  it("a chargeback run's lines sum exactly to the ledger, and a finalized run cannot be run over", async () => {
    const tenant = await newTenant(worker.server, { name: "Chargeback Co" })
    const events = Array.from({ length: 60 }, (_, i) =>
      usageEvent(`c-${i}`, `2025-03-${String(1 + (i % 28)).padStart(2, "0")}T10:00:00Z`, {
        labels: i % 5 === 0 ? {} : { team: ["core", "growth", "ml"][i % 3]! },
        inputText: 1000 + i * 37,
        outputText: 100 + i
      }))
    await ingest(worker.server, tenant, events)
    const admin = client(worker.server, tenant.admin)
    const show: Json = await client(worker.server, tenant.read).request(`{
      showback(input: { month: "2025-03", dimension: "team", rule: { kind: EVEN } }) {
        __typename ... on ChargebackComputation { total lines { kind owner amount } inputs { ledgerTotal requests } }
      }
    }`)
    expect(show.showback.__typename).toBe("ChargebackComputation")
    const run: Json = await admin.request(`mutation {
      runChargeback(input: { month: "2025-03", dimension: "team", rule: { kind: FIXED, shares: [{ owner: "core", percent: "50" }, { owner: "growth", percent: "30" }, { owner: "ml", percent: "20" }] } }) {
        __typename ... on ChargebackRun { id status total lines { kind owner amount } inputs { ledgerTotal roundedTotal sha256 } }
      }
      badShares: runChargeback(input: { month: "2025-03", dimension: "team", rule: { kind: FIXED, shares: [{ owner: "core", percent: "50" }] } }) {
        __typename ... on InvalidInput { field }
      }
    }`)
    expect(run.runChargeback).toMatchObject({ __typename: "ChargebackRun", status: "DRAFT" })
    const sum = run.runChargeback.lines.reduce((s: Money.Decimal, l: Json) => s.plus(l.amount), Money.ZERO)
    expect(Money.format(sum)).toBe(run.runChargeback.total)
    const [ledger] = await worker.server.run(Effect.gen(function*() {
      const { sql } = yield* Database.Database
      return yield* sql<{ total: string }>`SELECT sum(total)::text AS total FROM tally.usage_ledger WHERE tenant_id = ${tenant.id}`
    }))
    expect(run.runChargeback.inputs.ledgerTotal).toBe(Money.format(new Money.Decimal(ledger!.total)))
    expect(run.badShares.__typename).toBe("InvalidInput")
    const final: Json = await admin.request(`mutation { finalizeChargebackRun(id: "${run.runChargeback.id}") { ... on ChargebackRun { status finalizedAt audit { action actor } } } }`)
    expect(final.finalizeChargebackRun.status).toBe("FINAL")
    expect(final.finalizeChargebackRun.audit.map((a: Json) => a.action)).toEqual(["created", "finalized"])
    const again: Json = await admin.request(`mutation {
      finalizeChargebackRun(id: "${run.runChargeback.id}") { __typename ... on Conflict { message } }
      runChargeback(input: { month: "2025-03", dimension: "team" }) { __typename ... on Conflict { message } }
    }`)
    expect(again.finalizeChargebackRun.__typename).toBe("Conflict")
    expect(again.runChargeback.__typename).toBe("Conflict")
    const listed: Json = await client(worker.server, tenant.read).request(`{
      chargebackRuns(first: 5) { ... on ChargebackRunConnection { edges { node { id status total run { lines { amount } } } } } }
      chargebackRun(id: "${run.runChargeback.id}") { ... on ChargebackRun { total focus { version columns rowCount csv } old: focus(version: V1_2) { version columns csv } } }
    }`)
    expect(listed.chargebackRuns.edges.map((e: Json) => e.node.id)).toEqual([run.runChargeback.id])
    expect(listed.chargebackRun.total).toBe(run.runChargeback.total)
    // The run's FOCUS rows: 1.3 by default, 1.2 on request, the same CSV the HTTP export writes.
    const { focus, old } = listed.chargebackRun
    expect(focus.version).toBe("V1_3")
    expect(focus.columns).toContain("ServiceProviderName")
    expect(old.version).toBe("V1_2")
    expect(old.columns).not.toContain("ServiceProviderName")
    const focusRows = FocusSpec.parseCsv(focus.csv)
    expect(focusRows.rows.length).toBe(focus.rowCount)
    expect(FocusSpec.problems(focusRows.header, focusRows.rows, "1.3")).toEqual([])
    expect(Money.format(FocusSpec.total(focusRows.rows, "BilledCost"))).toBe(run.runChargeback.total)
    const oldRows = FocusSpec.parseCsv(old.csv)
    expect(FocusSpec.problems(oldRows.header, oldRows.rows, "1.2")).toEqual([])
  })

  it("API keys are issued with their secret once, listed, usable at once, and revoked", async () => {
    const tenant = await newTenant(worker.server, { name: "Keys Co" })
    const admin = client(worker.server, tenant.admin)
    const issued: Json = await admin.request(`mutation {
      issueApiKey(name: "gateway", scopes: [INGEST], defaultLabels: { project: "search" }) { ... on IssuedApiKey { secret key { id prefix scopes defaultLabels { project } } } }
      bad: issueApiKey(name: "", scopes: [READ]) { __typename ... on InvalidInput { field } }
    }`)
    const key = issued.issueApiKey
    expect(key.secret.startsWith(key.key.prefix)).toBe(true)
    expect(key.key).toMatchObject({ scopes: ["INGEST"], defaultLabels: { project: "search" } })
    expect(issued.bad).toMatchObject({ __typename: "InvalidInput", field: "name" })
    await ingest(worker.server, { ...tenant, ingest: key.secret }, [usageEvent("k-1", "2025-03-01T00:00:00Z")])
    const records: Json = await client(worker.server, tenant.read).request(`{ usageRecords(first: 1) { ... on UsageRecordConnection { edges { node { labels { project apiKeyId } } } } } }`)
    expect(records.usageRecords.edges[0].node.labels).toEqual({ project: "search", apiKeyId: key.key.id })
    const revoked: Json = await admin.request(`mutation { revokeApiKey(id: "${key.key.id}") { ... on ApiKey { revokedAt } } }`)
    expect(revoked.revokeApiKey.revokedAt).not.toBeNull()
    const list: Json = await admin.request(`{ apiKeys(first: 10) { ... on ApiKeyConnection { edges { node { name revokedAt } } } } }`)
    expect(list.apiKeys.edges.map((e: Json) => e.node.name)).toEqual(["admin", "read", "ingest", "gateway"])
  })

  describe("subscriptions over server-sent events", () => {
    let tenant: TestTenant
    beforeAll(async () => {
      tenant = await newTenant(worker.server, { name: "Live Co" })
    })

    it("a budget's status arrives at once, then again when usage moves it", async () => {
      const created: Json = await client(worker.server, tenant.admin).request(`mutation { createBudget(input: { name: "live", period: MONTH, amount: "10" }) { ... on Budget { id } } }`)
      const sse = sseClient(worker.server, tenant.read)
      const stream = sse.iterate<Json>({
        query: `subscription($id: ID!) { budgetStatus(budgetId: $id, everySeconds: 1) { budget { id } spent calls } }`,
        variables: { id: created.createBudget.id }
      })
      try {
        const first = await stream.next()
        expect(first.value.data.budgetStatus).toEqual({ budget: { id: created.createBudget.id }, spent: "0", calls: 0 })
        await ingest(worker.server, tenant, [usageEvent("live-1", new Date().toISOString(), { inputText: 1_000_000, outputText: 0 })])
        const second = await stream.next()
        expect(second.value.data.budgetStatus).toMatchObject({ spent: "2.5", calls: 1 })
      } finally {
        await stream.return?.(undefined)
        sse.dispose()
      }
    })

    it("another tenant's budget id is refused; an ingest key may not subscribe", async () => {
      const other = await newTenant(worker.server, { name: "Other live" })
      const theirs: Json = await client(worker.server, other.admin).request(`mutation { createBudget(input: { name: "theirs", period: DAY, amount: "1" }) { ... on Budget { id } } }`)
      const sse = sseClient(worker.server, tenant.read)
      const stream = sse.iterate<Json>({ query: `subscription { budgetStatus(budgetId: "${theirs.createBudget.id}") { spent } }` })
      const refused = await stream.next()
      expect(refused.value.errors?.[0]?.message).toMatch(/does not exist/)
      sse.dispose()
      const ingestOnly = sseClient(worker.server, tenant.ingest)
      const denied = await ingestOnly.iterate<Json>({ query: `subscription { budgetStatus { spent } }` }).next()
      expect(denied.value.errors?.[0]?.message).toMatch(/"read" scope/)
      ingestOnly.dispose()
    })

    it("each new anomaly is sent as detection records it", async () => {
      const sse = sseClient(worker.server, tenant.read)
      const stream = sse.iterate<Json>({ query: `subscription { anomalyDetected(everySeconds: 1) { kind severity summary observed expected scope { kind value } } }` })
      try {
        const next = stream.next()
        // Detection records a finding (as the scheduler would), after the subscription began.
        await new Promise((resolve) => setTimeout(resolve, 1500))
        await worker.server.run(Effect.provide(
          AnomalyFindings.AnomalyFindings.use((anomalies) =>
            Effect.flatMap(Effect.sync(() => new Date()), (now) =>
              anomalies.record(tenant.id, [{
                kind: "spend_spike",
                scope: { kind: "team", value: "core" },
                windowStart: DateTimeOf(now.getTime() - 3_600_000),
                windowEnd: DateTimeOf(now.getTime()),
                severity: "critical",
                currency: "USD",
                observed: new Money.Decimal("120.5"),
                expected: new Money.Decimal("10"),
                statistic: "modified_z",
                score: new Money.Decimal("9.1"),
                summary: "team core spent 12x its usual hour",
                evidence: { note: "test" }
              }], DateTimeOf(now.getTime())))
          ),
          Layer.orDie(AnomalyFindings.AnomalyFindings.layer)
        ))
        const finding = await next
        expect(finding.value.data.anomalyDetected).toEqual({
          kind: "SPEND_SPIKE",
          severity: "CRITICAL",
          summary: "team core spent 12x its usual hour",
          observed: "120.5",
          expected: "10",
          scope: { kind: "team", value: "core" }
        })
      } finally {
        await stream.return?.(undefined)
        sse.dispose()
      }
    })
  })
})
