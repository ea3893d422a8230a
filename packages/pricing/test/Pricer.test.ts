import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { createPricer, Pricer, PricerError } from "../src/index.ts"

const AT = "2026-05-01T00:00:00Z"
const pricer = createPricer()

const refused = (run: () => unknown): PricerError.PricerError => {
  try {
    run()
  } catch (error) {
    assert.isTrue(PricerError.isPricerError(error), `expected a PricerError, got ${String(error)}`)
    return error as PricerError.PricerError
  }
  return assert.fail("expected a PricerError, nothing was thrown")
}

/** A custom catalog: one model whose price changes on 2026-02-01, and a tenant-scoped model. */
const custom = {
  format: "tally.catalog/v1" as const,
  definitions: [{
    id: "acme/house-model",
    provider: "openai",
    modelKey: "house-model",
    match: { equals: "house-model" },
    maintainer: "custom",
    history: [
      { version: 1, snapshot: { provider: "openai", modelKey: "house-model", effectiveTo: "2026-02-01", rates: { inputText: "1", outputText: "2" } } },
      { version: 2, snapshot: { provider: "openai", modelKey: "house-model", effectiveFrom: "2026-02-01", rates: { inputText: "3", outputText: "4" } } }
    ]
  }],
  layers: [{
    id: "acme",
    scope: { tenant: "acme" },
    definitions: [{
      id: "acme/tenant-model",
      provider: "openai",
      modelKey: "tenant-model",
      match: { equals: "tenant-model" },
      maintainer: "custom",
      history: [{ version: 1, snapshot: { provider: "openai", modelKey: "tenant-model", rates: { inputText: "0.5", outputText: "0.5" } } }]
    }]
  }]
}

describe("pricer.price by model name", () => {
  it("prices genai-prices' usage, whose input_tokens includes cache reads, exactly", () => {
    const priced = pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1000, cache_read_tokens: 200, output_tokens: 300 }, at: AT })
    // 800 × $2.50/M + 200 × $1.25/M + 300 × $10/M
    expect(priced).toMatchObject({ total: "0.00525", currency: "USD", definition: "openai/gpt-4o", costSource: "computed", unpricedReason: null })
    expect(priced.usage.tokens).toEqual({ inputText: 800, cacheRead: 200, outputText: 300 })
    expect(priced.lines.map((l) => [l.component, l.amount])).toEqual([["inputText", "0.002"], ["cacheRead", "0.00025"], ["outputText", "0.003"]])
  })

  it("prices Tally's bucket names, flat or as Usage, to the same total", () => {
    const flat = pricer.price({ provider: "openai", model: "gpt-4o", usage: { inputText: 800, cacheRead: 200, outputText: 300 }, at: AT })
    const nested = pricer.price({ provider: "openai", model: "gpt-4o", usage: { tokens: { inputText: 800, cacheRead: 200, outputText: 300 } }, at: AT })
    expect([flat.total, nested.total]).toEqual(["0.00525", "0.00525"])
  })

  it("takes Anthropic cache writes out of input_tokens and prices them at the write rate", () => {
    const priced = pricer.price({
      provider: "anthropic",
      model: "claude-sonnet-4-5",
      usage: { input_tokens: 10_000, cache_read_tokens: 2000, cache_write_tokens: 1000, output_tokens: 500 },
      at: AT
    })
    // 7000 × $3/M + 2000 × $0.30/M + 1000 × $3.75/M + 500 × $15/M
    expect(priced.total).toBe("0.03285")
    expect(priced.usage.tokens).toEqual({ inputText: 7000, cacheRead: 2000, cacheWrite5m: 1000, outputText: 500 })
    const oneHour = pricer.price({
      provider: "anthropic",
      model: "claude-sonnet-4-5",
      usage: { input_tokens: 10_000, cache_write_tokens: 1000, cache_write_1h_tokens: 1000, output_tokens: 0 },
      at: AT
    })
    // 9000 × $3/M + 1000 × $6/M
    expect(oneHour.total).toBe("0.033")
  })

  it("prices Gemini's long-context tier on the whole prompt", () => {
    const short = pricer.price({ provider: "google", model: "gemini-2.5-pro", usage: { input_tokens: 150_000, cache_read_tokens: 50_000, output_tokens: 1000 }, at: AT })
    const long = pricer.price({ provider: "google", model: "gemini-2.5-pro", usage: { input_tokens: 250_000, output_tokens: 1000 }, at: AT })
    // 100k × $1.25/M + 50k × $0.125/M + 1000 × $10/M; above 200k: 250k × $2.50/M + 1000 × $15/M
    expect([short.total, long.total]).toEqual(["0.14125", "0.64"])
  })

  it("answers an unknown model as unpriced, with the reason", () => {
    const priced = pricer.price({ provider: "openai", model: "no-such-model-xyz", usage: { input_tokens: 10 }, at: AT })
    expect(priced).toMatchObject({ total: null, costSource: "unpriced", unpricedReason: "no-rule-matched", definition: null })
    expect(priced.unpricedDetail).toContain("no-such-model-xyz")
  })

  it("shows every field in JSON", () => {
    const json = JSON.parse(JSON.stringify(pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 10 }, at: AT })))
    expect(Object.keys(json).sort()).toEqual(
      ["costSource", "currency", "definition", "lines", "match", "model", "provider", "snapshotId", "total", "unpricedDetail", "unpricedReason", "usage"]
    )
    expect(json.lines[0]).toMatchObject({ component: "inputText", amount: "0.000025" })
  })
})

