/**
 * Sale prices: what a tenant charges its own customer for a call, beside what the provider
 * charges the tenant (the cost). A tenant keeps sale price rules (its sale price book); each call
 * gets the price of the one rule that applies to it, with a line per priced component, the exact
 * total and the rule that produced it. Pure: no I/O, exact decimals, no rounding (statements
 * round, once, at the edge).
 *
 * Kinds of rule:
 * - `markup-percent`: every cost line times (1 + percent / 100). The price is in the cost's
 *   currency. A call priced by the provider's own figure without Tally's lines is one line `cost`.
 * - `markup-per-unit`: every cost line plus a fixed amount per unit (per 1M tokens for token
 *   lines, per unit otherwise), in the rule's currency, which must be the cost's.
 * - `list-price`: a rate per component (per 1M tokens for token components, per unit otherwise),
 *   in the rule's currency, independent of the cost; quantities come from the cost lines, or from
 *   the call's token counts when it has none (an unpriced cost can still be sold).
 *
 * Layers: a rule names who it is for (one `customer`, one `plan`, or everyone) and what it covers
 * (one `model`, one `provider`, or everything), and is effective from `effectiveFrom` (inclusive)
 * until `effectiveTo` (exclusive, open when null) by the call's time. Of the rules in effect for
 * a call the most specific wins: customer before plan before everyone; then model before provider
 * before everything; then the latest `effectiveFrom`; then the latest created. A plan is what a
 * customer is assigned to, effective-dated (`PlanAssignment`); the call's plan is the assignment
 * in effect at the call's time.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as CostBreakdown from "./CostBreakdown.ts"
import * as FieldError from "./FieldError.ts"
import * as Money from "./Money.ts"
import * as Usage from "./Usage.ts"

export const RuleKind = Schema.Literals(["markup-percent", "markup-per-unit", "list-price"])
export type RuleKind = typeof RuleKind.Type

/** A sale price rule as kept; amounts exact. */
export interface Rule {
  readonly id: string
  readonly name: string
  readonly customer: string | null
  readonly plan: string | null
  readonly provider: string | null
  /** A model name (reported or catalog key); a trailing `*` matches by prefix. */
  readonly model: string | null
  readonly kind: RuleKind
  /** markup-percent: the markup in percent (25 = cost x 1.25). */
  readonly percent: Money.Decimal | null
  /** markup-per-unit: added per 1M tokens (token lines) or per unit (other lines). */
  readonly perUnit: Money.Decimal | null
  /** list-price: rate per component, per 1M tokens (token components) or per unit. */
  readonly rates: Readonly<Record<string, Money.Decimal>> | null
  /** markup-per-unit and list-price: the currency of the amounts; null for markup-percent. */
  readonly currency: string | null
  /** Epoch millis, inclusive. */
  readonly effectiveFrom: number
  /** Epoch millis, exclusive; null when open. */
  readonly effectiveTo: number | null
  /** Epoch millis; breaks ties between otherwise equal rules (the later wins). */
  readonly createdAt: number
}

/** A customer's plan from `effectiveFrom` (epoch millis) until its next assignment. */
export interface PlanAssignment {
  readonly customer: string
  readonly plan: string
  readonly effectiveFrom: number
}

/** What pricing a call needs to know about it. */
export interface CallInput {
  /** Epoch millis of the call. */
  readonly at: number
  readonly provider: string
  /** The model as reported and the catalog key it matched (null when unmatched). */
  readonly model: string
  readonly modelKey: string | null
  readonly customer: string | null
  readonly usage: Usage.Usage
  /** The call's cost: null total when the cost is unknown (an unpriced call). */
  readonly costTotal: Money.Decimal | null
  readonly costCurrency: string | null
  /** Tally's cost lines, when they make up `costTotal` exactly; else null. */
  readonly costLines: ReadonlyArray<CostBreakdown.CostLine> | null
  /** Partial cost: usage without a cost rate (quantities), priced by list-price rules. */
  readonly missing: ReadonlyArray<CostBreakdown.MissingComponent>
}

