/**
 * The JetStream consumer in this process against the real NATS server (TALLY_TEST_NATS_URL) and
 * the test database (PGlite, or a fresh PostgreSQL database with TALLY_TEST_DATABASE_URL): the real
 * ingest pipeline, store and catalog, with a unique stream per test.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Catalog } from "@tally/catalog"
import { Ingest, IngestPipeline } from "@tally/engine"
import { Database, DeadLetters, Store, Tenants } from "@tally/store"
import { Duration, Effect, Layer } from "effect"
import type * as NatsConfig from "../src/nats/NatsConfig.ts"
import { UsageConsumer } from "../src/nats/UsageConsumer.ts"
import { Metrics } from "../src/server/Metrics.ts"
import { eventually, ledger, nats, natsUrl, testConfig, usageEvent } from "./support/Nats.ts"

const backend = process.env.TALLY_TEST_DATABASE_URL ? "postgres" : "pglite"

const services = Layer.provideMerge(
  Layer.merge(IngestPipeline.layer({ maxWait: "5 millis" }), Metrics.layer),
  Layer.provideMerge(Ingest.Ingest.layer, Layer.merge(Store.layerWith(Database.layerTest), Catalog.Catalog.layer))
)

/** Runs `use` while a consumer for `config` runs; it stops gracefully when `use` ends. */
const withConsumer = <A, E, R>(config: NatsConfig.NatsConfig, use: (consumer: UsageConsumer["Service"]) => Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(Layer.build(UsageConsumer.layer(config)), (context) => use(context.mapUnsafe.get(UsageConsumer.key) as UsageConsumer["Service"])))

const newTenant = Tenants.Tenants.use((tenants) => tenants.create({ name: "Acme" })).pipe(Effect.map((tenant) => tenant.id))

const natsDescribe = natsUrl === undefined ? describe.skip : describe

