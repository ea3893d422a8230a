/**
 * Running the worker for end-to-end tests: a real database (PGlite in a temporary directory, or a
 * throwaway PostgreSQL database when `TALLY_TEST_DATABASE_URL` is set), the worker's HTTP server
 * on a random port (in this process, or as a spawned `tally serve`), and what is stored read back
 * as the database owner.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { afterAll, beforeAll } from "vitest"
import { Database } from "../../packages/store/src/index.ts"
import * as Server from "../../apps/worker/src/server/Server.ts"
import * as ServerConfig from "../../apps/worker/src/server/ServerConfig.ts"
import { Context, Effect, Exit, HttpServer, Layer, PgClient, Reactivity, Redacted, Scope } from "./Workspace.ts"
import { tallyArgs } from "../../apps/worker/src/cli/Launch.ts"
import { seedDataDir } from "../../packages/store/test/PgliteTemplate.ts"

export const root = resolve(import.meta.dirname, "../..")

export type TargetName = "pglite" | "postgres"

/** The databases the tests run against: PGlite always, PostgreSQL when CI (or you) set the URL. */
export const targets: ReadonlyArray<TargetName> = process.env["TALLY_TEST_DATABASE_URL"] ? ["pglite", "postgres"] : ["pglite"]

export const adminUrl = (): string => {
  const url = process.env["TALLY_TEST_DATABASE_URL"]
  if (url === undefined || url === "") throw new Error("TALLY_TEST_DATABASE_URL is not set")
  return url
}

const withAdmin = <A>(f: (sql: PgClient.PgClient) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(adminUrl()), maxConnections: 1 }), f)).pipe(
      Effect.provide(Reactivity.layer)
    )
  )

/** A database for one test file: where it is, and how to remove it afterwards. */
export interface TestDatabase {
  readonly target: TargetName
  /** For the server's configuration and the `tally` CLI. */
  readonly config: Pick<ServerConfig.ServerConfigShape, "databaseUrl" | "dataDir">
  /** The same as environment variables, for spawned processes. */
  readonly env: Record<string, string>
  readonly postgresName?: string
  readonly drop: () => Promise<void>
}

export const makeDatabase = async (target: TargetName): Promise<TestDatabase> => {
  if (target === "pglite") {
    const dir = mkdtempSync(join(tmpdir(), "tally-e2e-"))
    const dataDir = join(dir, "data")
    seedDataDir(dataDir)
    return {
      target,
      config: { databaseUrl: undefined, dataDir },
      env: { TALLY_DATA_DIR: dataDir },
      drop: async () => rmSync(dir, { recursive: true, force: true })
    }
  }
  const name = `tally_e2e_${randomBytes(6).toString("hex")}`
  await withAdmin((sql) => sql`CREATE DATABASE ${sql(name)}`)
  const url = new URL(adminUrl())
  url.pathname = `/${name}`
  return {
    target,
    config: { databaseUrl: Redacted.make(url.toString()), dataDir: "unused" },
    env: { TALLY_DATABASE_URL: url.toString() },
    postgresName: name,
    drop: () => withAdmin((sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`).then(() => undefined)
  }
}

/** Runs SQL on the PostgreSQL server as the admin (to break or repair a test database). */
export const adminSql = (statement: string) => withAdmin((sql) => sql.unsafe(statement))

export const testConfig = (
  database: TestDatabase,
  overrides: ServerConfig.Overrides = {}
): ServerConfig.ServerConfigShape =>
  ServerConfig.override({ ...ServerConfig.defaults, natsUrl: undefined, ...database.config, port: 0, host: "127.0.0.1" }, overrides)

/** The worker running in this process: a real HTTP listener on a random port, and its services. */
export interface InProcess {
  readonly url: string
  readonly context: Context.Context<Server.Services>
  /** Runs an effect against the worker's own services (its store and database). */
  readonly run: <A, E>(effect: Effect.Effect<A, E, Server.Services>) => Promise<A>
  readonly close: () => Promise<void>
}

export const startInProcess = async (config: ServerConfig.ServerConfigShape): Promise<InProcess> => {
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(Server.layer(config), scope))
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag === "UnixPathAddress") throw new Error("expected a TCP address")
  return {
    url: `http://127.0.0.1:${address.port}`,
    context: context as Context.Context<Server.Services>,
    run: (effect) => Effect.runPromise(Effect.provide(effect, context as Context.Context<Server.Services>)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/**
 * A database of its own and an in-process worker on it for the tests of one `describe`: started
 * before them, closed and dropped after. `server` is there once the `beforeAll` has run.
 */
export const inProcessWorker = (target: TargetName): { readonly server: InProcess } => {
  let database: TestDatabase | undefined
  let server: InProcess | undefined
  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
  }, 300_000)
  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })
  return {
    get server() {
      if (server === undefined) throw new Error("the worker starts in beforeAll")
      return server
    }
  }
}

/** Reads what is stored for a tenant, as the owner (no row security in the way). */
export interface Totals {
  readonly ledgerRows: number
  readonly rollupRequests: number
  readonly rollupCost: string
  readonly ledgerCost: string
  readonly deadLetters: number
}

export const totals = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    const [row] = yield* sql<{ ledger_rows: string; ledger_cost: string; rollup_requests: string; rollup_cost: string; dead_letters: string }>`SELECT
        (SELECT count(*)::text FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger_rows,
        (SELECT coalesce(sum(total), 0)::text FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger_cost,
        (SELECT coalesce(sum(request_count), 0)::text FROM tally.usage_rollups_hourly WHERE tenant_id = ${tenantId}) AS rollup_requests,
        (SELECT coalesce(sum(cost), 0)::text FROM tally.usage_rollups_hourly WHERE tenant_id = ${tenantId}) AS rollup_cost,
        (SELECT count(*)::text FROM tally.dead_letters WHERE tenant_id = ${tenantId}) AS dead_letters`
    return {
      ledgerRows: Number(row!.ledger_rows),
      rollupRequests: Number(row!.rollup_requests),
      rollupCost: row!.rollup_cost,
      ledgerCost: row!.ledger_cost,
      deadLetters: Number(row!.dead_letters)
    } satisfies Totals
  })

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any
}

