import fc from "fast-check"
import { Money, PricingSnapshot } from "@tally/core"
import { Result } from "effect"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import * as CustomModels from "../src/CustomModels.ts"
import * as Match from "../src/Match.ts"
import * as ModelDefinition from "../src/ModelDefinition.ts"
import { book } from "./support/Builders.ts"

const read = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")

describe("custom models from CSV", () => {
  const report = CustomModels.fromCsv(read("custom-models.csv"))
  const byId = new Map(report.definitions.map((d) => [d.id, d]))

  it("groups rows by id into an effective-dated history", () => {
    const llama = byId.get("acme:llama-70b")!
    expect(llama).toMatchObject({ provider: "vllm-internal", modelKey: "llama-3.3-70b", maintainer: "custom", match: { startsWith: "llama-3.3-70b" }, displayName: "Llama 3.3 70B (on-prem, GPU pool A)" })
    expect(llama.history.map((h) => [h.version, h.snapshot.effectiveFrom ?? null, h.snapshot.effectiveTo ?? null, h.snapshot.currency, h.snapshot.rates.inputText?.toFixed()])).toEqual([
      [1, null, "2026-01-01", "EUR", "0.4"],
      [2, "2026-01-01", null, "EUR", "0.35"]
    ])
    const b = book({ layers: [{ id: "csv", scope: {}, definitions: report.definitions }] })
    const at = (time: string) => Result.getOrThrow(Match.match(b, { provider: "vllm-internal", model: "llama-3.3-70b-instruct", at: time })).entry.version
    expect(at("2025-12-31T23:59:59Z")).toBe(1)
    expect(at("2026-01-01T00:00:00Z")).toBe(2)
  })

  it("reads JSON match rules, rates, units and discounts", () => {
    const contract = byId.get("acme:gpt-4o-contract")!
    expect(contract.match).toEqual({ or: [{ equals: "gpt-4o" }, { startsWith: "gpt-4o-2024-" }] })
    expect(contract.tokenizer).toBe("o200k_base")
    expect(PricingSnapshot.encodeSnapshot(contract.history[0]!.snapshot)).toMatchObject({
      rates: { inputText: "2", cacheRead: "1", outputText: "8" },
      units: { perThousandWebSearches: "10" },
      batchDiscountPercent: "50"
    })
  })

  it("reports unknown columns and bad values, and skips the rows they break", () => {
    expect(report.issues.map((i) => [i.model, i.key, i.kind])).toEqual([
      [null, "cost_center", "unknown-key"],
      ["o3-custom", "input", "invalid-value"]
    ])
    // The row still imports, without the rejected rate.
    expect(byId.get("custom:openai/o3-custom")!.history[0]!.snapshot.rates).not.toHaveProperty("inputText")
  })
})

describe("custom models from JSON", () => {
  it("accepts numbers (from their shortest decimal text) and strings, and reports non-scalar values", () => {
    const report = CustomModels.fromJson(JSON.parse(read("custom-models.json")))
    const claude = report.definitions.find((d) => d.modelKey === "claude-internal-eval")!
    expect(claude.history.map((h) => [h.version, h.snapshot.rates.inputText?.toFixed(), h.note ?? null])).toEqual([[1, "3", null], [2, "2.4", "volume discount"]])
    expect(report.issues).toEqual([
      expect.objectContaining({ model: "broken", key: "input", kind: "invalid-value" })
    ])
  })

  it("rejects a document that is not a list of models", () => {
    expect(CustomModels.fromJson({ nope: 1 }).issues[0]?.kind).toBe("invalid-value")
  })
})

describe("custom model round trips", () => {
  const decimal = fc.integer({ min: 0, max: 9_999_999 }).chain((n) => fc.integer({ min: 0, max: 6 }).map((scale) => Money.format(new Money.Decimal(n).div(10 ** scale))))
  const text = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ,"'.()/-]{0,20}[A-Za-z0-9)]$/)
  const day = fc.integer({ min: 0, max: 3000 }).map((d) => new Date(Date.UTC(2020, 0, 1) + d * 86_400_000).toISOString().slice(0, 10))
  const rates = fc.dictionary(fc.constantFrom(...CustomModels.RATE_COLUMNS.map(([, bucket]) => bucket)), decimal, { maxKeys: 5 })
  const definition = fc.record({
    id: fc.stringMatching(/^[a-z][a-z0-9:/._-]{0,15}$/),
    provider: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
    modelKey: fc.stringMatching(/^[a-z][a-z0-9.:-]{0,15}$/),
    matchKind: fc.constantFrom("equals", "startsWith", "contains", "regex", "json"),
    displayName: fc.option(text, { nil: undefined }),
    cuts: fc.uniqueArray(day, { maxLength: 3 }).map((d) => [...d].sort()),
    rates: fc.array(rates, { minLength: 4, maxLength: 4 }),
    perRequest: fc.option(decimal, { nil: undefined }),
    discount: fc.option(fc.integer({ min: 0, max: 100 }).map(String), { nil: undefined }),
    notes: fc.option(text, { nil: undefined })
  }).map((s): ModelDefinition.ModelDefinition => {
    const match = s.matchKind === "json"
      ? { or: [{ equals: s.modelKey }, { startsWith: `${s.modelKey}-` }] }
      : s.matchKind === "regex" ? { regex: `^${s.modelKey.replace(/[.]/g, "\\.")}$` } : { [s.matchKind]: s.modelKey }
    const bounds = [undefined, ...s.cuts, undefined]
    return ModelDefinition.decode({
      id: s.id,
      provider: s.provider,
      modelKey: s.modelKey,
      ...(s.displayName === undefined ? {} : { displayName: s.displayName }),
      match,
      maintainer: "custom",
      history: bounds.slice(0, -1).map((from, i) => ({
        version: i + 1,
        snapshot: {
          provider: s.provider,
          modelKey: s.modelKey,
          ...(from === undefined ? {} : { effectiveFrom: from }),
          ...(bounds[i + 1] === undefined ? {} : { effectiveTo: bounds[i + 1] }),
          ...(s.notes === undefined ? {} : { notes: s.notes }),
          rates: s.rates[i] ?? {},
          ...(s.perRequest === undefined ? {} : { units: { perRequest: s.perRequest } }),
          ...(s.discount === undefined ? {} : { batchDiscountPercent: s.discount })
        }
      }))
    })
  })

  it("toCsv then fromCsv gives back the same definitions", () => {
    fc.assert(fc.property(fc.uniqueArray(definition, { maxLength: 4, selector: (d) => d.id }), (definitions) => {
      const { csv, issues } = CustomModels.toCsv(definitions)
      expect(issues).toEqual([])
      const back = CustomModels.fromCsv(csv)
      expect(back.issues).toEqual([])
      expect(back.definitions.map((d) => ModelDefinition.encode(d))).toEqual(definitions.map((d) => ModelDefinition.encode(d)))
    }), { numRuns: 200 })
  })

  it("says what the flat format cannot carry", () => {
    const tiered = ModelDefinition.decode({
      id: "x", provider: "p", modelKey: "m", match: { equals: "m" }, maintainer: "custom",
      history: [{ version: 1, snapshot: { provider: "p", modelKey: "m", rates: { inputText: "1" }, tiers: [{ aboveTokens: 10, rates: { inputText: "2" } }] } }]
    })
    expect(CustomModels.toCsv([tiered]).issues[0]?.detail).toContain("cannot carry tiers")
  })
})
