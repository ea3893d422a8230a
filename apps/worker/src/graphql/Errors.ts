/**
 * The typed errors of the GraphQL API. A field lists the errors it can return; they arrive as
 * members of its result union. Any other failure is a GraphQL error: `UNAVAILABLE` when the
 * database failed (retry), otherwise an internal error whose details stay in the worker's log.
 * Which service error becomes which is `ServiceErrors`' table.
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
