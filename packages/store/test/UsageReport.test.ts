import { assert, describe, layer } from "@effect/vitest"
import { Money, type UsageQuery, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import { Tenants } from "../src/Tenants.ts"
import { UsageReport } from "../src/UsageReport.ts"
import { callArbitrary, epoch, pricedCall } from "./Fixtures.ts"
import { property } from "./Properties.ts"
import { insertAll } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const HOUR = 3_600_000
const DAY = 24 * HOUR

const zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Adelaide", "Pacific/Chatham"]

/** A report as plain comparable values. */
const plain = (report: UsageQuery.UsageReport) => ({
  buckets: report.buckets.map((b) => ({
    ...b,
    start: DateTime.formatIso(b.start),
    end: DateTime.formatIso(b.end),
    spend: b.spend.map((s) => ({ currency: s.currency, amount: Money.format(s.amount) })),
    audioSeconds: Money.format(b.audioSeconds),
    videoSeconds: Money.format(b.videoSeconds)
  })),
  totals: {
    ...report.totals,
    spend: report.totals.spend.map((s) => ({ currency: s.currency, amount: Money.format(s.amount) })),
    audioSeconds: Money.format(report.totals.audioSeconds),
    videoSeconds: Money.format(report.totals.videoSeconds)
  }
})

/** Totals of the recorded calls in `[from, to)`, computed here without SQL. */
const expectedTotals = (calls: ReadonlyArray<UsageRecord.UsageRecord>, from: number, to: number) => {
  let requests = 0
  let inputText = 0
  const spend = new Map<string, Money.Decimal>()
  for (const call of calls) {
    const at = DateTime.toEpochMillis(call.occurredAt)
    if (at < from || at >= to) continue
    requests++
    inputText += call.usage.tokens.inputText ?? 0
    if (call.total === null) continue
    const currency = call.costSource === "provider" ? call.reportedCurrency! : call.breakdown!.currency
    spend.set(currency, (spend.get(currency) ?? Money.ZERO).plus(call.total))
  }
  return {
    requests,
    inputText,
    spend: [...spend].sort(([a], [b]) => (a < b ? -1 : 1)).map(([currency, amount]) => ({ currency, amount: Money.format(amount) }))
  }
}

const queryArbitrary = fc.record({
  start: fc.integer({ min: -2 * DAY, max: 50 * DAY }),
  length: fc.integer({ min: 1, max: 40 * DAY }),
  granularity: fc.constantFrom<UsageQuery.Granularity>("hour", "day", "day", "month", "total"),
  groupBy: fc.subarray<UsageQuery.Dimension>(["model", "team", "project", "customer", "currency", "provider"], { maxLength: 3 }),
  teamFilter: fc.option(fc.subarray(["core", "growth", ""], { minLength: 1 }), { nil: undefined }),
  zone: fc.constantFrom(...zones)
})

describe.each(targets)("usage queries on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("any cut of any range, from summaries and ledger, equals the ledger alone and the calls' own sums", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const report = yield* UsageReport
        const calls = fc.sample(callArbitrary({ ids: 1, months: 2 }), { numRuns: 400, seed: 42 })
          .map((call, i) => ({ ...call, requestId: `q-${i}` }))
        const results = yield* Effect.forEach(zones, (timeZone) =>
          Effect.gen(function*() {
            const tenant = yield* tenants.create({ name: "Zoned", timeZone })
            return { tenant: tenant.id, recorded: yield* insertAll(tenant.id, calls), timeZone }
          }))
        yield* property(queryArbitrary, (q) =>
          Effect.gen(function*() {
            const target = results.find((r) => r.timeZone === q.zone)!
            const from = epoch + q.start + 17_000
            const to = from + q.length
            const query: UsageQuery.UsageQuery = {
              from: DateTime.makeUnsafe(from),
              to: DateTime.makeUnsafe(to),
              granularity: q.granularity === "hour" && q.length > 10 * DAY ? "day" : q.granularity,
              groupBy: q.groupBy,
              ...(q.teamFilter === undefined ? {} : { filter: { team: q.teamFilter } })
            }
            const fast = yield* report.usage(target.tenant, query)
            const slow = yield* report.usage(target.tenant, { ...query, ledgerOnly: true })
            assert.deepStrictEqual(slow.sources, ["ledger"])
            assert.deepStrictEqual(plain(fast), plain(slow))
            const hours = yield* report.usage(target.tenant, { ...query, noDaily: true })
            assert.notInclude(hours.sources, "daily")
            assert.deepStrictEqual(plain(hours), plain(slow))
            if (q.teamFilter === undefined) {
              const expected = expectedTotals(target.recorded, from, to)
              assert.strictEqual(fast.totals.requests, expected.requests)
              assert.strictEqual(fast.totals.tokens.inputText, expected.inputText)
              assert.deepStrictEqual(plain(fast).totals.spend, expected.spend)
            }
          }), { numRuns: 60, seed: 7 })
      }), 240_000)

    it.effect("whole days of a month come from the daily summary, edges from hours and the ledger", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const report = yield* UsageReport
        const tenant = yield* tenants.create({ name: "Monthly", timeZone: "Europe/Berlin" })
        yield* insertAll(tenant.id, [pricedCall({ requestId: "m-1", occurredAt: epoch + 3 * DAY })])
        const month = yield* report.usage(tenant.id, {
          from: DateTime.makeUnsafe("2024-12-31T23:00:00Z"),
          to: DateTime.makeUnsafe("2025-01-31T23:00:00Z"),
          granularity: "day",
          groupBy: ["team", "model"]
        })
        assert.deepStrictEqual(month.sources, ["daily"])
        assert.strictEqual(month.buckets.length, 1)
        assert.strictEqual(month.buckets[0]!.label, "2025-01-04")
        const unaligned = yield* report.usage(tenant.id, {
          from: DateTime.makeUnsafe("2025-01-01T10:30:00Z"),
          to: DateTime.makeUnsafe("2025-01-20T05:00:00Z"),
          granularity: "month",
          groupBy: ["team"]
        })
        assert.deepStrictEqual([...unaligned.sources].sort(), ["daily", "hourly", "ledger"])
        const byCustomer = yield* report.usage(tenant.id, {
          from: DateTime.makeUnsafe("2024-12-31T23:00:00Z"),
          to: DateTime.makeUnsafe("2025-01-31T23:00:00Z"),
          granularity: "day",
          groupBy: ["customer"]
        })
        assert.deepStrictEqual(byCustomer.sources, ["hourly"])
      }), 60_000)

    it.effect("a new time zone rebuilds the daily summary in that zone", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const report = yield* UsageReport
        const tenant = yield* tenants.create({ name: "Moving", timeZone: "UTC" })
        const calls = fc.sample(callArbitrary({ ids: 1, months: 1 }), { numRuns: 120, seed: 3 })
          .map((call, i) => ({ ...call, requestId: `z-${i}` }))
        yield* insertAll(tenant.id, calls)
        yield* tenants.update(tenant.id, { timeZone: "Asia/Tokyo" })
        const query: UsageQuery.UsageQuery = {
          from: DateTime.makeUnsafe("2024-12-31T15:00:00Z"),
          to: DateTime.makeUnsafe("2025-01-31T15:00:00Z"),
          granularity: "day",
          groupBy: ["team", "currency"]
        }
        const fast = yield* report.usage(tenant.id, query)
        assert.deepStrictEqual(fast.sources, ["daily"])
        assert.deepStrictEqual(plain(fast), plain(yield* report.usage(tenant.id, { ...query, ledgerOnly: true })))
      }), 60_000)

    it.effect("bad queries name the field at fault", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const report = yield* UsageReport
        const tenant = (yield* tenants.create({ name: "Bad" })).id
        const at = DateTime.makeUnsafe(epoch)
        const backwards = yield* Effect.flip(report.usage(tenant, { from: at, to: at, granularity: "day" }))
        assert.strictEqual(backwards._tag === "InvalidQuery" ? backwards.field : backwards._tag, "to")
        const tooFine = yield* Effect.flip(report.usage(tenant, { from: at, to: DateTime.makeUnsafe(epoch + 800 * DAY), granularity: "hour" }))
        assert.strictEqual(tooFine._tag === "InvalidQuery" ? tooFine.field : tooFine._tag, "granularity")
        const zone = yield* Effect.flip(report.usage(tenant, { from: at, to: DateTime.makeUnsafe(epoch + DAY), granularity: "day", timeZone: "Mars/Olympus" }))
        assert.strictEqual(zone._tag === "InvalidQuery" ? zone.field : zone._tag, "timeZone")
      }), 60_000)
  })
})
