import fc from "fast-check"
import { Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as MatchRule from "../src/MatchRule.ts"

const decode = Schema.decodeUnknownResult(MatchRule.MatchRule, { onExcessProperty: "error" })

describe("match rules are data", () => {
  it("decodes every leaf kind and nested and/or", () => {
    const rule = { or: [{ equals: "gpt-4o" }, { and: [{ startsWith: "gpt-4o-" }, { regex: "^(?!.*-audio)" }] }, { endsWith: "-mini" }, { contains: "4o" }] }
    expect(Result.isSuccess(decode(rule))).toBe(true)
  })

  it("rejects unknown kinds, empty patterns, empty combinations and two kinds in one leaf", () => {
    for (const bad of [{ like: "x" }, { equals: "" }, { or: [] }, { and: [] }, { equals: "a", contains: "b" }, "gpt-4o", { or: [{ equals: 1 }] }]) {
      expect(Result.isFailure(decode(bad)), JSON.stringify(bad)).toBe(true)
    }
  })

  it("rejects a regex that does not compile, naming why", () => {
    const result = decode({ regex: "gpt-(4o" })
    expect(Result.isFailure(result)).toBe(true)
    if (Result.isFailure(result)) expect(result.failure.message).toContain("regex does not compile")
  })
})

describe("evaluation", () => {
  it("is case-insensitive for every kind, including regex", () => {
    for (const rule of [MatchRule.equals("GPT-4o"), MatchRule.startsWith("GPT"), MatchRule.endsWith("4O"), MatchRule.contains("T-4"), MatchRule.regex("^Gpt-\\d")]) {
      expect(MatchRule.matches(rule, "gpt-4o"), MatchRule.describe(rule)).toBe(true)
      expect(MatchRule.matches(rule, "GPT-4O"), MatchRule.describe(rule)).toBe(true)
    }
  })

  it("and needs every member, or needs one", () => {
    const both = MatchRule.and(MatchRule.startsWith("gemini-2.5-pro"), MatchRule.regex("^(?!.*-tts)"))
    expect(MatchRule.matches(both, "gemini-2.5-pro-preview")).toBe(true)
    expect(MatchRule.matches(both, "gemini-2.5-pro-preview-tts")).toBe(false)
    const either = MatchRule.or(MatchRule.equals("a"), MatchRule.equals("b"))
    expect(MatchRule.matches(either, "b")).toBe(true)
    expect(MatchRule.matches(either, "c")).toBe(false)
  })

  it("an or is as specific as its most specific matching alternative", () => {
    const rule = MatchRule.or(MatchRule.contains("4o"), MatchRule.equals("gpt-4o"))
    expect(MatchRule.evaluate(rule, "gpt-4o")?.specificity.kind).toBe(4)
    expect(MatchRule.evaluate(rule, "gpt-4o-mini")?.specificity.kind).toBe(2)
  })
})

const name = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{3,20}$/)

describe("specificity is a total preorder: equals > longer prefix/suffix > contains > regex", () => {
  it("equals beats a prefix, a prefix beats contains, contains beats regex, for any name", () => {
    fc.assert(fc.property(name, fc.integer({ min: 1, max: 3 }), (n, cut) => {
      const at = (rule: MatchRule.MatchRule) => MatchRule.evaluate(rule, n)!.specificity
      const chain = [
        at(MatchRule.equals(n)),
        at(MatchRule.startsWith(n.slice(0, n.length - cut))),
        at(MatchRule.contains(n.slice(1))),
        at(MatchRule.regex("."))
      ]
      for (let i = 0; i + 1 < chain.length; i++) expect(MatchRule.compareSpecificity(chain[i]!, chain[i + 1]!)).toBeGreaterThan(0)
    }))
  })

  it("a longer prefix (or suffix) beats a shorter one", () => {
    fc.assert(fc.property(name, fc.integer({ min: 1, max: 3 }), (n, cut) => {
      const long = MatchRule.evaluate(MatchRule.startsWith(n.slice(0, n.length - 1)), n)!.specificity
      const short = MatchRule.evaluate(MatchRule.endsWith(n.slice(cut + 1)), n)!.specificity
      expect(MatchRule.compareSpecificity(long, short)).toBeGreaterThan(0)
    }))
  })

  it("an and of two conditions beats its most specific member alone", () => {
    const alone = MatchRule.evaluate(MatchRule.startsWith("gemini"), "gemini-pro")!.specificity
    const both = MatchRule.evaluate(MatchRule.and(MatchRule.startsWith("gemini"), MatchRule.contains("pro")), "gemini-pro")!.specificity
    expect(MatchRule.compareSpecificity(both, alone)).toBeGreaterThan(0)
  })
})

describe("the one-line form", () => {
  it("round-trips every rule", () => {
    const leaf = fc.oneof(
      fc.string({ minLength: 1, maxLength: 12 }).map(MatchRule.equals),
      fc.string({ minLength: 1, maxLength: 12 }).map(MatchRule.startsWith),
      fc.string({ minLength: 1, maxLength: 12 }).map(MatchRule.contains),
      fc.constantFrom("^a", "b$", "x.*y").map(MatchRule.regex)
    )
    const rule = fc.oneof(leaf, fc.array(leaf, { minLength: 1, maxLength: 3 }).map((rules) => MatchRule.or(...rules)))
    fc.assert(fc.property(rule, (r) => {
      const parsed = MatchRule.parseShorthand(MatchRule.toShorthand(r))
      expect(Result.getOrThrow(decode(parsed))).toEqual(r)
    }))
  })

  it("rejects text that is neither kind:value nor JSON", () => {
    expect(MatchRule.parseShorthand("gpt-4o")).toBeUndefined()
    expect(MatchRule.parseShorthand("like:gpt")).toBeUndefined()
  })
})
