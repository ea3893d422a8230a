import fc from "fast-check"
import { Money, PricingSnapshot } from "@tally/core"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import * as Match from "../src/Match.ts"
import * as MatchRule from "../src/MatchRule.ts"
import type * as ModelDefinition from "../src/ModelDefinition.ts"
import * as PriceBook from "../src/PriceBook.ts"
import { book, builtInOf, definition, entry, layer } from "./support/Builders.ts"

const AT = "2026-05-01T12:00:00Z"

const winner = (b: PriceBook.PriceBook, model: string, options: { provider?: string; scope?: PriceBook.Scope; at?: string } = {}) => {
  const result = Match.match(b, { provider: options.provider ?? "acme", model, at: options.at ?? AT, scope: options.scope })
  return Result.isSuccess(result) ? result.success.definition.id : `unmatched:${result.failure.reason}`
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Rules that all match `name`, from most to least specific. */
const ladder = (name: string): ReadonlyArray<MatchRule.MatchRule> => [
  MatchRule.equals(name),
  MatchRule.startsWith(name.slice(0, name.length - 1)),
  MatchRule.endsWith(name.slice(2)),
  MatchRule.startsWith(name.slice(0, 2)),
  MatchRule.contains(name.slice(1, name.length - 1)),
  MatchRule.contains(name.slice(1, 2)),
  MatchRule.regex(`^${escape(name.slice(0, 3))}`)
]

const modelName = fc.stringMatching(/^[a-z][a-z0-9]{5,14}$/)
const ids = fc.uniqueArray(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 2, maxLength: 2 })

describe("precedence laws", () => {
  it("a more specific rule always beats a less specific one, whatever the ids and order", () => {
    fc.assert(fc.property(modelName, fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), ids, fc.boolean(), fc.boolean(), (name, i, j, [idA, idB], builtIn, reversed) => {
      const rules = ladder(name)
      const sa = MatchRule.evaluate(rules[i]!, name)!.specificity
      const sb = MatchRule.evaluate(rules[j]!, name)!.specificity
      fc.pre(MatchRule.compareSpecificity(sa, sb) !== 0)
      const a = definition({ id: idA!, match: rules[i]! })
      const b = definition({ id: idB!, match: rules[j]! })
      const defs = reversed ? [b, a] : [a, b]
      const priceBook = builtIn ? book({ builtIn: builtInOf(defs) }) : book({ layers: [{ id: "tenant", scope: { tenant: "t" }, definitions: defs }] })
      const expected = MatchRule.compareSpecificity(sa, sb) > 0 ? idA : idB
      expect(winner(priceBook, name, { scope: { tenant: "t" } })).toBe(expected)
    }))
  })

  it("custom beats built-in, even when the built-in rule is more specific", () => {
    fc.assert(fc.property(modelName, fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), ids, (name, i, j, [builtInId, customId]) => {
      const rules = ladder(name)
      const priceBook = book({
        builtIn: builtInOf([definition({ id: builtInId!, match: rules[i]! })]),
        layers: [{ id: "tenant", scope: { tenant: "t" }, definitions: [definition({ id: customId!, match: rules[j]! })] }]
      })
      expect(winner(priceBook, name, { scope: { tenant: "t" } })).toBe(customId)
      // Another tenant does not see the custom definition.
      expect(winner(priceBook, name, { scope: { tenant: "other" } })).toBe(builtInId)
    }))
  })

  it("the result does not depend on definition order", () => {
    const fragment = fc.stringMatching(/^[a-c]{1,3}$/)
    const rule = fc.oneof(
      fragment.map(MatchRule.equals),
      fragment.map(MatchRule.startsWith),
      fragment.map(MatchRule.endsWith),
      fragment.map(MatchRule.contains),
      fragment.map((f) => MatchRule.regex(`${f}$`)),
      fc.tuple(fragment, fragment).map(([x, y]) => MatchRule.or(MatchRule.startsWith(x), MatchRule.equals(y)))
    )
    const defs = fc.uniqueArray(fc.record({ id: fc.stringMatching(/^d[0-9]{1,3}$/), match: rule, custom: fc.boolean() }), { minLength: 1, maxLength: 12, selector: (d) => d.id })
    fc.assert(fc.property(defs, fc.stringMatching(/^[a-c]{1,4}$/), fc.integer(), (specs, name, seed) => {
      const built = specs.map((s) => ({ d: definition({ id: s.id, match: s.match }), custom: s.custom }))
      const make = (list: typeof built) => book({
        builtIn: builtInOf(list.filter((x) => !x.custom).map((x) => x.d)),
        layers: [{ id: "l", scope: {}, definitions: list.filter((x) => x.custom).map((x) => x.d) }]
      })
      const shuffled = [...built].sort((a, b) => ((a.d.id.length * 31 + seed) % 7) - ((b.d.id.length * 17 + seed) % 5) || (seed % 2 === 0 ? 1 : -1))
      const reversed = [...built].reverse()
      const expected = Match.explainMatch(make(built), { provider: "acme", model: name, at: AT })
      for (const order of [shuffled, reversed]) {
        const other = Match.explainMatch(make(order), { provider: "acme", model: name, at: AT })
        expect(other.winner?.definitionId).toBe(expected.winner?.definitionId)
        expect(other.candidates.map((c) => c.definitionId)).toEqual(expected.candidates.map((c) => c.definitionId))
      }
    }))
  })

  it("a rule on the reported name beats a more specific rule on a normalized name", () => {
    const priceBook = book({
      builtIn: builtInOf([
        definition({ id: "gpt-4o", match: MatchRule.equals("gpt-4o"), input: "2.5" }),
        definition({ id: "gpt-4o-2024-05-13", match: MatchRule.startsWith("gpt-4o-2024-05"), input: "5" })
      ])
    })
    expect(winner(priceBook, "gpt-4o-2024-05-13")).toBe("gpt-4o-2024-05-13")
    expect(winner(priceBook, "gpt-4o-2024-08-06")).toBe("gpt-4o")
    const explanation = Match.explainMatch(priceBook, { provider: "acme", model: "gpt-4o-2024-05-13", at: AT })
    expect(explanation.candidates[1]).toMatchObject({ definitionId: "gpt-4o", lostOn: "name-form" })
  })

  it("ties on every criterion fall to the smaller id", () => {
    const priceBook = book({ builtIn: builtInOf([definition({ id: "b", match: MatchRule.equals("x1") }), definition({ id: "a", match: MatchRule.equals("x1") })]) })
    expect(winner(priceBook, "x1")).toBe("a")
    expect(Match.explainMatch(priceBook, { provider: "acme", model: "x1", at: AT }).candidates[1]).toMatchObject({ definitionId: "b", lostOn: "id" })
  })
})

