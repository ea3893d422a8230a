/**
 * The typed errors of the GraphQL API, and the one place where the services' own errors become
 * them. A field lists the errors it can return; they arrive as members of its result union. Any
 * other failure is a GraphQL error: `UNAVAILABLE` when the database failed (retry), otherwise an
 * internal error whose details stay in the worker's log.
 */
import { GraphQLError } from "./internal/Graphql.ts"

/*
 * Each extends GraphQLError: where a field lists it, the errors plugin returns it as a member of
 * the field's union; where nothing can (a subscription refused before it starts), it still
 * reaches the client as a GraphQL error with a code, never as a masked internal error.
 */

export class InvalidInput extends GraphQLError {
  readonly field: string
  constructor(message: string, field: string) {
    super(message, { extensions: { code: "INVALID_INPUT", field } })
    this.name = "InvalidInput"
    this.field = field
  }
}

export class NotFound extends GraphQLError {
  readonly resource: string
  readonly id: string
  constructor(message: string, resource: string, id: string) {
    super(message, { extensions: { code: "NOT_FOUND", resource, id } })
    this.name = "NotFound"
    this.resource = resource
    this.id = id
  }
}

export class Forbidden extends GraphQLError {
  readonly requiredScope: string
  constructor(message: string, requiredScope: string) {
    super(message, { extensions: { code: "FORBIDDEN", requiredScope } })
    this.name = "Forbidden"
    this.requiredScope = requiredScope
  }
}

export class Conflict extends GraphQLError {
  constructor(message: string) {
    super(message, { extensions: { code: "CONFLICT" } })
    this.name = "Conflict"
  }
}

export const unavailable = () =>
  new GraphQLError("the database is unavailable; retry later", { extensions: { code: "UNAVAILABLE" } })

interface Tagged {
  readonly _tag: string
  readonly message: string
  readonly [key: string]: unknown
}

const isTagged = (u: unknown): u is Tagged =>
  typeof u === "object" && u !== null && typeof (u as Tagged)._tag === "string" && typeof (u as Tagged).message === "string"

const text = (value: unknown, fallback: string): string => (typeof value === "string" ? value : fallback)

/** Which resource each "not found" error of the services is about, and the field holding its id. */
const notFound: Record<string, readonly [resource: string, idField: string]> = {
  TenantNotFound: ["tenant", "tenantId"],
  BudgetNotFound: ["budget", "budgetId"],
  RunNotFound: ["chargebackRun", "runId"],
  DefinitionNotFound: ["model", "definitionId"],
  CustomDefinitionNotFound: ["model", "definitionId"],
  MultiplierNotFound: ["priceMultiplier", "multiplierId"],
  ApiKeyNotFound: ["apiKey", "keyId"],
  ReservationNotFound: ["reservation", "reservationId"]
}

const conflicts = new Set(["DefinitionExists", "RunAlreadyFinal", "PeriodFinalized", "RunStale", "ReservationClosed", "TenantAlreadyExists", "BudgetArchived"])

/**
 * A service failure as what the API returns. Errors that carry a `field` are invalid input, by
 * convention of every service (`InvalidQuery`, `InvalidBudget`, `InvalidPricing`, ...).
 */
export const fromFailure = (error: unknown): Error => {
  if (error instanceof GraphQLError || error instanceof InvalidInput || error instanceof NotFound || error instanceof Forbidden || error instanceof Conflict) {
    return error
  }
  if (!isTagged(error)) return new Error(String(error))
  if (error._tag === "SqlError") return unavailable()
  const found = notFound[error._tag]
  if (found !== undefined) return new NotFound(error.message, found[0], text(error[found[1]], ""))
  if (conflicts.has(error._tag)) return new Conflict(error.message)
  if (typeof error.field === "string") return new InvalidInput(error.message, error.field)
  return error as unknown as Error
}
