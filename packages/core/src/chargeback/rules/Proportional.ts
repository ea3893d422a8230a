/**
 * Proportional: shared and unowned cost goes to the owners in proportion to the spend attributed
 * to them directly. Owners without attributed spend take none; with no attributed spend at all
 * the rule does not apply and the cost stays unallocated.
 */
import * as Schema from "effect/Schema"
import type { Rule } from "../Rule.ts"

export const Input = Schema.Struct({ kind: Schema.Literal("proportional") })
export type Input = typeof Input.Type

export const rule: Rule<Input> = {
  kind: "proportional",
  version: 1,
  validate: () => undefined,
  weights: (_input, owners) =>
    owners.filter((o) => o.direct.gt(0)).map((o) => ({ owner: o.owner, weight: o.direct }))
}
