/**
 * `tally cost` as a script uses it: the real CLI process, the shipped built-in catalog, custom
 * catalog files. Expected totals are computed by hand from the catalog's prices per 1M tokens.
 */
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { oneStderrLine, root, scratch, tally } from "./support/Tally.ts"

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
  it("prints the provider, model, definition, snapshot, usage, lines and exact total as JSON", () => {
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

  it("bills the provider's own reported cost and reports the difference from Tally's pricing", () => {
    const out = tally(["cost", "--provider", "xai", "--at", "2026-05-01", join(fixtures, "xai/chat_completion_reasoning.json")])
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

  it("--at picks the snapshot in force at the event time (o3's price cut on 2025-06-10)", () => {
    const payload = chat("o3-2025-04-16")
    const before = tally(["cost", "--provider", "openai", "--at", "2025-06-09T23:59:59Z", payload])
    const after = tally(["cost", "--provider", "openai", "--at", "2025-06-10", payload])
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

  it("--catalog: a custom file's override replaces a built-in price, and its own definitions are dated too", () => {
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
    const overridden = tally(["cost", "--provider", "anthropic", "--at", "2026-05-01", "--catalog", catalog, join(fixtures, "anthropic/messages_basic.json")])
    expect(overridden.code).toBe(0)
    const o = json(overridden.stdout)
    expect(o.definition).toBe("anthropic/claude-sonnet-4-5")
    // 12 input × $2.4/M + 29 output × $12/M = 0.0000288 + 0.000348 (the list price gives 0.000471)
    expect(o.total).toBe("0.0003768")
    expect(o.match).toContain("prices overridden by layer file")

    const house = chat("house-model")
    const early = tally(["cost", "--provider", "openai", "--at", "2026-02-28T23:59:59Z", "--catalog", catalog, house])
    const late = tally(["cost", "--provider", "openai", "--at", "2026-03-01", "--catalog", catalog, house])
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
    const textOnly = tally(["cost", "--provider", "openai", "--model", "text-only", "--at", "2026-05-01", "--catalog", catalog, transcription])
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
    const noBuiltIn = tally(["cost", "--provider", "openai", "--at", "2026-03-01", "--catalog", catalog, "--no-builtin", house])
    expect(noBuiltIn).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(noBuiltIn)).toContain("override targets unknown definition anthropic/claude-sonnet-4-5")
  })

  it("an unmatched model still prints its usage, with costSource unpriced and the reason, and exits 3", () => {
    const out = tally(["cost", "--provider", "openai", "--at", "2026-05-01", chat("gpt-nonexistent-9")])
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

  it("a bad --at, a missing catalog file and a payload without a model are one-line errors", () => {
    const payload = join(fixtures, "anthropic/messages_basic.json")
    const badAt = tally(["cost", "--provider", "anthropic", "--at", "yesterday", payload])
    expect(badAt).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(badAt)).toContain(`--at must be an ISO 8601 date or date-time such as 2026-05-01 or 2026-05-01T12:00:00Z, got "yesterday"`)
    expect(tally(["cost", "--provider", "anthropic", "--at", "2026-02-30", payload]).code).toBe(2)

    const noCatalog = tally(["cost", "--provider", "anthropic", "--catalog", join(root, "no-such-catalog.json"), payload])
    expect(noCatalog).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(noCatalog)).toContain("no-such-catalog.json")

    const noModel = tally(["cost", "--provider", "cohere", "--at", "2026-05-01", join(fixtures, "cohere/chat_v2.json")])
    expect(noModel.code).toBe(3)
    expect(json(noModel.stdout)).toMatchObject({ costSource: "unpriced", unpricedReason: "no-model", usage: { tokens: { inputText: 12, outputText: 7 } } })
    expect(oneStderrLine(noModel)).toContain("pass the model the request used")
  })
})
