/**
 * Budgets with their live status (spent, reserved, remaining, thresholds crossed, forecast to the
 * period's end) and their change history, the gateway's pre-call check, changes by admin keys
 * (create, update, delete), and a subscription that sends a budget's status whenever it moves
 * (for live burn-down views).
 */
import { type Admission, Budget, type Crossing, type Fx, Money } from "@tally/core"
import { ModelPolicy } from "@tally/catalog"
import * as DateTime from "effect/DateTime"
import { Budgets, Enforcement, Governance } from "@tally/engine"
import { BudgetCrossings, CostAtRisk } from "@tally/store"
import { builder, changeErrors, lookupErrors, readErrors } from "../builder.ts"
import type { GraphqlContext } from "../Context.ts"
import { InvalidInput } from "../Errors.ts"
import * as Paging from "../Paging.ts"
import { MoneyRef } from "./Common.ts"
import { CostAtRiskRef } from "./CostAtRisk.ts"

const PeriodEnum = builder.enumType("BudgetPeriod", {
  description: "Days, ISO weeks and calendar months of the tenant's time zone, or a rolling window of `windowSeconds`.",
  values: {
    DAY: { value: "day" },
    WEEK: { value: "week" },
    MONTH: { value: "month" },
    ROLLING: { value: "rolling", description: "The last `windowSeconds` before each instant (e.g. tokens per minute)." }
  } as const
})

const UnitEnum = builder.enumType("BudgetUnit", {
  values: {
    COST: { value: "cost", description: "Spend in the tenant's currency." },
    TOKENS: { value: "tokens", description: "Tokens of `tokenKind`." },
    REQUESTS: { value: "requests", description: "Calls." }
  } as const
})

const TokenKindEnum = builder.enumType("BudgetTokenKind", {
  values: {
    TOTAL: { value: "total", description: "Input and output tokens." },
    INPUT: { value: "input", description: "Prompt, cache reads and writes, embeddings (every modality)." },
    OUTPUT: { value: "output", description: "Completion and reasoning (every modality)." }
  } as const
})

const ActionEnum = builder.enumType("BudgetAction", {
  values: {
    ALERT: { value: "alert", description: "Announce crossings (webhook); never refuse calls." },
    BLOCK: { value: "block", description: "budgetCheck and reservations refuse calls that would overspend." }
  } as const
})

const BudgetScopeRef = builder.objectRef<Budget.Scope>("BudgetScope").implement({
  description: "The calls a budget counts: those whose labels (and model) equal every value given.",
  fields: (t) => ({
    project: t.string({ nullable: true, resolve: (s) => s.project ?? null }),
    environment: t.string({ nullable: true, resolve: (s) => s.environment ?? null }),
    feature: t.string({ nullable: true, resolve: (s) => s.feature ?? null }),
    team: t.string({ nullable: true, resolve: (s) => s.team ?? null }),
    customer: t.string({ nullable: true, resolve: (s) => s.customer ?? null }),
    apiKeyId: t.string({ nullable: true, resolve: (s) => s.apiKeyId ?? null }),
    model: t.string({ nullable: true, resolve: (s) => s.model ?? null })
  })
})

const BudgetScopeInput = builder.inputType("BudgetScopeInput", {
  fields: (t) => ({
    project: t.string(),
    environment: t.string(),
    feature: t.string(),
    team: t.string(),
    customer: t.string(),
    apiKeyId: t.string(),
    model: t.string()
  })
})

const scopeOf = (input: typeof BudgetScopeInput.$inferInput | null | undefined): Budget.Scope => {
  const scope: { -readonly [K in keyof Budget.Scope]: string } = {}
  for (const key of Budget.scopeKeys) {
    const value = input?.[key]
    if (value !== null && value !== undefined) scope[key] = value
  }
  return scope
}

