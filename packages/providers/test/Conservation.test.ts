/**
 * Conservation: where a provider reports a total, the normalized disjoint buckets account for
 * exactly that many tokens — and a total that disagrees with its parts is a typed error.
 */
import { Usage } from "@tally/core"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Normalize } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"
import * as Generators from "./support/Generators.ts"

const normalize = (c: Generators.Case, payload: unknown) => Normalize.normalize({ provider: c.provider, api: c.api, model: c.model, payload })

describe("conservation of tokens", () => {
  for (const arbitrary of Generators.all) {
    const sample = fc.sample(arbitrary, { numRuns: 1, seed: 1 })[0]!
    it(`${sample.label}: the normalized buckets add up to exactly the tokens the provider reports`, () => {
      fc.assert(
        fc.property(arbitrary, (c) => {
          const usage = Fixtures.success(normalize(c, c.response)).usage
          expect(Usage.totalTokens(usage)).toBe(c.total)
          expect(usage.tokens).toEqual(c.tokens)
        }),
        { numRuns: 80 }
      )
    })
    if (sample.breakTotal === undefined) continue
    it(`${sample.label}: a reported total that disagrees with its parts is a total-mismatch error`, () => {
      fc.assert(
        fc.property(arbitrary, fc.integer({ min: -1000, max: 1000 }).filter((d) => d !== 0), (c, delta) => {
          fc.pre(c.total + delta >= 0)
          const error = Fixtures.failure(normalize(c, c.breakTotal!(delta)))
          expect(error.reason).toBe("total-mismatch")
        }),
        { numRuns: 40 }
      )
    })
  }
})

describe("children never exceed their parents", () => {
  const chat = (provider: string, usage: unknown) => Normalize.normalize({ provider, payload: { id: "c", object: "chat.completion", model: "m", choices: [], usage } })

  it("OpenAI-compatible chat: cached tokens above prompt_tokens are an exceeds-parent error for every dialect", () => {
    fc.assert(
      fc.property(fc.constantFrom("openai", "azure", "xai", "mistral", "openrouter", "groq", "together", "perplexity", "vllm"), fc.nat({ max: 100_000 }), fc.integer({ min: 1, max: 1000 }), (provider, prompt, excess) => {
        const error = Fixtures.failure(chat(provider, { prompt_tokens: prompt, completion_tokens: 0, total_tokens: prompt, prompt_tokens_details: { cached_tokens: prompt + excess } }))
        expect(error).toMatchObject({ reason: "exceeds-parent", path: "usage.prompt_tokens_details.cached_tokens" })
      }),
      { numRuns: 60 }
    )
  })

  it("Responses: reasoning tokens above output_tokens are an exceeds-parent error", () => {
    fc.assert(
      fc.property(fc.nat({ max: 100_000 }), fc.integer({ min: 1, max: 1000 }), (output, excess) => {
        const payload = { object: "response", id: "r", model: "o3", status: "completed", output: [], usage: { input_tokens: 1, output_tokens: output, output_tokens_details: { reasoning_tokens: output + excess }, total_tokens: output + 1 } }
        expect(Fixtures.failure(Normalize.normalize({ provider: "openai", payload }))).toMatchObject({ reason: "exceeds-parent", path: "usage.output_tokens_details.reasoning_tokens" })
      }),
      { numRuns: 60 }
    )
  })

  it("Gemini: cached content above promptTokenCount is an exceeds-parent error", () => {
    fc.assert(
      fc.property(fc.nat({ max: 100_000 }), fc.integer({ min: 1, max: 1000 }), (prompt, excess) => {
        const payload = { candidates: [], usageMetadata: { promptTokenCount: prompt, cachedContentTokenCount: prompt + excess, candidatesTokenCount: 0, totalTokenCount: prompt } }
        expect(Fixtures.failure(Normalize.normalize({ provider: "google", payload }))).toMatchObject({ reason: "exceeds-parent", path: "usageMetadata.cachedContentTokenCount" })
      }),
      { numRuns: 60 }
    )
  })
})
