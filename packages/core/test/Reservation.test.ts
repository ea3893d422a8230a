import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Money from "../src/Money.ts"
import * as Reservation from "../src/Reservation.ts"

const decimal = (value: string) => new Money.Decimal(value)
const id = "7d0f6f1e-3c7b-4a4e-8f55-9d1b2c3a4e5f"

const reservation = (status: Reservation.ReservationStatus, actual: string | null = null): Reservation.Reservation => ({
  id,
  tenantId: "acme",
  requestId: "req-1",
  labels: {},
  estimate: decimal("1"),
  actual: actual === null ? null : decimal(actual),
  currency: "USD",
  status,
  createdAt: DateTime.makeUnsafe("2025-05-01T10:00:00Z"),
  expiresAt: DateTime.makeUnsafe("2025-05-01T10:10:00Z"),
  settledAt: null,
  releasedAt: null,
  holds: []
})

const refusal = (move: Reservation.ReservationClosed | string) =>
  move instanceof Reservation.ReservationClosed ? [move.status, move.message] : move

describe("Reservation", () => {
  it("a held reservation settles; settling again with the same cost is a no-op; anything else is refused", () => {
    assert.strictEqual(Reservation.settling(id, reservation("held"), decimal("0.5"), undefined), "settle")
    const settled = reservation("settled", "0.5")
    assert.strictEqual(Reservation.settling(id, settled, decimal("0.50"), undefined), "unchanged")
    assert.strictEqual(Reservation.settling(id, settled, decimal("0.5"), "req-1"), "unchanged")
    assert.deepStrictEqual(refusal(Reservation.settling(id, settled, decimal("0.5"), "req-2")), [
      "settled",
      `reservation ${id} was settled with 0.5 already`
    ])
    assert.deepStrictEqual(refusal(Reservation.settling(id, settled, decimal("0.6"), undefined)), [
      "settled",
      `reservation ${id} was settled with 0.5 already`
    ])
    assert.deepStrictEqual(refusal(Reservation.settling(id, reservation("released"), decimal("0.5"), undefined)), [
      "released",
      `reservation ${id} was released; it cannot be settled`
    ])
  })

  it("a held reservation releases; releasing again is a no-op; a settled one cannot be released", () => {
    assert.strictEqual(Reservation.releasing(id, reservation("held")), "release")
    assert.strictEqual(Reservation.releasing(id, reservation("released")), "unchanged")
    assert.deepStrictEqual(refusal(Reservation.releasing(id, reservation("settled", "1"))), [
      "settled",
      `reservation ${id} was settled; it cannot be released`
    ])
  })
})
