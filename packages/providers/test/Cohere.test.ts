import { describe, expect, it } from "vitest"
import { Normalize } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const run = (payload: unknown, more: Partial<Normalize.NormalizeInput> = {}) => Normalize.normalize({ provider: "cohere", payload, ...more })

describe("Cohere v2", () => {
  it("billed_units are billed; raw tokens and cached_tokens are informational", () => {
    expect(Fixtures.usageOf("cohere/chat_v2").tokens).toEqual({ inputText: 12, outputText: 7 })
  })

  it("a stream's message-end event carries the usage", () => {
    expect(Fixtures.usageOf("cohere/chat_v2_stream")).toEqual(Fixtures.usageOf("cohere/chat_v2"))
  })

  it("embed bills meta.billed_units.input_tokens as embedding tokens; rerank bills search units", () => {
    expect(Fixtures.usageOf("cohere/embed_v2").tokens).toEqual({ embedding: 1 })
    expect(Fixtures.usageOf("cohere/rerank_v2").toolCalls).toEqual({ search_units: 1 })
  })

  it("billed units typed as floats must still be whole numbers", () => {
    expect(Fixtures.success(run({ id: "x", message: { role: "assistant", content: [] }, usage: { billed_units: { input_tokens: 12.0, output_tokens: 7 } } })).usage.tokens)
      .toEqual({ inputText: 12, outputText: 7 })
    expect(Fixtures.failure(run({ id: "x", message: { role: "assistant", content: [] }, usage: { billed_units: { input_tokens: 12.5 } } })))
      .toMatchObject({ reason: "not-integer", path: "usage.billed_units.input_tokens" })
  })

  it("no model in the v2 body: the caller's model is used", () => {
    expect(Fixtures.success(Fixtures.normalize("cohere/chat_v2", { model: "command-a-03-2025" })).model).toBe("command-a-03-2025")
  })
})
