/**
 * Changing a budget: what may change and what may not, the audit of who changed what, and the
 * evaluation that follows a change, on PGlite and PostgreSQL. The clock is a TestClock inside each
 * test, so "the current period" is a fixed day.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Budget, Money } from "@tally/core"
import { Database } from "@tally/store"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import { TestClock } from "effect/testing"
import { Budgets, statusToJson } from "../src/Budgets.ts"
import { call, decimal, eventRows, ingest, layerOptions, newTenant, outboxRows, targets } from "./BudgetSupport.ts"

const input = (value: unknown) => Result.getOrThrow(Budget.decodeBudgetInput(value))
const patch = (value: unknown) => Result.getOrThrow(Budget.decodeBudgetPatch(value))

const failureOf = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

/** Runs `effect` with the TestClock at `iso`. */
const at = <A, E, R>(iso: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(Date.parse(iso))
    return yield* effect
  }).pipe(Effect.provide(TestClock.layer()))

/** Audit rows of a tenant, read as the owner. */
const auditRows = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ budget_id: string; action: string; actor: string }>`SELECT budget_id, action, actor
      FROM tally.budget_changes WHERE tenant_id = ${tenantId} ORDER BY id`
  })

describe("budget patch input", () => {
  const decodeError = (value: unknown) => {
    const decoded = Budget.decodeBudgetPatch(value)
    if (Result.isSuccess(decoded)) throw new Error("expected an error")
    return decoded.failure
  }

  it("a patch from JSON names a bad field; fixed fields decode and are judged by update", () => {
    assert.strictEqual(decodeError({ amount: "1e3" }).field, "amount")
    assert.strictEqual(decodeError({ amount: 5 }).field, "amount")
    assert.strictEqual(decodeError({ action: "deny" }).field, "action")
    assert.strictEqual(decodeError({ thresholds: [50, "x"] }).field, "thresholds[1]")
    assert.strictEqual(decodeError({ colour: "red" }).field, "colour")
    assert.strictEqual(decodeError({ period: "year" }).field, "period")
    const decoded = patch({ amount: "12.50", thresholds: [50, "75.5"], period: "day", scope: { team: "a" } })
    assert.strictEqual(Money.format(decoded.amount!), "12.5")
    assert.deepStrictEqual(decoded.thresholds!.map(Money.format), ["50", "75.5"])
    assert.strictEqual(decoded.period, "day")
    assert.deepStrictEqual(decoded.scope, { team: "a" })
  })
})

