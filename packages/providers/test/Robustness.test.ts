/**
 * Robustness: random JSON, random text and mutated real payloads, fed to every provider's
 * normalizer for a fixed number of runs, only ever yield a value or a typed NormalizeError —
 * never a throw, never a hang.
 */
import fc from "fast-check"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { Normalize, NormalizedCall, NormalizeError } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"
import * as Generators from "./support/Generators.ts"

const REASONS: ReadonlyArray<string> = NormalizeError.Reason.literals

type Json = null | boolean | number | string | Array<Json> | { [key: string]: Json }

/** Every node's path in a JSON value (depth-first, capped). */
const pathsOf = (value: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> => {
  if (out.length > 400) return out
  out.push(prefix)
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out))
  else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out)
  return out
}

const MUTATIONS = ["replace", "delete", "negate", "fraction", "huge", "stringify", "null", "wrap", "duplicate"] as const

const mutate = (value: unknown, pick: number, op: typeof MUTATIONS[number], replacement: Json): unknown => {
  const copy = structuredClone(value) as Json
  const paths = pathsOf(copy)
  const path = paths[pick % paths.length]!
  if (path.length === 0) return op === "wrap" ? [copy] : replacement
  const parent = path.slice(0, -1).reduce<Json>((node, key) => (node as Record<string | number, Json>)[key]!, copy) as Record<string | number, Json> | Array<Json>
  const key = path.at(-1)!
  const current = (parent as Record<string | number, Json>)[key]
  const set = (v: Json) => { (parent as Record<string | number, Json>)[key] = v }
  switch (op) {
    case "replace": set(replacement); break
    case "delete": if (Array.isArray(parent)) parent.splice(key as number, 1); else delete (parent as Record<string, Json>)[key]; break
    case "negate": set(typeof current === "number" ? -current - 1 : replacement); break
    case "fraction": set(typeof current === "number" ? current + 0.5 : replacement); break
    case "huge": set(typeof current === "number" ? 1e300 : replacement); break
    case "stringify": set(JSON.stringify(current ?? null)); break
    case "null": set(null); break
    case "wrap": set([current ?? null]); break
    case "duplicate": if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(current ?? null)); else set(current ?? null); break
  }
  return copy
}

const byProvider = new Map<string, Array<unknown>>()
for (const name of Fixtures.names()) {
  const fixture = Fixtures.load(name)
  const id = Normalize.resolveProvider(fixture.provider) ?? fixture.provider
  byProvider.set(id, [...(byProvider.get(id) ?? []), fixture.payload])
}
for (const arbitrary of Generators.all) {
  for (const c of fc.sample(arbitrary, { numRuns: 3, seed: 7 })) {
    const id = Normalize.resolveProvider(c.provider)!
    byProvider.set(id, [...(byProvider.get(id) ?? []), c.response, ...(c.stream !== undefined ? [{ chunks: c.stream }] : [])])
  }
}

const text = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 5 }).map((values) => values.map((v) => `data: ${JSON.stringify(v)}\n\n`).join("")),
  fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 5 }).map((values) => values.map((v) => JSON.stringify(v)).join("\n"))
)

const payloadFor = (seeds: ReadonlyArray<unknown>) =>
  fc.oneof(
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 1, arbitrary: text },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
    {
      weight: 5,
      arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.constantFrom(...MUTATIONS), fc.jsonValue({ maxDepth: 2 })), { minLength: 1, maxLength: 3 }))
        .map(([seed, ops]) => ops.reduce<unknown>((value, [pick, op, replacement]) => mutate(value, pick, op, replacement as Json), seed))
    }
  )

describe("robustness", () => {
  for (const provider of NormalizedCall.ProviderIds) {
    it(`${provider}: 300 random and mutated payloads only ever give a value or a typed NormalizeError`, () => {
      const seeds = byProvider.get(provider) ?? [{}]
      const apis = [undefined, ...Normalize.apisOf(provider), "not-an-api"]
      fc.assert(
        fc.property(
          payloadFor(seeds),
          fc.constantFrom(...apis),
          fc.option(fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] })), { nil: undefined }),
          (payload, api, request) => {
            const result = Normalize.normalize({ provider, api, payload, request, model: "gpt-4o" })
            expect(Result.isResult(result)).toBe(true)
            if (Result.isFailure(result)) {
              expect(result.failure).toBeInstanceOf(NormalizeError.NormalizeError)
              expect(REASONS).toContain(result.failure.reason)
              expect(typeof result.failure.path).toBe("string")
            } else {
              // A value is always encodable to JSON.
              expect(() => NormalizedCall.toJson(result.success)).not.toThrow()
              for (const n of Object.values(result.success.usage.tokens)) expect(Number.isSafeInteger(n) && n > 0).toBe(true)
            }
          }
        ),
        { numRuns: 300, seed: 20261122 + provider.length }
      )
    })
  }

  it("the batch file helper survives random text", () => {
    fc.assert(
      fc.property(text, (t) => {
        for (const line of Normalize.normalizeBatchOutput({ provider: "openai", text: t })) expect(Result.isResult(line.result)).toBe(true)
      }),
      { numRuns: 100 }
    )
  })
})
