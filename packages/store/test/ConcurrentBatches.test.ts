/**
 * Concurrent batches of one tenant on real PostgreSQL: they share rollup and daily summary rows,
 * so their upserts contend for the same row locks. Locks taken in one global order never
 * deadlock; the ledger counts every deadlock or serialization failure it retried, and here there
 * must be none, every batch must land and the totals must be exact.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Money, type UsageRecord } from "@tally/core"
import * as Effect from "effect/Effect"
import { Database } from "../src/Database.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
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
 * teams: each batch both creates summary rows and increments rows other batches created.
 */
const callsFor = (prefix: string, count: number, seed: number): Array<UsageRecord.UsageRecord> => {
  const random = rng(seed)
  const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
  return Array.from({ length: count }, (_, i) =>
    pricedCall({
      requestId: `${prefix}-${i}`,
      occurredAt: Date.UTC(2026, 4, 1) + Math.floor(random() * 28 * 24) * HOUR,
      model: pick(models),
      labels: { project: pick(projects), environment: random() < 0.8 ? "prod" : "staging", team: pick(teams) }
    }))
}

const postgres = targets.filter((target) => target.name === "postgres")

describe.skipIf(postgres.length === 0).each(postgres)("concurrent batches on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("16 concurrent batch streams of one tenant never deadlock and every call lands once", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const { sql } = yield* Database
        const tenantId = yield* newTenant()
        const streams = Array.from({ length: 16 }, (_, k) => callsFor(`s${k}`, 1000, k + 1))
        const before = yield* ledger.contention
        const results = yield* Effect.forEach(
          streams,
          (calls) =>
            Effect.forEach(
              Array.from({ length: calls.length / 250 }, (_, b) => calls.slice(b * 250, b * 250 + 250)),
              (batch) => ledger.insertBatch(tenantId, batch)
            ),
          { concurrency: 16 }
        )
        const after = yield* ledger.contention
        const all = streams.flat()
        assert.strictEqual(results.flat().reduce((n, r) => n + r.inserted, 0), all.length)
        const cost = Money.format(Money.sum(all.map((call) => call.total!)))
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
        // Retried transactions are allowed to exist only if they were not deadlocks of our own making.
        assert.strictEqual(after.deadlocks - before.deadlocks, 0, "deadlocks retried")
      }), 180_000)
  })
})
