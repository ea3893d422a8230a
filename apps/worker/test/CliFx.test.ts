/**
 * `tally fx add|import|list|convert` in real processes against an embedded PGlite data directory:
 * rates imported from a CSV file and entered by hand, and a period's spend converted into the
 * tenant's currency with hand-computed amounts. JSON on stdout, one stderr line and exit 2 for bad input.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Database, Store, Tenants, UsageLedger } from "@tally/store"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { call, euroModel } from "../../../packages/engine/test/ChargebackSupport.ts"
import { oneStderrLine, tally, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

// 5 EUR on 2 March (1M input x 2 + 0.5M output x 6, per 1M), 3.5 USD on 2 March (gpt-4o 2.50 / 10).
const calls = [
  call({ requestId: "e1", at: "2026-03-02T10:00:00Z", snapshot: euroModel, labels: { customer: "globex" }, tokens: { inputText: 1_000_000, outputText: 500_000 } }),
  call({ requestId: "u1", at: "2026-03-02T11:00:00Z", labels: { customer: "initech" }, tokens: { inputText: 1_000_000, outputText: 100_000 } })
]

describe("tally fx", () => {
  let dir: string
  let tenantId: string
  const env = () => ({ TALLY_DATA_DIR: join(dir, "data") })
  /** In this process (`Cli.run`); the bad-input case also spawns the real binary, as a script would. */
  const json = async (args: ReadonlyArray<string>) => {
    const result = await tallyHere(["fx", ...args], env())
    if (result.code !== 0) throw new Error(`tally fx ${args.join(" ")} exited ${result.code}: ${result.stderr}`)
    return JSON.parse(result.stdout)
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tally-fx-cli-"))
    seedDataDir(join(dir, "data"))
    tenantId = await Effect.runPromise(Effect.gen(function*() {
      const tenant = yield* Tenants.Tenants.use((t) => t.create({ name: "FX Co", currency: "USD" }))
      yield* UsageLedger.UsageLedger.use((l) => l.insertBatch(tenant.id, calls))
      return tenant.id
    }).pipe(Effect.provide(Store.layerWith(Database.layerPglite({ dataDir: join(dir, "data") })))))
  }, 600_000)

  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("imports and adds rates, lists them, and converts a period's spend by owner", async () => {
    const file = join(dir, "rates.csv")
    writeFileSync(file, "base,quote,date,rate\nEUR,USD,2026-03-02,1.08\n")
    const imported = await json(["import", "--tenant", tenantId, "--file", file, "--source", "ECB"])
    expect(imported.imported).toBe(1)
    expect(imported.rates[0]).toMatchObject({ base: "EUR", quote: "USD", date: "2026-03-02", rate: "1.08", source: "ECB", recordedBy: "cli" })
    const converted = await json(["convert", "--tenant", tenantId, "--from", "2026-03-01", "--to", "2026-04-01", "--dimension", "customer"])
    // 5 EUR x 1.08 = 5.4 USD for globex, 3.5 USD for initech: 8.9 USD.
    expect(converted.total).toBe("8.9")
    expect(converted.owners).toEqual([
      { owner: "globex", original: [{ currency: "EUR", amount: "5" }], converted: "5.4" },
      { owner: "initech", original: [{ currency: "USD", amount: "3.5" }], converted: "3.5" }
    ])
    expect(converted.rateIds).toEqual([imported.rates[0].id])
    const added = await json(["add", "--tenant", tenantId, "--base", "EUR", "--quote", "USD", "--date", "2026-03-02", "--rate", "1.1", "--source", "manual", "--by", "ops"])
    expect(added).toMatchObject({ rate: "1.1", recordedBy: "ops" })
    expect((await json(["list", "--tenant", tenantId, "--base", "EUR"])).rates.map((r: { rate: string }) => r.rate)).toEqual(["1.08", "1.1"])
  }, 600_000)

  it("bad input exits 2 with one line that names the problem", async () => {
    writeFileSync(join(dir, "bad.json"), JSON.stringify([{ base: "EUR", quote: "USD", date: "2026-13-01", rate: "1.1", source: "x" }]))
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["add", "--tenant", tenantId, "--base", "EUR", "--quote", "USD", "--date", "2026-03-02", "--rate", "-1", "--source", "x"], /^tally: fx add: rate: expected a rate above 0, got -1$/],
      [["convert", "--tenant", "nobody", "--from", "2026-03-01", "--to", "2026-04-01"], /^tally: fx convert: tenant "nobody" does not exist$/],
      [["import", "--tenant", tenantId, "--file", join(dir, "bad.json")], /^tally: fx import: rates\[0\]\.date: /]
    ]
    const [firstArgs, firstExpected] = cases[0]!
    const spawned = tally(["fx", ...firstArgs], { env: env() })
    expect([spawned.code, oneStderrLine(spawned)]).toEqual([2, expect.stringMatching(firstExpected)])
    for (const [args, expected] of cases) {
      const result = await tallyHere(["fx", ...args], env())
      expect(result.code, args.join(" ")).toBe(2)
      expect(oneStderrLine(result)).toMatch(expected)
    }
  }, 600_000)
})
