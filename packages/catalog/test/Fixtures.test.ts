/**
 * Every provider payload fixture (copied verbatim from the shared fixture set) names a model that
 * the built-in catalog matches, with a snapshot that prices the fixture's usage buckets. The
 * buckets are derived by hand from each payload following the providers' inclusion rules (see
 * the fixture notes), and the expected costs are computed by hand from list prices:
 * cost = sum(tokens * USD per 1M) / 1e6 + searches * USD per 1k / 1e3.
 */
import { CostEngine, Money, type Usage } from "@tally/core"
import { Result } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import * as Match from "../src/Match.ts"
import { book, shippedCatalog } from "./support/Builders.ts"

const dir = new URL("./fixtures/payloads/", import.meta.url)
type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const load = (file: string): Json => (JSON.parse(readFileSync(new URL(file, dir), "utf8")) as Json).payload as Json

interface Case {
  readonly provider: string
  /** The model as the payload reports it, or as the request named it when the payload has none. */
  readonly model: (payload: Json) => string
  readonly usage: (payload: Json) => Usage.Usage
  readonly definition: string
  /** Exact cost, computed by hand from list prices. */
  readonly total: string
  readonly at?: string
}

/** Reports without a model: nothing to match. Listed so no fixture is skipped silently. */
const NO_MODEL: Readonly<Record<string, string>> = {
  "openai/org_costs.json": "an organization cost report: amounts per bucket, no model",
  "openai/org_usage_completions.json": "an organization usage report grouped without a model (model: null)"
}

const AT = "2026-05-01T12:00:00Z"
const tokens = (t: Usage.Usage["tokens"], extra: Omit<Usage.Usage, "tokens"> = {}): Usage.Usage => ({ tokens: t, ...extra })

