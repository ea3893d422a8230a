/**
 * Resale: the tenant's sale price book (rules and customer plans), the sale price recorded for a
 * call beside its cost, margin, and customer statements (preview, finalize, list, exports). The
 * work is the engine's (`SalePricing`) and the store's (`SalePrices`, `CustomerStatements`);
 * resolvers only call them. See docs/resale.md.
 */
import { type Money, SalePrice, Statement } from "@tally/core"
import { SalePricing } from "@tally/engine"
import { CustomerStatements, SalePrices } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { builder, changeErrors, lookupErrors, readErrors } from "../builder.ts"
import * as Paging from "../Paging.ts"

const RuleKindEnum = builder.enumType("SaleRuleKind", {
  description: "How a sale price rule prices a call.",
  values: {
    MARKUP_PERCENT: { value: "markup-percent", description: "Every cost line x (1 + percent / 100), in the cost's currency." },
    MARKUP_PER_UNIT: { value: "markup-per-unit", description: "Every cost line + perUnit per 1M tokens (token lines) or per unit." },
    LIST_PRICE: { value: "list-price", description: "A rate per component, per 1M tokens or per unit, independent of the cost." }
  } as const
})

const GroupByEnum = builder.enumType("StatementGroupBy", {
  values: { MODEL: { value: "model" }, FEATURE: { value: "feature" } } as const
})

const MarginDimensionEnum = builder.enumType("MarginDimension", {
  values: {
    CUSTOMER: { value: "customer" },
    PLAN: { value: "plan" },
    MODEL: { value: "model" },
    PROVIDER: { value: "provider" },
    FEATURE: { value: "feature" },
    DAY: { value: "day", description: "UTC day, YYYY-MM-DD." },
    MONTH: { value: "month", description: "UTC month, YYYY-MM." }
  } as const
})

const utc = (millis: number | null) => (millis === null ? null : DateTime.makeUnsafe(millis))

const ListRateRef = builder.objectRef<{ readonly component: string; readonly rate: Money.Decimal }>("SaleListRate").implement({
  fields: (t) => ({
    component: t.exposeString("component"),
    rate: t.field({ type: "Decimal", description: "Per 1M tokens for token components, per unit otherwise.", resolve: (r) => r.rate })
  })
})

const RuleRef = builder.objectRef<SalePrices.StoredRule>("SalePriceRule").implement({
  description: "A rule of the tenant's sale price book (docs/resale.md).",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    customer: t.exposeString("customer", { nullable: true }),
    plan: t.exposeString("plan", { nullable: true }),
    provider: t.exposeString("provider", { nullable: true }),
    model: t.exposeString("model", { nullable: true, description: "A model name; a trailing * matches by prefix." }),
    kind: t.field({ type: RuleKindEnum, resolve: (r) => r.kind }),
    percent: t.field({ type: "Decimal", nullable: true, resolve: (r) => r.percent }),
    perUnit: t.field({ type: "Decimal", nullable: true, resolve: (r) => r.perUnit }),
    rates: t.field({
      type: [ListRateRef],
      nullable: true,
      resolve: (r) => (r.rates === null ? null : Object.entries(r.rates).map(([component, rate]) => ({ component, rate })))
    }),
    currency: t.exposeString("currency", { nullable: true }),
    effectiveFrom: t.field({ type: "DateTime", resolve: (r) => utc(r.effectiveFrom)! }),
    effectiveTo: t.field({ type: "DateTime", nullable: true, resolve: (r) => utc(r.effectiveTo) }),
    createdAt: t.field({ type: "DateTime", resolve: (r) => utc(r.createdAt)! }),
    archivedAt: t.field({ type: "DateTime", nullable: true, resolve: (r) => utc(r.archivedAt) })
  })
})

const PlanRef = builder.objectRef<SalePrice.PlanAssignment>("CustomerPlan").implement({
  description: "A customer's plan from effectiveFrom until its next assignment.",
  fields: (t) => ({
    customer: t.exposeString("customer"),
    plan: t.exposeString("plan"),
    effectiveFrom: t.field({ type: "DateTime", resolve: (p) => utc(p.effectiveFrom)! })
  })
})

