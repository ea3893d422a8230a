export { BudgetExceeded, type BudgetDecision, InvalidTallyOptions, TallyUnavailable } from "./Errors.ts"
export type { CostInput, CostJson, EmbeddedTally, IngestItem, Labels, Pricer, UsageEvent } from "./Recorder.ts"
export { WorkerError } from "./Recorder.ts"
export {
  type BudgetOptions,
  type CallOptions,
  type EmbeddedOptions,
  type HttpOptions,
  type RecordedCall,
  tallyCall,
  withTally,
  type WithTallyOptions
} from "./WithTally.ts"
