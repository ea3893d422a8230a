/**
 * Model policies: which providers and models a scope's calls may use, and per-call limits.
 *
 * A policy applies to a call when its scope covers the call's labels (as a budget's scope does:
 * every dimension it names is equal; `{}` is the whole tenant). Every applicable policy must
 * allow the call; a call is denied with every reason of every policy that refuses it:
 *
 * - `allowProviders` / `denyProviders`: provider names, compared case-insensitively. With an allow
 *   list, a call that names no provider is refused.
 * - `allowModels` / `denyModels`: match rules as in the catalog (`MatchRule`): a rule object, or a
 *   string, which is the one-line form (`startsWith:gpt-4o`) or else an exact name.
 * - `pricedOnly`: the tenant's price book must price the model, so no budget is ever blind to it.
 * - `maxOutputTokens`: the call's estimated (requested) output tokens may not exceed it.
 * - `maxCostPerCall`: the call's estimated cost may not exceed it; a call whose cost cannot be
 *   estimated (unpriced model, no cost given) is refused by such a policy.
 *
 * Pure rules over values; storing policies is the store's and applying them the engine's.
 */
import { Budget, FieldError, Money } from "@tally/core"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as MatchRule from "./MatchRule.ts"

// Model ---------------------------------------------------------------------------------------

const Name = Schema.String.check(
  Schema.isMinLength(1, { message: "expected a non-empty name" }),
  Schema.isMaxLength(200, { message: "expected at most 200 characters" })
)

const ProviderName = Schema.String.check(
  Schema.isMinLength(1, { message: "expected a non-empty provider name" }),
  Schema.isMaxLength(100, { message: "expected at most 100 characters" })
)

/** A model rule as JSON: a match rule, or a string (`kind:value` shorthand, else an exact name). */
export const ModelRuleInput = Schema.Union([Schema.String.check(Schema.isMinLength(1, { message: "expected a non-empty rule" })), MatchRule.MatchRule])

const List = <S extends Schema.Top>(item: S) =>
  Schema.Array(item).check(Schema.isMaxLength(200, { message: "expected at most 200 entries" }))

/** The rules of a policy, as stored (JSON) and as given. */
export const Rules = Schema.Struct({
  allowProviders: Schema.optionalKey(List(ProviderName)),
  denyProviders: Schema.optionalKey(List(ProviderName)),
  allowModels: Schema.optionalKey(List(ModelRuleInput)),
  denyModels: Schema.optionalKey(List(ModelRuleInput)),
  pricedOnly: Schema.optionalKey(Schema.Boolean),
  maxOutputTokens: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0, { message: "expected a positive whole number" }))),
  maxCostPerCall: Schema.optionalKey(Money.InputDecimal)
})
export type Rules = typeof Rules.Type

/** A policy as JSON (HTTP body, CLI file). */
export const PolicyInput = Schema.Struct({
  name: Name,
  scope: Schema.optionalKey(Budget.Scope),
  ...Rules.fields
})

/** A policy as kept: its rules with model rules as match rules. */
export interface ModelPolicy {
  readonly id: string
  readonly tenantId: string
  readonly name: string
  readonly scope: Budget.Scope
  readonly rules: CheckedRules
  readonly createdAt: string
  readonly archivedAt: string | null
}

export interface CheckedRules {
  readonly allowProviders?: ReadonlyArray<string>
  readonly denyProviders?: ReadonlyArray<string>
  readonly allowModels?: ReadonlyArray<MatchRule.MatchRule>
  readonly denyModels?: ReadonlyArray<MatchRule.MatchRule>
  readonly pricedOnly?: boolean
  readonly maxOutputTokens?: number
  readonly maxCostPerCall?: Money.Decimal
}

/** A new policy, checked: what the store keeps. */
export interface NewPolicy {
  readonly name: string
  readonly scope: Budget.Scope
  readonly rules: CheckedRules
}

export class InvalidPolicy extends Schema.TaggedError<InvalidPolicy>()("InvalidPolicy", {
  field: Schema.String,
  message: Schema.String
}) {}

export class PolicyNotFound extends Schema.TaggedError<PolicyNotFound>()("PolicyNotFound", {
  policyId: Schema.String,
  message: Schema.String
}) {}

