/**
 * Admission: may a call with an estimated cost run under the budgets that cover it?
 *
 * Each covering budget stands at what is spent in its current period plus what live reservations
 * hold. A `block` budget denies the call when spent + held + estimate would exceed its amount; an
 * `alert` budget never denies. The call runs when no budget denies it.
 */
import type * as DateTime from "effect/DateTime"
import * as Budget from "./Budget.ts"
import type * as BudgetPeriod from "./BudgetPeriod.ts"
import * as Money from "./Money.ts"

/** Where one covering budget stands before the call. */
export interface Standing {
  readonly budget: Budget.Budget
  readonly window: BudgetPeriod.PeriodWindow
  readonly spent: Money.Decimal
  /** Held by live reservations of this period. */
  readonly reserved: Money.Decimal
}

export interface BudgetDecision extends Standing {
  /** What the call takes of this budget, in its unit: the cost estimate, its tokens, or 1 request. */
  readonly estimate: Money.Decimal
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
  /** The call's whole estimate (cost and tokens). */
  readonly estimated: Budget.Estimate
  /** The least `remaining` of the covering block budgets (of all covering budgets when none blocks); null when none covers. */
  readonly remaining: Money.Decimal | null
  readonly budgets: ReadonlyArray<BudgetDecision>
  /** Ids of the block budgets that deny. */
  readonly deniedBy: ReadonlyArray<string>
  readonly reservation?: { readonly id: string; readonly expiresAt: DateTime.Utc } | undefined
  /**
   * Prepaid credit accounts (the call's customer or team) that enforce their balance: what each
   * has, what live reservations hold, and whether the estimate fits. Absent when none enforces.
   */
  readonly credits?: ReadonlyArray<CreditDecision> | undefined
}

export interface CreditDecision {
  readonly account: { readonly kind: "customer" | "team"; readonly id: string }
  readonly unit: string
  readonly balance: Money.Decimal
  readonly held: Money.Decimal
  /** balance − held, before this call. */
  readonly remaining: Money.Decimal
  readonly allowed: boolean
}

/** A cost-only estimate (no tokens). */
export const costEstimate = (cost: Money.Decimal): Budget.Estimate => ({ cost, inputTokens: 0, outputTokens: 0 })

/**
 * The decision for a call estimated at `estimated` (a cost in `currency`, or cost and tokens) under
 * the budgets covering it; each budget is judged in its own unit. `remaining` compares budgets of
 * one unit only: the least remaining of the cost budgets (of any unit when none counts cost).
 */
export const decide = (
  standings: ReadonlyArray<Standing>,
  estimated: Money.Decimal | Budget.Estimate,
  currency: string
): Decision => {
  const estimate = Money.Decimal.isDecimal(estimated) ? costEstimate(estimated) : estimated
  const decisions = standings.map((standing): BudgetDecision => {
    const remaining = standing.budget.amount.minus(standing.spent).minus(standing.reserved)
    const taken = Budget.estimateIn(standing.budget, estimate)
    const remainingAfter = remaining.minus(taken)
    return {
      ...standing,
      estimate: taken,
      remaining,
      remainingAfter,
      allowed: standing.budget.action === "alert" || !remainingAfter.isNegative()
    }
  })
  const costs = decisions.filter((d) => d.budget.unit === "cost")
  const sameUnit = costs.length > 0 ? costs : decisions
  const blocking = sameUnit.filter((d) => d.budget.action === "block")
  const pool = blocking.length > 0 ? blocking : sameUnit
  const remaining = pool.length === 0
    ? null
    : pool.reduce((min, d) => (d.remaining.lt(min) ? d.remaining : min), pool[0]!.remaining)
  const deniedBy = decisions.filter((d) => !d.allowed).map((d) => d.budget.id)
  return {
    allowed: deniedBy.length === 0,
    currency,
    estimatedCost: estimate.cost,
    estimated: estimate,
    remaining,
    budgets: decisions,
    deniedBy
  }
}
