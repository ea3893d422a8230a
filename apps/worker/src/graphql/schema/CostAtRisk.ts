/**
 * Cost at risk, as usage, budgets, chargeback and coverage show it: the calls priced only in part
 * or not at all, and every component no price was found for with its quantity (the store's
 * `CostAtRisk`). Spend never includes those components; this says what it leaves out.
 */
import type { CostAtRisk } from "@tally/store"
import { builder } from "../builder.ts"
import { MoneyRef } from "./Common.ts"

export const AtRiskComponentRef = builder.objectRef<CostAtRisk.AtRiskComponent>("AtRiskComponent").implement({
  description: "Usage no price was found for: a token bucket, `image:<key>`, `toolCall:<kind>`, `webSearches`, `audioSeconds` or `videoSeconds`.",
  fields: (t) => ({
    component: t.exposeString("component"),
    unit: t.exposeString("unit", { description: "token, image, second, search or call." }),
    quantity: t.expose("quantity", { type: "Decimal", description: "Exact quantity without a price." }),
    calls: t.expose("calls", { type: "Long", description: "Calls it was missing in." }),
    partialCalls: t.expose("partialCalls", { type: "Long" }),
    unpricedCalls: t.expose("unpricedCalls", { type: "Long" })
  })
})

const AtRiskModelRef = builder.objectRef<CostAtRisk.AtRiskModel>("AtRiskModel").implement({
  fields: (t) => ({
    provider: t.exposeString("provider"),
    model: t.exposeString("model", { description: "The model as reported." }),
    partialCalls: t.expose("partialCalls", { type: "Long" }),
    unpricedCalls: t.expose("unpricedCalls", { type: "Long" }),
    components: t.field({ type: [AtRiskComponentRef], resolve: (m) => m.components })
  })
})

export const CostAtRiskRef = builder.objectRef<CostAtRisk.CostAtRiskReport>("CostAtRisk").implement({
  description: "What spend leaves out: calls priced in part (PARTIAL) or not at all (UNPRICED), and the usage without a price.",
  fields: (t) => ({
    partialCalls: t.expose("partialCalls", { type: "Long", description: "Calls priced in part: their priced lines are in spend." }),
    unpricedCalls: t.expose("unpricedCalls", { type: "Long", description: "Calls without any price: not in spend." }),
    partialSpend: t.field({ type: [MoneyRef], description: "What the partial calls' priced lines add to spend, per currency.", resolve: (r) => r.partialSpend }),
    components: t.field({ type: [AtRiskComponentRef], description: "Every component without a price, most calls first.", resolve: (r) => r.components }),
    models: t.field({ type: [AtRiskModelRef], description: "The same per provider and model, most calls first.", resolve: (r) => r.models })
  })
})
