/**
 * @tally/pricing: exact LLM prices with no database. `createPricer` for Promise and plain
 * JavaScript callers, the `Pricer` service for Effect, `Costing` for the engine.
 */
export * as Costing from "./Costing.ts"
export * as Pricer from "./Pricer.ts"
export * as PricerError from "./PricerError.ts"
export * as UsageInput from "./UsageInput.ts"
export { createPricer } from "./Pricer.ts"
export type { CostInput, CostResult, PriceInput, PriceResult, PricerApi, PricerOptions } from "./Pricer.ts"
export { PricerError as PricingError } from "./PricerError.ts"
