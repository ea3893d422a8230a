import { assert, describe, layer } from "@effect/vitest"
import { type Reconciliation, UsageRecord } from "@tally/core"
import * as Effect from "effect/Effect"
import { ReconciliationRuns } from "../src/ReconciliationRuns.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { pricedCall } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const august: Reconciliation.Period = { from: new Date("2025-08-01T00:00:00Z"), to: new Date("2025-09-01T00:00:00Z") }

const finding = (overrides: Partial<Reconciliation.FindingInput>): Reconciliation.FindingInput => ({
  kind: "price-drift",
  severity: "warning",
  requestId: "r1",
  occurredAt: "2025-08-06T10:00:00.000Z",
  provider: "openai",
  model: "gpt-4o",
  reportedCost: "0.5",
  computedCost: "0.4",
  difference: "0.1",
  currency: "USD",
  evidence: { message: "re-priced differently" },
  ...overrides
})

for (const target of targets) {
  describe(`ReconciliationRuns (${target.name})`, () => {
    layer(target.layer, layerOptions)((it) => {
      it.effect("the ledger rows of a period, oldest first, as written", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const calls = [
            pricedCall({ requestId: "late", occurredAt: "2025-08-31T23:59:59.999Z" }),
            pricedCall({ requestId: "early", occurredAt: "2025-08-01T00:00:00Z", rawText: "{\"id\":\"early\"}", raw: { id: "early" } }),
            pricedCall({ requestId: "before", occurredAt: "2025-07-31T23:59:59.999Z" }),
            pricedCall({ requestId: "after", occurredAt: "2025-09-01T00:00:00Z" })
          ]
          yield* UsageLedger.use((ledger) => ledger.insertBatch(tenantId, calls))
          const rows = yield* ReconciliationRuns.use((runs) => runs.ledgerRows(tenantId, august))
          assert.deepStrictEqual(rows.map((r) => r.requestId), ["early", "late"])
          assert.deepStrictEqual(UsageRecord.encode(rows[0]!), UsageRecord.encode(calls[1]!))
        }))

      it.effect("conflicts: request ids that came again with another payload, for the period's rows", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const inPeriod = pricedCall({ requestId: "x", occurredAt: "2025-08-06T10:00:00Z" })
          const outside = pricedCall({ requestId: "y", occurredAt: "2025-06-06T10:00:00Z" })
          yield* UsageLedger.use((ledger) => ledger.insertBatch(tenantId, [inPeriod, outside]))
          yield* UsageLedger.use((ledger) =>
            ledger.insertBatch(tenantId, [
              { ...inPeriod, raw: { id: "x", changed: true } },
              { ...outside, raw: { id: "y", changed: true } }
            ])
          )
          const conflicts = yield* ReconciliationRuns.use((runs) => runs.conflicts(tenantId, august))
          assert.deepStrictEqual(conflicts.map((c) => c.requestId), ["x"])
          assert.deepStrictEqual((conflicts[0]!.item as { raw: unknown }).raw, { id: "x", changed: true })
          // Received now, so a period around now lists both.
          const now = { from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 3_600_000) }
          const recent = yield* ReconciliationRuns.use((runs) => runs.conflicts(tenantId, now))
          assert.deepStrictEqual(recent.map((c) => c.requestId).sort(), ["x", "y"])
        }))

      it.effect("a run is saved with its findings, read back by period or id, findings errors first", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const other = yield* newTenant("Other")
          const runs = yield* ReconciliationRuns
          const findings = [
            finding({ kind: "unpriced", severity: "info", reportedCost: null, computedCost: null, difference: null, currency: null }),
            finding({}),
            finding({ kind: "missing-on-our-side", severity: "error", requestId: null, occurredAt: null })
          ]
          const first = yield* runs.save(tenantId, { period: august, summary: { rows: 3 }, report: { comparisons: [] }, findings })
          const second = yield* runs.save(tenantId, { period: august, summary: { rows: 4 }, report: { comparisons: [1] }, findings: [] })
          assert.deepStrictEqual(first.period, august)
          const latest = yield* runs.latest(tenantId, august)
          assert.strictEqual(latest?.id, second.id)
          assert.deepStrictEqual(latest, second)
          assert.deepStrictEqual(yield* runs.get(tenantId, first.id), first)
          assert.isUndefined(yield* runs.latest(tenantId, { from: august.from, to: new Date("2025-08-31T00:00:00Z") }))
          assert.isUndefined(yield* runs.get(tenantId, "not-a-uuid"))
          assert.isUndefined(yield* runs.get(other, first.id))

          const stored = yield* runs.findings(tenantId, first.id)
          assert.deepStrictEqual(stored.map((f) => [f.severity, f.kind]), [["error", "missing-on-our-side"], ["warning", "price-drift"], ["info", "unpriced"]])
          assert.deepStrictEqual(stored[1], { ...findings[1]!, id: stored[1]!.id, runId: first.id })
          assert.lengthOf(yield* runs.findings(other, first.id), 0)
        }))
    })
  })
}
