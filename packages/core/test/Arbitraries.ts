/** fast-check generators for usage and snapshots, shared by the core law tests. */
import { PricingSnapshot, Usage } from "../src/index.ts"
import fc from "fast-check"

export const decimalString = (maxWhole = 200, maxScale = 6): fc.Arbitrary<string> =>
  fc.tuple(fc.integer({ min: 0, max: maxWhole }), fc.integer({ min: 0, max: maxScale }), fc.integer({ min: 0, max: 999_999 }))
    .map(([whole, scale, fraction]) => scale === 0 ? `${whole}` : `${whole}.${String(fraction).padStart(6, "0").slice(0, scale)}`)

export const percentString: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 0, max: 100 }).map(String),
  fc.tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 1, max: 99 })).map(([a, b]) => `${a}.${b}`)
)

const count = (max: number) => fc.integer({ min: 0, max })

/** Every token bucket present with a rate, so any usage prices. */
export const fullRates: fc.Arbitrary<Record<Usage.TokenBucket, string>> = fc.record(
  Object.fromEntries(Usage.TokenBuckets.map((b) => [b, decimalString()])) as Record<Usage.TokenBucket, fc.Arbitrary<string>>
)

export const tokenCounts = (max = 2_000_000): fc.Arbitrary<Usage.TokenCounts> =>
  fc.record(
    Object.fromEntries(Usage.TokenBuckets.map((b) => [b, count(max)])) as Record<Usage.TokenBucket, fc.Arbitrary<number>>,
    { requiredKeys: [] }
  )

export const usage = (options: { maxTokens?: number; units?: boolean; context?: boolean } = {}): fc.Arbitrary<Usage.Usage> =>
  fc.record({
    tokens: tokenCounts(options.maxTokens),
    requests: count(3),
    webSearches: options.units === false ? fc.constant(0) : count(50),
    toolCalls: options.units === false ? fc.constant({}) : fc.dictionary(fc.constantFrom("code_interpreter", "file_search", "computer"), count(20)),
    imagesGenerated: options.units === false ? fc.constant({}) : fc.dictionary(fc.constantFrom("1024x1024/high", "1024x1536/low"), count(5)),
    batch: options.context === false ? fc.constant(false) : fc.boolean(),
    serviceTier: options.context === false ? fc.constant("default") : fc.constantFrom("default", "priority", "flex"),
    region: options.context === false ? fc.constant("us") : fc.constantFrom("us", "eu")
  })

export const snapshotEncoded = (options: { tiers?: boolean; conditions?: boolean } = {}): fc.Arbitrary<PricingSnapshot.PricingSnapshotEncoded> =>
  fc.record({
    provider: fc.constant("test"),
    modelKey: fc.constantFrom("model-a", "model-b"),
    rates: fullRates,
    units: fc.record({
      perRequest: decimalString(1),
      perThousandWebSearches: decimalString(30),
      perToolCall: fc.record({ "*": decimalString(1) }),
      perImage: fc.record({ "*": decimalString(1) })
    }),
    batchDiscountPercent: options.conditions === false ? fc.constant("0") : percentString,
    serviceTierMultipliers: options.conditions === false ? fc.constant({}) : fc.record({ priority: decimalString(3, 2), flex: decimalString(1, 2) }),
    regionMultipliers: options.conditions === false ? fc.constant({}) : fc.record({ eu: decimalString(2, 2) }),
    tiers: options.tiers === true
      ? fc.uniqueArray(fc.record({ aboveTokens: fc.integer({ min: 0, max: 3_000_000 }), rates: fullRates }), { maxLength: 3, selector: (tier) => tier.aboveTokens })
      : fc.constant([])
  })

export const snapshot = (options: { tiers?: boolean; conditions?: boolean } = {}): fc.Arbitrary<PricingSnapshot.PricingSnapshot> =>
  snapshotEncoded(options).map((encoded) => PricingSnapshot.decodeSnapshot(encoded))
