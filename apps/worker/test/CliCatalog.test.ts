/**
 * `tally catalog …` in real processes over the shipped built-in catalog and custom catalog files.
 * Processes of one test run side by side; pure argument errors go through `Cli.run` (the function
 * bin.ts prints) to keep the file fast.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as Cli from "../src/cli/Cli.ts"
import { oneStderrLine, root, scratch, tallyAsync, tallyHere } from "./support/Tally.ts"

const fixtures = join(root, "apps/worker/test/fixtures/payloads")
const { dir, file } = scratch("tally-cli-catalog-")
type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const json = (stdout: string) => JSON.parse(stdout) as Json

/** A custom catalog: one custom definition, an override of a built-in one. */
const customCatalog = file("custom.json", {
  format: "tally.catalog/v1",
  definitions: [{
    id: "acme/text-only",
    provider: "openai",
    modelKey: "text-only",
    displayName: "Acme text-only house model",
    match: { equals: "text-only" },
    maintainer: "custom",
    history: [{ version: 1, snapshot: { provider: "openai", modelKey: "text-only", rates: { inputText: "1", outputText: "4" } } }]
  }],
  overrides: [{
    definitionId: "openai/gpt-4o",
    reason: "2026 contract",
    history: [{ version: 2, snapshot: { provider: "openai", modelKey: "gpt-4o", effectiveFrom: "2026-01-01", rates: { inputText: "2", outputText: "8" } } }]
  }]
})

/** Stderr is empty and the exit code 0; the JSON on stdout. */
const ok = (run: { code: number | null; stdout: string; stderr: string }) => {
  expect(run.stderr).toBe("")
  expect(run.code).toBe(0)
  return json(run.stdout)
}

describe("tally catalog list", { timeout: 300_000 }, () => {
  it("filters by provider (aliases too), search text and maintainer, and names the snapshot in force at --at", async () => {
    const [openai, bedrock, custom, onlyCustom] = await Promise.all([
      tallyAsync(["catalog", "list", "--provider", "openai", "--search", "GPT-4O-MINI", "--at", "2026-05-01"]),
      tallyHere(["catalog", "list", "--provider", "bedrock", "--search", "claude-sonnet-4-5"]),
      tallyHere(["catalog", "list", "--catalog", customCatalog, "--maintainer", "custom"]),
      tallyHere(["catalog", "list", "--catalog", customCatalog, "--no-builtin", "--provider", "openai"])
    ])
    const o = ok(openai)
    expect(o.count).toBe(o.definitions.length)
    expect(o.definitions.every((d: Json) => d.provider === "openai" && d.id.toLowerCase().includes("gpt-4o-mini"))).toBe(true)
    expect(o.definitions.find((d: Json) => d.id === "openai/gpt-4o-mini")).toMatchObject({
      modelKey: "gpt-4o-mini",
      maintainer: "built-in",
      layer: "built-in",
      tokenizer: "o200k_base",
      versions: 1,
      snapshotId: expect.stringMatching(/^ps_[0-9a-f]{32}$/)
    })
    expect(o.at).toBe("2026-05-01T00:00:00.000Z")

    const b = ok(bedrock)
    expect(b.definitions.map((d: Json) => d.id)).toEqual([
      "aws/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
      "aws/regional.anthropic.claude-sonnet-4-5-20250929-v1:0"
    ])
    // Without --at no snapshot is named.
    expect(b.definitions[0].snapshotId).toBeNull()

    expect(ok(custom).definitions).toEqual([expect.objectContaining({ id: "acme/text-only", maintainer: "custom", layer: "file", match: `equals "text-only"` })])
    // With the built-in catalog off, the override has no target: the file is refused as a whole.
    expect(onlyCustom).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(onlyCustom)).toContain("override targets unknown definition openai/gpt-4o")
  })

  it("rejects an unknown maintainer, a bad --at and stray arguments with one line and exit 2", async () => {
    for (const [args, message] of [
      [["--maintainer", "someone"], `tally: catalog list: --maintainer must be built-in or custom, got "someone"`],
      [["--at", "2026-13-01"], `tally: catalog list: --at must be an ISO 8601 date or date-time`],
      [["openai"], `tally: catalog list: unexpected argument "openai"`],
      [["--tenant", ""], "tally: catalog list: --tenant must not be empty"]
    ] as const) {
      const out = await Cli.run(["catalog", "list", ...args])
      expect(out).toMatchObject({ exitCode: 2, stdout: "" })
      expect(out.stderr.startsWith(message), out.stderr).toBe(true)
    }
  })
})