const ForecastRef = builder.objectRef<Budgets.BudgetStatus["forecast"]>("BudgetForecast").implement({
  description: "Spend projected to the period's end from the trailing days' rate.",
  fields: (t) => ({
    method: t.exposeString("method"),
    trailingDays: t.exposeInt("trailingDays"),
    trailingSpend: t.expose("trailingSpend", { type: "Decimal" }),
    dailyRate: t.expose("dailyRate", { type: "Decimal" }),
    projectedSpend: t.expose("projectedSpend", { type: "Decimal" }),
    projectedPercent: t.expose("projectedPercent", { type: "Decimal" }),
    exceeds: t.exposeBoolean("exceeds")
  })
})

const CrossingRef = builder.objectRef<Budgets.BudgetStatus["crossed"][number]>("ThresholdCrossing").implement({
  fields: (t) => ({
    threshold: t.expose("threshold", { type: "Decimal", description: "Percent of the amount." }),
    crossedAt: t.expose("crossedAt", { type: "DateTime" }),
    spent: t.expose("spent", { type: "Decimal", description: "Spend when it was crossed." })
  })
})

export const BudgetRef = builder.objectRef<Budget.Budget>("Budget")

const BudgetChangeActionEnum = builder.enumType("BudgetChangeAction", {
  values: {
    UPDATED: { value: "updated", description: "Name, amount, thresholds or action changed (updateBudget)." },
    ARCHIVED: { value: "archived", description: "Archived (deleteBudget)." }
  } as const
})

const BudgetFieldChangeRef = builder.objectRef<Budget.BudgetChange["fields"][number]>("BudgetFieldChange").implement({
  description: "One field's value before and after a change, as JSON (decimals as strings).",
  fields: (t) => ({
    field: t.exposeString("field", { description: "`name`, `amount`, `thresholds`, `action` or `archivedAt`." }),
    from: t.field({ type: "JSON", nullable: true, resolve: (c) => c.from }),
    to: t.field({ type: "JSON", nullable: true, resolve: (c) => c.to })
  })
})

const BudgetChangeRef = builder.objectRef<Budget.BudgetChange>("BudgetChange").implement({
  description: "A recorded change of a budget: who made it, when, and what each changed field was and became.",
  fields: (t) => ({
    action: t.field({ type: BudgetChangeActionEnum, resolve: (c) => c.action }),
    actor: t.exposeString("actor", { description: "The API key id that made it (`cli` or a name from the CLI, `system` when none was given)." }),
    at: t.expose("at", { type: "DateTime" }),
    fields: t.field({ type: [BudgetFieldChangeRef], resolve: (c) => c.fields })
  })
})

const BudgetAlertRef = builder.objectRef<Crossing.BudgetEvent>("BudgetAlert").implement({
  description: "A threshold a budget's spend reached in one of its periods: recorded (and announced) once.",
  fields: (t) => ({
    periodStart: t.expose("periodStart", { type: "DateTime" }),
    periodEnd: t.expose("periodEnd", { type: "DateTime" }),
    threshold: t.expose("threshold", { type: "Decimal", description: "Percent of the amount." }),
    crossedAt: t.expose("crossedAt", { type: "DateTime" }),
    spent: t.expose("spent", { type: "Decimal", description: "Spend when it was crossed." }),
    budgetAmount: t.expose("budgetAmount", { type: "Decimal", description: "The budget's amount then." }),
    currency: t.exposeString("currency")
  })
})

/** The alerts of many budgets with one read. */
const loadAlerts = async (ids: ReadonlyArray<string>, context: GraphqlContext) => {
  const all = await context.run(BudgetCrossings.BudgetCrossings.use((crossings) => crossings.events(context.tenantId, { budgetIds: ids })))
  return ids.map((id) => all.filter((e) => e.budgetId === id))
}

/** The changes of many budgets with one service call. */
const loadChanges = async (ids: ReadonlyArray<string>, context: GraphqlContext) => {
  const all = await context.run(Budgets.Budgets.use((budgets) => budgets.changes(context.tenantId, { budgetIds: ids })))
  return ids.map((id) => all.filter((c) => c.budgetId === id))
}

