/**
 * What a unit of work costs on average: a request, a workflow (trace), an end user, a customer or
 * a feature, over a period. Calls without the unit's label are kept apart, never averaged in.
 */
import * as Schema from "effect/Schema"
import type * as Money from "./Money.ts"
import type { Amount } from "./UsageQuery.ts"

export const UnitKind = Schema.Literals(["request", "workflow", "endUser", "customer", "feature"])
export type UnitKind = typeof UnitKind.Type
export const unitKinds: ReadonlyArray<UnitKind> = UnitKind.literals

export interface UnitCost {
  readonly kind: UnitKind
  /** Distinct units (requests, workflows, ...) with spend or usage in the period. */
  readonly units: number
  /** Calls attributed to a unit (for `request`, every call). */
  readonly requests: number
  /** Spend of the attributed calls, per currency. */
  readonly spend: ReadonlyArray<Amount>
  /** Calls without the unit's label, and their spend: not in the average. */
  readonly unattributedRequests: number
  readonly unattributedSpend: ReadonlyArray<Amount>
}

/** One unit with its calls and its spend in one currency. */
export interface UnitCostEntry {
  readonly unit: string
  readonly requests: number
  readonly spend: Money.Decimal
}