describe("tally catalog show", { timeout: 300_000 }, () => {
  it("prints the definition with its snapshot history and which entry is in force at --at", async () => {
    const [offPeak, standard, overridden, missing] = await Promise.all([
      tallyHere(["catalog", "show", "deepseek/deepseek-chat", "--at", "2026-05-01T20:00:00Z"]),
      tallyHere(["catalog", "show", "deepseek/deepseek-chat", "--at", "2026-05-01T12:00:00Z"]),
      tallyHere(["catalog", "show", "openai/gpt-4o", "--catalog", customCatalog, "--at", "2026-05-01"]),
      tallyHere(["catalog", "show", "openai/gpt-9"])
    ])
    const off = ok(offPeak)
    expect(off).toMatchObject({ id: "deepseek/deepseek-chat", layer: "built-in", overriddenBy: null, at: "2026-05-01T20:00:00.000Z" })
    expect(off.definition).toMatchObject({ id: "deepseek/deepseek-chat", provider: "deepseek", maintainer: "built-in" })
    expect(off.definition.history.map((h: Json) => [h.version, h.snapshot.rates.inputText])).toEqual([[1, "0.135"], [2, "0.27"]])
    expect(off.history).toEqual([
      { version: 1, snapshotId: expect.stringMatching(/^ps_/), effectiveFrom: null, effectiveTo: null, timeOfDay: null },
      { version: 2, snapshotId: expect.stringMatching(/^ps_/), effectiveFrom: null, effectiveTo: null, timeOfDay: { fromUtc: "00:30:00", toUtc: "16:30:00" } }
    ])
    expect(off.inForce).toMatchObject({ version: 1, historyIndex: 0, snapshotId: off.history[0].snapshotId })
    expect(ok(standard).inForce).toMatchObject({ version: 2, historyIndex: 1, snapshotId: off.history[1].snapshotId })

    const o = ok(overridden)
    expect(o).toMatchObject({ layer: "built-in", overriddenBy: "file", inForce: { version: 2 } })
    expect(o.history).toEqual([expect.objectContaining({ version: 2, effectiveFrom: "2026-01-01" })])

    expect(missing).toMatchObject({ code: 2, stdout: "" })
    expect(oneStderrLine(missing)).toBe(`tally: catalog show: no definition with id "openai/gpt-9" in this scope`)
  })
})

describe("tally catalog explain", { timeout: 300_000 }, () => {
  it("prints Match.explainMatch: the winning rule, fallbacks, candidates and snapshot; exit 3 when nothing matches", async () => {
    const [azure, custom, none] = await Promise.all([
      tallyHere(["catalog", "explain", "--provider", "azure", "--model", "gpt-4o-2024-08-06", "--at", "2026-05-01"]),
      tallyHere(["catalog", "explain", "--provider", "openai", "--model", "gpt-4o", "--at", "2026-05-01", "--catalog", customCatalog]),
      tallyHere(["catalog", "explain", "--provider", "openai", "--model", "gpt-9-turbo", "--at", "2026-05-01"])
    ])
    const a = ok(azure)
    expect(a).toMatchObject({
      matched: true,
      reason: null,
      query: { provider: "azure", model: "gpt-4o-2024-08-06", at: "2026-05-01T00:00:00.000Z" },
      provider: { requested: "azure", resolved: "azure" },
      winner: { definitionId: "openai/gpt-4o", provider: "openai", name: "gpt-4o-2024-08-06", nameStage: 0 }
    })
    expect(a.provider.searchOrder.slice(0, 2)).toEqual(["azure", "openai"])
    expect(a.summary).toContain("via fallback provider openai of azure")
    expect(a.snapshot.snapshotId).toMatch(/^ps_/)

    const c = ok(custom)
    expect(c.snapshot).toMatchObject({ version: 2, effectiveFrom: "2026-01-01", override: { layerId: "file", reason: "2026 contract" } })

    expect(none.code).toBe(3)
    expect(json(none.stdout)).toMatchObject({ matched: false, reason: "no-rule-matched", winner: null })
    expect(oneStderrLine(none)).toContain(`not matched (no-rule-matched): no definition of openai matches "gpt-9-turbo"`)
  })

  it("--model is required", async () => {
    expect(await Cli.run(["catalog", "explain", "--provider", "openai"])).toEqual({ exitCode: 2, stdout: "", stderr: "tally: catalog explain: --model is required\n" })
  })
})

