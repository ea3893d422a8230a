/**
 * `unitCosts`: what a request, a workflow (trace), an end user, a customer and a feature cost on
 * average over a period, with the spend nobody can be attributed to kept apart, and the units
 * that cost the most.
 */
import { Money, type UnitCost } from "@tally/core"
import type * as DateTime from "effect/DateTime"
import { UnitCosts } from "@tally/store"
import { builder, readErrors } from "../builder.ts"
import { InvalidInput } from "../Errors.ts"
import { MoneyRef, type MoneyShape, toFilter, UsageFilterInput, type UsageFilterShape } from "./Common.ts"

const UnitKindEnum = builder.enumType("UnitKind", {
  values: {
    REQUEST: { value: "request" },
    WORKFLOW: { value: "workflow", description: "Calls sharing a workflow (trace) id." },
    END_USER: { value: "endUser" },
    CUSTOMER: { value: "customer" },
    FEATURE: { value: "feature" }
  } as const
})

/** Places an average keeps: beyond a millionth of a cent, rounded half to even. */
export const averageDecimals = 10

interface UnitCostShape extends UnitCost.UnitCost {
  readonly range: { readonly from: DateTime.Utc; readonly to: DateTime.Utc; readonly filter: UsageFilterShape | null | undefined }
}

const UnitCostEntryRef = builder.objectRef<UnitCost.UnitCostEntry & { readonly currency: string }>("UnitCostEntry").implement({
  fields: (t) => ({
    unit: t.exposeString("unit", { description: "The workflow id, end user, customer or feature." }),
    requests: t.expose("requests", { type: "Long" }),
    spend: t.field({ type: MoneyRef, resolve: (e) => ({ amount: e.spend, currency: e.currency }) })
  })
})

const UnitCostRef = builder.objectRef<UnitCostShape>("UnitCost").implement({
  fields: (t) => ({
    kind: t.field({ type: UnitKindEnum, resolve: (u) => u.kind }),
    units: t.expose("units", { type: "Long", description: "Distinct units with calls in the period." }),
    requests: t.expose("requests", { type: "Long", description: "Calls attributed to a unit." }),
    spend: t.field({ type: [MoneyRef], description: "Spend of those calls, per currency.", resolve: (u) => u.spend }),
    average: t.field({
      type: [MoneyRef],
      description: `Spend per unit, per currency, rounded half-even to ${averageDecimals} decimals (the only rounded figure here).`,
      resolve: (u): ReadonlyArray<MoneyShape> =>
        u.units === 0 ? [] : u.spend.map((s) => ({
          currency: s.currency,
          amount: s.amount.dividedBy(u.units).toDecimalPlaces(averageDecimals, Money.Decimal.ROUND_HALF_EVEN)
        }))
    }),
    unattributedRequests: t.expose("unattributedRequests", { type: "Long", description: "Calls without this label: not in the average." }),
    unattributedSpend: t.field({ type: [MoneyRef], resolve: (u) => u.unattributedSpend }),
    top: t.field({
      type: [UnitCostEntryRef],
      description: "The units with the most spend in `currency` (the tenant's by default), most first. Empty for REQUEST.",
      complexity: (args) => ({ field: 5, multiplier: args.first ?? 10 }),
      args: { first: t.arg.int({ defaultValue: 10 }), currency: t.arg.string() },
      resolve: async (u, args, context) => {
        if (u.kind === "request") return []
        const first = args.first ?? 10
        if (first < 1 || first > 100) throw new InvalidInput(`first: expected 1 to 100, got ${first}`, "first")
        const currency = args.currency ?? u.spend[0]?.currency ?? "USD"
        const kind = u.kind
        const rows = await context.run(UnitCosts.UnitCosts.use((units) =>
          units.topUnits(context.tenantId, {
            kind,
            from: u.range.from,
            to: u.range.to,
            currency,
            limit: first,
            filter: toFilter(u.range.filter)
          })
        ))
        return rows.map((row) => ({ ...row, currency }))
      }
    })
  })
})

const UnitCostsRef = builder.objectRef<{ readonly units: ReadonlyArray<UnitCostShape>; readonly from: UnitCostShape["range"]["from"]; readonly to: UnitCostShape["range"]["to"] }>("UnitCosts").implement({
  fields: (t) => ({
    from: t.expose("from", { type: "DateTime" }),
    to: t.expose("to", { type: "DateTime" }),
    units: t.field({ type: [UnitCostRef], resolve: (r) => r.units }),
    unit: t.field({
      type: UnitCostRef,
      nullable: true,
      args: { kind: t.arg({ type: UnitKindEnum, required: true }) },
      resolve: (r, args) => r.units.find((u) => u.kind === args.kind) ?? null
    })
  })
})

builder.queryField("unitCosts", (t) =>
  t.field({
    type: UnitCostsRef,
    description: "Cost per request, workflow, end user, customer and feature in `[from, to)` (read from the ledger).",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: 50,
    args: {
      from: t.arg({ type: "DateTime", required: true }),
      to: t.arg({ type: "DateTime", required: true }),
      kinds: t.arg({ type: [UnitKindEnum] }),
      filter: t.arg({ type: UsageFilterInput })
    },
    resolve: async (_root, args, context) => {
      const costs = await context.run(UnitCosts.UnitCosts.use((units) =>
        units.costs(context.tenantId, {
          from: args.from,
          to: args.to,
          filter: toFilter(args.filter),
          ...(args.kinds == null ? {} : { kinds: args.kinds })
        })
      ))
      const range = { from: args.from, to: args.to, filter: args.filter }
      return { from: args.from, to: args.to, units: costs.map((c) => ({ ...c, range })) }
    }
  }))
