/**
 * Even split: shared and unowned cost is divided equally among the owners named in `among`, or,
 * without it, among every owner with usage in the period.
 */
import * as Schema from "effect/Schema"
import * as Money from "../../Money.ts"
import { invalid } from "../InvalidChargeback.ts"
import { OwnerValue, type Rule } from "../Rule.ts"

export const Input = Schema.Struct({
  kind: Schema.Literal("even"),
  among: Schema.optionalKey(Schema.Array(OwnerValue))
})
export type Input = typeof Input.Type

export const rule: Rule<Input> = {
  kind: "even",
  version: 1,
  validate: (input, shared) => {
    if (input.among === undefined) return undefined
    if (input.among.length === 0) return invalid("rule.among", "expected at least one owner")
    const seen = new Set<string>()
    for (const [i, owner] of input.among.entries()) {
      if (seen.has(owner)) return invalid(`rule.among[${i}]`, `owner ${JSON.stringify(owner)} is named twice`)
      if (shared.has(owner)) {
        return invalid(`rule.among[${i}]`, `owner ${JSON.stringify(owner)} is shared, so it cannot also take a share`)
      }
      seen.add(owner)
    }
    return undefined
  },
  weights: (input, owners) =>
    (input.among ?? owners.map((o) => o.owner)).map((owner) => ({ owner, weight: Money.ONE }))
}
