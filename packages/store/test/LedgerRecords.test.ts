import { assert, describe, layer } from "@effect/vitest"
import type { LedgerRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { decodeCursor, encodeCursor, LedgerRecords } from "../src/LedgerRecords.ts"
import { Tenants } from "../src/Tenants.ts"
import { epoch, pricedCall } from "./Fixtures.ts"
import { insertAll } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const HOUR = 3_600_000

describe.each(targets)("ledger records on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("records page newest first without gaps or repeats, and hide other tenants", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const records = yield* LedgerRecords
        const a = (yield* tenants.create({ name: "A" })).id
        const b = (yield* tenants.create({ name: "B" })).id
        // Equal timestamps on purpose: the request id breaks the tie.
        const calls = Array.from({ length: 37 }, (_, i) => pricedCall({ requestId: `p-${i}`, occurredAt: epoch + Math.floor(i / 3) * HOUR }))
        yield* insertAll(a, calls)
        yield* insertAll(b, [pricedCall({ requestId: "p-secret" })])
        const seen: Array<string> = []
        let after: LedgerRecord.Cursor | undefined
        for (;;) {
          const page = yield* records.page(a, { first: 5, ...(after === undefined ? {} : { after }) })
          seen.push(...page.records.map((r) => r.call.requestId))
          if (!page.hasNextPage) break
          after = decodeCursor(encodeCursor(page.records[page.records.length - 1]!.cursor))
        }
        assert.strictEqual(seen.length, 37)
        assert.strictEqual(new Set(seen).size, 37)
        assert.notInclude(seen, "p-secret")
        const raw = yield* records.rawPayloads(a, [{ occurredAt: DateTime.makeUnsafe(epoch), requestId: "p-0" }, {
          occurredAt: DateTime.makeUnsafe("2025-03-14T15:09:26.535Z"),
          requestId: "p-secret"
        }])
        assert.deepStrictEqual([...raw.keys()], ["p-0"])
      }), 60_000)

    it.effect("the span is the first and last call's instants, of the tenant's calls only", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const records = yield* LedgerRecords
        const a = (yield* tenants.create({ name: "A" })).id
        const b = (yield* tenants.create({ name: "B" })).id
        assert.isUndefined(yield* records.span(a))
        // Across months (partitions), inserted out of order.
        yield* insertAll(a, [
          pricedCall({ requestId: "s-2", occurredAt: epoch + 40 * 24 * HOUR }),
          pricedCall({ requestId: "s-1", occurredAt: epoch + 5 * HOUR }),
          pricedCall({ requestId: "s-3", occurredAt: epoch + 3 * 24 * HOUR })
        ])
        yield* insertAll(b, [pricedCall({ requestId: "s-other", occurredAt: epoch + 400 * 24 * HOUR })])
        const span = yield* records.span(a)
        assert.strictEqual(DateTime.toEpochMillis(span!.first), epoch + 5 * HOUR)
        assert.strictEqual(DateTime.toEpochMillis(span!.last), epoch + 40 * 24 * HOUR)
      }), 60_000)
  })
})
