/**
 * The allocation rules, one file each under `rules/`, behind one registry: the input schema of
 * every rule (a union on `kind`), and lookup by kind.
 */
import * as Schema from "effect/Schema"
import type { Rule } from "./Rule.ts"
import * as Even from "./rules/Even.ts"
import * as Fixed from "./rules/Fixed.ts"
import * as None from "./rules/None.ts"
import * as Proportional from "./rules/Proportional.ts"

/** The rule a run uses, as given (JSON: percentages as decimal strings). */
export const RuleInput = Schema.Union([Proportional.Input, Even.Input, Fixed.Input, None.Input])
export type RuleInput = typeof RuleInput.Type
export type RuleInputEncoded = typeof RuleInput.Encoded

export const kinds = ["proportional", "even", "fixed", "none"] as const satisfies ReadonlyArray<RuleInput["kind"]>

const registry: { readonly [K in RuleInput["kind"]]: Rule<Extract<RuleInput, { readonly kind: K }>> } = {
  proportional: Proportional.rule,
  even: Even.rule,
  fixed: Fixed.rule,
  none: None.rule
}

/** The rule for an input. */
export const ruleOf = <I extends RuleInput>(input: I): Rule<I> => registry[input.kind as I["kind"]] as unknown as Rule<I>

/** `kind@version`, what a run records as its rule version. */
export const versionOf = (input: RuleInput): string => `${input.kind}@${ruleOf(input).version}`

export const defaultRule: RuleInput = { kind: "proportional" }

export const encode = Schema.encodeSync(RuleInput)
export const decodeUnknownResult = Schema.decodeUnknownResult(RuleInput, { onExcessProperty: "error" })
