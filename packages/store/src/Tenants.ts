/**
 * Tenants: who is billed, in which currency, in which time zone their days and months are cut,
 * and whether the built-in model catalog applies to them.
 */
import { Tenant } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { randomBytes } from "node:crypto"
import { Database } from "./Database.ts"

interface TenantRow {
  readonly id: string
  readonly name: string
  readonly currency: string
  readonly time_zone: string
  readonly builtin_catalog: boolean
  readonly created_at: Date
}

const fromRow = (row: TenantRow): Tenant.Tenant => ({
  id: row.id,
  name: row.name,
  currency: row.currency,
  timeZone: row.time_zone,
  builtinCatalog: row.builtin_catalog,
  createdAt: DateTime.fromDateUnsafe(row.created_at)
})

const columns = "id, name, currency, time_zone, builtin_catalog, created_at"

export interface TenantsService {
  readonly create: (input: Tenant.CreateTenant) => Effect.Effect<Tenant.Tenant, Tenant.InvalidTenant | Tenant.TenantAlreadyExists | SqlError>
  readonly get: (tenantId: string) => Effect.Effect<Tenant.Tenant, Tenant.TenantNotFound | SqlError>
  readonly update: (
    tenantId: string,
    patch: Tenant.UpdateTenant
  ) => Effect.Effect<Tenant.Tenant, Tenant.TenantNotFound | Tenant.InvalidTenant | SqlError>
  /** Every tenant, for system work such as schedulers; reads as the owner, outside any tenant scope. */
  readonly list: Effect.Effect<ReadonlyArray<Tenant.Tenant>, SqlError>
  /**
   * Takes the tenant's advisory lock `name` until the enclosing transaction of the tenant ends (so
   * call it inside `Database.withTenant`): work of the tenant that takes the same lock runs one at
   * a time. Chargeback serializes a tenant's runs and finalizations with `"chargeback"`.
   */
  readonly lock: (tenantId: string, name: string) => Effect.Effect<void, SqlError>
}

export class Tenants extends Context.Service<Tenants, TenantsService>()("@tally/store/Tenants") {
  static readonly layer: Layer.Layer<Tenants, never, Database> = Layer.effect(
    Tenants,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const create = Effect.fn("Tenants.create")(function*(input: Tenant.CreateTenant) {
        const invalid = Tenant.check(input)
        if (invalid !== undefined) return yield* invalid
        const id = input.id ?? `tnt_${randomBytes(10).toString("hex")}`
        const rows = yield* db.withTenant(
          id,
          sql<TenantRow>`INSERT INTO tally.tenants (id, name, currency, time_zone, builtin_catalog)
            VALUES (${id}, ${input.name}, ${input.currency ?? "USD"}, ${input.timeZone ?? "UTC"}, ${
            input.builtinCatalog ?? true
          })
            RETURNING ${sql.literal(columns)}`
        ).pipe(
          Effect.catchIf(
            (error) => error.reason._tag === "UniqueViolation",
            () =>
              Effect.fail(
                new Tenant.TenantAlreadyExists({ tenantId: id, message: `tenant ${JSON.stringify(id)} already exists` })
              )
          )
        )
        return fromRow(rows[0]!)
      })

      const get = Effect.fn("Tenants.get")(function*(tenantId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<TenantRow>`SELECT ${sql.literal(columns)} FROM tally.tenants WHERE id = ${tenantId}`
        )
        const row = rows[0]
        return row === undefined ? yield* Tenant.notFound(tenantId) : fromRow(row)
      })

      const update = Effect.fn("Tenants.update")(function*(tenantId: string, patch: Tenant.UpdateTenant) {
        const invalid = Tenant.check(patch)
        if (invalid !== undefined) return yield* invalid
        const rows = yield* db.withTenant(
          tenantId,
          sql<TenantRow>`UPDATE tally.tenants SET
              name = coalesce(${patch.name ?? null}, name),
              currency = coalesce(${patch.currency ?? null}, currency),
              time_zone = coalesce(${patch.timeZone ?? null}, time_zone),
              builtin_catalog = coalesce(${patch.builtinCatalog ?? null}::boolean, builtin_catalog)
            WHERE id = ${tenantId}
            RETURNING ${sql.literal(columns)}`
        )
        const row = rows[0]
        return row === undefined ? yield* Tenant.notFound(tenantId) : fromRow(row)
      })

      const list = sql<TenantRow>`SELECT ${sql.literal(columns)} FROM tally.tenants ORDER BY id`.pipe(
        Effect.map((rows) => rows.map(fromRow)),
        Effect.withSpan("Tenants.list")
      )

      const lock = Effect.fn("Tenants.lock")(function*(tenantId: string, name: string) {
        yield* db.withTenant(tenantId, sql`SELECT pg_advisory_xact_lock(hashtextextended(${`tally.${name}:${tenantId}`}, 0))`)
      })

      return Tenants.of({ create, get, update, list, lock })
    })
  )
}
