import { assert, describe, layer } from "@effect/vitest"
import { PricingSnapshot } from "@tally/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { PricingSnapshots } from "../src/PricingSnapshots.ts"
import { snapshot } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const custom = (modelKey: string) => PricingSnapshot.decodeSnapshot({ ...PricingSnapshot.encodeSnapshot(snapshot), modelKey })

describe.each(targets)("pricing snapshots on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("a snapshot is stored under the hash of its prices and reads back decoded", () =>
      Effect.gen(function*() {
        const snapshots = yield* PricingSnapshots
        const tenantId = yield* newTenant()
        const [id] = yield* snapshots.saveCustom(tenantId, [{ snapshot: custom("mine"), definitionId: "acme/mine" }])
        assert.strictEqual(id, PricingSnapshot.snapshotId(custom("mine")))
        const stored = Option.getOrThrow(yield* snapshots.get(tenantId, id!))
        assert.include(stored, { id: id!, tenantId, definitionId: "acme/mine" })
        assert.deepStrictEqual(PricingSnapshot.encodeSnapshot(stored.snapshot), PricingSnapshot.encodeSnapshot(custom("mine")))
        assert.deepStrictEqual(yield* snapshots.saveCustom(tenantId, [{ snapshot: custom("mine") }]), [id!], "saving again is a no-op")
        assert.isTrue(Option.isNone(yield* snapshots.get(tenantId, "ps_nothing")))
      }))

    it.effect("getMany finds the tenant's own and built-in snapshots by id, and no one else's", () =>
      Effect.gen(function*() {
        const snapshots = yield* PricingSnapshots
        const a = yield* newTenant("A")
        const b = yield* newTenant("B")
        const [builtin] = yield* snapshots.saveBuiltin([{ snapshot, definitionId: "openai/gpt-4o" }])
        const [own] = yield* snapshots.saveCustom(a, [{ snapshot: custom("a-only") }])
        const [theirs] = yield* snapshots.saveCustom(b, [{ snapshot: custom("b-only") }])
        const found = yield* snapshots.getMany(a, [builtin!, own!, theirs!, "ps_missing"])
        assert.sameMembers([...found.keys()], [builtin!, own!])
        assert.isNull(found.get(builtin!)!.tenantId)
        assert.strictEqual(found.get(own!)!.tenantId, a)
        assert.strictEqual(found.get(own!)!.snapshot.modelKey, "a-only")
        assert.strictEqual((yield* snapshots.getMany(a, [])).size, 0)
      }))

    it.effect("the tenant's own copy of a built-in snapshot wins", () =>
      Effect.gen(function*() {
        const snapshots = yield* PricingSnapshots
        const tenantId = yield* newTenant()
        const [id] = yield* snapshots.saveBuiltin([{ snapshot: custom("shared"), definitionId: "built/in" }])
        yield* snapshots.saveCustom(tenantId, [{ snapshot: custom("shared"), definitionId: "tenant/own" }])
        assert.strictEqual((yield* snapshots.getMany(tenantId, [id!])).get(id!)!.definitionId, "tenant/own")
        assert.strictEqual(Option.getOrThrow(yield* snapshots.get(tenantId, id!)).definitionId, "tenant/own")
      }))
  })
})
