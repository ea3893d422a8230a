/**
 * Streaming parity: the same call streamed and not streamed normalizes to the same Usage, however
 * its text is split into chunks and whichever wire form the stream arrives in.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Normalize } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"
import * as Generators from "./support/Generators.ts"

const usageOf = (c: Generators.Case, payload: unknown) =>
  Fixtures.usageJson(Fixtures.success(Normalize.normalize({ provider: c.provider, api: c.api, model: c.model, payload })).usage)

describe("streaming parity", () => {
  for (const arbitrary of Generators.streaming) {
    const label = fc.sample(arbitrary, { numRuns: 1, seed: 1 })[0]!.label
    it(`${label}: streamed (as chunks, SSE and NDJSON) and non-streamed calls normalize to the same Usage`, () => {
      fc.assert(
        fc.property(arbitrary, (c) => {
          const stream = c.stream!
          const expected = usageOf(c, c.response)
          expect(usageOf(c, { chunks: stream })).toEqual(expected)
          expect(usageOf(c, stream.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(""))).toEqual(expected)
          expect(usageOf(c, stream.map((e) => JSON.stringify(e)).join("\n"))).toEqual(expected)
          expect(expected.tokens).toEqual(c.tokens)
        }),
        { numRuns: 60 }
      )
    })
  }
})
