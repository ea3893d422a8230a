import { assert, describe, layer } from "@effect/vitest"
import { Tenants, UsageLedger } from "@tally/store"
import { Effect, Exit, Option } from "effect"
import { Ingest, IngestFailure } from "../src/Ingest.ts"
import { fixture, fixtureJson } from "./FixtureFiles.ts"
import { backend, counts, deadLetters, ingestLayer, layerOptions, testTimeout, newTenant } from "./TestStore.ts"

const at = "2026-01-15T10:00:00Z"
const openai = fixtureJson<{ payload: Record<string, unknown> }>("openai-chat-completion.json").payload
const sse = fixture("openai-chat-stream-include-usage.sse")

const rawEvent = (requestId: string, extra: Record<string, unknown> = {}) => ({
  requestId,
  occurredAt: at,
  provider: "openai",
  payload: openai,
  ...extra
})

const normalizedEvent = (requestId: string, model: string, extra: Record<string, unknown> = {}) => ({
  requestId,
  occurredAt: at,
  provider: "openai",
  model,
  usage: { tokens: { inputText: 1000, outputText: 200 } },
  ...extra
})

const negativeTokens = {
  ...openai,
  usage: { ...(openai["usage"] as object), prompt_tokens: -5 }
}

const recorded = (tenantId: string, requestId: string) =>
  Effect.map(UsageLedger.UsageLedger.use((ledger) => ledger.get(tenantId, requestId)), Option.getOrThrow)

