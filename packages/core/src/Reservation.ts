/**
 * Reservations: an estimate held against every budget that covers a call while the call runs.
 *
 * A reservation is `held` from admission, `settled` with the call's actual cost, or `released`
 * when the call did not run. A held or settled reservation counts against its budgets until it
 * expires; a settled one also stops counting once the ledger has its request id (the recorded
 * usage counts instead); a released one counts for nothing. Settled and released are final: the
 * rules below say which moves are allowed, which repeat a move already made, and which are refused.
 */
import type * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import * as Money from "./Money.ts"
import type { Scope } from "./Budget.ts"

export type ReservationStatus = "held" | "settled" | "released"

/** A budget a reservation holds against, and the period of that budget it counts in. */
export interface Hold {
  readonly budgetId: string
  readonly periodStart: DateTime.Utc
  /** What it holds in the budget's unit (cost, tokens, requests); the reservation's estimate when absent. */
  readonly amount?: Money.Decimal | undefined
}

/** A reservation about to be stored. */
export interface NewReservation {
  /** The request id the call's usage will be ingested with: its hold ends when that lands. */
  readonly requestId: string | null
  readonly labels: Scope
  readonly estimate: Money.Decimal
  readonly currency: string
  readonly createdAt: DateTime.Utc
  readonly expiresAt: DateTime.Utc
  readonly holds: ReadonlyArray<Hold>
}

export interface Reservation {
  readonly id: string
  readonly tenantId: string
  readonly requestId: string | null
  readonly labels: Scope
  readonly estimate: Money.Decimal
  readonly actual: Money.Decimal | null
  readonly currency: string
  readonly status: ReservationStatus
  readonly createdAt: DateTime.Utc
  readonly expiresAt: DateTime.Utc
  readonly settledAt: DateTime.Utc | null
  readonly releasedAt: DateTime.Utc | null
  /** The budgets it holds against and the period of each. */
  readonly holds: ReadonlyArray<Hold>
}

export class ReservationNotFound extends Schema.TaggedError<ReservationNotFound>()("ReservationNotFound", {
  reservationId: Schema.String,
  message: Schema.String
}) {}

export const notFound = (reservationId: string) =>
  new ReservationNotFound({ reservationId, message: `reservation ${JSON.stringify(reservationId)} does not exist` })

/** The reservation is settled or released and cannot move that way. */
export class ReservationClosed extends Schema.TaggedError<ReservationClosed>()("ReservationClosed", {
  reservationId: Schema.String,
  status: Schema.String,
  message: Schema.String
}) {}

/**
 * What settling `current` (asked for as `reservationId`; errors name the id as asked, uuids
 * compare case-insensitively) with `actual` does: `settle` a held reservation; `unchanged` when it
 * was settled with the same cost (and request id, when one is given) already, so settling again is
 * a no-op; refused when it was released or settled otherwise.
 */
export const settling = (
  reservationId: string,
  current: Reservation,
  actual: Money.Decimal,
  requestId: string | undefined
): ReservationClosed | "settle" | "unchanged" => {
  if (current.status === "released") {
    return new ReservationClosed({
      reservationId,
      status: current.status,
      message: `reservation ${reservationId} was released; it cannot be settled`
    })
  }
  if (current.status === "settled") {
    const same = current.actual !== null && current.actual.eq(actual) &&
      (requestId === undefined || requestId === current.requestId)
    if (same) return "unchanged"
    return new ReservationClosed({
      reservationId,
      status: current.status,
      message: `reservation ${reservationId} was settled with ${Money.format(current.actual ?? Money.ZERO)} already`
    })
  }
  return "settle"
}

/**
 * What releasing `current` (asked for as `reservationId`) does: `release` a held reservation;
 * `unchanged` when it was released already; refused when it was settled.
 */
export const releasing = (reservationId: string, current: Reservation): ReservationClosed | "release" | "unchanged" => {
  if (current.status === "released") return "unchanged"
  if (current.status === "settled") {
    return new ReservationClosed({
      reservationId,
      status: current.status,
      message: `reservation ${reservationId} was settled; it cannot be released`
    })
  }
  return "release"
}
