/**
 * Chargeback runs as JSON (money as exact decimal strings, instants as ISO 8601), one mapping for
 * every edge that prints them: the CLI, the Promise facade (`createTally`).
 */
import { CostAllocation, Money } from "@tally/core"
import * as DateTime from "effect/DateTime"
import type { Computation, Line, Run, RunSummary } from "./Run.ts"
import type { RunPage } from "./Chargeback.ts"

const fmt = (value: Money.Decimal) => Money.format(value)
const iso = (value: DateTime.Utc) => DateTime.formatIso(value)

export const lineToJson = (line: Line) => ({
  lineNo: line.lineNo,
  kind: line.kind,
  owner: line.owner,
  direct: fmt(line.direct),
  allocated: fmt(line.allocated),
  amount: fmt(line.amount),
  currency: line.currency,
  requestCount: line.requestCount,
  correctsRunId: line.correctsRunId
})

export const computationToJson = (c: Computation) => ({
  tenantId: c.tenantId,
  from: iso(c.from),
  to: iso(c.to),
  dimension: c.dimension,
  currency: c.currency,
  rule: CostAllocation.Rules.encode(c.rule),
  ruleVersion: c.ruleVersion,
  shared: c.shared,
  total: fmt(c.total),
  asOf: iso(c.asOf),
  inputs: {
    ledgerTotal: fmt(c.inputs.ledgerTotal),
    roundedTotal: fmt(c.inputs.roundedTotal),
    requestCount: c.inputs.requestCount,
    unpricedCount: c.inputs.unpricedCount,
    partialCount: c.inputs.partialCount,
    atRisk: c.inputs.atRisk.map((a) => ({ ...a, quantity: fmt(a.quantity) })),
    otherCurrencies: c.inputs.otherCurrencies.map((o) => ({ currency: o.currency, amount: fmt(o.amount), requestCount: o.requestCount })),
    snapshotIds: c.inputs.snapshotIds,
    checked: c.inputs.checked,
    sha256: c.inputs.sha256
  },
  lines: c.lines.map(lineToJson)
})

export const runToJson = (run: Run) => ({
  runId: run.id,
  status: run.status,
  ...computationToJson(run),
  createdBy: run.createdBy,
  createdAt: iso(run.createdAt),
  finalizedBy: run.finalizedBy,
  finalizedAt: run.finalizedAt === null ? null : iso(run.finalizedAt),
  audit: run.audit.map((a) => ({ action: a.action, actor: a.actor, at: iso(a.at) }))
})

export const summaryToJson = (r: RunSummary) => ({
  runId: r.id,
  status: r.status,
  from: iso(r.from),
  to: iso(r.to),
  dimension: r.dimension,
  currency: r.currency,
  total: fmt(r.total),
  ruleVersion: r.ruleVersion,
  inputsSha256: r.inputsSha256,
  lineCount: r.lineCount,
  createdBy: r.createdBy,
  createdAt: iso(r.createdAt),
  finalizedBy: r.finalizedBy,
  finalizedAt: r.finalizedAt === null ? null : iso(r.finalizedAt)
})

export const pageToJson = (page: RunPage) => ({
  runs: page.runs.map(summaryToJson),
  hasMore: page.hasMore,
  endCursor: page.endCursor
})

export type ComputationJson = ReturnType<typeof computationToJson>
export type RunJson = ReturnType<typeof runToJson>
export type RunPageJson = ReturnType<typeof pageToJson>
