/**
 * Chargeback's two sources give the same amounts: spend by owner and FOCUS cost groups read from
 * the daily cost summary (0023), and the cost at risk read from the daily at-risk summary (0028),
 * equal those read from the ledger, on random ledgers in tenants of three time zones (one half an
 * hour off UTC), after repricings; and where the summary cannot
 * stand for the ledger as of a run's instant (usage recorded or repriced after it, a period off
 * the tenant's midnights, a dimension it does not keep, a changed time zone) the reader says so
 * and `spend` reads the ledger.
 */
import { assert, describe, layer } from "@effect/vitest"
import { CostAllocation, CostEngine, Money, PricingSnapshot, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import fc from "fast-check"
import { ChargebackLedger } from "../src/ChargebackLedger.ts"
import { CostAtRisk } from "../src/CostAtRisk.ts"
import { Repricings } from "../src/Repricings.ts"
import { Tenants } from "../src/Tenants.ts"
import { plainReport } from "./AtRiskReports.ts"
import { callArbitrary, pricedCall, snapshot } from "./Fixtures.ts"
import { chunks, property } from "./Properties.ts"
import { insertAll } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const dimension = (name: string): CostAllocation.Dimension.Dimension =>
  Result.getOrThrow(CostAllocation.Dimension.parse(name))

const instant = (iso: string) => DateTime.makeUnsafe(iso)

/** January, February and the first quarter of 2025 in each zone: local midnights as UTC instants. */
const periods = {
  UTC: [["2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"], ["2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z"], ["2025-01-01T00:00:00Z", "2025-04-01T00:00:00Z"]],
  "America/New_York": [["2025-01-01T05:00:00Z", "2025-02-01T05:00:00Z"], ["2025-02-01T05:00:00Z", "2025-03-01T05:00:00Z"], [
    "2025-01-01T05:00:00Z",
    "2025-04-01T04:00:00Z"
  ]],
  "Asia/Kolkata": [["2024-12-31T18:30:00Z", "2025-01-31T18:30:00Z"], ["2025-01-31T18:30:00Z", "2025-02-28T18:30:00Z"], [
    "2024-12-31T18:30:00Z",
    "2025-03-31T18:30:00Z"
  ]]
} as const

type Zone = keyof typeof periods

const summaryDimensions = ["team", "costCenter", "project", "model", "provider"]

const plainSpend = (spend: CostAllocation.Allocate.PeriodSpend) => ({
  owners: spend.owners
    .map((o) => ({ owner: o.owner, currency: o.currency, cost: Money.format(o.cost), requests: o.requests, unpriced: o.unpriced }))
    .sort((a, b) => JSON.stringify([a.owner, a.currency]).localeCompare(JSON.stringify([b.owner, b.currency]))),
  snapshotIds: spend.snapshotIds
})

const plainGroups = (groups: ReadonlyArray<CostAllocation.Focus.CostGroup>) =>
  groups.map((g) => ({
    ...g,
    listRate: Money.format(g.listRate),
    unitPrice: Money.format(g.unitPrice),
    quantity: Money.format(g.quantity),
    amount: Money.format(g.amount),
    billed: Money.format(g.billed)
  }))

const newTenantIn = (timeZone: Zone) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants
    return (yield* tenants.create({ name: "Acme", timeZone })).id
  })

/** Both sources of every dimension the summary keeps, over `period`, as of now: they must agree. */
const bothSources = (tenantId: string, period: { readonly from: DateTime.Utc; readonly to: DateTime.Utc }) =>
  Effect.gen(function*() {
    const ledger = yield* ChargebackLedger
    const asOf = yield* ledger.asOf(tenantId)
    for (const name of summaryDimensions) {
      const q = { ...period, dimension: dimension(name), asOf }
      const fromSummary = yield* ledger.summarySpend(tenantId, q)
      assert.isDefined(fromSummary, `the summary stands for the ledger by ${name}`)
      assert.deepStrictEqual(plainSpend(fromSummary!), plainSpend(yield* ledger.spend(tenantId, { ...q, source: "ledger" })), name)
      for (const currency of ["USD", "EUR"]) {
        const groups = yield* ledger.summaryCostGroups(tenantId, { ...q, currency })
        assert.isDefined(groups)
        assert.deepStrictEqual(
          plainGroups(groups!),
          plainGroups(yield* ledger.costGroups(tenantId, { ...q, currency, source: "ledger" })),
          `${name} ${currency}`
        )
      }
    }
    const atRisk = yield* CostAtRisk
    for (const query of [{ ...period, ingestedBy: asOf }, { ...period, filter: { model: ["gpt-4o"] } }, { ...period, sources: ["partial" as const] }]) {
      const fromSummary = yield* atRisk.summaryReport(tenantId, query)
      assert.isDefined(fromSummary, "the at-risk summary stands for the ledger")
      assert.deepStrictEqual(plainReport(fromSummary!), plainReport(yield* atRisk.report(tenantId, { ...query, source: "ledger" })), "cost at risk")
    }
  })

