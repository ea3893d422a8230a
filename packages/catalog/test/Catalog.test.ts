import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Result } from "effect"
import { TestClock } from "effect/testing"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Catalog from "../src/Catalog.ts"
import * as Listing from "../src/Listing.ts"
import * as PriceBook from "../src/PriceBook.ts"

const dir = mkdtempSync(join(tmpdir(), "tally-catalog-"))
const file = (name: string, content: unknown) => {
  const path = join(dir, name)
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content))
  return path
}

const custom = file("custom.json", {
  format: "tally.catalog/v1",
  definitions: [{
    id: "acme/internal-llm",
    provider: "vllm-internal",
    modelKey: "internal-llm",
    match: { startsWith: "internal-llm" },
    maintainer: "custom",
    history: [{ version: 1, snapshot: { provider: "vllm-internal", modelKey: "internal-llm", currency: "EUR", rates: { inputText: "0.5", outputText: "1.5" } } }]
  }],
  overrides: [{
    definitionId: "openai/gpt-4o",
    reason: "negotiated",
    history: [{ version: 2, snapshot: { provider: "openai", modelKey: "gpt-4o", rates: { inputText: "2", outputText: "8" } } }]
  }],
  multipliers: [{ factor: "1.1", reason: "platform margin", providers: ["vllm-internal"] }],
  layers: [{ id: "globex", scope: { tenant: "globex" }, builtIn: "disabled" }]
})

describe("Catalog service", () => {
  it.effect("matches with the shipped catalog, at the Clock's time when the query has none", () =>
    Effect.gen(function*() {
      const catalog = yield* Catalog.Catalog
      yield* TestClock.setTime(Date.parse("2025-06-09T12:00:00Z"))
      const before = yield* catalog.match({ provider: "openai", model: "o3" })
      yield* TestClock.setTime(Date.parse("2025-06-10T00:00:00Z"))
      const after = yield* catalog.match({ provider: "openai", model: "o3" })
      assert.strictEqual(before.snapshot.rates.inputText?.toFixed(), "10")
      assert.strictEqual(after.snapshot.rates.inputText?.toFixed(), "2")
      const explicit = yield* catalog.match({ provider: "openai", model: "o3", at: "2025-01-01" })
      assert.strictEqual(explicit.entry.version, 1)
    }).pipe(Effect.provide(Catalog.Catalog.layer)))

  it.effect("fails with a typed ModelNotMatched that names provider, model and reason", () =>
    Effect.gen(function*() {
      const catalog = yield* Catalog.Catalog
      const error = yield* Effect.flip(catalog.match({ provider: "openai", model: "gpt-99-ultra", at: "2026-01-01" }))
      assert.strictEqual(error._tag, "ModelNotMatched")
      expect(error).toMatchObject({ provider: "openai", model: "gpt-99-ultra", reason: "no-rule-matched" })
      const explanation = yield* catalog.explainMatch({ provider: "openai", model: "gpt-99-ultra", at: "2026-01-01" })
      assert.isFalse(explanation.matched)
    }).pipe(Effect.provide(Catalog.Catalog.layer)))

  it.effect("loads a custom catalog file: definitions, overrides, multipliers and scoped layers", () =>
    Effect.gen(function*() {
      const catalog = yield* Catalog.Catalog
      const internal = yield* catalog.match({ provider: "vllm-internal", model: "internal-llm-v2", at: "2026-01-01" })
      assert.strictEqual(internal.snapshot.rates.inputText?.toFixed(), "0.55")
      assert.strictEqual(internal.snapshot.currency, "EUR")
      const gpt = yield* catalog.match({ provider: "openai", model: "gpt-4o", at: "2026-01-01" })
      assert.strictEqual(gpt.snapshot.rates.outputText?.toFixed(), "8")
      assert.strictEqual(gpt.explanation.snapshot?.override?.layerId, PriceBook.FILE_LAYER_ID)
      const globex = yield* Effect.flip(catalog.match({ provider: "openai", model: "gpt-4o", at: "2026-01-01", scope: { tenant: "globex" } }))
      assert.strictEqual(globex.reason, "no-rule-matched")
      const listed = yield* catalog.list({ provider: "vllm-internal" })
      expect(listed.map((e) => [e.id, e.layer])).toEqual([["acme/internal-llm", "file"]])
      const shown = yield* catalog.show("openai/gpt-4o")
      assert.strictEqual(shown.overriddenBy, "file")
      const missing = yield* Effect.flip(catalog.show("nope"))
      assert.strictEqual(missing._tag, "DefinitionNotFound")
      const report = yield* catalog.coverage([{ provider: "vllm-internal", model: "internal-llm", count: 3 }, { provider: "openai", model: "gpt-99", count: 1 }])
      expect(report.entries.map((e) => e.status)).toEqual(["unmatched", "matched"])
    }).pipe(Effect.provide(Catalog.Catalog.layerWith({ customCatalogPath: custom }))))

  it.effect("reports unreadable, malformed and invalid custom catalogs as CatalogLoadError", () =>
    Effect.gen(function*() {
      const cases = [
        [join(dir, "missing.json"), "unreadable"],
        [file("broken.json", "{ not json"), "invalid-json"],
        [file("unknown-key.json", { format: "tally.catalog/v1", definitons: [] }), "invalid-catalog"],
        [file("bad-override.json", { format: "tally.catalog/v1", overrides: [{ definitionId: "nope/x", history: [{ version: 1, snapshot: { provider: "p", modelKey: "m", rates: {} } }] }] }), "invalid-catalog"]
      ] as const
      for (const [path, reason] of cases) {
        const error = yield* Effect.flip(Layer.build(Catalog.Catalog.layerWith({ customCatalogPath: path })).pipe(Effect.scoped))
        assert.strictEqual(error._tag, "CatalogLoadError")
        assert.strictEqual(error.reason, reason, path)
      }
    }))

  it("lists definitions by provider alias and text, with the snapshot in force at a time", () => {
    const book = Result.getOrThrow(Catalog.loadBookSync())
    const listed = Listing.list(book, { provider: "bedrock", search: "claude-sonnet-4-5", at: "2026-05-01" })
    expect(listed.length).toBeGreaterThan(0)
    for (const entry of listed) {
      expect(entry).toMatchObject({ provider: "aws", maintainer: "built-in", layer: "built-in" })
      expect(entry.id.toLowerCase()).toContain("claude-sonnet-4-5")
      expect(entry.snapshotId).toMatch(/^ps_[0-9a-f]{32}$/)
    }
    expect(Listing.list(book, { provider: "openai" }).every((e) => e.snapshotId === null)).toBe(true)
  })

  it("loads synchronously for scripts", () => {
    const book = Catalog.loadBookSync({ builtIn: "none", customCatalogPath: custom })
    // Without the built-in catalog the override has no target.
    expect(Result.isFailure(book) && book.failure.message).toContain("override targets unknown definition openai/gpt-4o")
    expect(Result.isSuccess(Catalog.loadBookSync())).toBe(true)
  })
})
