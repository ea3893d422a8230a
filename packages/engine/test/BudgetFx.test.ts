/**
 * A cost budget counts spend in other currencies converted at each UTC day's recorded rate; a day
 * without a rate is listed as not converted; a rate added later changes the next evaluation and
 * never a recorded crossing. Amounts below are computed by hand.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Budget, Fx, Money } from "@tally/core"
import { ExchangeRates } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { Budgets, statusToJson } from "../src/Budgets.ts"
import { call, eventRows, ingest, layerOptions, newTenant, targets } from "./BudgetSupport.ts"

const input = (value: unknown) => Result.getOrThrow(Budget.decodeBudgetInput(value))

/** A EUR->USD rate for `date`, decoded as the CLI and GraphQL decode one. */
const eurUsd = (date: string, rate: string): Fx.RateInput => {
  const decoded = Fx.validate({ base: "EUR", quote: "USD", date, rate, source: "test" })
  if (decoded instanceof Fx.InvalidRate) throw new Error(decoded.message)
  return decoded
}

for (const target of targets) {
  describe(`budgets in the reporting currency (${target.name})`, () => {
    layer(target.layer, layerOptions)((it) => {
      it.effect("EUR spend converted per day, a day without a rate not counted, a later rate never rewrites a crossing", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant({ currency: "USD" })
          const budgets = yield* Budgets
          const rates = yield* ExchangeRates.ExchangeRates
          yield* budgets.create(tenantId, input({ name: "June", period: "month", amount: "100", thresholds: ["50", "80", "100"] }))
          yield* rates.add(tenantId, [eurUsd("2025-06-03", "1.1"), eurUsd("2025-06-04", "1.2")], "test")

          // 10 USD; 20 EUR on June 3 (x1.1 = 22); 30 EUR on June 4 (x1.2 = 36); 40 EUR on June 5 (no rate).
          const first = yield* ingest(tenantId, [
            call("u1", "2025-06-02T08:00:00Z", "10"),
            call("e1", "2025-06-03T09:00:00Z", "12", { currency: "EUR" }),
            call("e2", "2025-06-03T23:30:00Z", "8", { currency: "EUR" }),
            call("e3", "2025-06-04T10:00:00Z", "30", { currency: "EUR" }),
            call("e4", "2025-06-05T10:00:00Z", "40", { currency: "EUR" })
          ])
          assert.strictEqual(first.result.inserted, 5)
          assert.isUndefined(first.evaluation.error)
          // 10 + 22 + 36 = 68: 50 reached, 80 not.
          assert.deepStrictEqual(first.evaluation.crossings.map((c) => Money.format(c.threshold)), ["50"])

          const june10 = DateTime.makeUnsafe("2025-06-10T12:00:00Z")
          const [before] = yield* budgets.status(tenantId, { at: june10 })
          const json = statusToJson(before!)
          assert.strictEqual(json.spent, "68")
          assert.strictEqual(json.spentInCurrency, "10")
          assert.strictEqual(json.remaining, "32")
          assert.deepStrictEqual(json.otherCurrencies, [{ currency: "EUR", amount: "90" }])
          assert.deepStrictEqual(json.converted.map(({ rateId: _, ...d }) => d), [
            { date: "2025-06-03", currency: "EUR", amount: "20", rate: "1.1", converted: "22" },
            { date: "2025-06-04", currency: "EUR", amount: "30", rate: "1.2", converted: "36" }
          ])
          assert.deepStrictEqual(json.notConverted, [{ date: "2025-06-05", currency: "EUR", amount: "40" }])

          // A rate for June 5 arrives: 40 x 1.05 = 42, spent 110; the next evaluation records 80 and 100.
          yield* rates.add(tenantId, [eurUsd("2025-06-05", "1.05")], "test")
          const second = yield* budgets.evaluate(tenantId, { at: june10 })
          assert.deepStrictEqual(second.crossings.map((c) => Money.format(c.threshold)), ["80", "100"])

          // A corrected (lower) June 3 rate recorded later: 20 x 0.5 = 10, spent 98. No crossing is rewritten.
          yield* rates.add(tenantId, [eurUsd("2025-06-03", "0.5")], "test")
          const third = yield* budgets.evaluate(tenantId, { at: june10 })
          assert.strictEqual(third.crossings.length, 0)
          const [after] = yield* budgets.status(tenantId, { at: june10 })
          const afterJson = statusToJson(after!)
          assert.strictEqual(afterJson.spent, "98")
          assert.deepStrictEqual(afterJson.notConverted, [])
          assert.deepStrictEqual(afterJson.converted.map((d) => [d.date, d.rate, d.converted]), [
            ["2025-06-03", "0.5", "10"],
            ["2025-06-04", "1.2", "36"],
            ["2025-06-05", "1.05", "42"]
          ])
          assert.deepStrictEqual(afterJson.crossed.map((c) => [c.threshold, c.spent]), [["50", "68"], ["80", "110"], ["100", "110"]])
          assert.deepStrictEqual((yield* eventRows(tenantId)).map((r) => [r.threshold, r.spent]), [["50", "68"], ["80", "110"], ["100", "110"]])
        }))

      it.effect("request and token budgets convert nothing; spend in the budget's currency alone converts nothing", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant({ currency: "USD" })
          const budgets = yield* Budgets
          yield* budgets.create(tenantId, input({ name: "Calls", period: "day", unit: "requests", amount: "10" }))
          yield* ingest(tenantId, [call("r1", "2025-06-02T08:00:00Z", "5", { currency: "EUR" }), call("r2", "2025-06-02T09:00:00Z", "1")])
          const [status] = yield* budgets.status(tenantId, { at: DateTime.makeUnsafe("2025-06-02T12:00:00Z") })
          const json = statusToJson(status!)
          assert.strictEqual(json.spent, "2")
          assert.deepStrictEqual(json.converted, [])
          assert.deepStrictEqual(json.notConverted, [])
          assert.deepStrictEqual(json.otherCurrencies, [{ currency: "EUR", amount: "5" }])
        }))
    })
  })
}
