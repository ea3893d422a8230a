/**
 * The FinOps question over GraphQL at volume: "what did each team spend on which model, per day,
 * last month?" — `usage(groupBy: [TEAM, MODEL], granularity: DAY)` over one month of a tenant with
 * 10M recorded calls spread over 90 days, on real PostgreSQL.
 *
 * The calls are generated (12 models of 4 providers, 12 teams with their cost centers, 10
 * projects with 3 features each, 2 environments, 500 customers, 40 API keys, 5,000 end users,
 * unique workflows, 1% unpriced) and recorded through the store's bulk path
 * (`UsageLedger.insertBatch`: idempotency keys, month partitions, hourly rollups and the daily
 * summary, one transaction per batch), in time order as a live stream would arrive, two streams
 * at once (one per half of the range). Then the worker runs in this process (HTTP on a random
 * port) and a real GraphQL client asks the month's question repeatedly.
 *
 * Prints JSON lines: the load (rows, seconds, rows/s, table sizes), the load average, then
 * p50/p95/max and CPU per query of
 * - graphql / graphql-series: the whole request through HTTP (auth, GraphQL, the query, JSON of
 *            every bucket) as buckets and as series, sent by a graphql-request client in another
 *            process, to a worker with no cache at all (the baseline);
 * - graphql-store-cached / graphql-series-store-cached: the same to a second worker in this
 *            process that keeps the store's answers (`UsageReport`) but not the serialized ones;
 * - graphql-answer-cached / graphql-series-answer-cached: the same to a third that keeps both
 *            (the GraphQL answer cache: a hit is the version probe and the bytes);
 * - store:   `UsageReport.usage` alone (the SQL and building the buckets), and store-cached;
 * - hourly:  the same question forced onto the hourly rollups (what the daily summaries save);
 * then the load average again and, in words, whether the goal (p95 < 100 ms over HTTP) was met.
 *
 *   node apps/worker/bench/graphql.bench.ts      (or: pnpm bench graphql)
 *
 * TALLY_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) is the server.
 * TALLY_BENCH_ROWS (default 10,000,000), TALLY_BENCH_BATCH (2,000), TALLY_BENCH_STREAMS (2),
 * TALLY_BENCH_RUNS (50 timed runs after 5 warm-ups).
 * The bench makes a throwaway database on that server and drops it afterwards. To load once and
 * measure many times, create a database yourself and give its URL as TALLY_BENCH_TARGET_URL: it is
 * kept, and a run that finds it loaded with TALLY_BENCH_ROWS calls measures without loading.
 */
import { CostEngine, PricingSnapshot, type Usage, type UsageQuery, type UsageRecord } from "@tally/core"
import { ApiKeys, Database, Store, Tenants, UsageLedger, UsageReport } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as HttpServer from "effect/http/HttpServer"
import * as Context from "effect/Context"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as GraphqlRoute from "../src/graphql/Http.ts"
import * as Server from "../src/server/Server.ts"
import * as ServerConfig from "../src/server/ServerConfig.ts"

const adminUrl = process.env.TALLY_BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres"
const totalRows = Number(process.env.TALLY_BENCH_ROWS || 10_000_000)
const batchSize = Number(process.env.TALLY_BENCH_BATCH || 2_000)
const streams = Number(process.env.TALLY_BENCH_STREAMS || 2)
const runs = Number(process.env.TALLY_BENCH_RUNS || 50)
/** When fewer calls are loaded: the size to say what the query would read at. */
const extrapolateTo = Number(process.env.TALLY_BENCH_EXTRAPOLATE_TO || 10_000_000)
const targetUrl = process.env.TALLY_BENCH_TARGET_URL || undefined
const tenantId = "bench-tenant"

const start = Date.UTC(2025, 0, 1)
const days = 90
const span = days * 86_400_000
/** The month asked about: March 2025 (the tenant's zone is UTC). */
const month = { from: "2025-03-01T00:00:00.000Z", to: "2025-04-01T00:00:00.000Z" }