const PriceLineRef = builder.objectRef<SalePrice.PriceLine>("SalePriceLine").implement({
  fields: (t) => ({
    component: t.exposeString("component"),
    quantity: t.field({ type: "Decimal", resolve: (l) => l.quantity }),
    unit: t.exposeString("unit"),
    cost: t.field({ type: "Decimal", nullable: true, resolve: (l) => l.cost }),
    unitPrice: t.field({ type: "Decimal", description: "Price of one unit (one token, one request, ...).", resolve: (l) => l.unitPrice }),
    amount: t.field({ type: "Decimal", resolve: (l) => l.amount }),
    basis: t.exposeString("basis", { description: "How the line was priced, e.g. \"cost x 1.25\"." })
  })
})

const CallPriceRef = builder.objectRef<SalePrices.StoredPrice>("CallPrice").implement({
  description: "A call's sale price beside its cost, as recorded at ingest (or moved by a repricing).",
  fields: (t) => ({
    requestId: t.exposeString("requestId"),
    occurredAt: t.field({ type: "DateTime", resolve: (p) => p.occurredAt }),
    customer: t.exposeString("customer", { nullable: true }),
    plan: t.exposeString("plan", { nullable: true }),
    feature: t.exposeString("feature", { nullable: true }),
    provider: t.exposeString("provider"),
    model: t.exposeString("model"),
    status: t.exposeString("status", { description: "priced or unpriced." }),
    ruleId: t.exposeID("ruleId", { nullable: true }),
    kind: t.field({ type: RuleKindEnum, nullable: true, resolve: (p) => p.kind }),
    reason: t.exposeString("reason", { nullable: true, description: "Why there is no price." }),
    currency: t.exposeString("currency", { nullable: true }),
    total: t.field({ type: "Decimal", nullable: true, resolve: (p) => p.total }),
    lines: t.field({ type: [PriceLineRef], resolve: (p) => p.lines }),
    costTotal: t.field({ type: "Decimal", nullable: true, resolve: (p) => p.costTotal }),
    costCurrency: t.exposeString("costCurrency", { nullable: true }),
    margin: t.field({
      type: "Decimal",
      nullable: true,
      description: "total - costTotal when both exist in one currency.",
      resolve: (p) => (p.total !== null && p.costTotal !== null && p.currency === p.costCurrency ? p.total.minus(p.costTotal) : null)
    }),
    recordedAt: t.field({ type: "DateTime", resolve: (p) => p.recordedAt }),
    repricedAt: t.field({ type: "DateTime", nullable: true, resolve: (p) => p.repricedAt })
  })
})

const MarginRowRef = builder.objectRef<CustomerStatements.MarginRow>("MarginRow").implement({
  description: "Price and cost of a group of calls, per price and cost currency.",
  fields: (t) => ({
    customer: t.string({ nullable: true, resolve: (r) => r.keys.customer ?? null }),
    plan: t.string({ nullable: true, resolve: (r) => r.keys.plan ?? null }),
    model: t.string({ nullable: true, resolve: (r) => r.keys.model ?? null }),
    provider: t.string({ nullable: true, resolve: (r) => r.keys.provider ?? null }),
    feature: t.string({ nullable: true, resolve: (r) => r.keys.feature ?? null }),
    day: t.string({ nullable: true, resolve: (r) => r.keys.day ?? null }),
    month: t.string({ nullable: true, resolve: (r) => r.keys.month ?? null }),
    currency: t.exposeString("currency", { nullable: true, description: "The price currency; null for the calls without a price." }),
    costCurrency: t.exposeString("costCurrency", { nullable: true }),
    requests: t.exposeInt("requests"),
    unpriced: t.exposeInt("unpriced"),
    price: t.field({ type: "Decimal", nullable: true, resolve: (r) => r.price }),
    cost: t.field({ type: "Decimal", nullable: true, resolve: (r) => r.cost }),
    margin: t.field({ type: "Decimal", nullable: true, description: "price - cost; null across currencies.", resolve: (r) => r.margin }),
    marginPercent: t.field({ type: "Decimal", nullable: true, resolve: (r) => r.marginPercent })
  })
})