const BudgetConvertedDayRef = builder.objectRef<Fx.ConvertedDay>("BudgetConvertedDay").implement({
  description: "Other-currency spend of one UTC day converted into the budget's currency and counted in `spent`.",
  fields: (t) => ({
    date: t.exposeString("date", { description: "The calls' UTC day, YYYY-MM-DD." }),
    currency: t.exposeString("currency", { description: "The original currency." }),
    amount: t.expose("amount", { type: "Decimal", description: "The original amount." }),
    rate: t.field({ type: "Decimal", resolve: (d) => d.rate?.rate ?? Money.ONE }),
    rateId: t.string({ description: "The exchange rate used.", resolve: (d) => d.rate?.id ?? "" }),
    converted: t.expose("converted", { type: "Decimal", description: "amount × rate, exact." })
  })
})

const BudgetNotConvertedDayRef = builder.objectRef<{ readonly date: string; readonly currency: string; readonly amount: Money.Decimal }>(
  "BudgetNotConvertedDay"
).implement({
  description: "Other-currency spend of one UTC day without a recorded rate: not counted in `spent`.",
  fields: (t) => ({
    date: t.exposeString("date"),
    currency: t.exposeString("currency"),
    amount: t.expose("amount", { type: "Decimal" })
  })
})

const BudgetStatusRef = builder.objectRef<Budgets.BudgetStatus>("BudgetStatus").implement({
  description: "Where a budget stands in its current period.",
  fields: (t) => ({
    budget: t.field({ type: BudgetRef, resolve: (s) => s.budget }),
    periodStart: t.field({ type: "DateTime", resolve: (s) => s.window.start }),
    periodEnd: t.field({ type: "DateTime", resolve: (s) => s.window.end }),
    periodLabel: t.string({ description: "`2025-03-30`, `2025-W14` or `2025-03` in the tenant's zone.", resolve: (s) => s.window.label }),
    timeZone: t.string({ resolve: (s) => s.window.timeZone }),
    currency: t.string({ resolve: (s) => s.budget.currency }),
    spent: t.expose("spent", {
      type: "Decimal",
      description: "Priced spend in the budget's currency, exact; for a cost budget with other-currency spend converted at each day's rate (`converted`) added."
    }),
    spentInCurrency: t.expose("spentInCurrency", { type: "Decimal", description: "Spend recorded in the budget's own currency (before conversion)." }),
    converted: t.field({
      type: [BudgetConvertedDayRef],
      description: "Other-currency spend of a cost budget converted per UTC day at that day's rate (recorded last at or before this read) and counted in `spent`.",
      resolve: (s) => s.converted
    }),
    notConverted: t.field({
      type: [BudgetNotConvertedDayRef],
      description: "Other-currency spend of a cost budget without a rate for its day: not counted in `spent` until a rate is added.",
      resolve: (s) => s.notConverted
    }),
    reserved: t.expose("reserved", { type: "Decimal", description: "Held by reservations of calls in flight." }),
    remaining: t.expose("remaining", { type: "Decimal", description: "amount − spent − reserved; negative when over." }),
    percent: t.expose("percent", { type: "Decimal", description: "spent as a percentage of the amount." }),
    crossed: t.field({ type: [CrossingRef], description: "Thresholds reached this period, once each.", resolve: (s) => s.crossed }),
    calls: t.field({ type: "Long", resolve: (s) => s.calls }),
    unpricedCalls: t.field({ type: "Long", description: "Calls in scope without a price: not in `spent`.", resolve: (s) => s.unpricedCalls }),
    partialCalls: t.field({ type: "Long", description: "Calls in scope priced in part: their priced lines are in `spent`, the usage without a price is not.", resolve: (s) => s.partialCalls }),
    notCounted: t.field({
      type: CostAtRiskRef,
      description: "What `spent` does not count this period: the partial and unpriced calls in scope and the usage no price was found for (read from the ledger).",
      resolve: (s, _args, context) =>
        context.run(CostAtRisk.CostAtRisk.use((atRisk) =>
          atRisk.report(context.tenantId, {
            from: s.window.start,
            to: s.window.end,
            filter: Object.fromEntries(Budget.scopeKeys.flatMap((key) => {
              const value = s.budget.scope[key]
              return value === undefined ? [] : [[key, [value]]]
            }))
          })
        ))
    }),
    otherCurrencies: t.field({ type: [MoneyRef], description: "Spend in scope in other currencies, the originals per currency (see `converted` and `notConverted` for what a cost budget counts of it).", resolve: (s) => s.otherCurrencies }),
    forecast: t.field({ type: ForecastRef, resolve: (s) => s.forecast })
  })
})

