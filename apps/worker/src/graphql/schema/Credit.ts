/**
 * Prepaid credits: grants (credit packs) of a customer or a team, their drawdowns, and balances.
 * Recorded calls draw the grants down at ingest; grants with `enforce` make reservations that
 * would overdraw the balance be refused. Changes by admin keys.
 */
import type { Credit } from "@tally/core"
import { Credits as CreditEngine } from "@tally/engine"
import { Credits } from "@tally/store"
import { builder, changeErrors, lookupErrors, readErrors } from "../builder.ts"
import { InvalidInput } from "../Errors.ts"
import { inputBody } from "./Commitment.ts"

const AccountKindEnum = builder.enumType("CreditAccountKind", {
  values: { CUSTOMER: { value: "customer" }, TEAM: { value: "team" } } as const
})

const DrawBasisEnum = builder.enumType("CreditDrawBasis", {
  values: {
    PRICE: { value: "price", description: "The call's sale price." },
    COST: { value: "cost", description: "The call's cost (no sale price applied)." },
    TOKENS: { value: "tokens", description: "The call's total tokens." }
  } as const
})

const CreditDrawdownRef = builder.objectRef<Credits.StoredDraw>("CreditDrawdown").implement({
  fields: (t) => ({
    requestId: t.exposeString("requestId"),
    grantId: t.exposeID("grantId"),
    amount: t.field({ type: "Decimal", resolve: (d) => d.amount }),
    unit: t.exposeString("unit", { description: "A currency code, or `tokens`." }),
    basis: t.field({ type: DrawBasisEnum, resolve: (d) => d.basis }),
    occurredAt: t.field({ type: "DateTime", resolve: (d) => d.occurredAt })
  })
})

const CreditGrantRef = builder.objectRef<Credit.Grant>("CreditGrant").implement({
  description: "A credit pack: drawn by recorded calls of its customer or team, lowest priority first, then in grant order.",
  fields: (t) => ({
    id: t.exposeID("id"),
    accountKind: t.field({ type: AccountKindEnum, resolve: (g) => g.account.kind }),
    account: t.string({ description: "The customer or team.", resolve: (g) => g.account.id }),
    unit: t.exposeString("unit", { description: "A currency code, or `tokens`." }),
    amount: t.field({ type: "Decimal", resolve: (g) => g.amount }),
    remaining: t.field({ type: "Decimal", resolve: (g) => g.remaining }),
    priority: t.exposeInt("priority"),
    effectiveAt: t.field({ type: "DateTime", resolve: (g) => g.effectiveAt }),
    expiresAt: t.field({ type: "DateTime", nullable: true, resolve: (g) => g.expiresAt }),
    alertThresholds: t.field({ type: ["Decimal"], resolve: (g) => g.alertThresholds }),
    enforce: t.exposeBoolean("enforce"),
    note: t.exposeString("note", { nullable: true }),
    createdAt: t.field({ type: "DateTime", resolve: (g) => g.createdAt }),
    voidedAt: t.field({ type: "DateTime", nullable: true, resolve: (g) => g.voidedAt }),
    drawdowns: t.field({
      type: [CreditDrawdownRef],
      args: { first: t.arg.int({ defaultValue: 100 }) },
      resolve: (g, args, context) => {
        const first = args.first ?? 100
        if (first < 1 || first > 1000) throw new InvalidInput(`first: expected 1 to 1000, got ${first}`, "first")
        return context.run(Credits.Credits.use((store) => store.drawdowns(context.tenantId, { grantId: g.id, limit: first })))
      }
    })
  })
})

const CreditBalanceRef = builder.objectRef<Credits.Balance>("CreditBalance").implement({
  description: "What an account's grants active at the instant have left, in one unit.",
  fields: (t) => ({
    accountKind: t.field({ type: AccountKindEnum, resolve: (b) => b.account.kind }),
    account: t.string({ resolve: (b) => b.account.id }),
    unit: t.exposeString("unit"),
    balance: t.field({ type: "Decimal", resolve: (b) => b.balance }),
    granted: t.field({ type: "Decimal", resolve: (b) => b.granted }),
    grants: t.field({ type: [CreditGrantRef], description: "In draw order.", resolve: (b) => b.grants })
  })
})

const accountOf = (args: { readonly customer?: string | null | undefined; readonly team?: string | null | undefined }): Credit.Account => {
  const customer = args.customer ?? undefined
  const team = args.team ?? undefined
  if ((customer === undefined) === (team === undefined)) throw new InvalidInput("customer: name exactly one customer or one team", "customer")
  return customer !== undefined ? { kind: "customer", id: customer } : { kind: "team", id: team! }
}

builder.queryField("creditGrants", (t) =>
  t.field({
    type: [CreditGrantRef],
    description: "Grants in grant order, of one customer or team when given.",
    authScopes: { read: true },
    errors: { types: [...readErrors] },
    args: { customer: t.arg.string(), team: t.arg.string(), includeVoided: t.arg.boolean({ defaultValue: false }) },
    resolve: (_root, args, context) => {
      const account = args.customer == null && args.team == null ? undefined : accountOf(args)
      return context.run(Credits.Credits.use((store) => store.list(context.tenantId, { account, includeVoided: args.includeVoided === true })))
    }
  }))

builder.queryField("creditGrant", (t) =>
  t.field({
    type: CreditGrantRef,
    authScopes: { read: true },
    errors: { types: [...lookupErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.run(Credits.Credits.use((store) => store.get(context.tenantId, String(args.id))))
  }))

builder.queryField("creditBalance", (t) =>
  t.field({
    type: [CreditBalanceRef],
    description: "One customer's or team's balance per unit, now or at `at`.",
    authScopes: { read: true },
    errors: { types: [...readErrors] },
    args: { customer: t.arg.string(), team: t.arg.string(), at: t.arg({ type: "DateTime" }) },
    resolve: (_root, args, context) => context.run(CreditEngine.balance(context.tenantId, accountOf(args), args.at ?? undefined))
  }))

const GrantCreditsInput = builder.inputType("GrantCreditsInput", {
  fields: (t) => ({
    customer: t.string(),
    team: t.string(),
    unit: t.string({ required: true, description: "A currency code, or `tokens`." }),
    amount: t.field({ type: "Decimal", required: true }),
    priority: t.int({ description: "Lower is drawn first (default 0)." }),
    effectiveAt: t.field({ type: "DateTime", description: "Calls from this instant draw it (default now)." }),
    expiresAt: t.field({ type: "DateTime" }),
    alertThresholds: t.field({ type: ["Decimal"], description: "Balances whose crossing downwards sends `credit.balance_low`." }),
    enforce: t.boolean({ description: "Refuse reservations that would overdraw the account's balance." }),
    note: t.string()
  })
})

builder.mutationField("grantCredits", (t) =>
  t.field({
    type: CreditGrantRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: GrantCreditsInput, required: true }) },
    resolve: (_root, { input }, context) => context.run(CreditEngine.grant(context.tenantId, inputBody(input)))
  }))

builder.mutationField("voidCreditGrant", (t) =>
  t.field({
    type: CreditGrantRef,
    description: "The grant stops paying for calls; what it paid stays drawn.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.run(CreditEngine.voidGrant(context.tenantId, String(args.id)))
  }))


