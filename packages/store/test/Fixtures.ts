/** Priced calls for the store's tests, priced by the real cost engine. */
import { CostEngine, Money, PricingSnapshot, type Usage, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import fc from "fast-check"

export const snapshot = PricingSnapshot.decodeSnapshot({
  provider: "openai",
  modelKey: "gpt-4o",
  rates: {
    inputText: "2.50",
    cacheRead: "1.25",
    cacheWrite5m: "3.75",
    outputText: "10",
    reasoning: "10",
    inputImage: "2.50",
    inputAudio: "40",
    outputAudio: "80",
    embedding: "0.13"
  },
  units: {
    perRequest: "0.0001",
    perThousandWebSearches: "25",
    perToolCall: { "*": "0.03" },
    perImage: { "*": "0.04" },
    perAudioSecond: "0.0001"
  }
})

export interface CallOptions {
  readonly requestId: string
  /** Epoch millis or ISO text; defaults to 2025-03-14T15:09:26.535Z. */
  readonly occurredAt?: number | string
  readonly usage?: Usage.Usage
  readonly labels?: UsageRecord.Labels
  readonly costSource?: UsageRecord.CostSource
  /** For `provider` calls: what the provider billed. Defaults to the computed total + 1%. */
  readonly reportedCost?: string
  readonly tags?: Record<string, string>
  readonly raw?: UsageRecord.UsageRecord["raw"]
  readonly rawText?: string
  readonly model?: string
}

const defaultUsage: Usage.Usage = { tokens: { inputText: 1200, cacheRead: 300, outputText: 450, reasoning: 120 } }

export const pricedCall = (options: CallOptions): UsageRecord.UsageRecord => {
  const usage = options.usage ?? defaultUsage
  const occurredAt = DateTime.makeUnsafe(options.occurredAt ?? "2025-03-14T15:09:26.535Z")
  const breakdown = Result.getOrThrow(CostEngine.price(usage, snapshot))
  const costSource = options.costSource ?? "computed"
  const raw = options.raw ?? { id: options.requestId, usage: { prompt_tokens: 1500, completion_tokens: 570 } }
  const base = {
    requestId: options.requestId,
    occurredAt,
    provider: "openai",
    api: "chat.completions",
    model: options.model ?? "gpt-4o-2024-08-06",
    definitionId: "openai/gpt-4o",
    usage,
    labels: options.labels ?? { project: "search", environment: "prod", team: "core" },
    tags: options.tags ?? {},
    raw,
    ...(options.rawText === undefined ? {} : { rawText: options.rawText })
  }
  switch (costSource) {
    case "computed":
    case "estimated":
      return {
        ...base,
        snapshotId: breakdown.snapshotId,
        breakdown,
        total: breakdown.total,
        costSource,
        unpricedReason: null,
        reportedCost: null,
        reportedCurrency: null,
        difference: null
      }
    case "provider": {
      const reported = options.reportedCost === undefined
        ? breakdown.total.times("1.01")
        : new Money.Decimal(options.reportedCost)
      return {
        ...base,
        snapshotId: breakdown.snapshotId,
        breakdown,
        total: reported,
        costSource,
        unpricedReason: null,
        reportedCost: reported,
        reportedCurrency: "USD",
        difference: reported.minus(breakdown.total)
      }
    }
    case "partial": {
      // The fixture snapshot has no per-second video price: ten seconds are left unpriced.
      const partial = CostEngine.pricePartial({ ...usage, videoSeconds: new Money.Decimal(10) }, snapshot).breakdown
      return {
        ...base,
        usage: { ...usage, videoSeconds: new Money.Decimal(10) },
        snapshotId: partial.snapshotId,
        breakdown: partial,
        total: partial.total,
        costSource,
        unpricedReason: "missing-rate: no price for videoSeconds (10 seconds)",
        reportedCost: null,
        reportedCurrency: null,
        difference: null
      }
    }
    case "unpriced":
      return {
        ...base,
        definitionId: null,
        snapshotId: null,
        breakdown: null,
        total: null,
        costSource,
        unpricedReason: `no model definition matches "${base.model}"`,
        reportedCost: null,
        reportedCurrency: null,
        difference: null
      }
  }
}

const HOUR = 3_600_000
/** 2025-01-01T00:00:00Z */
export const epoch = Date.UTC(2025, 0, 1)

const count = (max: number) => fc.integer({ min: 0, max })

export const usageArbitrary: fc.Arbitrary<Usage.Usage> = fc.record({
  tokens: fc.record({
    inputText: count(200_000),
    cacheRead: count(50_000),
    cacheWrite5m: count(10_000),
    outputText: count(20_000),
    reasoning: count(5_000),
    inputAudio: count(3_000)
  }, { requiredKeys: [] }),
  requests: count(2),
  webSearches: count(4),
  toolCalls: fc.dictionary(fc.constantFrom("code_interpreter", "file_search"), count(3)),
  imagesGenerated: fc.dictionary(fc.constantFrom("1024x1024/high", "*"), count(2))
}, { requiredKeys: ["tokens"] })

export const labelsArbitrary: fc.Arbitrary<UsageRecord.Labels> = fc.record({
  project: fc.constantFrom("search", "chat", ""),
  environment: fc.constantFrom("prod", "staging"),
  team: fc.constantFrom("core", "growth"),
  customer: fc.constantFrom("acme", "globex"),
  costCenter: fc.constantFrom("cc-1", "cc-2"),
  apiKeyId: fc.constantFrom("key_a", "key_b"),
  workflow: fc.integer({ min: 0, max: 0xffff }).map((n) => `trace-${n.toString(16)}`)
}, { requiredKeys: [] }).map((labels): UsageRecord.Labels => labels)

/**
 * A call drawn from a small pool of request ids (so batches contain duplicates and conflicts),
 * within the first `months` months of 2025, across every cost source.
 */
export const callArbitrary = (options: { readonly ids: number; readonly months: number }): fc.Arbitrary<UsageRecord.UsageRecord> =>
  fc.record({
    id: fc.integer({ min: 0, max: options.ids - 1 }),
    at: fc.integer({ min: 0, max: options.months * 30 * 24 * HOUR - 1 }),
    usage: usageArbitrary,
    labels: labelsArbitrary,
    costSource: fc.constantFrom<UsageRecord.CostSource>("computed", "computed", "estimated", "provider", "unpriced"),
    model: fc.constantFrom("gpt-4o", "gpt-4o-2024-08-06")
  }).map(({ at, costSource, id, labels, model, usage }) =>
    pricedCall({ requestId: `req-${id}`, occurredAt: epoch + at, usage, labels, costSource, model })
  )
