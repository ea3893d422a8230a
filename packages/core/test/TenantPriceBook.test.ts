import { assert, describe, it } from "@effect/vitest"
import { normalizeScope, scopeKey } from "../src/TenantPriceBook.ts"

describe("price book scopes", () => {
  it("a scope is normalized and keyed the same whatever the order or blanks", () => {
    assert.deepStrictEqual(normalizeScope({ team: "core", project: "", apiKey: "key_1" }), { apiKey: "key_1", team: "core" })
    assert.strictEqual(scopeKey({ team: "core", apiKey: "key 1" }), "apiKey=key%201&team=core")
    assert.strictEqual(scopeKey(undefined), "")
  })
})
