/**
 * Everything the engine can price, set through GraphQL and through the custom catalog file, end
 * to end over real HTTP: `createModel` with long-context tiers, fine-tuned rates, service-tier,
 * region and batch multipliers, per-image, per-second and tool prices stores them (the stored
 * snapshot is the custom file's snapshot, content hash for content hash), and calls ingested by
 * the worker are priced with them, as the custom file prices the same calls.
 *
 * The prices (per 1M tokens unless stated) are house prices for a self-hosted model; every
 * expected amount is worked in the comment beside it.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { Match, PriceBook } from "../packages/catalog/src/index.ts"
import { CostEngine, Money, PricingSnapshot, Usage } from "../packages/core/src/index.ts"
import { client, ingest, newTenant } from "./support/Graphql.ts"
import { inProcessWorker, targets } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const catalogFile = JSON.parse(readFileSync(new URL("./fixtures/house-model.catalog.json", import.meta.url), "utf8"))
const fileBook = (() => {
  const layers = PriceBook.decodeCustomCatalog(catalogFile)
  if (layers._tag === "Failure") throw new Error(layers.failure.message)
  const book = PriceBook.make({ layers: layers.success })
  if (book._tag === "Failure") throw new Error(book.failure.message)
  return book.success
})()

const AT = "2025-06-02T12:00:00Z"
const K = 100_000

/** Each call, the usage the worker ingests, and its cost at the house prices. */
const calls: ReadonlyArray<{ readonly id: string; readonly usage: Usage.UsageEncoded; readonly cost: string; readonly condition?: string }> = [
  // Prompts of 100k tokens stay below the 200k cliff. 100k input x $2 / 1M + 100k output x $8 / 1M = 0.2 + 0.8 = $1
  { id: "plain", usage: { tokens: { inputText: K, outputText: K } }, cost: "1" },
  // 50k cache reads x $0.50 / 1M + 50k audio input x $40 / 1M = 0.025 + 2 = $2.025
  { id: "cache-and-audio", usage: { tokens: { cacheRead: K / 2, inputAudio: K / 2 } }, cost: "2.025" },
  // ($0.2 + $0.8) x (1 - 50%) = $0.50
  { id: "batch", usage: { tokens: { inputText: K, outputText: K }, batch: true }, cost: "0.5", condition: "batch:-50%" },
  // ($0.2 + $0.8) x 2 = $2
  { id: "priority", usage: { tokens: { inputText: K, outputText: K }, serviceTier: "priority" }, cost: "2", condition: "service-tier:priority(x2)" },
  // ($0.2 + $0.8) x 0.5 = $0.50
  { id: "flex", usage: { tokens: { inputText: K, outputText: K }, serviceTier: "flex" }, cost: "0.5", condition: "service-tier:flex(x0.5)" },
  // 100k input x $2 / 1M x 1.1 = $0.22
  { id: "eu", usage: { tokens: { inputText: K }, region: "eu" }, cost: "0.22", condition: "region:eu(x1.1)" },
  // fine-tuned: 100k input x $3 / 1M + 100k output x $12 / 1M = 0.3 + 1.2 = $1.50
  { id: "fine-tuned", usage: { tokens: { inputText: K, outputText: K }, fineTuned: true }, cost: "1.5", condition: "fine-tuned" },
  // a 300k-token prompt is above the 200k cliff: 300,000 x $4 / 1M + 100,000 x $16 / 1M = 1.2 + 1.6 = $2.80
  { id: "long-context", usage: { tokens: { inputText: 300_000, outputText: 100_000 } }, cost: "2.8", condition: "tier:long(>200000 prompt tokens, cliff)" },
  // 2 images 1024x1024/hd x $0.08 + 1 other image at the "*" price $0.04 = $0.20
  { id: "images", usage: { tokens: {}, imagesGenerated: { "1024x1024/hd": 2, "1024x1792/standard": 1 } }, cost: "0.2" },
  // 12 s of video x $0.10 = $1.20
  { id: "video", usage: { tokens: {}, videoSeconds: "12" }, cost: "1.2" },
  // 60 s of audio x $0.006 = $0.36
  { id: "audio-seconds", usage: { tokens: {}, audioSeconds: "60" }, cost: "0.36" },
  // 2 code interpreter sessions x $0.03 + 4 file searches x $0.0025 + 3 web searches x $10 / 1000 = 0.06 + 0.01 + 0.03 = $0.10
  { id: "tools", usage: { tokens: {}, toolCalls: { code_interpreter_session: 2, file_search: 4 }, webSearches: 3 }, cost: "0.1" }
]