export const request = async (
  url: string,
  init: { method?: string; body?: string | Uint8Array<ArrayBuffer>; headers?: Record<string, string> } = {}
): Promise<Reply> => {
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    ...(init.body === undefined ? {} : { body: init.body }),
    ...(init.headers === undefined ? {} : { headers: init.headers })
  })
  const text = await response.text()
  let json: unknown = undefined
  try {
    json = JSON.parse(text)
  } catch {
    // not JSON (metrics)
  }
  return { status: response.status, headers: response.headers, text, json }
}

export const postJson = (url: string, key: string | undefined, body: unknown, headers: Record<string, string> = {}) =>
  request(url, {
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: {
      "content-type": "application/json",
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...headers
    }
  })

/** A `tally` command, run to completion. */
export const tally = (args: ReadonlyArray<string>, env: Record<string, string>, cwd = root) => {
  const result = spawnSync(process.execPath, tallyArgs(args), { cwd, env: { ...process.env, ...env }, encoding: "utf8" })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** A spawned long-running `tally serve` or `tally demo`, with its stdout JSON lines. */
export interface Spawned {
  readonly child: ChildProcess
  /** The next JSON line on stdout. */
  readonly nextLine: () => Promise<Record<string, unknown>>
  readonly stderr: () => string
  /** Resolves with the exit code (or signal) once the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export const spawnTally = (args: ReadonlyArray<string>, env: Record<string, string>, cwd = root): Spawned => {
  const child = spawn(process.execPath, tallyArgs(args), { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  let stderr = ""
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
  const lines: Array<string> = []
  const waiting: Array<(line: string) => void> = []
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const next = waiting.shift()
    if (next === undefined) lines.push(line)
    else next(line)
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal }))
  )
  const nextLine = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const take = (line: string) => {
        try {
          resolve(JSON.parse(line) as Record<string, unknown>)
        } catch {
          reject(new Error(`not a JSON line on stdout: ${line}`))
        }
      }
      const line = lines.shift()
      if (line !== undefined) return take(line)
      waiting.push(take)
      void exited.then(({ code, signal }) => reject(new Error(`tally exited (${code ?? signal}) before printing; stderr:\n${stderr}`)))
    })
  return { child, nextLine, stderr: () => stderr, exited }
}

export const sample = join(root, "examples/usage-events.json")