/** Status of many budgets with one service call: every active budget, then any archived one asked. */
const loadStatuses = async (ids: ReadonlyArray<string>, context: GraphqlContext) => {
  const all = await context.run(Budgets.Budgets.use((budgets) => budgets.status(context.tenantId)))
  const byId = new Map(all.map((s) => [s.budget.id, s]))
  for (const id of ids) {
    if (byId.has(id)) continue
    const one = await context.run(Budgets.Budgets.use((budgets) => budgets.status(context.tenantId, { budgetId: id })))
    for (const s of one) byId.set(s.budget.id, s)
  }
  return ids.map((id) => byId.get(id) ?? null)
}

BudgetRef.implement({
  description: "A spend limit for a scope per period.",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    scope: t.field({ type: BudgetScopeRef, resolve: (b) => b.scope }),
    period: t.field({ type: PeriodEnum, resolve: (b) => b.period }),
    windowSeconds: t.int({ nullable: true, description: "The rolling window's length (ROLLING only).", resolve: (b) => b.windowSeconds }),
    unit: t.field({ type: UnitEnum, resolve: (b) => b.unit }),
    tokenKind: t.field({ type: TokenKindEnum, nullable: true, resolve: (b) => b.tokenKind }),
    amount: t.expose("amount", { type: "Decimal", description: "In the currency (COST), or whole tokens or requests." }),
    currency: t.exposeString("currency"),
    thresholds: t.field({ type: ["Decimal"], description: "Percentages of the amount that are announced when reached.", resolve: (b) => b.thresholds }),
    action: t.field({ type: ActionEnum, resolve: (b) => b.action }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    archivedAt: t.expose("archivedAt", { type: "DateTime", nullable: true }),
    status: t.loadable({
      type: BudgetStatusRef,
      nullable: true,
      description: "Live status of the current period (statuses of a page are read together).",
      load: (ids: Array<string>, context: GraphqlContext) => loadStatuses(ids, context),
      resolve: (b) => b.id
    }),
    alerts: t.loadableList({
      type: BudgetAlertRef,
      description: "Every threshold crossing of every period (the alert history), oldest first; the alerts of a page are read together.",
      load: (ids: Array<string>, context: GraphqlContext) => loadAlerts(ids, context),
      resolve: (b) => b.id
    }),
    changes: t.loadableList({
      type: BudgetChangeRef,
      description: "Every change made after creation (updates, archiving), oldest first; the changes of a page are read together.",
      load: (ids: Array<string>, context: GraphqlContext) => loadChanges(ids, context),
      resolve: (b) => b.id
    })
  })
})

builder.queryField("budgets", (t) =>
  t.connection({
    type: BudgetRef,
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(50),
    args: { includeArchived: t.arg.boolean({ defaultValue: false }) },
    resolve: async (_root, args, context) => {
      return Paging.fromArray(args, { fallback: 50, max: 200 }, () =>
        context.run(Budgets.Budgets.use((budgets) => budgets.list(context.tenantId, { includeArchived: args.includeArchived === true }))))
    }
  },
    { name: "BudgetConnection" },
    { name: "BudgetEdge" }
  ))

