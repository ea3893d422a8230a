import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import * as Budget from "../src/Budget.ts"
import * as Money from "../src/Money.ts"

const decimal = (value: string) => new Money.Decimal(value)
const at = DateTime.makeUnsafe("2025-05-01T10:00:00.000Z")

const input = (value: unknown): Budget.CreateBudget => Result.getOrThrow(Budget.decodeBudgetInput(value))
const patch = (value: unknown): Budget.UpdateBudget => Result.getOrThrow(Budget.decodeBudgetPatch(value))

const stored: Budget.Budget = {
  id: "0b5ae3f8-33a4-4e2e-9a55-0b0f8c3f8a11",
  tenantId: "acme",
  name: "Team",
  windowSeconds: null,
  unit: "cost",
  tokenKind: null,
  scope: { team: "a" },
  period: "day",
  amount: decimal("10"),
  currency: "USD",
  thresholds: [decimal("80"), decimal("100")],
  action: "alert",
  createdAt: DateTime.makeUnsafe("2025-04-01T00:00:00.000Z"),
  archivedAt: null
}

const checked = (value: unknown): Budget.CheckedPatch => {
  const result = Budget.checkPatch(patch(value))
  if (result instanceof Budget.InvalidBudget) throw result
  return result
}

describe("Budget", () => {
  it("a new budget is trimmed, scoped without empty dimensions, in the tenant's currency, with defaults", () => {
    const budget = Budget.checkCreate(input({ name: "  All  ", period: "month", amount: "100", scope: { team: "a", project: "web" } }), "EUR")
    assert.deepStrictEqual(
      budget instanceof Budget.InvalidBudget ? budget : { ...budget, amount: Money.format(budget.amount), thresholds: budget.thresholds.map(Money.format) },
      {
        name: "All",
        scope: { project: "web", team: "a" },
        period: "month",
        windowSeconds: null,
        unit: "cost",
        tokenKind: null,
        amount: "100",
        currency: "EUR",
        thresholds: ["80", "100"],
        action: "alert"
      }
    )
    const sorted = Budget.checkCreate(input({ name: "x", period: "day", amount: "1", thresholds: [100, "50.5"], action: "block" }), "USD")
    assert.deepStrictEqual(sorted instanceof Budget.InvalidBudget ? sorted : sorted.thresholds.map(Money.format), ["50.5", "100"])
  })

  it("what a schema cannot check is refused naming the field", () => {
    const field = (value: unknown, currency = "USD") => {
      const result = Budget.checkCreate(input(value), currency)
      return result instanceof Budget.InvalidBudget ? [result.field, result.message] : undefined
    }
    assert.deepStrictEqual(field({ name: " ", period: "day", amount: "1" }), ["name", "name: expected a name of 1 to 200 characters"])
    assert.deepStrictEqual(field({ name: "x", period: "day", amount: "0" }), ["amount", "amount: expected a positive decimal, got 0"])
    assert.deepStrictEqual(field({ name: "x", period: "day", amount: "1", currency: "EUR" }), [
      "currency",
      "currency: budgets are kept in the tenant's currency USD, got EUR"
    ])
    assert.deepStrictEqual(field({ name: "x", period: "day", amount: "1", thresholds: [50, 1001] }), [
      "thresholds[1]",
      "thresholds[1]: expected a percentage greater than 0 and at most 1000, got 1001"
    ])
    assert.deepStrictEqual(field({ name: "x", period: "day", amount: "1", thresholds: [80, "80.0"] }), ["thresholds", "thresholds: threshold 80 is given twice"])
    assert.deepStrictEqual(field({ name: "x", period: "day", amount: "1", thresholds: [] }), ["thresholds", "thresholds: expected 1 to 10 thresholds"])
  })

  it("JSON that does not decode names the field", () => {
    const failure = (value: unknown) => {
      const result = Budget.decodeBudgetInput(value)
      return Result.isFailure(result) ? result.failure.field : undefined
    }
    assert.strictEqual(failure({ name: "x", period: "year", amount: "1" }), "period")
    assert.strictEqual(failure({ name: "x", period: "day", amount: 1 }), "amount")
    assert.strictEqual(failure({ name: "x", period: "day", amount: "1", scope: { projekt: "a" } }), "scope.projekt")
    assert.strictEqual(failure({ name: "x", period: "day", amount: "1", scope: { team: "" } }), "scope.team")
  })

  it("a patch changes only what differs, and the change records each field's old and new value in order", () => {
    const applied = Budget.applyPatch(stored.id, stored, checked({ action: "block", amount: "12.50", name: "Team", thresholds: [100, 50] }), {
      actor: "  key-1  ",
      at
    })
    if (applied instanceof Budget.InvalidBudget || applied instanceof Budget.BudgetArchived) throw applied
    assert.strictEqual(Money.format(applied.budget.amount), "12.5")
    assert.deepStrictEqual(applied.change, {
      action: "updated",
      actor: "key-1",
      at,
      fields: [
        { field: "amount", from: "10", to: "12.5" },
        { field: "thresholds", from: ["80", "100"], to: ["50", "100"] },
        { field: "action", from: "alert", to: "block" }
      ]
    })
    // Fixed fields given with their stored values, and values equal to the stored ones: nothing to record.
    const same = Budget.applyPatch(stored.id, stored, checked({ amount: "10.0", period: "day", scope: { team: "a" }, currency: "USD" }), { at })
    assert.deepStrictEqual(same, { budget: stored, change: null })
  })

  it("a patch is refused when empty, when it changes a fixed field, or when the budget is archived", () => {
    const empty = Budget.checkPatch(patch({}))
    assert.strictEqual(empty instanceof Budget.InvalidBudget && empty.field, "(input)")
    const fixedOnly = Budget.applyPatch(stored.id, stored, checked({ period: "day" }), { at })
    assert.strictEqual(fixedOnly instanceof Budget.InvalidBudget && fixedOnly.field, "(input)")
    for (const [value, field] of [[{ period: "week" }, "period"], [{ scope: {} }, "scope"], [{ currency: "EUR", amount: "1" }, "currency"]] as const) {
      const refused = Budget.applyPatch(stored.id, stored, checked(value), { at })
      assert.strictEqual(refused instanceof Budget.InvalidBudget && refused.field, field)
      assert.match((refused as Budget.InvalidBudget).message, /cannot be changed .*; create a new budget instead$/)
    }
    const archived = Budget.applyPatch("0B5AE3F8-33A4-4E2E-9A55-0B0F8C3F8A11", { ...stored, archivedAt: at }, checked({ amount: "1" }), { at })
    assert.instanceOf(archived, Budget.BudgetArchived)
    // Named as it was asked for.
    assert.strictEqual((archived as Budget.BudgetArchived).budgetId, "0B5AE3F8-33A4-4E2E-9A55-0B0F8C3F8A11")
  })

  it("archiving records when and who; archiving twice changes nothing", () => {
    const { budget, change } = Budget.archive(stored, { at })
    assert.deepStrictEqual(budget.archivedAt, at)
    assert.deepStrictEqual(change, { action: "archived", actor: "system", at, fields: [{ field: "archivedAt", from: null, to: "2025-05-01T10:00:00.000Z" }] })
    assert.deepStrictEqual(Budget.archive(budget, { at, actor: "ops" }), { budget, change: null })
  })

  it("a scope covers a call when every dimension it names is equal; empty labels name nothing", () => {
    assert.isTrue(Budget.covers({}, {}))
    assert.isTrue(Budget.covers({ team: "a" }, Budget.callScope({ team: "a", project: "p", endUser: "u" }, "m")))
    assert.isFalse(Budget.covers({ team: "a", model: "m" }, Budget.callScope({ team: "a" }, "other")))
    assert.isFalse(Budget.covers({ team: "a" }, { team: null }))
    assert.deepStrictEqual(Budget.normalizeScope({ model: "m", team: "", project: null, customer: "c" }), { customer: "c", model: "m" })
    assert.deepStrictEqual(Object.keys(Budget.normalizeScope({ model: "m", apiKeyId: "k", project: "p" })), ["project", "apiKeyId", "model"])
  })

  it("the actor is trimmed, at most 200 characters, and `system` when none is given", () => {
    assert.strictEqual(Budget.actorOf(undefined), "system")
    assert.strictEqual(Budget.actorOf("   "), "system")
    assert.strictEqual(Budget.actorOf(" ops "), "ops")
    assert.strictEqual(Budget.actorOf("x".repeat(300)).length, 200)
  })
})
