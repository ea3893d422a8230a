import { assert, describe, it, layer } from "@effect/vitest"
import { UsageLedger } from "@tally/store"
import { Effect, Option, Result } from "effect"
import { Ingest } from "../src/Ingest.ts"
import * as Otlp from "../src/Otlp.ts"
import { fixtureJson } from "./FixtureFiles.ts"
import { backend, ingestLayer, layerOptions, testTimeout, newTenant } from "./TestStore.ts"

interface Traces {
  readonly resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ spanId: string; attributes: Array<unknown> }> }> }>
}
interface Event {
  readonly requestId: string
  readonly occurredAt?: string
  readonly labels?: Record<string, string>
  readonly payload: Record<string, unknown>
  readonly [key: string]: unknown
}

const traces = fixtureJson<Traces>("otlp-traces-openai-anthropic.json")

const convert = (body: unknown) => {
  const { events, skipped } = Result.getOrThrow(Otlp.spansToEvents(body))
  return { events: events as Array<Event>, skipped }
}

const invalid = (body: unknown) => {
  const result = Otlp.spansToEvents(body)
  if (Result.isSuccess(result)) throw new Error("expected OtlpInvalid")
  return result.failure
}

describe("Otlp.spansToEvents", () => {
  it("spans with GenAI usage become raw otel events; the others are skipped and counted", () => {
    const { events, skipped } = convert(traces)
    assert.deepStrictEqual(events.map((e) => e.requestId), ["a1b2c3d4e5f60718", "b7ad6b7169203331", "eee19b7ec3c1b174"])
    assert.deepStrictEqual(skipped, [
      { spanId: "00f067aa0ba902b7", reason: "no gen_ai.usage.* attributes" },
      { spanId: "1f2e3d4c5b6a7988", reason: "no gen_ai.usage.* attributes" }
    ])
  })

  it("an event carries the span's attributes as one flat object, ids as hex, the end time as occurredAt", () => {
    const [chat] = convert(traces).events
    assert.deepStrictEqual(chat, {
      requestId: "a1b2c3d4e5f60718",
      occurredAt: "2026-01-15T10:00:01.250Z",
      provider: "otel",
      api: "span",
      labels: { project: "support-bot", environment: "production", user: "user-8812" },
      tags: {
        "otel.trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "otel.span_name": "chat gpt-4o-mini",
        "otel.scope": "opentelemetry.instrumentation.openai_v2"
      },
      payload: {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-AbC123",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 1290,
        "gen_ai.usage.output_tokens": 57,
        "server.address": "api.openai.com",
        "enduser.id": "user-8812"
      }
    })
  })

  it("resource attributes supply labels and the span's own attributes win", () => {
    const [, , claude] = convert(traces).events
    assert.deepStrictEqual(claude!.labels, {
      project: "research-agent",
      team: "ml-platform",
      costCenter: "cc-4100",
      feature: "deep-research",
      workflow: "conv-77"
    })
    const overridden = structuredClone(traces)
    overridden.resourceSpans[1]!.scopeSpans[0]!.spans[0]!.attributes.push({ key: "tally.project", value: { stringValue: "override" } })
    assert.strictEqual(convert(overridden).events[2]!.labels!["project"], "override")
  })

  it("an int64 too large for a number stays text, and the span's start stands in for a missing end", () => {
    const body = {
      resourceSpans: [{
        scopeSpans: [{
          spans: [{
            spanId: "0102030405060708",
            startTimeUnixNano: "1768471200000000000",
            attributes: [{ key: "gen_ai.usage.input_tokens", value: { intValue: "90071992547409930" } }]
          }]
        }]
      }]
    }
    const [event] = convert(body).events
    assert.strictEqual(event!.occurredAt, "2026-01-15T10:00:00.000Z")
    assert.strictEqual(event!.payload["gen_ai.usage.input_tokens"], "90071992547409930")
  })

  it("an empty export has no events", () => {
    assert.deepStrictEqual(convert({}), { events: [], skipped: [] })
    assert.deepStrictEqual(convert({ resourceSpans: [] }), { events: [], skipped: [] })
  })

  it("a body that is not an export is invalid, naming where", () => {
    assert.strictEqual(invalid([]).path, "(body)")
    assert.strictEqual(invalid({ resourceSpans: {} }).path, "resourceSpans")
    const badId = structuredClone(traces)
    badId.resourceSpans[0]!.scopeSpans[1]!.spans[1]!.spanId = "xyz"
    const error = invalid(badId)
    assert.strictEqual(error.path, "resourceSpans[0].scopeSpans[1].spans[1].spanId")
    assert.match(error.message, /expected 16 hex digits/)
  })
})

describe(`OTLP spans through Ingest on ${backend}`, () => {
  layer(ingestLayer, layerOptions)((it) => {
    it.effect("converted spans are normalized, priced and recorded under their span ids", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const { events } = convert(traces)
        const options = { defaultLabels: { environment: "staging", customer: "acme" } }
        const result = yield* ingest.ingest(tenantId, events, options)
        assert.deepStrictEqual(result.items.map((i) => [i.requestId, i.status]), [
          ["a1b2c3d4e5f60718", "inserted"],
          ["b7ad6b7169203331", "inserted"],
          ["eee19b7ec3c1b174", "inserted"]
        ])
        for (const item of result.items) assert.strictEqual(item.costSource, "computed", item.requestId ?? "")
        const ledger = yield* UsageLedger.UsageLedger
        const claude = Option.getOrThrow(yield* ledger.get(tenantId, "eee19b7ec3c1b174")).call
        // Inclusive input 5120 = 24 uncached + 4096 read + 1000 write (the OTel inclusion rule).
        assert.deepStrictEqual(claude.usage.tokens, { inputText: 24, cacheRead: 4096, cacheWrite5m: 1000, outputText: 300 })
        assert.strictEqual(claude.provider, "otel")
        assert.deepStrictEqual(claude.labels, {
          project: "research-agent",
          team: "ml-platform",
          costCenter: "cc-4100",
          feature: "deep-research",
          workflow: "conv-77",
          environment: "staging",
          customer: "acme"
        })
        const chat = Option.getOrThrow(yield* ledger.get(tenantId, "a1b2c3d4e5f60718")).call
        assert.strictEqual(chat.labels.environment, "production")
        assert.strictEqual(chat.labels.endUser, "user-8812")
        assert.strictEqual(chat.tags["otel.trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736")
        const again = yield* ingest.ingest(tenantId, convert(traces).events, options)
        assert.strictEqual(again.duplicates, 3)
      }), testTimeout)
  })
})
