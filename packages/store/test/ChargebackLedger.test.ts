import { assert, describe, layer } from "@effect/vitest"
import { CostAllocation, CostEngine, Money, PricingSnapshot, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { ChargebackLedger } from "../src/ChargebackLedger.ts"
import { Database } from "../src/Database.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { pricedCall } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const march = { from: DateTime.makeUnsafe("2025-03-01T00:00:00Z"), to: DateTime.makeUnsafe("2025-04-01T00:00:00Z") }
const at = (day: number, hour = 12) => Date.UTC(2025, 2, day, hour)

const euro = PricingSnapshot.decodeSnapshot({
  provider: "mistral",
  modelKey: "mistral-large",
  currency: "EUR",
  rates: { inputText: "2", outputText: "6" }
})

/** A call priced in euros. */
const euroCall = (requestId: string, occurredAt: number, labels: UsageRecord.Labels): UsageRecord.UsageRecord => {
  const usage = { tokens: { inputText: 10_000, outputText: 1_000 } }
  const breakdown = Result.getOrThrow(CostEngine.price(usage, euro))
  return {
    ...pricedCall({ requestId, occurredAt, labels, usage }),
    provider: "mistral",
    model: "mistral-large",
    snapshotId: breakdown.snapshotId,
    breakdown,
    total: breakdown.total
  }
}

const dimension = (name: string): CostAllocation.Dimension.Dimension =>
  Result.getOrThrow(CostAllocation.Dimension.parse(name))

const insert = (tenantId: string, calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
  Effect.gen(function*() {
    const result = yield* UsageLedger.use((ledger) => ledger.insertBatch(tenantId, calls))
    assert.strictEqual(result.inserted, calls.length)
  })

/** A March of calls: two teams (one by an empty label), provider-priced and unpriced calls, euros and tags. */
const march2025 = (): ReadonlyArray<UsageRecord.UsageRecord> => [
  pricedCall({ requestId: "a1", occurredAt: at(1), labels: { team: "alpha" }, tags: { owner: "ann" } }),
  pricedCall({ requestId: "a2", occurredAt: at(2), labels: { team: "alpha" }, costSource: "provider", reportedCost: "0.5" }),
  pricedCall({ requestId: "b1", occurredAt: at(3), labels: { team: "beta" }, tags: { owner: "" } }),
  pricedCall({ requestId: "n1", occurredAt: at(4), labels: { team: "" } }),
  pricedCall({ requestId: "u1", occurredAt: at(5), labels: { team: "alpha" }, costSource: "unpriced" }),
  euroCall("e1", at(6), { team: "beta" })
]

const totalOf = (calls: ReadonlyArray<UsageRecord.UsageRecord>, ids: ReadonlyArray<string>) =>
  Money.format(Money.sum(calls.filter((c) => ids.includes(c.requestId)).map((c) => c.total ?? Money.ZERO)))

const plainSpend = (spend: CostAllocation.Allocate.PeriodSpend) =>
  spend.owners
    .map((o) => ({ owner: o.owner, currency: o.currency, cost: Money.format(o.cost), requests: o.requests, unpriced: o.unpriced }))
    .sort((a, b) => JSON.stringify([a.owner, a.currency]).localeCompare(JSON.stringify([b.owner, b.currency])))

for (const target of targets) {
  describe(`ChargebackLedger (${target.name})`, () => {
    layer(ChargebackLedger.layer.pipe(Layer.provideMerge(target.layer)), layerOptions)((it) => {
      it.effect("spend of a period by owner and currency; an empty label is no owner; unpriced calls counted apart", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const calls = march2025()
          yield* insert(tenantId, calls)
          const ledger = yield* ChargebackLedger
          const asOf = yield* ledger.asOf(tenantId)
          const spend = yield* ledger.spend(tenantId, { ...march, dimension: dimension("team"), asOf })
          assert.deepStrictEqual(plainSpend(spend), [
            { owner: "alpha", currency: "USD", cost: totalOf(calls, ["a1", "a2"]), requests: 2, unpriced: 0 },
            { owner: "alpha", currency: null, cost: "0", requests: 1, unpriced: 1 },
            { owner: "beta", currency: "EUR", cost: totalOf(calls, ["e1"]), requests: 1, unpriced: 0 },
            { owner: "beta", currency: "USD", cost: totalOf(calls, ["b1"]), requests: 1, unpriced: 0 },
            { owner: null, currency: "USD", cost: totalOf(calls, ["n1"]), requests: 1, unpriced: 0 }
          ].sort((a, b) => JSON.stringify([a.owner, a.currency]).localeCompare(JSON.stringify([b.owner, b.currency]))))
          const snapshots = [...new Set(calls.flatMap((c) => (c.costSource === "unpriced" || c.snapshotId === null ? [] : [c.snapshotId])))].sort()
          assert.deepStrictEqual(spend.snapshotIds, snapshots)

          const byTag = yield* ledger.spend(tenantId, { ...march, dimension: dimension("tag:owner"), asOf })
          assert.deepStrictEqual(
            plainSpend(byTag).filter((o) => o.currency === "USD").map((o) => [o.owner, o.requests]),
            [["ann", 1], [null, 3]]
          )
          const byModel = yield* ledger.spend(tenantId, { ...march, dimension: dimension("model"), asOf })
          assert.deepStrictEqual([...new Set(byModel.owners.map((o) => o.owner))].sort(), ["gpt-4o-2024-08-06", "mistral-large"])
        }))

      it.effect("as of an instant: usage ingested later is left out, and is the late usage of the period", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          yield* insert(tenantId, [pricedCall({ requestId: "early", occurredAt: at(10), labels: { team: "alpha" } })])
          const ledger = yield* ChargebackLedger
          const before = yield* ledger.asOf(tenantId)
          assert.isFalse(yield* ledger.hasLateUsage(tenantId, { ...march, since: before }))
          yield* Effect.sleep("20 millis")
          yield* insert(tenantId, [pricedCall({ requestId: "late", occurredAt: at(11), labels: { team: "alpha" } })])
          const then = yield* ledger.spend(tenantId, { ...march, dimension: dimension("team"), asOf: before })
          assert.deepStrictEqual(then.owners.map((o) => o.requests), [1])
          const now = yield* ledger.spend(tenantId, { ...march, dimension: dimension("team"), asOf: yield* ledger.asOf(tenantId) })
          assert.deepStrictEqual(now.owners.map((o) => o.requests), [2])
          assert.isTrue(yield* ledger.hasLateUsage(tenantId, { ...march, since: before }))
          const april = { from: march.to, to: DateTime.makeUnsafe("2025-05-01T00:00:00Z") }
          assert.isFalse(yield* ledger.hasLateUsage(tenantId, { ...april, since: before }))
        }))

      it.effect("asOf is the start of the enclosing transaction", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const db = yield* Database
          const ledger = yield* ChargebackLedger
          const [first, second] = yield* db.withTenant(
            tenantId,
            Effect.gen(function*() {
              const first = yield* ledger.asOf(tenantId)
              yield* Effect.sleep("20 millis")
              return [first, yield* ledger.asOf(tenantId)] as const
            })
          )
          assert.strictEqual(DateTime.formatIso(first), DateTime.formatIso(second))
        }))

      it.effect("cost groups: computed calls by cost line, provider-priced calls as one reported line, in one currency", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const calls = march2025()
          yield* insert(tenantId, calls)
          const ledger = yield* ChargebackLedger
          const groups = yield* ledger.costGroups(tenantId, {
            ...march,
            dimension: dimension("team"),
            asOf: yield* ledger.asOf(tenantId),
            currency: "USD"
          })
          const reported = groups.filter((g) => g.component === "reported")
          assert.deepStrictEqual(reported.map((g) => [g.owner, Money.format(g.quantity), Money.format(g.billed), g.requests, g.snapshotId]), [
            ["alpha", "0.5", "0.5", 1, null]
          ])
          // Every computed USD call's lines, each owner's adding up to its calls' totals.
          const computed = groups.filter((g) => g.component !== "reported")
          assert.isTrue(computed.every((g) => g.currency === "USD"))
          const owed = (owner: string | null) => Money.format(Money.sum(computed.filter((g) => g.owner === owner).map((g) => g.amount)))
          assert.strictEqual(owed("alpha"), totalOf(calls, ["a1"]))
          assert.strictEqual(owed("beta"), totalOf(calls, ["b1"]))
          assert.strictEqual(owed(null), totalOf(calls, ["n1"]))
          const input = computed.find((g) => g.owner === "alpha" && g.component === "inputText")!
          assert.deepStrictEqual([Money.format(input.listRate), input.listRatePer, Money.format(input.unitPrice), input.unit], ["2.5", "1M tokens", "0.0000025", "token"])
        }))

      it.effect("usage pages: priced calls in (occurred_at, request id) order, resumable, filtered by owner and instant", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const calls = march2025()
          yield* insert(tenantId, calls)
          const ledger = yield* ChargebackLedger
          const first = yield* ledger.usagePage(tenantId, { ...march, after: null, limit: 3 })
          assert.deepStrictEqual(first.map((r) => r.requestId), ["a1", "a2", "b1"])
          const last = first[first.length - 1]!
          const next = yield* ledger.usagePage(tenantId, { ...march, after: { occurredAt: last.occurredAt, requestId: last.requestId }, limit: 3 })
          assert.deepStrictEqual(next.map((r) => r.requestId), ["n1", "e1"])
          // The record as written, but for its raw payload, which an export never reads.
          const written = calls.find((c) => c.requestId === "a1")!
          assert.deepStrictEqual(first[0], { ...written, raw: null })

          const owners = (values: ReadonlyArray<string>, unowned: boolean) =>
            ledger.usagePage(tenantId, { ...march, after: null, limit: 100, filter: { owners: { dimension: dimension("team"), values, unowned } } })
              .pipe(Effect.map((records) => records.map((r) => r.requestId)))
          assert.deepStrictEqual(yield* owners(["beta"], false), ["b1", "e1"])
          assert.deepStrictEqual(yield* owners([], true), ["n1"])
          assert.deepStrictEqual(yield* owners(["alpha"], true), ["a1", "a2", "n1"])
          const byTag = yield* ledger.usagePage(tenantId, {
            ...march,
            after: null,
            limit: 100,
            filter: { owners: { dimension: dimension("tag:owner"), values: ["ann"], unowned: false } }
          })
          assert.deepStrictEqual(byTag.map((r) => r.requestId), ["a1"])

          const asOf = yield* ledger.asOf(tenantId)
          yield* Effect.sleep("20 millis")
          yield* insert(tenantId, [pricedCall({ requestId: "late", occurredAt: at(1), labels: { team: "alpha" } })])
          const asRead = yield* ledger.usagePage(tenantId, { ...march, after: null, limit: 100, filter: { asOf } })
          assert.notInclude(asRead.map((r) => r.requestId), "late")
          assert.strictEqual(yield* ledger.unpricedCount(tenantId, march), 1)
        }))
    })
  })
}
