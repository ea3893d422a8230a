import { assert, describe, layer } from "@effect/vitest"
import { Money, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { BudgetSpend, type Spend } from "../src/BudgetSpend.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { pricedCall } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

/** A provider-priced call: its total is exactly `cost` in `currency` (no difference to Tally's own price). */
const call = (
  requestId: string,
  occurredAt: string,
  cost: string,
  options: { readonly labels?: UsageRecord.Labels; readonly currency?: string } = {}
): UsageRecord.UsageRecord => ({
  ...pricedCall({ requestId, occurredAt, costSource: "provider", reportedCost: cost, labels: options.labels ?? { team: "a" } }),
  reportedCurrency: options.currency ?? "USD",
  difference: null
})

const window = (key: string, from: string, to: string, scope: Record<string, string> = {}) => ({
  key,
  scope,
  from: DateTime.makeUnsafe(from),
  to: DateTime.makeUnsafe(to)
})

const plain = (spend: Spend | undefined) =>
  spend === undefined ? undefined : {
    amount: Money.format(spend.amount),
    calls: spend.calls,
    unpricedCalls: spend.unpricedCalls,
    otherCurrencies: spend.otherCurrencies.map((o) => [o.currency, Money.format(o.amount)])
  }

const zero = { amount: "0", calls: 0, unpricedCalls: 0, otherCurrencies: [] }

describe.each(targets)("budget spend on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("a window cut at any instant is exact: whole hours from the rollups, the ends from the ledger", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        yield* (yield* UsageLedger).insertBatch(tenantId, [
          call("s-1", "2025-05-01T10:15:00Z", "1"),
          call("s-2", "2025-05-01T10:45:00Z", "2"),
          call("s-3", "2025-05-01T11:30:00Z", "4"),
          call("s-4", "2025-05-01T12:05:00Z", "8"),
          call("s-5", "2025-05-01T12:10:00Z", "16")
        ])
        const spend = yield* (yield* BudgetSpend).spend(tenantId, "USD", [
          window("partial hours", "2025-05-01T10:30:00Z", "2025-05-01T12:10:00Z"),
          window("one hour", "2025-05-01T10:00:00Z", "2025-05-01T11:00:00Z"),
          window("inside an hour", "2025-05-01T10:20:00Z", "2025-05-01T10:50:00Z"),
          window("day", "2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z"),
          window("empty", "2025-05-02T00:00:00Z", "2025-05-03T00:00:00Z"),
          window("backwards", "2025-05-01T12:00:00Z", "2025-05-01T10:00:00Z")
        ])
        assert.deepStrictEqual([...spend.keys()].sort(), ["backwards", "day", "empty", "inside an hour", "one hour", "partial hours"])
        assert.deepStrictEqual(plain(spend.get("partial hours")), { ...zero, amount: "14", calls: 3 })
        assert.deepStrictEqual(plain(spend.get("one hour")), { ...zero, amount: "3", calls: 2 })
        assert.deepStrictEqual(plain(spend.get("inside an hour")), { ...zero, amount: "2", calls: 1 })
        assert.deepStrictEqual(plain(spend.get("day")), { ...zero, amount: "31", calls: 5 })
        assert.deepStrictEqual(plain(spend.get("empty")), zero)
        assert.deepStrictEqual(plain(spend.get("backwards")), zero)
        assert.strictEqual((yield* (yield* BudgetSpend).spend(tenantId, "USD", [])).size, 0)
      }))

    it.effect("a window counts only calls its scope covers; unpriced calls and other currencies are apart", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        yield* (yield* UsageLedger).insertBatch(tenantId, [
          call("c-1", "2025-05-01T10:15:00Z", "1.5", { labels: { team: "a", project: "web" } }),
          call("c-2", "2025-05-01T11:15:00Z", "2.25", { labels: { team: "b", project: "web" } }),
          call("c-3", "2025-05-01T11:20:00Z", "7", { labels: { team: "a" }, currency: "EUR" }),
          pricedCall({ requestId: "c-4", occurredAt: "2025-05-01T11:25:00Z", costSource: "unpriced", labels: { team: "a" } })
        ])
        const day = (key: string, scope: Record<string, string> = {}) => window(key, "2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z", scope)
        const spend = yield* (yield* BudgetSpend).spend(tenantId, "USD", [
          day("tenant"),
          day("team a", { team: "a" }),
          day("team a, web", { team: "a", project: "web" }),
          day("model", { model: "gpt-4o-2024-08-06" }),
          day("other model", { model: "gpt-4o-mini" })
        ])
        assert.deepStrictEqual(plain(spend.get("tenant")), { amount: "3.75", calls: 2, unpricedCalls: 1, otherCurrencies: [["EUR", "7"]] })
        assert.deepStrictEqual(plain(spend.get("team a")), { amount: "1.5", calls: 1, unpricedCalls: 1, otherCurrencies: [["EUR", "7"]] })
        assert.deepStrictEqual(plain(spend.get("team a, web")), { ...zero, amount: "1.5", calls: 1 })
        assert.deepStrictEqual(plain(spend.get("model")), plain(spend.get("tenant")))
        assert.deepStrictEqual(plain(spend.get("other model")), zero)
        // Asked in euros, the dollars are the other currency.
        const euros = yield* (yield* BudgetSpend).spend(tenantId, "EUR", [day("tenant")])
        assert.deepStrictEqual(plain(euros.get("tenant")), { amount: "7", calls: 1, unpricedCalls: 1, otherCurrencies: [["USD", "3.75"]] })
      }))

    it.effect("a tenant's windows see only its own spend", () =>
      Effect.gen(function*() {
        const a = yield* newTenant("A")
        const b = yield* newTenant("B")
        yield* (yield* UsageLedger).insertBatch(a, [call("t-1", "2025-05-01T10:15:00Z", "5"), call("t-2", "2025-05-01T13:00:00Z", "6")])
        const spend = yield* BudgetSpend
        const day = [window("day", "2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z")]
        assert.deepStrictEqual(plain((yield* spend.spend(a, "USD", day)).get("day")), { ...zero, amount: "11", calls: 2 })
        assert.deepStrictEqual(plain((yield* spend.spend(b, "USD", day)).get("day")), zero)
      }))
  })
})