builder.queryField("budget", (t) =>
  t.field({
    type: BudgetRef,
    authScopes: { read: true },
    errors: { types: [...lookupErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.run(Budgets.Budgets.use((budgets) => budgets.get(context.tenantId, String(args.id))))
  }))

// ---------------------------------------------------------------------------------------------
// The gateway's question: may this call run?

const CheckLabelsInput = builder.inputType("BudgetCheckLabels", {
  description: "The call's labels and model; a budget covers the call when every value of its scope matches.",
  fields: (t) => ({
    project: t.string(),
    environment: t.string(),
    feature: t.string(),
    team: t.string(),
    customer: t.string(),
    apiKeyId: t.string(),
    model: t.string()
  })
})

const DecisionLineRef = builder.objectRef<Admission.BudgetDecision>("BudgetDecisionLine").implement({
  fields: (t) => ({
    budget: t.field({ type: BudgetRef, resolve: (d) => d.budget }),
    periodStart: t.field({ type: "DateTime", resolve: (d) => d.window.start }),
    periodEnd: t.field({ type: "DateTime", resolve: (d) => d.window.end }),
    unit: t.string({ description: "The currency code, `total tokens`, `input tokens`, `output tokens` or `requests`.", resolve: (d) => Budget.unitLabel(d.budget) }),
    estimate: t.expose("estimate", { type: "Decimal", description: "What the call takes of this budget, in its unit." }),
    spent: t.expose("spent", { type: "Decimal" }),
    reserved: t.expose("reserved", { type: "Decimal" }),
    remaining: t.expose("remaining", { type: "Decimal", description: "Before this call." }),
    remainingAfter: t.expose("remainingAfter", { type: "Decimal", description: "After this call's estimate." }),
    allowed: t.exposeBoolean("allowed")
  })
})

const DecisionRef = builder.objectRef<Admission.Decision>("BudgetDecision").implement({
  fields: (t) => ({
    allowed: t.exposeBoolean("allowed", { description: "False when a BLOCK budget would be overspent." }),
    currency: t.exposeString("currency"),
    estimatedCost: t.expose("estimatedCost", { type: "Decimal" }),
    remaining: t.expose("remaining", { type: "Decimal", nullable: true }),
    budgets: t.field({ type: [DecisionLineRef], resolve: (d) => d.budgets }),
    deniedBy: t.field({ type: ["ID"], resolve: (d) => d.deniedBy })
  })
})

builder.queryField("budgetCheck", (t) =>
  t.field({
    type: DecisionRef,
    description: "Whether a call with this estimated cost may run under the budgets covering its labels (nothing is held; see the HTTP reservations for that).",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    args: {
      labels: t.arg({ type: CheckLabelsInput }),
      estimatedCost: t.arg({ type: "Decimal", required: true }),
      currency: t.arg.string()
    },
    resolve: (_root, args, context) =>
      context.run(Enforcement.Enforcement.use((enforcement) =>
        enforcement.check(context.tenantId, {
          labels: scopeOf(args.labels),
          estimatedCost: args.estimatedCost,
          ...(args.currency == null ? {} : { currency: args.currency })
        })
      ))
  }))

// ---------------------------------------------------------------------------------------------
// One decision: model policies and budgets in every unit

const ReasonRef = builder.objectRef<Governance.Reason>("DecisionReason").implement({
  description: "Why a call is denied: a model policy's rule (kind `policy`) or a budget it would overspend (kind `budget`).",
  fields: (t) => ({
    kind: t.string({ resolve: (r) => r.kind }),
    message: t.string({ resolve: (r) => r.message }),
    policyId: t.id({ nullable: true, resolve: (r) => (r.kind === "policy" ? r.policyId : null) }),
    policyName: t.string({ nullable: true, resolve: (r) => (r.kind === "policy" ? r.policyName : null) }),
    rule: t.string({ nullable: true, description: "The policy's rule that refused.", resolve: (r) => (r.kind === "policy" ? r.rule : null) }),
    budgetId: t.id({ nullable: true, resolve: (r) => (r.kind === "budget" ? r.budgetId : null) }),
    budgetName: t.string({ nullable: true, resolve: (r) => (r.kind === "budget" ? r.budgetName : null) }),
    unit: t.string({ nullable: true, resolve: (r) => (r.kind === "budget" ? r.unit : null) }),
    remaining: t.field({ type: "Decimal", nullable: true, resolve: (r) => (r.kind === "budget" ? r.remaining : null) }),
    estimate: t.field({ type: "Decimal", nullable: true, resolve: (r) => (r.kind === "budget" ? r.estimate : null) })
  })
})

const GovernanceDecisionRef = builder.objectRef<Governance.Decision>("GovernanceDecision").implement({
  fields: (t) => ({
    allowed: t.exposeBoolean("allowed"),
    reasons: t.field({ type: [ReasonRef], description: "Every reason the call is denied; empty when allowed.", resolve: (d) => d.reasons }),
    provider: t.string({ nullable: true, resolve: (d) => d.provider }),
    model: t.exposeString("model"),
    estimatedCost: t.field({ type: "Decimal", nullable: true, resolve: (d) => d.estimatedCost }),
    costSource: t.string({ description: "`given`, `priced` (from the tokens) or `unknown`.", resolve: (d) => d.costSource }),
    priced: t.boolean({ nullable: true, resolve: (d) => d.priced }),
    policies: t.field({ type: ["ID"], description: "Policies that apply to the call.", resolve: (d) => d.policies }),
    budget: t.field({ type: DecisionRef, nullable: true, description: "Null when a policy denied first.", resolve: (d) => d.budget })
  })
})

const DecideEstimateInput = builder.inputType("DecideEstimate", {
  fields: (t) => ({
    cost: t.field({ type: "Decimal", description: "In the tenant's currency; priced from the tokens when absent." }),
    inputTokens: t.int(),
    outputTokens: t.int()
  })
})

const count = (field: string, value: number | null | undefined): number | undefined => {
  if (value == null) return undefined
  if (value < 0) throw new InvalidInput(`${field}: expected a non-negative whole number, got ${value}`, field)
  return value
}

builder.queryField("decide", (t) =>
  t.field({
    type: GovernanceDecisionRef,
    description: "Whether a call may run under the model policies and every budget (any unit) covering it, with every reason. Nothing is held (POST /api/v1/decide with reserve: true holds).",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    args: {
      labels: t.arg({ type: CheckLabelsInput }),
      provider: t.arg.string(),
      model: t.arg.string({ required: true }),
      estimate: t.arg({ type: DecideEstimateInput })
    },
    resolve: (_root, args, context) => {
      const inputTokens = count("estimate.inputTokens", args.estimate?.inputTokens)
      const outputTokens = count("estimate.outputTokens", args.estimate?.outputTokens)
      return context.run(Governance.Governance.use((governance) =>
        governance.decide(context.tenantId, {
          labels: scopeOf(args.labels),
          model: args.model,
          ...(args.provider == null ? {} : { provider: args.provider }),
          estimate: {
            ...(args.estimate?.cost == null ? {} : { cost: args.estimate.cost }),
            ...(inputTokens === undefined ? {} : { inputTokens }),
            ...(outputTokens === undefined ? {} : { outputTokens })
          }
        })
      ))
    }
  }))

const ModelPolicyRef = builder.objectRef<ModelPolicy.ModelPolicy>("ModelPolicy").implement({
  description: "Which providers and models a scope's calls may use, and per-call limits.",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    scope: t.field({ type: BudgetScopeRef, resolve: (p) => p.scope }),
    rules: t.field({ type: "JSON", description: "The rules as JSON (model rules as catalog match rules).", resolve: (p) => ModelPolicy.rulesToJson(p.rules) }),
    createdAt: t.field({ type: "DateTime", resolve: (p) => DateTime.makeUnsafe(p.createdAt) }),
    archivedAt: t.field({ type: "DateTime", nullable: true, resolve: (p) => (p.archivedAt === null ? null : DateTime.makeUnsafe(p.archivedAt)) })
  })
})

