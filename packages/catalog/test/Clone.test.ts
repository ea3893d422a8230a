import { CostEngine, Money } from "@tally/core"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import * as Clone from "../src/Clone.ts"
import * as Match from "../src/Match.ts"
import * as ModelDefinition from "../src/ModelDefinition.ts"
import type * as PriceBook from "../src/PriceBook.ts"
import { book, shippedCatalog } from "./support/Builders.ts"

const usage = { tokens: { inputText: 1_000_000, cacheRead: 1_000_000, outputText: 1_000_000 } }

const cost = (b: PriceBook.PriceBook, at: string, tenant: string, model = "gpt-4o-2024-08-06") => {
  const m = Result.getOrThrow(Match.match(b, { provider: "openai", model, at, scope: { tenant } }))
  return { id: m.definition.id, total: Money.format(Result.getOrThrow(CostEngine.price(usage, m.snapshot)).total), version: m.entry.version }
}

describe("clone and customize", () => {
  const builtIn = shippedCatalog()
  const source = builtIn.definitions.find((d) => d.id === "openai/gpt-4o")!

  it("clones a built-in definition into a tenant's custom one that keeps the link", () => {
    const copy = Clone.clone(source, { id: "acme/gpt-4o" })
    expect(copy).toMatchObject({ id: "acme/gpt-4o", maintainer: "custom", clonedFrom: { definitionId: "openai/gpt-4o", version: 1 }, match: source.match, provider: "openai" })
    expect(copy.history).toEqual(source.history)
    expect(Result.isSuccess(ModelDefinition.decodeResult(ModelDefinition.encode(copy)))).toBe(true)
  })

  it("changes prices as a new snapshot version from a date on; the tenant's events price with it, others keep the built-in", () => {
    const copy = Clone.clone(source, { id: "acme/gpt-4o" })
    const repriced = Result.getOrThrow(Clone.reprice(copy, {
      effectiveFrom: "2026-03-01",
      rates: { inputText: new Money.Decimal("2"), outputText: new Money.Decimal("8") },
      note: "2026 contract"
    }))
    expect(repriced.history.map((h) => [h.version, h.snapshot.effectiveFrom ?? null, h.snapshot.effectiveTo ?? null])).toEqual([[1, null, "2026-03-01"], [2, "2026-03-01", null]])
    expect(repriced.history[1]!.snapshot.rates.cacheRead?.toFixed()).toBe("1.25")
    const b = book({ builtIn, layers: [{ id: "acme", scope: { tenant: "acme" }, definitions: [repriced] }] })
    expect(cost(b, "2026-02-28T23:59:59Z", "acme")).toEqual({ id: "acme/gpt-4o", total: "13.75", version: 1 })
    expect(cost(b, "2026-03-01T00:00:00Z", "acme")).toEqual({ id: "acme/gpt-4o", total: "11.25", version: 2 })
    expect(cost(b, "2026-03-01T00:00:00Z", "globex")).toEqual({ id: "openai/gpt-4o", total: "13.75", version: 1 })
  })

  it("a back-dated change re-rates the events after its date", () => {
    const copy = Clone.clone(source, { id: "acme/gpt-4o" })
    const first = Result.getOrThrow(Clone.reprice(copy, { effectiveFrom: "2026-03-01", rates: { inputText: new Money.Decimal("2") } }))
    const before = book({ builtIn, layers: [{ id: "acme", scope: { tenant: "acme" }, definitions: [first] }] })
    expect(cost(before, "2026-02-15T12:00:00Z", "acme").total).toBe("13.75")
    // Agreed later, applying from Feb 1st.
    const backDated = Result.getOrThrow(Clone.reprice(first, { effectiveFrom: "2026-02-01", effectiveTo: "2026-03-01", rates: { inputText: new Money.Decimal("1.5") } }))
    const after = book({ builtIn, layers: [{ id: "acme", scope: { tenant: "acme" }, definitions: [backDated] }] })
    expect(cost(after, "2026-01-31T23:59:59Z", "acme")).toMatchObject({ total: "13.75", version: 1 })
    expect(cost(after, "2026-02-15T12:00:00Z", "acme")).toMatchObject({ total: "12.75", version: 3 })
    expect(cost(after, "2026-03-15T12:00:00Z", "acme")).toMatchObject({ total: "13.25", version: 2 })
  })

  it("can narrow what the clone matches and remove a rate", () => {
    const copy = Clone.clone(source, { id: "acme/gpt-4o-eu", match: { equals: "gpt-4o-eu" }, displayName: "GPT-4o (EU data zone)" })
    const noCache = Result.getOrThrow(Clone.reprice(copy, { effectiveFrom: "2026-01-01", removeRates: ["cacheRead"] }))
    expect(noCache.history.at(-1)!.snapshot.rates).not.toHaveProperty("cacheRead")
    const b = book({ builtIn, layers: [{ id: "acme", scope: { tenant: "acme" }, definitions: [noCache] }] })
    const m = Result.getOrThrow(Match.match(b, { provider: "openai", model: "gpt-4o-eu", at: "2026-05-01", scope: { tenant: "acme" } }))
    const priced = CostEngine.price(usage, m.snapshot)
    expect(Result.isFailure(priced) && priced.failure.components).toEqual(["cacheRead"])
  })

  it("rejects a change with an invalid date", () => {
    const result = Clone.reprice(Clone.clone(source, { id: "x" }), { effectiveFrom: "March" })
    expect(Result.isFailure(result) && result.failure.message).toContain("not an ISO date")
  })
})
