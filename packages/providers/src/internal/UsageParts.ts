/**
 * Building and adding `Usage` values. The canonical form omits zero buckets and zero counts, so
 * the same call normalizes to the same value whichever way its provider reported it.
 */
import { type Money, Usage } from "@tally/core"

export type Tokens = { -readonly [K in Usage.TokenBucket]?: number }

export interface Parts {
  readonly tokens?: Tokens
  readonly promptTokens?: number | undefined
  readonly requests?: number | undefined
  readonly imagesGenerated?: Readonly<Record<string, number>> | undefined
  readonly audioSeconds?: Money.Decimal | undefined
  readonly videoSeconds?: Money.Decimal | undefined
  readonly webSearches?: number | undefined
  readonly toolCalls?: Readonly<Record<string, number>> | undefined
  readonly batch?: boolean | undefined
  readonly serviceTier?: string | undefined
  readonly region?: string | undefined
}

const positiveEntries = (record: Readonly<Record<string, number>> | undefined): Record<string, number> | undefined => {
  if (record === undefined) return undefined
  const out: Record<string, number> = {}
  let any = false
  for (const key of Object.keys(record).sort()) {
    const value = record[key]
    if (value !== undefined && value > 0) {
      out[key] = value
      any = true
    }
  }
  return any ? out : undefined
}

/** A canonical Usage: zero and absent values dropped, keys in a stable order. */
export const make = (parts: Parts): Usage.Usage => {
  const tokens: Tokens = {}
  const given = parts.tokens
  if (given !== undefined) {
    for (const bucket of Usage.TokenBuckets) {
      const value = given[bucket]
      if (value !== undefined && value > 0) tokens[bucket] = value
    }
  }
  // Members assigned one by one in the canonical order (no spread of partial objects): this
  // runs once per ingested call.
  const usage: { -readonly [K in keyof Usage.Usage]: Usage.Usage[K] } = { tokens }
  if (parts.promptTokens !== undefined && parts.promptTokens > 0) usage.promptTokens = parts.promptTokens
  if (parts.requests !== undefined && parts.requests > 0) usage.requests = parts.requests
  const imagesGenerated = positiveEntries(parts.imagesGenerated)
  if (imagesGenerated !== undefined) usage.imagesGenerated = imagesGenerated
  if (parts.audioSeconds !== undefined && !parts.audioSeconds.isZero()) usage.audioSeconds = parts.audioSeconds
  if (parts.videoSeconds !== undefined && !parts.videoSeconds.isZero()) usage.videoSeconds = parts.videoSeconds
  if (parts.webSearches !== undefined && parts.webSearches > 0) usage.webSearches = parts.webSearches
  const toolCalls = positiveEntries(parts.toolCalls)
  if (toolCalls !== undefined) usage.toolCalls = toolCalls
  if (parts.batch === true) usage.batch = true
  if (parts.serviceTier !== undefined && parts.serviceTier !== "") usage.serviceTier = parts.serviceTier
  if (parts.region !== undefined && parts.region !== "") usage.region = parts.region
  return usage
}

const addRecords = (
  a: Readonly<Record<string, number>> | undefined,
  b: Readonly<Record<string, number>> | undefined
): Record<string, number> => {
  const out: Record<string, number> = { ...a }
  for (const [key, value] of Object.entries(b ?? {})) out[key] = (out[key] ?? 0) + value
  return out
}

const addDecimals = (a: Money.Decimal | undefined, b: Money.Decimal | undefined): Money.Decimal | undefined =>
  a === undefined ? b : b === undefined ? a : a.plus(b)

/**
 * The usage of two calls billed together (turns of a Realtime session, executor iterations).
 * Counts add; context fields (`batch`, `serviceTier`, `region`) come from `a` unless only `b` has them.
 */
export const add = (a: Usage.Usage, b: Usage.Usage): Usage.Usage => {
  const tokens: Tokens = {}
  for (const bucket of Usage.TokenBuckets) tokens[bucket] = (a.tokens[bucket] ?? 0) + (b.tokens[bucket] ?? 0)
  return make({
    tokens,
    promptTokens: (a.promptTokens ?? 0) + (b.promptTokens ?? 0),
    requests: (a.requests ?? 0) + (b.requests ?? 0),
    imagesGenerated: addRecords(a.imagesGenerated, b.imagesGenerated),
    audioSeconds: addDecimals(a.audioSeconds, b.audioSeconds),
    videoSeconds: addDecimals(a.videoSeconds, b.videoSeconds),
    webSearches: (a.webSearches ?? 0) + (b.webSearches ?? 0),
    toolCalls: addRecords(a.toolCalls, b.toolCalls),
    batch: a.batch === true || b.batch === true,
    serviceTier: a.serviceTier ?? b.serviceTier,
    region: a.region ?? b.region
  })
}

/** The same usage with its pricing context replaced (batch flag, tier, region). */
export const withContext = (
  usage: Usage.Usage,
  context: { readonly batch?: boolean | undefined; readonly serviceTier?: string | undefined; readonly region?: string | undefined }
): Usage.Usage =>
  make({
    ...usage,
    batch: context.batch ?? usage.batch,
    serviceTier: context.serviceTier ?? usage.serviceTier,
    region: context.region ?? usage.region
  })