export interface PriceLine {
  readonly component: string
  readonly quantity: Money.Decimal
  readonly unit: CostBreakdown.LineUnit
  /** The cost of this line, when the call has one. */
  readonly cost: Money.Decimal | null
  /** Price of one unit (one token, one request, ...). */
  readonly unitPrice: Money.Decimal
  readonly amount: Money.Decimal
  /** How the line was priced, e.g. "cost x 1.25", "cost + 0.5 per 1M tokens", "list 2 per 1M tokens". */
  readonly basis: string
}

export interface Price {
  readonly ruleId: string
  readonly ruleName: string
  readonly kind: RuleKind
  readonly currency: string
  readonly lines: ReadonlyArray<PriceLine>
  /** The sum of the lines' amounts, exact. */
  readonly total: Money.Decimal
}

export type Outcome =
  | { readonly _tag: "Priced"; readonly plan: string | null; readonly price: Price }
  /** No price: no rule applies, or the rule that applies cannot price this call (the reason says why). */
  | { readonly _tag: "Unpriced"; readonly plan: string | null; readonly ruleId: string | null; readonly reason: string }

const tokenUnit = Money.MILLION

/** The plan of `customer` at `at`: the latest assignment in effect, or null. */
export const planOf = (assignments: ReadonlyArray<PlanAssignment>, customer: string | null, at: number): string | null => {
  if (customer === null) return null
  let best: PlanAssignment | undefined
  for (const a of assignments) {
    if (a.customer !== customer || a.effectiveFrom > at) continue
    if (best === undefined || a.effectiveFrom > best.effectiveFrom) best = a
  }
  return best?.plan ?? null
}

const modelMatches = (pattern: string, call: CallInput): boolean => {
  const names = call.modelKey === null || call.modelKey === call.model ? [call.model] : [call.model, call.modelKey]
  if (pattern.endsWith("*")) {
    const prefix = pattern.slice(0, -1)
    return names.some((name) => name.startsWith(prefix))
  }
  return names.includes(pattern)
}

/** Whether `rule` covers the call (who, what and when), given the call's plan. */
export const applies = (rule: Rule, call: CallInput, plan: string | null): boolean => {
  if (rule.customer !== null && rule.customer !== call.customer) return false
  if (rule.plan !== null && rule.plan !== plan) return false
  if (rule.provider !== null && rule.provider !== call.provider) return false
  if (rule.model !== null && !modelMatches(rule.model, call)) return false
  return rule.effectiveFrom <= call.at && (rule.effectiveTo === null || call.at < rule.effectiveTo)
}

const rank = (rule: Rule): number =>
  (rule.customer !== null ? 2 : rule.plan !== null ? 1 : 0) * 3 + (rule.model !== null ? 2 : rule.provider !== null ? 1 : 0)

/** The rule that prices the call: the most specific in effect (see the module comment), or undefined. */
export const select = (rules: ReadonlyArray<Rule>, call: CallInput, plan: string | null): Rule | undefined => {
  let best: Rule | undefined
  for (const rule of rules) {
    if (!applies(rule, call, plan)) continue
    if (best === undefined) {
      best = rule
      continue
    }
    const order = rank(rule) - rank(best) || rule.effectiveFrom - best.effectiveFrom || rule.createdAt - best.createdAt ||
      (rule.id > best.id ? 1 : -1)
    if (order > 0) best = rule
  }
  return best
}

const perUnitOf = (unit: CostBreakdown.LineUnit): Money.Decimal => (unit === "token" ? tokenUnit : Money.ONE)
const perText = (unit: CostBreakdown.LineUnit): string => (unit === "token" ? "per 1M tokens" : "per unit")

const unpriced = (plan: string | null, ruleId: string | null, reason: string): Outcome => ({ _tag: "Unpriced", plan, ruleId, reason })

const priced = (plan: string | null, rule: Rule, currency: string, lines: ReadonlyArray<PriceLine>): Outcome => ({
  _tag: "Priced",
  plan,
  price: { ruleId: rule.id, ruleName: rule.name, kind: rule.kind, currency, lines, total: Money.sum(lines.map((l) => l.amount)) }
})

