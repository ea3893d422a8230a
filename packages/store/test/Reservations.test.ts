import { assert, describe, layer } from "@effect/vitest"
import { Budget, Money, type Reservation } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { BudgetRecords } from "../src/BudgetRecords.ts"
import { Database } from "../src/Database.ts"
import { Reservations } from "../src/Reservations.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { pricedCall } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const at = (iso: string) => DateTime.makeUnsafe(iso)
const decimal = (value: string) => new Money.Decimal(value)
const day = at("2025-05-01T00:00:00.000Z")
const nextDay = at("2025-05-02T00:00:00.000Z")

/** Two budgets of a new tenant to hold against. */
const setup = (name = "Acme") =>
  Effect.gen(function*() {
    const tenantId = yield* newTenant(name)
    const records = yield* BudgetRecords
    const budget = (budgetName: string) => {
      const checked = Budget.checkCreate({ name: budgetName, period: "day", amount: decimal("10") }, "USD")
      return checked instanceof Budget.InvalidBudget ? Effect.die(checked) : records.insert(tenantId, checked)
    }
    const a = yield* budget("a")
    const b = yield* budget("b")
    return { tenantId, a: a.id, b: b.id }
  })

const reservation = (
  holds: ReadonlyArray<string>,
  estimate: string,
  options: { readonly requestId?: string; readonly expiresAt?: string; readonly periodStart?: DateTime.Utc } = {}
): Reservation.NewReservation => ({
  requestId: options.requestId ?? null,
  labels: { team: "a" },
  estimate: decimal(estimate),
  currency: "USD",
  createdAt: at("2025-05-01T10:00:00.000Z"),
  expiresAt: at(options.expiresAt ?? "2025-05-01T10:10:00.000Z"),
  holds: holds.map((budgetId) => ({ budgetId, periodStart: options.periodStart ?? day }))
})

const plainHeld = (held: ReadonlyMap<string, Money.Decimal>) =>
  Object.fromEntries([...held].map(([id, amount]) => [id, Money.format(amount)]))