const StatementLineRef = builder.objectRef<Statement.StatementLine>("CustomerStatementLine").implement({
  fields: (t) => ({
    group: t.exposeString("group", { description: "The model or the feature." }),
    component: t.exposeString("component"),
    unit: t.exposeString("unit"),
    quantity: t.field({ type: "Decimal", resolve: (l) => l.quantity }),
    unitPrice: t.field({ type: "Decimal", nullable: true, resolve: (l) => l.unitPrice }),
    unitPricePer: t.exposeString("unitPricePer"),
    averaged: t.exposeBoolean("averaged", { description: "The calls of the line had different unit prices: unitPrice is their average." }),
    exactAmount: t.field({ type: "Decimal", resolve: (l) => l.exactAmount }),
    amount: t.field({ type: "Decimal", description: "Rounded to the minor unit; lines sum to the total.", resolve: (l) => l.amount })
  })
})

const StatementCreditRef = builder.objectRef<Statement.StatementCredit>("CustomerStatementCredit").implement({
  description: "Prepaid credit a credit pack of the customer gave the statement's calls.",
  fields: (t) => ({
    grantId: t.exposeID("grantId", { description: "The credit grant (pack)." }),
    name: t.exposeString("name", { nullable: true, description: "The grant's note, e.g. \"starter pack\"." }),
    exactAmount: t.field({ type: "Decimal", resolve: (c) => c.exactAmount }),
    amount: t.field({ type: "Decimal", description: "Rounded to the minor unit like the lines.", resolve: (c) => c.amount })
  })
})

const StatementRef = builder.objectRef<Statement.Statement>("CustomerStatement").implement({
  description: "A customer's priced calls of a period as invoice lines, rounded by largest remainder; taxes not included.",
  fields: (t) => ({
    id: t.exposeID("id", { nullable: true, description: "Null for a preview." }),
    customer: t.exposeString("customer"),
    periodFrom: t.exposeString("periodFrom"),
    periodTo: t.exposeString("periodTo", { description: "Exclusive." }),
    currency: t.exposeString("currency"),
    groupBy: t.field({ type: GroupByEnum, resolve: (s) => s.groupBy }),
    kind: t.exposeString("kind", { description: "statement, or correction (the difference since what was stated)." }),
    correctsId: t.exposeID("correctsId", { nullable: true }),
    status: t.exposeString("status", { description: "preview or final." }),
    lines: t.field({ type: [StatementLineRef], resolve: (s) => s.lines }),
    total: t.field({ type: "Decimal", resolve: (s) => s.total }),
    exactTotal: t.field({ type: "Decimal", resolve: (s) => s.exactTotal }),
    credits: t.field({
      type: [StatementCreditRef],
      description: "Prepaid credit applied, per pack (a correction: the difference); empty on statements finalized before credits were recorded.",
      resolve: (s) => s.credits
    }),
    creditTotal: t.field({ type: "Decimal", description: "The credits' amounts summed.", resolve: (s) => s.creditTotal }),
    amountDue: t.field({ type: "Decimal", description: "total - creditTotal.", resolve: (s) => s.amountDue }),
    requestCount: t.exposeInt("requestCount"),
    unpricedCount: t.exposeInt("unpricedCount"),
    asOf: t.exposeString("asOf"),
    finalizedAt: t.exposeString("finalizedAt", { nullable: true }),
    finalizedBy: t.exposeString("finalizedBy", { nullable: true }),
    json: t.field({ type: "JSON", description: "The statement as exported JSON.", resolve: (s) => Statement.toJson(s) }),
    csv: t.string({ description: "The lines as CSV (RFC 4180) with a total row, then credit and amount_due rows when credit was applied.", resolve: (s) => Statement.toCsv(s) }),
    html: t.string({ description: "A self-contained, print-ready HTML page (A4).", resolve: (s) => Statement.toHtml(s) })
  })
})

const StatementResultRef = builder.objectRef<{ readonly statement: Statement.Statement | null }>("CustomerStatementResult").implement({
  fields: (t) => ({
    statement: t.field({ type: StatementRef, nullable: true, description: "Null when nothing changed since the last final statement.", resolve: (r) => r.statement }),
    changed: t.boolean({ resolve: (r) => r.statement !== null })
  })
})