// A small deterministic generator per stream, so every run records the same calls.
const generator = (seed: number) => {
  let state = seed
  const random = () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (max: number) => Math.floor(random() * max)
  /** Skewed pick: earlier items are more common (a few teams and models carry most traffic). */
  const skewed = <A>(items: ReadonlyArray<A>): A => items[Math.min(items.length - 1, Math.floor(items.length * random() * random()))]!
  return { random, int, skewed }
}

const snapshot = (provider: string, modelKey: string, input: string, output: string, cacheRead?: string) =>
  PricingSnapshot.decodeSnapshot({
    provider,
    modelKey,
    rates: { inputText: input, outputText: output, reasoning: output, ...(cacheRead === undefined ? {} : { cacheRead }) }
  })

const snapshots = [
  snapshot("openai", "gpt-4o", "2.50", "10", "1.25"),
  snapshot("openai", "gpt-4o-mini", "0.15", "0.60", "0.075"),
  snapshot("openai", "gpt-4.1", "2", "8", "0.50"),
  snapshot("openai", "gpt-4.1-mini", "0.40", "1.60", "0.10"),
  snapshot("openai", "o4-mini", "1.10", "4.40", "0.275"),
  snapshot("anthropic", "claude-sonnet-4", "3", "15", "0.30"),
  snapshot("anthropic", "claude-3-5-haiku", "0.80", "4", "0.08"),
  snapshot("anthropic", "claude-opus-4", "15", "75", "1.50"),
  snapshot("google", "gemini-2.5-pro", "1.25", "10", "0.31"),
  snapshot("google", "gemini-2.5-flash", "0.30", "2.50", "0.075"),
  snapshot("mistral", "mistral-large", "2", "6"),
  snapshot("mistral", "mistral-small", "0.20", "0.60")
]
const teams = Array.from({ length: 12 }, (_, i) => `team-${String.fromCharCode(97 + i)}`)
const projects = Array.from({ length: 10 }, (_, i) => `project-${i}`)

const makeCall = (g: ReturnType<typeof generator>, stream: number, index: number, at: number): UsageRecord.UsageRecord => {
  const model = g.skewed(snapshots)
  const team = g.skewed(teams)
  const project = projects[(teams.indexOf(team) + g.int(2)) % projects.length]!
  const cached = model.rates.cacheRead !== undefined && g.random() < 0.4
  const tokens: Usage.TokenCounts = { inputText: 200 + g.int(8_000), outputText: 20 + g.int(1_500), ...(cached ? { cacheRead: g.int(6_000) } : {}) }
  const usage: Usage.Usage = { tokens }
  const requestId = `s${stream}-${index.toString(36)}`
  const labels = {
    project,
    environment: g.random() < 0.85 ? "prod" : "staging",
    feature: `${project}/f${g.int(3)}`,
    team,
    customer: `customer-${g.int(500)}`,
    endUser: `user-${g.int(5_000)}`,
    workflow: `wf-${stream}-${Math.floor(index / 4).toString(36)}`,
    costCenter: `cc-${teams.indexOf(team) % 6}`,
    apiKeyId: `key_${g.int(40)}`
  }
  const base = {
    requestId,
    occurredAt: DateTime.makeUnsafe(at),
    provider: model.provider,
    model: model.modelKey,
    usage,
    labels,
    tags: {},
    raw: { id: requestId }
  }
  if (g.random() < 0.01) {
    return {
      ...base,
      model: "internal-experimental",
      definitionId: null,
      snapshotId: null,
      breakdown: null,
      total: null,
      costSource: "unpriced",
      unpricedReason: "no model definition matches \"internal-experimental\"",
      reportedCost: null,
      reportedCurrency: null,
      difference: null
    }
  }
  const breakdown = Result.getOrThrow(CostEngine.price(usage, model))
  return {
    ...base,
    definitionId: `${model.provider}/${model.modelKey}`,
    snapshotId: breakdown.snapshotId,
    breakdown,
    total: breakdown.total,
    costSource: "computed",
    unpricedReason: null,
    reportedCost: null,
    reportedCurrency: null,
    difference: null
  }
}