describe.each(targets)("budget updates on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("an update changes name, amount, thresholds and action; status reads the new terms; the audit says who changed what", () =>
      at("2025-05-01T12:00:00Z", Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "Daily", period: "day", amount: "10", scope: { team: "a" } }))
        // 5 of 10: no threshold of [80, 100] reached.
        const first = yield* ingest(tenantId, [call("u1", "2025-05-01T10:00:00Z", "5", { labels: { team: "a" } })])
        assert.strictEqual(first.evaluation.crossings.length, 0)

        const updated = yield* budgets.update(
          tenantId,
          budget.id,
          { name: "  Team A daily ", amount: decimal("20"), thresholds: [decimal("50"), decimal("20")], action: "block" },
          { actor: "key-admin-1" }
        )
        assert.strictEqual(updated.id, budget.id)
        assert.strictEqual(updated.name, "Team A daily")
        assert.strictEqual(Money.format(updated.amount), "20")
        assert.deepStrictEqual(updated.thresholds.map(Money.format), ["20", "50"])
        assert.strictEqual(updated.action, "block")
        // Fixed fields are as they were.
        assert.strictEqual(updated.period, "day")
        assert.deepStrictEqual(updated.scope, { team: "a" })
        assert.strictEqual(updated.currency, "USD")

        const [status] = yield* budgets.status(tenantId)
        const json = statusToJson(status!)
        assert.strictEqual(json.budget.amount, "20")
        assert.strictEqual(json.percent, "25")
        assert.strictEqual(json.remaining, "15")
        // 25% of the new amount reached the new 20% threshold: recorded right after the update.
        assert.deepStrictEqual(json.crossed.map((c) => [c.threshold, c.spent]), [["20", "5"]])

        const changes = yield* budgets.changes(tenantId, { budgetIds: [budget.id] })
        assert.strictEqual(changes.length, 1)
        assert.strictEqual(changes[0]!.action, "updated")
        assert.strictEqual(changes[0]!.actor, "key-admin-1")
        assert.strictEqual(changes[0]!.at.epochMilliseconds, Date.parse("2025-05-01T12:00:00Z"))
        assert.deepStrictEqual(changes[0]!.fields, [
          { field: "name", from: "Daily", to: "Team A daily" },
          { field: "amount", from: "10", to: "20" },
          { field: "thresholds", from: ["80", "100"], to: ["20", "50"] },
          { field: "action", from: "alert", to: "block" }
        ])

        // Repeating the stored values (and the fixed fields) changes nothing and records nothing.
        const same = yield* budgets.update(tenantId, budget.id, patch({ name: "Team A daily", amount: "20.00", period: "day", scope: { team: "a" }, currency: "USD" }))
        assert.strictEqual(Money.format(same.amount), "20")
        assert.strictEqual((yield* budgets.changes(tenantId)).length, 1)
        // No actor given: the change is the system's.
        yield* budgets.update(tenantId, budget.id, { action: "alert" })
        const all = yield* budgets.changes(tenantId)
        assert.deepStrictEqual(all.map((c) => [c.actor, c.fields.map((f) => f.field)]), [
          ["key-admin-1", ["name", "amount", "thresholds", "action"]],
          ["system", ["action"]]
        ])
      })))

    it.effect("lowering the amount below spend records the 100% crossing at once and exactly once, with its outbox message", () =>
      at("2025-05-02T15:00:00Z", Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "Daily", period: "day", amount: "10", thresholds: [50, 100] }))
        yield* ingest(tenantId, [call("l1", "2025-05-02T09:00:00Z", "6")])
        assert.deepStrictEqual((yield* eventRows(tenantId)).map((e) => [e.threshold, e.spent]), [["50", "6"]])

        yield* budgets.update(tenantId, budget.id, { amount: decimal("5") })
        const events = yield* eventRows(tenantId)
        // The 50% crossing recorded under the old amount stays; 100% of 5 is crossed by the 6 spent.
        assert.deepStrictEqual(events.map((e) => [e.threshold, e.spent]), [["50", "6"], ["100", "6"]])
        const messages = yield* outboxRows(tenantId)
        assert.strictEqual(messages.length, 2)
        const hundred = messages.find((m) => (m.payload as { threshold: string }).threshold === "100")!
        assert.strictEqual(hundred.kind, "budget.threshold_crossed")
        assert.strictEqual(hundred.status, "pending")
        assert.strictEqual(hundred.dedupe_key, `${budget.id}:2025-05-02T00:00:00.000Z:100`)
        assert.include(hundred.payload, { amount: "5", spent: "6", percent: "120", currency: "USD" })
        assert.strictEqual((hundred.payload["budget"] as { amount: string }).amount, "5")

        // Later changes, sweeps and more spend in the period announce nothing twice.
        yield* budgets.update(tenantId, budget.id, { amount: decimal("4"), name: "Lower" })
        const swept = yield* budgets.evaluate(tenantId)
        assert.strictEqual(swept.crossings.length, 0)
        const more = yield* ingest(tenantId, [call("l2", "2025-05-02T14:00:00Z", "1")])
        assert.strictEqual(more.evaluation.crossings.length, 0)
        assert.strictEqual((yield* eventRows(tenantId)).length, 2)
        assert.strictEqual((yield* outboxRows(tenantId)).length, 2)

        // Raising the amount again leaves the period's crossings as recorded: each threshold is
        // announced at most once per period, whatever the amount became.
        yield* budgets.update(tenantId, budget.id, { amount: decimal("100") })
        const [status] = yield* budgets.status(tenantId)
        assert.strictEqual(Money.format(status!.percent), "7")
        assert.deepStrictEqual(status!.crossed.map((c) => Money.format(c.threshold)), ["50", "100"])
        // The next day is a new period under the new amount.
        const next = yield* ingest(tenantId, [call("l3", "2025-05-03T01:00:00Z", "60")])
        assert.deepStrictEqual(next.evaluation.crossings.map((c) => Money.format(c.threshold)), ["50"])
      })))

    it.effect("an archived budget cannot be updated: a typed error, nothing changes", () =>
      at("2025-05-03T08:00:00Z", Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "Old", period: "month", amount: "10" }))
        yield* budgets.archive(tenantId, budget.id, { actor: "key-admin-2" })
        const error = yield* failureOf(budgets.update(tenantId, budget.id, { amount: decimal("1") }))
        assert.strictEqual(error._tag, "BudgetArchived")
        assert.strictEqual(error._tag === "BudgetArchived" && error.budgetId, budget.id)
        assert.include(error.message, "create a new budget instead")
        const stored = yield* budgets.get(tenantId, budget.id)
        assert.strictEqual(Money.format(stored.amount), "10")
        // Archiving is in the audit; archiving again records nothing more.
        yield* budgets.archive(tenantId, budget.id, { actor: "key-admin-3" })
        const changes = yield* budgets.changes(tenantId)
        assert.strictEqual(changes.length, 1)
        assert.strictEqual(changes[0]!.action, "archived")
        assert.strictEqual(changes[0]!.actor, "key-admin-2")
        assert.deepStrictEqual(changes[0]!.fields, [{ field: "archivedAt", from: null, to: "2025-05-03T08:00:00.000Z" }])
        assert.strictEqual((yield* eventRows(tenantId)).length, 0)
      })))

    it.effect("period, scope and currency cannot change: the error names the field and says to create a new budget", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "Team", period: "day", amount: "10", scope: { team: "a" } }))
        const cases = [
          [{ period: "week" }, "period"],
          [{ amount: "20", scope: { team: "b" } }, "scope"],
          [{ scope: {} }, "scope"],
          [{ currency: "EUR" }, "currency"]
        ] as const
        for (const [value, field] of cases) {
          const error = yield* failureOf(budgets.update(tenantId, budget.id, patch(value)))
          assert.strictEqual(error._tag === "InvalidBudget" && error.field, field, JSON.stringify(value))
          assert.match(error.message, new RegExp(`^${field}: a budget's ${field} cannot be changed .*; create a new budget instead$`))
        }
        // The amount given beside the refused scope did not change either.
        assert.strictEqual(Money.format((yield* budgets.get(tenantId, budget.id)).amount), "10")
        assert.strictEqual((yield* budgets.changes(tenantId)).length, 0)
      }))

    it.effect("bad values are named like create's, and an empty patch is an error", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "Team", period: "day", amount: "10" }))
        const cases = [
          [{ amount: "0" }, "amount", "amount: expected a positive decimal, got 0"],
          [{ amount: "-5" }, "amount", "amount: expected a positive decimal, got -5"],
          [{ name: "  " }, "name", "name: expected a name of 1 to 200 characters"],
          [{ thresholds: [] }, "thresholds", "thresholds: expected 1 to 10 thresholds"],
          [{ thresholds: [50, 1001] }, "thresholds[1]", "thresholds[1]: expected a percentage greater than 0 and at most 1000, got 1001"],
          [{ thresholds: [80, "80.0"] }, "thresholds", "thresholds: threshold 80 is given twice"],
          [{}, "(input)", "(input): expected at least one of name, amount, thresholds, action to change (period, scope, currency cannot change)"],
          // Only fixed fields, with their stored values: nothing to change either.
          [{ period: "day" }, "(input)", "(input): expected at least one of name, amount, thresholds, action to change (period, scope, currency cannot change)"]
        ] as const
        for (const [value, field, message] of cases) {
          const error = yield* failureOf(budgets.update(tenantId, budget.id, patch(value)))
          assert.deepStrictEqual(error._tag === "InvalidBudget" && [error.field, error.message], [field, message])
        }
        assert.strictEqual((yield* budgets.changes(tenantId)).length, 0)
      }))

    it.effect("tenant B cannot update tenant A's budget: not found, and nothing changes", () =>
      Effect.gen(function*() {
        const a = yield* newTenant()
        const b = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(a, input({ name: "A's", period: "day", amount: "10" }))
        const error = yield* failureOf(budgets.update(b, budget.id, { amount: decimal("1") }, { actor: "intruder" }))
        assert.strictEqual(error._tag, "BudgetNotFound")
        assert.strictEqual(error._tag === "BudgetNotFound" && error.budgetId, budget.id)
        const archived = yield* failureOf(budgets.archive(b, budget.id))
        assert.strictEqual(archived._tag, "BudgetNotFound")
        assert.strictEqual((yield* failureOf(budgets.update(a, "not-a-uuid", { amount: decimal("1") })))._tag, "BudgetNotFound")
        const stored = yield* budgets.get(a, budget.id)
        assert.strictEqual(Money.format(stored.amount), "10")
        assert.isNull(stored.archivedAt)
        assert.deepStrictEqual(yield* auditRows(a), [])
        assert.deepStrictEqual(yield* auditRows(b), [])
        // B's view of the audit holds nothing of A's, even asked by id.
        yield* budgets.update(a, budget.id, { amount: decimal("11") })
        assert.deepStrictEqual(yield* budgets.changes(b, { budgetIds: [budget.id] }), [])
        assert.strictEqual((yield* budgets.changes(a, { budgetIds: [budget.id] })).length, 1)
      }))

    it.effect("the audit is append-only, for the application and for the owner", () =>
      Effect.gen(function*() {
        const db = yield* Database.Database
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const budget = yield* budgets.create(tenantId, input({ name: "Kept", period: "day", amount: "10" }))
        yield* budgets.update(tenantId, budget.id, { amount: decimal("12") }, { actor: "key-1" })
        const attempts = [
          db.withTenant(tenantId, db.sql`UPDATE tally.budget_changes SET actor = 'someone else'`),
          db.withTenant(tenantId, db.sql`DELETE FROM tally.budget_changes`),
          db.sql`UPDATE tally.budget_changes SET actor = 'someone else' WHERE tenant_id = ${tenantId}`,
          db.sql`DELETE FROM tally.budget_changes WHERE tenant_id = ${tenantId}`
        ]
        for (const attempt of attempts) assert.isTrue(Exit.isFailure(yield* Effect.exit(attempt)))
        assert.deepStrictEqual(yield* auditRows(tenantId), [{ budget_id: budget.id, action: "updated", actor: "key-1" }])
      }))
  })
})
