import { assert, describe, layer } from "@effect/vitest"
import { Budget, Money } from "@tally/core"
import { UsageLedger } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { TestClock } from "effect/testing"
import { Budgets, statusToJson, suggestionToJson } from "../src/Budgets.ts"
import { call, decimal, eventRows, ingest, layerOptions, newTenant, outboxRows, targets } from "./BudgetSupport.ts"

const input = (value: unknown) => Result.getOrThrow(Budget.decodeBudgetInput(value))

const failureOf = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.flip(effect), (error) => Effect.succeed(error))

/** Runs `effect` with the TestClock at `iso`. */
const at = <A, E, R>(iso: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(Date.parse(iso))
    return yield* effect
  }).pipe(Effect.provide(TestClock.layer()))

describe("budget input", () => {
  const decodeError = (value: unknown) => {
    const decoded = Budget.decodeBudgetInput(value)
    if (Result.isSuccess(decoded)) throw new Error("expected an error")
    return decoded.failure
  }

  layer(targets[0]!.layer, layerOptions)((it) => {
    it.effect("thresholds default to 80 and 100 percent and the action to alert", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "All", period: "month", amount: "100" }))
        assert.deepStrictEqual(budget.thresholds.map(Money.format), ["80", "100"])
        assert.strictEqual(budget.action, "alert")
        assert.strictEqual(budget.currency, "USD")
        assert.deepStrictEqual(budget.scope, {})
      }))

    it.effect("a bad field is named: amount, thresholds, currency, unknown keys", () =>
      Effect.gen(function*() {
        assert.strictEqual(decodeError({ name: "x", period: "month", amount: "1e3" }).field, "amount")
        assert.strictEqual(decodeError({ name: "x", period: "year", amount: "1" }).field, "period")
        assert.strictEqual(decodeError({ name: "x", period: "day", amount: "1", scope: { projekt: "a" } }).field, "scope.projekt")
        assert.strictEqual(decodeError({ name: "x", period: "day", amount: "1", thresholds: [80, "x"] }).field, "thresholds[1]")
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const zero = yield* failureOf(budgets.create(tenantId, input({ name: "x", period: "day", amount: "0" })))
        assert.strictEqual(zero._tag === "InvalidBudget" && zero.field, "amount")
        const over = yield* failureOf(budgets.create(tenantId, input({ name: "x", period: "day", amount: "1", thresholds: [50, 1001] })))
        assert.strictEqual(over._tag === "InvalidBudget" && over.field, "thresholds[1]")
        const twice = yield* failureOf(budgets.create(tenantId, input({ name: "x", period: "day", amount: "1", thresholds: [80, "80.0"] })))
        assert.strictEqual(twice._tag === "InvalidBudget" && twice.field, "thresholds")
        const currency = yield* failureOf(budgets.create(tenantId, input({ name: "x", period: "day", amount: "1", currency: "EUR" })))
        assert.strictEqual(currency._tag === "InvalidBudget" && currency.field, "currency")
        assert.include(currency.message, "USD")
      }))

    it.effect("list, get and archive; an archived budget is no longer evaluated", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const a = yield* budgets.create(tenantId, input({ name: "A", period: "day", amount: "1" }))
        const b = yield* budgets.create(tenantId, input({ name: "B", period: "week", amount: "5", action: "block", scope: { team: "t" } }))
        assert.deepStrictEqual((yield* budgets.list(tenantId)).map((x) => x.name), ["A", "B"])
        assert.strictEqual((yield* budgets.get(tenantId, b.id)).action, "block")
        yield* budgets.archive(tenantId, a.id)
        assert.deepStrictEqual((yield* budgets.list(tenantId)).map((x) => x.name), ["B"])
        assert.deepStrictEqual((yield* budgets.list(tenantId, { includeArchived: true })).map((x) => x.name), ["A", "B"])
        const { evaluation } = yield* ingest(tenantId, [call("arch-1", "2025-05-01T10:00:00Z", "2")])
        assert.strictEqual(evaluation.crossings.length, 0)
        const missing = yield* failureOf(budgets.get(tenantId, "not-a-uuid"))
        assert.strictEqual(missing._tag, "BudgetNotFound")
        const other = yield* newTenant()
        const hidden = yield* failureOf(budgets.get(other, b.id))
        assert.strictEqual(hidden._tag, "BudgetNotFound")
      }))
  })
})