export const notFound = (policyId: string) =>
  new PolicyNotFound({ policyId, message: `model policy ${JSON.stringify(policyId)} does not exist` })

const invalid = (field: string, message: string) => new InvalidPolicy({ field, message: `${field}: ${message}` })

const ruleOf = (input: string | MatchRule.MatchRule): MatchRule.MatchRule => {
  if (typeof input !== "string") return input
  const parsed = MatchRule.parseShorthand(input)
  const decoded = parsed === undefined ? undefined : Schema.decodeUnknownResult(MatchRule.MatchRule)(parsed)
  return decoded !== undefined && Result.isSuccess(decoded) ? decoded.success : MatchRule.equals(input)
}

const checkRules = (rules: Rules, prefix: string): InvalidPolicy | CheckedRules => {
  const out: {
    -readonly [K in keyof CheckedRules]: CheckedRules[K]
  } = {}
  if (rules.allowProviders !== undefined) out.allowProviders = rules.allowProviders.map((p) => p.trim().toLowerCase())
  if (rules.denyProviders !== undefined) out.denyProviders = rules.denyProviders.map((p) => p.trim().toLowerCase())
  if (rules.allowModels !== undefined) out.allowModels = rules.allowModels.map(ruleOf)
  if (rules.denyModels !== undefined) out.denyModels = rules.denyModels.map(ruleOf)
  if (rules.pricedOnly !== undefined) out.pricedOnly = rules.pricedOnly
  if (rules.maxOutputTokens !== undefined) out.maxOutputTokens = rules.maxOutputTokens
  if (rules.maxCostPerCall !== undefined) {
    if (!rules.maxCostPerCall.isFinite() || rules.maxCostPerCall.isNegative()) {
      return invalid(`${prefix}maxCostPerCall`, `expected a non-negative amount, got ${Money.format(rules.maxCostPerCall)}`)
    }
    out.maxCostPerCall = rules.maxCostPerCall
  }
  if (Object.keys(out).length === 0) {
    return invalid(
      "(input)",
      "expected at least one rule: allowProviders, denyProviders, allowModels, denyModels, pricedOnly, maxOutputTokens or maxCostPerCall"
    )
  }
  return out
}

const decodeInput = Schema.decodeUnknownResult(PolicyInput, { onExcessProperty: "error", errors: "first" })

/** Decodes and checks a policy from JSON; the error names the field. */
export const decodePolicy = (input: unknown): Result.Result<NewPolicy, InvalidPolicy> => {
  const decoded = decodeInput(input)
  if (Result.isFailure(decoded)) {
    const { field, message } = FieldError.fromSchemaError(decoded.failure)
    return Result.fail(new InvalidPolicy({ field, message: `${field}: ${message}` }))
  }
  const { name, scope, ...rules } = decoded.success
  if (name.trim() === "") return Result.fail(invalid("name", "expected a non-empty name"))
  const checked = checkRules(rules, "")
  if (checked instanceof InvalidPolicy) return Result.fail(checked)
  return Result.succeed({ name: name.trim(), scope: Budget.normalizeScope(scope), rules: checked })
}

const decodeStored = Schema.decodeUnknownResult(Rules)

/** Rules as the store keeps them (the JSON of `rulesToJson`); stored rules were checked when written. */
export const rulesFromJson = (json: unknown): CheckedRules => {
  const decoded = decodeStored(json)
  if (Result.isFailure(decoded)) return {}
  const checked = checkRules(decoded.success, "")
  return checked instanceof InvalidPolicy ? {} : checked
}

/** Rules as JSON: model rules as rule objects, decimals as strings. */
export const rulesToJson = (rules: CheckedRules) => ({
  ...(rules.allowProviders === undefined ? {} : { allowProviders: rules.allowProviders }),
  ...(rules.denyProviders === undefined ? {} : { denyProviders: rules.denyProviders }),
  ...(rules.allowModels === undefined ? {} : { allowModels: rules.allowModels }),
  ...(rules.denyModels === undefined ? {} : { denyModels: rules.denyModels }),
  ...(rules.pricedOnly === undefined ? {} : { pricedOnly: rules.pricedOnly }),
  ...(rules.maxOutputTokens === undefined ? {} : { maxOutputTokens: rules.maxOutputTokens }),
  ...(rules.maxCostPerCall === undefined ? {} : { maxCostPerCall: Money.format(rules.maxCostPerCall) })
})

