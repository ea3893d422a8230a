import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as AnswerCache from "../src/graphql/AnswerCache.ts"

const size = (key: string, body: string) => Buffer.byteLength(key) + Buffer.byteLength(body)

describe("AnswerCache", () => {
  it("never holds more bytes than its budget, whatever is kept and read", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 400 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9 }), fc.string({ maxLength: 120 })), { maxLength: 60 }),
        (budget, steps) => {
          const cache = AnswerCache.make(budget)
          for (const [read, n, body] of steps) {
            if (read) cache.get(`k${n}`)
            else cache.set(`k${n}`, body)
            assert.isAtMost(cache.stats().bytes, budget)
          }
        }
      )
    )
  })

  it("evicts the least recently used answer first, and counts bodies in UTF-8 bytes", () => {
    const body = "é".repeat(40) // 80 bytes
    const cache = AnswerCache.make(3 * size("a", body) - 1)
    cache.set("a", body)
    cache.set("b", body)
    assert.strictEqual(cache.get("a"), body)
    cache.set("c", body)
    assert.isUndefined(cache.get("b"))
    assert.strictEqual(cache.get("a"), body)
    assert.strictEqual(cache.get("c"), body)
    assert.deepStrictEqual(cache.stats(), { entries: 2, bytes: 2 * size("a", body), hits: 3, misses: 1 })
  })

  it("does not keep an answer larger than the whole budget, and replaces a key's answer", () => {
    const cache = AnswerCache.make(100)
    cache.set("big", "x".repeat(100))
    assert.isUndefined(cache.get("big"))
    cache.set("k", "one")
    cache.set("k", "three")
    assert.strictEqual(cache.get("k"), "three")
    assert.strictEqual(cache.stats().bytes, size("k", "three"))
  })
})
