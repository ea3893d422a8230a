import { assert, describe, layer } from "@effect/vitest"
import { Budget, Money } from "@tally/core"
import { UsageLedger } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { TestClock } from "effect/testing"
import { Budgets } from "../src/Budgets.ts"
import { decisionToJson, decodeReserve, decodeSettle, Enforcement, reservationToJson } from "../src/Enforcement.ts"
import { call, decimal, ingest, layerOptions, newTenant, targets } from "./BudgetSupport.ts"

const budgetInput = (value: unknown) => Result.getOrThrow(Budget.decodeBudgetInput(value))

/** Runs `effect` with the TestClock set to `iso`. */
const at = <A, E, R>(iso: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(Date.parse(iso))
    return yield* effect
  }).pipe(Effect.provide(TestClock.layer()))

const NOW = "2025-05-20T12:00:00Z"

describe.each(targets)("enforcement on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("check answers allow or deny with what remains of every covering budget", () =>
      at(NOW, Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const enforcement = yield* Enforcement
        const none = yield* enforcement.check(tenantId, { labels: { project: "p" }, estimatedCost: decimal("5") })
        assert.isTrue(none.allowed)
        assert.isNull(none.remaining)
        const block = yield* budgets.create(tenantId, budgetInput({ name: "p daily", period: "day", amount: "10", action: "block", scope: { project: "p" } }))
        const alert = yield* budgets.create(tenantId, budgetInput({ name: "tenant daily", period: "day", amount: "5" }))
        yield* ingest(tenantId, [call("e1", "2025-05-20T08:00:00Z", "7", { labels: { project: "p" } })])
        const ok = decisionToJson(yield* enforcement.check(tenantId, { labels: { project: "p" }, estimatedCost: decimal("2") }))
        assert.strictEqual(ok.decision, "allow")
        assert.strictEqual(ok.remaining, "3")
        assert.deepStrictEqual(
          Object.fromEntries(ok.budgets.map((b) => [b.name, [b.action, b.spent, b.remaining, b.remainingAfter, b.allowed]])),
          { [block.name]: ["block", "7", "3", "1", true], [alert.name]: ["alert", "7", "-2", "-4", true] }
        )
        const denied = yield* enforcement.check(tenantId, { labels: { project: "p" }, estimatedCost: decimal("3.01") })
        assert.isFalse(denied.allowed)
        assert.deepStrictEqual(denied.deniedBy, [block.id])
        // Another project is covered only by the alert budget: over it, still allowed.
        const other = yield* enforcement.check(tenantId, { labels: { project: "q" }, estimatedCost: decimal("100") })
        assert.isTrue(other.allowed)
        assert.deepStrictEqual(other.budgets.map((b) => b.budget.id), [alert.id])
        assert.strictEqual(Money.format(other.remaining!), "-2")
      })))

    it.effect("a reservation holds its estimate until released, settled and landed, or expired", () =>
      at(NOW, Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const enforcement = yield* Enforcement
        yield* budgets.create(tenantId, budgetInput({ name: "daily", period: "day", amount: "10", action: "block" }))
        const remaining = (estimate = "0") =>
          Effect.map(enforcement.check(tenantId, { estimatedCost: decimal(estimate) }), (d) => Money.format(d.remaining!))

        const a = yield* enforcement.reserve(tenantId, { estimatedCost: decimal("4"), requestId: "call-a" })
        assert.isTrue(a.allowed)
        assert.strictEqual(yield* remaining(), "6")
        const b = yield* enforcement.reserve(tenantId, { estimatedCost: decimal("5"), ttlSeconds: 60 })
        assert.strictEqual(yield* remaining(), "1")
        const refused = yield* enforcement.reserve(tenantId, { estimatedCost: decimal("1.5") })
        assert.isFalse(refused.allowed)
        assert.isUndefined(refused.reservation)

        // Released: frees its 5.
        const released = yield* enforcement.release(tenantId, b.reservation!.id)
        assert.strictEqual(released.status, "released")
        assert.strictEqual(yield* remaining(), "6")
        assert.strictEqual((yield* enforcement.release(tenantId, b.reservation!.id)).status, "released")

        // Settled at 4.5: holds the actual until the call's usage lands, then the ledger counts it.
        const settled = yield* enforcement.settle(tenantId, a.reservation!.id, { actualCost: decimal("4.5") })
        assert.deepStrictEqual(
          [reservationToJson(settled).status, reservationToJson(settled).actual, reservationToJson(settled).requestId],
          ["settled", "4.5", "call-a"]
        )
        assert.strictEqual(yield* remaining(), "5.5")
        yield* ingest(tenantId, [call("call-a", "2025-05-20T11:59:00Z", "4.5")])
        assert.strictEqual(yield* remaining(), "5.5") // counted once: by the ledger now
        const status = yield* budgets.status(tenantId)
        assert.strictEqual(Money.format(status[0]!.spent), "4.5")
        assert.strictEqual(Money.format(status[0]!.reserved), "0")

        // Expiry: a 60 s hold counts at 59 s and not after 60 s.
        yield* enforcement.reserve(tenantId, { estimatedCost: decimal("2"), ttlSeconds: 60 })
        yield* TestClock.adjust("59 seconds")
        assert.strictEqual(yield* remaining(), "3.5")
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* remaining(), "5.5")

        // A settled call whose usage never lands stops counting after the grace period (15 min).
        const c = yield* enforcement.reserve(tenantId, { estimatedCost: decimal("1") })
        yield* enforcement.settle(tenantId, c.reservation!.id, { actualCost: decimal("1"), requestId: "never-ingested" })
        yield* TestClock.adjust("14 minutes")
        assert.strictEqual(yield* remaining(), "4.5")
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* remaining(), "5.5")
      })))

    it.effect("settle and release refuse what cannot happen, and repeat what already happened", () =>
      at(NOW, Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const enforcement = yield* Enforcement
        const r = (yield* enforcement.reserve(tenantId, { estimatedCost: decimal("1") })).reservation!.id
        yield* enforcement.settle(tenantId, r, { actualCost: decimal("0.8") })
        const again = yield* enforcement.settle(tenantId, r, { actualCost: decimal("0.80") })
        assert.strictEqual(again.status, "settled")
        const differ = yield* Effect.flip(enforcement.settle(tenantId, r, { actualCost: decimal("0.9") }))
        assert.strictEqual(differ._tag, "ReservationClosed")
        const release = yield* Effect.flip(enforcement.release(tenantId, r))
        assert.strictEqual(release._tag, "ReservationClosed")
        const r2 = (yield* enforcement.reserve(tenantId, { estimatedCost: decimal("1") })).reservation!.id
        yield* enforcement.release(tenantId, r2)
        const settleReleased = yield* Effect.flip(enforcement.settle(tenantId, r2, { actualCost: decimal("1") }))
        assert.strictEqual(settleReleased._tag, "ReservationClosed")
        const missing = yield* Effect.flip(enforcement.release(tenantId, "00000000-0000-4000-8000-000000000000"))
        assert.strictEqual(missing._tag, "ReservationNotFound")
        const garbage = yield* Effect.flip(enforcement.settle(tenantId, "nope", { actualCost: decimal("1") }))
        assert.strictEqual(garbage._tag, "ReservationNotFound")
        // Another tenant cannot see, settle or release it.
        const other = yield* newTenant()
        const foreign = yield* Effect.flip(enforcement.release(other, r))
        assert.strictEqual(foreign._tag, "ReservationNotFound")
        const currency = yield* Effect.flip(enforcement.check(tenantId, { estimatedCost: decimal("1"), currency: "EUR" }))
        assert.strictEqual(currency._tag === "InvalidEnforcementRequest" && currency.field, "currency")
        const ttl = yield* Effect.flip(enforcement.reserve(tenantId, { estimatedCost: decimal("1"), ttlSeconds: 0 }))
        assert.strictEqual(ttl._tag === "InvalidEnforcementRequest" && ttl.field, "ttlSeconds")
        const body = decodeReserve({ estimatedCost: 1 })
        assert.isTrue(Result.isFailure(body) && body.failure.field === "estimatedCost")
        const extra = decodeReserve({ estimatedCost: "1", labels: { projekt: "x" } })
        assert.isTrue(Result.isFailure(extra) && extra.failure.field === "labels.projekt")
        const negative = decodeSettle({ reservationId: r, actualCost: "-1" })
        assert.isTrue(Result.isFailure(negative) && negative.failure.field === "actualCost")
        // Purge deletes what stopped counting.
        yield* TestClock.adjust("1 hour")
        const purged = yield* enforcement.purge(tenantId, yield* DateTime.now)
        assert.strictEqual(purged, 2)
      })))

    it.effect("many parallel reservations never admit more than a block budget holds", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const enforcement = yield* Enforcement
        const tenantBudget = yield* budgets.create(tenantId, budgetInput({ name: "tenant", period: "day", amount: "10", action: "block" }))
        const pBudget = yield* budgets.create(tenantId, budgetInput({ name: "p", period: "day", amount: "5", action: "block", scope: { project: "p" } }))
        yield* budgets.create(tenantId, budgetInput({ name: "watch", period: "day", amount: "1", scope: { project: "q" } }))
        // 120 gateways ask at once for 0.5 each, half for project p, half for q.
        const asks = Array.from({ length: 120 }, (_, i) => ({ project: i % 2 === 0 ? "p" : "q", i }))
        const decisions = yield* Effect.forEach(
          asks,
          ({ i, project }) =>
            Effect.map(
              enforcement.reserve(tenantId, { labels: { project }, estimatedCost: decimal("0.5"), requestId: `par-${i}` }),
              (d) => ({ project, i, d })
            ),
          { concurrency: "unbounded" }
        )
        const admitted = decisions.filter((x) => x.d.allowed)
        const admittedP = admitted.filter((x) => x.project === "p")
        // Exactly what fits: 20 × 0.5 = 10 in all, at most 10 × 0.5 = 5 of them for p.
        assert.strictEqual(admitted.length, 20)
        assert.isAtMost(admittedP.length, 10)
        for (const x of decisions.filter((x) => !x.d.allowed)) {
          assert.isTrue(x.d.deniedBy.includes(tenantBudget.id) || x.d.deniedBy.includes(pBudget.id))
        }
        // Every admitted call runs and costs up to 2% more than estimated; all of it lands.
        const actual = (i: number) => decimal("0.5").times(i % 3 === 0 ? "1.02" : "1")
        yield* Effect.forEach(admitted, (x) =>
          enforcement.settle(tenantId, x.d.reservation!.id, { actualCost: actual(x.i) }), { concurrency: 10 })
        const now = DateTime.toEpochMillis(yield* DateTime.now)
        yield* ingest(tenantId, admitted.map((x) => call(`par-${x.i}`, now, Money.format(actual(x.i)), { labels: { project: x.project } })))
        const status = yield* budgets.status(tenantId)
        const spent = status.find((s) => s.budget.id === tenantBudget.id)!.spent
        const errors = Money.sum(admitted.map((x) => actual(x.i).minus("0.5")))
        // Admitted spend exceeds the budget by no more than the estimates' errors.
        assert.isTrue(spent.lte(decimal("10").plus(errors)), `${spent} <= 10 + ${errors}`)
        assert.isTrue(spent.gte(decimal("10")))
        // Now full: nothing more is admitted.
        assert.isFalse((yield* enforcement.reserve(tenantId, { labels: { project: "q" }, estimatedCost: decimal("0.01") })).allowed)
      }))

    it.effect("calls one after another overshoot a block budget by at most one estimate's error", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const enforcement = yield* Enforcement
        const ledger = yield* UsageLedger.UsageLedger
        yield* budgets.create(tenantId, budgetInput({ name: "daily", period: "day", amount: "10", action: "block" }))
        const estimate = decimal("0.7")
        const actualCost = estimate.times("1.1") // each call costs 10% more than estimated
        const now = DateTime.toEpochMillis(yield* DateTime.now)
        let admitted = 0
        for (let i = 0; i < 100; i++) {
          const d = yield* enforcement.reserve(tenantId, { estimatedCost: estimate, requestId: `seq-${i}` })
          if (!d.allowed) break
          admitted++
          yield* ledger.insertBatch(tenantId, [call(`seq-${i}`, now, Money.format(actualCost))])
          yield* enforcement.settle(tenantId, d.reservation!.id, { actualCost })
        }
        const [status] = yield* budgets.status(tenantId)
        // The 13th is admitted at 12 × 0.77 + 0.7 = 9.94 and the 14th refused at 10.01 + 0.7; spend
        // ends at 10.01, over by less than one call's error of 0.07.
        assert.strictEqual(admitted, 13)
        assert.strictEqual(Money.format(status!.spent), "10.01")
        assert.isTrue(status!.spent.lte(decimal("10").plus(actualCost.minus(estimate))))
      }))
  })
})
