/**
 * `tally budget` as a script runs it: a spawned CLI process over a real database (an embedded
 * PGlite data directory always; a throwaway PostgreSQL database when `TALLY_TEST_DATABASE_URL` is
 * set), with usage seeded through the store beforehand.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BudgetPeriod, Money, type UsageRecord } from "@tally/core"
import { Database, Store, Tenants, UsageLedger } from "@tally/store"
import { DateTime, Effect, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { oneStderrLine, tally, tallyHere } from "./support/Tally.ts"
import { seedDataDir } from "../../../packages/store/test/PgliteTemplate.ts"

type Services = Store.Services | Database.Database

interface Target {
  readonly env: Readonly<Record<string, string>>
  /** The same database as CLI flags, for in-process runs. */
  readonly flags: ReadonlyArray<string>
  readonly run: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
  readonly close: () => Promise<void>
}

const pgliteTarget = (): Target => {
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-budget-"))
  seedDataDir(dir)
  // Opened and closed around each use: one process at a time may hold the data directory.
  const layer = Store.layerWith(Database.layerPglite({ dataDir: dir }))
  return {
    env: { TALLY_DATA_DIR: dir },
    flags: ["--data-dir", dir],
    run: (effect) => Effect.runPromise(Effect.provide(effect, layer)),
    close: async () => rmSync(dir, { recursive: true, force: true })
  }
}

const postgresTarget = async (adminUrl: string): Promise<Target> => {
  const runtime = ManagedRuntime.make(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(adminUrl))))
  const [row] = await runtime.runPromise(Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ name: string }>`SELECT current_database() AS name`
  }))
  const url = new URL(adminUrl)
  url.pathname = `/${row!.name}`
  return {
    env: { TALLY_DATABASE_URL: url.toString() },
    flags: ["--database-url", url.toString()],
    run: (effect) => runtime.runPromise(effect),
    close: () => runtime.dispose()
  }
}

const call = (requestId: string, occurredAt: string, cost: string, labels: UsageRecord.Labels = {}): UsageRecord.UsageRecord => ({
  requestId,
  occurredAt: DateTime.makeUnsafe(occurredAt),
  provider: "openai",
  model: "gpt-4o",
  definitionId: null,
  snapshotId: null,
  usage: { tokens: { inputText: 10 } },
  breakdown: null,
  total: new Money.Decimal(cost),
  costSource: "provider",
  unpricedReason: null,
  reportedCost: new Money.Decimal(cost),
  reportedCurrency: "EUR",
  difference: null,
  labels,
  tags: {},
  raw: {}
})

const adminUrl = process.env.TALLY_TEST_DATABASE_URL
const targetNames = ["pglite", ...(adminUrl === undefined || adminUrl === "" ? [] : ["postgres"])]

