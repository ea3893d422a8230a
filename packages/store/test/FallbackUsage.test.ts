import { assert, describe, layer } from "@effect/vitest"
import { CostEngine, PricingSnapshot, type Usage, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { FallbackUsage } from "../src/FallbackUsage.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { pricedCall } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

/** A snapshot that prices audio and cache reads at the text input rate, and reasoning at output. */
const derived = PricingSnapshot.decodeSnapshot({
  provider: "openai",
  modelKey: "gpt-4o",
  rates: { inputText: "2.5", outputText: "10" },
  rateFallbacks: { inputAudio: "inputText", cacheRead: "inputText" }
})

const call = (requestId: string, usage: Usage.Usage, occurredAt = "2025-03-14T12:00:00Z"): UsageRecord.UsageRecord => {
  const breakdown = Result.getOrThrow(CostEngine.price(usage, derived))
  return { ...pricedCall({ requestId, occurredAt }), usage, snapshotId: breakdown.snapshotId, breakdown, total: breakdown.total }
}

const range = { from: DateTime.makeUnsafe("2025-03-14T00:00:00Z"), to: DateTime.makeUnsafe("2025-03-15T00:00:00Z") }

for (const target of targets) {
  describe(`FallbackUsage (${target.name})`, () => {
    layer(target.layer, layerOptions)((it) => {
      it.effect("groups the recorded lines priced by a fallback, with calls, quantities and amounts", () =>
        Effect.gen(function*() {
          const ledger = yield* UsageLedger
          const fallbacks = yield* FallbackUsage
          const tenantId = yield* newTenant()
          yield* ledger.insertBatch(tenantId, [
            call("a", { tokens: { inputText: 100, inputAudio: 1000, outputText: 10 } }),
            call("b", { tokens: { inputAudio: 3000, cacheRead: 400, reasoning: 50 } }),
            call("c", { tokens: { inputText: 100 } }),
            // Outside the range: not counted.
            call("d", { tokens: { inputAudio: 7 } }, "2025-03-16T00:00:00Z")
          ])
          const groups = yield* fallbacks.byCondition(tenantId, range)
          const plain = groups.map((g) => [g.component, g.condition, g.calls, g.quantity, g.amount])
          // inputAudio: 4000 tokens x 2.5 / 1M = 0.01; cacheRead: 400 x 2.5 / 1M = 0.001; reasoning: 50 x 10 / 1M = 0.0005
          assert.deepStrictEqual(plain, [
            ["inputAudio", "inputAudio:priced-at-inputText-rate", 2, "4000", "0.01"],
            ["cacheRead", "cacheRead:priced-at-inputText-rate", 1, "400", "0.001"],
            ["reasoning", "reasoning:priced-at-output-rate", 1, "50", "0.0005"]
          ])
          // Another tenant sees none of them.
          const other = yield* newTenant("Globex")
          assert.deepStrictEqual(yield* fallbacks.byCondition(other, range), [])
        }))
    })
  })
}
