export * as Money from "./Money.ts"
export * as Usage from "./Usage.ts"
export * as PricingSnapshot from "./PricingSnapshot.ts"