const CASES: Readonly<Record<string, Case>> = {
  "anthropic/messages_basic.json": {
    provider: "anthropic",
    model: (p) => p.model,
    usage: (p) => tokens({ inputText: p.usage.input_tokens, outputText: p.usage.output_tokens }),
    definition: "anthropic/claude-sonnet-4-5",
    total: "0.000471" // 12 * 3 + 29 * 15
  },
  "anthropic/messages_cache_read_1h_ttl.json": {
    provider: "anthropic",
    model: (p) => p.model,
    usage: (p) => tokens({
      inputText: p.usage.input_tokens,
      cacheWrite5m: p.usage.cache_creation.ephemeral_5m_input_tokens,
      cacheWrite1h: p.usage.cache_creation.ephemeral_1h_input_tokens,
      cacheRead: p.usage.cache_read_input_tokens,
      outputText: p.usage.output_tokens
    }),
    definition: "anthropic/claude-sonnet-4-5",
    total: "0.0224316" // 21 * 3 + 1824 * 6 + 18432 * 0.3 + 393 * 15
  },
  "anthropic/messages_stream_basic.json": {
    provider: "anthropic",
    model: (p) => p.events[0].message.model,
    // message_delta usage is cumulative and final; input_tokens only in message_start.
    usage: (p) => tokens({ inputText: p.events[0].message.usage.input_tokens, outputText: p.events.find((e: Json) => e.type === "message_delta").usage.output_tokens }),
    definition: "anthropic/claude-3-opus-latest",
    total: "0.000615" // 11 * 15 + 6 * 75
  },
  "anthropic/messages_web_search.json": {
    provider: "anthropic",
    model: (p) => p.model,
    usage: (p) => tokens({ inputText: p.usage.input_tokens, outputText: p.usage.output_tokens }, { webSearches: p.usage.server_tool_use.web_search_requests }),
    definition: "anthropic/claude-haiku-4-5",
    total: "0.022121" // 11306 * 1 + 163 * 5, + 1 search at 10 per 1k
  },
  "anthropic/admin_cost_report.json": {
    provider: "anthropic",
    model: (p) => p.data[0].results[0].model,
    // A cost report: one token of each reported token type and one search, to show each is priced.
    usage: () => tokens({ inputText: 1_000_000, outputText: 1_000_000 }, { webSearches: 1000 }),
    definition: "anthropic/claude-sonnet-4-0",
    total: "28" // 3 + 15 + 10
  },
  "azure/chat_completion_content_filter.json": {
    provider: "azure",
    model: (p) => p.model,
    usage: (p) => tokens({ inputText: p.usage.prompt_tokens, outputText: p.usage.completion_tokens }),
    definition: "openai/gpt-4o",
    total: "0.0056525" // 33 * 2.5 + 557 * 10 (Azure falls back to OpenAI prices)
  },
  "bedrock/converse_basic.json": {
    provider: "bedrock",
    // Converse responses carry no model; the request's modelId (an Anthropic model) is not recorded.
    model: () => "us.anthropic.claude-sonnet-4-20250514-v1:0",
    usage: (p) => tokens({ inputText: p.usage.inputTokens, cacheRead: p.usage.cacheReadInputTokens, outputText: p.usage.outputTokens }),
    definition: "aws/regional.anthropic.claude-sonnet-4-20250514-v1:0",
    total: "0.000921" // 22 * 3 + 57 * 15
  },
  "bedrock/converse_prompt_cache.json": {
    provider: "bedrock",
    model: () => "us.anthropic.claude-sonnet-4-5-20250929-v1:0", // from the fixture's api line
    usage: (p) => tokens({
      inputText: p.usage.inputTokens,
      cacheRead: p.usage.cacheReadInputTokens,
      cacheWrite1h: p.usage.cacheDetails.find((d: Json) => d.ttl === "1h").inputTokens,
      cacheWrite5m: p.usage.cacheDetails.find((d: Json) => d.ttl === "5m").inputTokens,
      outputText: p.usage.outputTokens
    }),
    definition: "aws/regional.anthropic.claude-sonnet-4-5-20250929-v1:0",
    // Regional endpoint (+10%): 24 * 3.3 + 5120 * 0.33 + (1200 + 610) * 4.125 + 412 * 16.5;
    // the source has no separate 1h write price for Bedrock, so 1h writes use the write price.
    total: "0.01603305"
  },
  "cohere/chat_v2.json": {
    provider: "cohere",
    model: () => "command-r-plus", // v2 chat bodies carry no model; the request named it
    usage: (p) => tokens({ inputText: p.usage.billed_units.input_tokens, outputText: p.usage.billed_units.output_tokens }),
    definition: "cohere/command-r-plus",
    total: "0.0001" // 12 * 2.5 + 7 * 10
  },
  "deepseek/chat_completion_cache_hit.json": {
    provider: "deepseek",
    model: (p) => p.model,
    usage: (p) => tokens({ inputText: p.usage.prompt_cache_miss_tokens, cacheRead: p.usage.prompt_cache_hit_tokens, outputText: p.usage.completion_tokens }),
    definition: "deepseek/deepseek-chat",
    total: "0.00027392" // standard hours (12:00 UTC): 128 * 0.27 + 1408 * 0.07 + 128 * 1.1
  },
  "google/gemini_generate_content_thinking.json": {
    provider: "google",
    model: (p) => p.modelVersion,
    // candidates exclude thoughts; both are billed as output.
    usage: (p) => tokens({ inputText: p.usageMetadata.promptTokenCount, outputText: p.usageMetadata.candidatesTokenCount, reasoning: p.usageMetadata.thoughtsTokenCount }),
    definition: "google/gemini-3-pro-preview",
    total: "0.003282" // 9 * 2 + (28 + 244) * 12
  },
  "google/gemini_stream_chunks.json": {
    provider: "google",
    model: (p) => p.chunks.at(-1).modelVersion,
    usage: (p) => {
      const u = p.chunks.at(-1).usageMetadata // running totals: the last chunk
      return tokens({ inputText: u.promptTokenCount, outputText: u.candidatesTokenCount, reasoning: u.thoughtsTokenCount })
    },
    definition: "google/gemini-3-pro-preview",
    total: "0.002514" // 9 * 2 + (23 + 185) * 12
  },
  "mistral/chat_completion.json": {
    provider: "mistral",
    model: (p) => p.model,
    usage: (p) => tokens({ inputText: p.usage.prompt_tokens, outputText: p.usage.completion_tokens }),
    definition: "mistral/mistral-small-latest",
    total: "0.0001315" // 13 * 0.1 + 434 * 0.3
  },
  "openai/audio_transcription_tokens.json": {
    provider: "openai",
    model: () => "gpt-4o-transcribe", // transcription responses carry no model
    usage: (p) => tokens({ inputText: p.usage.input_token_details.text_tokens, inputAudio: p.usage.input_token_details.audio_tokens, outputText: p.usage.output_tokens }),
    definition: "openai/gpt-4o-transcribe",
    total: "0.000534" // 14 * 6 + 45 * 10
  },
  "openai/batch_output_line.json": {
    provider: "openai",
    model: (p) => p.response.body.model,
    usage: (p) => tokens({ inputText: p.response.body.usage.prompt_tokens, outputText: p.response.body.usage.completion_tokens }, { batch: true }),
    definition: "openai/gpt-4o-mini",
    // The Batch API bills 50% of list (supplement entry openai-batch): (24 * 0.15 + 15 * 0.6) / 2 per 1M.
    total: "0.0000063"
  },
  "openai/chat_completion_basic.json": {
    provider: "openai",
    model: (p) => p.model,
    usage: (p) => tokens({ inputText: p.usage.prompt_tokens, outputText: p.usage.completion_tokens }),
    definition: "openai/gpt-4.1-nano",
    total: "0.0001468" // 16 * 0.1 + 363 * 0.4
  },
  "openai/chat_completion_prompt_cached.json": {
    provider: "openai",
    model: (p) => p.model,
    // prompt_tokens include cached_tokens.
    usage: (p) => tokens({ inputText: p.usage.prompt_tokens - p.usage.prompt_tokens_details.cached_tokens, cacheRead: p.usage.prompt_tokens_details.cached_tokens, outputText: p.usage.completion_tokens }),
    definition: "openai/gpt-4o",
    total: "0.005615" // 86 * 2.5 + 1920 * 1.25 + 300 * 10
  },
  "openai/chat_completion_reasoning.json": {
    provider: "openai",
    model: (p) => p.model,
    // completion_tokens include reasoning_tokens.
    usage: (p) => tokens({ inputText: p.usage.prompt_tokens, outputText: p.usage.completion_tokens - p.usage.completion_tokens_details.reasoning_tokens, reasoning: p.usage.completion_tokens_details.reasoning_tokens }),
    definition: "openai/o4-mini",
    total: "0.0046431" // 81 * 1.1 + (203 + 832) * 4.4
  },
  "openai/embeddings.json": {
    provider: "openai",
    model: (p) => p.model,
    usage: (p) => tokens({ embedding: p.usage.prompt_tokens }),
    definition: "openai/text-embedding-3-small",
    total: "0.00000024" // 12 * 0.02
  },
  "openai/images_generation_gpt_image.json": {
    provider: "openai",
    model: () => "gpt-image-1", // image responses carry no model
    usage: (p) => tokens({ inputText: p.usage.input_tokens_details.text_tokens, inputImage: p.usage.input_tokens_details.image_tokens, outputImage: p.usage.output_tokens }),
    definition: "openai/gpt-image-1",
    total: "0.00245" // 10 * 5 + 40 * 10 + 50 * 40
  },
  "openai/responses_reasoning.json": {
    provider: "openai",
    model: (p) => p.model,
    usage: (p) => tokens({ inputText: p.usage.input_tokens, outputText: p.usage.output_tokens - p.usage.output_tokens_details.reasoning_tokens, reasoning: p.usage.output_tokens_details.reasoning_tokens }),
    definition: "openai/o1",
    total: "0.063315" // 81 * 15 + 1035 * 60
  },
  "xai/chat_completion_reasoning.json": {
    provider: "xai",
    model: (p) => p.model,
    // xAI chat: prompt includes cached; completion EXCLUDES reasoning.
    usage: (p) => tokens({
      inputText: p.usage.prompt_tokens - p.usage.prompt_tokens_details.cached_tokens,
      cacheRead: p.usage.prompt_tokens_details.cached_tokens,
      outputText: p.usage.completion_tokens,
      reasoning: p.usage.completion_tokens_details.reasoning_tokens
    }),
    definition: "x-ai/grok-3-mini",
    total: "0.00011765" // 10 * 0.3 + 2 * 0.075 + 229 * 0.5
  }
}

