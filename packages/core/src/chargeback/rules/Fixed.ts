/**
 * Fixed shares: shared and unowned cost is divided by percentages set per owner, which must sum
 * to exactly 100. Owners with a share get a line even without usage of their own.
 */
import * as Schema from "effect/Schema"
import * as Money from "../../Money.ts"
import { invalid } from "../InvalidChargeback.ts"
import { OwnerValue, type Rule } from "../Rule.ts"

export const Input = Schema.Struct({
  kind: Schema.Literal("fixed"),
  /** Percent per owner, decimal strings such as "33.34". */
  shares: Schema.Record(OwnerValue, Money.Percent)
})
export type Input = typeof Input.Type

export const rule: Rule<Input> = {
  kind: "fixed",
  version: 1,
  validate: (input, shared) => {
    const entries = Object.entries(input.shares)
    if (entries.length === 0) return invalid("rule.shares", "expected at least one owner with a percentage")
    for (const [owner] of entries) {
      if (shared.has(owner)) {
        return invalid(`rule.shares.${owner}`, `owner ${JSON.stringify(owner)} is shared, so it cannot also take a share`)
      }
    }
    const total = Money.sum(entries.map(([, percent]) => percent))
    return total.equals(Money.HUNDRED)
      ? undefined
      : invalid("rule.shares", `the percentages must sum to exactly 100, they sum to ${Money.format(total)}`)
  },
  weights: (input) =>
    Object.entries(input.shares)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([owner, weight]) => ({ owner, weight }))
}
