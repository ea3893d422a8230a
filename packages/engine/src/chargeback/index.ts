/**
 * Chargeback and showback over the ledger (see `Chargeback.ts`): the `Chargeback` service, the run
 * it computes and stores (`Run.ts`), and its failures. The pure domain (dimensions, rules,
 * allocation, run input, FOCUS rows, CSV) is core's `CostAllocation`.
 */
export * from "./Chargeback.ts"
export { PeriodFinalized, RunAlreadyFinal, RunNotFound, RunStale } from "./Errors.ts"
export type { AuditEntry, Computation, Inputs, Line, Run, RunStatus, RunSummary } from "./Run.ts"
export * as Json from "./Json.ts"
