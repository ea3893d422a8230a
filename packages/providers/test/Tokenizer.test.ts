import { describe, expect, it } from "vitest"
import { Normalize, Tokenizer } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

describe("Tokenizer", () => {
  it("loads no ranks until an encoding is used, then each encoding once", () => {
    expect(Tokenizer.loadedEncodings()).toEqual([])
    Tokenizer.count("hello world", "o200k_base")
    Tokenizer.count("hello again", "o200k_base")
    expect(Tokenizer.loadedEncodings()).toEqual(["o200k_base"])
    Tokenizer.count("hello world", "cl100k_base")
    expect(Tokenizer.loadedEncodings()).toEqual(["o200k_base", "cl100k_base"])
  })

  it("chooses o200k_base for the gpt-4o, gpt-4.1, gpt-5 and o-series families, cl100k_base for gpt-4 and gpt-3.5", () => {
    const pick = (model: string) => Tokenizer.encodingForModel(model)
    for (const model of ["gpt-4o-mini-2024-07-18", "gpt-4.1-nano", "gpt-5", "o3-mini", "o4-mini-2025-04-16", "openai/gpt-4o", "us.openai.gpt-oss-120b-1:0"]) {
      expect(pick(model), model).toEqual({ encoding: "o200k_base", approximate: false })
    }
    for (const model of ["gpt-4-0613", "gpt-4-turbo", "gpt-3.5-turbo", "text-embedding-3-small"]) {
      expect(pick(model), model).toEqual({ encoding: "cl100k_base", approximate: false })
    }
  })

  it("uses cl100k_base as a marked approximation for non-OpenAI families", () => {
    for (const model of ["claude-sonnet-4-5", "gemini-2.5-pro", "mistral-small-latest", undefined]) {
      expect(Tokenizer.encodingForModel(model)).toEqual({ encoding: "cl100k_base", approximate: true })
    }
  })

  it("counts known strings exactly", () => {
    expect(Tokenizer.count("hello world", "cl100k_base")).toBe(2)
    expect(Tokenizer.count("hello world", "o200k_base")).toBe(2)
    expect(Tokenizer.count("", "o200k_base")).toBe(0)
  })

  it("counts special-token markers in user text as ordinary text instead of throwing", () => {
    expect(Tokenizer.count("<|endoftext|>", "cl100k_base")).toBeGreaterThan(1)
  })

  it("adds the cookbook chat overheads: 3 per message, 1 per name, 3 to prime the reply", () => {
    const messages = [{ role: "system", content: "You are terse." }, { role: "user", content: "Say hello.", name: "ann" }]
    const content = messages.reduce((n, m) => n + Tokenizer.count(m.role, "o200k_base") + Tokenizer.count(m.content, "o200k_base"), 0)
    expect(Tokenizer.countChat(messages, "o200k_base")).toBe(3 + 2 * 3 + content + 1 + Tokenizer.count("ann", "o200k_base"))
  })

  it("estimates a call with no usage from the request and the response text, marking it estimated", () => {
    const fixture = Fixtures.load("openai/chat_stream_without_usage")
    const call = Fixtures.success(Fixtures.normalize("openai/chat_stream_without_usage"))
    const request = fixture.request as { messages: Array<{ role: string; content: string }> }
    expect(call.estimated).toBe(true)
    expect(call.encoding).toBe("o200k_base")
    expect(call.usage.tokens.inputText).toBe(Tokenizer.countChat(request.messages, "o200k_base"))
    expect(call.usage.tokens.outputText).toBe(Tokenizer.count("Hello there!", "o200k_base"))
  })

  it("estimates Anthropic, Gemini and Responses request formats", () => {
    const anthropic = Tokenizer.estimateRequest({ system: "Be brief.", messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }] }, "cl100k_base", "messages")
    expect(anthropic?.input).toBe(Tokenizer.countChat([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }], "cl100k_base"))
    const gemini = Tokenizer.estimateRequest({ contents: [{ role: "user", parts: [{ text: "Hi" }] }] }, "cl100k_base", "generateContent")
    expect(gemini?.input).toBe(Tokenizer.countChat([{ role: "user", content: "Hi" }], "cl100k_base"))
    const responses = Tokenizer.estimateRequest({ instructions: "Be brief.", input: "Hi" }, "o200k_base", "responses")
    expect(responses?.input).toBe(Tokenizer.countChat([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }], "o200k_base"))
  })

  it("estimates embeddings requests as embedding tokens without chat overheads", () => {
    const call = Fixtures.success(Normalize.normalize({
      provider: "openai", api: "embeddings",
      payload: { object: "list", data: [{ object: "embedding", index: 0, embedding: [0.1] }], model: "text-embedding-3-small" },
      request: { model: "text-embedding-3-small", input: ["hello world", "hello"] }
    }))
    expect(call.usage.tokens).toEqual({ embedding: 3 })
    expect(call.encoding).toBe("cl100k_base")
  })

  it("counts tool definitions as their JSON text", () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }]
    const withTools = Tokenizer.estimateRequest({ messages: [{ role: "user", content: "Hi" }], tools }, "o200k_base", "chat.completions")
    const without = Tokenizer.estimateRequest({ messages: [{ role: "user", content: "Hi" }] }, "o200k_base", "chat.completions")
    expect(withTools!.input - without!.input).toBe(Tokenizer.count(JSON.stringify(tools), "o200k_base"))
  })

  it("a request with no prompt text cannot be estimated", () => {
    const error = Fixtures.failure(Fixtures.normalize("openai/chat_stream_without_usage", { request: { model: "gpt-4o" } }))
    expect(error).toMatchObject({ reason: "missing-usage", path: "request" })
  })

  it("audio, image and realtime calls without usage are never estimated from text", () => {
    const error = Fixtures.failure(Normalize.normalize({ provider: "openai", api: "audio.transcriptions", payload: { text: "hello" }, request: { model: "whisper-1" } }))
    expect(error.reason).toBe("missing-usage")
  })
})