builder.queryField("modelPolicies", (t) =>
  t.connection({
    type: ModelPolicyRef,
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(50),
    args: { includeArchived: t.arg.boolean({ defaultValue: false }) },
    resolve: async (_root, args, context) =>
      Paging.fromArray(args, { fallback: 50, max: 200 }, () =>
        context.run(Governance.Governance.use((g) => g.listPolicies(context.tenantId, { includeArchived: args.includeArchived === true }))))
  },
    { name: "ModelPolicyConnection" },
    { name: "ModelPolicyEdge" }
  ))

const CreateModelPolicyInput = builder.inputType("CreateModelPolicyInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    scope: t.field({ type: BudgetScopeInput }),
    allowProviders: t.stringList(),
    denyProviders: t.stringList(),
    allowModels: t.field({ type: ["JSON"], description: "Match rules (`{\"startsWith\": \"gpt-4o\"}`) or strings (`startsWith:gpt-4o`, or an exact name)." }),
    denyModels: t.field({ type: ["JSON"] }),
    pricedOnly: t.boolean(),
    maxOutputTokens: t.int(),
    maxCostPerCall: t.field({ type: "Decimal" })
  })
})

builder.mutationField("createModelPolicy", (t) =>
  t.field({
    type: ModelPolicyRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: CreateModelPolicyInput, required: true }) },
    resolve: (_root, { input }, context) => {
      const body: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(input)) {
        if (value === null || value === undefined) continue
        body[key] = key === "maxCostPerCall" ? Money.format(value as Money.Decimal) : key === "scope" ? scopeOf(input.scope) : value
      }
      return context.run(Governance.Governance.use((g) => g.createPolicy(context.tenantId, body)))
    }
  }))