const log = (line: Record<string, unknown>) => console.log(JSON.stringify(line))
const progress = (text: string) => process.stderr.write(`bench graphql: ${text}\n`)

/** Loads `totalRows` calls unless the kept database already holds exactly them. */
const load = Effect.gen(function*() {
  const { sql } = yield* Database.Database
  const [existing] = yield* sql<{ n: string }>`SELECT count(*)::text AS n FROM tally.usage_request_ids WHERE tenant_id = ${tenantId}`
  if (Number(existing!.n) === totalRows) {
    progress(`reusing the ${totalRows} calls already recorded`)
    return undefined
  }
  if (Number(existing!.n) !== 0) return yield* Effect.die(new Error(`the database holds ${existing!.n} calls, not ${totalRows}; use an empty one`))
  yield* (yield* Tenants.Tenants).create({ id: tenantId, name: "Bench", timeZone: "UTC" })
  const ledger = yield* UsageLedger.UsageLedger
  const perStream = Math.ceil(totalRows / streams)
  let recorded = 0
  let lastReport = 0
  const began = Date.now()
  const stream = (s: number) =>
    Effect.gen(function*() {
      const g = generator(0x7a11c0de + s)
      const rows = Math.min(perStream, totalRows - s * perStream)
      // Each stream owns a contiguous slice of the 90 days and walks it in time order.
      const sliceStart = start + Math.floor((span * s) / streams)
      const slice = span / streams
      for (let done = 0; done < rows; done += batchSize) {
        const size = Math.min(batchSize, rows - done)
        const calls = Array.from({ length: size }, (_, i) => {
          const index = done + i
          return makeCall(g, s, index, sliceStart + Math.floor(((index + g.random()) / rows) * slice))
        })
        const result = yield* ledger.insertBatch(tenantId, calls)
        if (result.inserted !== size) return yield* Effect.die(new Error(`batch inserted ${result.inserted} of ${size}`))
        recorded += size
        if (recorded - lastReport >= 500_000) {
          lastReport = recorded
          progress(`${recorded} recorded, ${Math.round(recorded / ((Date.now() - began) / 1000))} rows/s`)
        }
      }
    })
  yield* Effect.all(Array.from({ length: streams }, (_, s) => stream(s)), { concurrency: streams, discard: true })
  const seconds = (Date.now() - began) / 1000
  return { rows: recorded, seconds: Number(seconds.toFixed(1)), rowsPerSecond: Math.round(recorded / seconds) }
})

/** CPU seconds (user + system) of a process from /proc, at the kernel's clock-tick resolution. */
const cpuOf = (pid: number): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

/**
 * How many team-summary rows March would hold if `rows` calls were recorded: the generator run
 * without recording (same streams, same seeds), counting distinct summary keys per day.
 */
const simulateMonthRows = (rows: number): number => {
  const keys = new Set<string>()
  const from = Date.parse(month.from)
  const to = Date.parse(month.to)
  const perStream = Math.ceil(rows / streams)
  for (let s = 0; s < streams; s++) {
    const g = generator(0x7a11c0de + s)
    const count = Math.min(perStream, rows - s * perStream)
    const sliceStart = start + Math.floor((span * s) / streams)
    const slice = span / streams
    for (let index = 0; index < count; index++) {
      const call = makeCall(g, s, index, sliceStart + Math.floor(((index + g.random()) / count) * slice))
      const at = DateTime.toEpochMillis(call.occurredAt)
      if (at < from || at >= to) continue
      const l = call.labels
      // The key of the team summary, which answers the team-and-model question.
      keys.add([Math.floor(at / 86_400_000), call.provider, call.model, l.team, l.costCenter, call.total === null ? "" : "USD"].join("|"))
    }
  }
  return keys.size
}