natsDescribe(`the NATS consumer on ${backend}`, () => {
  layer(services, { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    it.effect("every event of every body format lands once; a redelivered batch changes nothing", () =>
      Effect.scoped(Effect.gen(function*() {
        const bus = yield* nats
        const config = testConfig()
        const a = yield* newTenant
        const b = yield* newTenant
        const bodies: ReadonlyArray<readonly [string, unknown]> = [
          [a, usageEvent("a-1", 100, 10)],
          [a, [usageEvent("a-2", 200, 20), usageEvent("a-3", 300, 30)]],
          [a, { events: [usageEvent("a-4", 400, 40)] }],
          [a, `${JSON.stringify(usageEvent("a-5", 500, 50))}\n${JSON.stringify(usageEvent("a-6", 600, 60))}\n`],
          [b, [usageEvent("b-1", 1, 1), usageEvent("b-2", 2, 2)]]
        ]
        for (const [tenant, body] of bodies) yield* bus.publish(config, tenant, body)

        const first = yield* withConsumer(config, (consumer) =>
          Effect.gen(function*() {
            yield* bus.settled(config)
            return yield* consumer.stats
          }))
        assert.deepStrictEqual(first, { acked: 5, retried: 0, deadLettered: 0 })
        assert.deepStrictEqual(yield* ledger(a), { events: 6, tokens: 2310 })
        assert.deepStrictEqual(yield* ledger(b), { events: 2, tokens: 6 })
        // A work queue: acked messages are gone from the stream.
        assert.strictEqual((yield* Effect.promise(() => bus.jsm.streams.info(config.stream))).state.messages, 0)

        // The same messages again, as a redelivery after a lost ack would bring them.
        for (const [tenant, body] of bodies) yield* bus.publish(config, tenant, body)
        const second = yield* withConsumer(config, (consumer) => Effect.andThen(bus.settled(config), consumer.stats))
        assert.deepStrictEqual(second, { acked: 5, retried: 0, deadLettered: 0 })
        assert.deepStrictEqual(yield* ledger(a), { events: 6, tokens: 2310 })
        assert.deepStrictEqual(yield* ledger(b), { events: 2, tokens: 6 })
      })), 120_000)

    it.effect("a bad event is dead-lettered alone by the pipeline; its message is acked once", () =>
      Effect.scoped(Effect.gen(function*() {
        const bus = yield* nats
        const config = testConfig()
        const tenant = yield* newTenant
        const bad = { ...usageEvent("bad-1", 1, 1), usage: { tokens: { inputText: -5 } } }
        yield* bus.publish(config, tenant, [usageEvent("ok-1", 10, 1), bad, usageEvent("ok-2", 20, 2)])
        const stats = yield* withConsumer(config, (consumer) => Effect.andThen(bus.settled(config), consumer.stats))
        assert.deepStrictEqual(stats, { acked: 1, retried: 0, deadLettered: 0 })
        assert.deepStrictEqual(yield* ledger(tenant), { events: 2, tokens: 33 })
        const letters = yield* DeadLetters.DeadLetters.use((d) => d.list(tenant))
        assert.deepStrictEqual(letters.map((l) => l.requestId), ["bad-1"])
        assert.strictEqual((yield* Effect.promise(() => bus.consumerInfo(config))).num_redelivered, 0)
      })), 120_000)

    it.effect("a body that is not events is dead-lettered with its reason on the max_deliver-th delivery, then terminated", () =>
      Effect.scoped(Effect.gen(function*() {
        const bus = yield* nats
        const config = testConfig({ maxDeliver: 3 })
        const tenant = yield* newTenant
        yield* bus.publish(config, tenant, "{\"requestId\": \"x\", oops")
        yield* bus.publish(config, tenant, usageEvent("fine", 7, 3))
        const stats = yield* withConsumer(config, (consumer) =>
          Effect.gen(function*() {
            yield* eventually(Effect.flatMap(consumer.stats, (s) => (s.deadLettered === 1 ? Effect.void : Effect.fail("not yet"))))
            yield* bus.settled(config)
            return yield* consumer.stats
          }))
        assert.deepStrictEqual(stats, { acked: 1, retried: 2, deadLettered: 1 })
        const [letter, ...more] = yield* DeadLetters.DeadLetters.use((d) => d.list(tenant))
        assert.strictEqual(more.length, 0)
        assert.strictEqual(letter!.source, "nats")
        assert.strictEqual(letter!.kind, "malformed")
        assert.match(letter!.reason, /^body: invalid JSON: .+ \(failed 3 of 3 deliveries\)$/)
        assert.strictEqual(letter!.rawText, "{\"requestId\": \"x\", oops")
        assert.deepInclude(letter!.item as object, { subject: `${config.subjectPrefix}.${tenant}`, deliveryCount: 3 })
        assert.deepStrictEqual(yield* ledger(tenant), { events: 1, tokens: 10 })
        // Terminated, so neither pending nor waiting for an ack, and gone from the work queue.
        const info = yield* Effect.promise(() => bus.consumerInfo(config))
        assert.strictEqual(info.num_ack_pending + info.num_pending, 0)
        assert.strictEqual((yield* Effect.promise(() => bus.jsm.streams.info(config.stream))).state.messages, 0)
      })), 120_000)

    it.effect("messages naming no tenant go to the dead-letter stream with the reason in a header", () =>
      Effect.scoped(Effect.gen(function*() {
        const bus = yield* nats
        const config = testConfig({ maxDeliver: 2 })
        yield* bus.publish(config, "nobody", [usageEvent("n-1", 1, 1)])
        yield* bus.publish(config, "-not-a-tenant", usageEvent("n-2", 1, 1))
        yield* bus.publish(config, "nobody-either", "not json")
        const stats = yield* withConsumer(config, (consumer) =>
          Effect.gen(function*() {
            yield* eventually(Effect.flatMap(consumer.stats, (s) => (s.deadLettered === 3 ? Effect.void : Effect.fail("not yet"))))
            yield* bus.settled(config)
            return yield* consumer.stats
          }))
        assert.deepStrictEqual(stats, { acked: 0, retried: 3, deadLettered: 3 })
        const letters = yield* bus.deadLetterMessages(config)
        const bySubject = new Map(letters.map((m) => [m.subject, m]))
        const reason = (rest: string) => bySubject.get(`${config.deadLetterPrefix}.${rest}`)?.header.get("Tally-Reason")
        assert.match(reason("nobody")!, /^tenant "nobody" does not exist/)
        assert.match(reason("-not-a-tenant")!, /is not a tenant id/)
        assert.match(reason("nobody-either")!, /^tenant "nobody-either" does not exist; body: invalid JSON/)
        const original = bySubject.get(`${config.deadLetterPrefix}.nobody`)!
        assert.strictEqual(original.header.get("Tally-Subject"), `${config.subjectPrefix}.nobody`)
        assert.strictEqual(original.header.get("Tally-Delivery-Count"), "2")
        assert.deepStrictEqual(original.json(), [usageEvent("n-1", 1, 1)])
      })), 120_000)

    it.effect("the consumer reports its backlog as tally_consumer_lag", () =>
      Effect.scoped(Effect.gen(function*() {
        const bus = yield* nats
        const metrics = yield* Metrics
        const lag = Effect.map(metrics.render, (text) => Number(/^tally_consumer_lag (\d+)/m.exec(text)?.[1]))
        const tenant = yield* newTenant
        const names = testConfig()
        for (let m = 0; m < 30; m++) yield* bus.publish(names, tenant, usageEvent(`lag-${m}`, 1, 1))
        // One message at a time and one reading at start: the reading is the backlog before it moved.
        const slow = testConfig({ ...names, maxInFlight: 1, lagInterval: Duration.hours(1) })
        const before = yield* withConsumer(slow, () => eventually(Effect.filterOrFail(lag, (n) => n >= 20)))
        assert.isAtMost(before, 30)
        const quick = testConfig({ ...names, lagInterval: Duration.millis(50) })
        yield* withConsumer(quick, () => Effect.andThen(bus.settled(quick), eventually(Effect.filterOrFail(lag, (n) => n === 0))))
      })), 120_000)

    it.effect("two consumers in one process share the stream and record each event once", () =>
      Effect.scoped(Effect.gen(function*() {
        const bus = yield* nats
        const config = testConfig({ maxInFlight: 8 })
        const tenant = yield* newTenant
        const messages = 200
        for (let m = 0; m < messages; m++) {
          yield* bus.publish(config, tenant, Array.from({ length: 10 }, (_, i) => usageEvent(`m${m}-${i}`, m + 1, i)))
        }
        const [one, two] = yield* withConsumer(config, (first) =>
          withConsumer(config, (second) =>
            Effect.gen(function*() {
              yield* bus.settled(config)
              return [yield* first.stats, yield* second.stats] as const
            })))
        assert.strictEqual(one.acked + two.acked, messages)
        // sum over m of 10 * (m + 1) input tokens, plus 0..9 output tokens per message
        assert.deepStrictEqual(yield* ledger(tenant), { events: 2000, tokens: 10 * (messages * (messages + 1)) / 2 + 45 * messages })
      })), 120_000)
  })
})