const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".json")).sort()
const priceBook = () => book({ builtIn: shippedCatalog() })

describe("payload fixtures against the built-in catalog", () => {
  it("covers every fixture file", () => {
    expect(files.length).toBeGreaterThanOrEqual(24)
    for (const file of files) expect(file in CASES || file in NO_MODEL, file).toBe(true)
    for (const file of Object.keys(NO_MODEL)) expect(JSON.stringify(load(file))).not.toMatch(/"model":\s*"/)
  })

  it.each(Object.entries(CASES))("%s: the model matches and its usage prices to the hand-computed cost", (file, c) => {
    const payload = load(file)
    const m = Result.getOrThrow(Match.match(priceBook(), { provider: c.provider, model: c.model(payload), at: c.at ?? AT }))
    expect(m.definition.id).toBe(c.definition)
    const breakdown = Result.getOrThrow(CostEngine.price(c.usage(payload), m.snapshot))
    expect(Money.format(breakdown.total)).toBe(c.total)
  })

  it("DeepSeek off-peak hours use the discounted snapshot", () => {
    const payload = load("deepseek/chat_completion_cache_hit.json")
    const c = CASES["deepseek/chat_completion_cache_hit.json"]!
    const m = Result.getOrThrow(Match.match(priceBook(), { provider: "deepseek", model: payload.model, at: "2026-05-01T20:00:00Z" }))
    expect(Money.format(Result.getOrThrow(CostEngine.price(c.usage(payload), m.snapshot)).total)).toBe("0.00013696") // 128 * 0.135 + 1408 * 0.035 + 128 * 0.55
  })

  it("xAI's own reported cost (ticks of 1e-10 USD) reconciles exactly with the catalog price", () => {
    const payload = load("xai/chat_completion_reasoning.json")
    const c = CASES["xai/chat_completion_reasoning.json"]!
    const m = Result.getOrThrow(Match.match(priceBook(), { provider: "xai", model: payload.model, at: AT }))
    const total = Result.getOrThrow(CostEngine.price(c.usage(payload), m.snapshot)).total
    expect(total.eq(new Money.Decimal(payload.usage.cost_in_usd_ticks).times("1e-10"))).toBe(true)
  })

  it("prices a batch output line at the published batch rate (50% of list) and says so on every line", () => {
    const payload = load("openai/batch_output_line.json")
    const c = CASES["openai/batch_output_line.json"]!
    const m = Result.getOrThrow(Match.match(priceBook(), { provider: "openai", model: c.model(payload), at: AT }))
    const lines = Result.getOrThrow(CostEngine.price(c.usage(payload), m.snapshot)).lines
    expect(lines.every((l) => l.conditions.includes("batch:-50%"))).toBe(true)
  })
})
