/**
 * End to end over every call payload fixture: `tally cost --provider <p> --at 2026-05-01 <fixture>`
 * (normalizer, built-in catalog, matcher and engine; the first fixture in a spawned process, the
 * others through `Cli.run`, the function bin.ts prints) against a total computed
 * by hand. Each case lists its usage buckets as the fixture's notes define them and the price per
 * 1M tokens (per 1k searches) looked up in packages/catalog/data/builtin-catalog.json for the
 * matched definition; the arithmetic is in the comment and is re-added exactly below as a check
 * on the hand computation.
 *
 * 2026-05-01 means 00:00 UTC: inside time-of-day windows that wrap midnight (DeepSeek's off-peak).
 */
import { readdirSync } from "node:fs"
import { availableParallelism } from "node:os"
import { join } from "node:path"
import { Money } from "@tally/core"
import { beforeAll, describe, expect, it } from "vitest"
import { pool, root, type Run, tallyAsync, tallyHere } from "./support/Tally.ts"

const dir = join(root, "apps/worker/test/fixtures/payloads")
const AT = "2026-05-01"

/**
 * [component, quantity, list rate (USD per 1M tokens, or per 1k searches), the line's conditions
 * when it has any (a rate fallback the catalog names, e.g. reasoning at the output text rate)]
 */
type Line = readonly [string, number, string, ReadonlyArray<string>?]

interface Case {
  readonly provider: string
  /** For payloads that name no model: the model the request used. */
  readonly model?: string
  readonly expect: {
    readonly model: string
    readonly definition: string
    readonly tokens: Readonly<Record<string, number>>
    readonly webSearches?: number
    readonly lines: ReadonlyArray<Line>
    readonly total: string
    readonly costSource: "computed" | "provider"
    /** Conditions on every line (else each line's own, else none). */
    readonly conditions?: ReadonlyArray<string>
    /** A factor on every token line (the batch discount), as a decimal. */
    readonly factor?: string
  }
}

/** Provider cost and usage reports: reconciliation input, not calls, so `tally cost` does not take them. */
const EXCLUDED: Readonly<Record<string, string>> = {
  "anthropic/admin_cost_report.json": "Admin API cost report (amounts in cents per day bucket): reconciliation input, not a call",
  "openai/org_costs.json": "organization Costs API page (USD amounts per day bucket): reconciliation input, not a call",
  "openai/org_usage_completions.json": "organization Usage API page (token totals per bucket, model null): reconciliation input, not a call"
}

/** Priced in CliCost.test.ts with a custom catalog carrying the batch discount (the built-in one has none yet). */
const PRICED_ELSEWHERE: Readonly<Record<string, string>> = {
  "anthropic/message_batch_result_line.json": "a Message Batches result: priced at batch rates in CliCost.test.ts",
  "openai/batch_object_usage.json": "a Batch object's batch-level usage: priced at batch rates in CliCost.test.ts"
}

