/**
 * Names that are also keys of every JavaScript object (`__proto__`, `constructor`, `toString`)
 * are handled like any other unknown name: as providers they are refused alike, as tool or image
 * kinds, service tiers or regions they find no price of their own (priced like any unknown kind), and as tag keys they are kept.
 * Before, `__proto__` and `constructor` passed as known providers (a lookup reached the object
 * prototype) and a `constructor` tool call crashed the whole batch.
 */
import { assert, describe, layer } from "@effect/vitest"
import { UsageLedger } from "@tally/store"
import { Effect, Option } from "effect"
import { Ingest } from "../src/Ingest.ts"
import { backend, ingestLayer, layerOptions, newTenant, testTimeout } from "./TestStore.ts"

const normalized = (requestId: string, extra: Record<string, unknown> = {}) => ({
  requestId,
  occurredAt: "2026-01-15T10:00:00Z",
  provider: "openai",
  model: "gpt-4o-mini",
  usage: { tokens: { inputText: 10, outputText: 2 } },
  ...extra
})

const prototypeNames = ["__proto__", "constructor", "toString", "hasOwnProperty"]

describe(`prototype keys on ${backend}`, () => {
  layer(ingestLayer, layerOptions)((it) => {
    it.effect("prototype names as providers, tool kinds, tiers and tag keys are handled like any other name", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const events = [
          ...prototypeNames.map((name) => normalized(`provider-${name}`, { provider: name })),
          ...prototypeNames.map((name) => ({ requestId: `raw-${name}`, occurredAt: "2026-01-15T10:00:00Z", provider: name, payload: { usage: { prompt_tokens: 1 } } })),
          ...prototypeNames.map((name) => normalized(`tool-${name}`, { usage: { tokens: { inputText: 1 }, toolCalls: { [name]: 2 } } })),
          normalized("tool-control", { usage: { tokens: { inputText: 1 }, toolCalls: { no_such_tool: 2 } } }),
          normalized("tier", { usage: { tokens: { inputText: 10, outputText: 2 }, serviceTier: "constructor", region: "toString" } }),
          normalized("plain"),
          JSON.parse(JSON.stringify(normalized("tags")).replace("\"usage\"", "\"tags\":{\"__proto__\":\"x\",\"constructor\":\"y\"},\"usage\""))
        ]
        const result = yield* ingest.ingest(tenantId, events)
        const byId = new Map(result.items.map((item) => [item.requestId, item]))
        for (const name of prototypeNames) {
          for (const id of [`provider-${name}`, `raw-${name}`]) {
            const item = byId.get(id)!
            assert.strictEqual(item.status, "rejected", id)
            assert.match(item.reason!, new RegExp(`^provider: unknown provider ${JSON.stringify(name)}`), id)
          }
          // Like any tool without a price of its own.
          const tool = byId.get(`tool-${name}`)!
          const control = byId.get("tool-control")!
          assert.strictEqual(tool.status, "inserted")
          assert.deepStrictEqual([tool.costSource, tool.total], [control.costSource, control.total], `tool-${name}`)
        }
        // An unknown tier or region changes nothing, whatever its name.
        assert.strictEqual(byId.get("tier")!.total, byId.get("plain")!.total)
        const tagged = yield* UsageLedger.UsageLedger.use((ledger) => ledger.get(tenantId, "tags"))
        const tags = Option.getOrThrow(tagged).call.tags
        assert.deepStrictEqual(Object.entries(tags).sort(), [["__proto__", "x"], ["constructor", "y"]])
      }), testTimeout)
  })
})
