import { describe, expect, it } from "vitest"
import { NormalizedCall } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

describe("NormalizedCall JSON", () => {
  it("encodes decimals as strings and round-trips through JSON text", () => {
    for (const name of ["xai/chat_completion_reasoning", "openai/audio_transcription_duration", "anthropic/messages_compaction_iterations", "bedrock/converse_stream_openai_cache_double_count"]) {
      const call = Fixtures.success(Fixtures.normalize(name))
      const text = NormalizedCall.toJsonString(call)
      const back = NormalizedCall.fromJson(JSON.parse(text))
      expect(NormalizedCall.toJson(back), name).toEqual(NormalizedCall.toJson(call))
    }
    const call = Fixtures.success(Fixtures.normalize("openai/audio_transcription_duration"))
    expect(JSON.parse(NormalizedCall.toJsonString(call)).usage.audioSeconds).toBe("9.5")
  })

  it("keeps the raw payload in the JSON form", () => {
    const call = Fixtures.success(Fixtures.normalize("openai/embeddings"))
    expect(NormalizedCall.toJson(call).raw).toEqual(Fixtures.load("openai/embeddings").payload)
  })

  it("rejects a reported cost that is not a decimal string", () => {
    const json = NormalizedCall.toJson(Fixtures.success(Fixtures.normalize("xai/chat_completion_reasoning")))
    expect(() => NormalizedCall.fromJson({ ...json, reportedCost: { amount: "1e-5", currency: "USD", source: "x" } })).toThrow()
  })
})
