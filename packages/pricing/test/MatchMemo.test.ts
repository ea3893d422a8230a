import { assert, describe, it } from "@effect/vitest"
import { Catalog, Match, PriceBook } from "@tally/catalog"
import { Result } from "effect"
import fc from "fast-check"
import * as MatchMemo from "../src/internal/MatchMemo.ts"
import * as PriceMemo from "../src/internal/PriceMemo.ts"

const builtIn = Result.getOrThrow(Catalog.loadBookSync())

// A custom layer whose definition outranks the built-in gpt-4o only from 2026-02-01: before
// that the built-in one wins (the winner is not the best-ranked candidate then).
const custom = Result.getOrThrow(PriceBook.make({
  builtIn: builtIn.builtIn,
  layers: [Result.getOrThrow(PriceBook.decodeLayer({
    id: "acme",
    scope: { tenant: "acme" },
    definitions: [{
      id: "acme/gpt-4o",
      provider: "openai",
      modelKey: "gpt-4o",
      match: { startsWith: "gpt-4o" },
      maintainer: "custom",
      history: [{ version: 1, snapshot: { provider: "openai", modelKey: "gpt-4o", effectiveFrom: "2026-02-01", rates: { inputText: "1", outputText: "2" } } }]
    }]
  }))]
}))

interface Query {
  readonly book: PriceBook.PriceBook
  readonly provider: string
  readonly model: string
  readonly scope: PriceBook.Scope
}

const queries: ReadonlyArray<Query> = [
  { book: builtIn, provider: "deepseek", model: "deepseek-chat", scope: { tenant: "t" } },
  { book: builtIn, provider: "deepseek", model: "deepseek-reasoner", scope: { tenant: "t" } },
  { book: builtIn, provider: "anthropic", model: "claude-opus-4-6", scope: { tenant: "t" } },
  { book: builtIn, provider: "anthropic", model: "claude-sonnet-4-6-20260101", scope: {} },
  { book: builtIn, provider: "openai", model: "gpt-4o-mini-2024-07-18", scope: { tenant: "t", apiKey: "k" } },
  { book: builtIn, provider: "openai", model: "o3", scope: { tenant: "t" } },
  { book: builtIn, provider: "openai", model: "no-such-model", scope: { tenant: "t" } },
  { book: builtIn, provider: "acme-llm", model: "x", scope: { tenant: "t" } },
  { book: custom, provider: "openai", model: "gpt-4o-2024-08-06", scope: { tenant: "acme" } },
  { book: custom, provider: "openai", model: "gpt-4o-2024-08-06", scope: { tenant: "other" } }
]

/** Instants where some history entry or time-of-day window of these models starts or ends. */
const boundaries: ReadonlyArray<number> = (() => {
  const out = new Set<number>()
  for (const q of queries) {
    for (const definition of PriceBook.view(q.book, q.scope).definitions) {
      if (!definition.definition.id.startsWith(`${q.provider}/`) && !definition.definition.id.startsWith("acme/")) continue
      for (const entry of definition.definition.history) {
        for (const text of [entry.snapshot.effectiveFrom, entry.snapshot.effectiveTo]) {
          const ms = text === undefined ? undefined : Match.instantOf(text)
          if (ms !== undefined) out.add(ms)
        }
        for (const time of entry.timeOfDay === undefined ? [] : [entry.timeOfDay.fromUtc, entry.timeOfDay.toUtc]) {
          const [h, m, s] = time.split(":").map(Number)
          for (const day of [Date.UTC(2025, 5, 1), Date.UTC(2026, 2, 13)]) out.add(day + ((h! * 60 + m!) * 60 + (s ?? 0)) * 1000)
        }
      }
    }
  }
  return [...out]
})()

const instant = fc.oneof(
  fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2027, 0, 1) }),
  fc.tuple(fc.constantFrom(...boundaries), fc.constantFrom(-60_000, -1, 0, 1, 60_000)).map(([b, d]) => b + d)
)

const plain = (outcome: Result.Result<Match.Match, Match.ModelNotMatched>) =>
  Result.isSuccess(outcome)
    ? { ok: outcome.success }
    : { error: { reason: outcome.failure.reason, message: outcome.failure.message, model: outcome.failure.model } }

describe("MatchMemo.match", () => {
  it("answers exactly as Match.match, whatever the order of event times", () => {
    assert.isAbove(boundaries.length, 5)
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: queries.length - 1 }), instant), { minLength: 1, maxLength: 60 }), (steps) => {
        for (const [i, at] of steps) {
          const q = queries[i]!
          const query = { provider: q.provider, model: q.model, at, scope: q.scope }
          assert.deepStrictEqual(plain(MatchMemo.match(q.book, query)), plain(Match.match(q.book, query)))
        }
      }),
      { numRuns: 300 }
    )
  })

  it("a custom definition that starts later wins only from its start, before and after a remembered match", () => {
    const q = { provider: "openai", model: "gpt-4o-2024-08-06", scope: { tenant: "acme" } }
    const march = MatchMemo.match(custom, { ...q, at: "2026-03-01T00:00:00Z" })
    const january = MatchMemo.match(custom, { ...q, at: "2026-01-15T00:00:00Z" })
    const marchAgain = MatchMemo.match(custom, { ...q, at: "2026-03-02T00:00:00Z" })
    assert.strictEqual(Result.getOrThrow(march).definition.id, "acme/gpt-4o")
    assert.strictEqual(Result.getOrThrow(january).definition.id, "openai/gpt-4o")
    assert.strictEqual(Result.getOrThrow(marchAgain).definition.id, "acme/gpt-4o")
    assert.strictEqual(Result.getOrThrow(marchAgain).explanation.query.at, "2026-03-02T00:00:00.000Z")
  })

  it("PriceMemo (what Costing.cost and the pricer read: definition, snapshot, summary) agrees with Match.match at every time", () => {
    const priced = (outcome: Result.Result<Match.Match, Match.ModelNotMatched>) =>
      Result.isSuccess(outcome)
        ? {
          definition: outcome.success.definition.id,
          snapshotId: outcome.success.snapshotId,
          fineTuned: outcome.success.fineTuned,
          summary: outcome.success.explanation.summary
        }
        : { error: { reason: outcome.failure.reason, message: outcome.failure.message, model: outcome.failure.model } }
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: queries.length - 1 }), instant), { minLength: 1, maxLength: 60 }), (steps) => {
        for (const [i, at] of steps) {
          const q = queries[i]!
          const memoized = PriceMemo.match(q.book, q.provider, q.model, q.scope, PriceMemo.scopeKeyOf(q.scope), at)
          assert.deepStrictEqual(priced(memoized), priced(Match.match(q.book, { provider: q.provider, model: q.model, at, scope: q.scope })))
        }
      }),
      { numRuns: 300 }
    )
  })
})
