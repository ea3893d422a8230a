/**
 * `tally cost` as a script uses it: the real CLI process, the shipped built-in catalog, custom
 * catalog files. Expected totals are computed by hand from the catalog's prices per 1M tokens.
 */
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { oneStderrLine, root, scratch, tally, tallyHere } from "./support/Tally.ts"

const fixtures = join(root, "apps/worker/test/fixtures/payloads")
const { file } = scratch("tally-cli-cost-")

const json = (stdout: string) => JSON.parse(stdout) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** An OpenAI chat completion naming `model`: 1000 prompt tokens, 500 completion tokens of which 300 reasoning. */
const chat = (model: string) =>
  file(`chat-${model}.json`, {
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 1749513600,
    model,
    choices: [],
    usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500, completion_tokens_details: { reasoning_tokens: 300 } }
  })

describe("tally cost", { timeout: 300_000 }, () => {
  it("prints the provider, model, definition, snapshot, usage, lines and exact total as JSON", async () => {
    // The real binary, spawned, as a script runs it; the other cases run in this process (`Cli.run`).
    const out = tally(["cost", "--provider", "anthropic", "--at", "2026-05-01", join(fixtures, "anthropic/messages_basic.json")])
    expect(out).toMatchObject({ code: 0, stderr: "" })
    const cost = json(out.stdout)
    expect(cost).toMatchObject({
      provider: "anthropic",
      pricingProvider: "anthropic",
      api: "messages",
      model: "claude-sonnet-4-5-20250929",
      definition: "anthropic/claude-sonnet-4-5",
      usage: { tokens: { inputText: 12, outputText: 29 } },
      // 12 input × $3/M + 29 output × $15/M = 0.000036 + 0.000435
      computedTotal: "0.000471",
      total: "0.000471",
      currency: "USD",
      costSource: "computed",
      unpricedReason: null,
      unpricedDetail: null,
      reportedCost: null,
      difference: null,
      estimated: false,
      batch: false,
      subCalls: []
    })
    expect(cost.snapshotId).toMatch(/^ps_[0-9a-f]{32}$/)
    expect(cost.lines.map((l: { component: string; quantity: string; listRate: string; amount: string }) => [l.component, l.quantity, l.listRate, l.amount])).toEqual([
      ["inputText", "12", "3", "0.000036"],
      ["outputText", "29", "15", "0.000435"]
    ])
    expect(cost.match).toContain("anthropic/claude-sonnet-4-5")
  })

  it("bills the provider's own reported cost and reports the difference from Tally's pricing", async () => {
    const out = await tallyHere(["cost", "--provider", "xai", "--at", "2026-05-01", join(fixtures, "xai/chat_completion_reasoning.json")])
    expect(out.code).toBe(0)
    const cost = json(out.stdout)
    expect(cost).toMatchObject({
      costSource: "provider",
      // cost_in_usd_ticks 1176500 × 1e-10 USD
      reportedCost: { amount: "0.00011765", currency: "USD", source: "usage.cost_in_usd_ticks" },
      total: "0.00011765",
      // 10 input × $0.3/M + 2 cache read × $0.075/M + (1 output + 228 reasoning) × $0.5/M
      computedTotal: "0.00011765",
      difference: "0"
    })
  })

  it("--at picks the snapshot in force at the event time (o3's price cut on 2025-06-10)", async () => {
    const payload = chat("o3-2025-04-16")
    const before = await tallyHere(["cost", "--provider", "openai", "--at", "2025-06-09T23:59:59Z", payload])
    const after = await tallyHere(["cost", "--provider", "openai", "--at", "2025-06-10", payload])
    expect(before.code).toBe(0)
    expect(after.code).toBe(0)
    const [b, a] = [json(before.stdout), json(after.stdout)]
    expect(b.definition).toBe("openai/o3")
    expect(a.definition).toBe("openai/o3")
    expect(b.usage.tokens).toEqual({ inputText: 1000, outputText: 200, reasoning: 300 })
    // before: 1000 input × $10/M + (200 output + 300 reasoning) × $40/M = 0.01 + 0.02
    expect(b.total).toBe("0.03")
    // from 2025-06-10: 1000 input × $2/M + (200 + 300) × $8/M = 0.002 + 0.004
    expect(a.total).toBe("0.006")
    expect(a.snapshotId).not.toBe(b.snapshotId)
  })

  it("--catalog: a custom file's override replaces a built-in price, and its own definitions are dated too", async () => {
    const catalog = file("custom.json", {
      format: "tally.catalog/v1",
      overrides: [{
        definitionId: "anthropic/claude-sonnet-4-5",
        reason: "2026 contract",
        history: [{ version: 2, snapshot: { provider: "anthropic", modelKey: "claude-sonnet-4-5", rates: { inputText: "2.4", outputText: "12" } } }]
      }],
      definitions: [
        {
          id: "acme/house-model",
          provider: "openai",
          modelKey: "house-model",
          match: { equals: "house-model" },
          maintainer: "custom",
          history: [
            { version: 1, snapshot: { provider: "openai", modelKey: "house-model", effectiveTo: "2026-03-01", rates: { inputText: "1", outputText: "4", reasoning: "4" } } },
            { version: 2, snapshot: { provider: "openai", modelKey: "house-model", effectiveFrom: "2026-03-01", rates: { inputText: "0.5", outputText: "2", reasoning: "2" } } }
          ]
        },
        {
          id: "acme/text-only",
          provider: "openai",
          modelKey: "text-only",
          match: { equals: "text-only" },
          maintainer: "custom",
          history: [{ version: 1, snapshot: { provider: "openai", modelKey: "text-only", rates: { inputText: "1", outputText: "4" } } }]
        }
      ]
    })
    const overridden = await tallyHere(["cost", "--provider", "anthropic", "--at", "2026-05-01", "--catalog", catalog, join(fixtures, "anthropic/messages_basic.json")])
    expect(overridden.code).toBe(0)
    const o = json(overridden.stdout)
    expect(o.definition).toBe("anthropic/claude-sonnet-4-5")
    // 12 input × $2.4/M + 29 output × $12/M = 0.0000288 + 0.000348 (the list price gives 0.000471)
    expect(o.total).toBe("0.0003768")
    expect(o.match).toContain("prices overridden by layer file")

    const house = chat("house-model")
    const early = await tallyHere(["cost", "--provider", "openai", "--at", "2026-02-28T23:59:59Z", "--catalog", catalog, house])
    const late = await tallyHere(["cost", "--provider", "openai", "--at", "2026-03-01", "--catalog", catalog, house])
    expect(early.code).toBe(0)
    expect(late.code).toBe(0)
    expect(json(early.stdout)).toMatchObject({
      definition: "acme/house-model",
      // 1000 input × $1/M + 200 output × $4/M + 300 reasoning × $4/M = 0.001 + 0.0008 + 0.0012
      total: "0.003"
    })
    expect(json(late.stdout)).toMatchObject({
      definition: "acme/house-model",
      // 1000 input × $0.5/M + (200 + 300) × $2/M = 0.0005 + 0.001
      total: "0.0015"
    })

    // A snapshot without a rate for a reported bucket: partial, never a silent $0 for that bucket.
    // The output text is priced (45 x 4 / 1M = 0.00018); the 14 audio tokens are named as missing.
    // (Reasoning would fall back to the output rate; audio input has no fallback.)
    const transcription = join(fixtures, "openai/audio_transcription_tokens.json")
    const textOnly = await tallyHere(["cost", "--provider", "openai", "--model", "text-only", "--at", "2026-05-01", "--catalog", catalog, transcription])
    expect(textOnly.code).toBe(3)
    expect(json(textOnly.stdout)).toMatchObject({
      definition: "acme/text-only",
      usage: { tokens: { inputAudio: 14, outputText: 45 } },
      costSource: "partial",
      unpricedReason: "missing-rate",
      lines: [{ component: "outputText", amount: "0.00018" }],
      missing: [{ component: "inputAudio", quantity: "14", unit: "token" }],
      total: "0.00018"
    })
    expect(oneStderrLine(textOnly)).toMatch(/^tally: partial \(missing-rate\): /)
    expect(json(textOnly.stdout).snapshotId).toMatch(/^ps_[0-9a-f]{32}$/)
    expect(oneStderrLine(textOnly)).toContain("inputAudio")

    // Without the built-in catalog the override has nothing to override: the file is rejected, not half-used.
    const noBuiltIn = await tallyHere(["cost", "--provider", "openai", "--at", "2026-03-01", "--catalog", catalog, "--no-builtin", house])
    expect(noBuiltIn).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(noBuiltIn)).toContain("override targets unknown definition anthropic/claude-sonnet-4-5")
  })

  it("an unmatched model still prints its usage, with costSource unpriced and the reason, and exits 3", async () => {
    const out = await tallyHere(["cost", "--provider", "openai", "--at", "2026-05-01", chat("gpt-nonexistent-9")])
    expect(out.code).toBe(3)
    const line = oneStderrLine(out)
    expect(line).toContain("unpriced (no-rule-matched)")
    expect(line).toContain("gpt-nonexistent-9")
    const cost = json(out.stdout)
    expect(cost).toMatchObject({
      model: "gpt-nonexistent-9",
      definition: null,
      snapshotId: null,
      usage: { tokens: { inputText: 1000, outputText: 200, reasoning: 300 } },
      lines: [],
      total: null,
      currency: null,
      costSource: "unpriced",
      unpricedReason: "no-rule-matched"
    })
    expect(cost.unpricedDetail).toContain("gpt-nonexistent-9")
  })

  it("a bad --at, a missing catalog file and a payload without a model are one-line errors", async () => {
    const payload = join(fixtures, "anthropic/messages_basic.json")
    const badAt = await tallyHere(["cost", "--provider", "anthropic", "--at", "yesterday", payload])
    expect(badAt).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(badAt)).toContain(`--at must be an ISO 8601 date or date-time such as 2026-05-01 or 2026-05-01T12:00:00Z, got "yesterday"`)
    expect((await tallyHere(["cost", "--provider", "anthropic", "--at", "2026-02-30", payload])).code).toBe(2)

    const noCatalog = await tallyHere(["cost", "--provider", "anthropic", "--catalog", join(root, "no-such-catalog.json"), payload])
    expect(noCatalog).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(noCatalog)).toContain("no-such-catalog.json")

    const noModel = await tallyHere(["cost", "--provider", "cohere", "--at", "2026-05-01", join(fixtures, "cohere/chat_v2.json")])
    expect(noModel.code).toBe(3)
    expect(json(noModel.stdout)).toMatchObject({ costSource: "unpriced", unpricedReason: "no-model", usage: { tokens: { inputText: 12, outputText: 7 } } })
    expect(oneStderrLine(noModel)).toContain("pass the model the request used")
  })

  it("prices an Anthropic Message Batches result line at the snapshot's batch rate", async () => {
    // The snapshot the line is priced with carries Anthropic's 50% batch discount (the built-in
    // catalog gains it with the catalog's batch data; the engine applies whatever the snapshot says).
    const catalog = file("anthropic-batch.json", {
      format: "tally.catalog/v1",
      overrides: [{
        definitionId: "anthropic/claude-3-5-sonnet",
        reason: "Message Batches: 50% of standard prices",
        history: [{ version: 2, snapshot: { provider: "anthropic", modelKey: "claude-3-5-sonnet", rates: { inputText: "3", outputText: "15" }, batchDiscountPercent: "50" } }]
      }]
    })
    const line = join(fixtures, "anthropic/message_batch_result_line.json")
    const out = await tallyHere(["cost", "--provider", "anthropic", "--at", "2026-05-01", "--catalog", catalog, line])
    expect(out).toMatchObject({ code: 0, stderr: "" })
    const cost = json(out.stdout)
    expect(cost).toMatchObject({
      api: "batch",
      model: "claude-3-5-sonnet-20240620",
      definition: "anthropic/claude-3-5-sonnet",
      batch: true,
      usage: { tokens: { inputText: 11, outputText: 36 }, batch: true },
      // (11 input × $3/M + 36 output × $15/M) × (100 − 50)% = (0.000033 + 0.00054) × 0.5
      total: "0.0002865",
      costSource: "computed"
    })
    expect(cost.lines.map((l: { component: string; amount: string; conditions: Array<string> }) => [l.component, l.amount, l.conditions])).toEqual([
      ["inputText", "0.0000165", ["batch:-50%"]],
      ["outputText", "0.00027", ["batch:-50%"]]
    ])
    // An errored result is not billable: a one-line error, nothing on stdout.
    const errored = file("batch-errored.json", {
      custom_id: "my-first-request",
      result: { type: "errored", error: { type: "error", error: { type: "invalid_request_error", message: "max_tokens: Field required" } } }
    })
    const failed = await tallyHere(["cost", "--provider", "anthropic", "--at", "2026-05-01", errored])
    expect(failed).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(failed)).toContain("batch request my-first-request errored")
  })

  it("an OpenAI-compatible self-hosted server is named as its provider and priced with a custom catalog", async () => {
    const catalog = file("vllm.json", {
      format: "tally.catalog/v1",
      definitions: [{
        id: "house/llama-3.1-8b",
        provider: "vllm",
        modelKey: "meta-llama/Llama-3.1-8B-Instruct",
        match: { equals: "llama-3.1-8b-instruct" },
        maintainer: "custom",
        history: [{ version: 1, snapshot: { provider: "vllm", modelKey: "meta-llama/Llama-3.1-8B-Instruct", rates: { inputText: "0.05", outputText: "0.1", reasoning: "0.1" } } }]
      }]
    })
    const payload = chat("Llama-3.1-8B-Instruct")
    const out = await tallyHere(["cost", "--provider", "vllm", "--at", "2026-05-01", "--catalog", catalog, payload])
    expect(out).toMatchObject({ code: 0, stderr: "" })
    expect(json(out.stdout)).toMatchObject({
      provider: "vllm",
      pricingProvider: "vllm",
      definition: "house/llama-3.1-8b",
      usage: { tokens: { inputText: 1000, outputText: 200, reasoning: 300 } },
      // 1000 input × $0.05/M + (200 + 300) × $0.1/M = 0.00005 + 0.00005
      total: "0.0001"
    })
    // Without the custom catalog there is no price for a self-hosted server: unpriced, never $0.
    const builtInOnly = await tallyHere(["cost", "--provider", "vllm", "--at", "2026-05-01", payload])
    expect(builtInOnly.code).toBe(3)
    expect(json(builtInOnly.stdout)).toMatchObject({ provider: "vllm", costSource: "unpriced", total: null })
  })

  it("prices an OpenAI Batch object's batch-level usage and a whole batch output file at the batch rate", async () => {
    const catalog = file("openai-batch.json", {
      format: "tally.catalog/v1",
      overrides: [
        {
          definitionId: "openai/gpt-5",
          reason: "Batch API: 50% of standard prices",
          history: [{ version: 2, snapshot: { provider: "openai", modelKey: "gpt-5", rates: { inputText: "1.25", cacheRead: "0.125", outputText: "10", reasoning: "10" }, batchDiscountPercent: "50" } }]
        },
        {
          definitionId: "openai/gpt-4o-mini",
          reason: "Batch API: 50% of standard prices",
          history: [{ version: 2, snapshot: { provider: "openai", modelKey: "gpt-4o-mini", rates: { inputText: "0.15", outputText: "0.6" }, batchDiscountPercent: "50" } }]
        }
      ]
    })
    const object = await tallyHere(["cost", "--provider", "openai", "--at", "2026-05-01", "--catalog", catalog, join(fixtures, "openai/batch_object_usage.json")])
    expect(object).toMatchObject({ code: 0, stderr: "" })
    expect(json(object.stdout)).toMatchObject({
      api: "batch",
      batch: true,
      model: "gpt-5-2025-08-07",
      definition: "openai/gpt-5",
      usage: { tokens: { inputText: 476, cacheRead: 1024, outputText: 200, reasoning: 300 }, batch: true },
      // (476 × $1.25/M + 1024 × $0.125/M + 200 × $10/M + 300 × $10/M) × 50%
      // = (0.000595 + 0.000128 + 0.002 + 0.003) × 0.5 = 0.005723 × 0.5
      total: "0.0028615"
    })

    // A batch output file (JSONL): each line priced as a batch call; a failed line bills nothing.
    const line = (customId: string, prompt: number, completion: number) => JSON.stringify({
      id: `batch_req_${customId}`, custom_id: customId,
      response: { status_code: 200, request_id: `req_${customId}`, body: { id: `chatcmpl-${customId}`, object: "chat.completion", created: 1711475054, model: "gpt-4o-mini", choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } } },
      error: null
    })
    const expired = JSON.stringify({ id: "batch_req_failed01", custom_id: "request-7", response: null, error: { code: "batch_expired", message: "This request could not be executed before the completion window expired." } })
    const output = file("batch-output.jsonl", [line("request-1", 24, 15), expired, line("request-3", 1000, 200)].join("\n") + "\n")
    const out = await tallyHere(["cost", "--provider", "openai", "--at", "2026-05-01", "--catalog", catalog, output])
    expect(out).toMatchObject({ code: 0, stderr: "" })
    const batch = json(out.stdout)
    expect(batch).toMatchObject({ batchFile: true, billedLines: 2, notBillableLines: 1, currency: "USD" })
    expect(batch.lines.map((l: { line: number; customId: string; cost: { total: string } | null; error: { reason: string } | null }) => [l.line, l.customId, l.cost?.total ?? null, l.error?.reason ?? null])).toEqual([
      // (24 × $0.15/M + 15 × $0.6/M) × 50% = (0.0000036 + 0.000009) × 0.5
      [1, "request-1", "0.0000063", null],
      [2, "request-7", null, "failed-response"],
      // (1000 × $0.15/M + 200 × $0.6/M) × 50% = (0.00015 + 0.00012) × 0.5
      [3, "request-3", "0.000135", null]
    ])
    // 0.0000063 + 0.000135
    expect(batch.total).toBe("0.0001413")
  })
})
