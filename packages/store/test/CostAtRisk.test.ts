/**
 * Cost at risk on PGlite and PostgreSQL: partial and unpriced calls counted in the rollups (every
 * source of a usage report agrees) and their missing components read back with quantities; the
 * daily at-risk summary (0028) gives the ledger's report, after repricings too, and is not read
 * where it cannot stand for the ledger.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Money, type UsageQuery } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { CostAtRisk, type CostAtRiskQuery, empty } from "../src/CostAtRisk.ts"
import { Database } from "../src/Database.ts"
import { Repricings } from "../src/Repricings.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { UsageReport } from "../src/UsageReport.ts"
import { plainComponents, plainReport } from "./AtRiskReports.ts"
import { pricedCall } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const AT = "2025-03-14T15:09:26.535Z"
const range = { from: DateTime.makeUnsafe("2025-03-14T00:00:00Z"), to: DateTime.makeUnsafe("2025-03-15T00:00:00Z") }

const calls = [
  pricedCall({ requestId: "priced", occurredAt: AT }),
  // Partial: the fixture snapshot has no video price; 10 s each are left out.
  pricedCall({ requestId: "partial-search", occurredAt: AT, costSource: "partial" }),
  pricedCall({ requestId: "partial-chat", occurredAt: AT, costSource: "partial", labels: { project: "chat", team: "core" } }),
  // Unpriced: every component of their usage is at risk (requests aside).
  pricedCall({ requestId: "unpriced-tokens", occurredAt: AT, costSource: "unpriced", model: "mystery-1" }),
  pricedCall({
    requestId: "unpriced-tools",
    occurredAt: AT,
    costSource: "unpriced",
    model: "mystery-1",
    usage: { tokens: { inputText: 10 }, requests: 1, toolCalls: { code_interpreter: 2 }, imagesGenerated: { "1024x1024": 3 }, webSearches: 4 }
  })
]

/** The report from the summary, which must stand for the ledger, and from the ledger: equal. */
const bothSources = (tenantId: string, query: CostAtRiskQuery) =>
  Effect.gen(function*() {
    const atRisk = yield* CostAtRisk
    const summary = yield* atRisk.summaryReport(tenantId, query)
    assert.isDefined(summary, "the summary stands for the ledger")
    assert.deepStrictEqual(plainReport(summary!), plainReport(yield* atRisk.report(tenantId, { ...query, source: "ledger" })))
    assert.deepStrictEqual(plainReport(yield* atRisk.report(tenantId, query)), plainReport(summary!))
    return summary!
  })

const now = Effect.gen(function*() {
  const [row] = yield* (yield* Database).sql<{ readonly now: Date }>`SELECT now() AS now`
  return DateTime.fromDateUnsafe(row!.now)
})