describe("providers", () => {
  const providers = [
    { id: "openai", name: "OpenAI" },
    { id: "azure", name: "Azure", fallbackProviders: ["openai"] },
    { id: "aws", name: "AWS Bedrock", aliases: MatchRule.contains("bedrock") }
  ]
  const priceBook = book({
    builtIn: builtInOf([
      definition({ id: "openai/o1", provider: "openai", match: MatchRule.equals("o1"), input: "15" }),
      definition({ id: "azure/o1", provider: "azure", match: MatchRule.equals("o1"), input: "16.5" }),
      definition({ id: "openai/gpt-4o", provider: "openai", match: MatchRule.equals("gpt-4o") }),
      definition({ id: "aws/claude", provider: "aws", match: MatchRule.contains("claude-3-5-sonnet") })
    ], providers)
  })

  it("searches the provider's own definitions before its fallbacks", () => {
    expect(winner(priceBook, "o1", { provider: "azure" })).toBe("azure/o1")
    expect(winner(priceBook, "gpt-4o", { provider: "azure" })).toBe("openai/gpt-4o")
    expect(Match.explainMatch(priceBook, { provider: "azure", model: "gpt-4o", at: AT }).summary).toContain("via fallback provider openai")
    expect(winner(priceBook, "o1", { provider: "openai" })).toBe("openai/o1")
  })

  it("resolves provider aliases and reports unknown providers", () => {
    expect(winner(priceBook, "us.anthropic.claude-3-5-sonnet-20241022-v2:0", { provider: "Bedrock" })).toBe("aws/claude")
    expect(winner(priceBook, "gpt-4o", { provider: "nonesuch" })).toBe("unmatched:unknown-provider")
  })

  it("without a provider, searches every provider", () => {
    const result = Match.match(priceBook, { model: "gpt-4o", at: AT })
    expect(Result.getOrThrow(result).definition.id).toBe("openai/gpt-4o")
  })
})

