import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { tallyArgs } from "../src/cli/Launch.ts"

const root = resolve(import.meta.dirname, "../../..")

const tally = (args: ReadonlyArray<string>, input?: string) => {
  const result = spawnSync(process.execPath, tallyArgs(args), { cwd: root, input, encoding: "utf8" })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

const dir = mkdtempSync(join(tmpdir(), "tally-cli-"))
const file = (name: string, content: unknown) => {
  const path = join(dir, name)
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content))
  return path
}

describe("tally price", () => {
  const snapshot = file("s.json", { provider: "openai", modelKey: "gpt-4", rates: { inputText: "30", outputText: "60" } })

  it("prints the exact breakdown as JSON", () => {
    const usage = file("u.json", { tokens: { inputText: 1000, outputText: 500 } })
    const out = tally(["price", "--snapshot", snapshot, "--usage", usage])
    expect(out.code).toBe(0)
    expect(out.stderr).toBe("")
    const breakdown = JSON.parse(out.stdout)
    expect(breakdown.total).toBe("0.06")
    expect(breakdown.currency).toBe("USD")
    expect(breakdown.snapshotId).toMatch(/^ps_[0-9a-f]{32}$/)
    expect(breakdown.lines.map((l: { component: string; amount: string }) => [l.component, l.amount])).toEqual([["inputText", "0.03"], ["outputText", "0.03"]])
  })

  it("reads the usage from stdin with -, and rounds for display with --round", () => {
    const out = tally(["price", "--snapshot", snapshot, "--usage", "-", "--round", "2"], JSON.stringify({ tokens: { inputText: 333, outputText: 333 } }))
    expect(out.code).toBe(0)
    const breakdown = JSON.parse(out.stdout)
    // 333*30/1M + 333*60/1M = 0.02997 -> 0.03, split by largest remainder
    expect(breakdown.total).toBe("0.03")
    expect(breakdown.lines.map((l: { amount: string }) => l.amount)).toEqual(["0.01", "0.02"])
  })

  it("a bad usage file prints one error line naming the field and exits 2", () => {
    const usage = file("bad.json", { tokens: { inputText: -5 } })
    const out = tally(["price", "--snapshot", snapshot, "--usage", usage])
    expect(out.code).toBe(2)
    expect(out.stdout).toBe("")
    expect(out.stderr.trimEnd().split("\n")).toHaveLength(1)
    expect(out.stderr).toContain(`expected a non-negative integer at ["tokens"]["inputText"]`)
  })

  it("a bad snapshot rate is named and rejected", () => {
    const bad = file("bad-snapshot.json", { provider: "p", modelKey: "m", rates: { inputText: "3e1" } })
    const out = tally(["price", "--snapshot", bad, "--usage", "-"], "{\"tokens\":{}}")
    expect(out.code).toBe(2)
    expect(out.stderr).toContain(`got "3e1" at ["rates"]["inputText"]`)
  })

  it("usage with no price exits 3 and names the component", () => {
    const out = tally(["price", "--snapshot", snapshot, "--usage", "-"], JSON.stringify({ tokens: { cacheRead: 10 } }))
    expect(out.code).toBe(3)
    expect(out.stderr).toContain("no price for: cacheRead")
  })

  it("invalid JSON, a missing file, a missing flag and an unknown command are clear errors", () => {
    expect(tally(["price", "--snapshot", snapshot, "--usage", file("x.json", "{oops")]).stderr).toMatch(/^tally: .*x\.json: not valid JSON/)
    expect(tally(["price", "--snapshot", join(dir, "missing.json"), "--usage", "-"], "{}").stderr).toContain("missing.json: cannot read: ENOENT")
    expect(tally(["price", "--usage", "-"], "{}")).toMatchObject({ code: 2, stderr: "tally: price: --snapshot is required\n" })
    expect(tally(["prise"])).toMatchObject({ code: 2 })
    expect(tally(["price", "--snapshot", snapshot, "--usage", "-", "--round", "two"], "{}").stderr).toContain("--round must be a non-negative integer")
  })
})