const CASES: Readonly<Record<string, Case>> = {
  "anthropic/messages_basic.json": {
    provider: "anthropic",
    expect: {
      model: "claude-sonnet-4-5-20250929",
      definition: "anthropic/claude-sonnet-4-5",
      tokens: { inputText: 12, outputText: 29 },
      // 12 input × $3/M + 29 output × $15/M = 0.000036 + 0.000435
      lines: [["inputText", 12, "3"], ["outputText", 29, "15"]],
      total: "0.000471",
      costSource: "computed"
    }
  },
  "anthropic/messages_cache_read_1h_ttl.json": {
    provider: "anthropic",
    expect: {
      model: "claude-sonnet-4-5-20250929",
      definition: "anthropic/claude-sonnet-4-5",
      // input_tokens excludes the cache; all 1824 writes are 1h (ephemeral_5m 0).
      tokens: { inputText: 21, cacheRead: 18432, cacheWrite1h: 1824, outputText: 393 },
      // 21 input × $3/M + 18432 cache read × $0.3/M + 1824 1h write × $6/M + 393 output × $15/M
      // = 0.000063 + 0.0055296 + 0.010944 + 0.005895
      lines: [["inputText", 21, "3"], ["cacheRead", 18432, "0.3"], ["cacheWrite1h", 1824, "6"], ["outputText", 393, "15"]],
      total: "0.0224316",
      costSource: "computed"
    }
  },
  "anthropic/messages_stream_basic.json": {
    provider: "anthropic",
    expect: {
      model: "claude-3-opus-latest",
      definition: "anthropic/claude-3-opus-latest",
      // message_delta's output count (6) is cumulative: not 1 + 6.
      tokens: { inputText: 11, outputText: 6 },
      // 11 input × $15/M + 6 output × $75/M = 0.000165 + 0.00045
      lines: [["inputText", 11, "15"], ["outputText", 6, "75"]],
      total: "0.000615",
      costSource: "computed"
    }
  },
  "anthropic/messages_web_search.json": {
    provider: "anthropic",
    expect: {
      model: "claude-haiku-4-5-20251001",
      definition: "anthropic/claude-haiku-4-5",
      tokens: { inputText: 11306, outputText: 163 },
      webSearches: 1,
      // 11306 input × $1/M + 163 output × $5/M + 1 search × $10/1k = 0.011306 + 0.000815 + 0.01
      lines: [["inputText", 11306, "1"], ["outputText", 163, "5"], ["webSearches", 1, "10"]],
      total: "0.022121",
      costSource: "computed"
    }
  },
  "azure/chat_completion_content_filter.json": {
    provider: "azure",
    expect: {
      model: "gpt-4o-2024-08-06",
      // Azure has no gpt-4o definition of its own and falls back to OpenAI's.
      definition: "openai/gpt-4o",
      tokens: { inputText: 33, outputText: 557 },
      // 33 input × $2.5/M + 557 output × $10/M = 0.0000825 + 0.00557
      lines: [["inputText", 33, "2.5"], ["outputText", 557, "10"]],
      total: "0.0056525",
      costSource: "computed"
    }
  },
  "bedrock/converse_basic.json": {
    provider: "bedrock",
    // Converse names no model; the notes say an Anthropic model served it. Any Bedrock model id fits the payload.
    model: "anthropic.claude-3-5-haiku-20241022-v1:0",
    expect: {
      model: "anthropic.claude-3-5-haiku-20241022-v1:0",
      definition: "aws/regional.anthropic.claude-3-5-haiku-20241022-v1:0",
      tokens: { inputText: 22, outputText: 57 },
      // 22 input × $0.8/M + 57 output × $4/M = 0.0000176 + 0.000228
      lines: [["inputText", 22, "0.8"], ["outputText", 57, "4"]],
      total: "0.0002456",
      costSource: "computed"
    }
  },
  "bedrock/converse_prompt_cache.json": {
    provider: "bedrock",
    // The model the fixture's api line names (POST /model/<id>/converse).
    model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    expect: {
      model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
      // A geographic (us.) profile: list price + 10% for Sonnet 4.5.
      definition: "aws/regional.anthropic.claude-sonnet-4-5-20250929-v1:0",
      tokens: { inputText: 24, cacheRead: 5120, cacheWrite5m: 610, cacheWrite1h: 1200, outputText: 412 },
      // 24 input × $3.3/M + 5120 cache read × $0.33/M + 610 5m write × $4.125/M + 1200 1h write × $4.125/M
      // + 412 output × $16.5/M = 0.0000792 + 0.0016896 + 0.00251625 + 0.00495 + 0.006798.
      // The catalog has one Bedrock cache-write price, so 1h writes price as 5m writes (docs/catalog.md).
      lines: [["inputText", 24, "3.3"], ["cacheRead", 5120, "0.33"], ["cacheWrite5m", 610, "4.125"], ["cacheWrite1h", 1200, "4.125", ["cacheWrite1h:priced-at-cacheWrite5m-rate"]], ["outputText", 412, "16.5"]],
      total: "0.01603305",
      costSource: "computed"
    }
  },
  "cohere/chat_v2.json": {
    provider: "cohere",
    // v2 chat bodies carry no model; Command A is Cohere's current chat model.
    model: "command-a-03-2025",
    expect: {
      model: "command-a-03-2025",
      definition: "cohere/command-a",
      // billed_units (12 / 7) are billed, not the raw 507 / 10 tokens.
      tokens: { inputText: 12, outputText: 7 },
      // 12 input × $2.5/M + 7 output × $10/M = 0.00003 + 0.00007
      lines: [["inputText", 12, "2.5"], ["outputText", 7, "10"]],
      total: "0.0001",
      costSource: "computed"
    }
  },
  "deepseek/chat_completion_cache_hit.json": {
    provider: "deepseek",
    expect: {
      model: "deepseek-chat",
      definition: "deepseek/deepseek-chat",
      tokens: { inputText: 128, cacheRead: 1408, outputText: 128 },
      // 00:00 UTC is outside the 00:30-16:30 standard window: the off-peak snapshot (version 1).
      // 128 miss × $0.135/M + 1408 hit × $0.035/M + 128 output × $0.55/M = 0.00001728 + 0.00004928 + 0.0000704
      lines: [["inputText", 128, "0.135"], ["cacheRead", 1408, "0.035"], ["outputText", 128, "0.55"]],
      total: "0.00013696",
      costSource: "computed"
    }
  },
  "google/gemini_generate_content_thinking.json": {
    provider: "google",
    expect: {
      model: "gemini-3-pro-preview",
      definition: "google/gemini-3-pro-preview",
      // candidatesTokenCount excludes thoughts; both are output.
      tokens: { inputText: 9, outputText: 28, reasoning: 244 },
      // 9 input × $2/M + 28 output × $12/M + 244 thoughts × $12/M = 0.000018 + 0.000336 + 0.002928
      lines: [["inputText", 9, "2"], ["outputText", 28, "12"], ["reasoning", 244, "12", ["reasoning:priced-at-outputText-rate"]]],
      total: "0.003282",
      costSource: "computed"
    }
  },
  "google/gemini_stream_chunks.json": {
    provider: "google",
    expect: {
      model: "gemini-3-pro-preview",
      definition: "google/gemini-3-pro-preview",
      // The last chunk's running totals, never the sum of chunks.
      tokens: { inputText: 9, outputText: 23, reasoning: 185 },
      // 9 input × $2/M + 23 output × $12/M + 185 thoughts × $12/M = 0.000018 + 0.000276 + 0.00222
      lines: [["inputText", 9, "2"], ["outputText", 23, "12"], ["reasoning", 185, "12", ["reasoning:priced-at-outputText-rate"]]],
      total: "0.002514",
      costSource: "computed"
    }
  },
  "mistral/chat_completion.json": {
    provider: "mistral",
    expect: {
      model: "mistral-small-latest",
      definition: "mistral/mistral-small-latest",
      tokens: { inputText: 13, outputText: 434 },
      // 13 input × $0.1/M + 434 output × $0.3/M = 0.0000013 + 0.0001302
      lines: [["inputText", 13, "0.1"], ["outputText", 434, "0.3"]],
      total: "0.0001315",
      costSource: "computed"
    }
  },
  "openai/audio_transcription_tokens.json": {
    provider: "openai",
    // Transcription responses carry no model; the spec example is gpt-4o-transcribe's.
    model: "gpt-4o-transcribe",
    expect: {
      model: "gpt-4o-transcribe",
      definition: "openai/gpt-4o-transcribe",
      // input_token_details: 0 text tokens, 14 audio tokens.
      tokens: { inputAudio: 14, outputText: 45 },
      // 14 audio input × $6/M + 45 output × $10/M = 0.000084 + 0.00045
      lines: [["inputAudio", 14, "6"], ["outputText", 45, "10"]],
      total: "0.000534",
      costSource: "computed"
    }
  },
  "openai/batch_output_line.json": {
    provider: "openai",
    expect: {
      model: "gpt-4o-mini",
      definition: "openai/gpt-4o-mini",
      tokens: { inputText: 24, outputText: 15 },
      // (24 input × $0.15/M + 15 output × $0.6/M) × 50% batch discount = (0.0000036 + 0.000009) × 0.5
      lines: [["inputText", 24, "0.15"], ["outputText", 15, "0.6"]],
      total: "0.0000063",
      costSource: "computed",
      conditions: ["batch:-50%"],
      factor: "0.5"
    }
  },
  "openai/chat_completion_basic.json": {
    provider: "openai",
    expect: {
      model: "gpt-4.1-nano-2025-04-14",
      definition: "openai/gpt-4.1-nano",
      tokens: { inputText: 16, outputText: 363 },
      // 16 input × $0.1/M + 363 output × $0.4/M = 0.0000016 + 0.0001452
      lines: [["inputText", 16, "0.1"], ["outputText", 363, "0.4"]],
      total: "0.0001468",
      costSource: "computed"
    }
  },
  "openai/chat_completion_prompt_cached.json": {
    provider: "openai",
    expect: {
      model: "gpt-4o-2024-08-06",
      definition: "openai/gpt-4o",
      // prompt_tokens 2006 include the 1920 cached: 86 uncached.
      tokens: { inputText: 86, cacheRead: 1920, outputText: 300 },
      // 86 input × $2.5/M + 1920 cached × $1.25/M + 300 output × $10/M = 0.000215 + 0.0024 + 0.003
      lines: [["inputText", 86, "2.5"], ["cacheRead", 1920, "1.25"], ["outputText", 300, "10"]],
      total: "0.005615",
      costSource: "computed"
    }
  },
  "openai/chat_completion_reasoning.json": {
    provider: "openai",
    expect: {
      model: "o4-mini-2025-04-16",
      definition: "openai/o4-mini",
      // completion_tokens 1035 include the 832 reasoning tokens: 203 visible.
      tokens: { inputText: 81, outputText: 203, reasoning: 832 },
      // 81 input × $1.1/M + 203 output × $4.4/M + 832 reasoning × $4.4/M = 0.0000891 + 0.0008932 + 0.0036608
      lines: [["inputText", 81, "1.1"], ["outputText", 203, "4.4"], ["reasoning", 832, "4.4", ["reasoning:priced-at-outputText-rate"]]],
      total: "0.0046431",
      costSource: "computed"
    }
  },
  "openai/embeddings.json": {
    provider: "openai",
    expect: {
      model: "text-embedding-3-small",
      definition: "openai/text-embedding-3-small",
      tokens: { embedding: 12 },
      // 12 tokens × $0.02/M
      lines: [["embedding", 12, "0.02"]],
      total: "0.00000024",
      costSource: "computed"
    }
  },
  "openai/images_generation_gpt_image.json": {
    provider: "openai",
    // Image responses carry no model; the spec example is for the gpt-image-1 family.
    model: "gpt-image-1",
    expect: {
      model: "gpt-image-1",
      definition: "openai/gpt-image-1",
      // input 50 = 10 text + 40 image tokens; the 50 output tokens are the image.
      tokens: { inputText: 10, inputImage: 40, outputImage: 50 },
      // 10 text input × $5/M + 40 image input × $10/M + 50 image output × $40/M = 0.00005 + 0.0004 + 0.002
      lines: [["inputText", 10, "5"], ["inputImage", 40, "10"], ["outputImage", 50, "40", ["outputImage:priced-at-outputText-rate"]]],
      total: "0.00245",
      costSource: "computed"
    }
  },
  "openai/responses_usage_only.json": {
    provider: "openai",
    expect: {
      model: "gpt-4.1-2025-04-14",
      definition: "openai/gpt-4.1",
      // No envelope: input_tokens with input/output_tokens_details is the Responses usage.
      tokens: { inputText: 36, outputText: 87 },
      // 36 input × $2/M + 87 output × $8/M = 0.000072 + 0.000696
      lines: [["inputText", 36, "2"], ["outputText", 87, "8"]],
      total: "0.000768",
      costSource: "computed"
    }
  },
  "groq/chat_stream_x_groq_usage.json": {
    provider: "groq",
    expect: {
      model: "gemma2-9b-it",
      definition: "groq/gemma2-9b-it",
      // The finish chunk's x_groq.usage: prompt 18, completion 439.
      tokens: { inputText: 18, outputText: 439 },
      // 18 input × $0.2/M + 439 output × $0.2/M = 0.0000036 + 0.0000878
      lines: [["inputText", 18, "0.2"], ["outputText", 439, "0.2"]],
      total: "0.0000914",
      costSource: "computed"
    }
  },
  "bedrock/invoke_model_stream_final_chunk.json": {
    provider: "bedrock",
    // The fixture carries the request's model (the InvokeModel URL's model id).
    expect: {
      model: "anthropic.claude-3-haiku-20240307-v1:0",
      definition: "aws/regional.anthropic.claude-3-haiku-20240307-v1:0",
      // amazon-bedrock-invocationMetrics: inputTokenCount 1250, outputTokenCount 380.
      tokens: { inputText: 1250, outputText: 380 },
      // 1250 input × $0.25/M + 380 output × $1.25/M = 0.0003125 + 0.000475
      lines: [["inputText", 1250, "0.25"], ["outputText", 380, "1.25"]],
      total: "0.0007875",
      costSource: "computed"
    }
  },
  "google/gemini_image_candidates_details_incomplete.json": {
    provider: "google",
    expect: {
      model: "gemini-3-pro-image",
      definition: "google/gemini-3-pro-image-preview",
      // candidatesTokenCount 1415, details list IMAGE 1120: the unlisted 295 are output text (correction).
      tokens: { inputText: 402, outputText: 295, outputImage: 1120 },
      // 402 input × $2/M + 295 output text × $12/M + 1120 output image × $120/M = 0.000804 + 0.00354 + 0.1344
      lines: [["inputText", 402, "2"], ["outputText", 295, "12"], ["outputImage", 1120, "120"]],
      total: "0.138744",
      costSource: "computed"
    }
  },
  "google/vertex_predict_text_embeddings.json": {
    provider: "google",
    expect: {
      model: "gemini-embedding-001",
      definition: "google/gemini-embedding-001",
      // token_count 6 + 11 over the two predictions.
      tokens: { embedding: 17 },
      // 17 embedding tokens × $0.15/M
      lines: [["embedding", 17, "0.15"]],
      total: "0.00000255",
      costSource: "computed"
    }
  },
  "openai/responses_reasoning.json": {
    provider: "openai",
    expect: {
      model: "o1-2024-12-17",
      definition: "openai/o1",
      // output_tokens 1035 include the 832 reasoning tokens.
      tokens: { inputText: 81, outputText: 203, reasoning: 832 },
      // 81 input × $15/M + 203 output × $60/M + 832 reasoning × $60/M = 0.001215 + 0.01218 + 0.04992
      lines: [["inputText", 81, "15"], ["outputText", 203, "60"], ["reasoning", 832, "60", ["reasoning:priced-at-outputText-rate"]]],
      total: "0.063315",
      costSource: "computed"
    }
  },
  "xai/chat_completion_reasoning.json": {
    provider: "xai",
    expect: {
      model: "grok-3-mini",
      definition: "x-ai/grok-3-mini",
      // prompt 12 includes 2 cached; completion 1 EXCLUDES the 228 reasoning tokens.
      tokens: { inputText: 10, cacheRead: 2, outputText: 1, reasoning: 228 },
      // 10 input × $0.3/M + 2 cached × $0.075/M + 1 output × $0.5/M + 228 reasoning × $0.5/M
      // = 0.000003 + 0.00000015 + 0.0000005 + 0.000114; billed: xAI's own 1176500 ticks × 1e-10 = the same.
      lines: [["inputText", 10, "0.3"], ["cacheRead", 2, "0.075"], ["outputText", 1, "0.5"], ["reasoning", 228, "0.5", ["reasoning:priced-at-outputText-rate"]]],
      total: "0.00011765",
      costSource: "provider"
    }
  }
}

