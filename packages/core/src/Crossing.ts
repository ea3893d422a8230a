/**
 * Threshold crossings: a budget's spend in one period reaching one of its thresholds. A crossing is
 * recorded once per (budget, period start, threshold), with the message that announces it; its
 * key names it in the outbox.
 */
import * as DateTime from "effect/DateTime"
import * as Money from "./Money.ts"

/** The kind of the outbox message (and webhook) that announces a crossing. */
export const kind = "budget.threshold_crossed"

/** The crossing's key in the outbox: one message per (budget, period, threshold). */
export const key = (budgetId: string, periodStart: DateTime.Utc, threshold: Money.Decimal): string =>
  `${budgetId}:${DateTime.formatIso(periodStart)}:${Money.format(threshold)}`

/** Whether spend has reached `threshold` percent of `amount` (exact: spent × 100 ≥ amount × t). */
export const reached = (spent: Money.Decimal, amount: Money.Decimal, threshold: Money.Decimal): boolean =>
  spent.times(100).gte(amount.times(threshold))

/** The thresholds (ascending, as a budget keeps them) that `spent` has reached of `amount`. */
export const reachedThresholds = (
  thresholds: ReadonlyArray<Money.Decimal>,
  amount: Money.Decimal,
  spent: Money.Decimal
): ReadonlyArray<Money.Decimal> => {
  const out: Array<Money.Decimal> = []
  for (const threshold of thresholds) {
    if (!reached(spent, amount, threshold)) break
    out.push(threshold)
  }
  return out
}

/** A crossing to record, with the message that announces it. */
export interface Crossing {
  readonly budgetId: string
  readonly periodStart: DateTime.Utc
  readonly periodEnd: DateTime.Utc
  readonly threshold: Money.Decimal
  readonly spent: Money.Decimal
  readonly amount: Money.Decimal
  readonly currency: string
  /** The outbox message's `data` (the event id is added). */
  readonly payload: { readonly [key: string]: unknown }
}

/** A crossing recorded by the call that reports it (not before, not by another worker). */
export interface RecordedCrossing {
  readonly eventId: string
  readonly outboxId: string | null
  readonly budgetId: string
  readonly periodStart: DateTime.Utc
  readonly threshold: Money.Decimal
}

/** A recorded crossing as it is read back. */
export interface BudgetEvent {
  readonly id: string
  readonly budgetId: string
  readonly periodStart: DateTime.Utc
  readonly periodEnd: DateTime.Utc
  readonly threshold: Money.Decimal
  readonly spent: Money.Decimal
  readonly budgetAmount: Money.Decimal
  readonly currency: string
  readonly crossedAt: DateTime.Utc
}
