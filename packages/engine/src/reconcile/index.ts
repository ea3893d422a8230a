export * as Compare from "./Compare.ts"
export * as Findings from "./Findings.ts"
export * as ReDerive from "./ReDerive.ts"
export * as Run from "./Run.ts"
