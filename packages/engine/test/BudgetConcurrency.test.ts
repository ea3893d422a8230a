/**
 * Exactly-once threshold crossings under concurrency: many workers ingest overlapping batches
 * (every batch is submitted by three workers, i.e. replays race the original), sweeps run in
 * between, and on PostgreSQL half the workers use a second connection pool of their own, as a
 * second process would. Every crossing the final spend implies is recorded once, has one outbox
 * message, and was reported as new by exactly one worker.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Budget, BudgetPeriod, Crossing, Money, type UsageRecord } from "@tally/core"
import { Database, Outbox, Store } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { Budgets } from "../src/Budgets.ts"
import { call, eventRows, ingest, layerOptions, newTenant, outboxRows, targets } from "./BudgetSupport.ts"

const budgetInput = (value: unknown) => Result.getOrThrow(Budget.decodeBudgetInput(value))

/** A second pool on the database the test layer created: another "process" for the same data. */
const secondPool = Effect.gen(function*() {
  const { backend, sql } = yield* Database.Database
  if (backend !== "postgres") return undefined
  const [row] = yield* sql<{ name: string }>`SELECT current_database() AS name`
  const url = new URL(process.env.TALLY_TEST_DATABASE_URL!)
  url.pathname = `/${row!.name}`
  const database = Database.layerPostgres({ url: Redacted.make(url.toString()), maxConnections: 4 })
  return yield* Layer.build(Budgets.layer.pipe(Layer.provideMerge(Store.layerWith(database))))
})

describe.each(targets)("exactly-once crossings on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("concurrent workers, replays and sweeps record each crossing once", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant({ timeZone: "Asia/Kolkata" })
        const budgets = yield* Budgets
        const created = [
          yield* budgets.create(tenantId, budgetInput({ name: "tenant daily", period: "day", amount: "40", thresholds: [25, 50, 75, 100, 150] })),
          yield* budgets.create(tenantId, budgetInput({ name: "p daily", period: "day", amount: "15", thresholds: [50, 80, 100], scope: { project: "p" } })),
          yield* budgets.create(tenantId, budgetInput({ name: "tenant weekly", period: "week", amount: "100", thresholds: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100] })),
          yield* budgets.create(tenantId, budgetInput({ name: "q mini monthly", period: "month", amount: "3", scope: { project: "q", model: "gpt-4o-mini" } }))
        ]
        // 360 calls over two Kolkata days (and so three UTC dates), 0.25 each.
        const calls: Array<UsageRecord.UsageRecord> = []
        const start = Date.parse("2025-02-10T17:00:00Z")
        for (let i = 0; i < 360; i++) {
          calls.push(call(`cc-${i}`, start + i * 8 * 60_000, "0.25", {
            labels: { project: i % 3 === 0 ? "p" : "q" },
            model: i % 5 === 0 ? "gpt-4o-mini" : "gpt-4o"
          }))
        }
        const batches: Array<ReadonlyArray<UsageRecord.UsageRecord>> = []
        for (let i = 0; i < calls.length; i += 15) batches.push(calls.slice(i, i + 15))

        const other = yield* secondPool
        const viaOther = <A, E>(effect: Effect.Effect<A, E, Budgets | Store.Services | Database.Database>) =>
          other === undefined ? effect : Effect.provide(effect, other)
        // Each batch three times: original, a redelivery, and a replay through the other pool.
        const jobs = batches.flatMap((batch, b) => [
          ingest(tenantId, batch),
          ingest(tenantId, [...batch].reverse()),
          viaOther(ingest(tenantId, batch)),
          ...(b % 6 === 0
            ? [Effect.map(budgets.evaluate(tenantId, { at: batch[0]!.occurredAt }), (evaluation) => ({ evaluation }))]
            : [])
        ])
        const results = yield* Effect.forEach(jobs, (job) => job, { concurrency: 24 })

        const reported = results.flatMap((r) => r.evaluation.crossings)
        for (const r of results) assert.isUndefined(r.evaluation.error)
        const events = yield* eventRows(tenantId)
        const messages = yield* outboxRows(tenantId)

        // What the final spend implies, period by period.
        const expected: Array<string> = []
        for (const budget of created) {
          const windows = new Map<string, BudgetPeriod.PeriodWindow>()
          for (const c of calls) {
            if (!Budget.covers(budget.scope, { ...c.labels, model: c.model })) continue
            const w = BudgetPeriod.ofBudget(budget, c.occurredAt, "Asia/Kolkata")
            windows.set(w.label, w)
          }
          for (const w of windows.values()) {
            const spent = Money.sum(
              calls.filter((c) => Budget.covers(budget.scope, { ...c.labels, model: c.model }) && BudgetPeriod.contains(w, c.occurredAt))
                .map((c) => c.total!)
            )
            for (const t of budget.thresholds) {
              if (Crossing.reached(spent, budget.amount, t)) expected.push(`${budget.id}|${DateTime.toEpochMillis(w.start)}|${Money.format(t)}`)
            }
          }
        }
        const recorded = events.map((e) => `${e.budget_id}|${e.period_start.getTime()}|${Money.format(new Money.Decimal(e.threshold))}`)
        assert.deepStrictEqual([...recorded].sort(), [...expected].sort())
        assert.isAbove(expected.length, 20)
        // One message per event, and exactly one worker reported each crossing as its own.
        assert.strictEqual(messages.length, events.length)
        assert.strictEqual(reported.length, events.length)
        assert.strictEqual(new Set(reported.map((c) => c.eventId)).size, events.length)
        assert.strictEqual(new Set(messages.map((m) => (m.payload as { eventId: string }).eventId)).size, events.length)
        const outbox = yield* Outbox.Outbox
        assert.strictEqual((yield* outbox.list(tenantId, { limit: 1000 })).length, events.length)
      }), { timeout: 120_000 })
  })
})
