import { assert, describe, it as plainIt, layer } from "@effect/vitest"
import { Catalog, PriceBook } from "@tally/catalog"
import { CostEngine, Money, PricingSnapshot, type TenantPriceBook } from "@tally/core"
import { Database, UsageLedger } from "@tally/store"
import { DateTime, Effect, Layer, Option, Result } from "effect"
import * as TenantPricing from "../src/TenantPricing.ts"
import { backend, ingestNow, layerOptions, newTenant, storeLayer } from "./TestStore.ts"

const services = Layer.provideMerge(TenantPricing.TenantPricing.layer, Layer.merge(storeLayer, Catalog.Catalog.layer))

const event = (requestId: string, model: string, occurredAt: string, labels: Record<string, string> = {}) => ({
  requestId,
  occurredAt,
  provider: "openai",
  model,
  labels,
  usage: { tokens: { inputText: 1_000_000, outputText: 100_000 } }
})

const recorded = (tenantId: string, requestId: string) =>
  Effect.map(UsageLedger.UsageLedger.use((ledger) => ledger.get(tenantId, requestId)), (o) => Option.getOrThrow(o).call)

const stored = (version: number, parts: Partial<TenantPriceBook.StoredPriceBook>): TenantPriceBook.StoredPriceBook => ({
  ...TenantPricing.emptyPriceBook,
  version,
  ...parts
})

describe("tenant price-book layers", () => {
  plainIt("an empty book adds no layer; a tenant without the built-in catalog gets its switch", () => {
    assert.deepStrictEqual(Result.getOrThrow(TenantPricing.layersOf("t1", TenantPricing.emptyPriceBook, { builtinCatalog: true })), [])
    assert.deepStrictEqual(Result.getOrThrow(TenantPricing.layersOf("t1", TenantPricing.emptyPriceBook, { builtinCatalog: false })), [
      { id: "tenant:t1", scope: { tenant: "t1" }, builtIn: "disabled" }
    ])
  })

  plainIt("overrides and multipliers land in the layer of their scope; broken entries are reported, not dropped", () => {
    const at = DateTime.makeUnsafe(0)
    const history = [{ version: 1, snapshot: { provider: "openai", modelKey: "gpt-4o", rates: { inputText: "1" } } }]
    const book = stored(3, {
      overrides: [
        { scope: {}, definitionId: "openai/gpt-4o", history, reason: "contract", createdAt: at, updatedAt: at },
        { scope: { team: "ml" }, definitionId: "openai/gpt-4o", history, reason: null, createdAt: at, updatedAt: at }
      ],
      multipliers: [{
        id: "00000000-0000-0000-0000-000000000001",
        scope: { project: "search" },
        factor: new Money.Decimal("0.8"),
        reason: "discount",
        providers: ["openai"],
        definitionIds: null,
        models: null,
        createdAt: at
      }]
    })
    const layers = Result.getOrThrow(TenantPricing.layersOf("t1", book, { builtinCatalog: true }))
    assert.deepStrictEqual(layers.map((l) => [l.id, l.scope, l.overrides?.length ?? 0, l.multipliers?.length ?? 0]), [
      ["tenant:t1", { tenant: "t1" }, 1, 0],
      ["tenant:t1:team=ml", { tenant: "t1", team: "ml" }, 1, 0],
      ["tenant:t1:project=search", { tenant: "t1", project: "search" }, 0, 1]
    ])
    const broken = TenantPricing.layersOf("t1", stored(4, {
      overrides: [{ scope: {}, definitionId: "x", history: [{ version: 0 }], reason: null, createdAt: at, updatedAt: at }]
    }), { builtinCatalog: true })
    assert.isTrue(Result.isFailure(broken))
  })
})

