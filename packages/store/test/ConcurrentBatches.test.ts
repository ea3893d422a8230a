/**
 * Concurrent batches of one tenant on real PostgreSQL: they share rollup and daily summary rows,
 * so their upserts contend for the same row locks. Locks taken in one global order never
 * deadlock; the ledger counts every deadlock or serialization failure it retried, and here there
 * must be none, every batch must land and the totals must be exact — the daily at-risk summary
 * (0028) too, with a repricing of unpriced calls running among the batches.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Money, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { CostAtRisk } from "../src/CostAtRisk.ts"
import { Database } from "../src/Database.ts"
import { Repricings } from "../src/Repricings.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { plainReport } from "./AtRiskReports.ts"
import { pricedCall } from "./Fixtures.ts"
import { newTenant, totals } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const HOUR = 3_600_000
const models = ["gpt-4o-2024-08-06", "gpt-4o-mini", "o3", "o4-mini", "gpt-4.1"]
const teams = ["core", "growth", "infra", "ml"]

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
const rng = (seed: number) => {
  let state = seed | 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const projects = ["search", "chat", "agents", "summaries", "support"]

/**
 * `count` calls at random hours of 28 days, over 5 models, 5 projects, 2 environments and 4
 * teams: each batch both creates summary rows and increments rows other batches created. One call
 * in ten is unpriced and one partial, for the at-risk summary.
 */
const callsFor = (prefix: string, count: number, seed: number): Array<UsageRecord.UsageRecord> => {
  const random = rng(seed)
  const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
  return Array.from({ length: count }, (_, i) =>
    pricedCall({
      requestId: `${prefix}-${i}`,
      occurredAt: Date.UTC(2026, 4, 1) + Math.floor(random() * 28 * 24) * HOUR,
      model: pick(models),
      labels: { project: pick(projects), environment: random() < 0.8 ? "prod" : "staging", team: pick(teams) },
      costSource: i % 10 === 3 ? "unpriced" : i % 10 === 7 ? "partial" : "computed"
    }))
}

const may = { from: DateTime.makeUnsafe("2026-05-01T00:00:00Z"), to: DateTime.makeUnsafe("2026-06-01T00:00:00Z") }

const postgres = targets.filter((target) => target.name === "postgres")

describe.skipIf(postgres.length === 0).each(postgres)("concurrent batches on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("16 concurrent batch streams of one tenant never deadlock and every call lands once", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const { sql } = yield* Database
        const repricings = yield* Repricings
        const tenantId = yield* newTenant()
        // Unpriced calls recorded first, priced by a repricing that runs among the batches.
        const early = callsFor("early", 200, 99)
        yield* ledger.insertBatch(tenantId, early)
        const priced = early.filter((call) => call.costSource === "unpriced").map((call) => ({
          kind: "priced" as const,
          before: call,
          after: pricedCall({ requestId: call.requestId, occurredAt: DateTime.toEpochMillis(call.occurredAt), model: call.model, labels: call.labels })
        }))
        const streams = Array.from({ length: 16 }, (_, k) => callsFor(`s${k}`, 1000, k + 1))
        const before = yield* ledger.contention
        const [results] = yield* Effect.all([
          Effect.forEach(
            streams,
            (calls) =>
              Effect.forEach(
                Array.from({ length: calls.length / 250 }, (_, b) => calls.slice(b * 250, b * 250 + 250)),
                (batch) => ledger.insertBatch(tenantId, batch)
              ),
            { concurrency: 16 }
          ),
          Effect.flatMap(repricings.newRunId, (runId) => repricings.apply(tenantId, { runId, actor: "test", changes: priced }))
        ], { concurrency: 2 })
        const after = yield* ledger.contention
        const all = [...streams.flat(), ...early.map((call) => priced.find((p) => p.before === call)?.after ?? call)]
        assert.strictEqual(results.flat().reduce((n, r) => n + r.inserted, 0) + early.length, all.length)
        const cost = Money.format(Money.sum(all.flatMap((call) => (call.total === null ? [] : [call.total]))))
        const stored = yield* totals(tenantId)
        assert.strictEqual(stored.ledgerRows, all.length)
        assert.strictEqual(stored.payloadRows, all.filter((call) => call.raw !== null || call.rawText !== undefined).length)
        assert.strictEqual(stored.rollupRequests, all.length)
        assert.strictEqual(stored.rollupCost, cost)
        const [daily] = yield* sql<{ requests: string; cost: string; team_requests: string }>`SELECT
            (SELECT coalesce(sum(request_count), 0)::text FROM tally.usage_rollups_daily WHERE tenant_id = ${tenantId}) AS requests,
            (SELECT coalesce(sum(cost), 0)::text FROM tally.usage_rollups_daily WHERE tenant_id = ${tenantId}) AS cost,
            (SELECT coalesce(sum(request_count), 0)::text FROM tally.usage_rollups_daily_teams WHERE tenant_id = ${tenantId}) AS team_requests`
        assert.strictEqual(Number(daily!.requests), all.length)
        assert.strictEqual(Money.format(new Money.Decimal(daily!.cost)), cost)
        assert.strictEqual(Number(daily!.team_requests), all.length)
        // The at-risk summary is the ledger's: every unpriced and partial call of the batches, none of the repriced ones.
        const atRisk = yield* CostAtRisk
        const fromSummary = yield* atRisk.summaryReport(tenantId, may)
        assert.isDefined(fromSummary)
        assert.deepStrictEqual(plainReport(fromSummary!), plainReport(yield* atRisk.report(tenantId, { ...may, source: "ledger" })))
        assert.deepStrictEqual(
          [fromSummary!.unpricedCalls, fromSummary!.partialCalls],
          [all.filter((call) => call.costSource === "unpriced").length, all.filter((call) => call.costSource === "partial").length]
        )
        // Retried transactions are allowed to exist only if they were not deadlocks of our own making.
        assert.strictEqual(after.deadlocks - before.deadlocks, 0, "deadlocks retried")
      }), 180_000)
  })
})
