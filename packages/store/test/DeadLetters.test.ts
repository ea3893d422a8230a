import { assert, describe, it, layer } from "@effect/vitest"
import { Money } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { Database } from "../src/Database.ts"
import { DeadLetters, toJsonSafe } from "../src/DeadLetters.ts"
import { newTenant, totals } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

describe("toJsonSafe", () => {
  it("keeps decimals, instants and bigints as text and drops what JSON cannot hold", () => {
    const cycle: Record<string, unknown> = { name: "loop" }
    cycle.self = cycle
    assert.deepStrictEqual(
      toJsonSafe({
        cost: new Money.Decimal("0.000125"),
        at: DateTime.makeUnsafe("2025-03-14T15:09:26.535Z"),
        big: 12345678901234567890n,
        fn: () => 1,
        cycle
      }),
      { cost: "0.000125", at: "2025-03-14T15:09:26.535Z", big: "12345678901234567890", cycle: { name: "loop", self: "[Circular]" } }
    )
    assert.isNull(toJsonSafe(undefined))
  })
})

describe.each(targets)("dead letters on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("recorded letters read back newest first, by request id, and only in their tenant", () =>
      Effect.gen(function*() {
        const letters = yield* DeadLetters
        const a = yield* newTenant()
        const b = yield* newTenant("Other")
        const first = yield* letters.record(a, [
          { source: "ingest", kind: "malformed", requestId: "r-1", field: "usage", reason: "usage: expected an object", item: { requestId: "r-1" } }
        ])
        const second = yield* letters.record(a, [
          { source: "ingest", kind: "rejected", requestId: null, reason: "provider: unknown provider", raw: { x: 1 }, rawText: "{\"x\":1}" },
          { source: "nats", kind: "failed", reason: "the database failed" }
        ])
        assert.strictEqual(second.length, 2, "one id per letter, in input order")
        const ids = [first[0]!, second[0]!]
        assert.deepStrictEqual(yield* letters.record(a, []), [])
        const listed = yield* letters.list(a)
        assert.sameMembers(listed.map((l) => l.id), [...second, ...first])
        assert.strictEqual(listed[2]!.id, ids[0], "newest first")
        const malformed = listed.find((l) => l.id === ids[0])!
        assert.include(malformed, { tenantId: a, source: "ingest", kind: "malformed", requestId: "r-1", field: "usage", raw: null, rawText: null })
        assert.deepStrictEqual(malformed.item, { requestId: "r-1" })
        const rejected = listed.find((l) => l.id === ids[1])!
        assert.include(rejected, { requestId: null, field: null, item: null, rawText: "{\"x\":1}" })
        assert.deepStrictEqual(rejected.raw, { x: 1 })
        assert.deepStrictEqual((yield* letters.list(a, { requestId: "r-1" })).map((l) => l.id), [ids[0]])
        assert.strictEqual((yield* letters.list(a, { limit: 1 })).length, 1)
        assert.strictEqual(listed.find((l) => l.id === second[1])!.source, "nats")
        assert.deepStrictEqual(yield* letters.list(b), [])
      }))

    it.effect("a letter recorded inside a tenant's transaction commits and rolls back with it", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const letters = yield* DeadLetters
        const tenantId = yield* newTenant()
        const letter = { source: "usage-batch", kind: "rejected", reason: "total: does not add up" }
        const failed = yield* db.withTenant(
          tenantId,
          Effect.andThen(letters.record(tenantId, [letter]), Effect.fail("the batch failed after its letters" as const))
        ).pipe(Effect.flip)
        assert.strictEqual(failed, "the batch failed after its letters")
        assert.strictEqual((yield* totals(tenantId)).deadLetters, 0)
        yield* db.withTenant(tenantId, Effect.andThen(letters.record(tenantId, [letter]), letters.record(tenantId, [letter])))
        assert.strictEqual((yield* totals(tenantId)).deadLetters, 2)
      }))

    it.effect("a letter for a tenant that does not exist is refused", () =>
      Effect.gen(function*() {
        const letters = yield* DeadLetters
        const error = yield* Effect.flip(letters.record("nobody", [{ source: "nats", kind: "malformed", reason: "body: not JSON" }]))
        assert.strictEqual(error._tag, "SqlError")
      }))
  })
})
