import { describe, expect, it } from "vitest"
import { Normalize } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

const run = (payload: unknown) => Normalize.normalize({ provider: "otel", payload })

describe("OpenTelemetry GenAI spans", () => {
  it("gen_ai.usage.input_tokens includes cache reads and writes", () => {
    expect(Fixtures.usageOf("otel/span_attributes").tokens).toEqual({ inputText: 171, cacheRead: 640, outputText: 92 })
  })

  it("gen_ai.usage.output_tokens includes reasoning output tokens", () => {
    expect(Fixtures.success(run({ "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 100, "gen_ai.usage.reasoning.output_tokens": 80 })).usage.tokens)
      .toEqual({ inputText: 5, outputText: 20, reasoning: 80 })
  })

  it("OTLP JSON attributes with intValue strings and the legacy gen_ai.system are read", () => {
    const call = Fixtures.success(Fixtures.normalize("otel/span_otlp_json"))
    expect(call.usage.tokens).toEqual({ inputText: 24, cacheRead: 4096, cacheWrite5m: 1000, outputText: 300 })
    expect([call.modelProvider, call.model]).toEqual(["anthropic", "claude-sonnet-4-5"])
  })

  it("gen_ai.provider.name wins over gen_ai.system, and the response model over the request model", () => {
    const call = Fixtures.success(run({ "gen_ai.system": "az.ai.openai", "gen_ai.provider.name": "azure.ai.openai", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-11-20", "gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 1 }))
    expect([call.modelProvider, call.model]).toEqual(["azure.ai.openai", "gpt-4o-2024-11-20"])
  })

  it("a current attribute and its legacy alias must agree", () => {
    const error = Fixtures.failure(run({ "gen_ai.usage.input_tokens": 10, "gen_ai.usage.prompt_tokens": 11, "gen_ai.usage.output_tokens": 1 }))
    expect(error).toMatchObject({ reason: "inconsistent", path: "[\"gen_ai.usage.prompt_tokens\"]" })
  })

  it("cache tokens that cannot fit in input_tokens mean an exclusive count (otel.input-excludes-cache)", () => {
    const call = Fixtures.success(Fixtures.normalize("otel/span_anthropic_exclusive_input"))
    expect(call.usage.tokens).toEqual({ inputText: 3, cacheRead: 17000, outputText: 250 })
    expect(call.corrections.map((c) => c.rule)).toEqual(["otel.input-excludes-cache"])
  })

  it("a reported total must match the convention in use", () => {
    expect(Fixtures.failure(run({ "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5, "gen_ai.usage.total_tokens": 16 }))).toMatchObject({ reason: "total-mismatch" })
  })

  it("an OTLP export with exactly one GenAI span is accepted; with two it asks for one span at a time", () => {
    const span = Fixtures.load("otel/span_otlp_json").payload
    const other = { name: "db.query", attributes: [{ key: "db.system", value: { stringValue: "postgresql" } }] }
    const envelope = (spans: Array<unknown>) => ({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: "x" }, spans }] }] })
    expect(Fixtures.success(run(envelope([other, span]))).usage.tokens.cacheRead).toBe(4096)
    expect(Fixtures.failure(run(envelope([span, span]))).reason).toBe("unsupported")
  })

  it("a non-numeric token attribute is a malformed error naming the OTLP path", () => {
    const error = Fixtures.failure(run({ attributes: [{ key: "gen_ai.usage.input_tokens", value: { intValue: "12x" } }] }))
    expect(error).toMatchObject({ reason: "malformed", path: "attributes[0].value.intValue" })
  })
})
