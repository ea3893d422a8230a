import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { tallyArgs } from "../src/cli/Launch.ts"

const root = resolve(import.meta.dirname, "../../..")
const fixtures = join(root, "packages/providers/test/fixtures")
const tally = (args: ReadonlyArray<string>, input?: string) => {
  const result = spawnSync(process.execPath, tallyArgs(args), { cwd: root, input, encoding: "utf8" })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe("tally normalize", () => {
  it("prints the NormalizedCall of an Anthropic payload, raw payload kept verbatim", () => {
    const file = join(fixtures, "anthropic/messages_cache_read_1h_ttl.json")
    const out = tally(["normalize", file])
    expect(out.stderr).toBe("")
    expect(out.code).toBe(0)
    const call = JSON.parse(out.stdout)
    expect(call).toMatchObject({ provider: "anthropic", api: "messages", model: "claude-sonnet-4-5-20250929" })
    expect(call.usage.tokens).toEqual({ inputText: 21, cacheRead: 18432, cacheWrite1h: 1824, outputText: 393 })
    expect(call.raw).toEqual(JSON.parse(readFileSync(file, "utf8")).payload)
  })

  it("reads a raw payload from stdin with --provider", () => {
    const payload = { id: "x", object: "chat.completion", model: "gpt-4o", choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 } } }
    const out = tally(["normalize", "--provider", "openai", "-"], JSON.stringify(payload))
    expect(out.code).toBe(0)
    expect(JSON.parse(out.stdout).usage.tokens).toEqual({ inputText: 6, cacheRead: 4, outputText: 5 })
  })

  it("a payload that breaks the provider's rules exits 2 with the JSON path", () => {
    const payload = { id: "x", object: "chat.completion", model: "gpt-4o", choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 40 } } }
    const out = tally(["normalize", "--provider", "openai", "-"], JSON.stringify(payload))
    expect(out.code).toBe(2)
    expect(out.stdout).toBe("")
    expect(out.stderr).toMatch(/^tally: openai: usage\.prompt_tokens_details\.cached_tokens: .+\n$/)
  })

  it("an unknown provider and a missing payload argument are clear errors", () => {
    expect(tally(["normalize", "--provider", "acme", "-"], "{}").stderr).toContain("acme")
    expect(tally(["normalize", "--provider", "openai"])).toMatchObject({ code: 2, stderr: "tally: normalize: expected one payload file (or - for stdin), got 0\n" })
  })
})
