import { assert, describe, layer } from "@effect/vitest"
import { Money } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { Tenants } from "../src/Tenants.ts"
import { UnitCosts } from "../src/UnitCosts.ts"
import { epoch, pricedCall } from "./Fixtures.ts"
import { insertAll } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const DAY = 24 * 3_600_000

describe.each(targets)("unit costs on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("unit costs split attributed from unattributed spend and count distinct units", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const units = yield* UnitCosts
        const tenant = (yield* tenants.create({ name: "Units" })).id
        const calls = [
          pricedCall({ requestId: "u-1", occurredAt: epoch, labels: { customer: "acme", workflow: "w1" } }),
          pricedCall({ requestId: "u-2", occurredAt: epoch + 1, labels: { customer: "acme", workflow: "w1" } }),
          pricedCall({ requestId: "u-3", occurredAt: epoch + 2, labels: { customer: "globex", workflow: "w2" } }),
          pricedCall({ requestId: "u-4", occurredAt: epoch + 3, labels: {} }),
          pricedCall({ requestId: "u-5", occurredAt: epoch + 4, labels: { customer: "acme" }, costSource: "unpriced" })
        ]
        yield* insertAll(tenant, calls)
        const one = calls[0]!.total!
        const costs = yield* units.costs(tenant, { from: DateTime.makeUnsafe(epoch), to: DateTime.makeUnsafe(epoch + DAY) })
        const byKind = Object.fromEntries(costs.map((c) => [c.kind, c]))
        assert.strictEqual(byKind.request!.units, 5)
        assert.strictEqual(Money.format(byKind.request!.spend[0]!.amount), Money.format(one.times(4)))
        assert.strictEqual(byKind.customer!.units, 2)
        assert.strictEqual(byKind.customer!.requests, 4)
        assert.strictEqual(Money.format(byKind.customer!.spend[0]!.amount), Money.format(one.times(3)))
        assert.strictEqual(byKind.customer!.unattributedRequests, 1)
        assert.strictEqual(byKind.workflow!.units, 2)
        assert.strictEqual(byKind.workflow!.unattributedRequests, 2)
        const top = yield* units.topUnits(tenant, {
          kind: "customer",
          from: DateTime.makeUnsafe(epoch),
          to: DateTime.makeUnsafe(epoch + DAY),
          currency: "USD",
          limit: 10
        })
        assert.deepStrictEqual(top.map((t) => [t.unit, t.requests]), [["acme", 3], ["globex", 1]])
      }), 60_000)
  })
})
