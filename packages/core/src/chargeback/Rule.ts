/**
 * What an allocation rule is: a kind, a version that runs record, a check of its input beyond its
 * schema, and the weights by which it splits the shared and unowned cost among owners. The rules
 * themselves live in `rules/`, one file each, and are listed in `Rules.ts`.
 */
import type * as Money from "../Money.ts"
import * as Schema from "effect/Schema"
import type { InvalidChargeback } from "./InvalidChargeback.ts"

/** An owner value as given in rule input: a non-empty label value. */
export const OwnerValue = Schema.String.check(
  Schema.isMinLength(1, { message: "expected a non-empty owner" }),
  Schema.isMaxLength(256, { message: "expected an owner of at most 256 characters" })
)

/** An owner with the spend attributed to it directly in the period (never a shared owner). */
export interface OwnerDirect {
  readonly owner: string
  readonly direct: Money.Decimal
}

export interface Weight {
  readonly owner: string
  /** Non-negative; the pool is split in proportion to the weights. */
  readonly weight: Money.Decimal
}

export interface Rule<I extends { readonly kind: string }> {
  readonly kind: I["kind"]
  /** Bumped whenever the rule's arithmetic changes; runs record `kind@version`. */
  readonly version: number
  /** What a schema cannot check (sums, overlaps with the shared owners). */
  readonly validate: (input: I, shared: ReadonlySet<string>) => InvalidChargeback | undefined
  /**
   * Who takes the pool and in what proportion, given the owners with usage in the period (sorted,
   * shared owners excluded). Empty, or all weights zero, means the rule does not apply.
   */
  readonly weights: (input: I, owners: ReadonlyArray<OwnerDirect>) => ReadonlyArray<Weight>
}