/** The cost of the call as lines: Tally's lines, or one `cost` line of the billed figure. */
const costLinesOf = (call: CallInput): ReadonlyArray<{ component: string; quantity: Money.Decimal; unit: CostBreakdown.LineUnit; unitPrice: Money.Decimal; amount: Money.Decimal }> | null => {
  if (call.costTotal === null) return null
  if (call.costLines !== null) return call.costLines
  return [{ component: "cost", quantity: Money.ONE, unit: "call", unitPrice: call.costTotal, amount: call.costTotal }]
}

/** The quantities a list price applies to: the cost lines and missing usage, or the token counts. */
const quantitiesOf = (call: CallInput): ReadonlyArray<{ component: string; quantity: Money.Decimal; unit: CostBreakdown.LineUnit; cost: Money.Decimal | null }> => {
  if (call.costLines !== null) {
    return [
      ...call.costLines.map((l) => ({ component: l.component, quantity: l.quantity, unit: l.unit, cost: l.amount as Money.Decimal | null })),
      ...call.missing.map((m) => ({ component: m.component, quantity: m.quantity, unit: m.unit, cost: null }))
    ]
  }
  return Usage.TokenBuckets.filter((bucket) => Usage.tokens(call.usage, bucket) > 0).map((bucket) => ({
    component: bucket,
    quantity: new Money.Decimal(Usage.tokens(call.usage, bucket)),
    unit: "token" as const,
    cost: null
  }))
}

/** Prices one call with one rule. */
export const priceWith = (rule: Rule, call: CallInput, plan: string | null): Outcome => {
  switch (rule.kind) {
    case "markup-percent": {
      const lines = costLinesOf(call)
      if (lines === null || call.costCurrency === null) return unpriced(plan, rule.id, "the call has no cost to mark up")
      const factor = Money.ONE.plus(rule.percent!.div(Money.HUNDRED))
      const basis = `cost x ${Money.format(factor)}`
      return priced(plan, rule, call.costCurrency, lines.map((l) => ({
        component: l.component,
        quantity: l.quantity,
        unit: l.unit,
        cost: l.amount,
        unitPrice: l.unitPrice.times(factor),
        amount: l.amount.times(factor),
        basis
      })))
    }
    case "markup-per-unit": {
      if (call.costTotal === null || call.costCurrency === null) return unpriced(plan, rule.id, "the call has no cost to mark up")
      if (call.costLines === null) return unpriced(plan, rule.id, "the call's cost has no lines with quantities to add a per-unit markup to")
      if (call.costCurrency !== rule.currency) {
        return unpriced(plan, rule.id, `the rule is in ${rule.currency} but the call's cost is in ${call.costCurrency}`)
      }
      return priced(plan, rule, call.costCurrency, call.costLines.map((l) => {
        const add = rule.perUnit!.div(perUnitOf(l.unit))
        return {
          component: l.component,
          quantity: l.quantity,
          unit: l.unit,
          cost: l.amount,
          unitPrice: l.unitPrice.plus(add),
          amount: l.amount.plus(l.quantity.times(add)),
          basis: `cost + ${Money.format(rule.perUnit!)} ${perText(l.unit)}`
        }
      }))
    }
    case "list-price": {
      const rates = rule.rates ?? {}
      const lines: Array<PriceLine> = []
      for (const q of quantitiesOf(call)) {
        const rate = Object.hasOwn(rates, q.component) ? rates[q.component] : undefined
        if (rate === undefined) {
          if (q.quantity.isZero()) continue
          return unpriced(plan, rule.id, `the rule has no list rate for ${JSON.stringify(q.component)}`)
        }
        const unitPrice = rate.div(perUnitOf(q.unit))
        lines.push({
          component: q.component,
          quantity: q.quantity,
          unit: q.unit,
          cost: q.cost,
          unitPrice,
          amount: q.quantity.times(unitPrice),
          basis: `list ${Money.format(rate)} ${perText(q.unit)}`
        })
      }
      return priced(plan, rule, rule.currency!, lines)
    }
  }
}

/** The call's sale price under the tenant's rules and plan assignments. */
export const price = (rules: ReadonlyArray<Rule>, plans: ReadonlyArray<PlanAssignment>, call: CallInput): Outcome => {
  const plan = planOf(plans, call.customer, call.at)
  const rule = select(rules, call, plan)
  if (rule === undefined) return unpriced(plan, null, "no sale price rule applies to this call")
  return priceWith(rule, call, plan)
}

