// createPricer options: a custom catalog file over the built-in one, and a scope (docs/embedding.md).
/* global console */
import { createPricer } from "@tally/pricing"

const pricer = createPricer({
  catalog: "./my-prices.json",   // or the parsed object: definitions, overrides, multipliers, layers (catalog.md)
  builtIn: true,                 // false: price from `catalog` alone
  scope: { tenant: "acme" }      // which scoped layers, overrides and multipliers apply
})

const usage = { input_tokens: 1_000_000, output_tokens: 100_000 }
const house = pricer.price({ provider: "openai", model: "house-model", usage, at: "2026-05-01T12:00:00Z" })
const builtIn = pricer.price({ provider: "openai", model: "gpt-4o-mini", usage, at: "2026-05-01T12:00:00Z" })
console.log(JSON.stringify({ options: { house: house.total, builtIn: builtIn.total } }))
