/**
 * Commitments: committed-use discounts and provisioned throughput, each with its period report
 * (fee, covered usage, spillover, utilisation, what on demand would have cost, savings), and the
 * break-even estimate for buying capacity from the last 30 days of usage. Changes by admin keys.
 */
import type { Commitment} from "@tally/core";
import { Money } from "@tally/core"
import { Commitments as CommitmentEngine } from "@tally/engine"
import { Commitments } from "@tally/store"
import * as DateTime from "effect/DateTime"
import { builder, changeErrors, lookupErrors, readErrors } from "../builder.ts"
import { MoneyRef } from "./Common.ts"

const KindEnum = builder.enumType("CommitmentKind", {
  values: {
    SPEND: { value: "spend", description: "A committed-use discount: committed spend per month, a percentage off covered calls." },
    PROVISIONED: { value: "provisioned", description: "Provisioned throughput: a fee per hour or month; calls served on it cost 0 at the margin." }
  } as const
})

const FeePeriodEnum = builder.enumType("CommitmentFeePeriod", {
  values: { HOUR: { value: "hour" }, MONTH: { value: "month", description: "Prorated by calendar month (UTC)." } } as const
})

const money = (amount: Money.Decimal, currency: string) => ({ amount, currency })

interface UsageShape extends Commitment.PeriodUsage {
  readonly currency: string
}

const CommitmentUsageRef = builder.objectRef<UsageShape>("CommitmentUsage").implement({
  fields: (t) => ({
    calls: t.exposeInt("calls"),
    tokens: t.expose("tokens", { type: "Long" }),
    onDemand: t.field({ type: MoneyRef, description: "What these calls cost on demand.", resolve: (u) => money(u.onDemand, u.currency) }),
    charged: t.field({ type: MoneyRef, description: "What they are recorded at (0 on provisioned capacity).", resolve: (u) => money(u.charged, u.currency) })
  })
})

const CommitmentReportRef = builder.objectRef<Commitment.PeriodReport>("CommitmentReport").implement({
  description: "One commitment over `[from, to)`.",
  fields: (t) => ({
    from: t.field({ type: "DateTime", resolve: (r) => DateTime.makeUnsafe(r.from) }),
    to: t.field({ type: "DateTime", resolve: (r) => DateTime.makeUnsafe(r.to) }),
    fee: t.field({
      type: MoneyRef,
      description: "The fee for the period (hourly fee x hours, or monthly fee prorated by calendar month); for a spend commitment, the committed spend.",
      resolve: (r) => money(r.fee, r.currency)
    }),
    covered: t.field({ type: CommitmentUsageRef, description: "Calls on the capacity, or discounted.", resolve: (r) => ({ ...r.covered, currency: r.currency }) }),
    spillover: t.field({ type: CommitmentUsageRef, description: "Calls of a provisioned scope served on demand.", resolve: (r) => ({ ...r.spillover, currency: r.currency }) }),
    onDemand: t.field({ type: MoneyRef, description: "What the covered calls would have cost on demand.", resolve: (r) => money(r.onDemand, r.currency) }),
    utilisation: t.field({
      type: "Decimal",
      nullable: true,
      description: "Provisioned: on-demand value of covered calls / fee. Spend: discounted spend / committed spend. Null when the fee is 0.",
      resolve: (r) => r.utilisation
    }),
    effectiveCost: t.field({ type: MoneyRef, description: "Fee plus spillover (provisioned); the larger of commitment and spend (spend).", resolve: (r) => money(r.effectiveCost, r.currency) }),
    savings: t.field({ type: MoneyRef, description: "On demand for all of it minus the effective cost (negative: the commitment cost more).", resolve: (r) => money(r.savings, r.currency) }),
    shortfall: t.field({ type: MoneyRef, description: "Committed spend not used (spend commitments).", resolve: (r) => money(r.shortfall, r.currency) })
  })
})

const CommitmentRef = builder.objectRef<Commitment.Commitment>("Commitment").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    kind: t.field({ type: KindEnum, resolve: (c) => c.kind }),
    provider: t.exposeString("provider", { nullable: true }),
    model: t.exposeString("model", { nullable: true, description: "Exact model, or a prefix ending in `*`." }),
    deployment: t.exposeString("deployment", { nullable: true, description: "Deployment (tag `deployment`) or Bedrock provisioned-model ARN." }),
    currency: t.exposeString("currency"),
    discountPercent: t.field({ type: "Decimal", nullable: true, resolve: (c) => c.discountPercent }),
    amount: t.field({ type: "Decimal", nullable: true, description: "Committed spend per month.", resolve: (c) => c.amount }),
    fee: t.field({ type: "Decimal", nullable: true, resolve: (c) => c.fee }),
    feePeriod: t.field({ type: FeePeriodEnum, nullable: true, resolve: (c) => c.feePeriod }),
    startsAt: t.field({ type: "DateTime", resolve: (c) => c.startsAt }),
    endsAt: t.field({ type: "DateTime", nullable: true, resolve: (c) => c.endsAt }),
    createdAt: t.field({ type: "DateTime", resolve: (c) => c.createdAt }),
    archivedAt: t.field({ type: "DateTime", nullable: true, resolve: (c) => c.archivedAt }),
    report: t.field({
      type: CommitmentReportRef,
      args: { from: t.arg({ type: "DateTime", required: true }), to: t.arg({ type: "DateTime", required: true }) },
      resolve: (c, args, context) => context.run(CommitmentEngine.report(context.tenantId, c.id, args.from, args.to))
    })
  })
})