describe(`tenant pricing on ${backend}`, () => {
  layer(services, layerOptions)((it) => {
    it.effect("a custom definition prices the tenant's calls, and only that tenant's", () =>
      Effect.gen(function*() {
        const pricing = yield* TenantPricing.TenantPricing
        const tenant = yield* newTenant()
        const other = yield* newTenant({ name: "Other" })
        const created = yield* pricing.createDefinition(tenant, {
          id: "acme/llama-internal",
          provider: "openai",
          modelKey: "llama-internal",
          price: { currency: "USD", rates: { inputText: "0.20", outputText: "0.60" }, note: "self-hosted cost" }
        })
        assert.strictEqual(created.history.length, 1)
        const mine = yield* ingestNow(tenant, [event("c-1", "llama-internal", "2026-01-10T00:00:00Z")])
        assert.strictEqual(mine.items[0]!.costSource, "computed")
        assert.strictEqual(mine.items[0]!.total, "0.26")
        assert.strictEqual(mine.items[0]!.definition, "acme/llama-internal")
        const theirs = yield* ingestNow(other, [event("c-1", "llama-internal", "2026-01-10T00:00:00Z")])
        assert.strictEqual(theirs.items[0]!.costSource, "unpriced")
        // The snapshot the call cites is stored for the tenant, for audit.
        const call = yield* recorded(tenant, "c-1")
        const { sql } = yield* Database.Database
        const rows = yield* sql<{ tenant_id: string }>`SELECT tenant_id FROM tally.pricing_snapshots WHERE id = ${call.snapshotId}`
        assert.deepStrictEqual(rows.map((r) => r.tenant_id), [tenant])
      }))

    it.effect("a custom definition expresses tiers, fine-tuned rates, service-tier and batch multipliers, per-image, per-second and tool prices", () =>
      Effect.gen(function*() {
        const pricing = yield* TenantPricing.TenantPricing
        const tenant = yield* newTenant()
        const created = yield* pricing.createDefinition(tenant, {
          id: "acme/omni",
          provider: "openai",
          modelKey: "omni",
          price: {
            rates: { inputText: "1", outputText: "4" },
            tiers: [{ name: "long", aboveTokens: 200_000, rates: { inputText: "2", outputText: "6" } }],
            fineTunedRates: { inputText: "3", outputText: "12" },
            batchDiscountPercent: "50",
            serviceTierMultipliers: { priority: "2", flex: "0.5" },
            units: { perImage: { "1024x1024/hd": "0.08" }, perVideoSecond: "0.1", perToolCall: { code_interpreter_session: "0.03" } }
          }
        })
        const snapshot = created.history[0]!.snapshot
        const price = (usage: Parameters<typeof CostEngine.price>[0]) => Money.format(Result.getOrThrow(CostEngine.price(usage, snapshot)).total)
        // 100k x 1 + 10k x 4 per 1M = 0.1 + 0.04
        assert.strictEqual(price({ tokens: { inputText: 100_000, outputText: 10_000 } }), "0.14")
        // above 200k prompt tokens the whole call takes the tier: 300k x 2 + 10k x 6 = 0.6 + 0.06
        assert.strictEqual(price({ tokens: { inputText: 300_000, outputText: 10_000 } }), "0.66")
        // fine-tuned: 100k x 3 + 10k x 12 = 0.3 + 0.12
        assert.strictEqual(price({ tokens: { inputText: 100_000, outputText: 10_000 }, fineTuned: true }), "0.42")
        // batch: half of 0.14; priority: twice; flex: half
        assert.strictEqual(price({ tokens: { inputText: 100_000, outputText: 10_000 }, batch: true }), "0.07")
        assert.strictEqual(price({ tokens: { inputText: 100_000, outputText: 10_000 }, serviceTier: "priority" }), "0.28")
        assert.strictEqual(price({ tokens: { inputText: 100_000, outputText: 10_000 }, serviceTier: "flex" }), "0.07")
        // 2 HD images x 0.08 + 12 s x 0.1 + 3 sessions x 0.03 = 0.16 + 1.2 + 0.09
        assert.strictEqual(price({ tokens: {}, imagesGenerated: { "1024x1024/hd": 2 }, videoSeconds: new Money.Decimal(12), toolCalls: { code_interpreter_session: 3 } }), "1.45")
        // A later change can replace the tiers and the tier mode, and add fine-tuned rates.
        const updated = yield* pricing.updateDefinition(tenant, {
          id: "acme/omni",
          price: { effectiveFrom: "2026-03-01", tiers: [{ aboveTokens: 100_000, rates: { inputText: "0.5" } }], tierMode: "graduated", fineTunedRates: { outputText: "10" } }
        })
        const latest = updated.history.find((h) => h.version === 2)!.snapshot
        assert.strictEqual(latest.tierMode, "graduated")
        assert.deepStrictEqual(latest.tiers?.map((t) => t.aboveTokens), [100_000])
        assert.deepStrictEqual(Object.fromEntries(Object.entries(latest.fineTunedRates ?? {}).map(([k, v]) => [k, Money.format(v)])), { inputText: "3", outputText: "10" })
        const bad = yield* Effect.flip(pricing.updateDefinition(tenant, { id: "acme/omni", price: { tierMode: "stepped" } }))
        assert.include(bad.message, "tierMode")
      }))

    it.effect("a price change is a new version from its date: earlier calls keep their price", () =>
      Effect.gen(function*() {
        const pricing = yield* TenantPricing.TenantPricing
        const tenant = yield* newTenant()
        yield* pricing.createDefinition(tenant, {
          id: "acme/m1",
          provider: "openai",
          modelKey: "m1",
          price: { rates: { inputText: "1", outputText: "2" } }
        })
        const updated = yield* pricing.updateDefinition(tenant, {
          id: "acme/m1",
          displayName: "M1",
          price: { effectiveFrom: "2026-02-01", rates: { inputText: "0.5" }, note: "cheaper from February" }
        })
        assert.deepStrictEqual(updated.history.map((h) => [h.version, h.snapshot.effectiveFrom ?? null, h.snapshot.effectiveTo ?? null]), [
          [1, null, "2026-02-01"],
          [2, "2026-02-01", null]
        ])
        assert.strictEqual(updated.displayName, "M1")
        const result = yield* ingestNow(tenant, [
          event("before", "m1", "2026-01-20T00:00:00Z"),
          event("after", "m1", "2026-02-20T00:00:00Z")
        ])
        assert.deepStrictEqual(result.items.map((i) => i.total), ["1.2", "0.7"])
        const before = yield* recorded(tenant, "before")
        const after = yield* recorded(tenant, "after")
        assert.notStrictEqual(before.snapshotId, after.snapshotId)
      }))

    it.effect("a clone of a built-in model, an override for one team and a multiplier for one project", () =>
      Effect.gen(function*() {
        const pricing = yield* TenantPricing.TenantPricing
        const tenant = yield* newTenant()
        const clone = yield* pricing.cloneDefinition(tenant, {
          sourceId: "openai/gpt-4o",
          id: "acme/gpt-4o-contract",
          price: { effectiveFrom: "2026-01-01", rates: { inputText: "2", outputText: "8" } }
        })
        assert.strictEqual(clone.clonedFrom?.definitionId, "openai/gpt-4o")
        yield* pricing.setOverride(tenant, {
          definitionId: "acme/gpt-4o-contract",
          scope: { team: "ml" },
          price: { effectiveFrom: "2026-01-01", rates: { inputText: "1" } },
          reason: "research rate"
        })
        const multiplier = yield* pricing.addMultiplier(tenant, { scope: { project: "search" }, factor: "0.5", reason: "internal" })
        const result = yield* ingestNow(tenant, [
          event("plain", "gpt-4o", "2026-01-10T00:00:00Z"),
          event("ml", "gpt-4o", "2026-01-10T00:00:00Z", { team: "ml" }),
          event("search", "gpt-4o", "2026-01-10T00:00:00Z", { project: "search" })
        ])
        assert.deepStrictEqual(result.items.map((i) => [i.definition, i.total]), [
          ["acme/gpt-4o-contract", "2.8"],
          ["acme/gpt-4o-contract", "1.8"],
          ["acme/gpt-4o-contract", "1.4"]
        ])
        // Taking them back restores the clone's own prices.
        assert.isTrue(yield* pricing.removeOverride(tenant, { definitionId: "acme/gpt-4o-contract", scope: { team: "ml" } }))
        yield* pricing.removeMultiplier(tenant, multiplier.id)
        const again = yield* ingestNow(tenant, [
          event("ml-2", "gpt-4o", "2026-01-11T00:00:00Z", { team: "ml" }),
          event("search-2", "gpt-4o", "2026-01-11T00:00:00Z", { project: "search" })
        ])
        assert.deepStrictEqual(again.items.map((i) => i.total), ["2.8", "2.8"])
      }))

    it.effect("the loader rebuilds a book only when the tenant's price book changed", () =>
      Effect.gen(function*() {
        const pricing = yield* TenantPricing.TenantPricing
        const loader = yield* TenantPricing.makeBookLoader
        const tenant = yield* newTenant()
        const catalog = yield* Catalog.Catalog
        assert.strictEqual(yield* loader.get(tenant), catalog.book)
        yield* pricing.addMultiplier(tenant, { factor: "1.1", reason: "markup" })
        assert.strictEqual(yield* loader.get(tenant), catalog.book, "cached until the time to live or an invalidation")
        yield* loader.invalidate(tenant)
        const book = yield* loader.get(tenant)
        assert.notStrictEqual(book, catalog.book)
        assert.deepStrictEqual(PriceBook.applicableLayers(book, { tenant }).map((l) => l.id), [`tenant:${tenant}`])
        yield* loader.invalidate(tenant)
        assert.strictEqual(yield* loader.get(tenant), book, "same version: the same book")
      }))

    it.effect("bad input names the field; ids of built-in models and of unknown models are refused", () =>
      Effect.gen(function*() {
        const pricing = yield* TenantPricing.TenantPricing
        const tenant = yield* newTenant()
        const badRate = yield* Effect.flip(pricing.createDefinition(tenant, {
          id: "acme/x",
          provider: "openai",
          modelKey: "x",
          price: { rates: { inputText: "-1" } }
        }))
        assert.strictEqual(badRate._tag, "InvalidPricing")
        assert.match(badRate._tag === "InvalidPricing" ? badRate.field : "", /^price\.rates\.inputText/)
        const builtinId = yield* Effect.flip(pricing.createDefinition(tenant, {
          id: "openai/gpt-4o",
          provider: "openai",
          modelKey: "gpt-4o",
          price: { rates: { inputText: "1" } }
        }))
        assert.strictEqual(builtinId._tag, "InvalidPricing")
        const unknown = yield* Effect.flip(pricing.setOverride(tenant, { definitionId: "nope/nope", price: { rates: { inputText: "1" } } }))
        assert.strictEqual(unknown._tag, "DefinitionNotFound")
        yield* pricing.createDefinition(tenant, { id: "acme/y", provider: "openai", modelKey: "y", price: { rates: { inputText: "1" } } })
        const twice = yield* Effect.flip(pricing.createDefinition(tenant, { id: "acme/y", provider: "openai", modelKey: "y", price: { rates: { inputText: "1" } } }))
        assert.strictEqual(twice._tag, "DefinitionExists")
        const snapshot = PricingSnapshot.decodeSnapshot({ provider: "openai", modelKey: "y", rates: { inputText: "1" } })
        assert.match(PricingSnapshot.snapshotId(snapshot), /^ps_/)
      }))
  })
})
