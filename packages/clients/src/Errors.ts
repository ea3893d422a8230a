/**
 * What a wrapped client can throw besides the provider SDK's own errors (which pass through
 * unchanged): each an `Error` with a `_tag`, as the engine's errors are.
 */

/** Budget decision as the engine and the worker return it (`decision`, `deniedBy`, each budget's `remaining`). */
export interface BudgetDecision {
  readonly decision: "allow" | "deny"
  readonly allowed: boolean
  readonly currency: string
  readonly estimatedCost: string
  readonly remaining: string | null
  readonly deniedBy: ReadonlyArray<string>
  readonly budgets: ReadonlyArray<{
    readonly budgetId: string
    readonly name: string
    readonly action: string
    readonly amount: string
    readonly spent: string
    readonly reserved: string
    readonly remaining: string
    readonly allowed: boolean
  }>
  readonly reservation?: { readonly id: string; readonly expiresAt: string }
}

/** The call would exceed a blocking budget: it was not sent to the provider. */
export class BudgetExceeded extends Error {
  readonly _tag = "BudgetExceeded" as const
  override readonly name = "BudgetExceeded"
  /** The estimate the call was refused with (decimal string, the tenant's currency). */
  readonly estimatedCost: string
  readonly decision: BudgetDecision
  constructor(estimatedCost: string, decision: BudgetDecision) {
    const by = decision.budgets.filter((b) => !b.allowed).map((b) => `"${b.name}" (${b.remaining} ${decision.currency} left)`)
    super(`tally: budget exceeded: the call's estimated ${estimatedCost} ${decision.currency} does not fit ${by.join(", ")}; it was not sent`)
    this.estimatedCost = estimatedCost
    this.decision = decision
  }
}

/** `withTally` was given options it cannot use; `field` names the one at fault. */
export class InvalidTallyOptions extends Error {
  readonly _tag = "InvalidTallyOptions" as const
  override readonly name = "InvalidTallyOptions"
  readonly field: string
  constructor(field: string, message: string) {
    super(`${field}: ${message}`)
    this.field = field
  }
}

/**
 * Tally could not be reached for a step that must happen before the call (a budget reservation),
 * so the call was not sent. Failures after the call never fail it: they go to `onError`.
 */
export class TallyUnavailable extends Error {
  readonly _tag = "TallyUnavailable" as const
  override readonly name = "TallyUnavailable"
  readonly step: "reserve" | "settle" | "release" | "record" | "estimate"
  constructor(step: TallyUnavailable["step"], message: string, options?: { readonly cause?: unknown }) {
    super(`tally: ${step}: ${message}`, options)
    this.step = step
  }
}
