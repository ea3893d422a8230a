/**
 * The database a command works on: `--database-url` / `--data-dir` over `TALLY_DATABASE_URL` /
 * `TALLY_DATA_DIR`, the same settings and checks as `tally serve`. A bad setting exits 2 before
 * anything opens; a database failure exits 1 and names the database.
 */
import { type Database, Tenants } from "@tally/store"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type { MigrationError } from "effect/sql/Migrator"
import type { SqlError } from "effect/sql/SqlError"
import { CliError, type CliError as CliErrorType, ExitCode, invalidConfiguration, invalidInput } from "./CliError.ts"
import * as Server from "../server/Server.ts"
import * as ServerConfig from "../server/ServerConfig.ts"

export interface DatabaseFlags {
  readonly "database-url"?: string | undefined
  readonly "data-dir"?: string | undefined
}

export type Failure = CliErrorType | SqlError | MigrationError

/** Runs `effect` with `services` built over the configured database. */
export const withDatabase = <A, R>(
  command: string,
  values: DatabaseFlags,
  services: (database: Layer.Layer<Database.Database, Database.LayerError>) => Layer.Layer<R, Failure>,
  effect: Effect.Effect<A, Failure, R>
): Effect.Effect<A, CliErrorType> =>
  Effect.gen(function*() {
    const env = yield* Effect.catch(ServerConfig.fromEnv, invalidConfiguration(command))
    const url = values["database-url"]
    if (url !== undefined && url !== "" && !ServerConfig.isDatabaseUrl(url)) {
      return yield* invalidInput(`${command}: --database-url: ${ServerConfig.expectedDatabaseUrl}`)
    }
    const config = ServerConfig.override(env, {
      databaseUrl: url === undefined || url === "" ? undefined : Redacted.make(url),
      dataDir: values["data-dir"]
    })
    return yield* effect.pipe(
      Effect.provide(services(Server.layerDatabase(config))),
      Effect.mapError((error) =>
        error._tag === "CliError"
          ? error
          : new CliError({
            message: `${command}: database error (${ServerConfig.describeDatabase(config)}): ${error.message}`,
            exitCode: ExitCode.unexpected
          })
      )
    )
  })

/** A failure the caller can fix (a bad value, an unknown id): exit 2 with its message. */
export const invalid = (command: string) => (error: { readonly message: string }) => Effect.fail(invalidInput(`${command}: ${error.message}`))

/**
 * Fails with `tenant "…" does not exist` (exit 2) for an unknown tenant, which would otherwise
 * list nothing and look like a tenant without any.
 */
export const requireTenant = (command: string, tenantId: string) =>
  Tenants.Tenants.use((tenants) => tenants.get(tenantId)).pipe(Effect.asVoid, Effect.catchTag("TenantNotFound", invalid(command)))