describe(`Ingest on ${backend}`, () => {
  layer(ingestLayer, layerOptions)((it) => {
    it.effect("every event gets its own status, in input order, and only valid events are recorded", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const events = [
          rawEvent("ok-raw"),
          { requestId: "no-time", provider: "openai", payload: openai },
          rawEvent("bad-provider", { provider: "acme-llm" }),
          rawEvent("negative", { payload: negativeTokens }),
          normalizedEvent("unmatched", "no-such-model-xyz"),
          normalizedEvent("ok-normalized", "gpt-4o-mini"),
          "not an event"
        ]
        const result = yield* ingest.ingest(tenantId, events)
        assert.deepStrictEqual(result.items.map((i) => [i.index, i.requestId, i.status]), [
          [0, "ok-raw", "inserted"],
          [1, "no-time", "rejected"],
          [2, "bad-provider", "rejected"],
          [3, "negative", "rejected"],
          [4, "unmatched", "inserted"],
          [5, "ok-normalized", "inserted"],
          [6, null, "rejected"]
        ])
        assert.deepStrictEqual([result.inserted, result.duplicates, result.conflicts, result.rejected], [3, 0, 0, 4])
        assert.match(result.items[1]!.reason!, /^occurredAt: /)
        assert.match(result.items[2]!.reason!, /^provider: .*unknown provider "acme-llm"/)
        assert.match(result.items[3]!.reason!, /^payload\.usage\.prompt_tokens: /)
        assert.match(result.items[6]!.reason!, /^\(event\): expected an event object/)
        assert.strictEqual(result.items[0]!.costSource, "computed")
        assert.strictEqual(result.items[0]!.currency, "USD")
        assert.match(result.items[0]!.total!, /^0\.\d+$/)
        assert.strictEqual(result.items[0]!.model, "gpt-4.1-nano-2025-04-14")
        assert.isString(result.items[0]!.definition)
        assert.deepStrictEqual(yield* counts(tenantId), { ledger: 3, deadLetters: 4, rollupRequests: 3 })
      }), testTimeout)

    it.effect("an OpenAI-compatible provider's event (Groq, usage in x_groq.usage) is normalized and priced with that provider's entries", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const chunks = [
          { id: "chatcmpl-g1", object: "chat.completion.chunk", created: 1, model: "llama-3.3-70b-versatile", choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }] },
          { id: "chatcmpl-g1", object: "chat.completion.chunk", created: 1, model: "llama-3.3-70b-versatile", choices: [{ index: 0, delta: {}, finish_reason: "stop" }], x_groq: { id: "req_g1", usage: { queue_time: 0.01, prompt_tokens: 1000, prompt_time: 0.001, completion_tokens: 500, completion_time: 0.2, total_tokens: 1500, total_time: 0.201 } } }
        ]
        const result = yield* ingest.ingest(tenantId, [rawEvent("groq-1", { provider: "groq", payload: chunks })])
        assert.deepStrictEqual(result.items.map((i) => [i.status, i.definition, i.costSource, i.total]), [
          // 1000 input × $0.59/M + 500 output × $0.79/M = 0.00059 + 0.000395
          ["inserted", "groq/llama-3.3-70b-versatile", "computed", "0.000985"]
        ])
        const row = yield* recorded(tenantId, "groq-1")
        assert.deepStrictEqual([row.call.provider, row.call.usage.tokens], ["groq", { inputText: 1000, outputText: 500 }])
      }), testTimeout)

    it.effect("a replayed batch reports only duplicates and changes no totals", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const events = [rawEvent("r1"), rawEvent("r2", { payload: sse }), normalizedEvent("r3", "gpt-4o-mini")]
        const first = yield* ingest.ingest(tenantId, events)
        assert.deepStrictEqual(first.items.map((i) => i.status), ["inserted", "inserted", "inserted"])
        const before = yield* counts(tenantId)
        const again = yield* ingest.ingest(tenantId, events)
        assert.deepStrictEqual(again.items.map((i) => i.status), ["duplicate", "duplicate", "duplicate"])
        assert.deepStrictEqual(again.items.map((i) => i.total), first.items.map((i) => i.total))
        assert.deepStrictEqual(yield* counts(tenantId), before)
      }), testTimeout)

    it.effect("the same request id with a different payload is a conflict, dead-lettered, and the first event stays", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        yield* ingest.ingest(tenantId, [rawEvent("c1")])
        const changed = { ...openai, usage: { ...(openai["usage"] as object), completion_tokens: 364, total_tokens: 380 } }
        const result = yield* ingest.ingest(tenantId, [rawEvent("c1", { payload: changed })])
        assert.strictEqual(result.items[0]!.status, "conflict")
        assert.match(result.items[0]!.reason!, /^requestId: already recorded with a different event/)
        assert.strictEqual(result.conflicts, 1)
        const stored = yield* recorded(tenantId, "c1")
        assert.deepStrictEqual<unknown>(stored.call.raw, openai)
        const letters = yield* deadLetters(tenantId)
        assert.deepStrictEqual(letters.map((l) => [l.kind, l.requestId, l.field]), [["conflict", "c1", "requestId"]])
        assert.deepStrictEqual(letters[0]!.raw, changed)
      }), testTimeout)

    it.effect("rejected events are dead-lettered with their raw input and a reason naming the field", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const events = [
          rawEvent("typo", { labels: { enviroment: "prod" } }),
          rawEvent("negative", { payload: negativeTokens }),
          rawEvent("sse-error", { payload: "data: {not json}\n\n" }),
          rawEvent("zoneless", { occurredAt: "2026-01-15T10:00:00" })
        ]
        const result = yield* ingest.ingest(tenantId, events)
        assert.deepStrictEqual(result.items.map((i) => i.status), ["rejected", "rejected", "rejected", "rejected"])
        assert.match(result.items[0]!.reason!, /^labels\.enviroment: /)
        assert.match(result.items[3]!.reason!, /^occurredAt: expected an ISO 8601 date-time with a zone/)
        const letters = yield* deadLetters(tenantId)
        const byId = new Map(letters.map((l) => [l.requestId, l]))
        assert.strictEqual(letters.length, 4)
        assert.strictEqual(byId.get("typo")!.field, "labels.enviroment")
        assert.strictEqual(byId.get("typo")!.kind, "malformed")
        assert.deepStrictEqual(byId.get("typo")!.item, events[0])
        assert.strictEqual(byId.get("negative")!.field, "payload.usage.prompt_tokens")
        assert.strictEqual(byId.get("negative")!.kind, "rejected")
        assert.deepStrictEqual(byId.get("negative")!.raw, negativeTokens)
        assert.strictEqual(byId.get("sse-error")!.rawText, "data: {not json}\n\n")
        for (const letter of letters) {
          assert.strictEqual(letter.source, "ingest")
          assert.isTrue(letter.reason.startsWith(`${letter.field}: `), letter.reason)
        }
        assert.strictEqual((yield* counts(tenantId)).ledger, 0)
      }), testTimeout)

    it.effect("an unmatched model is recorded unpriced with its usage, never as $0", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const result = yield* ingest.ingest(tenantId, [
          normalizedEvent("u1", "no-such-model-xyz"),
          rawEvent("u2", { payload: { ...openai, model: "gpt-imaginary-9" } })
        ])
        for (const item of result.items) {
          assert.strictEqual(item.status, "inserted")
          assert.strictEqual(item.costSource, "unpriced")
          assert.isNull(item.total)
        }
        const stored = yield* recorded(tenantId, "u1")
        assert.strictEqual(stored.call.costSource, "unpriced")
        assert.isNull(stored.call.total)
        assert.match(stored.call.unpricedReason!, /no-rule-matched/)
        assert.deepStrictEqual(stored.call.usage.tokens, { inputText: 1000, outputText: 200 })
        assert.strictEqual(stored.call.provider, "openai")
        assert.deepStrictEqual(stored.call.raw, { tokens: { inputText: 1000, outputText: 200 } })
      }), testTimeout)

    it.effect("key default labels apply, the event's own labels win field by field, user is the end user", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        yield* ingest.ingest(tenantId, [
          rawEvent("l1", { labels: { team: "search", user: "u-42", costCenter: "cc-7" }, tags: { run: "9" } }),
          rawEvent("l2")
        ], {
          defaultLabels: { project: "chatbot", team: "platform", environment: "prod" },
          apiKeyId: "key_123"
        })
        const l1 = yield* recorded(tenantId, "l1")
        assert.deepStrictEqual(l1.call.labels, {
          project: "chatbot",
          team: "search",
          environment: "prod",
          endUser: "u-42",
          costCenter: "cc-7",
          apiKeyId: "key_123"
        })
        assert.deepStrictEqual(l1.call.tags, { run: "9" })
        const l2 = yield* recorded(tenantId, "l2")
        assert.deepStrictEqual(l2.call.labels, { project: "chatbot", team: "platform", environment: "prod", apiKeyId: "key_123" })
      }), testTimeout)

    it.effect("a stream sent as SSE text is kept byte for byte", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const result = yield* ingest.ingest(tenantId, [rawEvent("s1", { payload: sse })])
        assert.strictEqual(result.items[0]!.status, "inserted")
        const stored = yield* recorded(tenantId, "s1")
        assert.strictEqual(stored.call.rawText, sse)
        assert.strictEqual(stored.call.raw, sse)
        assert.strictEqual(stored.call.usage.tokens.outputText, 3)
      }), testTimeout)

    it.effect("a tenant with the built-in catalog off gets built-in models unpriced", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const on = yield* newTenant()
        const off = yield* newTenant({ builtinCatalog: false })
        const priced = yield* ingest.ingest(on, [rawEvent("b1")])
        const unpriced = yield* ingest.ingest(off, [rawEvent("b1")])
        assert.strictEqual(priced.items[0]!.costSource, "computed")
        assert.strictEqual(unpriced.items[0]!.costSource, "unpriced")
        assert.strictEqual(unpriced.items[0]!.status, "inserted")
      }), testTimeout)

    it.effect("an unknown tenant fails the whole batch and writes nothing", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const exit = yield* Effect.exit(ingest.ingest("no-such-tenant", [rawEvent("x")]))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
        assert.isTrue(error?._tag === "Fail" && error.error instanceof IngestFailure && error.error.reason === "unknown-tenant")
        const tenants = yield* Tenants.Tenants
        assert.isFalse((yield* tenants.list).some((t) => t.id === "no-such-tenant"))
      }), testTimeout)
  })
})
