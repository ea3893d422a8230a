/**
 * The hook in Ingest: budgets are evaluated as a real ingest batch commits, with the calls it
 * inserted, and a replayed batch records nothing new.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Catalog } from "@tally/catalog"
import { Budget, Money } from "@tally/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { Budgets } from "../src/Budgets.ts"
import { Ingest } from "../src/Ingest.ts"
import { eventRows, layerOptions, newTenant, outboxRows, targets } from "./BudgetSupport.ts"

const budgetInput = (value: unknown) => Result.getOrThrow(Budget.decodeBudgetInput(value))

const event = (requestId: string, inputText: number, labels: Record<string, string> = {}) => ({
  requestId,
  occurredAt: "2025-05-20T10:00:00Z",
  provider: "openai",
  model: "gpt-4o",
  labels,
  usage: { tokens: { inputText, outputText: 0 } }
})

describe.each(targets)("budgets through Ingest on $name", (target) => {
  const services = Layer.mergeAll(Ingest.layer, Budgets.layer).pipe(
    Layer.provideMerge(Layer.merge(target.layer, Catalog.Catalog.layer))
  )
  layer(services, layerOptions)((it) => {
    it.effect("a batch that crosses a threshold records it once it committed; its replay records nothing", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const ingest = yield* Ingest
        const budget = yield* budgets.create(tenantId, budgetInput({ name: "search", period: "day", amount: "0.01", scope: { project: "search" } }))
        // gpt-4o input is 2.50 per million tokens: 2000 tokens cost 0.005, 50% of the budget.
        const first = yield* ingest.ingest(tenantId, [event("i1", 2000, { project: "search" }), event("i2", 1_000_000, { project: "other" })])
        assert.strictEqual(first.inserted, 2)
        assert.strictEqual(first.items[0]!.total, "0.005")
        assert.deepStrictEqual(yield* eventRows(tenantId), [])
        const second = yield* ingest.ingest(tenantId, [event("i3", 1200, { project: "search" })])
        assert.strictEqual(second.inserted, 1)
        assert.deepStrictEqual((yield* eventRows(tenantId)).map((e) => [e.budget_id, e.threshold, e.spent]), [[budget.id, "80", "0.008"]])
        const replay = yield* ingest.ingest(tenantId, [event("i3", 1200, { project: "search" }), event("i1", 2000, { project: "search" })])
        assert.strictEqual(replay.duplicates, 2)
        const third = yield* ingest.ingest(tenantId, [event("i4", 800, { project: "search" })])
        assert.strictEqual(third.inserted, 1)
        const events = yield* eventRows(tenantId)
        assert.deepStrictEqual(events.map((e) => [e.threshold, Money.format(new Money.Decimal(e.spent))]), [["80", "0.008"], ["100", "0.01"]])
        assert.strictEqual((yield* outboxRows(tenantId)).length, 2)
      }))
  })
})
