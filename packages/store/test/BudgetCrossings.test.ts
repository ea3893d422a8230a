import { assert, describe, layer } from "@effect/vitest"
import { Budget, Crossing, Money } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { BudgetCrossings } from "../src/BudgetCrossings.ts"
import { BudgetRecords } from "../src/BudgetRecords.ts"
import { Database } from "../src/Database.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const at = (iso: string) => DateTime.makeUnsafe(iso)
const decimal = (value: string) => new Money.Decimal(value)

/** A budget to cross, stored for the tenant. */
const storedBudget = (tenantId: string, name: string) =>
  Effect.gen(function*() {
    const checked = Budget.checkCreate({ name, period: "day", amount: decimal("10"), thresholds: [decimal("50"), decimal("100")] }, "USD")
    if (checked instanceof Budget.InvalidBudget) return yield* Effect.die(checked)
    return yield* (yield* BudgetRecords).insert(tenantId, checked)
  })

const crossing = (budgetId: string, day: string, threshold: string, spent: string): Crossing.Crossing => ({
  budgetId,
  periodStart: at(`${day}T00:00:00.000Z`),
  periodEnd: DateTime.add(at(`${day}T00:00:00.000Z`), { days: 1 }),
  threshold: decimal(threshold),
  spent: decimal(spent),
  amount: decimal("10"),
  currency: "USD",
  payload: { type: Crossing.kind, budgetId, threshold }
})

/** The tenant's outbox, read as the owner. */
const outbox = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    return yield* sql<{ id: string; kind: string; dedupe_key: string; payload: Record<string, unknown> }>`SELECT
        id, kind, dedupe_key, payload FROM tally.outbox WHERE tenant_id = ${tenantId} ORDER BY dedupe_key`
  })

describe.each(targets)("budget crossings on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("a crossing is recorded once with its outbox message; recording it again reports nothing new", () =>
      Effect.gen(function*() {
        const crossings = yield* BudgetCrossings
        const tenantId = yield* newTenant()
        const budget = yield* storedBudget(tenantId, "daily")
        const now = at("2025-05-01T12:34:56.789Z")
        const first = yield* crossings.record(tenantId, [
          crossing(budget.id, "2025-05-01", "100", "10.5"),
          crossing(budget.id, "2025-05-01", "50", "10.5")
        ], now)
        assert.deepStrictEqual(
          first.map((c) => [c.budgetId, DateTime.formatIso(c.periodStart), Money.format(c.threshold), c.outboxId !== null]),
          [
            [budget.id, "2025-05-01T00:00:00.000Z", "50", true],
            [budget.id, "2025-05-01T00:00:00.000Z", "100", true]
          ]
        )
        const again = yield* crossings.record(tenantId, [
          crossing(budget.id, "2025-05-01", "50", "11"),
          crossing(budget.id, "2025-05-02", "50", "6")
        ], now)
        assert.deepStrictEqual(again.map((c) => [DateTime.formatIso(c.periodStart), Money.format(c.threshold)]), [
          ["2025-05-02T00:00:00.000Z", "50"]
        ])
        assert.deepStrictEqual(yield* crossings.record(tenantId, [], now), [])

        const messages = yield* outbox(tenantId)
        assert.deepStrictEqual(messages.map((m) => [m.kind, m.dedupe_key]), [
          [Crossing.kind, Crossing.key(budget.id, at("2025-05-01T00:00:00Z"), decimal("100"))],
          [Crossing.kind, Crossing.key(budget.id, at("2025-05-01T00:00:00Z"), decimal("50"))],
          [Crossing.kind, Crossing.key(budget.id, at("2025-05-02T00:00:00Z"), decimal("50"))]
        ])
        const fifty = messages.find((m) => m.dedupe_key === Crossing.key(budget.id, at("2025-05-01T00:00:00Z"), decimal("50")))!
        const event = first.find((c) => Money.format(c.threshold) === "50")!
        assert.deepStrictEqual(fifty.payload, {
          type: Crossing.kind,
          budgetId: budget.id,
          threshold: "50",
          eventId: event.eventId,
          crossedAt: "2025-05-01T12:34:56.789Z"
        })
        assert.strictEqual(fifty.id, event.outboxId)
      }))

    it.effect("events read back what was recorded, oldest first, by budget and recent periods", () =>
      Effect.gen(function*() {
        const crossings = yield* BudgetCrossings
        const tenantId = yield* newTenant()
        const a = yield* storedBudget(tenantId, "a")
        const b = yield* storedBudget(tenantId, "b")
        yield* crossings.record(tenantId, [crossing(a.id, "2025-05-01", "100", "10"), crossing(a.id, "2025-05-01", "50", "5.25")], at("2025-05-01T10:00:00Z"))
        yield* crossings.record(tenantId, [crossing(b.id, "2025-05-02", "50", "7")], at("2025-05-02T09:00:00Z"))
        const events = yield* crossings.events(tenantId)
        assert.deepStrictEqual(
          events.map((e) => ({
            budgetId: e.budgetId,
            periodStart: DateTime.formatIso(e.periodStart),
            periodEnd: DateTime.formatIso(e.periodEnd),
            threshold: Money.format(e.threshold),
            spent: Money.format(e.spent),
            budgetAmount: Money.format(e.budgetAmount),
            currency: e.currency,
            crossedAt: DateTime.formatIso(e.crossedAt)
          })),
          [
            // 50 before 100: ordered by the numeric threshold, not its text.
            { budgetId: a.id, periodStart: "2025-05-01T00:00:00.000Z", periodEnd: "2025-05-02T00:00:00.000Z", threshold: "50", spent: "5.25", budgetAmount: "10", currency: "USD", crossedAt: "2025-05-01T10:00:00.000Z" },
            { budgetId: a.id, periodStart: "2025-05-01T00:00:00.000Z", periodEnd: "2025-05-02T00:00:00.000Z", threshold: "100", spent: "10", budgetAmount: "10", currency: "USD", crossedAt: "2025-05-01T10:00:00.000Z" },
            { budgetId: b.id, periodStart: "2025-05-02T00:00:00.000Z", periodEnd: "2025-05-03T00:00:00.000Z", threshold: "50", spent: "7", budgetAmount: "10", currency: "USD", crossedAt: "2025-05-02T09:00:00.000Z" }
          ]
        )
        assert.deepStrictEqual((yield* crossings.events(tenantId, { budgetIds: [b.id] })).map((e) => e.budgetId), [b.id])
        assert.strictEqual((yield* crossings.events(tenantId, { periodStartFrom: at("2025-05-02T00:00:00Z") })).length, 1)
        assert.strictEqual((yield* crossings.events(tenantId, { limit: 2 })).length, 2)
        assert.deepStrictEqual(yield* crossings.events(tenantId, { budgetIds: [] }), [])
      }))

    it.effect("a tenant reads only its own crossings", () =>
      Effect.gen(function*() {
        const crossings = yield* BudgetCrossings
        const a = yield* newTenant("A")
        const b = yield* newTenant("B")
        const budget = yield* storedBudget(a, "a")
        yield* crossings.record(a, [crossing(budget.id, "2025-05-01", "50", "5")], at("2025-05-01T10:00:00Z"))
        assert.strictEqual((yield* crossings.events(a)).length, 1)
        assert.deepStrictEqual(yield* crossings.events(b), [])
        assert.deepStrictEqual(yield* crossings.events(b, { budgetIds: [budget.id] }), [])
      }))
  })
})
