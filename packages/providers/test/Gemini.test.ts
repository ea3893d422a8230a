import { describe, expect, it } from "vitest"
import { Normalize } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const response = (usageMetadata: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
  usageMetadata,
  modelVersion: "gemini-2.5-flash",
  responseId: "r1",
  ...extra
})
const run = (payload: unknown, provider = "google") => Normalize.normalize({ provider, payload })

describe("Gemini / Vertex usageMetadata", () => {
  it("promptTokenCount includes cachedContentTokenCount: uncached input is prompt − cached", () => {
    expect(Fixtures.success(run(response({ promptTokenCount: 1000, cachedContentTokenCount: 800, candidatesTokenCount: 10, totalTokenCount: 1010 }))).usage.tokens)
      .toEqual({ inputText: 200, cacheRead: 800, outputText: 10 })
  })

  it("cached content larger than the prompt is an exceeds-parent error", () => {
    const error = Fixtures.failure(run(response({ promptTokenCount: 10, cachedContentTokenCount: 11, candidatesTokenCount: 1, totalTokenCount: 11 })))
    expect(error).toMatchObject({ reason: "exceeds-parent", path: "usageMetadata.cachedContentTokenCount" })
  })

  it("candidatesTokenCount excludes thoughtsTokenCount: both are billed as output", () => {
    expect(Fixtures.usageOf("google/gemini_generate_content_thinking").tokens).toEqual({ inputText: 9, outputText: 28, reasoning: 244 })
  })

  it("toolUsePromptTokenCount is outside promptTokenCount and billed as input", () => {
    expect(Fixtures.usageOf("google/gemini_grounding_tool_use").tokens).toEqual({ inputText: 1661, outputText: 230, reasoning: 95 })
  })

  it("totalTokenCount must equal prompt + tool-use prompt + candidates + thoughts", () => {
    const error = Fixtures.failure(run(response({ promptTokenCount: 9, candidatesTokenCount: 28, thoughtsTokenCount: 244, totalTokenCount: 37 })))
    expect(error).toMatchObject({ reason: "total-mismatch", path: "usageMetadata.totalTokenCount" })
  })

  it("per-modality prompt details map to modality buckets and must add up to the prompt count", () => {
    expect(Fixtures.usageOf("google/gemini_image_output").tokens).toEqual({ inputText: 44, inputImage: 1258, outputImage: 1290 })
    const error = Fixtures.failure(run(response({
      promptTokenCount: 100, candidatesTokenCount: 1, totalTokenCount: 101,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 60 }, { modality: "AUDIO", tokenCount: 30 }]
    })))
    expect(error).toMatchObject({ reason: "total-mismatch", path: "usageMetadata.promptTokenCount" })
  })

  it("audio and video prompt tokens land in their own buckets; DOCUMENT counts as text", () => {
    const usage = Fixtures.success(run(response({
      promptTokenCount: 100, candidatesTokenCount: 1, totalTokenCount: 101,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 10 }, { modality: "DOCUMENT", tokenCount: 20 }, { modality: "AUDIO", tokenCount: 30 }, { modality: "VIDEO", tokenCount: 40 }]
    }))).usage
    expect(usage.tokens).toEqual({ inputText: 30, inputAudio: 30, inputVideo: 40, outputText: 1 })
  })

  it("cacheTokensDetails are taken out of each modality's prompt tokens and are cache reads of that modality", () => {
    expect(Fixtures.usageOf("google/vertex_generate_content_cached").tokens).toEqual({ inputText: 2102, cacheRead: 31480, cacheReadImage: 1288, outputText: 512, reasoning: 720 })
    const audio = Fixtures.success(run(response({
      promptTokenCount: 1000, cachedContentTokenCount: 900, candidatesTokenCount: 5, totalTokenCount: 1005,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 300 }, { modality: "AUDIO", tokenCount: 400 }, { modality: "VIDEO", tokenCount: 300 }],
      cacheTokensDetails: [{ modality: "TEXT", tokenCount: 250 }, { modality: "AUDIO", tokenCount: 400 }, { modality: "VIDEO", tokenCount: 250 }]
    })))
    expect(audio.usage.tokens).toEqual({ inputText: 50, inputVideo: 50, cacheRead: 250, cacheReadAudio: 400, cacheReadVideo: 250, outputText: 5 })
  })

  it("trafficType is the service tier (PROVISIONED_THROUGHPUT kept for the catalog to price)", () => {
    expect(Fixtures.success(Fixtures.normalize("google/vertex_generate_content_cached")).serviceTier).toBe("ON_DEMAND")
  })

  it("grounding webSearchQueries count as web searches", () => {
    expect(Fixtures.usageOf("google/gemini_grounding_tool_use").webSearches).toBe(2)
  })

  it("the aliases gemini and vertex normalize as google", () => {
    const payload = Fixtures.load("google/gemini_generate_content_thinking").payload
    for (const alias of ["gemini", "vertex"]) expect(Fixtures.success(run(payload, alias)).provider).toBe("google")
  })

  it("an error body is a failed-response error", () => {
    expect(Fixtures.failure(run({ error: { code: 429, message: "Resource exhausted", status: "RESOURCE_EXHAUSTED" } })).reason).toBe("failed-response")
  })
})

