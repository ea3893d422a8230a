/**
 * Tenants: who is billed, in which currency, in which time zone their days and months are cut,
 * and whether the built-in model catalog applies to them.
 */
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Money from "./Money.ts"

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

const isTenantId = Schema.is(TenantId)
const isCurrency = Schema.is(Money.CurrencyCode)

/** The first field of a new tenant or a patch that breaks a rule, or `undefined`. */
export const check = (fields: UpdateTenant & { readonly id?: string | undefined }): InvalidTenant | undefined => {
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
