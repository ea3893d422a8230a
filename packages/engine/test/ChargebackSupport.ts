/** Priced calls for the chargeback tests, priced by the real cost engine, and ledger helpers. */
import { CostEngine, Money, PricingSnapshot, type Tenant, type Usage, type UsageRecord } from "@tally/core"
import { Database, Store, Tenants, UsageLedger } from "@tally/store"
import { Effect, Layer } from "effect"
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import { Chargeback } from "../src/chargeback/index.ts"

export const gpt = PricingSnapshot.decodeSnapshot({
  provider: "openai",
  modelKey: "gpt-4o",
  rates: { inputText: "2.50", cacheRead: "1.25", outputText: "10", reasoning: "10" },
  units: { perThousandWebSearches: "25" }
})

export const claude = PricingSnapshot.decodeSnapshot({
  provider: "anthropic",
  modelKey: "claude-sonnet-4",
  rates: { inputText: "3", cacheRead: "0.30", cacheWrite5m: "3.75", outputText: "15" }
})

export const euroModel = PricingSnapshot.decodeSnapshot({
  provider: "mistral",
  modelKey: "mistral-large",
  currency: "EUR",
  rates: { inputText: "2", outputText: "6" }
})

export interface CallOptions {
  readonly requestId: string
  readonly at: string
  readonly labels?: UsageRecord.Labels
  readonly tags?: Record<string, string>
  readonly tokens?: Usage.Usage["tokens"]
  readonly webSearches?: number
  readonly snapshot?: PricingSnapshot.PricingSnapshot
  /** `provider`: billed at `reportedCost`; `unpriced`: no price at all. */
  readonly costSource?: "computed" | "provider" | "unpriced"
  readonly reportedCost?: string
}

export const call = (o: CallOptions): UsageRecord.UsageRecord => {
  const snapshot = o.snapshot ?? gpt
  const usage: Usage.Usage = {
    tokens: o.tokens ?? { inputText: 1000, outputText: 200 },
    ...(o.webSearches === undefined ? {} : { webSearches: o.webSearches })
  }
  const breakdown = Result.getOrThrow(CostEngine.price(usage, snapshot))
  const base = {
    requestId: o.requestId,
    occurredAt: DateTime.makeUnsafe(o.at),
    provider: snapshot.provider,
    api: "chat",
    model: snapshot.modelKey,
    definitionId: `${snapshot.provider}/${snapshot.modelKey}`,
    usage,
    labels: o.labels ?? {},
    tags: o.tags ?? {},
    raw: { id: o.requestId }
  }
  switch (o.costSource ?? "computed") {
    case "computed":
      return {
        ...base,
        snapshotId: breakdown.snapshotId,
        breakdown,
        total: breakdown.total,
        costSource: "computed",
        unpricedReason: null,
        reportedCost: null,
        reportedCurrency: null,
        difference: null
      }
    case "provider": {
      const reported = new Money.Decimal(o.reportedCost ?? "0.01")
      return {
        ...base,
        snapshotId: null,
        breakdown: null,
        total: reported,
        costSource: "provider",
        unpricedReason: null,
        reportedCost: reported,
        reportedCurrency: PricingSnapshot.currencyOf(snapshot),
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
        costSource: "unpriced",
        unpricedReason: "no price",
        reportedCost: null,
        reportedCurrency: null,
        difference: null
      }
  }
}

/** The exact cost of a call as the ledger records it. */
export const costOf = (c: UsageRecord.UsageRecord): Money.Decimal => c.total ?? Money.ZERO

/** The store on PGlite (or PostgreSQL when TALLY_TEST_DATABASE_URL is set) and the chargeback service. */
export const layer = Chargeback.layer.pipe(Layer.provideMerge(Store.layerWith(Database.layerTest)))

export const layerOptions = { excludeTestServices: true, timeout: "180 seconds" } as const

export const newTenant = (input: Partial<Tenant.CreateTenant> = {}) =>
  Effect.map(Tenants.Tenants.use((tenants) => tenants.create({ name: "Acme", ...input })), (tenant) => tenant.id)

export const insert = (tenantId: string, calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
  Effect.gen(function*() {
    const ledger = yield* UsageLedger.UsageLedger
    for (let i = 0; i < calls.length; i += 500) {
      const result = yield* ledger.insertBatch(tenantId, calls.slice(i, i + 500))
      if (result.inserted !== Math.min(500, calls.length - i)) {
        return yield* Effect.die(new Error(`expected every call inserted: ${JSON.stringify(result.items.filter((x) => x.status !== "inserted"))}`))
      }
    }
  })

export const sum = (values: ReadonlyArray<Money.Decimal>): Money.Decimal => Money.sum(values)
export const dec = (text: string): Money.Decimal => new Money.Decimal(text)
export const utc = (text: string): DateTime.Utc => DateTime.makeUnsafe(text)
