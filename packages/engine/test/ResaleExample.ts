/**
 * The worked example of docs/worked-example.md (see ResaleEndToEnd.test.ts): its tenant, price
 * books, exchange rate, credit pack, provisioned throughput and 4,000 calls, shared by the engine
 * test and the worker's export tests.
 *
 * 1,000 calls of each of four raw payloads (shipped in fixtures/payloads):
 *   a1  acme    openai gpt-4.1-nano      16 input, 363 output tokens            2026-03-02 10:00
 *   a2  acme    mistral-small-latest     13 input, 434 output tokens (EUR)      2026-03-03 10:00
 *   g1  globex  openai gpt-4o Scale Tier 86 input, 1,920 cache read, 300 output 2026-03-02 12:00
 *   g2  globex  openai gpt-4.1-nano      16 input, 363 output tokens            2026-03-03 12:00
 * acme holds a 0.10 USD credit pack; the tenant bought provisioned throughput for gpt-4o
 * (1 USD per hour, 12:00-13:00 on 2 March), which serves the Scale Tier calls g1.
 */
import { Money } from "@tally/core"
import { Tenants } from "@tally/store"
import { DateTime, Effect } from "effect"
import * as Commitments from "../src/Commitments.ts"
import * as Credits from "../src/Credits.ts"
import * as Currencies from "../src/Currencies.ts"
import * as Ingest from "../src/Ingest.ts"
import * as SalePricing from "../src/SalePricing.ts"
import * as TenantPricing from "../src/TenantPricing.ts"
import { fixtureJson } from "./FixtureFiles.ts"

export const utc = (text: string) => DateTime.makeUnsafe(text)
export const d = (text: string) => new Money.Decimal(text)
export const march = { from: utc("2026-03-01T00:00:00Z"), to: utc("2026-04-01T00:00:00Z") }
const payload = (name: string) => fixtureJson<{ payload: unknown }>(`payloads/${name}`).payload
export const N = 1000

const kinds = [
  { id: "a1", customer: "acme", provider: "openai", file: "openai-chat-nano.json", at: "2026-03-02T10:00:00Z" },
  { id: "a2", customer: "acme", provider: "mistral", file: "mistral-chat-small.json", at: "2026-03-03T10:00:00Z" },
  { id: "g1", customer: "globex", provider: "openai", file: "openai-chat-gpt-4o-scale-tier.json", at: "2026-03-02T12:00:00Z" },
  { id: "g2", customer: "globex", provider: "openai", file: "openai-chat-nano.json", at: "2026-03-03T12:00:00Z" }
] as const

export const events = kinds.flatMap((k) =>
  Array.from({ length: N }, (_, i) => ({
    requestId: `${k.id}-${String(i).padStart(4, "0")}`,
    occurredAt: k.at,
    provider: k.provider,
    labels: { customer: k.customer },
    payload: payload(k.file)
  }))
)

/** The tenant, its cost price book, its sale price book and its exchange rate, then the calls. */
export const setup = Effect.gen(function*() {
  const tenant = yield* Tenants.Tenants.use((t) => t.create({ name: "Reseller Inc", currency: "USD" }))
  const pricing = yield* TenantPricing.TenantPricing
  // What the providers charge the tenant, per 1M tokens.
  yield* pricing.createDefinition(tenant.id, { id: "reseller/nano", provider: "openai", modelKey: "gpt-4.1-nano-2025-04-14", price: { rates: { inputText: "0.10", outputText: "0.40" } } })
  yield* pricing.createDefinition(tenant.id, { id: "reseller/4o", provider: "openai", modelKey: "gpt-4o-2024-08-06", price: { rates: { inputText: "2.50", cacheRead: "1.25", outputText: "10" } } })
  yield* pricing.createDefinition(tenant.id, { id: "reseller/mistral-small", provider: "mistral", modelKey: "mistral-small-latest", price: { currency: "EUR", rates: { inputText: "0.10", outputText: "0.30" } } })
  const sale = yield* SalePricing.SalePricing
  const common = { plan: null, provider: null, model: null, effectiveTo: null, effectiveFrom: utc("2026-01-01T00:00:00Z") }
  // acme pays cost + 25%; globex a list price per 1M tokens.
  yield* sale.addRule(tenant.id, { ...common, name: "acme cost plus 25%", customer: "acme", kind: "markup-percent", percent: d("25"), perUnit: null, rates: null, currency: null })
  yield* sale.addRule(tenant.id, { ...common, name: "globex list", customer: "globex", kind: "list-price", percent: null, perUnit: null, rates: { inputText: d("4"), cacheRead: d("2"), outputText: d("16") }, currency: "USD" })
  yield* Currencies.Currencies.use((fx) =>
    fx.import(tenant.id, "base,quote,date,rate,source\nEUR,USD,2026-03-03,1.08,ECB reference rate\n", "csv")
  )
  // acme's credit pack, drawn by sale price; the tenant's provisioned throughput for gpt-4o.
  const pack = yield* Credits.grant(tenant.id, { customer: "acme", unit: "USD", amount: "0.10", effectiveAt: "2026-03-01T00:00:00Z", note: "starter pack" })
  const pt = yield* Commitments.create(tenant.id, {
    name: "pt-4o",
    kind: "provisioned",
    provider: "openai",
    model: "gpt-4o-2024-08-06",
    currency: "USD",
    fee: "1",
    feePeriod: "hour",
    startsAt: "2026-03-02T12:00:00Z",
    endsAt: "2026-03-02T13:00:00Z"
  })
  const ingest = yield* Ingest.Ingest
  for (let i = 0; i < events.length; i += 1000) {
    const result = yield* ingest.ingest(tenant.id, events.slice(i, i + 1000))
    if (result.inserted !== Math.min(1000, events.length - i)) return yield* Effect.die(new Error(`expected every call of the batch inserted, got ${result.inserted}`))
  }
  return { ...tenant, pack, pt }
})

