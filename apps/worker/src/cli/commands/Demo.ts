/**
 * `tally demo`, what `pnpm start` runs: `tally serve` on the embedded database persisted under
 * `./.tally` (or PostgreSQL when `TALLY_DATABASE_URL` is set), listening on 127.0.0.1 unless told
 * otherwise, with a demo tenant, and a ready-to-paste `curl` that ingests examples/usage-events.json.
 *
 * The demo tenant is created on the first run. Its API key's secret exists only at creation, so
 * the first run writes it to `./.tally/demo.json` (mode 0600, ignored by git) and later runs read
 * it back, check it still verifies against the configured database, and print the same key. If it
 * does not (a fresh database, another `TALLY_DATABASE_URL`) a new demo tenant and key are made and
 * the file is rewritten.
 *
 * It also prints a link to the web console that signs the demo tenant in: the key travels in the
 * URL's fragment (`/#key=…`), which a browser never sends to a server, and the console moves it
 * into the tab's session and out of the address bar at once.
 */
import { ApiKeys } from "@tally/store"
import * as Config from "effect/Config"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { dirname, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type * as Commands from "../Commands.ts"
import type { Parsed } from "../Spec.ts"
import type { CliError } from "../CliError.ts"
import * as ServerConfig from "../../server/ServerConfig.ts"
import * as Serve from "./Serve.ts"
import { createTenantWithKey } from "./Tenant.ts"

/** Where the demo keeps its tenant id and key secret, next to the embedded database. */
export const stateFile = "./.tally/demo.json"

/** The sample batch the printed curl sends. */
export const samplePath = fileURLToPath(new URL("../../../../../examples/usage-events.json", import.meta.url))

const DemoState = Schema.Struct({
  tenantId: Schema.String,
  apiKey: Schema.String,
  apiKeyId: Schema.String,
  database: Schema.String,
  createdAt: Schema.String,
  note: Schema.String
})
type DemoState = typeof DemoState.Type

const readState = Effect.tryPromise(() => readFile(stateFile, "utf8")).pipe(
  Effect.flatMap((text) => Schema.decodeUnknownEffect(Schema.fromJsonString(DemoState))(text)),
  Effect.option
)

const writeState = (state: DemoState) =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(dirname(stateFile), { recursive: true })
      await writeFile(stateFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
    },
    catch: (cause) => cause
  }).pipe(Effect.catch((cause) => Effect.logWarning(`could not write ${stateFile}; the key is only shown below`, cause)))

/** The demo tenant and its key: the remembered one if it still verifies, else a new one. */
const ensureTenant = (config: ServerConfig.ServerConfigShape) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys.ApiKeys
    const saved = yield* readState
    if (saved._tag === "Some") {
      const verified = yield* keys.verify(saved.value.apiKey).pipe(Effect.option)
      if (verified._tag === "Some" && verified.value.tenantId === saved.value.tenantId) {
        return { state: saved.value, created: false }
      }
    }
    const created = yield* createTenantWithKey({ name: "Demo" })
    const now = yield* DateTime.now
    const state: DemoState = {
      tenantId: created.tenant.id,
      apiKey: created.secret,
      apiKeyId: created.key.id,
      database: ServerConfig.describeDatabase(config),
      createdAt: DateTime.formatIso(now),
      note: "The demo tenant's API key. Its secret is shown only at creation, so tally demo keeps it here; delete this file for a new demo tenant."
    }
    yield* writeState(state)
    return { state, created: true }
  })

/** The console link that signs the demo tenant in (the key in the fragment, never in a query string). */
export const consoleLink = (url: string, apiKey: string) => `${url}/#key=${encodeURIComponent(apiKey)}`

const curlFor = (url: string, apiKey: string, sample: string) =>
  [
    `curl -s ${url}/api/v1/usage/ingest`,
    `-H "Authorization: Bearer ${apiKey}"`,
    `-H "Content-Type: application/json"`,
    `--data-binary @${sample}`
  ]

export const run = ({ values }: Parsed<typeof Commands.demo.flags>): Effect.Effect<unknown, CliError> =>
  Effect.gen(function*() {
    const base = yield* Serve.readConfig("demo", values)
    // A demo listens on this machine only, unless the host is chosen explicitly.
    const envHost = yield* Config.option(Config.String("TALLY_HOST")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    const host = values.host ?? Option.getOrElse(envHost, () => "127.0.0.1")
    const config = ServerConfig.override(base, { host })
    return yield* Serve.runServer(config, (url) =>
      Effect.gen(function*() {
        const { state, created } = yield* ensureTenant(config)
        const sample = relative(process.cwd(), samplePath) || samplePath
        const curl = curlFor(url, state.apiKey, sample)
        const link = consoleLink(url, state.apiKey)
        yield* Effect.sync(() => {
          process.stdout.write(`${JSON.stringify({ demo: { tenantId: state.tenantId, apiKey: state.apiKey, stateFile: resolve(stateFile), curl: curl.join(" "), console: link } })}\n`)
          process.stderr.write(
            [
              "",
              `Tally is running at ${url} (${ServerConfig.describeDatabase(config)}).`,
              created
                ? `Created the demo tenant ${state.tenantId}; its API key is saved in ${stateFile} (shown only now and there):`
                : `Demo tenant ${state.tenantId} (from ${stateFile}); API key:`,
              "",
              `  ${state.apiKey}`,
              "",
              "Ingest the sample usage (examples/usage-events.json) and see each call priced:",
              "",
              `  ${curl.join(" \\\n    ")}`,
              "",
              "Send it again and every event answers \"duplicate\": ingest is idempotent on requestId.",
              "",
              "Then open the console (spend, budgets, chargeback, anomalies, every call priced); this link signs the demo tenant in:",
              "",
              `  ${link}`,
              "",
              `Health: ${url}/readyz   Metrics: ${url}/metrics   Stop: Ctrl-C`,
              "",
              ""
            ].join("\n")
          )
        })
      }).pipe(Effect.orDie))
  })