/**
 * CPU seconds the database's backends used since `before` (pid -> CPU then): backends that
 * started since count from zero; one that ended is lost (the pool keeps them open meanwhile).
 */
const postgresCpuSince = async (before: ReadonlyMap<number, number>, backends: () => Promise<ReadonlyArray<number>>) => {
  let total = 0
  for (const pid of await backends()) total += Math.max(0, cpuOf(pid) - (before.get(pid) ?? 0))
  return total
}

/** The load average over 1, 5 and 15 minutes, as the kernel reports it. */
const loadAverage = (): ReadonlyArray<number> => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number)

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
const summary = (
  name: string,
  measured: { readonly samples: ReadonlyArray<number>; readonly cpu: { readonly workerMsPerQuery: number; readonly postgresMsPerQuery: number } },
  extra: Record<string, unknown> = {}
) => {
  const samples = measured.samples
  const sorted = [...samples].sort((a, b) => a - b)
  const round = (n: number) => Number(n.toFixed(2))
  return { bench: "graphql.usage", path: name, runs: samples.length, p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), max: round(sorted[sorted.length - 1]!), ...measured.cpu, ...extra }
}

/**
 * `count` requests (after 5 warm-ups) from a graphql-request client in a child process, one at a
 * time; resolves with the wall-clock milliseconds of each as the client saw them.
 */
const remoteClient = (url: string, key: string, document: string, variables: unknown, count: number) => {
  const script = `
    import { GraphQLClient } from "graphql-request"
    const [url, key, document, variables, count] = JSON.parse(process.argv[1])
    const client = new GraphQLClient(url, { headers: { authorization: "Bearer " + key } })
    const ask = async () => {
      const answer = await client.request(document, variables)
      if (answer.usage.__typename !== "UsageReport") throw new Error(JSON.stringify(answer))
      return answer.usage
    }
    for (let i = 0; i < 5; i++) await ask()
    process.stdout.write("ready\\n")
    await new Promise((resolve) => process.stdin.once("data", resolve))
    const samples = []
    let last
    for (let i = 0; i < count; i++) {
      const began = performance.now()
      last = await ask()
      samples.push(performance.now() - began)
    }
    const buckets = last.buckets !== undefined ? last.buckets.length : last.series.reduce((n, s) => n + s.labels.length, 0)
    process.stdout.write(JSON.stringify({ samples, buckets, sources: last.sources }) + "\\n", () => process.exit(0))
  `
  const child = spawn(process.execPath, ["--input-type=module", "-e", script, JSON.stringify([url, key, document, variables, count])], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdio: ["pipe", "pipe", "inherit"]
  })
  let out = ""
  child.stdout.setEncoding("utf8")
  const lines: Array<(line: string) => void> = []
  child.stdout.on("data", (chunk: string) => {
    out += chunk
    let i
    while ((i = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, i)
      out = out.slice(i + 1)
      lines.shift()?.(line)
    }
  })
  const nextLine = () => new Promise<string>((resolve) => lines.push(resolve))
  return {
    /** Resolves once the warm-ups are done; `go` starts the timed runs and resolves with them. */
    ready: nextLine(),
    go: () => {
      const result = nextLine()
      child.stdin.write("go\n")
      return result.then((line) => JSON.parse(line) as { samples: Array<number>; buckets: number; sources: Array<string> })
    }
  }
}

/**
 * Wall-clock samples of `count` runs after 5 warm-ups, and the CPU they used in total: this
 * process (client and worker) and the PostgreSQL backends serving the database. On a shared
 * machine the wall clock includes waiting for a core; the CPU does not.
 */
