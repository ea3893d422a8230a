/**
 * Latency of one decision (`Governance.decide`) for a gateway's hot path, beside a bare PostgreSQL
 * round trip (`SELECT 1` through the same client and pool) measured in the same run:
 *
 * - select1:          `SELECT 1` on the worker's pool: the floor of anything that asks PostgreSQL;
 * - policy-only:      a call no budget covers: model policies judged from the cache, no round trip;
 * - budgets:          a call covered by 3 budgets (dollars per day, output tokens per rolling
 *                     minute, requests per day): spend and holds read in one tenant transaction;
 * - reserve:          the same with `reserve: true` (locks, reads, inserts the hold; released
 *                     after each call, outside the timer);
 * each in process (the Effect service, as an embedding gateway calls it) and over HTTP
 * (`POST /api/v1/decide` of a worker listening on loopback in this process, keep-alive fetch).
 * p50 / p99 in milliseconds and as multiples of select1's, with the machine's load average.
 * Goals (issue 23): p99 < 5 ms through PostgreSQL, < 1 ms policy-only.
 *
 *   pnpm bench decide       (TALLY_BENCH_DATABASE_URL, default TALLY_TEST_DATABASE_URL, then
 *                            postgres://postgres@127.0.0.1:5432/postgres; TALLY_BENCH_CALLS, default 2000)
 */
import { ApiKeys, Database, Store, Tenants } from "@tally/store"
import { Budgets, Enforcement, Governance } from "@tally/engine"
import { Budget, Money } from "@tally/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { loadavg } from "node:os"
import * as Server from "../src/server/Server.ts"
import * as ServerConfig from "../src/server/ServerConfig.ts"

const adminUrl = process.env["TALLY_BENCH_DATABASE_URL"] || process.env["TALLY_TEST_DATABASE_URL"] ||
  "postgres://postgres@127.0.0.1:5432/postgres"
const calls = Number(process.env["TALLY_BENCH_CALLS"] || 2000)
const warmup = Math.min(200, Math.floor(calls / 5))

const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

const measure = async (name: string, once: () => Promise<unknown>, after?: (value: unknown) => Promise<void>) => {
  for (let i = 0; i < warmup; i++) {
    const value = await once()
    if (after !== undefined) await after(value)
  }
  const times: Array<number> = []
  for (let i = 0; i < calls; i++) {
    const start = performance.now()
    const value = await once()
    times.push(performance.now() - start)
    if (after !== undefined) await after(value)
  }
  times.sort((a, b) => a - b)
  return { name, p50: quantile(times, 0.5), p99: quantile(times, 0.99), max: times[times.length - 1]! }
}

const main = Effect.gen(function*() {
  // A throwaway database on the server (dropped at the end), and a worker on it in this process.
  const scope = yield* Scope.make()
  const store = yield* Layer.buildWithScope(Store.layerWith(Database.layerEphemeralPostgres(Redacted.make(adminUrl))), scope)
  const { sql } = Context.get(store, Database.Database)
  const [row] = yield* sql<{ name: string }>`SELECT current_database() AS name`
  const url = new URL(adminUrl)
  url.pathname = `/${row!.name}`
  const config: ServerConfig.ServerConfigShape = {
    ...ServerConfig.defaults,
    natsUrl: undefined,
    databaseUrl: Redacted.make(url.toString()),
    port: 0,
    host: "127.0.0.1"
  }
  const worker = yield* Layer.buildWithScope(Server.layer(config), scope)
  const address = Context.get(worker, HttpServer.HttpServer).address
  if (address._tag === "UnixPathAddress") return yield* Effect.die("expected a TCP address")
  const base = `http://127.0.0.1:${address.port}`
  const run = <A, E>(effect: Effect.Effect<A, E, Server.Services>) => Effect.runPromise(Effect.provide(effect, worker as Context.Context<Server.Services>))

  const { key, tenantId } = yield* Effect.promise(() =>
    run(Effect.gen(function*() {
      const tenant = yield* (yield* Tenants.Tenants).create({ name: "Bench gateway" })
      const created = yield* (yield* ApiKeys.ApiKeys).create(tenant.id, { name: "gateway", scopes: ["ingest"] })
      const budgets = yield* Budgets.Budgets
      const make = (input: unknown) => budgets.create(tenant.id, Result.getOrThrow(Budget.decodeBudgetInput(input)))
      yield* make({ name: "usd", period: "day", amount: "1000000", action: "block", scope: { project: "covered" } })
      yield* make({ name: "tpm", period: "rolling", windowSeconds: 60, unit: "tokens", tokenKind: "output", amount: "1000000000", action: "block", scope: { project: "covered" } })
      yield* make({ name: "rpd", period: "day", unit: "requests", amount: "1000000000", action: "block", scope: { project: "covered" } })
      const governance = yield* Governance.Governance
      yield* governance.createPolicy(tenant.id, { name: "openai only", allowProviders: ["openai"], denyModels: ["startsWith:o1"], maxOutputTokens: 4000 })
      return { key: Redacted.value(created.secret), tenantId: tenant.id }
    }))
  )

  const decideIn = (project: string, reserve: boolean) => () =>
    run(Governance.Governance.use((g) =>
      g.decide(tenantId, {
        labels: { project },
        provider: "openai",
        model: "gpt-4o",
        estimate: { cost: new Money.Decimal("0.01"), outputTokens: 500 },
        reserve
      })
    ))
  const release = async (value: unknown) => {
    const id = (value as Governance.Decision).budget?.reservation?.id
    if (id !== undefined) await run(Enforcement.Enforcement.use((e) => e.release(tenantId, id)))
  }
  const decideHttp = (project: string, reserve: boolean) => async () => {
    const response = await fetch(`${base}/api/v1/decide`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ labels: { project }, provider: "openai", model: "gpt-4o", estimate: { cost: "0.01", outputTokens: 500 }, reserve })
    })
    const body = await response.json() as { allowed: boolean; reservation?: { id: string } }
    if (!body.allowed) throw new Error(`denied: ${JSON.stringify(body)}`)
    return body
  }
  const releaseHttp = async (value: unknown) => {
    const id = (value as { reservation?: { id: string } }).reservation?.id
    if (id !== undefined) await run(Enforcement.Enforcement.use((e) => e.release(tenantId, id)))
  }

  const results = yield* Effect.promise(async () => {
    const out = []
    out.push(await measure("select1", () => Effect.runPromise(sql`SELECT 1`)))
    out.push(await measure("in-process policy-only", decideIn("uncovered", false)))
    out.push(await measure("in-process budgets", decideIn("covered", false)))
    out.push(await measure("in-process reserve", decideIn("covered", true), release))
    out.push(await measure("http policy-only", decideHttp("uncovered", false)))
    out.push(await measure("http budgets", decideHttp("covered", false)))
    out.push(await measure("http reserve", decideHttp("covered", true), releaseHttp))
    return out
  })
  const base1 = results[0]!
  const [one, five, fifteen] = loadavg()
  for (const r of results) {
    console.log(JSON.stringify({
      bench: "decide",
      case: r.name,
      calls,
      p50Ms: Number(r.p50.toFixed(3)),
      p99Ms: Number(r.p99.toFixed(3)),
      maxMs: Number(r.max.toFixed(3)),
      p50xSelect1: Number((r.p50 / base1.p50).toFixed(2)),
      p99xSelect1: Number((r.p99 / base1.p99).toFixed(2)),
      loadavg: [one, five, fifteen].map((l) => Number(l!.toFixed(2)))
    }))
  }
  yield* Scope.close(scope, Exit.void)
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
