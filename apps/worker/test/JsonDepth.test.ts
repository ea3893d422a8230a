import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as JsonDepth from "../src/server/internal/JsonDepth.ts"

/** The plain reading of the rule, one character at a time: the model `exceeds` must agree with. */
const reference = (text: string, max: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === "\\") i++
      else if (c === "\"") inString = false
    } else if (c === "\"") inString = true
    else if (c === "[" || c === "{") {
      if (++depth > max) return true
    } else if (c === "]" || c === "}") depth--
  }
  return false
}

describe("JsonDepth.exceeds", () => {
  it("agrees with a character-by-character scan on any text of brackets, quotes and backslashes", () => {
    const text = fc.array(fc.constantFrom("[", "]", "{", "}", "\"", "\\", "a", ","), { maxLength: 80 }).map((parts) => parts.join(""))
    fc.assert(
      fc.property(text, fc.integer({ min: 0, max: 6 }), (t, max) => {
        assert.strictEqual(JsonDepth.exceeds(t, max), reference(t, max), JSON.stringify(t))
      }),
      { numRuns: 20_000 }
    )
  })

  it("refuses real JSON nested deeper than the limit, brackets inside strings not counted", () => {
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n)
    assert.isFalse(JsonDepth.exceeds(deep(JsonDepth.maxDepth)))
    assert.isTrue(JsonDepth.exceeds(deep(JsonDepth.maxDepth + 1)))
    const inString = JSON.stringify({ text: `say \\"${"[".repeat(100)}`, events: [deep(10)] })
    assert.isFalse(JsonDepth.exceeds(inString))
    assert.isTrue(JsonDepth.exceeds(JSON.stringify({ a: "\\\\" }) + deep(JsonDepth.maxDepth + 1)))
  })
})