builder.queryField("commitments", (t) =>
  t.field({
    type: [CommitmentRef],
    description: "The tenant's commitments in creation order.",
    authScopes: { read: true },
    errors: { types: [...readErrors] },
    args: { includeArchived: t.arg.boolean({ defaultValue: false }) },
    resolve: (_root, args, context) =>
      context.run(Commitments.Commitments.use((store) => store.list(context.tenantId, { includeArchived: args.includeArchived === true })))
  }))

builder.queryField("commitment", (t) =>
  t.field({
    type: CommitmentRef,
    authScopes: { read: true },
    errors: { types: [...lookupErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.run(Commitments.Commitments.use((store) => store.get(context.tenantId, String(args.id))))
  }))

const CapacityBreakEvenRef = builder.objectRef<Commitment.BreakEven & { readonly currency: string; readonly from: DateTime.Utc; readonly to: DateTime.Utc }>(
  "CapacityBreakEven"
).implement({
  description: "Would capacity at this fee have paid for itself on the scope's last 30 days of usage? Compared per hour; months are 730 hours.",
  fields: (t) => ({
    from: t.expose("from", { type: "DateTime" }),
    to: t.expose("to", { type: "DateTime" }),
    onDemand: t.field({ type: MoneyRef, description: "On-demand cost of the scope's calls in the window.", resolve: (b) => money(b.onDemand, b.currency) }),
    onDemandPerMonth: t.field({ type: MoneyRef, resolve: (b) => money(b.onDemandPerMonth, b.currency) }),
    feePerMonth: t.field({ type: MoneyRef, resolve: (b) => money(b.feePerMonth, b.currency) }),
    breakEvenUtilisation: t.field({
      type: "Decimal",
      nullable: true,
      description: "Fee / on-demand cost per hour: the share of that usage the capacity must serve to pay for itself (null without usage).",
      resolve: (b) => b.breakEvenUtilisation
    }),
    monthlySavings: t.field({ type: MoneyRef, description: "If the capacity served all of it.", resolve: (b) => money(b.monthlySavings, b.currency) }),
    worthBuying: t.exposeBoolean("worthBuying")
  })
})

const BreakEvenInput = builder.inputType("CapacityBreakEvenInput", {
  fields: (t) => ({
    provider: t.string(),
    model: t.string(),
    deployment: t.string(),
    currency: t.string({ required: true }),
    fee: t.field({ type: "Decimal", required: true }),
    feePeriod: t.field({ type: FeePeriodEnum, required: true }),
    at: t.field({ type: "DateTime", description: "End of the 30-day window (default now)." })
  })
})

/** A GraphQL input as the JSON body the decoders take: decimals and instants as text, nulls left out. */
const body = (input: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input)) {
    if (value === null || value === undefined) continue
    out[key] = Money.isDecimal(value)
      ? Money.format(value)
      : DateTime.isDateTime(value)
      ? DateTime.formatIso(value)
      : Array.isArray(value)
      ? value.map((v) => (Money.isDecimal(v) ? Money.format(v) : v))
      : value
  }
  return out
}

builder.queryField("capacityBreakEven", (t) =>
  t.field({
    type: CapacityBreakEvenRef,
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    args: { input: t.arg({ type: BreakEvenInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const result = await context.run(CommitmentEngine.breakEven(context.tenantId, body(input)))
      return { ...result, currency: input.currency }
    }
  }))

const CreateCommitmentInput = builder.inputType("CreateCommitmentInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    kind: t.field({ type: KindEnum, required: true }),
    provider: t.string(),
    model: t.string(),
    deployment: t.string(),
    currency: t.string({ required: true }),
    discountPercent: t.field({ type: "Decimal" }),
    amount: t.field({ type: "Decimal", description: "Spend: committed spend per month." }),
    fee: t.field({ type: "Decimal" }),
    feePeriod: t.field({ type: FeePeriodEnum }),
    startsAt: t.field({ type: "DateTime", required: true }),
    endsAt: t.field({ type: "DateTime" })
  })
})

builder.mutationField("createCommitment", (t) =>
  t.field({
    type: CommitmentRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: CreateCommitmentInput, required: true }) },
    resolve: (_root, { input }, context) => context.run(CommitmentEngine.create(context.tenantId, body(input)))
  }))

builder.mutationField("archiveCommitment", (t) =>
  t.field({
    type: CommitmentRef,
    description: "The commitment stops applying to calls ingested from now on; its reports stay.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.run(CommitmentEngine.archive(context.tenantId, String(args.id)))
  }))

export { body as inputBody }