export const toJson = (policy: ModelPolicy) => ({
  id: policy.id,
  name: policy.name,
  scope: policy.scope,
  rules: rulesToJson(policy.rules),
  createdAt: policy.createdAt,
  archivedAt: policy.archivedAt
})

// Evaluation ----------------------------------------------------------------------------------

/** Which rule of a policy refused a call. */
export type RuleName =
  | "allowProviders"
  | "denyProviders"
  | "allowModels"
  | "denyModels"
  | "pricedOnly"
  | "maxOutputTokens"
  | "maxCostPerCall"

export interface Refusal {
  readonly policyId: string
  readonly policyName: string
  readonly rule: RuleName
  readonly message: string
}

/** What a policy judges of a call. */
export interface PolicyCall {
  readonly labels: Budget.CallScope
  readonly provider: string | undefined
  readonly model: string
  /** Whether the tenant's price book prices the model; asked only when a policy needs it. */
  readonly priced: () => boolean
  /** The estimated cost, when known. */
  readonly estimatedCost: Money.Decimal | null
  readonly outputTokens: number
}

/** The policies whose scope covers the call's labels. */
export const applicable = (policies: ReadonlyArray<ModelPolicy>, labels: Budget.CallScope): ReadonlyArray<ModelPolicy> =>
  policies.filter((p) => p.archivedAt === null && Budget.covers(p.scope, labels))

const anyMatches = (rules: ReadonlyArray<MatchRule.MatchRule>, model: string) => rules.some((r) => MatchRule.matches(r, model))

/** Every refusal of every applicable policy; empty when the call is allowed. */
export const judge = (policies: ReadonlyArray<ModelPolicy>, call: PolicyCall): ReadonlyArray<Refusal> => {
  const out: Array<Refusal> = []
  const provider = call.provider?.trim().toLowerCase()
  for (const policy of applicable(policies, call.labels)) {
    const refuse = (rule: RuleName, message: string) =>
      out.push({ policyId: policy.id, policyName: policy.name, rule, message: `policy ${JSON.stringify(policy.name)}: ${message}` })
    const r = policy.rules
    if (r.allowProviders !== undefined) {
      if (provider === undefined || provider === "") refuse("allowProviders", "the call names no provider and only listed providers are allowed")
      else if (!r.allowProviders.includes(provider)) refuse("allowProviders", `provider ${provider} is not in the allowed list`)
    }
    if (r.denyProviders !== undefined && provider !== undefined && r.denyProviders.includes(provider)) {
      refuse("denyProviders", `provider ${provider} is denied`)
    }
    if (r.allowModels !== undefined && !anyMatches(r.allowModels, call.model)) {
      refuse("allowModels", `model ${call.model} matches no allowed rule`)
    }
    if (r.denyModels !== undefined && anyMatches(r.denyModels, call.model)) {
      refuse("denyModels", `model ${call.model} matches a denied rule`)
    }
    if (r.pricedOnly === true && !call.priced()) {
      refuse("pricedOnly", `model ${call.model} has no price in the tenant's price book and only priced models are allowed`)
    }
    if (r.maxOutputTokens !== undefined && call.outputTokens > r.maxOutputTokens) {
      refuse("maxOutputTokens", `${call.outputTokens} output tokens requested, at most ${r.maxOutputTokens} allowed per call`)
    }
    if (r.maxCostPerCall !== undefined) {
      if (call.estimatedCost === null) {
        refuse("maxCostPerCall", `the call's cost cannot be estimated (give a cost or a priced model with tokens) and at most ${Money.format(r.maxCostPerCall)} is allowed per call`)
      } else if (call.estimatedCost.gt(r.maxCostPerCall)) {
        refuse("maxCostPerCall", `estimated cost ${Money.format(call.estimatedCost)} exceeds ${Money.format(r.maxCostPerCall)} per call`)
      }
    }
  }
  return out
}
