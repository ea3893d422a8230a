import { describe, expect, it } from "vitest"
import * as ModelName from "../src/ModelName.ts"

const names = (model: string) => ModelName.candidates(model).map((c) => c.name)

describe("model name normalization", () => {
  it("tries the reported name first, lower-cased and trimmed", () => {
    expect(names("  GPT-4o  ")[0]).toBe("gpt-4o")
  })

  it.each([
    ["openai/gpt-4o", "gpt-4o"],
    ["models/gemini-2.5-pro", "gemini-2.5-pro"],
    ["publishers/google/models/gemini-2.0-flash-001", "gemini-2.0-flash-001"]
  ])("strips provider/ prefixes: %s", (model, expected) => {
    expect(names(model)).toContain(expected)
  })

  it.each([
    ["us.anthropic.claude-3-7-sonnet-20250219-v1:0", ["anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet-20250219", "claude-3-7-sonnet-2025-02-19", "claude-3-7-sonnet"]],
    ["eu.meta.llama3-2-3b-instruct-v1:0", ["meta.llama3-2-3b-instruct-v1:0", "llama3-2-3b-instruct-v1:0", "llama3-2-3b-instruct"]],
    ["apac.amazon.nova-pro-v1:0", ["amazon.nova-pro-v1:0", "nova-pro-v1:0", "nova-pro"]],
    ["global.anthropic.claude-sonnet-4-5-20250929-v1:0", ["anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"]]
  ])("strips Bedrock region and vendor prefixes and :0 version suffixes: %s", (model, expected) => {
    const got = names(model)
    for (const n of expected) expect(got).toContain(n)
  })

  it("takes the model id out of Bedrock ARNs", () => {
    expect(names("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"))
      .toContain("us.anthropic.claude-sonnet-4-20250514-v1:0")
    expect(names("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1")).toContain("anthropic.claude-v2:1")
    const custom = ModelName.candidates("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abc123")
    expect(custom.map((c) => c.name)).toContain("amazon.titan-text-express-v1:0:8k")
    expect(custom.at(-1)!.fineTuned).toBe(true)
  })

  it("strips Vertex @version suffixes", () => {
    expect(names("claude-3-5-sonnet-v2@20241022")).toContain("claude-3-5-sonnet-v2")
    expect(names("gemini-1.5-pro@001")).toContain("gemini-1.5-pro")
  })

  it.each([
    ["gpt-4o-2024-08-06", "gpt-4o"],
    ["claude-3-5-sonnet-20241022", "claude-3-5-sonnet"],
    ["command-r-plus-08-2024", "command-r-plus"],
    ["gpt-4-0613", "gpt-4"],
    ["mistral-large-2407", "mistral-large"],
    ["mistral-small-latest", "mistral-small"]
  ])("strips dated snapshot suffixes and -latest: %s", (model, expected) => {
    expect(names(model)).toContain(expected)
  })

  it("rewrites compact dates as dashed ones before dropping them", () => {
    expect(names("claude-3-5-sonnet-20241022")).toEqual(["claude-3-5-sonnet-20241022", "claude-3-5-sonnet-2024-10-22", "claude-3-5-sonnet"])
  })

  it("leaves invalid dates and version numbers alone", () => {
    expect(names("model-20241399")).toEqual(["model-20241399"])
    expect(names("deepseek-v3")).toEqual(["deepseek-v3"])
  })

  it("maps fine-tuned names to their base model and flags them", () => {
    const openai = ModelName.candidates("ft:gpt-4o-mini-2024-07-18:acme:support:AbC123")
    expect(openai[0]!.fineTuned).toBe(false)
    expect(openai[1]).toMatchObject({ name: "gpt-4o-mini-2024-07-18", fineTuned: true })
    expect(openai.at(-1)).toMatchObject({ name: "gpt-4o-mini", fineTuned: true })
    expect(ModelName.candidates("gpt-4o-mini-2024-07-18.ft-0123abcd")[1]).toMatchObject({ name: "gpt-4o-mini-2024-07-18", fineTuned: true })
  })

  it("numbers stages in order and records every step applied", () => {
    const all = ModelName.candidates("openai/gpt-4o-2024-08-06")
    expect(all.map((c) => c.stage)).toEqual(all.map((_, i) => i))
    expect(all.at(-1)!.steps.map((s) => s.step)).toEqual(["provider-prefix", "dated-snapshot"])
  })
})
