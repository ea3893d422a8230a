/** No rule: shared and unowned cost stays on the run's "unallocated" line for someone to decide. */
import * as Schema from "effect/Schema"
import type { Rule } from "../Rule.ts"

export const Input = Schema.Struct({ kind: Schema.Literal("none") })
export type Input = typeof Input.Type

export const rule: Rule<Input> = {
  kind: "none",
  version: 1,
  validate: () => undefined,
  weights: () => []
}
