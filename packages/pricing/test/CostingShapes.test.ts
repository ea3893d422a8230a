/**
 * The engine's pricing of the payload shapes added for issue 16 (docs/pricing-semantics.md): each
 * fixture normalized, matched in the built-in catalog at 2026-05-01 and priced exactly. Rates are
 * the catalog's per 1M tokens for the matched definition; the arithmetic is in each comment.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Catalog } from "@tally/catalog"
import { Money } from "@tally/core"
import { Normalize } from "@tally/providers"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import * as Costing from "../src/Costing.ts"

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../providers/test/fixtures/${name}.json`, import.meta.url), "utf8")) as {
    provider: string
    model?: string
    payload: unknown
  }

const AT = "2026-05-01"
const builtIn = Result.getOrThrow(Catalog.loadBookSync())

const costOf = (name: string, book = builtIn) => {
  const f = fixture(name)
  const call = Result.getOrThrow(Normalize.normalize({ provider: f.provider, payload: f.payload, model: f.model }))
  return Costing.toJson(Costing.cost(book, call, { at: AT }))
}

const lines = (json: Costing.CostedCallJson) => json.lines.map((l) => [l.component, l.quantity, l.amount, l.conditions])

describe("Costing: the shapes added for providers everywhere", () => {
  it("a Groq stream's x_groq.usage, priced with Groq's own catalog entry", () => {
    const json = costOf("groq/chat_stream_x_groq_usage")
    expect([json.provider, json.pricingProvider, json.definition]).toEqual(["groq", "groq", "groq/gemma2-9b-it"])
    // 18 input × $0.2/M + 439 output × $0.2/M = 0.0000036 + 0.0000878
    expect(lines(json)).toEqual([["inputText", "18", "0.0000036", []], ["outputText", "439", "0.0000878", []]])
    expect([json.total, json.costSource]).toEqual(["0.0000914", "computed"])
  })

  it("a usage-only Responses body (no envelope), recognized from its usage shape", () => {
    const json = costOf("openai/responses_usage_only")
    expect([json.api, json.definition]).toEqual(["responses", "openai/gpt-4.1"])
    // 36 input × $2/M + 87 output × $8/M = 0.000072 + 0.000696
    expect(lines(json)).toEqual([["inputText", "36", "0.000072", []], ["outputText", "87", "0.000696", []]])
    expect(json.total).toBe("0.000768")
  })

  it("a Bedrock InvokeModelWithResponseStream final chunk alone: its invocation metrics are the counts", () => {
    const json = costOf("bedrock/invoke_model_stream_final_chunk")
    expect([json.api, json.pricingProvider, json.definition]).toEqual(["invokeModel", "bedrock", "aws/regional.anthropic.claude-3-haiku-20240307-v1:0"])
    // 1250 input × $0.25/M + 380 output × $1.25/M = 0.0003125 + 0.000475
    expect(lines(json)).toEqual([["inputText", "1250", "0.0003125", []], ["outputText", "380", "0.000475", []]])
    expect(json.total).toBe("0.0007875")
  })

  it("a Vertex AI predict text-embeddings response: the predictions' token counts summed", () => {
    const json = costOf("google/vertex_predict_text_embeddings")
    expect([json.api, json.definition]).toEqual(["predict", "google/gemini-embedding-001"])
    // (6 + 11) embedding tokens × $0.15/M
    expect(lines(json)).toEqual([["embedding", "17", "0.00000255", []]])
    expect(json.total).toBe("0.00000255")
  })

  it("an Anthropic Message Batches result line at the snapshot's batch discount", () => {
    const dir = mkdtempSync(join(tmpdir(), "tally-costing-shapes-"))
    const path = join(dir, "batch.json")
    writeFileSync(path, JSON.stringify({
      format: "tally.catalog/v1",
      overrides: [{
        definitionId: "anthropic/claude-3-5-sonnet",
        reason: "Message Batches: 50% of standard prices",
        history: [{ version: 2, snapshot: { provider: "anthropic", modelKey: "claude-3-5-sonnet", rates: { inputText: "3", outputText: "15" }, batchDiscountPercent: "50" } }]
      }]
    }))
    const book = Result.getOrThrow(Catalog.loadBookSync({ customCatalogPath: path }))
    const json = costOf("anthropic/message_batch_result_line", book)
    expect([json.api, json.batch, json.definition]).toEqual(["batch", true, "anthropic/claude-3-5-sonnet"])
    // 11 input × $3/M × 50% = 0.0000165; 36 output × $15/M × 50% = 0.00027
    expect(lines(json)).toEqual([["inputText", "11", "0.0000165", ["batch:-50%"]], ["outputText", "36", "0.00027", ["batch:-50%"]]])
    expect(json.total).toBe(Money.format(new Money.Decimal("0.0000165").plus("0.00027")))
    expect(json.total).toBe("0.0002865")
  })
})