describe("usage shapes are never guessed", () => {
  it("refuses usage that mixes Tally's names with genai-prices keys", () => {
    const error = refused(() => pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1000, cacheRead: 200 }, at: AT }))
    expect(error).toMatchObject({ _tag: "PricerError", reason: "ambiguous-usage", path: "usage" })
    expect(error.message).toContain("input_tokens includes cache reads")
  })

  it("refuses a usageFormat its keys contradict", () => {
    const error = refused(() => pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 10 }, usageFormat: "tally", at: AT }))
    expect(error).toMatchObject({ reason: "ambiguous-usage", path: "usageFormat" })
  })

  it("refuses parts larger than the total that includes them", () => {
    const error = refused(() => pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 100, cache_read_tokens: 200 }, at: AT }))
    expect(error).toMatchObject({ reason: "invalid-usage", path: "usage.input_tokens" })
    const missing = refused(() => pricer.price({ provider: "openai", model: "gpt-4o", usage: { cache_read_tokens: 200 }, at: AT }))
    expect(missing).toMatchObject({ reason: "invalid-usage", path: "usage.input_tokens" })
  })

  it("refuses counts Tally has no bucket for, unknown keys and bad numbers", () => {
    expect(refused(() => pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 100, cache_audio_read_tokens: 5 }, at: AT })))
      .toMatchObject({ reason: "unsupported-usage", path: "usage.cache_audio_read_tokens" })
    expect(refused(() => pricer.price({ provider: "openai", model: "gpt-4o", usage: { prompt_tokens: 100 } as never, at: AT })))
      .toMatchObject({ reason: "invalid-usage", path: "usage.prompt_tokens" })
    expect(refused(() => pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1.5 }, at: AT })))
      .toMatchObject({ reason: "invalid-usage", path: "usage.input_tokens" })
    expect(refused(() => pricer.price({ provider: "openai", model: "gpt-4o", usage: { inputText: -1 }, at: AT })))
      .toMatchObject({ reason: "invalid-usage", path: "usage" })
  })

  it("refuses a bad time, provider or model", () => {
    expect(refused(() => pricer.price({ provider: "openai", model: "gpt-4o", usage: {}, at: "2026-13-45" }))).toMatchObject({ reason: "invalid-time", path: "at" })
    expect(refused(() => pricer.price({ provider: "", model: "gpt-4o", usage: {} }))).toMatchObject({ reason: "invalid-input", path: "provider" })
    expect(refused(() => pricer.price({ provider: "openai", usage: {} } as never))).toMatchObject({ reason: "invalid-input", path: "model" })
  })
})

describe("pricer.cost from a raw payload", () => {
  const completion = {
    id: "chatcmpl-1",
    object: "chat.completion",
    model: "gpt-4o-2024-08-06",
    choices: [],
    usage: { prompt_tokens: 1000, completion_tokens: 300, total_tokens: 1300, prompt_tokens_details: { cached_tokens: 200 } }
  }

  it("answers the tally cost fields with exact decimal strings", () => {
    const costed = pricer.cost({ provider: "openai", payload: completion, at: AT })
    expect(costed).toMatchObject({
      provider: "openai",
      api: "chat.completions",
      model: "gpt-4o-2024-08-06",
      definition: "openai/gpt-4o",
      total: "0.00525",
      computedTotal: "0.00525",
      currency: "USD",
      costSource: "computed",
      unpricedReason: null
    })
    expect(costed.usage.tokens).toEqual({ inputText: 800, cacheRead: 200, outputText: 300 })
  })

  it("takes the payload as text too, and refuses one it cannot read, naming where", () => {
    expect(pricer.cost({ provider: "openai", payload: JSON.stringify(completion), at: AT }).total).toBe("0.00525")
    const error = refused(() => pricer.cost({ provider: "openai", payload: { ...completion, usage: { ...completion.usage, prompt_tokens: -1 } }, at: AT }))
    expect(error).toMatchObject({ reason: "invalid-payload", path: "payload.usage.prompt_tokens" })
  })
})