/** The fixture's prices in euros. */
const euro = PricingSnapshot.decodeSnapshot({ ...PricingSnapshot.encodeSnapshot(snapshot), currency: "EUR" })

/** `call` priced with `prices`. */
const pricedWith = (call: UsageRecord.UsageRecord, prices: PricingSnapshot.PricingSnapshot): UsageRecord.UsageRecord => {
  const breakdown = Result.getOrThrow(CostEngine.price(call.usage, prices))
  return {
    ...call,
    costSource: "computed",
    unpricedReason: null,
    snapshotId: breakdown.snapshotId,
    breakdown,
    total: breakdown.total,
    reportedCost: null,
    reportedCurrency: null,
    difference: null
  }
}

/** The fixture's prices with input text dearer, and a price for the video seconds partial calls leave out. */
const corrected = PricingSnapshot.decodeSnapshot({
  ...PricingSnapshot.encodeSnapshot(snapshot),
  rates: { ...PricingSnapshot.encodeSnapshot(snapshot).rates, inputText: "3" },
  units: { ...PricingSnapshot.encodeSnapshot(snapshot).units, perVideoSecond: "0.002" }
})

for (const target of targets) {
  describe(`Chargeback from the daily cost summary (${target.name})`, () => {
    layer(
      Layer.mergeAll(ChargebackLedger.layer, CostAtRisk.layer, Repricings.layer, Tenants.layer).pipe(Layer.provideMerge(target.layer)),
      layerOptions
    )((it) => {
      it.effect("random ledgers in three time zones: the summaries' spend, cost groups and cost at risk equal the ledger's, also after repricings", () =>
        property(
          fc.record({
            zone: fc.constantFrom<Zone>("UTC", "America/New_York", "Asia/Kolkata"),
            calls: fc.array(callArbitrary({ ids: 80, months: 3 }), { minLength: 1, maxLength: 40 }),
            euros: fc.array(fc.integer({ min: 0, max: 79 }), { maxLength: 5 }),
            partials: fc.array(fc.integer({ min: 0, max: 79 }), { maxLength: 10 }),
            reprice: fc.array(fc.integer({ min: 0, max: 79 }), { maxLength: 5 }),
            seed: fc.integer()
          }),
          ({ calls, euros, partials, reprice, seed, zone }) =>
            Effect.gen(function*() {
              const tenantId = yield* newTenantIn(zone)
              const written = calls.map((c) => {
                const id = Number(c.requestId.slice(4))
                // Partial calls too (the generator draws none): what the at-risk summary keeps beside unpriced ones.
                if (partials.includes(id)) {
                  return pricedCall({ requestId: c.requestId, occurredAt: DateTime.toEpochMillis(c.occurredAt), usage: c.usage, labels: c.labels, model: c.model, costSource: "partial" })
                }
                return euros.includes(id) && c.costSource === "computed" ? pricedWith(c, euro) : c
              })
              for (const batch of chunks(written, 8, seed)) yield* insertAll(tenantId, batch)
              for (const [from, to] of periods[zone]) yield* bothSources(tenantId, { from: instant(from), to: instant(to) })

              // Reprice some of what landed (the first of each id): the summary moves with the ledger.
              const landed = new Map<string, UsageRecord.UsageRecord>()
              for (const c of written) if (!landed.has(c.requestId)) landed.set(c.requestId, c)
              const changes = [...landed.values()]
                .filter((c) => reprice.includes(Number(c.requestId.slice(4))) && c.costSource !== "provider")
                .map((c) => ({ kind: c.costSource === "unpriced" || c.costSource === "partial" ? "priced" as const : "correction" as const, before: c, after: pricedWith(c, corrected) }))
              if (changes.length > 0) {
                const repricings = yield* Repricings
                yield* repricings.apply(tenantId, { runId: yield* repricings.newRunId, actor: "test", changes })
                for (const [from, to] of periods[zone]) yield* bothSources(tenantId, { from: instant(from), to: instant(to) })
              }
            }),
          { numRuns: target.name === "pglite" ? 4 : 8, endOnFailure: true }
        ))

      it.effect("the summary is not read where it cannot stand for the ledger as of the instant, and spend reads the ledger", () =>
        Effect.gen(function*() {
          const ledger = yield* ChargebackLedger
          const tenantId = yield* newTenantIn("UTC")
          const march = { from: instant("2025-03-01T00:00:00Z"), to: instant("2025-04-01T00:00:00Z") }
          const team = dimension("team")
          yield* insertAll(tenantId, [
            pricedCall({ requestId: "a1", occurredAt: "2025-03-02T10:00:00Z", labels: { team: "alpha" } }),
            pricedCall({ requestId: "b1", occurredAt: "2025-03-03T10:00:00Z", labels: { team: "beta" } })
          ])
          const before = yield* ledger.asOf(tenantId)
          assert.isDefined(yield* ledger.summarySpend(tenantId, { ...march, dimension: team, asOf: before }))
          // Dimensions the summary does not keep.
          assert.isUndefined(yield* ledger.summarySpend(tenantId, { ...march, dimension: dimension("tag:owner"), asOf: before }))
          assert.isUndefined(yield* ledger.summarySpend(tenantId, { ...march, dimension: dimension("customer"), asOf: before }))
          // A period that does not start at the tenant's midnight.
          const offDay = { from: instant("2025-03-02T12:00:00Z"), to: march.to }
          assert.isUndefined(yield* ledger.summarySpend(tenantId, { ...offDay, dimension: team, asOf: before }))
          assert.deepStrictEqual(plainSpend(yield* ledger.spend(tenantId, { ...offDay, dimension: team, asOf: before })).owners.map((o) => o.owner), ["beta"])

          // A call of March recorded after the instant: March as of then is the ledger's, without it.
          yield* Effect.sleep("20 millis")
          yield* insertAll(tenantId, [pricedCall({ requestId: "late", occurredAt: "2025-03-04T10:00:00Z", labels: { team: "alpha" } })])
          assert.isUndefined(yield* ledger.summarySpend(tenantId, { ...march, dimension: team, asOf: before }))
          assert.isUndefined(yield* ledger.summaryCostGroups(tenantId, { ...march, dimension: team, asOf: before, currency: "USD" }))
          const then = yield* ledger.spend(tenantId, { ...march, dimension: team, asOf: before })
          assert.deepStrictEqual(plainSpend(then), plainSpend(yield* ledger.spend(tenantId, { ...march, dimension: team, asOf: before, source: "ledger" })))
          assert.deepStrictEqual(then.owners.map((o) => o.requests), [1, 1])
          // February had no late usage: still read from the summary.
          const february = { from: instant("2025-02-01T00:00:00Z"), to: march.from }
          assert.isDefined(yield* ledger.summarySpend(tenantId, { ...february, dimension: team, asOf: before }))

          // A repricing recorded after the instant.
          const afterLate = yield* ledger.asOf(tenantId)
          assert.isDefined(yield* ledger.summarySpend(tenantId, { ...march, dimension: team, asOf: afterLate }))
          yield* Effect.sleep("20 millis")
          const repricings = yield* Repricings
          const a1 = pricedCall({ requestId: "a1", occurredAt: "2025-03-02T10:00:00Z", labels: { team: "alpha" } })
          yield* repricings.apply(tenantId, { runId: yield* repricings.newRunId, actor: "test", changes: [{ kind: "correction", before: a1, after: pricedWith(a1, corrected) }] })
          assert.isUndefined(yield* ledger.summarySpend(tenantId, { ...march, dimension: team, asOf: afterLate }))
          const atOldPrices = plainSpend(yield* ledger.spend(tenantId, { ...march, dimension: team, asOf: afterLate }))
          assert.strictEqual(atOldPrices.owners.find((o) => o.owner === "alpha")!.cost, Money.format(a1.total!.times(2)))

          // A new time zone: rows near the period were cut at other midnights.
          const tenants = yield* Tenants
          yield* tenants.update(tenantId, { timeZone: "Europe/Paris" })
          const parisMarch = { from: instant("2025-02-28T23:00:00Z"), to: instant("2025-03-31T22:00:00Z") }
          const now = yield* ledger.asOf(tenantId)
          assert.isUndefined(yield* ledger.summarySpend(tenantId, { ...parisMarch, dimension: team, asOf: now }))
          assert.isUndefined(yield* ledger.summarySpend(tenantId, { ...march, dimension: team, asOf: now }))
          assert.strictEqual((yield* ledger.spend(tenantId, { ...parisMarch, dimension: team, asOf: now })).owners.length, 2)
        }))
    })
  })
}
