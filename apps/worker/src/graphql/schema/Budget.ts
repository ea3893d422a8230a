/**
 * Budgets with their live status (spent, reserved, remaining, thresholds crossed, forecast to the
 * period's end) and their change history, the gateway's pre-call check, changes by admin keys
 * (create, update, delete), and a subscription that sends a budget's status whenever it moves
 * (for live burn-down views).
 */
import { type Admission, Budget, type Crossing, Money } from "@tally/core"
import { Budgets, Enforcement } from "@tally/engine"
import { BudgetCrossings, CostAtRisk } from "@tally/store"
import { builder, changeErrors, lookupErrors, readErrors } from "../builder.ts"
import type { GraphqlContext } from "../Context.ts"
import { InvalidInput } from "../Errors.ts"
import * as Paging from "../Paging.ts"
import { MoneyRef } from "./Common.ts"
import { CostAtRiskRef } from "./CostAtRisk.ts"

const PeriodEnum = builder.enumType("BudgetPeriod", {
  description: "Days, ISO weeks and calendar months of the tenant's time zone.",
  values: { DAY: { value: "day" }, WEEK: { value: "week" }, MONTH: { value: "month" } } as const
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

const BudgetStatusRef = builder.objectRef<Budgets.BudgetStatus>("BudgetStatus").implement({
  description: "Where a budget stands in its current period.",
  fields: (t) => ({
    budget: t.field({ type: BudgetRef, resolve: (s) => s.budget }),
    periodStart: t.field({ type: "DateTime", resolve: (s) => s.window.start }),
    periodEnd: t.field({ type: "DateTime", resolve: (s) => s.window.end }),
    periodLabel: t.string({ description: "`2025-03-30`, `2025-W14` or `2025-03` in the tenant's zone.", resolve: (s) => s.window.label }),
    timeZone: t.string({ resolve: (s) => s.window.timeZone }),
    currency: t.string({ resolve: (s) => s.budget.currency }),
    spent: t.expose("spent", { type: "Decimal", description: "Priced spend in the budget's currency, exact." }),
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
    otherCurrencies: t.field({ type: [MoneyRef], description: "Spend in scope in other currencies, not converted.", resolve: (s) => s.otherCurrencies }),
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
    amount: t.expose("amount", { type: "Decimal" }),
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
// Changes

const CreateBudgetInput = builder.inputType("CreateBudgetInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    scope: t.field({ type: BudgetScopeInput }),
    period: t.field({ type: PeriodEnum, required: true }),
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