describe.each(targets)("budget evaluation on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("thresholds crossed inside one batch are each recorded once, with one outbox message each", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "Daily", period: "day", amount: "10", thresholds: [50, 80, 100] }))
        const first = yield* ingest(tenantId, [
          call("b1", "2025-05-01T09:00:00Z", "3"),
          call("b2", "2025-05-01T09:10:00Z", "5.5"),
          call("b3", "2025-05-01T09:20:00Z", "1.5")
        ])
        // 10 of 10 in one batch: 50, 80 and 100 at once.
        assert.deepStrictEqual(first.evaluation.crossings.map((c) => Money.format(c.threshold)), ["50", "80", "100"])
        // A replay of the batch inserts nothing and records nothing.
        const replay = yield* ingest(tenantId, [
          call("b1", "2025-05-01T09:00:00Z", "3"),
          call("b2", "2025-05-01T09:10:00Z", "5.5"),
          call("b3", "2025-05-01T09:20:00Z", "1.5")
        ])
        assert.strictEqual(replay.result.duplicates, 3)
        assert.strictEqual(replay.evaluation.crossings.length, 0)
        // More spend in the same period records nothing new either.
        const more = yield* ingest(tenantId, [call("b4", "2025-05-01T11:00:00Z", "4")])
        assert.strictEqual(more.evaluation.crossings.length, 0)
        const events = yield* eventRows(tenantId)
        assert.deepStrictEqual(events.map((e) => [e.budget_id, e.threshold, e.spent]), [
          [budget.id, "50", "10"],
          [budget.id, "80", "10"],
          [budget.id, "100", "10"]
        ])
        const messages = yield* outboxRows(tenantId)
        assert.strictEqual(messages.length, 3)
        const data = messages.find((m) => (m.payload as { threshold: string }).threshold === "80")!.payload as Record<string, unknown>
        assert.strictEqual(data["type"], "budget.threshold_crossed")
        assert.strictEqual(data["spent"], "10")
        assert.strictEqual(data["percent"], "100")
        assert.deepStrictEqual(data["period"], {
          period: "day",
          start: "2025-05-01T00:00:00.000Z",
          end: "2025-05-02T00:00:00.000Z",
          timeZone: "UTC",
          label: "2025-05-01"
        })
        assert.strictEqual(typeof data["eventId"], "string")
        // The next day is a new period.
        const next = yield* ingest(tenantId, [call("b5", "2025-05-02T00:00:00Z", "8")])
        assert.deepStrictEqual(next.evaluation.crossings.map((c) => Money.format(c.threshold)), ["50", "80"])
      }))

    it.effect("only budgets whose scope covers an inserted call are evaluated", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const search = yield* budgets.create(tenantId, input({ name: "search prod", period: "day", amount: "1", scope: { project: "search", environment: "prod" } }))
        const mini = yield* budgets.create(tenantId, input({ name: "mini", period: "day", amount: "1", scope: { model: "gpt-4o-mini" } }))
        const whole = yield* budgets.create(tenantId, input({ name: "tenant", period: "day", amount: "100" }))
        const r1 = yield* ingest(tenantId, [
          call("s1", "2025-05-01T10:00:00Z", "2", { labels: { project: "search", environment: "staging" } }),
          call("s2", "2025-05-01T10:00:00Z", "2", { labels: { project: "chat", environment: "prod" } })
        ])
        // search/prod saw none of it; mini neither; the tenant budget was read, not crossed.
        assert.strictEqual(r1.evaluation.evaluated, 1)
        assert.strictEqual(r1.evaluation.crossings.length, 0)
        const r2 = yield* ingest(tenantId, [
          call("s3", "2025-05-01T11:00:00Z", "1", { labels: { project: "search", environment: "prod", team: "x" } }),
          call("s4", "2025-05-01T11:00:00Z", "0.8", { model: "gpt-4o-mini" })
        ])
        assert.strictEqual(r2.evaluation.evaluated, 3)
        assert.deepStrictEqual(
          r2.evaluation.crossings.map((c) => `${c.budgetId}:${Money.format(c.threshold)}`).sort(),
          [`${search.id}:80`, `${search.id}:100`, `${mini.id}:80`].sort()
        )
        const status = yield* budgets.status(tenantId, { at: DateTime.makeUnsafe("2025-05-01T12:00:00Z") })
        const spent = Object.fromEntries(status.map((s) => [s.budget.name, Money.format(s.spent)]))
        assert.deepStrictEqual(spent, { "search prod": "1", mini: "0.8", tenant: "5.8" })
        assert.strictEqual(status.find((s) => s.budget.id === whole.id)!.calls, 4)
      }))

    it.effect("a Kolkata day cuts an hour in half: spend of each day comes from the ledger for that half", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant({ timeZone: "Asia/Kolkata" })
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "Daily", period: "day", amount: "10" }))
        // 18:00-19:00 UTC is one rollup hour, but local midnight is 18:30 UTC.
        const r = yield* ingest(tenantId, [
          call("k1", "2025-01-15T18:15:00Z", "9"), // 23:45 on the 15th local
          call("k2", "2025-01-15T18:29:59.999Z", "0.5"), // 23:59:59.999 on the 15th
          call("k3", "2025-01-15T18:30:00Z", "7"), // 00:00 on the 16th
          call("k4", "2025-01-15T18:45:00Z", "1.5")
        ])
        // 15th: 9.5 of 10 (80% only); 16th: 8.5 (80% only). A rollup-only read would give 18.
        assert.deepStrictEqual(
          r.evaluation.crossings.map((c) => [DateTime.formatIso(c.periodStart), Money.format(c.threshold)]),
          [["2025-01-14T18:30:00.000Z", "80"], ["2025-01-15T18:30:00.000Z", "80"]]
        )
        const status = yield* budgets.status(tenantId, { at: DateTime.makeUnsafe("2025-01-15T19:00:00Z") })
        assert.strictEqual(status[0]!.budget.id, budget.id)
        assert.strictEqual(status[0]!.window.label, "2025-01-16")
        assert.strictEqual(Money.format(status[0]!.spent), "8.5")
        const before = yield* budgets.status(tenantId, { at: DateTime.makeUnsafe("2025-01-15T18:29:00Z") })
        assert.strictEqual(Money.format(before[0]!.spent), "9.5")
      }))

    it.effect("a Berlin day on the autumn DST change runs 25 hours and counts all of them", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant({ timeZone: "Europe/Berlin" })
        const budgets = yield* Budgets
        yield* budgets.create(tenantId, input({ name: "Daily", period: "day", amount: "10", thresholds: [100] }))
        // 2025-10-26 local runs from 22:00 UTC on the 25th to 23:00 UTC on the 26th.
        const early = yield* ingest(tenantId, [call("d1", "2025-10-25T22:00:00Z", "4")])
        assert.strictEqual(early.evaluation.crossings.length, 0)
        const late = yield* ingest(tenantId, [call("d2", "2025-10-26T22:30:00Z", "6")]) // 23:30 local, the 25th hour
        assert.deepStrictEqual(late.evaluation.crossings.map((c) => DateTime.formatIso(c.periodStart)), ["2025-10-25T22:00:00.000Z"])
        // The spring day has 23 hours: 22:30 UTC on 2025-03-30 is already the 31st.
        yield* ingest(tenantId, [call("d3", "2025-03-29T23:00:00Z", "6")])
        const spring = yield* ingest(tenantId, [call("d4", "2025-03-30T22:30:00Z", "6")])
        assert.strictEqual(spring.evaluation.crossings.length, 0)
        const status = yield* budgets.status(tenantId, { at: DateTime.makeUnsafe("2025-03-30T21:59:59Z") })
        assert.strictEqual(Money.format(status[0]!.spent), "6")
        assert.strictEqual(hoursOf(status[0]!.window), 23)
      }))

    it.effect("a late call lands in its own (past) period and crosses there", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "Weekly", period: "week", amount: "10", thresholds: [100] }))
        yield* ingest(tenantId, [call("w1", "2025-04-28T10:00:00Z", "9")]) // Monday, week 18
        yield* ingest(tenantId, [call("w2", "2025-05-05T10:00:00Z", "9")]) // week 19
        const late = yield* ingest(tenantId, [call("w0", "2025-05-04T23:59:59Z", "1")]) // Sunday of week 18
        assert.deepStrictEqual(late.evaluation.crossings.map((c) => [c.budgetId, DateTime.formatIso(c.periodStart)]), [
          [budget.id, "2025-04-28T00:00:00.000Z"]
        ])
      }))

    it.effect("a sweep records a crossing whose evaluation never ran", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const ledger = yield* UsageLedger.UsageLedger
        yield* budgets.create(tenantId, input({ name: "Daily", period: "day", amount: "1" }))
        // Inserted, but the process "died" before evaluating.
        yield* ledger.insertBatch(tenantId, [call("sw1", "2025-06-01T08:00:00Z", "1.2")])
        const swept = yield* budgets.evaluate(tenantId, { at: DateTime.makeUnsafe("2025-06-01T09:00:00Z") })
        assert.deepStrictEqual(swept.crossings.map((c) => Money.format(c.threshold)), ["80", "100"])
        const again = yield* budgets.evaluate(tenantId, { at: DateTime.makeUnsafe("2025-06-01T10:00:00Z") })
        assert.strictEqual(again.crossings.length, 0)
        assert.strictEqual((yield* outboxRows(tenantId)).length, 2)
      }))

    it.effect("spend in another currency and unpriced calls are reported beside, not counted", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        yield* budgets.create(tenantId, input({ name: "Daily", period: "day", amount: "10" }))
        const eur = call("c1", "2025-06-02T08:00:00Z", "50", { currency: "EUR" })
        const unpriced = {
          ...call("c2", "2025-06-02T08:00:00Z", "0"),
          total: null,
          costSource: "unpriced" as const,
          unpricedReason: "model not in catalog",
          reportedCost: null,
          reportedCurrency: null
        }
        const r = yield* ingest(tenantId, [eur, unpriced, call("c3", "2025-06-02T08:30:00Z", "1")])
        assert.strictEqual(r.result.inserted, 3)
        assert.strictEqual(r.evaluation.crossings.length, 0)
        const [status] = yield* budgets.status(tenantId, { at: DateTime.makeUnsafe("2025-06-02T12:00:00Z") })
        const json = statusToJson(status!)
        assert.strictEqual(json.spent, "1")
        assert.strictEqual(json.calls, 1)
        assert.strictEqual(json.unpricedCalls, 1)
        assert.deepStrictEqual(json.otherCurrencies, [{ currency: "EUR", amount: "50" }])
      }))

    it.effect("status at TestClock time: spend to date, crossings, and a linear forecast from the trailing 7 days", () =>
      at("2025-06-10T12:00:00Z", Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "June", period: "month", amount: "100" }))
        // 1 per day for the 7 days before now (June 3 12:00 .. June 10 12:00), plus 10 earlier in June.
        const calls = [call("f0", "2025-06-01T12:00:00Z", "10")]
        for (let d = 0; d < 7; d++) calls.push(call(`f${d + 1}`, Date.parse("2025-06-03T13:00:00Z") + d * 86_400_000, "1"))
        yield* ingest(tenantId, calls)
        const [status] = yield* budgets.status(tenantId)
        assert.strictEqual(status!.budget.id, budget.id)
        const json = statusToJson(status!)
        assert.strictEqual(json.period.label, "2025-06")
        assert.strictEqual(json.spent, "17")
        assert.strictEqual(json.remaining, "83")
        assert.strictEqual(json.percent, "17")
        assert.deepStrictEqual(json.crossed, [])
        // 7 over 7 days = 1/day; 20.5 days left in June -> 17 + 20.5 = 37.5.
        assert.deepStrictEqual(json.forecast, {
          method: "linear-trailing-7d",
          trailingDays: 7,
          trailingSpend: "7",
          dailyRate: "1",
          projectedSpend: "37.5",
          projectedPercent: "37.5",
          exceeds: false
        })
      })))

    it.effect("suggestBudget: 115% of the trailing 30 complete local days, with the baseline shown", () =>
      at("2025-07-15T10:00:00Z", Effect.gen(function*() {
        const tenantId = yield* newTenant({ timeZone: "Europe/Berlin" })
        const budgets = yield* Budgets
        // 2 per local day from June 15 to July 14 (30 days), 3 more on the day of the suggestion
        // (not complete, not counted) and 100 on June 14 (outside the window).
        const calls = [call("g-out", "2025-06-14T12:00:00Z", "100"), call("g-today", "2025-07-15T09:00:00Z", "3")]
        for (let d = 0; d < 30; d++) calls.push(call(`g${d}`, Date.parse("2025-06-15T10:00:00Z") + d * 86_400_000, "2", { labels: { team: "a" } }))
        yield* ingest(tenantId, calls)
        const suggestion = suggestionToJson(yield* budgets.suggest(tenantId, { scope: { team: "a" }, period: "month" }))
        assert.deepStrictEqual(suggestion.lookback, {
          from: "2025-06-14T22:00:00.000Z",
          to: "2025-07-14T22:00:00.000Z",
          days: 30
        })
        // July has 31 days: 2 × 31 = 62; × 1.15 = 71.3.
        assert.deepStrictEqual(suggestion.baseline, { total: "60", perDay: "2", perPeriod: "62", periodDays: 31 })
        assert.deepStrictEqual(suggestion.suggested, { amount: "71.3", low: "68.2", high: "74.4", factor: "1.15" })
        assert.deepStrictEqual(suggestion.thresholds, ["80", "100"])
        assert.strictEqual(suggestion.daily.length, 30)
        const whole = suggestionToJson(yield* budgets.suggest(tenantId, { period: "day", lookbackDays: 60 }))
        // 60 + 100 over 60 days = 2.666...; × 1.15, rounded up to cents.
        assert.strictEqual(whole.baseline.total, "160")
        assert.strictEqual(whole.suggested!.amount, "3.07")
        const empty = suggestionToJson(yield* budgets.suggest(tenantId, { scope: { team: "nobody" }, period: "week" }))
        assert.isNull(empty.suggested)
        const bad = yield* failureOf(budgets.suggest(tenantId, { period: "week", lookbackDays: 90 }))
        assert.strictEqual(bad._tag === "InvalidBudget" && bad.field, "lookbackDays")
        assert.isTrue(decimal("1").eq(1))
      })))
  })
})

const hoursOf = (window: { readonly start: DateTime.Utc; readonly end: DateTime.Utc }) =>
  (DateTime.toEpochMillis(window.end) - DateTime.toEpochMillis(window.start)) / 3_600_000
