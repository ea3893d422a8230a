/**
 * Tenants: who is billed, in which currency, in which time zone their days and months are cut,
 * and whether the built-in model catalog applies to them.
 */
import { Money } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { randomBytes } from "node:crypto"
import { Database } from "./Database.ts"

/** Letters, digits and `_ . : -`, starting with a letter or digit, at most 128 characters. */
export const TenantId = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, {
    message: "expected 1 to 128 letters, digits or `_.:-`, starting with a letter or digit"
  })
)

export interface Tenant {
  readonly id: string
  readonly name: string
  readonly currency: string
  /** IANA time zone that cuts the tenant's days, weeks and months (budgets, statements). */
  readonly timeZone: string
  /** Whether the built-in model catalog prices this tenant's calls (custom definitions always do). */
  readonly builtinCatalog: boolean
  readonly createdAt: DateTime.Utc
}

export interface CreateTenant {
  /** Chosen by the embedding application, e.g. its own organisation id; generated when absent. */
  readonly id?: string | undefined
  readonly name: string
  /** ISO 4217; defaults to USD. */
  readonly currency?: string | undefined
  /** IANA zone; defaults to UTC. */
  readonly timeZone?: string | undefined
  /** Defaults to true. */
  readonly builtinCatalog?: boolean | undefined
}

export interface UpdateTenant {
  readonly name?: string | undefined
  readonly currency?: string | undefined
  readonly timeZone?: string | undefined
  readonly builtinCatalog?: boolean | undefined
}

export class TenantNotFound extends Schema.TaggedError<TenantNotFound>()("TenantNotFound", {
  tenantId: Schema.String,
  message: Schema.String
}) {}

export class TenantAlreadyExists extends Schema.TaggedError<TenantAlreadyExists>()("TenantAlreadyExists", {
  tenantId: Schema.String,
  message: Schema.String
}) {}

export class InvalidTenant extends Schema.TaggedError<InvalidTenant>()("InvalidTenant", {
  field: Schema.String,
  message: Schema.String
}) {}

export const notFound = (tenantId: string) =>
  new TenantNotFound({ tenantId, message: `tenant ${JSON.stringify(tenantId)} does not exist` })

interface TenantRow {
  readonly id: string
  readonly name: string
  readonly currency: string
  readonly time_zone: string
  readonly builtin_catalog: boolean
  readonly created_at: Date
}

const fromRow = (row: TenantRow): Tenant => ({
  id: row.id,
  name: row.name,
  currency: row.currency,
  timeZone: row.time_zone,
  builtinCatalog: row.builtin_catalog,
  createdAt: DateTime.fromDateUnsafe(row.created_at)
})

const isTenantId = Schema.is(TenantId)
const isCurrency = Schema.is(Money.CurrencyCode)

const validate = (fields: UpdateTenant & { readonly id?: string | undefined }): InvalidTenant | undefined => {
  if (fields.id !== undefined && !isTenantId(fields.id)) {
    return new InvalidTenant({ field: "id", message: `invalid tenant id ${JSON.stringify(fields.id)}` })
  }
  if (fields.name !== undefined && (fields.name.trim().length === 0 || fields.name.length > 200)) {
    return new InvalidTenant({ field: "name", message: "expected a name of 1 to 200 characters" })
  }
  if (fields.currency !== undefined && !isCurrency(fields.currency)) {
    return new InvalidTenant({
      field: "currency",
      message: `expected an ISO 4217 currency code such as "USD", got ${JSON.stringify(fields.currency)}`
    })
  }
  if (fields.timeZone !== undefined && Option.isNone(DateTime.zoneMakeNamed(fields.timeZone))) {
    return new InvalidTenant({
      field: "timeZone",
      message: `expected an IANA time zone such as "Europe/Berlin", got ${JSON.stringify(fields.timeZone)}`
    })
  }
  return undefined
}

const columns = "id, name, currency, time_zone, builtin_catalog, created_at"

export interface TenantsService {
  readonly create: (input: CreateTenant) => Effect.Effect<Tenant, InvalidTenant | TenantAlreadyExists | SqlError>
  readonly get: (tenantId: string) => Effect.Effect<Tenant, TenantNotFound | SqlError>
  readonly update: (
    tenantId: string,
    patch: UpdateTenant
  ) => Effect.Effect<Tenant, TenantNotFound | InvalidTenant | SqlError>
  /** Every tenant, for system work such as schedulers; reads as the owner, outside any tenant scope. */
  readonly list: Effect.Effect<ReadonlyArray<Tenant>, SqlError>
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

      const create = Effect.fn("Tenants.create")(function*(input: CreateTenant) {
        const invalid = validate(input)
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
                new TenantAlreadyExists({ tenantId: id, message: `tenant ${JSON.stringify(id)} already exists` })
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
        return row === undefined ? yield* notFound(tenantId) : fromRow(row)
      })

      const update = Effect.fn("Tenants.update")(function*(tenantId: string, patch: UpdateTenant) {
        const invalid = validate(patch)
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
        return row === undefined ? yield* notFound(tenantId) : fromRow(row)
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
