// A strict TypeScript consumer (`moduleResolution: nodenext`): `tsc --noEmit` checks that the
// published types say what the pricer does.
import { createPricer, type PriceResult, PricerError, type PricerOptions } from "@tally/pricing"

const options: PricerOptions = { builtIn: true, scope: { tenant: "acme" } }
const pricer = createPricer(options)

export const priceCall = (model: string, inputTokens: number, outputTokens: number): string | null => {
  try {
    const priced: PriceResult = pricer.price({ provider: "openai", model, usage: { input_tokens: inputTokens, output_tokens: outputTokens } })
    return priced.costSource === "computed" ? priced.total : null
  } catch (error) {
    if (PricerError.isPricerError(error)) return `${error.reason} at ${error.path}`
    throw error
  }
}

export const costPayload = (payload: unknown): string | null => pricer.cost({ provider: "openai", payload }).total
