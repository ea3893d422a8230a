/**
 * `tally rollups rebuild --from <ISO> --to <ISO> [--tenant <id>]`: recompute the hourly rollups of
 * a time range from the usage ledger, in the database the worker uses (`TALLY_DATABASE_URL`, else
 * the embedded one in `TALLY_DATA_DIR`, default `./.tally/data`; `--database-url` / `--data-dir`
 * override them as for `tally tenant`). The range is widened to whole UTC hours; a rebuild of an
 * intact range changes nothing, so it is safe to repeat.
 */
import { DateTime, Effect, Redacted } from "effect"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { CliError, ExitCode, invalidInput } from "../CliError.ts"
import { parseAt } from "./Cost.ts"

const HOUR = 3_600_000

/** The database was unreachable or failed: not the caller's input, so exit 1 with what failed. */
const databaseError = (error: { readonly message: string }) =>
  Effect.fail(new CliError({ message: `rollups rebuild: database: ${error.message}`, exitCode: ExitCode.unexpected }))

export const rebuild = ({ values, positionals }: Parsed<typeof Commands.rollupsRebuild.flags>) =>
  Effect.gen(function*() {
    if (positionals.length > 0) return yield* invalidInput(`rollups rebuild: unexpected argument "${positionals[0]}"`)
    // Everything the caller typed is checked before the database is opened.
    const from = yield* parseAt("rollups rebuild", yield* Spec.required("rollups rebuild", "from", values.from), "--from")
    const to = yield* parseAt("rollups rebuild", yield* Spec.required("rollups rebuild", "to", values.to), "--to")
    if (to.getTime() <= from.getTime()) {
      return yield* invalidInput(`rollups rebuild: --to (${to.toISOString()}) must be after --from (${from.toISOString()})`)
    }
    const tenantId = values.tenant
    if (tenantId !== undefined && tenantId.trim() === "") return yield* invalidInput("rollups rebuild: --tenant must not be empty")

    // Loaded here, not at the top: every other command would otherwise pay for the database drivers.
    const { Database, Rollups, Store, Tenants } = yield* Effect.promise(() => import("@tally/store"))
    const url = values["database-url"]
    const dataDir = values["data-dir"]
    if (url !== undefined && dataDir !== undefined) return yield* invalidInput("rollups rebuild: give --database-url or --data-dir, not both")
    const database = url !== undefined && url !== ""
      ? Database.layerPostgres({ url: Redacted.make(url) })
      : dataDir !== undefined && dataDir !== ""
      ? Database.layerPglite({ dataDir })
      : Database.layerFromConfig
    return yield* Effect.gen(function*() {
      const db = yield* Database.Database
      if (tenantId !== undefined) {
        // An unknown tenant would rebuild nothing and look like success.
        yield* Tenants.Tenants.use((tenants) => tenants.get(tenantId)).pipe(
          Effect.catchTag("TenantNotFound", () => Effect.fail(invalidInput(`rollups rebuild: no tenant with id ${JSON.stringify(tenantId)}`)))
        )
      }
      const result = yield* Rollups.Rollups.use((rollups) =>
        rollups.rebuild({ from: DateTime.fromDateUnsafe(from), to: DateTime.fromDateUnsafe(to), tenantId })
      )
      return {
        backend: db.backend,
        tenant: tenantId ?? null,
        from: DateTime.formatIso(result.from),
        to: DateTime.formatIso(result.to),
        hours: (DateTime.toEpochMillis(result.to) - DateTime.toEpochMillis(result.from)) / HOUR,
        tenants: result.tenants,
        rows: result.rows
      }
    }).pipe(
      Effect.provide(Store.layerWith(database)),
      Effect.catchTags({
        InvalidRange: (error) => Effect.fail(invalidInput(`rollups rebuild: ${error.message}`)),
        SqlError: databaseError,
        MigrationError: databaseError,
        ConfigError: (error) => Effect.fail(invalidInput(`rollups rebuild: configuration: ${error.message}`))
      })
    )
  })