const RuleInput = builder.inputType("SalePriceRuleInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    customer: t.string({ description: "Only this customer's calls (the customer label)." }),
    plan: t.string({ description: "Only calls of customers on this plan." }),
    provider: t.string(),
    model: t.string({ description: "A model name; a trailing * matches by prefix." }),
    kind: t.field({ type: RuleKindEnum, required: true }),
    percent: t.field({ type: "Decimal" }),
    perUnit: t.field({ type: "Decimal" }),
    rates: t.field({ type: "JSON", description: "list-price: { component: rate as a decimal string }." }),
    currency: t.string(),
    effectiveFrom: t.field({ type: "DateTime", required: true }),
    effectiveTo: t.field({ type: "DateTime", description: "Exclusive." })
  })
})

const PlanInput = builder.inputType("CustomerPlanInput", {
  fields: (t) => ({
    customer: t.string({ required: true }),
    plan: t.string({ required: true }),
    effectiveFrom: t.field({ type: "DateTime", required: true })
  })
})

const MarginInput = builder.inputType("MarginInput", {
  fields: (t) => ({
    from: t.field({ type: "DateTime", required: true }),
    to: t.field({ type: "DateTime", required: true, description: "Exclusive." }),
    groupBy: t.field({ type: [MarginDimensionEnum], required: true }),
    customer: t.string()
  })
})

const StatementInput = builder.inputType("CustomerStatementInput", {
  fields: (t) => ({
    customer: t.string({ required: true }),
    from: t.field({ type: "DateTime", required: true }),
    to: t.field({ type: "DateTime", required: true, description: "Exclusive." }),
    currency: t.string({ required: true }),
    groupBy: t.field({ type: GroupByEnum, defaultValue: "model" })
  })
})

/** A rule input decoded exactly as the CLI and library decode it: a typed error naming the field. */
const ruleInputOf = (input: typeof RuleInput.$inferInput) =>
  Effect.fromResult(SalePrice.decodeRuleInput({
    name: input.name,
    kind: input.kind,
    effectiveFrom: DateTime.formatIso(input.effectiveFrom),
    ...(input.customer == null ? {} : { customer: input.customer }),
    ...(input.plan == null ? {} : { plan: input.plan }),
    ...(input.provider == null ? {} : { provider: input.provider }),
    ...(input.model == null ? {} : { model: input.model }),
    ...(input.percent == null ? {} : { percent: input.percent.toFixed() }),
    ...(input.perUnit == null ? {} : { perUnit: input.perUnit.toFixed() }),
    ...(input.rates == null ? {} : { rates: input.rates }),
    ...(input.currency == null ? {} : { currency: input.currency }),
    ...(input.effectiveTo == null ? {} : { effectiveTo: DateTime.formatIso(input.effectiveTo) })
  }))

const statementInputOf = (input: typeof StatementInput.$inferInput): CustomerStatements.StatementInput => ({
  customer: input.customer,
  from: input.from,
  to: input.to,
  currency: input.currency,
  groupBy: input.groupBy ?? "model"
})

builder.queryField("salePriceRules", (t) =>
  t.connection({
    type: RuleRef,
    description: "The tenant's sale price rules, newest first.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(50),
    args: { archived: t.arg.boolean({ defaultValue: false, description: "Include archived rules." }) },
    resolve: (_root, args, context) =>
      Paging.fromArray(args, { fallback: 50, max: 500 }, () =>
        context.run(SalePrices.SalePrices.use((s) => s.listRules(context.tenantId, { archived: args.archived === true }))))
  },
    { name: "SalePriceRuleConnection" },
    { name: "SalePriceRuleEdge" }
  ))

builder.queryField("customerPlans", (t) =>
  t.connection({
    type: PlanRef,
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(50),
    args: { customer: t.arg.string() },
    resolve: (_root, args, context) =>
      Paging.fromArray(args, { fallback: 50, max: 500 }, () =>
        context.run(SalePrices.SalePrices.use((s) => s.listPlans(context.tenantId, args.customer ?? undefined))))
  },
    { name: "CustomerPlanConnection" },
    { name: "CustomerPlanEdge" }
  ))