describe("layers", () => {
  const builtIn = builtInOf([definition({ id: "acme/m", match: MatchRule.equals("m"), input: "10" })])
  const tenantDef = definition({ id: "t/m", match: MatchRule.startsWith("m"), input: "8" })
  const keyDef = definition({ id: "k/m", match: MatchRule.contains("m"), input: "7" })
  const layers: ReadonlyArray<PriceBook.PriceBookLayer> = [
    { id: "tenant-t", scope: { tenant: "t" }, definitions: [tenantDef] },
    { id: "key-k", scope: { tenant: "t", apiKey: "k" }, definitions: [keyDef] },
    { id: "tenant-u", scope: { tenant: "u" }, builtIn: "disabled" }
  ]
  const priceBook = book({ builtIn, layers })

  it("narrower scopes win over broader ones, and layers of other scopes do not apply", () => {
    expect(winner(priceBook, "m", { scope: { tenant: "t", apiKey: "k" } })).toBe("k/m")
    expect(winner(priceBook, "m", { scope: { tenant: "t", apiKey: "other" } })).toBe("t/m")
    expect(winner(priceBook, "m", { scope: { tenant: "t", project: "p" } })).toBe("t/m")
    expect(winner(priceBook, "m", { scope: {} })).toBe("acme/m")
    const explanation = Match.explainMatch(priceBook, { provider: "acme", model: "m", at: AT, scope: { tenant: "t", apiKey: "k" } })
    expect(explanation.layers.map((l) => l.id)).toEqual(["key-k", "tenant-t"])
    expect(explanation.candidates.map((c) => [c.definitionId, c.lostOn])).toEqual([["k/m", undefined], ["t/m", "scope"], ["acme/m", "class"]])
  })

  it("a tenant can switch the built-in catalog off", () => {
    expect(winner(priceBook, "m", { scope: { tenant: "u" } })).toBe("unmatched:no-rule-matched")
    const result = Match.match(priceBook, { provider: "acme", model: "m", at: AT, scope: { tenant: "u" } })
    expect(Result.isFailure(result) && result.failure.detail).toContain("switched off by layer \"tenant-u\"")
  })

  it("an override replaces a definition's prices in its scope and keeps its rule", () => {
    const overridden = book({
      builtIn,
      layers: [layer({ id: "contract", scope: { tenant: "t" }, overrides: [{ definitionId: "acme/m", history: [entry(2, "6")], reason: "2026 contract" }] })]
    })
    const inScope = Result.getOrThrow(Match.match(overridden, { provider: "acme", model: "m", at: AT, scope: { tenant: "t" } }))
    expect(inScope.snapshot.rates.inputText?.toFixed()).toBe("6")
    expect(inScope.explanation.snapshot?.override).toEqual({ layerId: "contract", reason: "2026 contract" })
    const outside = Result.getOrThrow(Match.match(overridden, { provider: "acme", model: "m", at: AT, scope: { tenant: "x" } }))
    expect(outside.snapshot.rates.inputText?.toFixed()).toBe("10")
  })

  it("multipliers scale every price exactly and compose across layers", () => {
    const scaled = book({
      builtIn: builtInOf([
        definition({
          id: "acme/m",
          match: MatchRule.equals("m"),
          history: [{
            version: 1,
            snapshot: {
              provider: "acme",
              modelKey: "m",
              rates: { inputText: "3", outputText: "15" },
              units: { perThousandWebSearches: "10", perImage: { "*": "0.04" } },
              tiers: [{ aboveTokens: 200000, rates: { inputText: "6" } }],
              batchDiscountPercent: "50"
            }
          }]
        }),
        definition({ id: "acme/other", match: MatchRule.equals("other") })
      ]),
      layers: [
        { id: "tenant", scope: { tenant: "t" }, multipliers: [{ factor: Money.parse("0.8")!, reason: "contract discount" }] },
        { id: "team", scope: { tenant: "t", team: "x" }, multipliers: [{ factor: Money.parse("1.1")!, reason: "markup", definitionIds: ["acme/m"] }] }
      ]
    })
    const m = Result.getOrThrow(Match.match(scaled, { provider: "acme", model: "m", at: AT, scope: { tenant: "t", team: "x" } }))
    expect(m.snapshot.rates.inputText?.toFixed()).toBe("2.64")
    expect(m.snapshot.rates.outputText?.toFixed()).toBe("13.2")
    expect(m.snapshot.tiers?.[0]?.rates.inputText?.toFixed()).toBe("5.28")
    expect(m.snapshot.units?.perThousandWebSearches?.toFixed()).toBe("8.8")
    expect(m.snapshot.units?.perImage?.["*"]?.toFixed()).toBe("0.0352")
    expect(m.snapshot.batchDiscountPercent?.toFixed()).toBe("50")
    expect(m.explanation.multipliers).toEqual([
      { layerId: "tenant", factor: "0.8", reason: "contract discount" },
      { layerId: "team", factor: "1.1", reason: "markup" }
    ])
    expect(m.snapshotId).toBe(PricingSnapshot.snapshotId(m.snapshot))
    expect(m.snapshotId).not.toBe(m.explanation.snapshot?.listSnapshotId)
    const other = Result.getOrThrow(Match.match(scaled, { provider: "acme", model: "other", at: AT, scope: { tenant: "t", team: "x" } }))
    expect(other.snapshot.rates.inputText?.toFixed()).toBe("0.8")
  })

  it("rejects inconsistent price books with every problem named", () => {
    const result = PriceBook.make({
      builtIn,
      layers: [
        { id: "a", scope: {}, definitions: [definition({ id: "acme/m", match: MatchRule.equals("m") })] },
        layer({ id: "a", scope: {}, overrides: [{ definitionId: "nope", history: [entry(1, "1")] }] })
      ]
    })
    expect(Result.isFailure(result)).toBe(true)
    if (Result.isFailure(result)) {
      expect(result.failure.problems).toEqual([
        "layer \"a\": definition id acme/m is a built-in id; use an override to change its prices",
        "layer id \"a\" is used twice",
        "layer \"a\": override targets unknown definition nope"
      ])
    }
  })
})