builder.mutationField("archiveModelPolicy", (t) =>
  t.field({
    type: ModelPolicyRef,
    description: "The policy stops applying; it stays listed with `includeArchived`.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.run(Governance.Governance.use((g) => g.archivePolicy(context.tenantId, String(args.id))))
  }))

// ---------------------------------------------------------------------------------------------
// Changes

const CreateBudgetInput = builder.inputType("CreateBudgetInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    scope: t.field({ type: BudgetScopeInput }),
    period: t.field({ type: PeriodEnum, required: true }),
    windowSeconds: t.int({ description: "Required for ROLLING: 1 to 2678400." }),
    unit: t.field({ type: UnitEnum, description: "COST by default." }),
    tokenKind: t.field({ type: TokenKindEnum, description: "For TOKENS; TOTAL by default." }),
    amount: t.field({ type: "Decimal", required: true }),
    currency: t.string({ description: "Must be the tenant's currency (the default)." }),
    thresholds: t.field({ type: ["Decimal"], description: "Percentages; 80 and 100 by default." }),
    action: t.field({ type: ActionEnum })
  })
})

builder.mutationField("createBudget", (t) =>
  t.field({
    type: BudgetRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: CreateBudgetInput, required: true }) },
    resolve: (_root, { input }, context) =>
      context.run(Budgets.Budgets.use((budgets) =>
        budgets.create(context.tenantId, {
          name: input.name,
          scope: scopeOf(input.scope),
          period: input.period,
          ...(input.windowSeconds == null ? {} : { windowSeconds: input.windowSeconds }),
          ...(input.unit == null ? {} : { unit: input.unit }),
          ...(input.tokenKind == null ? {} : { tokenKind: input.tokenKind }),
          amount: input.amount,
          ...(input.currency == null ? {} : { currency: input.currency }),
          ...(input.thresholds == null ? {} : { thresholds: input.thresholds as ReadonlyArray<Money.Decimal> }),
          ...(input.action == null ? {} : { action: input.action })
        })
      ))
  }))

const UpdateBudgetInput = builder.inputType("UpdateBudgetInput", {
  description: "The fields to change; at least one. Period, scope and currency cannot change (create a new budget instead).",
  fields: (t) => ({
    name: t.string(),
    amount: t.field({ type: "Decimal", description: "Greater than 0, in the budget's currency." }),
    thresholds: t.field({ type: ["Decimal"], description: "Replaces the whole list: 1 to 10 percentages, each in (0, 1000]." }),
    action: t.field({ type: ActionEnum })
  })
})

