/**
 * API keys: a secret shown once at creation, stored only as its sha256. A key carries scopes and
 * default attribution labels; verifying a presented secret yields its tenant.
 *
 * A secret reads `tly_<8 hex>_<43 base64url>`; the part before the second underscore is the
 * prefix kept in clear so people can tell their keys apart.
 */
import { ApiKey, Tenant, UsageRecord } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import type { SqlError } from "effect/sql/SqlError"
import { createHash, randomBytes } from "node:crypto"
import { Database } from "./Database.ts"

const SECRET = /^(tly_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$/

export const hashSecret = (secret: string): Uint8Array => createHash("sha256").update(secret, "utf8").digest()

const newSecret = (): { readonly prefix: string; readonly secret: string } => {
  const prefix = `tly_${randomBytes(4).toString("hex")}`
  return { prefix, secret: `${prefix}_${randomBytes(32).toString("base64url")}` }
}

const decodeLabels = Schema.decodeUnknownSync(UsageRecord.Labels)
const decodeScopes = Schema.decodeUnknownSync(Schema.Array(ApiKey.Scope))

interface KeyRow {
  readonly id: string
  readonly tenant_id: string
  readonly name: string
  readonly prefix: string
  readonly scopes: ReadonlyArray<string>
  readonly default_labels: unknown
  readonly created_at: Date
  readonly revoked_at: Date | null
}

const fromRow = (row: KeyRow): ApiKey.ApiKey => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  prefix: row.prefix,
  scopes: decodeScopes(row.scopes),
  defaultLabels: decodeLabels(row.default_labels),
  createdAt: DateTime.fromDateUnsafe(row.created_at),
  revokedAt: row.revoked_at === null ? null : DateTime.fromDateUnsafe(row.revoked_at)
})

const columns = "id, tenant_id, name, prefix, scopes, default_labels, created_at, revoked_at"

export interface ApiKeysService {
  /** Creates a key and returns its secret, once. */
  readonly create: (
    tenantId: string,
    input: ApiKey.CreateApiKey
  ) => Effect.Effect<ApiKey.CreatedApiKey, ApiKey.InvalidApiKey | Tenant.TenantNotFound | SqlError>
  /** The tenant, scopes and default labels of an active key, found by the hash of its secret. */
  readonly verify: (secret: Redacted.Redacted<string> | string) => Effect.Effect<ApiKey.VerifiedKey, ApiKey.ApiKeyRejected | SqlError>
  /** Revokes a key; revoking it again keeps the first revocation time. */
  readonly revoke: (tenantId: string, keyId: string) => Effect.Effect<ApiKey.ApiKey, ApiKey.ApiKeyNotFound | SqlError>
  readonly list: (tenantId: string) => Effect.Effect<ReadonlyArray<ApiKey.ApiKey>, SqlError>
}

export class ApiKeys extends Context.Service<ApiKeys, ApiKeysService>()("@tally/store/ApiKeys") {
  static readonly layer: Layer.Layer<ApiKeys, never, Database> = Layer.effect(
    ApiKeys,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const create = Effect.fn("ApiKeys.create")(function*(tenantId: string, input: ApiKey.CreateApiKey) {
        const invalid = ApiKey.check(input)
        if (invalid !== undefined) return yield* invalid
        const { prefix, secret } = newSecret()
        const id = `key_${randomBytes(10).toString("hex")}`
        const rows = yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const exists = yield* sql`SELECT 1 FROM tally.tenants WHERE id = ${tenantId}`
            if (exists.length === 0) return yield* Tenant.notFound(tenantId)
            return yield* sql<KeyRow>`INSERT INTO tally.api_keys (id, tenant_id, name, prefix, secret_hash, scopes, default_labels)
              VALUES (${id}, ${tenantId}, ${input.name}, ${prefix}, ${hashSecret(secret)}, ${[...input.scopes]}::text[], ${
              PgTypes.jsonb(input.defaultLabels ?? {})
            })
              RETURNING ${sql.literal(columns)}`
          })
        )
        return { key: fromRow(rows[0]!), secret: Redacted.make(secret) }
      })

      const rejected = new ApiKey.ApiKeyRejected({ message: "the API key is not valid" })

      const verify = Effect.fn("ApiKeys.verify")(function*(presented: Redacted.Redacted<string> | string) {
        const secret = typeof presented === "string" ? presented : Redacted.value(presented)
        if (!SECRET.test(secret)) return yield* rejected
        const rows = yield* db.withoutTenant(
          sql<{ key_id: string; tenant_id: string; scopes: ReadonlyArray<string>; default_labels: unknown }>`
            SELECT key_id, tenant_id, scopes, default_labels FROM tally.verify_api_key(${hashSecret(secret)})`
        )
        const row = rows[0]
        if (row === undefined) return yield* rejected
        return {
          keyId: row.key_id,
          tenantId: row.tenant_id,
          scopes: decodeScopes(row.scopes),
          defaultLabels: decodeLabels(row.default_labels)
        }
      })

      const revoke = Effect.fn("ApiKeys.revoke")(function*(tenantId: string, keyId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<KeyRow>`UPDATE tally.api_keys SET revoked_at = coalesce(revoked_at, now())
            WHERE id = ${keyId} AND tenant_id = ${tenantId}
            RETURNING ${sql.literal(columns)}`
        )
        const row = rows[0]
        if (row === undefined) {
          return yield* new ApiKey.ApiKeyNotFound({ tenantId, keyId, message: `no API key ${JSON.stringify(keyId)} in this tenant` })
        }
        return fromRow(row)
      })

      const list = (tenantId: string) =>
        db.withTenant(
          tenantId,
          sql<KeyRow>`SELECT ${sql.literal(columns)} FROM tally.api_keys WHERE tenant_id = ${tenantId} ORDER BY created_at, id`
        ).pipe(Effect.map((rows) => rows.map(fromRow)), Effect.withSpan("ApiKeys.list"))

      return ApiKeys.of({ create, verify, revoke, list })
    })
  )
}
