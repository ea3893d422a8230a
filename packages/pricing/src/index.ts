export * as Costing from "./Costing.ts"