const timeEach = async (count: number, f: () => Promise<unknown>, backends: () => Promise<ReadonlyArray<number>>) => {
  const samples: Array<number> = []
  for (let i = 0; i < 5; i++) await f()
  const pgBefore = new Map((await backends()).map((pid) => [pid, cpuOf(pid)]))
  const nodeBefore = process.cpuUsage()
  for (let i = 0; i < count; i++) {
    const began = performance.now()
    await f()
    samples.push(performance.now() - began)
  }
  const node = process.cpuUsage(nodeBefore)
  const pg = await postgresCpuSince(pgBefore, backends)
  return {
    samples,
    cpu: {
      workerMsPerQuery: Number((((node.user + node.system) / 1000) / count).toFixed(1)),
      postgresMsPerQuery: Number(((pg * 1000) / count).toFixed(1))
    }
  }
}

const query = `query($from: DateTime!, $to: DateTime!) {
  usage(from: $from, to: $to, groupBy: [TEAM, MODEL], granularity: DAY) {
    __typename
    ... on UsageReport {
      sources
      buckets { label group { team model } requests unpricedRequests spend { amount currency } tokens { inputText outputText cacheRead } }
      totals { requests spend { amount currency } }
    }
  }
}`

/** The same question as one series per group (`usage.series`): the answer shaped for volume. */
const seriesQuery = `query($from: DateTime!, $to: DateTime!) {
  usage(from: $from, to: $to, groupBy: [TEAM, MODEL], granularity: DAY) {
    __typename
    ... on UsageReport {
      sources
      series { group { team model } labels requests unpricedRequests spend { currency amounts } tokens { inputText outputText cacheRead } }
      totals { requests spend { amount currency } }
    }
  }
}`

