/**
 * `tally anomalies --tenant <id> [--from <ISO>] [--to <ISO>] [--detect] [--kind <kind>]...
 * [--scope <scope kind>]... [--limit <n>]`: the anomaly findings whose window overlaps
 * `[from, to)` (default: the 7 days before now), newest first, as JSON.
 *
 * With `--detect`, detection runs first with the default thresholds: over every hour of
 * `[from, to)` when either is given (a backfill), else as the hourly schedule does at this moment
 * (the hours just ended). Findings are recorded once per kind, scope and window, so repeating a
 * detection records nothing new; each new finding is also queued for the tenant's webhook.
 *
 * The database is the worker's (`TALLY_DATABASE_URL`, else the embedded one in `TALLY_DATA_DIR`,
 * default `./.tally/data`); `--database-url` / `--data-dir` override it.
 */
import { Anomaly } from "@tally/core"
import { DateTime, Effect, Layer, Redacted, Schema } from "effect"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { CliError, ExitCode, invalidInput, Printed } from "../CliError.ts"
import * as Table from "../Table.ts"
import { parseAt } from "./Cost.ts"

const DAY = 86_400_000

/** The database was unreachable or failed: not the caller's input, so exit 1 with what failed. */
const databaseError = (error: { readonly message: string }) =>
  Effect.fail(new CliError({ message: `anomalies: database: ${error.message}`, exitCode: ExitCode.unexpected }))

const literals = <A extends string>(flag: string, schema: Schema.Codec<A>, allowed: ReadonlyArray<string>, values: ReadonlyArray<string> | undefined) =>
  Effect.forEach(values ?? [], (value) =>
    Schema.is(schema)(value)
      ? Effect.succeed(value)
      : Effect.fail(invalidInput(`anomalies: --${flag} must be one of ${allowed.join(", ")}, got "${value}"`)))

export const run = ({ values, positionals }: Parsed<typeof Commands.anomalies.flags>) =>
  Effect.gen(function*() {
    if (positionals.length > 0) return yield* invalidInput(`anomalies: unexpected argument "${positionals[0]}"`)
    // Everything the caller typed is checked before the database is opened.
    const tenantId = yield* Spec.required("anomalies", "tenant", values.tenant)
    const now = yield* parseAt("anomalies", undefined)
    const to = values.to === undefined ? now : yield* parseAt("anomalies", values.to, "--to")
    const from = values.from === undefined ? new Date(to.getTime() - 7 * DAY) : yield* parseAt("anomalies", values.from, "--from")
    if (to.getTime() <= from.getTime()) {
      return yield* invalidInput(`anomalies: --to (${to.toISOString()}) must be after --from (${from.toISOString()})`)
    }
    const kinds = yield* literals("kind", Anomaly.Kind, Anomaly.kinds, values.kind)
    const scopeKinds = yield* literals("scope", Anomaly.ScopeKind, Anomaly.scopeKinds, values.scope)
    const limit = yield* Spec.nonNegativeInt("anomalies", "limit", values.limit)
    if (limit === 0) return yield* invalidInput("anomalies: --limit must be at least 1")
    const url = values["database-url"]
    const dataDir = values["data-dir"]
    if (url !== undefined && dataDir !== undefined) return yield* invalidInput("anomalies: give --database-url or --data-dir, not both")

    // Loaded here, not at the top: every other command would otherwise pay for the database drivers.
    const { AnomalyFindings, Database, Store, Tenants } = yield* Effect.promise(() => import("@tally/store"))
    const { Anomalies } = yield* Effect.promise(() => import("@tally/engine"))
    const database = url !== undefined && url !== ""
      ? Database.layerPostgres({ url: Redacted.make(url) })
      : dataDir !== undefined && dataDir !== ""
      ? Database.layerPglite({ dataDir })
      : Database.layerFromConfig
    const range = { from: DateTime.fromDateUnsafe(from), to: DateTime.fromDateUnsafe(to) }
    const ranged = values.from !== undefined || values.to !== undefined

    if (values.format !== undefined && values.format !== "json" && values.format !== "table") {
      return yield* invalidInput(`anomalies: --format must be json or table, got "${values.format}"`)
    }
    const result = yield* Effect.gen(function*() {
      const db = yield* Database.Database
      // An unknown tenant would list nothing and look like a quiet tenant.
      yield* Tenants.Tenants.use((tenants) => tenants.get(tenantId)).pipe(
        Effect.catchTag("TenantNotFound", () => Effect.fail(invalidInput(`anomalies: no tenant with id ${JSON.stringify(tenantId)}`)))
      )
      const anomalies = yield* Anomalies.Anomalies
      const detection = values.detect === true
        ? yield* (ranged
          ? anomalies.detectRange({ tenantId, ...range, asOf: DateTime.fromDateUnsafe(now) })
          : anomalies.detect({ tenantId, at: DateTime.fromDateUnsafe(now) }))
        : undefined
      const findings = yield* AnomalyFindings.AnomalyFindings.use((stored) => stored.list(tenantId, {
        ...range,
        kinds: kinds.length === 0 ? undefined : kinds,
        scopeKinds: scopeKinds.length === 0 ? undefined : scopeKinds,
        limit
      }))
      return {
        backend: db.backend,
        tenant: tenantId,
        from: DateTime.formatIso(range.from),
        to: DateTime.formatIso(range.to),
        detection: detection === undefined ? null : {
          from: DateTime.formatIso(detection.from),
          to: DateTime.formatIso(detection.to),
          asOf: DateTime.formatIso(detection.asOf),
          evaluated: detection.evaluated,
          deviating: detection.deviating,
          recorded: detection.recorded.map((finding) => finding.id),
          duplicates: detection.duplicates
        },
        findings: findings.map(Anomaly.toJson)
      }
    }).pipe(
      Effect.provide(Anomalies.Anomalies.layer.pipe(Layer.provideMerge(Store.layerWith(database)))),
      Effect.catchTags({
        InvalidDetection: (error) => Effect.fail(invalidInput(`anomalies: ${error.message}`)),
        SqlError: databaseError,
        MigrationError: databaseError,
        ConfigError: (error) => Effect.fail(invalidInput(`anomalies: configuration: ${error.message}`))
      })
    )
    return values.format === "table" ? new Printed(findingsTable(result.findings)) : result
  })

/** Findings for people: newest window first, one line each with its summary. */
const findingsTable = (findings: ReadonlyArray<ReturnType<typeof Anomaly.toJson>>): string =>
  Table.render(
    [{ header: "window" }, { header: "severity" }, { header: "kind" }, { header: "scope" }, { header: "observed", align: "right" }, {
      header: "expected",
      align: "right"
    }, { header: "score", align: "right" }],
    findings.map((f) => [
      `${f.window.from.slice(0, 16).replace("T", " ")}–${f.window.to.slice(11, 16)}`,
      f.severity,
      f.kind,
      f.scope.value === null ? f.scope.kind : `${f.scope.kind}=${f.scope.value}`,
      `${f.observed} ${f.currency ?? ""}`.trim(),
      f.expected,
      f.score
    ])
  ) + `${findings.length} finding(s)\n`