describe("effective dating in matching", () => {
  const dated = (id: string, match: MatchRule.MatchRule, history: ReadonlyArray<ModelDefinition.HistoryEntryEncoded>) => definition({ id, match, history })

  it("uses the snapshot in force at the event time, not now", () => {
    const priceBook = book({ builtIn: builtInOf([dated("acme/m", MatchRule.equals("m"), [entry(1, "10", { to: "2025-06-10" }), entry(2, "2", { from: "2025-06-10" })])]) })
    const at = (time: string) => Result.getOrThrow(Match.match(priceBook, { provider: "acme", model: "m", at: time })).entry.version
    expect(at("2025-06-09T23:59:59.999Z")).toBe(1)
    expect(at("2025-06-10T00:00:00Z")).toBe(2)
    expect(at("2025-06-10")).toBe(2)
  })

  it("skips a better candidate that has no snapshot at that time, and says so", () => {
    const priceBook = book({
      builtIn: builtInOf([dated("acme/base", MatchRule.startsWith("m"), [entry(1, "10")])]),
      layers: [{ id: "t", scope: { tenant: "t" }, definitions: [dated("t/m", MatchRule.equals("m"), [entry(1, "8", { from: "2026-06-01" })])] }]
    })
    expect(winner(priceBook, "m", { scope: { tenant: "t" }, at: "2026-05-31T23:59:59Z" })).toBe("acme/base")
    expect(winner(priceBook, "m", { scope: { tenant: "t" }, at: "2026-06-01T00:00:00Z" })).toBe("t/m")
    const explanation = Match.explainMatch(priceBook, { provider: "acme", model: "m", at: "2026-05-01", scope: { tenant: "t" } })
    expect(explanation.candidates[0]).toMatchObject({ definitionId: "t/m", lostOn: "no-snapshot-in-force" })
  })

  it("reports no-snapshot-in-force when no candidate has one", () => {
    const priceBook = book({ builtIn: builtInOf([dated("acme/m", MatchRule.equals("m"), [entry(1, "10", { from: "2030-01-01" })])]) })
    expect(winner(priceBook, "m")).toBe("unmatched:no-snapshot-in-force")
  })

  it("rejects empty names and invalid times with a reason", () => {
    const priceBook = book({ builtIn: builtInOf([dated("acme/m", MatchRule.equals("m"), [entry(1, "10")])]) })
    expect(winner(priceBook, "  ")).toBe("unmatched:empty-model")
    expect(winner(priceBook, "m", { at: "yesterday" })).toBe("unmatched:invalid-time")
  })
})

describe("explanations", () => {
  it("say which rule of which layer won, on which name, and why the others lost", () => {
    const priceBook = book({
      builtIn: builtInOf([
        definition({ id: "acme/gpt-4o", match: MatchRule.or(MatchRule.equals("gpt-4o"), MatchRule.startsWith("gpt-4o-2024")) }),
        definition({ id: "acme/gpt-4", match: MatchRule.startsWith("gpt-4") })
      ])
    })
    const e = Match.explainMatch(priceBook, { provider: "acme", model: "openai/GPT-4o-2024-08-06", at: AT })
    expect(e.matched).toBe(true)
    expect(e.winner).toMatchObject({ definitionId: "acme/gpt-4o", layer: "built-in", rule: "startsWith \"gpt-4o-2024\"", name: "gpt-4o-2024-08-06" })
    expect(e.candidates[1]).toMatchObject({ definitionId: "acme/gpt-4", lostOn: "specificity" })
    expect(e.candidates[1]!.detail).toContain("less specific")
    expect(e.summary).toContain("removed prefix \"openai/\"")
    expect(e.snapshot?.reason).toBe("version 1 in force [-∞, +∞)")
    expect(JSON.parse(JSON.stringify(e))).toEqual(e)
  })

  it("explain an unmatched name with every normalized form tried", () => {
    const priceBook = book({ builtIn: builtInOf([definition({ id: "acme/x", match: MatchRule.equals("x") })]) })
    const e = Match.explainMatch(priceBook, { provider: "acme", model: "y-2024-01-01", at: AT })
    expect(e).toMatchObject({ matched: false, reason: "no-rule-matched", winner: null })
    expect(e.summary).toContain("\"y-2024-01-01\", \"y\"")
  })
})