builder.mutationField("updateBudget", (t) =>
  t.field({
    type: BudgetRef,
    description: "Changes name, amount, thresholds or action, recorded in the budget's `changes` with this key as actor. The current period is evaluated at once under the new terms: thresholds spend has already reached are announced now (each still once per period). An archived budget is a Conflict.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateBudgetInput, required: true }) },
    resolve: (_root, { id, input }, context) => {
      const patch: Budget.UpdateBudget = {
        ...(input.name == null ? {} : { name: input.name }),
        ...(input.amount == null ? {} : { amount: input.amount }),
        ...(input.thresholds == null ? {} : { thresholds: input.thresholds as ReadonlyArray<Money.Decimal> }),
        ...(input.action == null ? {} : { action: input.action })
      }
      if (Object.keys(patch).length === 0) {
        throw new InvalidInput(`input: expected at least one of ${Budget.updatableFields.join(", ")} to change`, "input")
      }
      return context.run(Budgets.Budgets.use((budgets) => budgets.update(context.tenantId, String(id), patch, { actor: context.key.keyId })))
    }
  }))

builder.mutationField("deleteBudget", (t) =>
  t.field({
    type: BudgetRef,
    description: "Archives the budget: no longer evaluated or enforced; its history stays.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) =>
      context.run(Budgets.Budgets.use((budgets) => budgets.archive(context.tenantId, String(args.id), { actor: context.key.keyId })))
  }))

// ---------------------------------------------------------------------------------------------
// Live status

/** What a burn-down view redraws on: a change in any of these (an updated budget too). */
const fingerprint = (s: Budgets.BudgetStatus) =>
  [
    s.window.label,
    Money.format(s.spent),
    Money.format(s.reserved),
    s.calls,
    s.unpricedCalls,
    s.partialCalls,
    s.crossed.length,
    Money.format(s.budget.amount),
    s.budget.thresholds.map(Money.format).join(","),
    s.budget.action,
    s.budget.name,
    s.budget.archivedAt === null
  ].join("|")

const sleep = (millis: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, millis)
    signal?.addEventListener("abort", () => {
      clearTimeout(timer)
      resolve()
    }, { once: true })
  })

async function* statusChanges(context: GraphqlContext, budgetId: string | null, everyMillis: number, signal: AbortSignal | undefined) {
  const last = new Map<string, string>()
  while (signal?.aborted !== true) {
    const statuses = await context.run(Budgets.Budgets.use((budgets) =>
      budgets.status(context.tenantId, budgetId === null ? {} : { budgetId })
    ))
    for (const status of statuses) {
      const print = fingerprint(status)
      if (last.get(status.budget.id) === print) continue
      last.set(status.budget.id, print)
      yield status
    }
    await sleep(everyMillis, signal)
  }
}

builder.subscriptionField("budgetStatus", (t) =>
  t.field({
    type: BudgetStatusRef,
    description: "The status of one budget (or of every active one) now, then each time it changes.",
    authScopes: { read: true },
    args: {
      budgetId: t.arg.id(),
      everySeconds: t.arg.int({ description: "How often to look for changes (1 to 300; default a few seconds)." })
    },
    subscribe: async (_root, args, context) => {
      const every = args.everySeconds == null ? context.pollMillis : args.everySeconds * 1000
      if (!(every >= 1000 && every <= 300_000) && args.everySeconds != null) {
        throw new InvalidInput(`everySeconds: expected 1 to 300, got ${args.everySeconds}`, "everySeconds")
      }
      const budgetId = args.budgetId == null ? null : String(args.budgetId)
      // The budget must exist for this tenant before anything streams (NotFound otherwise).
      if (budgetId !== null) await context.run(Budgets.Budgets.use((budgets) => budgets.get(context.tenantId, budgetId)))
      return statusChanges(context, budgetId, every, context.signal)
    },
    resolve: (status) => status
  }))
