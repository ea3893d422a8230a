/** Runs examples/clients/wrap.mjs (docs/clients.md) as a real process and checks what it prints. */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { backend, openTestTally } from "./TestTally.ts"

const dir = fileURLToPath(new URL("../../../examples/clients/", import.meta.url))

const run = (env: Record<string, string>) =>
  new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ["--conditions=source", "wrap.mjs"], { cwd: dir, env: { ...process.env, ...env }, timeout: 170_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout)
      else reject(new Error(`${error.message}\n${stderr}`))
    })
  })

interface Output {
  readonly completion: string
  readonly streamed: string
  readonly claude: string
  readonly refused: { readonly tag: string; readonly estimatedCost: string; readonly deniedBy: number } | null
  readonly providerError: { readonly status: number; readonly type: string } | null
  readonly calls: ReadonlyArray<{ readonly api: string; readonly outcome: string; readonly status: string; readonly total: string | null; readonly costSource: string | null; readonly reservation: string | null }>
  readonly total: ReadonlyArray<{ readonly currency: string; readonly amount: string }>
}

describe(`examples/clients/wrap.mjs on ${backend}`, () => {
  it("runs as a process: every call priced and recorded, the refused call never sent, holds settled or released", async () => {
    // On PostgreSQL the example gets its own fresh database; the test only reads the URL.
    const database = backend === "postgres" ? await openTestTally() : undefined
    try {
      const url = database === undefined ? "" : await database.url()
      const out = JSON.parse(await run({ TALLY_DATABASE_URL: url })) as Output
      assert.strictEqual(out.completion, "Tally prices every call.")
      assert.strictEqual(out.streamed, "Tally prices every call.")
      assert.strictEqual(out.claude, "Tally prices every call.")
      assert.strictEqual(out.refused!.tag, "BudgetExceeded")
      assert.strictEqual(out.refused!.deniedBy, 1)
      assert.deepStrictEqual(out.providerError, { status: 400, type: "BadRequestError" })
      assert.deepStrictEqual(out.calls.map((c) => [c.api, c.outcome, c.status, c.costSource, c.reservation]), [
        ["chat.completions", "completed", "inserted", "computed", null],
        ["chat.completions", "completed", "inserted", "computed", null],
        ["responses", "completed", "inserted", "computed", null],
        ["embeddings", "completed", "inserted", "computed", null],
        ["messages", "completed", "inserted", "computed", null],
        ["chat.completions", "error", "not-recorded", null, "released"],
        ["chat.completions", "abandoned", "inserted", "estimated", "settled"]
      ])
      // gpt-4o-mini: 800 input × $0.15/M + 200 cache reads × $0.075/M + 500 output × $0.60/M.
      assert.strictEqual(out.calls[0]!.total, "0.000435")
      assert.strictEqual(out.calls[1]!.total, "0.000435")
      // 2000 input × $0.15/M + 300 output × $0.60/M.
      assert.strictEqual(out.calls[2]!.total, "0.00048")
      // claude-haiku-4-5: 1200 input × $1/M + 400 output × $5/M.
      assert.strictEqual(out.calls[4]!.total, "0.0032")
      const sum = out.calls.reduce((s, c) => s + (c.total === null ? 0 : Math.round(Number(c.total) * 1e12)), 0)
      assert.deepStrictEqual(out.total, [{ currency: "USD", amount: (sum / 1e12).toFixed(8).replace(/0+$/, "") }])
    } finally {
      await database?.close()
    }
  }, 180_000)
})
