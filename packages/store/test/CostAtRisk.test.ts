/**
 * Cost at risk on PGlite and PostgreSQL: partial and unpriced calls counted in the rollups (every
 * source of a usage report agrees) and their missing components read back with quantities.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Money, type UsageQuery } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { type AtRiskComponent, CostAtRisk, empty } from "../src/CostAtRisk.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { UsageReport } from "../src/UsageReport.ts"
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

const plain = (components: ReadonlyArray<AtRiskComponent>) =>
  components.map((c) => [c.component, c.unit, Money.format(c.quantity), c.calls, c.partialCalls, c.unpricedCalls])

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
          assert.deepStrictEqual(plain(report.components), [
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
          assert.deepStrictEqual([chat.partialCalls, chat.unpricedCalls, plain(chat.components)], [1, 0, [["videoSeconds", "second", "10", 1, 1, 0]]])
          const other = yield* newTenant("Globex")
          assert.deepStrictEqual(yield* atRisk.report(other, range), empty)
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
    })
  })
}
