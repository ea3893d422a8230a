/**
 * API keys: what a key may do (its scopes) and which labels it applies to usage ingested with it.
 * A secret is shown once at creation; the store keeps only its hash.
 */
import type * as DateTime from "effect/DateTime"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as UsageRecord from "./UsageRecord.ts"

export const Scope = Schema.Literals(["ingest", "read", "admin"])
export type Scope = typeof Scope.Type

export interface ApiKey {
  readonly id: string
  readonly tenantId: string
  readonly name: string
  /** The clear start of the secret, e.g. `tly_3f9a1c2b`. */
  readonly prefix: string
  readonly scopes: ReadonlyArray<Scope>
  /** Labels applied to usage ingested with this key unless the event sets them. */
  readonly defaultLabels: UsageRecord.Labels
  readonly createdAt: DateTime.Utc
  readonly revokedAt: DateTime.Utc | null
}

export interface CreateApiKey {
  readonly name: string
  readonly scopes: ReadonlyArray<Scope>
  readonly defaultLabels?: UsageRecord.Labels | undefined
}

export interface CreatedApiKey {
  readonly key: ApiKey
  /** The only time the secret exists outside its holder's hands. */
  readonly secret: Redacted.Redacted<string>
}

export interface VerifiedKey {
  readonly keyId: string
  readonly tenantId: string
  readonly scopes: ReadonlyArray<Scope>
  readonly defaultLabels: UsageRecord.Labels
}

export class InvalidApiKey extends Schema.TaggedError<InvalidApiKey>()("InvalidApiKey", {
  field: Schema.String,
  message: Schema.String
}) {}

/** The presented secret is malformed, unknown or revoked; deliberately not saying which. */
export class ApiKeyRejected extends Schema.TaggedError<ApiKeyRejected>()("ApiKeyRejected", {
  message: Schema.String
}) {}

export class ApiKeyNotFound extends Schema.TaggedError<ApiKeyNotFound>()("ApiKeyNotFound", {
  tenantId: Schema.String,
  keyId: Schema.String,
  message: Schema.String
}) {}

const isLabels = Schema.is(UsageRecord.Labels)
const isScope = Schema.is(Scope)

/** The first field of a new key that breaks a rule, or `undefined`. */
export const check = (input: CreateApiKey): InvalidApiKey | undefined => {
  if (input.name.trim().length === 0 || input.name.length > 200) {
    return new InvalidApiKey({ field: "name", message: "expected a name of 1 to 200 characters" })
  }
  if (input.scopes.length === 0 || !input.scopes.every(isScope)) {
    return new InvalidApiKey({ field: "scopes", message: "expected one or more of ingest, read, admin" })
  }
  if (input.defaultLabels !== undefined && !isLabels(input.defaultLabels)) {
    return new InvalidApiKey({ field: "defaultLabels", message: "expected string labels" })
  }
  return undefined
}