describe.each(targets)("reservations on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("a reservation reads back as inserted, with its holds; settling and releasing are recorded", () =>
      Effect.gen(function*() {
        const reservations = yield* Reservations
        const { a, b, tenantId } = yield* setup()
        const id = yield* reservations.insert(tenantId, reservation([b, a], "1.25", { requestId: "req-1" }))
        const stored = yield* reservations.get(tenantId, id)
        assert.deepStrictEqual(
          {
            ...stored,
            estimate: Money.format(stored.estimate),
            createdAt: DateTime.formatIso(stored.createdAt),
            expiresAt: DateTime.formatIso(stored.expiresAt),
            holds: stored.holds.map((h) => [h.budgetId, DateTime.formatIso(h.periodStart)])
          },
          {
            id,
            tenantId,
            requestId: "req-1",
            labels: { team: "a" },
            estimate: "1.25",
            actual: null,
            currency: "USD",
            status: "held",
            createdAt: "2025-05-01T10:00:00.000Z",
            expiresAt: "2025-05-01T10:10:00.000Z",
            settledAt: null,
            releasedAt: null,
            // In budget id order.
            holds: [a, b].sort().map((budgetId) => [budgetId, "2025-05-01T00:00:00.000Z"])
          }
        )
        const db = yield* Database
        const locked = yield* db.withTenant(tenantId, reservations.get(tenantId, id, { forUpdate: true }))
        assert.strictEqual(locked.id, id)

        yield* reservations.settle(tenantId, id, {
          actual: decimal("0.75"),
          requestId: null,
          now: at("2025-05-01T10:05:00.000Z"),
          expiresAt: at("2025-05-01T10:20:00.000Z")
        })
        const settled = yield* reservations.get(tenantId, id)
        assert.strictEqual(settled.status, "settled")
        assert.strictEqual(Money.format(settled.actual!), "0.75")
        // No request id given: the one it was reserved with stays.
        assert.strictEqual(settled.requestId, "req-1")
        assert.strictEqual(DateTime.formatIso(settled.settledAt!), "2025-05-01T10:05:00.000Z")
        assert.strictEqual(DateTime.formatIso(settled.expiresAt), "2025-05-01T10:20:00.000Z")

        const other = yield* reservations.insert(tenantId, reservation([a], "2"))
        yield* reservations.release(tenantId, other, at("2025-05-01T10:01:00.000Z"))
        yield* reservations.release(tenantId, other, at("2025-05-01T10:02:00.000Z"))
        const released = yield* reservations.get(tenantId, other)
        assert.strictEqual(released.status, "released")
        // Released twice: the first release time stays.
        assert.strictEqual(DateTime.formatIso(released.releasedAt!), "2025-05-01T10:01:00.000Z")
      }))

    it.effect("held sums live holds per budget and period: the estimate, the actual once settled, nothing once released or expired", () =>
      Effect.gen(function*() {
        const reservations = yield* Reservations
        const { a, b, tenantId } = yield* setup()
        const both = yield* reservations.insert(tenantId, reservation([a, b], "1"))
        const onlyA = yield* reservations.insert(tenantId, reservation([a], "2"))
        yield* reservations.insert(tenantId, reservation([a], "4", { periodStart: nextDay }))
        const now = at("2025-05-01T10:05:00.000Z")
        const held = (ids: ReadonlyArray<string>, when = now) =>
          Effect.map(reservations.held(tenantId, ids.map((budgetId) => ({ budgetId, periodStart: day })), when), plainHeld)
        assert.deepStrictEqual(yield* held([a, b]), { [a]: "3", [b]: "1" })
        assert.deepStrictEqual(yield* held([b]), { [b]: "1" })
        yield* reservations.settle(tenantId, both, { actual: decimal("0.5"), requestId: null, now, expiresAt: at("2025-05-01T10:20:00.000Z") })
        assert.deepStrictEqual(yield* held([a, b]), { [a]: "2.5", [b]: "0.5" })
        yield* reservations.release(tenantId, onlyA, now)
        assert.deepStrictEqual(yield* held([a, b]), { [a]: "0.5", [b]: "0.5" })
        // At expiry a reservation stops counting.
        assert.deepStrictEqual(yield* held([a, b], at("2025-05-01T10:20:00.000Z")), {})
        assert.deepStrictEqual(plainHeld(yield* reservations.held(tenantId, [{ budgetId: a, periodStart: nextDay }], now)), { [a]: "4" })
        assert.strictEqual((yield* reservations.held(tenantId, [], now)).size, 0)
      }))

    it.effect("a settled reservation stops holding once the ledger has its request id", () =>
      Effect.gen(function*() {
        const reservations = yield* Reservations
        const { a, tenantId } = yield* setup()
        const id = yield* reservations.insert(tenantId, reservation([a], "3", { requestId: "landing-1" }))
        const now = at("2025-05-01T10:05:00.000Z")
        yield* reservations.settle(tenantId, id, { actual: decimal("2"), requestId: null, now, expiresAt: at("2025-05-01T10:20:00.000Z") })
        const held = Effect.map(reservations.held(tenantId, [{ budgetId: a, periodStart: day }], now), plainHeld)
        assert.deepStrictEqual(yield* held, { [a]: "2" })
        yield* (yield* UsageLedger).insertBatch(tenantId, [pricedCall({ requestId: "landing-1", occurredAt: "2025-05-01T10:04:00Z" })])
        assert.deepStrictEqual(yield* held, {})
      }))

    it.effect("purge deletes what stopped counting before the cut, and only that", () =>
      Effect.gen(function*() {
        const reservations = yield* Reservations
        const { a, tenantId } = yield* setup()
        const expired = yield* reservations.insert(tenantId, reservation([a], "1", { expiresAt: "2025-05-01T10:10:00.000Z" }))
        const released = yield* reservations.insert(tenantId, reservation([a], "1", { expiresAt: "2025-05-01T12:00:00.000Z" }))
        const live = yield* reservations.insert(tenantId, reservation([a], "1", { expiresAt: "2025-05-01T12:00:00.000Z" }))
        yield* reservations.release(tenantId, released, at("2025-05-01T10:15:00.000Z"))
        assert.strictEqual(yield* reservations.purge(tenantId, at("2025-05-01T10:00:00.000Z")), 0)
        assert.strictEqual(yield* reservations.purge(tenantId, at("2025-05-01T11:00:00.000Z")), 2)
        assert.strictEqual((yield* Effect.flip(reservations.get(tenantId, expired)))._tag, "ReservationNotFound")
        assert.strictEqual((yield* Effect.flip(reservations.get(tenantId, released)))._tag, "ReservationNotFound")
        assert.strictEqual((yield* reservations.get(tenantId, live)).status, "held")
      }))

    it.effect("another tenant's reservation is not found, holds nothing and is not purged", () =>
      Effect.gen(function*() {
        const reservations = yield* Reservations
        const { a, tenantId } = yield* setup("A")
        const other = yield* newTenant("B")
        const id = yield* reservations.insert(tenantId, reservation([a], "1"))
        const now = at("2025-05-01T10:05:00.000Z")
        assert.strictEqual((yield* Effect.flip(reservations.get(other, id)))._tag, "ReservationNotFound")
        assert.strictEqual((yield* Effect.flip(reservations.get(tenantId, "garbage")))._tag, "ReservationNotFound")
        assert.strictEqual((yield* reservations.held(other, [{ budgetId: a, periodStart: day }], now)).size, 0)
        yield* reservations.release(other, id, now)
        assert.strictEqual(yield* reservations.purge(other, at("2030-01-01T00:00:00.000Z")), 0)
        assert.strictEqual((yield* reservations.get(tenantId, id)).status, "held")
      }))
  })
})
