/**
 * Chargeback's domain, pure: who owns a call (`Dimension`), the allocation rules (`Rule`, one file
 * each under `rules/` behind the `Rules` registry), what a run is asked for (`Input`), the
 * arithmetic of a run and its corrections (`Allocate`), and its FinOps FOCUS rows and CSV (`Focus`,
 * `Csv`). Exported from the package as `CostAllocation`; the engine's `Chargeback` service runs
 * it over the ledger and stores the runs.
 */
export * as Allocate from "./Allocate.ts"
export * as Csv from "./Csv.ts"
export * as Dimension from "./Dimension.ts"
export * as Focus from "./Focus.ts"
export * as Input from "./Input.ts"
export { InvalidChargeback } from "./InvalidChargeback.ts"
export * as Rule from "./Rule.ts"
export * as Rules from "./Rules.ts"