describe("createPricer options", () => {
  it("prices from a custom catalog object alone, with the snapshot in force at each time", () => {
    const own = createPricer({ catalog: custom, builtIn: false })
    const at = (time: string) => own.price({ provider: "openai", model: "house-model", usage: { inputText: 1_000_000, outputText: 1_000_000 }, at: time }).total
    // Repeated across the change: the memo must not carry January's snapshot into February.
    expect([at("2026-01-15"), at("2026-02-15"), at("2026-01-20"), at("2026-03-01T00:00:00Z")]).toEqual(["3", "7", "3", "7"])
    expect(own.price({ provider: "openai", model: "gpt-4o", usage: { inputText: 1 }, at: AT }).costSource).toBe("unpriced")
  })

  it("reads a custom catalog file and applies the scope's layers", () => {
    const dir = mkdtempSync(join(tmpdir(), "tally-pricer-"))
    try {
      const file = join(dir, "catalog.json")
      writeFileSync(file, JSON.stringify(custom))
      const usage = { inputText: 2_000_000 }
      const acme = createPricer({ catalog: file, scope: { tenant: "acme" } })
      expect(acme.price({ provider: "openai", model: "tenant-model", usage, at: AT }).total).toBe("1")
      expect(acme.price({ provider: "openai", model: "gpt-4o", usage, at: AT }).total).toBe("5")
      const global = createPricer({ catalog: file })
      expect(global.price({ provider: "openai", model: "tenant-model", usage, at: AT }).costSource).toBe("unpriced")
      expect(global.price({ provider: "openai", model: "tenant-model", usage, at: AT, scope: { tenant: "acme" } }).total).toBe("1")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("refuses options it cannot use, naming them", () => {
    expect(refused(() => createPricer({ catalog: { format: "nope" } as never }))).toMatchObject({ reason: "invalid-catalog", path: "options.catalog" })
    expect(refused(() => createPricer({ catalog: "/nonexistent/catalog.json" }))).toMatchObject({ reason: "invalid-catalog" })
    expect(refused(() => createPricer({ builtIn: false }))).toMatchObject({ reason: "invalid-options", path: "options.builtIn" })
    expect(refused(() => createPricer({ scope: { tenant: 3 } } as never))).toMatchObject({ reason: "invalid-options", path: "options.scope" })
    expect(refused(() => createPricer({ catalogue: "x" } as never))).toMatchObject({ reason: "invalid-options", path: "options.catalogue" })
  })
})

describe("the Pricer service", () => {
  it.effect("prices at the Clock's time when no time is given", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-01-15T00:00:00Z"))
      const service = yield* Pricer.Pricer
      const january = yield* service.price({ provider: "openai", model: "house-model", usage: { inputText: 1_000_000 } })
      yield* TestClock.setTime(Date.parse("2026-02-15T00:00:00Z"))
      const february = yield* service.price({ provider: "openai", model: "house-model", usage: { inputText: 1_000_000 } })
      expect([january.total, february.total]).toEqual(["1", "3"])
      const error = yield* Effect.flip(service.price({ provider: "openai", model: "house-model", usage: { input_tokens: 1, inputText: 1 } }))
      expect(error.reason).toBe("ambiguous-usage")
    }).pipe(Effect.provide(Pricer.Pricer.layer({ catalog: custom, builtIn: false }))))

  it.effect("fails its layer with a PricerError on a bad catalog", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.provide(Effect.gen(function*() {
        return yield* Pricer.Pricer
      }), Pricer.Pricer.layer({ catalog: { format: "nope" } as never })))
      expect(error).toMatchObject({ _tag: "PricerError", reason: "invalid-catalog" })
    }))
})

describe("importing the pricer", () => {
  it("loads no PostgreSQL, PGlite, HTTP or GraphQL code", () => {
    // A child process records every module the import and one priced call resolve.
    const entry = fileURLToPath(new URL("../src/index.ts", import.meta.url))
    const script = `
      import { registerHooks } from "node:module"
      const seen = []
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r } })
      const { createPricer } = await import(${JSON.stringify(entry)})
      const priced = createPricer().price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1000 }, at: "2026-05-01" })
      process.stdout.write(JSON.stringify({ total: priced.total, seen }))
    `
    const out = JSON.parse(execFileSync(process.execPath, ["--conditions=source", "--input-type=module", "-e", script], { encoding: "utf8" })) as {
      readonly total: string
      readonly seen: ReadonlyArray<string>
    }
    expect(out.total).toBe("0.0025")
    expect(out.seen.some((url) => url.includes("/packages/pricing/src/Pricer.ts"))).toBe(true)
    // effect/Schema imports the plain data types Headers, Cookies and UrlParams from effect/http;
    // no client, server, router or socket is loaded.
    const schemaDataTypes = /\/effect\/dist\/http\/(Cookies|Headers|UrlParams|internal\/urlParams)\.js$/
    const forbidden = out.seen.filter((url) =>
      !schemaDataTypes.test(url) &&
      /pglite|sql-pg|[/@]pg[/@]|postgres|graphql|pothos|\/store\/src\/|\/engine\/src\/|\/http\/|undici|^node:(http|https|http2|net|tls)$/.test(url)
    )
    expect(forbidden).toEqual([])
  })

})
