import { assert, describe, layer } from "@effect/vitest"
import { Money, PricingSnapshot } from "@tally/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { PriceBooks } from "../src/PriceBooks.ts"
import { PricingSnapshots } from "../src/PricingSnapshots.ts"
import { snapshot } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const definition = (id: string, modelKey: string) => ({
  id,
  provider: "openai",
  modelKey,
  displayName: `Model ${modelKey}`,
  match: { exact: modelKey },
  definition: { id, modelKey, history: [] }
})

const priced = (modelKey: string) => PricingSnapshot.decodeSnapshot({ ...PricingSnapshot.encodeSnapshot(snapshot), modelKey })

describe.each(targets)("price books on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("every change moves the version, and the book loads what was written", () =>
      Effect.gen(function*() {
        const books = yield* PriceBooks
        const tenantId = yield* newTenant()
        assert.strictEqual(yield* books.version(tenantId), 0)
        assert.deepStrictEqual(yield* books.load(tenantId), { version: 0, definitions: [], overrides: [], multipliers: [] })
        const created = yield* books.createDefinition(tenantId, definition("acme/a", "a"), [{ snapshot: priced("a"), definitionId: "acme/a" }])
        assert.include(created, { id: "acme/a", provider: "openai", modelKey: "a", displayName: "Model a" })
        assert.strictEqual(yield* books.version(tenantId), 1)
        const override = yield* books.setOverride(tenantId, { team: "core" }, "acme/a", (current) =>
          Effect.succeed({ value: { definitionId: "acme/a", history: [{ seen: current === undefined }], reason: "negotiated" }, snapshots: [] }))
        assert.deepStrictEqual(override.scope, { team: "core" })
        assert.deepStrictEqual(override.history, [{ seen: true }])
        const multiplier = yield* books.addMultiplier(tenantId, { factor: new Money.Decimal("0.9"), reason: "discount", providers: ["openai"] })
        assert.strictEqual(Money.format(multiplier.factor), "0.9")
        const book = yield* books.load(tenantId)
        assert.strictEqual(book.version, 3)
        assert.deepStrictEqual(book.definitions.map((d) => d.id), ["acme/a"])
        assert.deepStrictEqual(book.overrides.map((o) => [o.definitionId, o.reason]), [["acme/a", "negotiated"]])
        assert.deepStrictEqual(book.multipliers.map((m) => m.id), [multiplier.id])
        // The snapshots a change introduces are stored with it.
        const snapshots = yield* PricingSnapshots
        assert.isTrue(Option.isSome(yield* snapshots.get(tenantId, PricingSnapshot.snapshotId(priced("a")))))
      }))

    it.effect("a definition is changed against its locked current row, and its snapshots saved", () =>
      Effect.gen(function*() {
        const books = yield* PriceBooks
        const snapshots = yield* PricingSnapshots
        const tenantId = yield* newTenant()
        yield* books.createDefinition(tenantId, definition("acme/b", "b"), [])
        const updated = yield* books.updateDefinition(tenantId, "acme/b", (current) =>
          Effect.succeed({
            value: { ...definition("acme/b", "b2"), displayName: `${current.displayName} v2` },
            snapshots: [{ snapshot: priced("b2"), definitionId: "acme/b" }]
          }))
        assert.include(updated, { modelKey: "b2", displayName: "Model b v2" })
        assert.include(yield* books.getDefinition(tenantId, "acme/b"), { modelKey: "b2" })
        assert.isTrue(Option.isSome(yield* snapshots.get(tenantId, PricingSnapshot.snapshotId(priced("b2")))))
        const refused = yield* books.updateDefinition(tenantId, "acme/b", () => Effect.fail("no" as const)).pipe(Effect.flip)
        assert.strictEqual(refused, "no")
        assert.include(yield* books.getDefinition(tenantId, "acme/b"), { modelKey: "b2" }, "a failed change writes nothing")
        assert.strictEqual(yield* books.version(tenantId), 2)
      }))

    it.effect("missing, duplicate and invalid entries are typed errors", () =>
      Effect.gen(function*() {
        const books = yield* PriceBooks
        const tenantId = yield* newTenant()
        yield* books.createDefinition(tenantId, definition("acme/c", "c"), [])
        const tag = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.map(Effect.flip(effect), (e) => e._tag)
        assert.strictEqual(yield* tag(books.createDefinition(tenantId, definition("acme/c", "c"), [])), "DefinitionExists")
        assert.strictEqual(yield* tag(books.getDefinition(tenantId, "acme/none")), "CustomDefinitionNotFound")
        assert.strictEqual(yield* tag(books.createDefinition("nobody", definition("x/y", "y"), [])), "TenantNotFound")
        assert.strictEqual(yield* tag(books.removeMultiplier(tenantId, "not-a-uuid")), "MultiplierNotFound")
        assert.strictEqual(yield* tag(books.removeMultiplier(tenantId, "00000000-0000-0000-0000-000000000000")), "MultiplierNotFound")
        const invalid = yield* Effect.flip(books.addMultiplier(tenantId, { factor: new Money.Decimal("-1"), reason: "x" }))
        assert.strictEqual(invalid._tag === "InvalidPriceBookEntry" ? invalid.field : invalid._tag, "factor")
        assert.isFalse(yield* books.removeOverride(tenantId, undefined, "acme/c"))
        assert.strictEqual(yield* books.version(tenantId), 1, "nothing that failed moved the version")
      }))

    it.effect("removing an override or a multiplier moves the version; another tenant sees none of it", () =>
      Effect.gen(function*() {
        const books = yield* PriceBooks
        const tenantId = yield* newTenant()
        const other = yield* newTenant("Other")
        yield* books.createDefinition(tenantId, definition("acme/d", "d"), [])
        yield* books.setOverride(tenantId, undefined, "acme/d", () =>
          Effect.succeed({ value: { definitionId: "acme/d", history: [{ rates: "any" }] }, snapshots: [] }))
        const multiplier = yield* books.addMultiplier(tenantId, { factor: new Money.Decimal("2"), reason: "markup" })
        assert.deepStrictEqual(yield* books.load(other), { version: 0, definitions: [], overrides: [], multipliers: [] })
        assert.isTrue(yield* books.removeOverride(tenantId, {}, "acme/d"))
        assert.strictEqual((yield* books.removeMultiplier(tenantId, multiplier.id)).id, multiplier.id)
        const book = yield* books.load(tenantId)
        assert.deepStrictEqual([book.version, book.overrides.length, book.multipliers.length], [5, 0, 0])
      }))
  })
})