const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".json")).map((f) => f.split("\\").join("/")).sort()
const results = new Map<string, Run>()

beforeAll(async () => {
  const entries = Object.entries(CASES)
  // The first fixture in a spawned process, as a script runs it; the rest through `Cli.run` in this
  // process (what bin.ts prints), since a process costs about 3 CPU-seconds of module loading.
  const runs = await pool(
    entries.map(([name, c], i) => () => {
      const args = ["cost", "--provider", c.provider, "--at", AT, ...(c.model === undefined ? [] : ["--model", c.model]), join(dir, name)]
      return i === 0 ? tallyAsync(args) : tallyHere(args)
    }),
    Math.max(2, availableParallelism())
  )
  entries.forEach(([name], i) => results.set(name, runs[i]!))
}, 600_000)

/** The hand computation re-added: quantity × rate / 1M per token line, / 1k per search. */
const handTotal = (lines: ReadonlyArray<Line>, factor = "1") =>
  Money.format(Money.sum(lines.map(([component, quantity, rate]) =>
    new Money.Decimal(rate).times(quantity).div(component === "webSearches" ? 1000 : 1_000_000)
  )).times(factor))

describe("tally cost over every call payload fixture", () => {
  it("every fixture is either priced here or excluded with a reason", () => {
    expect(files.length).toBe(31)
    for (const file of files) expect(file in CASES || file in EXCLUDED || file in PRICED_ELSEWHERE, file).toBe(true)
    for (const file of Object.keys({ ...CASES, ...EXCLUDED, ...PRICED_ELSEWHERE })) expect(files, file).toContain(file)
    expect(Object.keys(CASES)).toHaveLength(26)
  })

  it.each(Object.entries(CASES))("%s", (name, c) => {
    const e = c.expect
    expect(handTotal(e.lines, e.factor), "the hand arithmetic in the table").toBe(e.total)
    const run = results.get(name)!
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const cost = JSON.parse(run.stdout) as {
      model: string
      definition: string
      usage: { tokens: Record<string, number>; webSearches?: number }
      lines: Array<{ component: string; quantity: string; listRate: string; conditions: Array<string> }>
      total: string
      computedTotal: string
      currency: string
      costSource: string
    }
    expect(cost.model).toBe(e.model)
    expect(cost.definition).toBe(e.definition)
    expect(cost.usage.tokens).toEqual(e.tokens)
    expect(cost.usage.webSearches).toBe(e.webSearches)
    expect(cost.lines.map((l) => [l.component, Number(l.quantity), l.listRate])).toEqual(e.lines.map((l) => [l[0], l[1], l[2]]))
    expect(cost.lines.map((l) => l.conditions)).toEqual(e.lines.map((l) => e.conditions ?? l[3] ?? []))
    expect(cost.currency).toBe("USD")
    expect(cost.costSource).toBe(e.costSource)
    expect(cost.computedTotal).toBe(e.total)
    expect(cost.total).toBe(e.total)
  })
})
