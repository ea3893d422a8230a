/**
 * @tally/providers: raw LLM provider payloads → normalized Usage, the provider-reported cost, and
 * a tokenizer fallback when no usage was reported.
 */
export * as CompatibleProviders from "./CompatibleProviders.ts"
export * as Normalize from "./Normalize.ts"
export * as NormalizedCall from "./NormalizedCall.ts"
export * as NormalizeError from "./NormalizeError.ts"
export * as Reports from "./Reports.ts"
export * as Tokenizer from "./Tokenizer.ts"
