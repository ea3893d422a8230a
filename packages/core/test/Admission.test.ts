import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Admission from "../src/Admission.ts"
import type * as Budget from "../src/Budget.ts"
import * as BudgetPeriod from "../src/BudgetPeriod.ts"
import * as Money from "../src/Money.ts"

const decimal = (value: string) => new Money.Decimal(value)
const now = DateTime.makeUnsafe("2025-05-01T10:00:00Z")

const budget = (id: string, action: Budget.Action, amount: string): Budget.Budget => ({
  id,
  tenantId: "acme",
  name: id,
  windowSeconds: null,
  unit: "cost",
  tokenKind: null,
  scope: {},
  period: "day",
  amount: decimal(amount),
  currency: "USD",
  thresholds: [decimal("100")],
  action,
  createdAt: now,
  archivedAt: null
})

const standing = (b: Budget.Budget, spent: string, reserved: string): Admission.Standing => ({
  budget: b,
  window: BudgetPeriod.containing("day", now, "UTC"),
  spent: decimal(spent),
  reserved: decimal(reserved)
})

describe("Admission", () => {
  it("a block budget denies a call whose estimate exceeds what is left; exactly what is left is allowed", () => {
    const block = budget("b", "block", "10")
    const allowed = Admission.decide([standing(block, "6", "1.5")], decimal("2.5"), "USD")
    assert.isTrue(allowed.allowed)
    assert.deepStrictEqual([Money.format(allowed.remaining!), Money.format(allowed.budgets[0]!.remainingAfter)], ["2.5", "0"])
    const denied = Admission.decide([standing(block, "6", "1.5")], decimal("2.51"), "USD")
    assert.isFalse(denied.allowed)
    assert.deepStrictEqual(denied.deniedBy, ["b"])
  })

  it("an alert budget never denies; the remaining figure is the least of the block budgets, else of all", () => {
    const alert = budget("a", "alert", "1")
    const block = budget("b", "block", "100")
    const over = Admission.decide([standing(alert, "5", "0"), standing(block, "10", "0")], decimal("1"), "USD")
    assert.isTrue(over.allowed)
    assert.deepStrictEqual(over.budgets.map((d) => d.allowed), [true, true])
    assert.strictEqual(Money.format(over.remaining!), "90")
    const alertOnly = Admission.decide([standing(alert, "5", "0")], decimal("1"), "USD")
    assert.strictEqual(Money.format(alertOnly.remaining!), "-4")
    const none = Admission.decide([], decimal("1"), "EUR")
    assert.deepStrictEqual(none, {
      allowed: true,
      currency: "EUR",
      estimatedCost: decimal("1"),
      estimated: Admission.costEstimate(decimal("1")),
      remaining: null,
      budgets: [],
      deniedBy: []
    })
  })
})