describe("tally catalog coverage", { timeout: 300_000 }, () => {
  const models = file("models.json", [
    "gpt-4o",
    { provider: "openai", model: "house-llm-v2", count: 40, usage: { tokens: { inputText: 1_000_000, outputText: 100_000 } } },
    { provider: "openai", model: "text-only", count: 3, usage: { tokens: { inputText: 1000, inputAudio: 2_000_000 } } },
    { provider: "anthropic", model: "claude-sonnet-4-5-20250929", count: 7, usage: { tokens: { inputText: 12, outputText: 29 } }, at: "2026-05-01T08:00:00Z" }
  ])

  it("reports matched, unmatched and matched-but-unpriced-bucket names with counts and cost at risk; --strict exits 3", async () => {
    const args = ["catalog", "coverage", "--at", "2026-05-01", "--catalog", customCatalog, "--reference", "openai/gpt-4o", models]
    const [report, strict] = await Promise.all([tallyHere(args), tallyHere([...args, "--strict"])])
    const r = ok(report)
    expect(r).toMatchObject({
      at: "2026-05-01T00:00:00.000Z",
      reference: "openai/gpt-4o",
      matched: { names: 2, calls: 8 },
      unpricedBucket: { names: 1, calls: 3 },
      unmatched: { names: 1, calls: 40 },
      tokensAtRisk: 3_100_000,
      // unmatched: 1M input × $2/M + 100k output × $8/M at the reference (gpt-4o, overridden in this catalog) = 2 + 0.8;
      // unpriced bucket: 2M audio tokens at the snapshot's input rate, $1/M = 2
      costAtRisk: { USD: "4.8" }
    })
    expect(r.entries.map((e: Json) => [e.model, e.status, e.count])).toEqual([
      ["house-llm-v2", "unmatched", 40],
      ["text-only", "unpriced-bucket", 3],
      ["claude-sonnet-4-5-20250929", "matched", 7],
      ["gpt-4o", "matched", 1]
    ])
    expect(r.entries[0]).toMatchObject({ costAtRisk: "2.8", tokensAtRisk: 1_100_000, reason: expect.stringContaining("no-rule-matched") })
    // the priced part: 1000 input × $1/M
    expect(r.entries[1]).toMatchObject({ definitionId: "acme/text-only", missingComponents: ["inputAudio"], cost: "0.001", costAtRisk: "2", tokensAtRisk: 2_000_000 })
    // 12 × $3/M + 29 × $15/M
    expect(r.entries[2]).toMatchObject({ definitionId: "anthropic/claude-sonnet-4-5", cost: "0.000471", costAtRisk: null })
    expect(r.entries[3]).toMatchObject({ provider: null, definitionId: "openai/gpt-4o", cost: null })

    expect(strict.code).toBe(3)
    expect(json(strict.stdout)).toEqual(r)
    expect(oneStderrLine(strict)).toBe("tally: coverage gaps: 1 unmatched name(s) (40 calls), 1 with unpriced buckets (3 calls)")
  })

  it("reads { models: [...] } from stdin; a misspelt key or a bad time is named, exit 2", async () => {
    const stdin = await tallyAsync(["catalog", "coverage", "--at", "2026-05-01", "-"], { input: JSON.stringify({ models: ["o3", "nope-model"] }) })
    expect(ok(stdin)).toMatchObject({ matched: { names: 1, calls: 1 }, unmatched: { names: 1, calls: 1 }, costAtRisk: {} })

    const bad = file("bad-models.json", [{ model: "gpt-4o", calls: 3 }])
    const misspelt = await Cli.run(["catalog", "coverage", bad])
    expect(misspelt.exitCode).toBe(2)
    expect(misspelt.stderr).toContain(`bad-models.json:`)
    expect(misspelt.stderr).toContain(`"calls"`)
    const badTime = await Cli.run(["catalog", "coverage", file("bad-time.json", [{ model: "gpt-4o", at: "2026-02-30" }])])
    expect(badTime).toMatchObject({ exitCode: 2, stdout: "" })
    expect(badTime.stderr).toContain(`[0].at must be an ISO 8601 date or date-time`)
    const badRef = await Cli.run(["catalog", "coverage", "--reference", "openai/gpt-9", file("ok.json", ["gpt-4o"])])
    expect(badRef.stderr).toBe(`tally: catalog coverage: --reference: no definition with id "openai/gpt-9" in this scope\n`)
  })
})

