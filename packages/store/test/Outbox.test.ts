import { assert, describe, it, layer } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Database } from "../src/Database.ts"
import { body, Outbox } from "../src/Outbox.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const secret = "s3cret-s3cret-s3cret"
const crossing = (key: string) => ({ kind: "budget.threshold_crossed", dedupeKey: key, payload: { budgetId: key } })

describe.each(targets)("the outbox on $name", (target) => {
  layer(Layer.provideMerge(Outbox.layer, target.layer), layerOptions)((it) => {
    it.effect("a webhook is set, replaced, read and removed; bad ones name their field", () =>
      Effect.gen(function*() {
        const outbox = yield* Outbox
        const tenantId = yield* newTenant()
        assert.isNull(yield* outbox.getWebhook(tenantId))
        yield* outbox.setWebhook(tenantId, { url: "https://a.example/hook", secret })
        const replaced = yield* outbox.setWebhook(tenantId, { url: "https://b.example/hook", secret })
        assert.include(yield* outbox.getWebhook(tenantId), { tenantId, url: "https://b.example/hook", secret })
        assert.strictEqual(replaced.url, "https://b.example/hook")
        const field = (webhook: { url: string; secret: string }) =>
          Effect.map(Effect.flip(outbox.setWebhook(tenantId, webhook)), (e) => (e._tag === "InvalidWebhook" ? e.field : e._tag))
        assert.strictEqual(yield* field({ url: "ftp://x", secret }), "url")
        assert.strictEqual(yield* field({ url: "https://x.example", secret: "short" }), "secret")
        assert.strictEqual((yield* Effect.flip(outbox.setWebhook("nobody", { url: "https://x.example", secret })))._tag, "TenantNotFound")
        assert.isTrue(yield* outbox.removeWebhook(tenantId))
        assert.isFalse(yield* outbox.removeWebhook(tenantId))
      }))

    it.effect("a message is enqueued once per kind and dedupe key, and lists newest first by status and kind", () =>
      Effect.gen(function*() {
        const outbox = yield* Outbox
        const tenantId = yield* newTenant()
        const now = DateTime.makeUnsafe("2025-03-14T15:00:00Z")
        const first = yield* outbox.enqueue(tenantId, [crossing("b-1"), crossing("b-2")], { now })
        assert.deepStrictEqual(first.map((m) => m.dedupeKey), ["b-1", "b-2"])
        const again = yield* outbox.enqueue(tenantId, [crossing("b-1"), { kind: "anomaly.detected", dedupeKey: "b-1", payload: {} }])
        assert.deepStrictEqual(again.map((m) => m.kind), ["anomaly.detected"])
        assert.deepStrictEqual(yield* outbox.enqueue(tenantId, []), [])
        const listed = yield* outbox.list(tenantId, { kind: "budget.threshold_crossed" })
        assert.sameMembers(listed.map((m) => m.dedupeKey), ["b-1", "b-2"])
        assert.isTrue(listed.every((m) => m.status === "pending" && m.attempts === 0 && DateTime.Equivalence(m.createdAt, now)))
        assert.strictEqual((yield* outbox.list(tenantId, { status: "delivered" })).length, 0)
        assert.strictEqual((yield* outbox.list(tenantId)).length, 3)
      }))

    it.effect("messages enqueued in the transaction of their fact roll back with it", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const outbox = yield* Outbox
        const tenantId = yield* newTenant()
        const failed = yield* db.withTenant(
          tenantId,
          Effect.andThen(outbox.enqueue(tenantId, [crossing("gone")]), Effect.fail("the fact was not recorded" as const))
        ).pipe(Effect.flip)
        assert.strictEqual(failed, "the fact was not recorded")
        assert.deepStrictEqual(yield* outbox.list(tenantId), [])
      }))

    it.effect("due messages are claimed once per lease, and each attempt moves them on", () =>
      Effect.gen(function*() {
        const outbox = yield* Outbox
        const tenantId = yield* newTenant()
        const quiet = yield* newTenant("No webhook")
        yield* outbox.setWebhook(tenantId, { url: "https://hooks.example/tally", secret })
        const now = DateTime.makeUnsafe("2025-03-14T15:00:00Z")
        const [message] = yield* outbox.enqueue(tenantId, [crossing("c-1")], { now })
        yield* outbox.enqueue(quiet, [crossing("q-1")], { now })
        const later = DateTime.makeUnsafe("2025-03-14T15:00:01Z")
        const claimed = (yield* outbox.claimDue({ now: later, limit: 100, leaseMs: 60_000 })).filter((m) => m.tenantId === tenantId || m.tenantId === quiet)
        assert.deepStrictEqual(claimed.map((m) => [m.id, m.url, m.attempts]), [[message!.id, "https://hooks.example/tally", 0]])
        assert.strictEqual(
          (yield* outbox.claimDue({ now: later, limit: 100, leaseMs: 60_000 })).filter((m) => m.id === message!.id).length,
          0,
          "leased"
        )
        const attempt = {
          outboxId: message!.id,
          attempt: 1,
          attemptedAt: later,
          url: "https://hooks.example/tally",
          outcome: "failed" as const,
          statusCode: 503,
          error: null,
          durationMs: 12.4,
          responseExcerpt: "busy",
          nextAttemptAt: DateTime.makeUnsafe("2025-03-14T15:01:00Z")
        }
        assert.isTrue(yield* outbox.recordAttempt(tenantId, attempt))
        assert.isFalse(yield* outbox.recordAttempt(tenantId, attempt), "the same attempt is logged once")
        const [pending] = yield* outbox.list(tenantId)
        assert.include(pending, { status: "pending", attempts: 1, lastError: "HTTP 503" })
        assert.isTrue(yield* outbox.recordAttempt(tenantId, { ...attempt, attempt: 2, outcome: "delivered", statusCode: 200, nextAttemptAt: null }))
        const [delivered] = yield* outbox.list(tenantId)
        assert.include(delivered, { status: "delivered", attempts: 2, lastError: null })
        const log = yield* outbox.deliveries(tenantId, { outboxId: message!.id })
        assert.deepStrictEqual(log.map((d) => [d.attempt, d.outcome, d.statusCode, d.durationMs]), [[1, "failed", 503, 12], [2, "delivered", 200, 12]])
      }))
  })
})

describe("outbox message bodies", () => {
  it("carry the stored fields only, so every attempt sends the same bytes", () => {
    const message = {
      id: "m-1",
      tenantId: "acme",
      kind: "budget.threshold_crossed",
      createdAt: DateTime.makeUnsafe("2025-03-14T15:00:00Z"),
      payload: { budgetId: "b-1" }
    }
    assert.strictEqual(
      body(message),
      "{\"id\":\"m-1\",\"kind\":\"budget.threshold_crossed\",\"tenantId\":\"acme\",\"createdAt\":\"2025-03-14T15:00:00.000Z\",\"data\":{\"budgetId\":\"b-1\"}}"
    )
  })
})