builder.queryField("callPrice", (t) =>
  t.field({
    type: CallPriceRef,
    description: "The sale price recorded for a call, with its cost and margin.",
    authScopes: { read: true },
    errors: { types: [...lookupErrors], directResult: true },
    args: { requestId: t.arg.string({ required: true }) },
    resolve: (_root, args, context) =>
      context.run(Effect.flatMap(
        SalePricing.SalePricing.use((s) => s.priceOf(context.tenantId, args.requestId)),
        Option.match({
          onNone: () => Effect.fail(SalePrices.priceNotFound(args.requestId)),
          onSome: Effect.succeed
        })
      ))
  }))

builder.queryField("margin", (t) =>
  t.connection({
    type: MarginRowRef,
    description: "Price, cost and margin of the calls of [from, to), grouped as asked.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(100),
    args: { input: t.arg({ type: MarginInput, required: true }) },
    resolve: (_root, args, context) =>
      Paging.fromArray(args, { fallback: 100, max: 1000 }, () =>
        context.run(CustomerStatements.CustomerStatements.use((s) =>
          s.margin(context.tenantId, {
            from: args.input.from,
            to: args.input.to,
            groupBy: args.input.groupBy,
            ...(args.input.customer == null ? {} : { customer: args.input.customer })
          })
        )))
  },
    { name: "MarginRowConnection" },
    { name: "MarginRowEdge" }
  ))

builder.queryField("customerStatementPreview", (t) =>
  t.field({
    type: StatementResultRef,
    description: "What finalizing would keep now (a statement, or the correction since the last); nothing is written.",
    authScopes: { read: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: StatementInput, required: true }) },
    resolve: (_root, { input }, context) =>
      context.run(Effect.map(
        CustomerStatements.CustomerStatements.use((s) => s.preview(context.tenantId, statementInputOf(input))),
        (statement) => ({ statement })
      ))
  }))

builder.queryField("customerStatements", (t) =>
  t.connection({
    type: StatementRef,
    description: "Final statements and corrections, newest period first.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(20),
    args: { customer: t.arg.string() },
    resolve: (_root, args, context) =>
      Paging.fromArray(args, { fallback: 20, max: 200 }, () =>
        context.run(CustomerStatements.CustomerStatements.use((s) => s.list(context.tenantId, args.customer ?? undefined))))
  },
    { name: "CustomerStatementConnection" },
    { name: "CustomerStatementEdge" }
  ))

builder.queryField("customerStatement", (t) =>
  t.field({
    type: StatementRef,
    authScopes: { read: true },
    errors: { types: [...lookupErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) =>
      context.run(CustomerStatements.CustomerStatements.use((s) => s.get(context.tenantId, String(args.id))))
  }))

builder.mutationField("addSalePriceRule", (t) =>
  t.field({
    type: RuleRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: RuleInput, required: true }) },
    resolve: (_root, { input }, context) =>
      context.run(Effect.flatMap(ruleInputOf(input), (rule) => SalePricing.SalePricing.use((s) => s.addRule(context.tenantId, rule))))
  }))

builder.mutationField("archiveSalePriceRule", (t) =>
  t.field({
    type: RuleRef,
    description: "The rule prices no new call; recorded prices keep naming it.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) =>
      context.run(SalePricing.SalePricing.use((s) => s.archiveRule(context.tenantId, String(args.id))))
  }))

builder.mutationField("assignCustomerPlan", (t) =>
  t.field({
    type: PlanRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: PlanInput, required: true }) },
    resolve: (_root, { input }, context) =>
      context.run(SalePricing.SalePricing.use((s) =>
        s.assignPlan(context.tenantId, { customer: input.customer, plan: input.plan, effectiveFrom: DateTime.toEpochMillis(input.effectiveFrom) })
      ))
  }))

builder.mutationField("finalizeCustomerStatement", (t) =>
  t.field({
    type: StatementResultRef,
    description: "Keeps the period's statement as final, or the correction since the last final one; null statement when nothing changed.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: StatementInput, required: true }) },
    resolve: (_root, { input }, context) =>
      context.run(Effect.map(
        CustomerStatements.CustomerStatements.use((s) => s.finalize(context.tenantId, statementInputOf(input), context.key.keyId)),
        (statement) => ({ statement })
      ))
  }))