for (const target of targets) {
  describe(`CostAtRisk (${target.name})`, () => {
    layer(target.layer, layerOptions)((it) => {
      it.effect("counts partial and unpriced calls and names every component without a price, with its quantity", () =>
        Effect.gen(function*() {
          const ledger = yield* UsageLedger
          const atRisk = yield* CostAtRisk
          const tenantId = yield* newTenant()
          yield* ledger.insertBatch(tenantId, calls)
          const report = yield* atRisk.report(tenantId, range)
          assert.strictEqual(report.partialCalls, 2)
          assert.strictEqual(report.unpricedCalls, 2)
          // unpriced-tokens: the fixture usage 1200 input, 300 cache read, 450 output, 120 reasoning;
          // unpriced-tools: 10 input, 2 code interpreter calls, 3 images, 4 searches; partial: 10 s video each.
          assert.deepStrictEqual(plainComponents(report.components), [
            ["inputText", "token", "1210", 2, 0, 2],
            ["videoSeconds", "second", "20", 2, 2, 0],
            ["cacheRead", "token", "300", 1, 0, 1],
            ["image:1024x1024", "image", "3", 1, 0, 1],
            ["outputText", "token", "450", 1, 0, 1],
            ["reasoning", "token", "120", 1, 0, 1],
            ["toolCall:code_interpreter", "call", "2", 1, 0, 1],
            ["webSearches", "search", "4", 1, 0, 1]
          ])
          assert.deepStrictEqual(report.models.map((m) => [m.provider, m.model, m.partialCalls, m.unpricedCalls]), [
            ["openai", "gpt-4o-2024-08-06", 2, 0],
            ["openai", "mystery-1", 0, 2]
          ])
          // The partial calls' priced lines are in spend: their total, per currency.
          const partialTotal = calls.filter((c) => c.costSource === "partial").reduce((sum, c) => sum.plus(c.total!), Money.ZERO)
          assert.deepStrictEqual(report.partialSpend.map((s) => [s.currency, Money.format(s.amount)]), [["USD", Money.format(partialTotal)]])
        }))

      it.effect("narrows like a usage report, and another tenant sees none of it", () =>
        Effect.gen(function*() {
          const ledger = yield* UsageLedger
          const atRisk = yield* CostAtRisk
          const tenantId = yield* newTenant()
          yield* ledger.insertBatch(tenantId, calls)
          const chat = yield* atRisk.report(tenantId, { ...range, filter: { project: ["chat"] } })
          assert.deepStrictEqual([chat.partialCalls, chat.unpricedCalls, plainComponents(chat.components)], [1, 0, [["videoSeconds", "second", "10", 1, 1, 0]]])
          const other = yield* newTenant("Globex")
          assert.deepStrictEqual(yield* atRisk.report(other, range), empty)
        }))

      it.effect("read as of an instant, it leaves out calls ingested later, as a chargeback run's spend read does", () =>
        Effect.gen(function*() {
          const ledger = yield* UsageLedger
          const atRisk = yield* CostAtRisk
          const tenantId = yield* newTenant()
          yield* ledger.insertBatch(tenantId, calls.slice(0, 3))
          const db = yield* Database
          const [read] = yield* db.sql<{ readonly now: Date }>`SELECT now() AS now`
          const readAt = DateTime.fromDateUnsafe(read!.now)
          yield* Effect.sleep("10 millis")
          yield* ledger.insertBatch(tenantId, calls.slice(3))
          const asOfRead = yield* atRisk.report(tenantId, { ...range, ingestedBy: readAt })
          assert.deepStrictEqual([asOfRead.partialCalls, asOfRead.unpricedCalls], [2, 0])
          const now = yield* atRisk.report(tenantId, range)
          assert.deepStrictEqual([now.partialCalls, now.unpricedCalls], [2, 2])
        }))

      it.effect("usage reports count partial calls alike from the ledger, the hourly rollups and the daily summaries", () =>
        Effect.gen(function*() {
          const ledger = yield* UsageLedger
          const reports = yield* UsageReport
          const tenantId = yield* newTenant()
          yield* ledger.insertBatch(tenantId, calls)
          const query: UsageQuery.UsageQuery = { ...range, granularity: "day", groupBy: ["project"] }
          const answers = [
            yield* reports.usage(tenantId, query),
            yield* reports.usage(tenantId, { ...query, noDaily: true }),
            yield* reports.usage(tenantId, { ...query, ledgerOnly: true })
          ]
          assert.deepStrictEqual(answers.map((a) => a.sources), [["daily"], ["hourly"], ["ledger"]])
          for (const answer of answers) {
            assert.deepStrictEqual([answer.totals.partialRequests, answer.totals.unpricedRequests, answer.totals.requests], [2, 2, 5])
            assert.deepStrictEqual(answer.buckets.map((b) => [b.group.project, b.partialRequests]), [["chat", 1], ["search", 1]])
          }
        }))

      it.effect("the daily at-risk summary gives the ledger's report: partial, unpriced, provider-priced, repriced", () =>
        Effect.gen(function*() {
          const ledger = yield* UsageLedger
          const repricings = yield* Repricings
          const tenantId = yield* newTenant()
          // A provider-priced call has a price: it is not at risk.
          yield* ledger.insertBatch(tenantId, [...calls, pricedCall({ requestId: "provider", occurredAt: AT, costSource: "provider" })])
          const before = yield* bothSources(tenantId, range)
          assert.deepStrictEqual([before.partialCalls, before.unpricedCalls], [2, 2])
          assert.deepStrictEqual(plainComponents(before.components), [
            ["inputText", "token", "1210", 2, 0, 2],
            ["videoSeconds", "second", "20", 2, 2, 0],
            ["cacheRead", "token", "300", 1, 0, 1],
            ["image:1024x1024", "image", "3", 1, 0, 1],
            ["outputText", "token", "450", 1, 0, 1],
            ["reasoning", "token", "120", 1, 0, 1],
            ["toolCall:code_interpreter", "call", "2", 1, 0, 1],
            ["webSearches", "search", "4", 1, 0, 1]
          ])
          const partialTotal = calls.filter((c) => c.costSource === "partial").reduce((sum, c) => sum.plus(c.total!), Money.ZERO)
          assert.deepStrictEqual(before.partialSpend.map((s) => [s.currency, Money.format(s.amount)]), [["USD", Money.format(partialTotal)]])
          // Narrowed to the summary's own columns, and to one kind of call.
          assert.deepStrictEqual((yield* bothSources(tenantId, { ...range, filter: { model: ["mystery-1"] } })).unpricedCalls, 2)
          assert.deepStrictEqual(plainComponents((yield* bothSources(tenantId, { ...range, sources: ["partial"] })).components), [
            ["videoSeconds", "second", "20", 2, 2, 0]
          ])
          // The summary's rows for the day: one row of calls per model and kind, one per component.
          const { sql } = yield* Database
          const rows = yield* sql<{ model: string; cost_source: string; component: string; calls: string; quantity: string }>`
            SELECT model, cost_source, component, calls::text AS calls, quantity::text AS quantity
            FROM tally.usage_at_risk_daily WHERE tenant_id = ${tenantId} AND component IN ('', 'inputText', 'videoSeconds')
            ORDER BY model, cost_source, component`
          assert.deepStrictEqual(rows.map((r) => [r.model, r.cost_source, r.component, Number(r.calls), Number(r.quantity)]), [
            ["gpt-4o-2024-08-06", "partial", "", 2, 0],
            ["gpt-4o-2024-08-06", "partial", "videoSeconds", 2, 20],
            ["mystery-1", "unpriced", "", 2, 0],
            ["mystery-1", "unpriced", "inputText", 2, 1210]
          ])

          // Repriced: an unpriced call priced, a partial call priced in full. Both leave the summary.
          const unpriced = calls.find((c) => c.requestId === "unpriced-tokens")!
          const partial = calls.find((c) => c.requestId === "partial-search")!
          yield* repricings.apply(tenantId, {
            runId: yield* repricings.newRunId,
            actor: "test",
            changes: [
              { kind: "priced", before: unpriced, after: pricedCall({ requestId: unpriced.requestId, occurredAt: AT, model: unpriced.model }) },
              { kind: "priced", before: partial, after: pricedCall({ requestId: partial.requestId, occurredAt: AT }) }
            ]
          })
          const after = yield* bothSources(tenantId, range)
          assert.deepStrictEqual([after.partialCalls, after.unpricedCalls], [1, 1])
          // unpriced-tools alone: 10 input tokens and its other components; partial-chat: 10 s of video.
          assert.deepStrictEqual(plainComponents(after.components), [
            ["image:1024x1024", "image", "3", 1, 0, 1],
            ["inputText", "token", "10", 1, 0, 1],
            ["toolCall:code_interpreter", "call", "2", 1, 0, 1],
            ["videoSeconds", "second", "10", 1, 1, 0],
            ["webSearches", "search", "4", 1, 0, 1]
          ])
          const chatTotal = calls.find((c) => c.requestId === "partial-chat")!.total!
          assert.deepStrictEqual(after.partialSpend.map((s) => [s.currency, Money.format(s.amount)]), [["USD", Money.format(chatTotal)]])
          // Another tenant's summary holds nothing of it.
          assert.deepStrictEqual(yield* bothSources(yield* newTenant("Globex"), range), empty)
        }))

      it.effect("the summary is not read where it cannot stand for the ledger, and the report reads the ledger", () =>
        Effect.gen(function*() {
          const ledger = yield* UsageLedger
          const atRisk = yield* CostAtRisk
          const repricings = yield* Repricings
          const tenantId = yield* newTenant()
          yield* ledger.insertBatch(tenantId, calls.slice(0, 4))
          const readAt = yield* now
          yield* bothSources(tenantId, { ...range, ingestedBy: readAt })
          // Filters the summary does not keep, and a period off the tenant's midnights.
          assert.isUndefined(yield* atRisk.summaryReport(tenantId, { ...range, filter: { project: ["chat"] } }))
          assert.isUndefined(yield* atRisk.summaryReport(tenantId, { ...range, filter: { tags: { region: "eu" } } }))
          const offDay = { from: DateTime.makeUnsafe("2025-03-14T12:00:00Z"), to: range.to }
          assert.isUndefined(yield* atRisk.summaryReport(tenantId, offDay))
          assert.deepStrictEqual((yield* atRisk.report(tenantId, offDay)).partialCalls, 2)

          // A late call of the day, recorded after the instant: as of then, the ledger's report without it.
          yield* Effect.sleep("20 millis")
          yield* ledger.insertBatch(tenantId, calls.slice(4))
          assert.isUndefined(yield* atRisk.summaryReport(tenantId, { ...range, ingestedBy: readAt }))
          const asOfRead = yield* atRisk.report(tenantId, { ...range, ingestedBy: readAt })
          assert.deepStrictEqual(plainReport(asOfRead), plainReport(yield* atRisk.report(tenantId, { ...range, ingestedBy: readAt, source: "ledger" })))
          assert.deepStrictEqual([asOfRead.partialCalls, asOfRead.unpricedCalls], [2, 1])
          // Now, and as of a later instant, the summary has it.
          assert.deepStrictEqual((yield* bothSources(tenantId, range)).unpricedCalls, 2)
          const later = yield* now
          assert.deepStrictEqual((yield* bothSources(tenantId, { ...range, ingestedBy: later })).unpricedCalls, 2)
          // The day before has no late calls: read from the summary as of the first instant.
          const dayBefore = { from: DateTime.makeUnsafe("2025-03-13T00:00:00Z"), to: range.from }
          assert.deepStrictEqual(yield* bothSources(tenantId, { ...dayBefore, ingestedBy: readAt }), empty)

          // A repricing after the instant.
          yield* Effect.sleep("20 millis")
          const unpriced = calls.find((c) => c.requestId === "unpriced-tokens")!
          yield* repricings.apply(tenantId, {
            runId: yield* repricings.newRunId,
            actor: "test",
            changes: [{ kind: "priced", before: unpriced, after: pricedCall({ requestId: unpriced.requestId, occurredAt: AT, model: unpriced.model }) }]
          })
          assert.isUndefined(yield* atRisk.summaryReport(tenantId, { ...range, ingestedBy: later }))
          assert.deepStrictEqual(
            plainReport(yield* atRisk.report(tenantId, { ...range, ingestedBy: later })),
            plainReport(yield* atRisk.report(tenantId, { ...range, ingestedBy: later, source: "ledger" }))
          )
          assert.deepStrictEqual((yield* bothSources(tenantId, range)).unpricedCalls, 1)
        }))
    })
  })
}