// ---------------------------------------------------------------------------------------------
// Input

const Nullable = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))
const Name = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200))

/** A rule as given by a caller (GraphQL, CLI, library): decimals and times as strings. */
export const RuleInput = Schema.Struct({
  name: Name,
  customer: Nullable(Name),
  plan: Nullable(Name),
  provider: Nullable(Name),
  model: Nullable(Name),
  kind: RuleKind,
  percent: Nullable(Money.NonNegativeInputDecimal),
  perUnit: Nullable(Money.NonNegativeInputDecimal),
  rates: Nullable(Schema.Record(Schema.String, Money.NonNegativeInputDecimal)),
  currency: Nullable(Money.CurrencyCode),
  effectiveFrom: Schema.DateTimeUtcFromString,
  effectiveTo: Nullable(Schema.DateTimeUtcFromString)
})
export type RuleInput = typeof RuleInput.Type
export type RuleInputEncoded = typeof RuleInput.Encoded

/** A sale price rule input breaks a rule; `field` names it. */
export class InvalidSaleRule extends Schema.TaggedError<InvalidSaleRule>()("InvalidSaleRule", {
  field: Schema.String,
  message: Schema.String
}) {}

export class SaleRuleNotFound extends Schema.TaggedError<SaleRuleNotFound>()("SaleRuleNotFound", {
  ruleId: Schema.String,
  message: Schema.String
}) {}

const invalid = (field: string, message: string) => new InvalidSaleRule({ field, message: `${field}: ${message}` })

/** Checks what the schema cannot: which amounts each kind needs and forbids, and the dates' order. */
export const checkInput = (input: RuleInput): InvalidSaleRule | undefined => {
  if (input.customer != null && input.plan != null) return invalid("plan", "a rule is for one customer or one plan, not both")
  const need = { "markup-percent": "percent", "markup-per-unit": "perUnit", "list-price": "rates" } as const
  const needed = need[input.kind]
  for (const field of ["percent", "perUnit", "rates"] as const) {
    const given = input[field] != null
    if (field === needed && !given) return invalid(field, `required by a ${input.kind} rule`)
    if (field !== needed && given) return invalid(field, `not allowed on a ${input.kind} rule`)
  }
  if (input.kind === "markup-percent" && input.currency != null) {
    return invalid("currency", "a percent markup is in the cost's currency; give no currency")
  }
  if (input.kind !== "markup-percent" && input.currency == null) return invalid("currency", `required by a ${input.kind} rule`)
  if (input.kind === "list-price" && Object.keys(input.rates!).length === 0) return invalid("rates", "expected at least one component rate")
  if (input.effectiveTo != null && input.effectiveTo.epochMilliseconds <= input.effectiveFrom.epochMilliseconds) {
    return invalid("effectiveTo", "expected a time after effectiveFrom")
  }
  return undefined
}

const decodeRuleInputResult = Schema.decodeUnknownResult(RuleInput, { onExcessProperty: "error", errors: "first" })

/** Decodes and checks a rule from JSON (GraphQL, CLI, files); the error names the field. */
export const decodeRuleInput = (input: unknown): Result.Result<RuleInput, InvalidSaleRule> => {
  const decoded = decodeRuleInputResult(input)
  if (Result.isFailure(decoded)) {
    const { field, message } = FieldError.fromSchemaError(decoded.failure)
    return Result.fail(new InvalidSaleRule({ field, message: `${field}: ${message}` }))
  }
  const problem = checkInput(decoded.success)
  return problem === undefined ? Result.succeed(decoded.success) : Result.fail(problem)
}

/** Checks a plan assignment's names (1 to 200 characters each). */
export const checkPlan = (customer: string, plan: string): InvalidSaleRule | undefined =>
  customer.length === 0 || customer.length > 200
    ? invalid("customer", "expected 1 to 200 characters")
    : plan.length === 0 || plan.length > 200
    ? invalid("plan", "expected 1 to 200 characters")
    : undefined