const main = async () => {
  // Either the database given (kept), or a throwaway one on the server (dropped on release).
  const database = targetUrl === undefined
    ? Database.layerEphemeralPostgres(Redacted.make(adminUrl))
    : Database.layerPostgres({ url: Redacted.make(targetUrl), maxConnections: 4 })
  const outer = Effect.runSync(Scope.make())
  try {
    const storeContext = await Effect.runPromise(Layer.buildWithScope(Store.layerWith(database).pipe(Layer.orDie), outer))
    const inStore = <A, E>(effect: Effect.Effect<A, E, Store.Services | Database.Database>) => Effect.runPromise(Effect.provide(effect, storeContext))
    const loaded = await inStore(load)
    const sizes = await inStore(Effect.gen(function*() {
      const { sql } = yield* Database.Database
      yield* sql`ANALYZE`
      const [row] = yield* sql<{ name: string; ledger: string; hourly: string; daily: string; daily_month: string; teams_month: string; hourly_month: string }>`SELECT
          current_database() AS name,
          (SELECT count(*)::text FROM tally.usage_ledger) AS ledger,
          (SELECT count(*)::text FROM tally.usage_rollups_hourly) AS hourly,
          (SELECT count(*)::text FROM tally.usage_rollups_daily) AS daily,
          (SELECT count(*)::text FROM tally.usage_rollups_daily WHERE day >= ${month.from}::timestamptz AND day < ${month.to}::timestamptz) AS daily_month,
          (SELECT count(*)::text FROM tally.usage_rollups_daily_teams WHERE day >= ${month.from}::timestamptz AND day < ${month.to}::timestamptz) AS teams_month,
          (SELECT count(*)::text FROM tally.usage_rollups_hourly WHERE hour >= ${month.from}::timestamptz AND hour < ${month.to}::timestamptz) AS hourly_month`
      return row!
    }))
    log({ bench: "graphql.load", ...(loaded ?? { reused: true }), ledgerRows: Number(sizes.ledger), hourlyRollupRows: Number(sizes.hourly), dailySummaryRows: Number(sizes.daily), monthHourlyRows: Number(sizes.hourly_month), monthDailyRows: Number(sizes.daily_month), monthTeamRows: Number(sizes.teams_month) })

    // The worker, in this process, over the loaded database.
    const url = new URL(targetUrl ?? adminUrl)
    url.pathname = `/${sizes.name}`
    const config = ServerConfig.override({ ...ServerConfig.defaults, natsUrl: undefined, databaseUrl: Redacted.make(url.toString()), dataDir: "unused" }, {
      port: 0,
      host: "127.0.0.1"
    })
    const scope = Effect.runSync(Scope.make())
    // Three workers over the same database: no cache (the baseline), the store's answer cache
    // only, and the store's with the GraphQL answer cache (the serialized answers).
    const context = await Effect.runPromise(Layer.buildWithScope(Server.layer({ ...config, usageCache: { buckets: 0 }, graphqlCacheBytes: 0 }), scope))
    const cachedContext = await Effect.runPromise(Layer.buildWithScope(Server.layer({ ...config, graphqlCacheBytes: 0 }), scope))
    const answerContext = await Effect.runPromise(Layer.buildWithScope(Server.layer(config), scope))
    try {
      const run = <A, E>(effect: Effect.Effect<A, E, Server.Services>) => Effect.runPromise(Effect.provide(effect, context))
      const runCached = <A, E>(effect: Effect.Effect<A, E, Server.Services>) => Effect.runPromise(Effect.provide(effect, cachedContext))
      const portOf = (of: typeof context) => {
        const bound = Context.get(of, HttpServer.HttpServer).address
        if (bound._tag === "UnixPathAddress") throw new Error("expected a TCP address")
        return bound.port
      }
      const port = portOf(context)
      const cachedPort = portOf(cachedContext)
      const answerPort = portOf(answerContext)
      const loadBefore = loadAverage()
      log({ bench: "graphql.usage", loadAverage: loadBefore, at: "start" })
      const created = await run(ApiKeys.ApiKeys.use((keys) => keys.create(tenantId, { name: `bench-${Date.now()}`, scopes: ["read"] })))
      const backends = () =>
        run(Effect.gen(function*() {
          const { sql } = yield* Database.Database
          return yield* sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`
        })).then((rows) => rows.map((r) => Number(r.pid)))
      /** `runs` requests of `document` from the client process, and the CPU the worker and PostgreSQL spent on them. */
      const overHttp = async (document: string, to = port) => {
        const remote = remoteClient(`http://127.0.0.1:${to}/graphql`, Redacted.value(created.secret), document, month, runs)
        await remote.ready
        progress("client warmed up")
        const pgBefore = new Map((await backends()).map((pid) => [pid, cpuOf(pid)]))
        const workerBefore = process.cpuUsage()
        const answered = await remote.go()
        const worker = process.cpuUsage(workerBefore)
        const pg = await postgresCpuSince(pgBefore, backends)
        return {
          answered,
          measured: {
            samples: answered.samples,
            cpu: {
              workerMsPerQuery: Number((((worker.user + worker.system) / 1000) / runs).toFixed(1)),
              postgresMsPerQuery: Number(((pg * 1000) / runs).toFixed(1))
            }
          }
        }
      }
      // The buckets (the baseline: the shape the question was asked in before `series`), then series.
      const { answered, measured: graphql } = await overHttp(query)
      const { answered: seriesAnswered, measured: series } = await overHttp(seriesQuery)
      // The same two with the store's answer cache: the warm-ups fill it, the timed runs hit it.
      const { answered: cachedAnswered, measured: cached } = await overHttp(query, cachedPort)
      const { answered: cachedSeriesAnswered, measured: cachedSeries } = await overHttp(seriesQuery, cachedPort)
      // And with the GraphQL answer cache too: the timed runs are served the kept bytes.
      const { answered: answerAnswered, measured: answer } = await overHttp(query, answerPort)
      const { answered: answerSeriesAnswered, measured: answerSeries } = await overHttp(seriesQuery, answerPort)
      const answerStats = Context.get(answerContext, GraphqlRoute.GraphqlApi).answerCache?.()
      const buckets = answered.buckets
      const sources = answered.sources
      const usageQuery: UsageQuery.UsageQuery = {
        from: DateTime.makeUnsafe(month.from),
        to: DateTime.makeUnsafe(month.to),
        granularity: "day",
        groupBy: ["team", "model"],
        // What the GraphQL query above shows (the resolver asks for exactly these).
        measures: ["requests", "unpricedRequests", "spend", "inputText", "outputText", "cacheRead"]
      }
      // The store's own report keeps answers: the baseline asks one built without the cache.
      const uncached = await run(Layer.buildWithScope(UsageReport.UsageReport.layerWith({ cacheBuckets: 0 }), scope))
      const runUncached = <A, E>(effect: Effect.Effect<A, E, UsageReport.UsageReport>) => run(Effect.provide(effect, uncached))
      const storeSamples = await timeEach(runs, () => runUncached(UsageReport.UsageReport.use((q) => q.usage(tenantId, usageQuery))), backends)
      const storeCached = await timeEach(runs, () => runCached(UsageReport.UsageReport.use((q) => q.usage(tenantId, usageQuery))), backends)
      // The same answer from the hourly rollups, as it would be without the daily summaries.
      const hourly = await timeEach(Math.min(runs, 10), () => runUncached(UsageReport.UsageReport.use((q) => q.usage(tenantId, { ...usageQuery, noDaily: true }))), backends)
      const graphqlLine = summary("graphql", graphql, { buckets, sources })
      log(graphqlLine)
      const seriesLine = summary("graphql-series", series, { buckets: seriesAnswered.buckets, sources: seriesAnswered.sources })
      log(seriesLine)
      const cachedLine = summary("graphql-store-cached", cached, { buckets: cachedAnswered.buckets, sources: cachedAnswered.sources })
      log(cachedLine)
      const cachedSeriesLine = summary("graphql-series-store-cached", cachedSeries, { buckets: cachedSeriesAnswered.buckets, sources: cachedSeriesAnswered.sources })
      log(cachedSeriesLine)
      const answerLine = summary("graphql-answer-cached", answer, { buckets: answerAnswered.buckets, sources: answerAnswered.sources })
      log(answerLine)
      const answerSeriesLine = summary("graphql-series-answer-cached", answerSeries, { buckets: answerSeriesAnswered.buckets, sources: answerSeriesAnswered.sources })
      log(answerSeriesLine)
      log({ bench: "graphql.usage", answerCache: answerStats })
      log(summary("store", storeSamples))
      log(summary("store-cached", storeCached))
      log(summary("hourly", hourly))
      const loadAfter = loadAverage()
      log({ bench: "graphql.usage", loadAverage: loadAfter, at: "end" })
      const lines = [graphqlLine, seriesLine, cachedLine, cachedSeriesLine, answerLine, answerSeriesLine]
      const met = lines.filter((line) => line.p95 < 100).map((line) => line.path)
      const best = lines.reduce((a, b) => (b.p95 < a.p95 ? b : a))
      log({
        bench: "graphql.usage",
        goal: "p95 < 100 ms over HTTP",
        met: met.length > 0,
        metBy: met,
        rows: Number(sizes.ledger),
        buckets,
        verdict: `${met.length > 0 ? "GOAL MET" : "GOAL NOT MET"}: best p95 ${best.p95} ms (${best.path}, p50 ${best.p50} ms, ` +
          `${best.workerMsPerQuery} ms worker CPU per query) at ${Number(sizes.ledger)} calls, ${buckets} buckets; ` +
          `load average ${loadBefore.join(" ")} at the start, ${loadAfter.join(" ")} at the end`
      })
      if (extrapolateTo > Number(sizes.ledger)) {
        // The query reads the month's team-summary rows; they grow with distinct keys, not calls.
        const rowsThen = simulateMonthRows(extrapolateTo)
        const factor = rowsThen / Number(sizes.teams_month)
        log({
          bench: "graphql.usage",
          extrapolation: { calls: extrapolateTo, monthTeamRows: rowsThen, monthTeamRowsNow: Number(sizes.teams_month), factor: Number(factor.toFixed(2)) }
        })
      }
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  } finally {
    await Effect.runPromise(Scope.close(outer, Exit.void))
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})

