/** Cost-at-risk reports as plain data (decimals as text), for tests that compare them. */
import { Money } from "@tally/core"
import type { AtRiskComponent, CostAtRiskReport } from "../src/CostAtRisk.ts"

export const plainComponents = (components: ReadonlyArray<AtRiskComponent>) =>
  components.map((c) => [c.component, c.unit, Money.format(c.quantity), c.calls, c.partialCalls, c.unpricedCalls])

export const plainReport = (report: CostAtRiskReport) => ({
  partialCalls: report.partialCalls,
  unpricedCalls: report.unpricedCalls,
  partialSpend: report.partialSpend.map((s) => [s.currency, Money.format(s.amount)]),
  components: plainComponents(report.components),
  models: report.models.map((m) => [m.provider, m.model, m.partialCalls, m.unpricedCalls, plainComponents(m.components)])
})
