import { assert, describe, layer } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import { ApiKeys } from "../src/ApiKeys.ts"
import { Database } from "../src/Database.ts"
import { Tenants } from "../src/Tenants.ts"
import { layerOptions, targets } from "./Targets.ts"

describe.each(targets)("tenants and API keys on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("a tenant is created with defaults, read back and updated", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const created = yield* tenants.create({ name: "Acme" })
        assert.match(created.id, /^tnt_[0-9a-f]{20}$/)
        assert.include(created, { name: "Acme", currency: "USD", timeZone: "UTC", builtinCatalog: true })
        const chosen = yield* tenants.create({
          id: "org-42",
          name: "Globex",
          currency: "EUR",
          timeZone: "Europe/Berlin",
          builtinCatalog: false
        })
        assert.deepStrictEqual(yield* tenants.get("org-42"), chosen)
        const updated = yield* tenants.update("org-42", { currency: "CHF", builtinCatalog: true })
        assert.include(updated, { name: "Globex", currency: "CHF", timeZone: "Europe/Berlin", builtinCatalog: true })
        const all = yield* tenants.list
        assert.includeMembers(all.map((t) => t.id), [created.id, "org-42"])
      }))

    it.effect("bad tenant input names its field; duplicates and unknown tenants are typed errors", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const field = (input: Parameters<typeof tenants.create>[0]) =>
          tenants.create(input).pipe(Effect.flip, Effect.map((e) => (e._tag === "InvalidTenant" ? e.field : e._tag)))
        assert.strictEqual(yield* field({ name: "x", currency: "usd" }), "currency")
        assert.strictEqual(yield* field({ name: "x", timeZone: "Mars/Olympus" }), "timeZone")
        assert.strictEqual(yield* field({ name: " " }), "name")
        assert.strictEqual(yield* field({ id: "has space", name: "x" }), "id")
        yield* tenants.create({ id: "dup", name: "x" })
        assert.strictEqual(yield* field({ id: "dup", name: "y" }), "TenantAlreadyExists")
        assert.strictEqual((yield* Effect.flip(tenants.get("nobody")))._tag, "TenantNotFound")
        assert.strictEqual((yield* Effect.flip(tenants.update("nobody", { name: "n" })))._tag, "TenantNotFound")
      }))

    it.effect("a tenant's named lock is held until the transaction that took it ends", () =>
      Effect.gen(function*() {
        const tenants = yield* Tenants
        const db = yield* Database
        const tenantId = (yield* tenants.create({ name: "Locked" })).id
        const events: Array<string> = []
        const held = yield* Deferred.make<void>()
        const first = yield* Effect.forkChild(db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* tenants.lock(tenantId, "chargeback")
            events.push("first locked")
            yield* Deferred.succeed(held, undefined)
            yield* Effect.sleep("200 millis")
            events.push("first done")
          })
        ))
        yield* Deferred.await(held)
        yield* db.withTenant(tenantId, Effect.andThen(tenants.lock(tenantId, "chargeback"), Effect.sync(() => events.push("second locked"))))
        yield* Fiber.join(first)
        assert.deepStrictEqual(events, ["first locked", "first done", "second locked"])
      }))

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
