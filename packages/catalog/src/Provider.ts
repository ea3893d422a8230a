/**
 * Providers of the catalog. A provider has a canonical id ("aws", "x-ai"), an alias rule for the
 * names callers use for it ("bedrock", "xai"), a rule for model names that by themselves identify
 * it (used when a query names no provider), and fallback providers whose definitions apply when
 * its own do not match (Azure serves OpenAI models).
 */
import { Schema } from "effect"
import * as MatchRule from "./MatchRule.ts"

export const ProviderInfo = Schema.Struct({
  id: Schema.NonEmptyString,
  name: Schema.String,
  aliases: Schema.optionalKey(MatchRule.MatchRule),
  modelMatch: Schema.optionalKey(MatchRule.MatchRule),
  fallbackProviders: Schema.optionalKey(Schema.Array(Schema.NonEmptyString)),
  pricingUrls: Schema.optionalKey(Schema.Array(Schema.String))
}).annotate({ identifier: "ProviderInfo" })
export type ProviderInfo = typeof ProviderInfo.Type

export interface Resolved {
  readonly id: string
  readonly via: "id" | "alias" | "unknown"
  readonly detail: string
}

/**
 * The canonical id for a provider name: the provider with that id, else the provider whose alias
 * rule matches most specifically (ties by id), else the name itself (a custom provider).
 */
export const resolve = (providers: ReadonlyArray<ProviderInfo>, requested: string): Resolved => {
  const name = requested.trim().toLowerCase()
  const exact = providers.find((p) => p.id === name)
  if (exact !== undefined) return { id: exact.id, via: "id", detail: `provider "${name}" is a catalog provider id` }
  let best: { provider: ProviderInfo; match: MatchRule.RuleMatch } | undefined
  for (const provider of providers) {
    if (provider.aliases === undefined) continue
    const m = MatchRule.evaluate(provider.aliases, name)
    if (m === undefined) continue
    const order = best === undefined ? 1 : MatchRule.compareSpecificity(m.specificity, best.match.specificity) || (provider.id < best.provider.id ? 1 : -1)
    if (order > 0) best = { provider, match: m }
  }
  if (best !== undefined) {
    return {
      id: best.provider.id,
      via: "alias",
      detail: `provider "${name}" resolved to "${best.provider.id}" by its alias rule ${MatchRule.describe(best.match.leaf)}`
    }
  }
  return { id: name, via: "unknown", detail: `provider "${name}" is not a built-in provider` }
}

/** Providers whose model rule matches `model` (lower-cased), most specific first, ties by id. */
export const byModelName = (providers: ReadonlyArray<ProviderInfo>, model: string): ReadonlyArray<ProviderInfo> =>
  providers
    .flatMap((provider) => {
      const m = provider.modelMatch === undefined ? undefined : MatchRule.evaluate(provider.modelMatch, model)
      return m === undefined ? [] : [{ provider, m }]
    })
    .sort((a, b) => MatchRule.compareSpecificity(b.m.specificity, a.m.specificity) || (a.provider.id < b.provider.id ? -1 : 1))
    .map(({ provider }) => provider)