describe("the custom catalog file expresses every kind of price", () => {
  it("prices each call of the set as worked", () => {
    for (const call of calls) {
      const match = Match.match(fileBook, { provider: "openai", model: "house-model", at: AT })
      if (match._tag === "Failure") throw new Error(match.failure.message)
      const priced = CostEngine.price(Usage.decodeUsage(call.usage), match.success.snapshot)
      if (priced._tag === "Failure") throw new Error(priced.failure.message)
      expect(Money.format(priced.success.total), call.id).toBe(call.cost)
      if (call.condition !== undefined) expect(priced.success.lines.every((l) => l.conditions.includes(call.condition!)), call.id).toBe(true)
    }
  })
})

describe.each(targets)("GraphQL createModel with every kind of price on %s", (target) => {
  const worker = inProcessWorker(target)

  it("stores tiers, fine-tuned rates, multipliers, image, second and tool prices, and a priced call uses them", async () => {
    const tenant = await newTenant(worker.server, { name: "House Models" })
    const admin = client(worker.server, tenant.admin)
    // JSON-typed fields (tiers, multipliers, units) go as variables: their keys ("1024x1024/hd", "*") are not GraphQL names.
    const created: Json = await admin.request(`mutation($price: PriceInput!) {
      createModel(input: { id: "acme/house-model", provider: "openai", modelKey: "house-model", price: $price }) {
        __typename ... on ModelDefinition { id history { version snapshotId snapshot { snapshot } } }
      }
    }`, {
      price: {
        currency: "USD", effectiveFrom: "2025-01-01", note: "every kind of price the engine knows",
        rates: { inputText: "2", cacheRead: "0.5", inputAudio: "40", outputText: "8" },
        fineTunedRates: { inputText: "3", outputText: "12" },
        tierMode: "cliff",
        tiers: [{ name: "long", aboveTokens: 200000, rates: { inputText: "4", outputText: "16" } }],
        batchDiscountPercent: "50",
        serviceTierMultipliers: { priority: "2", flex: "0.5" },
        regionMultipliers: { eu: "1.1" },
        units: {
          perImage: { "1024x1024/hd": "0.08", "*": "0.04" },
          perAudioSecond: "0.006",
          perVideoSecond: "0.1",
          perThousandWebSearches: "10",
          perToolCall: { code_interpreter_session: "0.03", file_search: "0.0025" }
        }
      }
    })
    expect(created.createModel.__typename).toBe("ModelDefinition")
    const [stored] = created.createModel.history
    // The stored snapshot is the custom file's, price for price: the same content hash.
    const fileSnapshot = PricingSnapshot.decodeSnapshot(catalogFile.definitions[0].history[0].snapshot)
    expect(stored.snapshotId).toBe(PricingSnapshot.snapshotId(fileSnapshot))
    expect(stored.snapshot.snapshot).toMatchObject({
      fineTunedRates: { inputText: "3", outputText: "12" },
      tiers: [{ name: "long", aboveTokens: 200000, rates: { inputText: "4", outputText: "16" } }],
      batchDiscountPercent: "50",
      serviceTierMultipliers: { priority: "2", flex: "0.5" },
      units: { perVideoSecond: "0.1", perToolCall: { code_interpreter_session: "0.03", file_search: "0.0025" } }
    })

    await ingest(worker.server, tenant, calls.map((c) => ({ requestId: c.id, occurredAt: AT, provider: "openai", model: "house-model", usage: c.usage })))
    const read: Json = await client(worker.server, tenant.read).request(`{ usageRecords(first: 50) {
      ... on UsageRecordConnection { edges { node { requestId costSource definitionId snapshotId cost { amount currency } lines { component amount conditions } } } }
    } }`)
    const byId = new Map<string, Json>(read.usageRecords.edges.map((e: Json) => [e.node.requestId, e.node]))
    expect(byId.size).toBe(calls.length)
    for (const call of calls) {
      const node = byId.get(call.id)
      expect(node, call.id).toMatchObject({ costSource: "COMPUTED", definitionId: "acme/house-model", snapshotId: stored.snapshotId, cost: { amount: call.cost, currency: "USD" } })
      if (call.condition !== undefined) for (const line of node.lines) expect(line.conditions, `${call.id} ${line.component}`).toContain(call.condition)
    }
    expect(byId.get("images").lines.map((l: Json) => [l.component, l.amount])).toEqual([["image:1024x1024/hd", "0.16"], ["image:1024x1792/standard", "0.04"]])
    expect(byId.get("tools").lines.map((l: Json) => [l.component, l.amount]).sort()).toEqual([
      ["toolCall:code_interpreter_session", "0.06"],
      ["toolCall:file_search", "0.01"],
      ["webSearches", "0.03"]
    ])
  })
})