describe("tally catalog import", { timeout: 300_000 }, () => {
  const litellm = file("litellm.json", {
    sample_spec: { input_cost_per_token: 0, litellm_provider: "one of the providers", mode: "chat" },
    "acme-gpt": { input_cost_per_token: 2e-6, output_cost_per_token: 8e-6, cache_read_input_token_cost: 5e-7, litellm_provider: "openai", mode: "chat", frobnicate_cost_per_token: 1e-6 },
    "gpt-4o": { input_cost_per_token: 2e-6, output_cost_per_token: 8e-6, cache_read_input_token_cost: 1e-6, litellm_provider: "openai", mode: "chat", input_cost_per_character: 1e-7 }
  })

  it("LiteLLM: writes a custom catalog that tally cost --catalog prices with, and reports every key it did not use", async () => {
    const out = join(dir, "imported.json")
    const imported = ok(await tallyHere(["catalog", "import", "--format", "litellm", litellm, "--out", out]))
    expect(imported).toMatchObject({ format: "litellm", input: litellm, definitions: 2, definitionIds: ["litellm:acme-gpt", "litellm:gpt-4o"], out })
    expect(imported.issueCounts).toEqual({ "skipped-model": 1, "unknown-key": 1, "unsupported-price": 1 })
    expect(imported.issues).toContainEqual({ model: "acme-gpt", key: "frobnicate_cost_per_token", kind: "unknown-key", detail: expect.any(String) })
    expect(imported.issues).toContainEqual({ model: "gpt-4o", key: "input_cost_per_character", kind: "unsupported-price", detail: expect.any(String) })
    expect(imported).not.toHaveProperty("catalog")
    const written = json(readFileSync(out, "utf8"))
    expect(written.format).toBe("tally.catalog/v1")
    expect(written.definitions[0]).toMatchObject({ id: "litellm:acme-gpt", maintainer: "custom", history: [{ snapshot: { rates: { inputText: "2", cacheRead: "0.5", outputText: "8" } } }] })

    // The imported gpt-4o (custom) wins over the built-in one.
    const cost = ok(await tallyHere(["cost", "--provider", "openai", "--at", "2026-05-01", "--catalog", out, join(fixtures, "openai/chat_completion_prompt_cached.json")]))
    expect(cost.definition).toBe("litellm:gpt-4o")
    expect(cost.lines.map((l: Json) => [l.component, l.quantity, l.listRate])).toEqual([["inputText", "86", "2"], ["cacheRead", "1920", "1"], ["outputText", "300", "8"]])
    // 86 input × $2/M + 1920 cached × $1/M + 300 output × $8/M = 0.000172 + 0.00192 + 0.0024
    expect(cost.total).toBe("0.004492")
  })

  it("CSV and JSON: unknown columns are reported; without --out the catalog is in the JSON output", async () => {
    const csv = file("models.csv", "provider,model,input,output,effective_from,discount_code\nopenai,house-llm,1.5,6,2026-01-01,X1\nopenai,house-llm,1.2,4.8,2026-06-01,X2\n")
    const rows = join(root, "packages/catalog/test/fixtures/custom-models.json")
    const [fromCsv, fromJson] = await Promise.all([
      tallyHere(["catalog", "import", "--format", "csv", csv]),
      tallyHere(["catalog", "import", "--format", "json", rows])
    ])
    const c = ok(fromCsv)
    expect(c).toMatchObject({ definitions: 1, definitionIds: ["custom:openai/house-llm"], out: null, issueCounts: { "unknown-key": 1 } })
    expect(c.issues).toEqual([{ model: null, key: "discount_code", kind: "unknown-key", detail: expect.stringContaining("not imported") }])
    expect(c.catalog.definitions[0].history.map((h: Json) => [h.snapshot.effectiveFrom, h.snapshot.effectiveTo ?? null, h.snapshot.rates.inputText])).toEqual([
      ["2026-01-01", "2026-06-01", "1.5"],
      ["2026-06-01", null, "1.2"]
    ])

    const j = ok(fromJson)
    // The row with an invalid price still defines its model, with no price: its calls are unpriced, not free.
    expect(j.definitionIds).toEqual(["custom:anthropic/claude-internal-eval", "custom:openai/broken"])
    expect(j.catalog.definitions[1].history[0].snapshot.rates).toEqual({})
    expect(j.issues).toEqual([expect.objectContaining({ model: "broken", key: "input", kind: "invalid-value" })])
  })

  it("nothing importable exits 2 and still prints the report; bad flags are one line", async () => {
    const empty = await tallyAsync(["catalog", "import", "--format", "json", "-", "--out", join(dir, "never.json")], { input: JSON.stringify({ model: "not a list" }) })
    expect(empty.code).toBe(2)
    expect(json(empty.stdout)).toMatchObject({ definitions: 0, definitionIds: [], issueCounts: { "invalid-value": 1 } })
    expect(oneStderrLine(empty)).toBe(`tally: catalog import: -: no definitions imported (1 issue(s); first: invalid-value: expected an array of models or { "models": [...] })`)
    expect(() => readFileSync(join(dir, "never.json"))).toThrow()

    for (const [args, message] of [
      [["--format", "yaml", litellm], `tally: catalog import: --format must be one of litellm, csv, json, got "yaml"`],
      [[litellm], "tally: catalog import: --format is required"],
      [["--format", "csv", "--id-prefix", "x:", litellm], "tally: catalog import: --id-prefix and --effective-from apply to --format litellm only"],
      [["--format", "litellm", "--effective-from", "soon", litellm], "tally: catalog import: --effective-from must be an ISO 8601 date or date-time"],
      [["--format", "litellm", join(dir, "missing.json")], "tally: "]
    ] as const) {
      const out = await Cli.run(["catalog", "import", ...args])
      expect(out).toMatchObject({ exitCode: 2, stdout: "" })
      expect(out.stderr.startsWith(message), out.stderr).toBe(true)
    }
  })
})

describe("tally catalog", () => {
  it("help lists the subcommands; an unknown one is exit 2 with the closest ones", async () => {
    const help = await Cli.run(["catalog"])
    expect(help.exitCode).toBe(0)
    for (const sub of ["list", "show", "explain", "coverage", "audit", "import"]) expect(help.stdout).toMatch(new RegExp(`^  ${sub} `, "m"))
    expect(await Cli.run(["catalog", "prices"])).toMatchObject({ exitCode: 2, stderr: `tally: catalog: unknown subcommand "prices" (tally catalog --help lists them)\n` })
    expect(await Cli.run(["catalog", "lst"])).toMatchObject({ exitCode: 2, stderr: `tally: catalog: unknown subcommand "lst"; did you mean list? (tally catalog --help lists them)\n` })
  })
})
