/**
 * Setting up tenants and API keys from scripts, against the configured database
 * (`TALLY_DATABASE_URL` / `TALLY_DATA_DIR`, or `--database-url` / `--data-dir`):
 *
 *   tally tenant create --name N [--id ID] [--currency USD] [--time-zone UTC]
 *   tally tenant list
 *   tally apikey create --tenant T --scopes ingest,read [--label project=x]... [--name N]
 *   tally apikey list --tenant T
 *   tally apikey revoke --tenant T --key K
 *
 * A key's secret is printed once, at creation; only its hash is stored.
 *
 * The embedded database (PGlite) is one process's: run these while `tally serve` on the same
 * data directory is stopped, or point both at PostgreSQL.
 */
import type { ApiKey} from "@tally/core";
import { type Tenant, type UsageRecord } from "@tally/core"
import { ApiKeys, Store, Tenants } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { type DatabaseFlags, type Failure, invalid, requireTenant, withDatabase } from "../CommandDatabase.ts"
import { type CliError as CliErrorType, invalidInput } from "../CliError.ts"

/** Every scope; a tenant's first key gets all of them. */
export const allScopes: ReadonlyArray<ApiKey.Scope> = ["ingest", "read", "admin"]

/** Runs `effect` over the store of the configured database. */
const withStore = <A>(command: string, values: DatabaseFlags, effect: Effect.Effect<A, Failure, Store.Services>) =>
  withDatabase(command, values, Store.layerWith, effect)

const tenantJson = (tenant: Tenant.Tenant) => ({
  tenantId: tenant.id,
  name: tenant.name,
  currency: tenant.currency,
  timeZone: tenant.timeZone,
  builtinCatalog: tenant.builtinCatalog,
  createdAt: DateTime.formatIso(tenant.createdAt)
})

const keyJson = (key: ApiKey.ApiKey) => ({
  apiKeyId: key.id,
  tenantId: key.tenantId,
  name: key.name,
  prefix: key.prefix,
  scopes: key.scopes,
  defaultLabels: key.defaultLabels,
  createdAt: DateTime.formatIso(key.createdAt),
  revokedAt: key.revokedAt === null ? null : DateTime.formatIso(key.revokedAt)
})

/** Creates a tenant and its first key (all scopes); the secret is in the result, once. */
export const createTenantWithKey = (input: Tenant.CreateTenant) =>
  Effect.gen(function*() {
    const tenant = yield* (yield* Tenants.Tenants).create(input)
    const created = yield* (yield* ApiKeys.ApiKeys).create(tenant.id, { name: "default", scopes: allScopes })
    return { tenant, key: created.key, secret: Redacted.value(created.secret) }
  })

export const tenantCreate = ({ values }: Parsed<typeof Commands.tenantCreate.flags>) =>
  Effect.gen(function*() {
    const command = "tenant create"
    const name = yield* Spec.required(command, "name", values.name)
    const created = yield* withStore(
      command,
      values,
      createTenantWithKey({ name, id: values.id, currency: values.currency, timeZone: values["time-zone"] }).pipe(
        Effect.catchTag(["InvalidTenant", "TenantAlreadyExists", "InvalidApiKey", "TenantNotFound"], invalid(command))
      )
    )
    return { ...tenantJson(created.tenant), apiKey: created.secret, apiKeyId: created.key.id }
  })

export const tenantList = ({ values }: Parsed<typeof Commands.tenantList.flags>) =>
  Effect.gen(function*() {
    const tenants = yield* withStore("tenant list", values, Tenants.Tenants.use((t) => t.list))
    return tenants.map(tenantJson)
  })

/** Label names a key may default, as events name them (`user` is stored as `endUser`). */
const labelNames: Record<string, keyof UsageRecord.Labels> = {
  project: "project",
  environment: "environment",
  feature: "feature",
  team: "team",
  customer: "customer",
  user: "endUser",
  endUser: "endUser",
  workflow: "workflow",
  costCenter: "costCenter"
}

const parseLabels = (command: string, raw: ReadonlyArray<string>): Effect.Effect<UsageRecord.Labels, CliErrorType> => {
  const labels: Record<string, string> = {}
  for (const entry of raw) {
    const at = entry.indexOf("=")
    const name = at < 0 ? undefined : labelNames[entry.slice(0, at)]
    if (at < 0 || name === undefined) {
      return Effect.fail(invalidInput(`${command}: --label must read name=value with name one of ${Object.keys(labelNames).join(", ")}; got "${entry}"`))
    }
    labels[name] = entry.slice(at + 1)
  }
  return Effect.succeed(labels)
}

const parseScopes = (command: string, raw: string): Effect.Effect<ReadonlyArray<ApiKey.Scope>, CliErrorType> => {
  const scopes = raw.split(",").map((s) => s.trim()).filter((s) => s !== "")
  const unknown = scopes.filter((s) => !(allScopes as ReadonlyArray<string>).includes(s))
  return unknown.length > 0 || scopes.length === 0
    ? Effect.fail(invalidInput(`${command}: --scopes must list one or more of ${allScopes.join(", ")}, comma-separated; got "${raw}"`))
    : Effect.succeed([...new Set(scopes)] as ReadonlyArray<ApiKey.Scope>)
}

export const apikeyCreate = ({ values }: Parsed<typeof Commands.apikeyCreate.flags>) =>
  Effect.gen(function*() {
    const command = "apikey create"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const scopes = yield* parseScopes(command, yield* Spec.required(command, "scopes", values.scopes))
    const defaultLabels = yield* parseLabels(command, values.label ?? [])
    const created = yield* withStore(
      command,
      values,
      ApiKeys.ApiKeys.use((keys) => keys.create(tenantId, { name: values.name ?? "cli", scopes, defaultLabels })).pipe(
        Effect.catchTag(["InvalidApiKey", "TenantNotFound"], invalid(command))
      )
    )
    return { apiKey: Redacted.value(created.secret), ...keyJson(created.key) }
  })

export const apikeyList = ({ values }: Parsed<typeof Commands.apikeyList.flags>) =>
  Effect.gen(function*() {
    const command = "apikey list"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const keys = yield* withStore(command, values, Effect.andThen(requireTenant(command, tenantId), ApiKeys.ApiKeys.use((k) => k.list(tenantId))))
    return keys.map(keyJson)
  })

export const apikeyRevoke = ({ values }: Parsed<typeof Commands.apikeyRevoke.flags>) =>
  Effect.gen(function*() {
    const command = "apikey revoke"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const keyId = yield* Spec.required(command, "key", values.key)
    const key = yield* withStore(
      command,
      values,
      Effect.andThen(
        requireTenant(command, tenantId),
        ApiKeys.ApiKeys.use((k) => k.revoke(tenantId, keyId)).pipe(Effect.catchTag("ApiKeyNotFound", invalid(command)))
      )
    )
    return keyJson(key)
  })
