/**
 * `tally commitment` and `tally credits` as a script runs them (through `Cli.run`), over an embedded
 * PGlite data directory and, when `TALLY_TEST_DATABASE_URL` is set, a throwaway PostgreSQL
 * database: a spend commitment and a credit pack made from flags, events loaded with
 * `tally ingest`, the month's report, the balance, a break-even estimate, and bad flags named.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CostAllocation } from "@tally/core"
import { Database, Store, Tenants } from "@tally/store"
import { Effect, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as FocusSpec from "../../../packages/engine/test/FocusSpec.ts"
import { oneStderrLine, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

interface Target {
  readonly flags: ReadonlyArray<string>
  readonly createTenant: (id: string) => Promise<void>
  readonly close: () => Promise<void>
}

const pgliteTarget = (): Target => {
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-credits-"))
  seedDataDir(dir)
  const layer = Store.layerWith(Database.layerPglite({ dataDir: dir }))
  return {
    flags: ["--data-dir", dir],
    createTenant: (id) => Effect.runPromise(Effect.provide(Effect.asVoid(Tenants.Tenants.use((t) => t.create({ id, name: id }))), layer)),
    close: async () => rmSync(dir, { recursive: true, force: true })
  }
}

const postgresTarget = async (adminUrl: string): Promise<Target> => {
  const runtime = ManagedRuntime.make(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(adminUrl))))
  const name = await runtime.runPromise(Effect.gen(function*() {
    const { sql } = yield* Database.Database
    const [row] = yield* sql<{ name: string }>`SELECT current_database() AS name`
    return row!.name
  }))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    flags: ["--database-url", url.toString()],
    createTenant: (id) => runtime.runPromise(Effect.asVoid(Tenants.Tenants.use((t) => t.create({ id, name: id })))),
    close: () => runtime.dispose()
  }
}

const adminUrl = process.env.TALLY_TEST_DATABASE_URL
const targetNames = ["pglite", ...(adminUrl === undefined || adminUrl === "" ? [] : ["postgres"])]

describe.each(targetNames)("tally commitment and credits (%s)", { timeout: 300_000 }, (name) => {
  let target: Target
  const tenant = "cli-credits"
  const run = async (args: ReadonlyArray<string>) => {
    const out = await tallyHere([...args, ...target.flags])
    return { ...out, json: out.stdout === "" ? undefined : JSON.parse(out.stdout) }
  }

  beforeAll(async () => {
    target = name === "postgres" ? await postgresTarget(adminUrl!) : pgliteTarget()
    await target.createTenant(tenant)
  })

  afterAll(async () => {
    await target?.close()
  })

  it("a committed-use discount and a credit pack from flags, drawn by ingested calls, reported", async () => {
    const cud = await run([
      "commitment", "create", "--tenant", tenant, "--name", "openai-cud", "--kind", "spend", "--provider", "openai", "--model", "gpt-4o-mini*",
      "--currency", "USD", "--discount-percent", "20", "--amount", "100", "--starts-at", "2026-01-01"
    ])
    expect(cud.stderr).toBe("")
    expect(cud.json).toMatchObject({ kind: "spend", discountPercent: "20", amount: "100", startsAt: "2026-01-01T00:00:00.000Z" })
    const badFee = await run(["commitment", "create", "--tenant", tenant, "--name", "x", "--kind", "provisioned", "--model", "m", "--currency", "USD", "--fee-period", "hour", "--starts-at", "2026-01-01"])
    expect([badFee.code, oneStderrLine(badFee)]).toEqual([2, "tally: commitment create: --fee: required for a provisioned commitment"])
    const badPercent = await run(["commitment", "create", "--tenant", tenant, "--name", "x", "--kind", "spend", "--currency", "USD", "--amount", "1", "--discount-percent", "150", "--starts-at", "2026-01-01"])
    expect([badPercent.code, oneStderrLine(badPercent)]).toEqual([2, "tally: commitment create: --discount-percent: expected a percentage between 0 and 100, got 150"])

    const pack = await run(["credits", "grant", "--tenant", tenant, "--customer", "acme", "--unit", "USD", "--amount", "1", "--effective-at", "2026-01-01", "--alert-at", "0.5"])
    expect(pack.stderr).toBe("")
    expect(pack.json).toMatchObject({ customer: "acme", unit: "USD", amount: "1", remaining: "1", alertThresholds: ["0.5"] })
    const badGrant = await run(["credits", "grant", "--tenant", tenant, "--customer", "acme", "--team", "t", "--unit", "USD", "--amount", "1"])
    expect([badGrant.code, oneStderrLine(badGrant)]).toEqual([2, "tally: credits grant: --customer: a grant is for exactly one customer or one team"])

    // gpt-4o-mini: 1M input x $0.15 + 1M output x $0.60 = 0.75 on demand, 0.6 after 20% off.
    const events = join(mkdtempSync(join(tmpdir(), "tally-cli-credits-events-")), "events.json")
    writeFileSync(events, JSON.stringify([1, 2].map((i) => ({
      requestId: `cli-${i}`,
      occurredAt: "2026-01-10T12:00:00Z",
      provider: "openai",
      model: "gpt-4o-mini",
      usage: { tokens: { inputText: 1_000_000, outputText: 1_000_000 } },
      labels: { customer: "acme" }
    }))))
    const loaded = await run(["ingest", "--tenant", tenant, "--quiet", events])
    expect(loaded.code).toBe(0)
    // Loading again draws nothing.
    expect((await run(["ingest", "--tenant", tenant, "--quiet", events])).code).toBe(0)

    const report = await run(["commitment", "report", "--tenant", tenant, "--commitment", cud.json.id, "--from", "2026-01-01", "--to", "2026-02-01"])
    expect(report.json).toMatchObject({
      fee: "100",
      covered: { calls: 2, onDemand: "1.5", charged: "1.2" },
      utilisation: "0.012",
      shortfall: "98.8",
      savings: "-98.5"
    })
    // The pack pays 0.6 + 0.4 of the second call: empty.
    const balance = await run(["credits", "balance", "--tenant", tenant, "--customer", "acme"])
    expect(balance.json).toMatchObject([{ customer: "acme", unit: "USD", balance: "0", granted: "1" }])
    const listed = await run(["credits", "list", "--tenant", tenant, "--customer", "acme"])
    expect(listed.json.map((g: { remaining: string }) => g.remaining)).toEqual(["0"])

    const estimate = await run([
      "commitment", "break-even", "--tenant", tenant, "--provider", "openai", "--model", "gpt-4o-mini", "--currency", "USD", "--fee", "1", "--fee-period", "hour", "--at", "2026-01-20"
    ])
    // 30 days: 1.5 on demand (the discounted calls count at their on-demand cost); fee 730 a month.
    expect(estimate.json).toMatchObject({ onDemand: "1.5", feePerMonth: "730", worthBuying: false })

    const voided = await run(["credits", "void", "--tenant", tenant, "--grant", pack.json.id])
    expect(voided.json.voidedAt).not.toBeNull()
    const unknown = await run(["commitment", "archive", "--tenant", tenant, "--commitment", "nope"])
    expect([unknown.code, oneStderrLine(unknown)]).toEqual([2, `tally: commitment archive: id: commitment "nope" does not exist`])
  })
  it("commitment focus: the FOCUS 1.3 Contract Commitment dataset and Purchase rows of a period, figures by hand", async () => {
    const focusTenant = "cli-focus"
    await target.createTenant(focusTenant)
    // March 2026: capacity 2 USD/hour for 3 hours = 6 (a Purchase of 6); a spend commitment of 50 a
    // month (no Purchase: its cost is on the calls); acme's pack of 5 (a Purchase of 5, EffectiveCost 0).
    const created: Array<Awaited<ReturnType<typeof run>>> = []
    for (
      const args of [
        ["commitment", "create", "--tenant", focusTenant, "--name", "pt-4o", "--kind", "provisioned", "--provider", "openai", "--model", "gpt-4o", "--currency", "USD", "--fee", "2", "--fee-period", "hour", "--starts-at", "2026-03-02T10:00:00Z", "--ends-at", "2026-03-02T13:00:00Z"],
        ["commitment", "create", "--tenant", focusTenant, "--name", "cud", "--kind", "spend", "--currency", "USD", "--discount-percent", "10", "--amount", "50", "--starts-at", "2026-03-01"],
        ["credits", "grant", "--tenant", focusTenant, "--customer", "acme", "--unit", "USD", "--amount", "5", "--effective-at", "2026-03-05", "--note", "pack"]
      ]
    ) created.push(await run(args))
    expect(created.map((c) => c.code)).toEqual([0, 0, 0])
    const out = await run(["commitment", "focus", "--tenant", focusTenant, "--from", "2026-03-01", "--to", "2026-04-01"])
    expect([out.code, out.stderr]).toEqual([0, ""])
    const dataset: ReadonlyArray<Record<string, string | null>> = out.json.contractCommitments
    expect(dataset.map((r) => [r["ContractCommitmentId"], r["ContractCommitmentCategory"], r["ContractCommitmentCost"], r["ContractCommitmentQuantity"]])).toEqual([
      ["commitment:pt-4o", "Usage", "6", "3"],
      ["commitment:cud", "Spend", "50", null],
      [`credit:${created[2]!.json.id}`, "Spend", "5", null]
    ])
    const purchases: ReadonlyArray<Record<string, string | null>> = out.json.purchases
    expect(FocusSpec.problems(CostAllocation.Focus.columnsOf("1.3"), purchases, "1.3")).toEqual([])
    expect(purchases.map((r) => [r["ChargeFrequency"], r["BilledCost"], r["EffectiveCost"], r["SubAccountName"]])).toEqual([
      ["Recurring", "6", "6", null],
      ["One-Time", "5", "0", "acme"]
    ])
    const backwards = await run(["commitment", "focus", "--tenant", focusTenant, "--from", "2026-04-01", "--to", "2026-03-01"])
    expect([backwards.code, oneStderrLine(backwards)]).toEqual([2, "tally: commitment focus: --to: expected an instant after --from"])
  })
})
