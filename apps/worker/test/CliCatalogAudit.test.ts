/**
 * `tally catalog audit`: every derived or fallback rate in force in the built-in catalog with its
 * reason, and, with --tenant, the recorded calls each one priced (read from the ledger of an
 * embedded PGlite data directory the CLI process opens itself).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Catalog } from "@tally/catalog"
import type { UsageRecord } from "@tally/core"
import { Costing } from "@tally/engine"
import { Normalize } from "@tally/providers"
import { Database, Store, Tenants, UsageLedger } from "@tally/store"
import { DateTime, Effect, Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Cli from "../src/cli/Cli.ts"
import { oneStderrLine, tallyAsync, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const ok = (run: { code: number | null; stdout: string; stderr: string }): Json => {
  expect(run.stderr).toBe("")
  expect(run.code).toBe(0)
  return JSON.parse(run.stdout) as Json
}

describe("tally catalog audit on the built-in catalog", { timeout: 300_000 }, () => {
  it("lists every fallback in force with a reason, the condition its lines carry and where the prices came from", async () => {
    const report = ok(await tallyAsync(["catalog", "audit", "--at", "2025-11-01", "--provider", "openai"]))
    expect(report.definitions).toBeGreaterThan(50)
    expect(report.fallbacks).toBe(report.entries.length)
    expect(Object.values(report.byKind as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(report.fallbacks)
    for (const entry of report.entries as Array<Json>) {
      expect(entry.reason.length).toBeGreaterThan(20)
      expect(entry.condition).not.toBe("")
    }
    const gpt4oAudio = (report.entries as Array<Json>).find((e) => e.definitionId === "openai/gpt-4o" && e.component === "inputAudio")
    expect(gpt4oAudio).toMatchObject({
      kind: "rate-fallback",
      from: "inputText",
      rate: "2.5",
      condition: "inputAudio:priced-at-inputText-rate",
      reason: "@pydantic/genai-prices@0.1.8 gives no inputAudio price; inputAudio tokens are billed at the inputText rate",
      reference: "https://developers.openai.com/api/docs/pricing"
    })
    // The supplement priced gpt-4o-audio-preview's audio apart: no audio fallback is left there,
    // and OpenAI batch calls are discounted, so no OpenAI model bills batch at list.
    const preview = (report.entries as Array<Json>).filter((e) => e.definitionId === "openai/gpt-4o-audio-preview")
    expect(preview.map((e) => e.component)).not.toContain("inputAudio")
    expect(preview.map((e) => e.component)).not.toContain("outputAudio")
    expect(report.byKind["batch-at-list"]).toBe(0)
  })

  it("--kind narrows the list; an unknown kind exits 2", async () => {
    const report = ok(await tallyHere(["catalog", "audit", "--at", "2025-11-01", "--kind", "batch-at-list", "--provider", "mistral"]))
    expect(report.fallbacks).toBeGreaterThan(0)
    expect(new Set((report.entries as Array<Json>).map((e) => e.kind))).toEqual(new Set(["batch-at-list"]))
    const bad = await Cli.run(["catalog", "audit", "--kind", "everything"])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain("--kind must be one of rate-fallback, reasoning-at-output, cache-read-discount, modality-cache-read, batch-at-list, service-tier-at-list")
    const noTenant = await Cli.run(["catalog", "audit", "--from", "2026-01-01"])
    expect(noTenant.stderr).toContain("--from and --to read the ledger and need --tenant")
  })
})

describe("tally catalog audit --tenant (the ledger)", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-audit-"))
  seedDataDir(dir)
  const book = Result.getOrThrow(Catalog.loadBookSync())
  const at = "2026-05-01T10:00:00Z"

  /** A gpt-4o chat completion with audio input tokens, priced by the engine as ingest does. */
  const audioCall = (requestId: string): UsageRecord.UsageRecord => {
    const payload = {
      id: requestId, object: "chat.completion", created: 1777629600, model: "gpt-4o-2024-08-06",
      choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 1100, completion_tokens: 20, total_tokens: 1120, prompt_tokens_details: { audio_tokens: 1000, cached_tokens: 0 } }
    }
    const costed = Costing.cost(book, Result.getOrThrow(Normalize.normalize({ provider: "openai", payload })), { at })
    return Costing.toUsageRecord(costed, { requestId, occurredAt: DateTime.makeUnsafe(at), labels: {}, tags: {} })
  }

  /** A gpt-realtime turn (response.done) with 576 cached audio tokens: no cached-audio rate, so at the cacheRead rate. */
  const realtimeTurn = (requestId: string): UsageRecord.UsageRecord => {
    const payload = {
      type: "response.done",
      event_id: "event_01",
      response: {
        object: "realtime.response", id: requestId, status: "completed", output: [],
        usage: {
          total_tokens: 1745, input_tokens: 1460, output_tokens: 285,
          input_token_details: {
            text_tokens: 640, audio_tokens: 820, image_tokens: 0, cached_tokens: 1088,
            cached_tokens_details: { text_tokens: 512, audio_tokens: 576, image_tokens: 0 }
          },
          output_token_details: { text_tokens: 61, audio_tokens: 224 }
        }
      }
    }
    const costed = Costing.cost(book, Result.getOrThrow(Normalize.normalize({ provider: "openai", payload, model: "gpt-realtime" })), { at })
    return Costing.toUsageRecord(costed, { requestId, occurredAt: DateTime.makeUnsafe(at), labels: {}, tags: {} })
  }

  beforeAll(async () => {
    await Effect.runPromise(Effect.provide(Effect.gen(function*() {
      yield* Tenants.Tenants.use((t) => t.create({ id: "acme", name: "Acme" }))
      yield* UsageLedger.UsageLedger.use((l) => l.insertBatch("acme", [audioCall("r-1"), audioCall("r-2"), realtimeTurn("r-3")]))
    }), Store.layerWith(Database.layerPglite({ dataDir: dir }))))
  }, 300_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("names the recorded calls each fallback priced, with quantities and amounts", async () => {
    const report = ok(await tallyHere(
      ["catalog", "audit", "--tenant", "acme", "--from", "2026-05-01", "--to", "2026-05-02", "--provider", "openai", "--kind", "rate-fallback", "--kind", "modality-cache-read"],
      { TALLY_DATA_DIR: dir }
    ))
    // 2 calls x 1000 audio tokens at the $2.50 text rate = 2000 x 2.5 / 1M = $0.005
    expect(report.ledger.byCondition).toEqual([{
      provider: "openai",
      model: "gpt-4o-2024-08-06",
      definitionId: "openai/gpt-4o",
      snapshotId: expect.stringMatching(/^ps_/),
      component: "inputAudio",
      condition: "inputAudio:priced-at-inputText-rate",
      calls: 2,
      quantity: "2000",
      amount: "0.005",
      currency: "USD"
    }, {
      // 576 cached audio tokens at the $0.40 cacheRead rate = 576 x 0.4 / 1M = $0.0002304
      provider: "openai",
      model: "gpt-realtime",
      definitionId: "openai/gpt-realtime",
      snapshotId: expect.stringMatching(/^ps_/),
      component: "cacheReadAudio",
      condition: "cacheReadAudio:priced-at-cacheRead-rate",
      calls: 1,
      quantity: "576",
      amount: "0.0002304",
      currency: "USD"
    }])
    // The catalog side of the same report lists that fallback with its reason.
    expect((report.entries as Array<Json>).find((e) => e.definitionId === "openai/gpt-realtime" && e.component === "cacheReadAudio")).toMatchObject({
      kind: "modality-cache-read",
      condition: "cacheReadAudio:priced-at-cacheRead-rate",
      rate: "0.4",
      reason: "the snapshot has no cacheReadAudio rate; cached audio tokens are billed at the cacheRead rate (engine rule)"
    })
    const unknown = await tallyAsync(["catalog", "audit", "--tenant", "nobody", "--from", "2026-05-01", "--to", "2026-05-02"], { env: { TALLY_DATA_DIR: dir } })
    expect(unknown.code).toBe(2)
    expect(oneStderrLine(unknown)).toContain("nobody")
  })
})
