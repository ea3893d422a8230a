import { assert, describe, layer } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import { ApiKeys } from "../src/ApiKeys.ts"
import { Database } from "../src/Database.ts"
import { Tenants } from "../src/Tenants.ts"
import { layerOptions, targets } from "./Targets.ts"

describe.each(targets)("API keys on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("a key's secret is returned once and only its sha256 is stored", () =>
      Effect.gen(function*() {
        const { sql } = yield* Database
        const keys = yield* ApiKeys
        const tenant = yield* (yield* Tenants).create({ name: "Acme" })
        const { key, secret } = yield* keys.create(tenant.id, {
          name: "ingest from CI",
          scopes: ["ingest", "read"],
          defaultLabels: { project: "search", environment: "prod" }
        })
        const text = Redacted.value(secret)
        assert.match(text, /^tly_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/)
        assert.isTrue(text.startsWith(`${key.prefix}_`))
        assert.notInclude(String(secret), text, "the secret does not print")
        const rows = yield* sql<{ row: string; secret_hash: Uint8Array }>`SELECT k::text AS row, secret_hash
          FROM tally.api_keys k WHERE id = ${key.id}`
        assert.notInclude(rows[0]!.row, text.slice(key.prefix.length + 1))
        assert.deepStrictEqual(
          Buffer.from(rows[0]!.secret_hash).toString("hex"),
          createHash("sha256").update(text).digest("hex")
        )
        assert.deepStrictEqual(yield* keys.verify(secret), {
          keyId: key.id,
          tenantId: tenant.id,
          scopes: ["ingest", "read"],
          defaultLabels: { project: "search", environment: "prod" }
        })
      }))

    it.effect("revoked, unknown and malformed keys are rejected alike; revoking twice keeps the first time", () =>
      Effect.gen(function*() {
        const keys = yield* ApiKeys
        const tenant = yield* (yield* Tenants).create({ name: "Acme" })
        const { key, secret } = yield* keys.create(tenant.id, { name: "k", scopes: ["admin"] })
        const revoked = yield* keys.revoke(tenant.id, key.id)
        assert.isNotNull(revoked.revokedAt)
        const again = yield* keys.revoke(tenant.id, key.id)
        assert.isTrue(DateTime.Equivalence(again.revokedAt!, revoked.revokedAt!))
        const rejected = (presented: string) => keys.verify(presented).pipe(Effect.flip, Effect.map((e) => e._tag))
        assert.strictEqual(yield* rejected(Redacted.value(secret)), "ApiKeyRejected")
        assert.strictEqual(yield* rejected(`tly_00000000_${"A".repeat(43)}`), "ApiKeyRejected")
        assert.strictEqual(yield* rejected("not a key"), "ApiKeyRejected")
        const other = yield* (yield* Tenants).create({ name: "Other" })
        assert.strictEqual(
          (yield* Effect.flip(keys.revoke(other.id, key.id)))._tag,
          "ApiKeyNotFound",
          "another tenant cannot revoke it"
        )
        const listed = yield* keys.list(tenant.id)
        assert.deepStrictEqual(listed.map((k) => k.id), [key.id])
        assert.deepStrictEqual(yield* keys.list(other.id), [])
      }))

    it.effect("keys for unknown tenants and with bad input are refused", () =>
      Effect.gen(function*() {
        const keys = yield* ApiKeys
        const tag = (tenantId: string, input: Parameters<typeof keys.create>[1]) =>
          keys.create(tenantId, input).pipe(Effect.flip, Effect.map((e) => (e._tag === "InvalidApiKey" ? e.field : e._tag)))
        assert.strictEqual(yield* tag("nobody", { name: "k", scopes: ["read"] }), "TenantNotFound")
        const tenant = yield* (yield* Tenants).create({ name: "Acme" })
        assert.strictEqual(yield* tag(tenant.id, { name: "k", scopes: [] }), "scopes")
        assert.strictEqual(yield* tag(tenant.id, { name: "", scopes: ["read"] }), "name")
      }))
  })
})