describe.each(targetNames)("tally budget (%s)", { timeout: 300_000 }, (name) => {
  let target: Target
  const tenant = "cli-budgets"
  /** Noon of the Berlin day `d` days before today: each seeded day is a whole local day. */
  const noonDaysAgo = (d: number) =>
    new Date(DateTime.toEpochMillis(BudgetPeriod.localDayStart(Date.now(), "Europe/Berlin", d)) + 12 * 3_600_000).toISOString()
  /**
   * `tally budget ...` through `Cli.run`, the function bin.ts prints, with the database as flags:
   * opening an embedded database per spawned process is slow, so one test spawns the real binary.
   */
  const run = (args: ReadonlyArray<string>) => tallyHere(["budget", ...args, ...target.flags])

  beforeAll(async () => {
    target = name === "postgres" ? await postgresTarget(adminUrl!) : pgliteTarget()
    await target.run(Effect.gen(function*() {
      yield* (yield* Tenants.Tenants).create({ id: tenant, name: "CLI budgets", currency: "EUR", timeZone: "Europe/Berlin" })
      const calls: Array<UsageRecord.UsageRecord> = []
      // 3 EUR a day for the last 40 days for team "a"; a fixed day in 2025 for `status --at`.
      for (let d = 1; d <= 40; d++) calls.push(call(`daily-${d}`, noonDaysAgo(d), "3", { team: "a" }))
      calls.push(call("fixed-1", "2025-03-30T10:00:00Z", "7", { team: "a" }))
      // Today's spend: 2.5 of the 10 budgeted below, past its 20% threshold.
      calls.push(call("today-1", new Date().toISOString(), "2.5", { team: "a" }))
      const result = yield* (yield* UsageLedger.UsageLedger).insertBatch(tenant, calls)
      if (result.inserted !== calls.length) throw new Error(JSON.stringify(result.items))
    }))
  })

  afterAll(async () => {
    await target?.close()
  })

  it("create prints the budget; list shows it; a bad flag is named with exit 2", async () => {
    const created = await run(["create", "--tenant", tenant, "--name", "team a", "--period", "day", "--amount", "10", "--threshold", "20", "--threshold", "50", "--action", "block", "--team", "a"])
    expect(created.stderr).toBe("")
    expect(created.code).toBe(0)
    const budget = JSON.parse(created.stdout)
    expect(budget).toMatchObject({ name: "team a", period: "day", amount: "10", currency: "EUR", thresholds: ["20", "50"], action: "block", scope: { team: "a" } })
    const listed = await run(["list", "--tenant", tenant])
    expect(listed.code).toBe(0)
    expect(JSON.parse(listed.stdout).map((b: { id: string }) => b.id)).toEqual([budget.id])

    const bad = await run(["create", "--tenant", tenant, "--name", "x", "--period", "day", "--amount", "1e3"])
    expect(bad.code).toBe(2)
    expect(oneStderrLine(bad)).toMatch(/^tally: budget create: --amount: expected a decimal string/)
    const threshold = await run(["create", "--tenant", tenant, "--name", "x", "--period", "day", "--amount", "1", "--threshold", "0"])
    expect(threshold.code).toBe(2)
    expect(oneStderrLine(threshold)).toContain("thresholds[0]")
    const currency = await run(["create", "--tenant", "nobody", "--name", "x", "--period", "day", "--amount", "1"])
    expect(currency.code).toBe(2)
    expect(oneStderrLine(currency)).toContain("does not exist")
    // An unknown tenant is refused, not shown as a tenant without budgets or webhook.
    for (const args of [["list", "--tenant", "nobody"], ["webhook", "--tenant", "nobody", "--remove"]]) {
      const unknown = await run(args)
      expect(unknown.code, args.join(" ")).toBe(2)
      expect(oneStderrLine(unknown)).toBe(`tally: budget ${args[0]}: tenant "nobody" does not exist`)
    }
    const missing = await run(["create", "--tenant", tenant, "--period", "day", "--amount", "1"])
    expect(missing.code).toBe(2)
    expect(oneStderrLine(missing)).toBe("tally: budget create: --name is required")
  })

  it("status prints spend, crossings and the forecast of the current period", async () => {
    const status = await run(["status", "--tenant", tenant])
    expect(status.stderr).toBe("")
    expect(status.code).toBe(0)
    const [entry] = JSON.parse(status.stdout)
    expect(entry.budget.name).toBe("team a")
    expect(entry.period.timeZone).toBe("Europe/Berlin")
    expect(entry.spent).toBe("2.5")
    // No evaluation ran when the usage was seeded: status recorded the crossing.
    expect(entry.crossed.map((c: { threshold: string }) => c.threshold)).toEqual(["20"])
    expect(entry.forecast.method).toBe("linear-trailing-7d")
    // The last 7 × 24 hours hold today's call and 6 or 7 of the daily noon calls, by the time of day.
    expect(["20.5", "23.5"]).toContain(entry.forecast.trailingSpend)
    expect(entry.forecast.dailyRate).toBe(Money.format(new Money.Decimal(entry.forecast.trailingSpend).div(7).toDecimalPlaces(6)))
    const at = await run(["status", "--tenant", tenant, "--at", "2025-03-30T21:00:00Z"])
    const [then] = JSON.parse(at.stdout)
    // Berlin's 23-hour day of the spring DST change.
    expect(then.period).toEqual({ period: "day", start: "2025-03-29T23:00:00.000Z", end: "2025-03-30T22:00:00.000Z", timeZone: "Europe/Berlin", label: "2025-03-30" })
    expect(then.spent).toBe("7")
    expect(then.percent).toBe("70")
    expect((await run(["status", "--tenant", tenant, "--at", "yesterday"])).code).toBe(2)
    expect((await run(["status", "--tenant", tenant, "--budget", "00000000-0000-4000-8000-000000000000"])).code).toBe(2)
  })

  it("suggest shows the baseline and a budget 15% above it", async () => {
    const out = await run(["suggest", "--tenant", tenant, "--period", "week", "--team", "a"])
    expect(out.stderr).toBe("")
    const suggestion = JSON.parse(out.stdout)
    expect(suggestion.baseline).toEqual({ total: "90", perDay: "3", perPeriod: "21", periodDays: 7 })
    expect(suggestion.suggested).toEqual({ amount: "24.15", low: "23.1", high: "25.2", factor: "1.15" })
    expect(suggestion.currency).toBe("EUR")
    const bad = await run(["suggest", "--tenant", tenant, "--period", "week", "--lookback-days", "7"])
    expect(bad.code).toBe(2)
    expect(oneStderrLine(bad)).toContain("lookbackDays")
  })

  it("the real binary prints the same JSON on stdout", () => {
    const out = tally(["budget", "list", "--tenant", tenant], { env: target.env })
    expect(out.stderr).toBe("")
    expect(out.code).toBe(0)
    expect(JSON.parse(out.stdout).map((b: { name: string }) => b.name)).toEqual(["team a"])
  })

  it("webhook sets where alerts go without echoing the secret; archive retires a budget", async () => {
    const set = await run(["webhook", "--tenant", tenant, "--url", "https://example.test/hooks", "--secret", "whsec_cli_0123456789abc"])
    expect(set.code).toBe(0)
    expect(set.stdout).not.toContain("whsec_cli")
    expect(JSON.parse(set.stdout).url).toBe("https://example.test/hooks")
    const bad = await run(["webhook", "--tenant", tenant, "--url", "https://example.test/hooks", "--secret", "short"])
    expect(bad.code).toBe(2)
    const [budget] = JSON.parse((await run(["list", "--tenant", tenant])).stdout)
    const archived = await run(["archive", "--tenant", tenant, "--budget", budget.id])
    expect(JSON.parse(archived.stdout).archivedAt).not.toBeNull()
    expect(JSON.parse((await run(["list", "--tenant", tenant])).stdout)).toEqual([])
    expect(JSON.parse((await run(["list", "--tenant", tenant, "--all"])).stdout)).toHaveLength(1)
    expect((await run(["frobnicate"])).code).toBe(2)
  })

  it("update changes a budget, records a crossing its new amount has reached, and keeps who did it; what cannot change exits 2", async () => {
    const created = await run(["create", "--tenant", tenant, "--name", "team a v2", "--period", "day", "--amount", "10", "--threshold", "20", "--threshold", "50", "--team", "a"])
    const id = JSON.parse(created.stdout).id as string
    // 2.5 spent today: 25% of 10, 62.5% of 4.
    const updated = await run(["update", "--tenant", tenant, "--budget", id, "--amount", "4", "--action", "block", "--name", "team a (tight)", "--team", "a", "--by", "ops"])
    expect(updated.stderr).toBe("")
    expect(updated.code).toBe(0)
    expect(JSON.parse(updated.stdout)).toMatchObject({ id, name: "team a (tight)", amount: "4", action: "block", thresholds: ["20", "50"], period: "day", scope: { team: "a" } })
    const recorded = await target.run(Effect.gen(function*() {
      const { sql } = yield* Database.Database
      const events = yield* sql<{ threshold: string; budget_amount: string }>`SELECT threshold::text AS threshold, budget_amount::text AS budget_amount
        FROM tally.budget_events WHERE budget_id = ${id} ORDER BY threshold::numeric`
      const changes = yield* sql<{ actor: string; changes: unknown }>`SELECT actor, changes FROM tally.budget_changes WHERE budget_id = ${id} ORDER BY id`
      const [archived] = yield* sql<{ id: string }>`SELECT id FROM tally.budgets WHERE tenant_id = ${tenant} AND archived_at IS NOT NULL`
      return { events, changes, archivedId: archived!.id }
    }))
    // Recorded by the update itself (no status or sweep ran since), under the new amount.
    expect(recorded.events).toEqual([{ threshold: "20", budget_amount: "4" }, { threshold: "50", budget_amount: "4" }])
    expect(recorded.changes).toEqual([{
      actor: "ops",
      changes: { name: { from: "team a v2", to: "team a (tight)" }, amount: { from: "10", to: "4" }, action: { from: "alert", to: "block" } }
    }])

    const refusals = [
      [["--period", "week", "--amount", "5"], /^tally: budget update: --period: a budget's period cannot be changed .*; create a new budget instead$/],
      [["--team", "b", "--amount", "5"], /^tally: budget update: scope: a budget's scope cannot be changed .*; create a new budget instead$/],
      // These three fail before the database is opened.
      [["--amount", "1e3"], /^tally: budget update: --amount: expected a decimal string/],
      [["--threshold", "x"], /^tally: budget update: --threshold: /],
      [["--action", "deny"], /^tally: budget update: --action: /],
      [[], /^tally: budget update: expected at least one of --name, --amount, --threshold, --action$/]
    ] as const
    for (const [flags, message] of refusals) {
      const out = await run(["update", "--tenant", tenant, "--budget", id, ...flags])
      expect(out.code, flags.join(" ")).toBe(2)
      expect(oneStderrLine(out)).toMatch(message)
    }
    // The budget the archive test retired.
    const old = await run(["update", "--tenant", tenant, "--budget", recorded.archivedId, "--amount", "5"])
    expect(old.code).toBe(2)
    expect(oneStderrLine(old)).toMatch(/^tally: budget update: budget ".*" was archived at .* create a new budget instead$/)
    // Nothing refused above changed the budget.
    const [now] = JSON.parse((await run(["list", "--tenant", tenant])).stdout)
    expect(now).toMatchObject({ id, amount: "4", thresholds: ["20", "50"], period: "day", scope: { team: "a" } })
  })
})
