/**
 * The repricing repository on every target: a batch of new prices lands with the price before and
 * after of each call, the rollups and daily summaries move exactly (a rebuild from the ledger finds
 * nothing to change), a change whose price moved since it was read is left alone, and chargeback
 * reads the ledger as of an earlier instant at that instant's prices and sees the repricing as
 * late usage.
 */
import { assert, describe, layer } from "@effect/vitest"
import { CostAllocation, CostEngine, Money, PricingSnapshot, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { ChargebackLedger } from "../src/ChargebackLedger.ts"
import { Database } from "../src/Database.ts"
import { type Change, Repricings } from "../src/Repricings.ts"
import { type RollupRow, Rollups } from "../src/Rollups.ts"
import { pricedCall, snapshot } from "./Fixtures.ts"
import { insertAll, newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const march = { from: DateTime.makeUnsafe("2025-03-01T00:00:00Z"), to: DateTime.makeUnsafe("2025-04-01T00:00:00Z") }
const at = (day: number, hour = 12) => Date.UTC(2025, 2, day, hour)

/** The fixture's snapshot with a corrected input price. */
const corrected = PricingSnapshot.decodeSnapshot({ ...PricingSnapshot.encodeSnapshot(snapshot), rates: { ...PricingSnapshot.encodeSnapshot(snapshot).rates, inputText: "3" } })

/** `call` priced with `prices`. */
const pricedWith = (call: UsageRecord.UsageRecord, prices: PricingSnapshot.PricingSnapshot): UsageRecord.UsageRecord => {
  const breakdown = Result.getOrThrow(CostEngine.price(call.usage, prices))
  return { ...call, costSource: "computed", unpricedReason: null, snapshotId: breakdown.snapshotId, breakdown, total: breakdown.total }
}

const team = (): CostAllocation.Dimension.Dimension => Result.getOrThrow(CostAllocation.Dimension.parse("team"))

const rollupsAfterRebuild = (tenantId: string) =>
  Effect.gen(function*() {
    const rollups = yield* Rollups
    const plain = (rows: ReadonlyArray<RollupRow>) =>
      rows.map((r) => ({ ...r, hour: DateTime.formatIso(r.hour), cost: Money.format(r.cost), audioSeconds: Money.format(r.audioSeconds), videoSeconds: Money.format(r.videoSeconds) }))
    const kept = plain(yield* rollups.list(tenantId, march))
    yield* rollups.rebuild({ ...march, tenantId })
    return { kept, rebuilt: plain(yield* rollups.list(tenantId, march)) }
  })

const spendByOwner = (spend: CostAllocation.Allocate.PeriodSpend) =>
  Object.fromEntries(spend.owners.map((o) => [`${o.owner ?? "-"}:${o.currency ?? "-"}`, `${Money.format(o.cost)}/${o.unpriced}`]))

for (const target of targets) {
  describe(`Repricings on ${target.name}`, () => {
    layer(Layer.mergeAll(Repricings.layer, ChargebackLedger.layer, Rollups.layer).pipe(Layer.provideMerge(target.layer)), layerOptions)((it) => {
      it.effect("new prices land with the price before and after; rollups move exactly; a stale change is left alone; chargeback reads the past at its prices", () =>
        Effect.gen(function*() {
          const repricings = yield* Repricings
          const ledger = yield* ChargebackLedger
          const tenantId = yield* newTenant()
          const calls = [
            pricedCall({ requestId: "a1", occurredAt: at(1), labels: { team: "alpha" } }),
            pricedCall({ requestId: "b1", occurredAt: at(2), labels: { team: "beta" } }),
            { ...pricedCall({ requestId: "u1", occurredAt: at(3, 9), labels: { team: "alpha" } }), costSource: "unpriced" as const, unpricedReason: "no-rule-matched: no price", snapshotId: null, breakdown: null, total: null }
          ]
          assert.strictEqual((yield* insertAll(tenantId, calls)).length, 3)
          const [a1, b1, u1] = calls
          const readBefore = yield* ledger.asOf(tenantId)
          const spendBefore = spendByOwner(yield* ledger.spend(tenantId, { ...march, dimension: team(), asOf: readBefore }))

          const runId = yield* repricings.newRunId
          const changes: Array<Change> = [
            { kind: "correction", before: a1!, after: pricedWith(a1!, corrected) },
            { kind: "priced", before: u1!, after: pricedWith(u1!, snapshot) }
          ]
          const applied = yield* repricings.apply(tenantId, { runId, actor: "alice", changes })
          assert.deepStrictEqual([...applied].sort(), ["a1", "u1"])

          const entries = yield* repricings.ofRun(tenantId, runId)
          assert.deepStrictEqual(entries.map((e) => [e.requestId, e.kind, e.actor, e.before.costSource, e.after.costSource]), [
            ["a1", "correction", "alice", "computed", "computed"],
            ["u1", "priced", "alice", "unpriced", "computed"]
          ])
          assert.strictEqual(Money.format(entries[0]!.before.total!), Money.format(a1!.total!))
          assert.strictEqual(Money.format(entries[0]!.after.total!), Money.format(pricedWith(a1!, corrected).total!))
          assert.strictEqual(entries[0]!.before.snapshotId, a1!.snapshotId)
          assert.strictEqual(entries[0]!.after.snapshotId, PricingSnapshot.snapshotId(corrected))
          assert.deepInclude(entries[1]!.before, { currency: null, total: null })

          // The ledger holds the new prices, and the rollups are what a rebuild from it gives.
          const { sql } = yield* Database
          const rows = yield* sql<{ request_id: string; cost_source: string; total: string }>`SELECT request_id, cost_source, total::text AS total
            FROM tally.usage_ledger WHERE tenant_id = ${tenantId} ORDER BY request_id`
          assert.deepStrictEqual(rows.map((r) => [r.request_id, r.cost_source, Money.format(new Money.Decimal(r.total))]), [
            ["a1", "computed", Money.format(pricedWith(a1!, corrected).total!)],
            ["b1", "computed", Money.format(b1!.total!)],
            ["u1", "computed", Money.format(pricedWith(u1!, snapshot).total!)]
          ])
          const { kept, rebuilt } = yield* rollupsAfterRebuild(tenantId)
          assert.deepStrictEqual(kept, rebuilt)
          // u1's hour held only u1, unpriced: that row is gone, not left at zero.
          assert.isFalse(kept.some((r) => r.currency === null))
          const [daily] = yield* sql<{ cost: string; unpriced: string }>`SELECT coalesce(sum(cost), 0)::text AS cost, coalesce(sum(unpriced_count), 0)::text AS unpriced
            FROM tally.usage_rollups_daily WHERE tenant_id = ${tenantId}`
          const ledgerCost = Money.sum([pricedWith(a1!, corrected).total!, b1!.total!, pricedWith(u1!, snapshot).total!])
          assert.strictEqual(Money.format(new Money.Decimal(daily!.cost)), Money.format(ledgerCost))
          assert.strictEqual(daily!.unpriced, "0")

          // A change computed from a price the call no longer has is left alone: no entry, no move.
          const stale = yield* repricings.apply(tenantId, { runId: yield* repricings.newRunId, actor: "bob", changes: [changes[0]!] })
          assert.deepStrictEqual(stale, [])
          assert.strictEqual((yield* repricings.history(tenantId, "a1")).length, 1)
          assert.deepStrictEqual((yield* rollupsAfterRebuild(tenantId)).kept, kept)

          // As of before the repricing, the period reads at its old prices; since then, it is late usage.
          assert.deepStrictEqual(spendByOwner(yield* ledger.spend(tenantId, { ...march, dimension: team(), asOf: readBefore })), spendBefore)
          const now = yield* ledger.asOf(tenantId)
          const spendNow = spendByOwner(yield* ledger.spend(tenantId, { ...march, dimension: team(), asOf: now }))
          assert.notDeepEqual(spendNow, spendBefore)
          assert.strictEqual(spendNow["alpha:USD"], `${Money.format(Money.sum([pricedWith(a1!, corrected).total!, pricedWith(u1!, snapshot).total!]))}/0`)
          assert.isTrue(yield* ledger.hasLateUsage(tenantId, { ...march, since: readBefore }))
          assert.isFalse(yield* ledger.hasLateUsage(tenantId, { ...march, since: now }))
          const oldLines = yield* ledger.costGroups(tenantId, { ...march, dimension: team(), asOf: readBefore, currency: "USD" })
          assert.deepStrictEqual([...new Set(oldLines.map((g) => g.snapshotId))], [a1!.snapshotId])
          const page = yield* ledger.usagePage(tenantId, { ...march, after: null, limit: 10, filter: { asOf: readBefore } })
          assert.deepStrictEqual(page.map((c) => [c.requestId, Money.format(c.total!)]), [["a1", Money.format(a1!.total!)], ["b1", Money.format(b1!.total!)]])
        }))
    })
  })
}
