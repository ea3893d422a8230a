import { assert, describe, layer } from "@effect/vitest"
import { Budget, Money } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { BudgetRecords } from "../src/BudgetRecords.ts"
import { Database } from "../src/Database.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

/** A checked budget, as the engine stores one. */
const newBudget = (input: Partial<Budget.CreateBudget> = {}): Budget.NewBudget => {
  const checked = Budget.checkCreate({ name: "All", period: "day", amount: new Money.Decimal("10"), ...input }, "USD")
  if (checked instanceof Budget.InvalidBudget) throw checked
  return checked
}

/** A budget as plain comparable values. */
const plain = (budget: Budget.Budget) => ({
  id: budget.id,
  tenantId: budget.tenantId,
  name: budget.name,
  scope: budget.scope,
  period: budget.period,
  amount: Money.format(budget.amount),
  currency: budget.currency,
  thresholds: budget.thresholds.map(Money.format),
  action: budget.action,
  archivedAt: budget.archivedAt === null ? null : DateTime.formatIso(budget.archivedAt)
})

const at = (iso: string) => DateTime.makeUnsafe(iso)

describe.each(targets)("budget records on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("a stored budget reads back as it was checked: get, list and active agree", () =>
      Effect.gen(function*() {
        const records = yield* BudgetRecords
        const tenantId = yield* newTenant()
        const budget = newBudget({
          name: "  Search team  ",
          scope: { team: "search", project: "web" },
          period: "month",
          amount: new Money.Decimal("1234.5678"),
          thresholds: [new Money.Decimal("100"), new Money.Decimal("50.25"), new Money.Decimal("1000")],
          action: "block"
        })
        const stored = yield* records.insert(tenantId, budget)
        assert.deepStrictEqual(plain(stored), {
          id: stored.id,
          tenantId,
          name: "Search team",
          scope: { project: "web", team: "search" },
          period: "month",
          amount: "1234.5678",
          currency: "USD",
          thresholds: ["50.25", "100", "1000"],
          action: "block",
          archivedAt: null
        })
        assert.deepStrictEqual(plain(yield* records.get(tenantId, stored.id)), plain(stored))
        assert.strictEqual(
          DateTime.toEpochMillis((yield* records.get(tenantId, stored.id)).createdAt),
          DateTime.toEpochMillis(stored.createdAt)
        )
        const second = yield* records.insert(tenantId, newBudget({ name: "Second" }))
        assert.deepStrictEqual((yield* records.list(tenantId)).map((b) => b.name), ["Search team", "Second"])
        assert.deepStrictEqual(
          (yield* records.active(tenantId)).map((b) => b.id),
          [stored.id, second.id].sort()
        )
        // Locked inside a transaction of the tenant, the row reads the same.
        const db = yield* Database
        const locked = yield* db.withTenant(tenantId, records.get(tenantId, stored.id, { lock: true }))
        assert.deepStrictEqual(plain(locked), plain(stored))
      }))

    it.effect("update writes the new terms with its change; archive retires the budget; the audit reads back in field order", () =>
      Effect.gen(function*() {
        const records = yield* BudgetRecords
        const tenantId = yield* newTenant()
        const stored = yield* records.insert(tenantId, newBudget())
        const updatedAt = at("2025-05-01T10:00:00.000Z")
        const next: Budget.Budget = { ...stored, name: "Renamed", amount: new Money.Decimal("12.5"), action: "block" }
        const updated = yield* records.update(tenantId, next, {
          action: "updated",
          actor: "key-1",
          at: updatedAt,
          // Given out of order: the audit reads back in `changeFieldOrder`.
          fields: [
            { field: "action", from: "alert", to: "block" },
            { field: "amount", from: "10", to: "12.5" },
            { field: "name", from: "All", to: "Renamed" }
          ]
        })
        assert.deepStrictEqual(plain(updated), { ...plain(stored), name: "Renamed", amount: "12.5", action: "block" })
        assert.deepStrictEqual(plain(yield* records.get(tenantId, stored.id)), plain(updated))

        const archivedAt = at("2025-05-02T08:30:00.000Z")
        const archived = yield* records.archive(tenantId, stored.id, {
          action: "archived",
          actor: "system",
          at: archivedAt,
          fields: [{ field: "archivedAt", from: null, to: DateTime.formatIso(archivedAt) }]
        })
        assert.strictEqual(plain(archived).archivedAt, "2025-05-02T08:30:00.000Z")
        assert.deepStrictEqual(yield* records.list(tenantId), [])
        assert.deepStrictEqual(yield* records.active(tenantId), [])
        assert.deepStrictEqual((yield* records.list(tenantId, { includeArchived: true })).map((b) => b.id), [stored.id])

        const changes = yield* records.changes(tenantId)
        assert.deepStrictEqual(
          changes.map((c) => ({ budgetId: c.budgetId, action: c.action, actor: c.actor, at: DateTime.formatIso(c.at), fields: c.fields })),
          [
            {
              budgetId: stored.id,
              action: "updated",
              actor: "key-1",
              at: "2025-05-01T10:00:00.000Z",
              fields: [
                { field: "name", from: "All", to: "Renamed" },
                { field: "amount", from: "10", to: "12.5" },
                { field: "action", from: "alert", to: "block" }
              ]
            },
            {
              budgetId: stored.id,
              action: "archived",
              actor: "system",
              at: "2025-05-02T08:30:00.000Z",
              fields: [{ field: "archivedAt", from: null, to: "2025-05-02T08:30:00.000Z" }]
            }
          ]
        )
        assert.deepStrictEqual(yield* records.changes(tenantId, { budgetIds: ["not-a-uuid"] }), [])
        assert.strictEqual((yield* records.changes(tenantId, { budgetIds: [stored.id] })).length, 2)
      }))

    it.effect("covering finds the active budgets whose scope the call's labels contain, in id order", () =>
      Effect.gen(function*() {
        const records = yield* BudgetRecords
        const tenantId = yield* newTenant()
        const all = yield* records.insert(tenantId, newBudget({ name: "tenant" }))
        const team = yield* records.insert(tenantId, newBudget({ name: "team a", scope: { team: "a" } }))
        const model = yield* records.insert(tenantId, newBudget({ name: "team a on m", scope: { team: "a", model: "m" } }))
        yield* records.insert(tenantId, newBudget({ name: "team b", scope: { team: "b" } }))
        const gone = yield* records.insert(tenantId, newBudget({ name: "archived", scope: { team: "a" } }))
        yield* records.archive(tenantId, gone.id, Budget.archive(gone, { at: at("2025-05-01T00:00:00Z") }).change!)
        const ids = (call: Budget.CallScope) =>
          Effect.map(records.covering(tenantId, call, { lock: false }), (budgets) => budgets.map((b) => b.id))
        assert.deepStrictEqual(yield* ids({ team: "a", model: "m", project: "x" }), [all.id, team.id, model.id].sort())
        assert.deepStrictEqual(yield* ids({ team: "a", model: "other" }), [all.id, team.id].sort())
        // Empty and absent labels match no dimension.
        assert.deepStrictEqual(yield* ids({ team: "", model: null }), [all.id])
        const db = yield* Database
        const locked = yield* db.withTenant(tenantId, records.covering(tenantId, { team: "a", model: "m" }, { lock: true }))
        assert.deepStrictEqual(locked.map((b) => b.id), [all.id, team.id, model.id].sort())
      }))

    it.effect("another tenant's budget is not found, not listed, not changed, and its audit is not read", () =>
      Effect.gen(function*() {
        const records = yield* BudgetRecords
        const a = yield* newTenant("A")
        const b = yield* newTenant("B")
        const budget = yield* records.insert(a, newBudget())
        const change: Budget.NewBudgetChange = {
          action: "updated",
          actor: "intruder",
          at: at("2025-05-01T00:00:00Z"),
          fields: [{ field: "name", from: "All", to: "Renamed" }]
        }
        assert.strictEqual((yield* Effect.flip(records.get(b, budget.id)))._tag, "BudgetNotFound")
        assert.strictEqual((yield* Effect.flip(records.get(a, "not-a-uuid")))._tag, "BudgetNotFound")
        assert.strictEqual((yield* Effect.flip(records.update(b, { ...budget, name: "mine" }, change)))._tag, "BudgetNotFound")
        assert.strictEqual((yield* Effect.flip(records.archive(b, budget.id, change)))._tag, "BudgetNotFound")
        assert.deepStrictEqual(yield* records.list(b, { includeArchived: true }), [])
        assert.deepStrictEqual(yield* records.active(b), [])
        assert.deepStrictEqual(yield* records.covering(b, {}, { lock: false }), [])
        yield* records.update(a, { ...budget, name: "Renamed" }, { ...change, actor: "owner" })
        assert.deepStrictEqual(yield* records.changes(b, { budgetIds: [budget.id] }), [])
        assert.deepStrictEqual((yield* records.changes(a)).map((c) => c.actor), ["owner"])
        const stored = yield* records.get(a, budget.id)
        assert.strictEqual(stored.name, "Renamed")
        assert.isNull(stored.archivedAt)
      }))
  })
})