describe("Gemini streaming", () => {
  it("the last chunk's running totals are the usage; chunks are never summed", () => {
    expect(Fixtures.usageOf("google/gemini_stream_chunks").tokens).toEqual({ inputText: 9, outputText: 23, reasoning: 185 })
  })

  it("Vertex chunks that carry only trafficType keep the tier and do not reset the counts", () => {
    const call = Fixtures.success(Fixtures.normalize("google/vertex_stream_traffic_type_chunks"))
    expect(call.usage.tokens).toEqual({ inputText: 249, outputText: 58, reasoning: 183 })
    expect(call.serviceTier).toBe("PROVISIONED_THROUGHPUT")
  })
})

describe("Gemini corrections", () => {
  it("an absent candidatesTokenCount is derived from the total and recorded (google.candidates-from-total)", () => {
    const call = Fixtures.success(Fixtures.normalize("google/gemini_candidates_count_absent"))
    expect(call.usage.tokens).toEqual({ inputText: 120, outputText: 3, reasoning: 287 })
    expect(call.corrections.map((c) => c.rule)).toEqual(["google.candidates-from-total"])
  })

  it("image-model candidatesTokensDetails that list less than candidatesTokenCount: the unlisted rest is output text (google.candidates-details-incomplete)", () => {
    const call = Fixtures.success(Fixtures.normalize("google/gemini_image_candidates_details_incomplete"))
    expect(call.usage.tokens).toEqual({ inputText: 402, outputImage: 1120, outputText: 295 })
    expect(call.corrections).toEqual([{
      rule: "google.candidates-details-incomplete",
      path: "usageMetadata.candidatesTokensDetails",
      detail: "candidatesTokensDetails list 1120 of candidatesTokenCount = 1415; the unlisted 295 are output text"
    }])
    // Conservation still holds: the buckets add up to the reported total.
    expect(402 + 1120 + 295).toBe(1817)
  })

  it("candidatesTokensDetails adding up to more than candidatesTokenCount are impossible: an exceeds-parent error", () => {
    const error = Fixtures.failure(run(response({ promptTokenCount: 10, candidatesTokenCount: 1000, totalTokenCount: 1010, candidatesTokensDetails: [{ modality: "IMAGE", tokenCount: 1120 }] })))
    expect(error).toMatchObject({ reason: "exceeds-parent", path: "usageMetadata.candidatesTokensDetails" })
  })

  it("the derivation still fails when the total is smaller than its other parts", () => {
    const error = Fixtures.failure(run(response({ promptTokenCount: 120, thoughtsTokenCount: 300, totalTokenCount: 410 })))
    expect(error.reason).toBe("exceeds-parent")
  })
})
