/** Runs the embedding example (docs/embedding.md) as a real process and checks what it prints. */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { backend, layerOptions, postgresOnlyLayer, testDatabaseUrl } from "./TestStore.ts"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const example = fileURLToPath(new URL("../../../examples/embedding/embed.ts", import.meta.url))

const runExample = (env: Record<string, string>) =>
  Effect.callback<{ readonly stdout: string; readonly stderr: string }, Error>((resume) => {
    const child = execFile(process.execPath, ["--conditions=source", example], { cwd: root, env: { ...process.env, ...env }, timeout: 170_000 }, (error, stdout, stderr) => {
      resume(error === null ? Effect.succeed({ stdout, stderr }) : Effect.fail(new Error(`${error.message}\n${stderr}`)))
    })
    return Effect.sync(() => child.kill())
  })

interface Output {
  readonly tenantId: string
  readonly ingest: {
    readonly items: ReadonlyArray<{ readonly requestId: string; readonly status: string; readonly costSource?: string; readonly total?: string | null; readonly reason?: string }>
    readonly inserted: number
    readonly rejected: number
  }
  readonly replay: { readonly inserted: number; readonly duplicates: number; readonly rejected: number }
  readonly quote: { readonly model: string; readonly total: string; readonly currency: string; readonly costSource: string }
  readonly price: { readonly total: string; readonly currency: string; readonly lines: number }
}

describe(`examples/embedding/embed.ts on ${backend}`, () => {
  layer(postgresOnlyLayer, layerOptions)((it) => {
    it.effect("runs as a process and prints the priced, replayed and rejected results", () =>
      Effect.gen(function*() {
        const url = yield* testDatabaseUrl
        const env: Record<string, string> = url === undefined ? { TALLY_DATABASE_URL: "", TALLY_DATA_DIR: "" } : { TALLY_DATABASE_URL: url }
        const { stdout } = yield* runExample(env)
        const out = JSON.parse(stdout) as Output
        assert.match(out.tenantId, /^tnt_/)
        assert.deepStrictEqual(out.ingest.items.map((i) => [i.requestId, i.status, i.costSource ?? null]), [
          ["chatcmpl-embed-0001", "inserted", "computed"],
          ["local-embed-0002", "inserted", "unpriced"],
          ["chatcmpl-embed-0003", "rejected", null]
        ])
        // gpt-4.1-nano: 16 input tokens at $0.10/M + 363 output at $0.40/M.
        assert.strictEqual(out.ingest.items[0]!.total, "0.0001468")
        assert.isNull(out.ingest.items[1]!.total)
        assert.match(out.ingest.items[2]!.reason!, /^payload\.usage\.prompt_tokens: /)
        assert.deepStrictEqual(out.replay, { inserted: 0, duplicates: 2, rejected: 1 })
        assert.deepStrictEqual(out.quote, { model: "gpt-4.1-nano-2025-04-14", total: "0.0001468", currency: "USD", costSource: "computed" })
        // 1000 × $2.50/M + 500 × $10/M.
        assert.deepStrictEqual(out.price, { total: "0.0075", currency: "USD", lines: 2 })
      }), 180_000)
  })
})
