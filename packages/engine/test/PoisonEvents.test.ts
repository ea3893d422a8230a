/**
 * Values the database cannot store (a NUL, a lone surrogate, a model name or label past the
 * limits) are refused for their own event, naming the field, and dead-lettered; the good events
 * of the same submission and of the tenant's concurrent submissions, which the pipeline records
 * in the same transaction, all land exactly once.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { IngestPipeline } from "../src/Pipeline.ts"
import { fixtureJson } from "./FixtureFiles.ts"
import { backend, counts, deadLetters, ingestLayer, layerOptions, ledgerIds, newTenant, testTimeout } from "./TestStore.ts"

const openai = fixtureJson<{ payload: Record<string, unknown> }>("openai-chat-completion.json").payload

const event = (requestId: string, extra: Record<string, unknown> = {}) => ({
  requestId,
  occurredAt: "2026-01-15T10:00:00Z",
  provider: "openai",
  payload: openai,
  ...extra
})

const longModel = "m".repeat(3000)

/** Each poison event with the field its rejection must name. */
const poisons = (prefix: string): ReadonlyArray<readonly [event: Record<string, unknown>, field: string]> => [
  [event(`${prefix}-nul-label`, { labels: { project: "a\u0000b" } }), "labels.project"],
  [event(`${prefix}-nul\u0000id`), "requestId"],
  [event(`${prefix}-nul-tag`, { tags: { run: "x\u0000" } }), "tags.run"],
  [event(`${prefix}-nul-model`, { model: "gpt-4o\u0000" }), "model"],
  [event(`${prefix}-nul-payload`, { payload: { ...openai, id: "chat\u0000cmpl" } }), "payload.id"],
  [event(`${prefix}-surrogate-label`, { labels: { team: "core\ud800" } }), "labels.team"],
  [event(`${prefix}-surrogate-payload`, { payload: JSON.stringify(openai).replace("\"id\"", "\"\udc00id\"") }), "payload"],
  [event(`${prefix}-long-model`, { payload: { ...openai, model: longModel } }), "model"],
  [event(`${prefix}-long-label`, { labels: { customer: "c".repeat(10_000) } }), "labels.customer"],
  [event(`${prefix}-long-tag`, { tags: { note: "t".repeat(1025) } }), "tags.note"],
  [event("r".repeat(257)), "requestId"]
]

const withPipeline = <A, E, R>(use: (pipeline: IngestPipeline["Service"]) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(IngestPipeline.layer({ maxBatch: 2000, maxWait: "50 millis" }), scope)
    const pipeline = context.mapUnsafe.get(IngestPipeline.key) as IngestPipeline["Service"]
    return yield* use(pipeline).pipe(Effect.ensuring(Scope.close(scope, Exit.void)))
  })

describe(`poison events on ${backend}`, () => {
  layer(ingestLayer, layerOptions)((it) => {
    it.effect("one tenant's poison events ride with its good requests: each is rejected alone, every good event lands once", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        // 24 concurrent submissions: even ones carry every poison event among 20 good ones.
        const submissions = Array.from({ length: 24 }, (_, s) => {
          const good = Array.from({ length: 20 }, (_, i) => event(`s${s}-good-${i}`))
          if (s % 2 === 1) return { good, events: good, poison: [] as ReadonlyArray<readonly [Record<string, unknown>, string]> }
          const poison = poisons(`s${s}`)
          const events: Array<unknown> = [...good]
          poison.forEach(([bad], k) => events.splice(1 + k * 2, 0, bad))
          return { good, events, poison }
        })
        const results = yield* withPipeline((pipeline) =>
          Effect.forEach(submissions, (s) => pipeline.submit(tenantId, s.events), { concurrency: "unbounded" })
        )
        for (const [i, result] of results.entries()) {
          const { good, poison } = submissions[i]!
          assert.strictEqual(result.inserted, good.length, `submission ${i}`)
          assert.strictEqual(result.rejected, poison.length, `submission ${i}`)
          const rejected = result.items.filter((item) => item.status === "rejected")
          for (const [k, [, field]] of poison.entries()) {
            const reason = rejected[k]!.reason ?? ""
            assert.isTrue(reason.startsWith(`${field}: `), `expected a rejection of ${field}, got ${reason.slice(0, 200)}`)
          }
        }
        const goodIds = submissions.flatMap((s) => s.good.map((e) => e.requestId)).sort()
        assert.deepStrictEqual(yield* ledgerIds(tenantId), goodIds)
        const stored = yield* counts(tenantId)
        const poisonCount = submissions.reduce((n, s) => n + s.poison.length, 0)
        assert.deepStrictEqual(stored, { ledger: goodIds.length, deadLetters: poisonCount, rollupRequests: goodIds.length })
        // Quarantined readably: the NUL kept as its escape, the reason naming the field.
        const letters = yield* deadLetters(tenantId)
        const nulId = letters.find((letter) => letter.requestId === "s0-nul\\u0000id")
        assert.isDefined(nulId)
        assert.isTrue(nulId!.reason.startsWith("requestId: "))
      }), testTimeout)
  })
})
