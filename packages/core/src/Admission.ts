/**
 * Admission: may a call with an estimated cost run under the budgets that cover it?
 *
 * Each covering budget stands at what is spent in its current period plus what live reservations
 * hold. A `block` budget denies the call when spent + held + estimate would exceed its amount; an
 * `alert` budget never denies. The call runs when no budget denies it.
 */
import type * as DateTime from "effect/DateTime"
import type * as Budget from "./Budget.ts"
import type * as BudgetPeriod from "./BudgetPeriod.ts"
import type * as Money from "./Money.ts"

/** Where one covering budget stands before the call. */
export interface Standing {
  readonly budget: Budget.Budget
  readonly window: BudgetPeriod.PeriodWindow
  readonly spent: Money.Decimal
  /** Held by live reservations of this period. */
  readonly reserved: Money.Decimal
}

export interface BudgetDecision extends Standing {
  /** amount − spent − reserved, before this call. */
  readonly remaining: Money.Decimal
  /** `remaining` − the estimate. */
  readonly remainingAfter: Money.Decimal
  /** False only for a `block` budget the call would overspend. */
  readonly allowed: boolean
}

export interface Decision {
  readonly allowed: boolean
  readonly currency: string
  readonly estimatedCost: Money.Decimal
  /** The least `remaining` of the covering block budgets (of all covering budgets when none blocks); null when none covers. */
  readonly remaining: Money.Decimal | null
  readonly budgets: ReadonlyArray<BudgetDecision>
  /** Ids of the block budgets that deny. */
  readonly deniedBy: ReadonlyArray<string>
  readonly reservation?: { readonly id: string; readonly expiresAt: DateTime.Utc } | undefined
}

/** The decision for a call estimated at `estimatedCost` (in `currency`) under the budgets covering it. */
export const decide = (
  standings: ReadonlyArray<Standing>,
  estimatedCost: Money.Decimal,
  currency: string
): Decision => {
  const decisions = standings.map((standing): BudgetDecision => {
    const remaining = standing.budget.amount.minus(standing.spent).minus(standing.reserved)
    const remainingAfter = remaining.minus(estimatedCost)
    return {
      ...standing,
      remaining,
      remainingAfter,
      allowed: standing.budget.action === "alert" || !remainingAfter.isNegative()
    }
  })
  const blocking = decisions.filter((d) => d.budget.action === "block")
  const pool = blocking.length > 0 ? blocking : decisions
  const remaining = pool.length === 0
    ? null
    : pool.reduce((min, d) => (d.remaining.lt(min) ? d.remaining : min), pool[0]!.remaining)
  const deniedBy = decisions.filter((d) => !d.allowed).map((d) => d.budget.id)
  return {
    allowed: deniedBy.length === 0,
    currency,
    estimatedCost,
    remaining,
    budgets: decisions,
    deniedBy
  }
}
