import { assert, describe, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Database } from "../src/Database.ts"
import { Tenants } from "../src/Tenants.ts"
import { layerOptions, targets } from "./Targets.ts"

describe.each(targets)("tenants on $name", (target) => {
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
  })
})
