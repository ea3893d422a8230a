/**
 * Webhook delivery against a real local HTTP server that fails on purpose: retries with
 * exponential backoff on the TestClock, a signature every receiver can check, a log of every
 * attempt, giving up after the last attempt, and nothing sent twice by workers racing.
 */
import { afterAll, assert, beforeAll, describe, layer } from "@effect/vitest"
import { Budget } from "@tally/core"
import { Outbox } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { TestClock } from "effect/testing"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { Webhook } from "standardwebhooks"
import type { AddressInfo } from "node:net"
import { Budgets } from "../src/Budgets.ts"
import * as WebhookDelivery from "../src/WebhookDelivery.ts"
import { call, ingest, layerOptions, newTenant, targets } from "./BudgetSupport.ts"

const budgetInput = (value: unknown) => Result.getOrThrow(Budget.decodeBudgetInput(value))

interface Received {
  readonly path: string
  readonly headers: IncomingMessage["headers"]
  readonly body: string
}

/** A receiver whose answer per path is scripted: a list of status codes, then 200s. */
class Receiver {
  readonly received: Array<Received> = []
  readonly scripts = new Map<string, Array<number>>()
  server: Server | undefined
  url = ""

  start = () =>
    new Promise<void>((resolve) => {
      this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const path = req.url ?? "/"
          this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") })
          const script = this.scripts.get(path) ?? []
          const status = script.shift() ?? 200
          res.writeHead(status, { "content-type": "text/plain" })
          res.end(status === 200 ? "ok" : `failing on purpose (${status})`)
        })
      })
      this.server.listen(0, "127.0.0.1", () => {
        this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`
        resolve()
      })
    })

  stop = () => new Promise<void>((resolve) => this.server === undefined ? resolve() : this.server.close(() => resolve()))
}

const receiver = new Receiver()
beforeAll(receiver.start)
afterAll(receiver.stop)

const secret = "whsec_0123456789abcdef0123"

/** The delivery service over the test's outbox, with a real fetch client. */
const delivery = (config: WebhookDelivery.DeliveryConfig = {}) =>
  WebhookDelivery.WebhookDelivery.layerConfig(config).pipe(Layer.provide(FetchHttpClient.layer))

const deliverDue = WebhookDelivery.WebhookDelivery.use((d) => d.deliverDue)

/** A tenant with a webhook at `path` and one crossing (80%) in its outbox. */
const tenantWithCrossing = (path: string) =>
  Effect.gen(function*() {
    const tenantId = yield* newTenant()
    const outbox = yield* Outbox.Outbox
    yield* outbox.setWebhook(tenantId, { url: `${receiver.url}${path}`, secret })
    const budgets = yield* Budgets
    yield* budgets.create(tenantId, budgetInput({ name: "daily", period: "day", amount: "10", thresholds: [80] }))
    const { evaluation } = yield* ingest(tenantId, [call(`${path}-1`, "2025-05-20T10:00:00Z", "9")])
    assert.strictEqual(evaluation.crossings.length, 1)
    return { tenantId, outboxId: evaluation.crossings[0]!.outboxId! }
  })

describe.each(targets)("webhook delivery on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("a failing endpoint is retried with exponential backoff until it answers 2xx; every attempt is logged and signed", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.parse("2025-05-20T10:00:05Z"))
        const path = `/hooks/${target.name}/backoff`
        receiver.scripts.set(path, [500, 503])
        const { outboxId, tenantId } = yield* tenantWithCrossing(path)
        const outbox = yield* Outbox.Outbox

        const first = yield* deliverDue
        assert.deepStrictEqual(first.map((o) => [o.outboxId, o.attempt, o.outcome, o.statusCode]), [[outboxId, 1, "failed", 500]])
        assert.strictEqual(DateTime.formatIso(first[0]!.nextAttemptAt!), "2025-05-20T10:00:15.000Z") // + 10 s
        assert.deepStrictEqual(yield* deliverDue, []) // not due yet
        yield* TestClock.adjust("10 seconds")
        const second = yield* deliverDue
        assert.deepStrictEqual(second.map((o) => [o.attempt, o.statusCode]), [[2, 503]])
        assert.strictEqual(DateTime.formatIso(second[0]!.nextAttemptAt!), "2025-05-20T10:00:35.000Z") // + 20 s
        yield* TestClock.adjust("19 seconds")
        assert.deepStrictEqual(yield* deliverDue, [])
        yield* TestClock.adjust("1 second")
        const third = yield* deliverDue
        assert.deepStrictEqual(third.map((o) => [o.attempt, o.outcome, o.statusCode, o.nextAttemptAt]), [[3, "delivered", 200, null]])
        assert.deepStrictEqual(yield* deliverDue, [])

        const log = yield* outbox.deliveries(tenantId, { outboxId })
        assert.deepStrictEqual(log.map((a) => [a.attempt, a.outcome, a.statusCode, a.error, DateTime.formatIso(a.attemptedAt)]), [
          [1, "failed", 500, "HTTP 500", "2025-05-20T10:00:05.000Z"],
          [2, "failed", 503, "HTTP 503", "2025-05-20T10:00:15.000Z"],
          [3, "delivered", 200, null, "2025-05-20T10:00:35.000Z"]
        ])
        assert.strictEqual(log[0]!.responseExcerpt, "failing on purpose (500)")
        const [message] = yield* outbox.list(tenantId)
        assert.strictEqual(message!.status, "delivered")
        assert.strictEqual(message!.attempts, 3)

        // What the endpoint received: the same body three times, each signed over its own timestamp.
        const got = receiver.received.filter((r) => r.path === path)
        assert.strictEqual(got.length, 3)
        assert.strictEqual(new Set(got.map((r) => r.body)).size, 1)
        const body = JSON.parse(got[0]!.body)
        assert.strictEqual(body.id, outboxId)
        assert.strictEqual(body.kind, "budget.threshold_crossed")
        assert.strictEqual(body.tenantId, tenantId)
        assert.strictEqual(body.data.threshold, "80")
        assert.strictEqual(body.data.spent, "9")
        for (const r of got) {
          assert.strictEqual(r.headers["tally-event-id"], outboxId)
          assert.strictEqual(r.headers["content-type"], "application/json")
          // Standard Webhooks: the library's signature over id, timestamp and the raw body (the
          // test clock is in 2025, so the signature is recomputed at the sent timestamp).
          assert.strictEqual(r.headers["webhook-id"], outboxId)
          const t = Number(r.headers["webhook-timestamp"])
          const expected = (key: string, body: string) => new Webhook(key, { format: "raw" }).sign(outboxId, new Date(t * 1000), body)
          assert.strictEqual(r.headers["webhook-signature"], expected(secret, r.body))
          assert.notStrictEqual(r.headers["webhook-signature"], expected("another-secret-0123456789", r.body))
          assert.notStrictEqual(r.headers["webhook-signature"], expected(secret, r.body.replace("\"9\"", "\"1\"")))
          // The whsec_ form of the same key signs the same.
          assert.strictEqual(new Webhook(WebhookDelivery.receiverSecret(secret)).sign(outboxId, new Date(t * 1000), r.body), r.headers["webhook-signature"])
        }
        assert.deepStrictEqual(
          got.map((r) => Number(r.headers["webhook-timestamp"])),
          [Date.parse("2025-05-20T10:00:05Z") / 1000, Date.parse("2025-05-20T10:00:15Z") / 1000, Date.parse("2025-05-20T10:00:35Z") / 1000]
        )
      }).pipe(Effect.provide(delivery()), Effect.provide(TestClock.layer())))

    it.effect("an unreachable endpoint is given up after the last attempt", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.parse("2025-05-20T10:00:05Z"))
        const { outboxId, tenantId } = yield* tenantWithCrossing(`/hooks/${target.name}/dead`)
        const outbox = yield* Outbox.Outbox
        // Nothing listens on port 9 of localhost ("discard"), so the connection is refused.
        yield* outbox.setWebhook(tenantId, { url: "http://127.0.0.1:9/hook", secret })
        const first = yield* deliverDue
        assert.deepStrictEqual(first.map((o) => [o.outboxId, o.outcome, o.statusCode]), [[outboxId, "failed", null]])
        assert.isNotNull(first[0]!.error)
        yield* TestClock.adjust("10 seconds")
        const second = yield* deliverDue
        assert.isNull(second[0]!.nextAttemptAt)
        yield* TestClock.adjust("1 day")
        assert.deepStrictEqual(yield* deliverDue, [])
        const [message] = yield* outbox.list(tenantId)
        assert.strictEqual(message!.status, "dead")
        assert.strictEqual(message!.attempts, 2)
        assert.strictEqual((yield* outbox.deliveries(tenantId, { outboxId })).length, 2)
      }).pipe(Effect.provide(delivery({ maxAttempts: 2 })), Effect.provide(TestClock.layer())))

    it.effect("messages wait for a webhook, and racing workers send each one once", () =>
      Effect.gen(function*() {
        const outbox = yield* Outbox.Outbox
        const path = `/hooks/${target.name}/race`
        const tenants: Array<string> = []
        for (let i = 0; i < 4; i++) {
          const tenantId = yield* newTenant()
          tenants.push(tenantId)
          yield* outbox.enqueue(tenantId, Array.from({ length: 10 }, (_, n) => ({
            kind: "test.message",
            dedupeKey: `m${n}`,
            payload: { n }
          })))
          // Enqueued twice: deduplicated by key.
          assert.strictEqual((yield* outbox.enqueue(tenantId, [{ kind: "test.message", dedupeKey: "m0", payload: { n: 0 } }])).length, 0)
        }
        // No webhook yet: nothing is claimed.
        const none = (yield* deliverDue).filter((o) => tenants.includes(o.tenantId))
        assert.deepStrictEqual(none, [])
        for (const tenantId of tenants) yield* outbox.setWebhook(tenantId, { url: `${receiver.url}${path}`, secret })
        // Rounds of four workers claiming 7 at a time, at once, until nothing is left.
        const outcomes: Array<WebhookDelivery.DeliveryOutcome> = []
        for (let round = 0; round < 10; round++) {
          const passes = yield* Effect.all([deliverDue, deliverDue, deliverDue, deliverDue], { concurrency: "unbounded" })
          const mine = passes.flat().filter((o) => tenants.includes(o.tenantId))
          if (mine.length === 0) break
          outcomes.push(...mine)
        }
        assert.strictEqual(outcomes.length, 40)
        assert.isTrue(outcomes.every((o) => o.outcome === "delivered"))
        const got = receiver.received.filter((r) => r.path === path)
        assert.strictEqual(got.length, 40)
        assert.strictEqual(new Set(got.map((r) => r.headers["tally-event-id"])).size, 40)
        const invalid = yield* Effect.flip(outbox.setWebhook(tenants[0]!, { url: "ftp://x", secret }))
        assert.strictEqual(invalid._tag === "InvalidWebhook" && invalid.field, "url")
        const short = yield* Effect.flip(outbox.setWebhook(tenants[0]!, { url: receiver.url, secret: "short" }))
        assert.strictEqual(short._tag === "InvalidWebhook" && short.field, "secret")
      }).pipe(Effect.provide(delivery({ batchSize: 7 }))))
  })
})
