/**
 * `tally chargeback run|finalize|show|export` in real processes against an embedded PGlite data
 * directory the CLI opens itself. The ledger is seeded through the store first (and the embedded
 * database closed, since it is one process's); each command's JSON, exit code and stderr line are
 * the contract.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Money } from "@tally/core"
import { Database, Store, Tenants, UsageLedger } from "@tally/store"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { call } from "../../../packages/engine/test/ChargebackSupport.ts"
import * as FocusSpec from "../../../packages/engine/test/FocusSpec.ts"
import { oneStderrLine, tally, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

const calls = [
  call({ requestId: "s1", at: "2026-03-02T10:00:00Z", labels: { team: "search" }, tokens: { inputText: 123_456, outputText: 7_890 } }),
  call({ requestId: "c1", at: "2026-03-03T10:00:00Z", labels: { team: "chat" }, tokens: { inputText: 45_678, outputText: 1_234 } }),
  call({ requestId: "p1", at: "2026-03-04T10:00:00Z", labels: { team: "platform" }, tokens: { inputText: 99_999, outputText: 999 } }),
  call({ requestId: "u1", at: "2026-03-05T10:00:00Z", tokens: { inputText: 11_111, outputText: 111 } })
]

describe("tally chargeback", () => {
  let dir: string
  let tenantId: string
  let runId: string
  let finalLines: unknown
  const env = () => ({ TALLY_DATA_DIR: join(dir, "data") })
  /** In this process (`Cli.run`); the bad-input case also spawns the real binary, as a script would. */
  const json = async (args: ReadonlyArray<string>) => {
    const result = await tallyHere(["chargeback", ...args], env())
    if (result.code !== 0) throw new Error(`tally chargeback ${args.join(" ")} exited ${result.code}: ${result.stderr}`)
    return JSON.parse(result.stdout)
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tally-chargeback-cli-"))
    seedDataDir(join(dir, "data"))
    tenantId = await Effect.runPromise(Effect.gen(function*() {
      const tenant = yield* Tenants.Tenants.use((t) => t.create({ name: "CLI Co" }))
      yield* UsageLedger.UsageLedger.use((l) => l.insertBatch(tenant.id, calls))
      return tenant.id
    }).pipe(Effect.provide(Store.layerWith(Database.layerPglite({ dataDir: join(dir, "data") })))))
  }, 600_000)

  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("showback stores nothing; run stores a draft whose lines sum to its total; finalize makes it final once", async () => {
    const preview = await json(["run", "--tenant", tenantId, "--month", "2026-03", "--dimension", "team", "--shared", "platform", "--showback"])
    expect(preview.showback).toBe(true)
    expect((await json(["show", "--tenant", tenantId])).runs).toEqual([])

    const run = await json(["run", "--tenant", tenantId, "--month", "2026-03", "--dimension", "team", "--shared", "platform", "--by", "ops"])
    expect(run.status).toBe("draft")
    expect(run.lines.map((l: { owner: string }) => l.owner)).toEqual(["chat", "search"])
    expect(run.inputs.sha256).toBe(preview.inputs.sha256)
    const sum = Money.sum(run.lines.map((l: { amount: string }) => new Money.Decimal(l.amount)))
    expect(Money.format(sum)).toBe(run.total)
    expect(run.total).toBe(run.inputs.roundedTotal)
    expect(run.audit.map((a: { action: string; actor: string }) => [a.action, a.actor])).toEqual([["created", "ops"]])

    const final = await json(["finalize", "--tenant", tenantId, "--run", run.runId, "--by", "cfo"])
    expect(final.status).toBe("final")
    expect(final.audit.map((a: { action: string; actor: string }) => [a.action, a.actor])).toEqual([["created", "ops"], ["finalized", "cfo"]])
    runId = run.runId
    finalLines = final.lines
  }, 600_000)

  it("a final run cannot be finalized again; show prints it and lists runs; its period is closed", async () => {
    const run = { runId }
    const final = { lines: finalLines }
    const again = tally(["chargeback", "finalize", "--tenant", tenantId, "--run", run.runId], { env: env() })
    expect(again.code).toBe(2)
    expect(oneStderrLine(again)).toMatch(/^tally: chargeback finalize: chargeback run .* is final already/)

    const shown = await json(["show", "--tenant", tenantId, "--run", run.runId])
    expect(shown.lines).toEqual(final.lines)
    const listed = await json(["show", "--tenant", tenantId, "--status", "final"])
    expect(listed.runs.map((r: { runId: string }) => r.runId)).toEqual([run.runId])

    const overlap = tally(["chargeback", "run", "--tenant", tenantId, "--from", "2026-03-15T00:00:00Z", "--to", "2026-04-15T00:00:00Z", "--dimension", "team"], { env: env() })
    expect(overlap.code).toBe(2)
    expect(oneStderrLine(overlap)).toContain("late usage for it appears as corrections in the next run")
  }, 600_000)

  it("export writes the run's CSV lines or FOCUS rows to a file", async () => {
    const run = await json(["run", "--tenant", tenantId, "--month", "2026-03", "--dimension", "costCenter", "--rule", "fixed", "--share", "cc-1=60", "--share", "cc-2=40"])
    const csvFile = join(dir, "lines.csv")
    const csv = await json(["export", "--tenant", tenantId, "--run", run.runId, "--out", csvFile])
    expect(csv).toMatchObject({ runId: run.runId, format: "csv", file: csvFile, records: 2, total: run.total })
    const lines = FocusSpec.parseCsv(readFileSync(csvFile, "utf8")).rows
    expect(lines.map((l) => [l["owner"], l["allocated"]])).toEqual(run.lines.map((l: { owner: string; allocated: string }) => [l.owner, l.allocated]))
    const focusFile = join(dir, "focus.csv")
    const focus = await json(["export", "--tenant", tenantId, "--run", run.runId, "--format", "focus", "--out", focusFile])
    const { header, rows } = FocusSpec.parseCsv(readFileSync(focusFile, "utf8"))
    expect(focus.records).toBe(rows.length)
    expect(FocusSpec.problems(header, rows)).toEqual([])
    expect(Money.format(FocusSpec.total(rows, "BilledCost"))).toBe(run.total)
    expect(focus.focusVersion).toBe("1.3")
    expect(header).toContain("ServiceProviderName")
    // FOCUS 1.2 stays selectable.
    const oldFile = join(dir, "focus-1.2.csv")
    const old = await json(["export", "--tenant", tenantId, "--run", run.runId, "--format", "focus", "--focus-version", "1.2", "--out", oldFile])
    expect(old.focusVersion).toBe("1.2")
    const previous = FocusSpec.parseCsv(readFileSync(oldFile, "utf8"))
    expect(previous.header).not.toContain("ServiceProviderName")
    expect(FocusSpec.problems(previous.header, previous.rows, "1.2")).toEqual([])
    expect(Money.format(FocusSpec.total(previous.rows, "BilledCost"))).toBe(run.total)
  }, 600_000)

  it("bad input exits 2 with one line that names the problem", async () => {
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["run", "--tenant", tenantId, "--month", "2026-03", "--dimension", "team", "--rule", "fixed", "--share", "a=50", "--share", "b=40"], /rule\.shares: the percentages must sum to exactly 100, they sum to 90/],
      [["run", "--tenant", tenantId, "--month", "2026-3", "--dimension", "team"], /month: expected a month as YYYY-MM/],
      [["run", "--tenant", tenantId, "--month", "2026-03", "--dimension", "colour"], /dimension: expected one of/],
      [["run", "--tenant", tenantId, "--month", "2026-03"], /--dimension is required/],
      // An unknown tenant is refused by every subcommand, not shown as a tenant without runs.
      [["run", "--tenant", "nobody", "--month", "2026-03", "--dimension", "team"], /^tally: chargeback run: tenant "nobody" does not exist$/],
      [["show", "--tenant", "nobody"], /^tally: chargeback show: tenant "nobody" does not exist$/],
      [["show", "--tenant", "nobody", "--run", "00000000-0000-4000-8000-000000000000"], /^tally: chargeback show: tenant "nobody" does not exist$/],
      [["finalize", "--tenant", "nobody", "--run", "00000000-0000-4000-8000-000000000000"], /^tally: chargeback finalize: tenant "nobody" does not exist$/],
      [["export", "--tenant", "nobody", "--run", "00000000-0000-4000-8000-000000000000", "--out", "/tmp/never-written.csv"], /^tally: chargeback export: tenant "nobody" does not exist$/],
      [["finalize", "--tenant", tenantId, "--run", "00000000-0000-4000-8000-000000000000"], /does not exist/],
      [["export", "--tenant", tenantId, "--run", "x", "--format", "pdf", "--out", "/tmp/x"], /--format must be csv or focus/],
      [["export", "--tenant", tenantId, "--run", "x", "--format", "focus", "--focus-version", "1.1", "--out", "/tmp/x"], /--focus-version must be 1\.3 or 1\.2, got "1\.1"/],
      [["frobnicate"], /unknown subcommand "frobnicate"/]
    ]
    const [firstArgs, firstExpected] = cases[0]!
    const spawned = tally(["chargeback", ...firstArgs], { env: env() })
    expect([spawned.code, oneStderrLine(spawned)]).toEqual([2, expect.stringMatching(firstExpected)])
    for (const [args, expected] of cases) {
      const result = await tallyHere(["chargeback", ...args], env())
      expect(result.code, args.join(" ")).toBe(2)
      expect(oneStderrLine(result)).toMatch(expected)
    }
  }, 600_000)
})
