import { assert, describe, layer } from "@effect/vitest"
import { Database } from "@tally/store"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import { IngestFailure } from "../src/Ingest.ts"
import { IngestPipeline, type PipelineConfig } from "../src/Pipeline.ts"
import { fixtureJson } from "./FixtureFiles.ts"
import { backend, counts, ingestLayer, layerOptions, testTimeout, ledgerIds, newTenant } from "./TestStore.ts"

const openai = fixtureJson<{ payload: Record<string, unknown> }>("openai-chat-completion.json").payload

const event = (requestId: string) => ({ requestId, occurredAt: "2026-01-15T10:00:00Z", provider: "openai", payload: openai })

/** `n` events with ids `<prefix>-<i>`, and one bad event in the middle when `withBad`. */
const submission = (prefix: string, n: number, withBad = false) => {
  const events: Array<unknown> = Array.from({ length: n }, (_, i) => event(`${prefix}-${String(i).padStart(3, "0")}`))
  if (withBad) events.splice(Math.floor(n / 2), 0, { requestId: `${prefix}-bad`, occurredAt: "yesterday", provider: "openai", payload: openai })
  return events
}

/** How many ledger transactions wrote a tenant's rows (each has its own `now()`). */
const transactions = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    const [row] = yield* sql<{ n: bigint | number }>`SELECT count(DISTINCT ingested_at) AS n FROM tally.usage_ledger WHERE tenant_id = ${tenantId}`
    return Number(row!.n)
  })

/** Runs `use` with a pipeline built in its own scope, closed (drained) when `use` ends. */
const withPipeline = <A, E, R>(config: PipelineConfig, use: (pipeline: IngestPipeline["Service"], scope: Scope.Closeable) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(IngestPipeline.layer(config), scope)
    const pipeline = context.mapUnsafe.get(IngestPipeline.key) as IngestPipeline["Service"]
    return yield* use(pipeline, scope).pipe(Effect.ensuring(Scope.close(scope, Exit.void)))
  })

describe(`IngestPipeline on ${backend}`, () => {
  layer(ingestLayer, layerOptions)((it) => {
    it.effect("many concurrent submitters: exact ledger counts, each result in its own input order, shared batches", () =>
      Effect.gen(function*() {
        const a = yield* newTenant()
        const b = yield* newTenant()
        const submissions = Array.from({ length: 60 }, (_, i) => ({
          tenantId: i % 2 === 0 ? a : b,
          events: submission(`s${String(i).padStart(2, "0")}`, 1 + (i % 7), i % 10 === 3)
        }), testTimeout)
        const results = yield* withPipeline({ maxBatch: 100, maxWait: "20 millis" }, (pipeline) =>
          Effect.forEach(submissions, (s) => pipeline.submit(s.tenantId, s.events), { concurrency: "unbounded" }))

        for (const [i, result] of results.entries()) {
          const sent = submissions[i]!.events as ReadonlyArray<{ readonly requestId: string }>
          assert.deepStrictEqual(result.items.map((item) => item.requestId), sent.map((e) => e.requestId))
          assert.deepStrictEqual(result.items.map((item) => item.index), sent.map((_, n) => n))
          for (const item of result.items) {
            assert.strictEqual(item.status, item.requestId!.endsWith("-bad") ? "rejected" : "inserted")
          }
        }
        const expected = (tenantId: string) =>
          submissions.filter((s) => s.tenantId === tenantId).flatMap((s) =>
            (s.events as ReadonlyArray<{ readonly requestId: string }>).map((e) => e.requestId).filter((id) => !id.endsWith("-bad"))
          ).sort()
        assert.deepStrictEqual(yield* ledgerIds(a), expected(a))
        assert.deepStrictEqual(yield* ledgerIds(b), expected(b))
        const bad = submissions.filter((s) => s.events.length > 0 && (s.events as ReadonlyArray<{ requestId: string }>).some((e) => e.requestId.endsWith("-bad")))
        const letters = (yield* counts(a)).deadLetters + (yield* counts(b)).deadLetters
        assert.strictEqual(letters, bad.length)
        // 60 submissions arrived together: they shared transactions.
        assert.isBelow((yield* transactions(a)) + (yield* transactions(b)), 60)
      }), testTimeout)

    it.effect("backpressure: with a queue of one, many submitters all complete and nothing is dropped", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const results = yield* withPipeline({ maxBatch: 7, maxWait: "1 millis", queueCapacity: 1, concurrency: 1 }, (pipeline) =>
          Effect.forEach(
            Array.from({ length: 150 }, (_, i) => submission(`bp${String(i).padStart(3, "0")}`, 3)),
            (events) => pipeline.submit(tenantId, events),
            { concurrency: "unbounded" }
          ))
        assert.strictEqual(results.length, 150)
        assert.strictEqual(results.reduce((n, r) => n + r.inserted, 0), 450)
        assert.strictEqual((yield* counts(tenantId)).ledger, 450)
      }), testTimeout)

    it.effect("closing the scope stops intake and records every queued and in-flight submission first", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        // A batch that never fills and a wait that never ends: only the drain can record these.
        const { fibers, late } = yield* withPipeline({ maxBatch: 1_000_000, maxWait: "1 hour" }, (pipeline, scope) =>
          Effect.gen(function*() {
            const fibers = yield* Effect.forEach(
              Array.from({ length: 20 }, (_, i) => submission(`d${String(i).padStart(2, "0")}`, 5)),
              (events) => Effect.forkChild(pipeline.submit(tenantId, events), { startImmediately: true })
            )
            yield* Scope.close(scope, Exit.void)
            const late = yield* Effect.exit(pipeline.submit(tenantId, submission("late", 1)))
            return { fibers, late }
          }))
        const results = yield* Fiber.joinAll(fibers)
        assert.strictEqual(results.reduce((n, r) => n + r.inserted, 0), 100)
        assert.strictEqual((yield* counts(tenantId)).ledger, 100)
        assert.isTrue(Exit.isFailure(late))
        if (Exit.isFailure(late)) {
          const failure = late.cause.reasons[0]
          assert.isTrue(failure?._tag === "Fail" && failure.error instanceof IngestFailure && failure.error.reason === "unavailable")
        }
      }), testTimeout)

    it.effect("a failing tenant's submissions fail whole; another tenant's in the same batch commit", () =>
      Effect.gen(function*() {
        const good = yield* newTenant()
        const [ok, failed] = yield* withPipeline({ maxBatch: 1000, maxWait: "50 millis" }, (pipeline) =>
          Effect.all([
            pipeline.submit(good, submission("g", 4)),
            Effect.flip(pipeline.submit("no-such-tenant", submission("n", 4)))
          ], { concurrency: "unbounded" }))
        assert.strictEqual(ok.inserted, 4)
        assert.strictEqual(failed.reason, "unknown-tenant")
        assert.strictEqual((yield* counts(good)).ledger, 4)
      }), testTimeout)
  })
})
