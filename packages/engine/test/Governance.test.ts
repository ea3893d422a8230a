/**
 * One decision for gateways: budgets in tokens and requests, per period and over rolling windows,
 * with crossings recorded once; model policies; `decide` with every reason and with a reservation;
 * and the cache that keeps the common case off the database, invalidated by the governance version.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Budget, Money, type UsageRecord } from "@tally/core"
import { Database, ModelPolicies } from "@tally/store"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { TestClock } from "effect/testing"
import { Budgets } from "../src/Budgets.ts"
import { Enforcement } from "../src/Enforcement.ts"
import { decisionToJson, Governance } from "../src/Governance.ts"
import { call, governanceTargets, eventRows, ingest, layerOptions, newTenant } from "./BudgetSupport.ts"

const budgetInput = (value: unknown) => Result.getOrThrow(Budget.decodeBudgetInput(value))


const at = <A, E, R>(iso: string | number, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(typeof iso === "number" ? iso : Date.parse(iso))
    return yield* effect
  }).pipe(Effect.provide(TestClock.layer()))

const NOW = "2025-05-20T12:00:00Z"
const nowMillis = Date.parse(NOW)

/** A call with chosen tokens (`call` gives 100 input and 20 output). */
const tokenCall = (id: string, occurredAt: string | number, cost: string, tokens: { input: number; output: number }, labels: UsageRecord.Labels = {}) => ({
  ...call(id, occurredAt, cost, { labels }),
  usage: { tokens: { inputText: tokens.input, outputText: tokens.output } }
})

describe.each(governanceTargets)("governance on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("token budgets count their kind of tokens, deny with what remains, and cross thresholds once", () =>
      at(NOW, Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const governance = yield* Governance
        const output = yield* budgets.create(tenantId, budgetInput({
          name: "p output per day", period: "day", unit: "tokens", tokenKind: "output", amount: "1000", action: "block",
          thresholds: [50, 100], scope: { project: "p" }
        }))
        const total = yield* budgets.create(tenantId, budgetInput({ name: "all tokens per day", period: "day", unit: "tokens", amount: "100000" }))
        yield* ingest(tenantId, [
          tokenCall("t1", "2025-05-20T08:00:00Z", "0.01", { input: 5000, output: 300 }, { project: "p" }),
          tokenCall("t2", "2025-05-20T09:00:00Z", "0.01", { input: 5000, output: 300 }, { project: "p" })
        ])
        const status = yield* budgets.status(tenantId)
        assert.deepStrictEqual(
          Object.fromEntries(status.map((s) => [s.budget.name, [Money.format(s.spent), s.crossed.map((c) => Money.format(c.threshold))]])),
          { [output.name]: ["600", ["50"]], [total.name]: ["10600", []] }
        )
        const allowed = yield* governance.decide(tenantId, { labels: { project: "p" }, model: "gpt-4o", estimate: { cost: decimal("0.01"), outputTokens: 400 } })
        assert.isTrue(allowed.allowed)
        const denied = decisionToJson(yield* governance.decide(tenantId, {
          labels: { project: "p" }, model: "gpt-4o", estimate: { cost: decimal("0.01"), inputTokens: 10, outputTokens: 401 }
        }))
        assert.strictEqual(denied.decision, "deny")
        assert.deepStrictEqual(denied.reasons.map((r) => r.kind === "budget" ? [r.budgetName, r.unit, r.remaining, r.estimate] : r.kind), [
          [output.name, "output tokens", "400", "401"]
        ])
        const line = denied.budgets.find((b) => b.budgetId === total.id)!
        assert.deepStrictEqual([line.unit, line.estimate, line.remaining], ["total tokens", "411", "89400"])
        // 100% once: the next batch reaches it, a replay and a sweep record nothing more.
        yield* ingest(tenantId, [tokenCall("t3", "2025-05-20T10:00:00Z", "0.01", { input: 1, output: 400 }, { project: "p" })])
        yield* ingest(tenantId, [tokenCall("t3", "2025-05-20T10:00:00Z", "0.01", { input: 1, output: 400 }, { project: "p" })])
        yield* budgets.evaluate(tenantId)
        const events = (yield* eventRows(tenantId)).filter((e) => e.budget_id === output.id)
        assert.deepStrictEqual(events.map((e) => [e.threshold, e.spent]), [["50", "600"], ["100", "1000"]])
      })))

    it.effect("a rolling request budget counts the last window only and announces each threshold once per window length", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const governance = yield* Governance
        const perMinute = yield* budgets.create(tenantId, budgetInput({
          name: "3 requests a minute", period: "rolling", windowSeconds: 60, unit: "requests", amount: "3", action: "block", thresholds: [100]
        }))
        const t0 = nowMillis
        yield* at(t0, ingest(tenantId, [call("r1", t0 - 50_000, "0.1"), call("r2", t0 - 30_000, "0.1"), call("r3", t0 - 1_000, "0.1")]))
        const full = yield* at(t0, governance.decide(tenantId, { model: "gpt-4o", estimate: { cost: decimal("0.1") } }))
        assert.isFalse(full.allowed)
        assert.deepStrictEqual(full.reasons.map((r) => r.kind === "budget" ? [r.unit, Money.format(r.remaining)] : r.kind), [["requests", "0"]])
        // 11 s later r1 left the window: one request fits again.
        const later = yield* at(t0 + 11_000, governance.decide(tenantId, { model: "gpt-4o", estimate: { cost: decimal("0.1") } }))
        assert.isTrue(later.allowed)
        assert.strictEqual(Money.format(later.budget!.budgets[0]!.spent), "2")
        // A call older than the window counts for nothing.
        yield* at(t0 + 11_000, ingest(tenantId, [call("old", t0 - 120_000, "0.1")]))
        const status = yield* at(t0 + 11_000, budgets.status(tenantId))
        assert.strictEqual(Money.format(status[0]!.spent), "2")
        // Crossings: 100% was reached in the slot of t0, recorded once whatever evaluates it again.
        yield* at(t0 + 11_000, budgets.evaluate(tenantId))
        const events = (yield* eventRows(tenantId)).filter((e) => e.budget_id === perMinute.id)
        assert.deepStrictEqual(events.map((e) => [e.threshold, e.spent, e.period_start.getTime() % 60_000]), [["100", "3", 0]])
      }))

    it.effect("model policies refuse with every reason; a priced model's cost is estimated from its tokens", () =>
      at(NOW, Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const governance = yield* Governance
        const tenantWide = yield* governance.createPolicy(tenantId, {
          name: "no experiments", denyProviders: ["Mistral"], denyModels: ["startsWith:o1"], pricedOnly: true
        })
        const team = yield* governance.createPolicy(tenantId, {
          name: "search team", scope: { team: "search" }, allowProviders: ["openai"], allowModels: [{ startsWith: "gpt-4o" }],
          maxOutputTokens: 1000, maxCostPerCall: "0.05"
        })
        const ok = decisionToJson(yield* governance.decide(tenantId, {
          labels: { team: "search" }, provider: "openai", model: "gpt-4o-mini", estimate: { inputTokens: 1000, outputTokens: 500 }
        }))
        assert.strictEqual(ok.decision, "allow")
        assert.strictEqual(ok.costSource, "priced")
        assert.isTrue(ok.priced)
        assert.deepStrictEqual(ok.policies, [tenantWide.id, team.id])
        assert.isTrue(new Money.Decimal(ok.estimatedCost!).gt(0))

        const refused = decisionToJson(yield* governance.decide(tenantId, {
          labels: { team: "search" }, provider: "anthropic", model: "claude-private-x", estimate: { outputTokens: 2000 }
        }))
        assert.strictEqual(refused.decision, "deny")
        assert.deepStrictEqual(refused.reasons.map((r) => r.kind === "policy" ? `${r.policyName}/${r.rule}` : r.kind), [
          "no experiments/pricedOnly",
          "search team/allowProviders",
          "search team/allowModels",
          "search team/maxOutputTokens",
          "search team/maxCostPerCall"
        ])
        assert.deepStrictEqual(refused.budgets, [])

        const tooDear = yield* governance.decide(tenantId, {
          labels: { team: "search" }, provider: "openai", model: "gpt-4o", estimate: { cost: decimal("0.06") }
        })
        assert.deepStrictEqual(tooDear.reasons.map((r) => r.message), [
          `policy "search team": estimated cost 0.06 exceeds 0.05 per call`
        ])
        // Outside the team only the tenant-wide policy applies.
        const other = yield* governance.decide(tenantId, { provider: "mistral", model: "o1-preview" })
        assert.deepStrictEqual(other.reasons.slice(0, 2).map((r) => r.kind === "policy" ? r.rule : r.kind), ["denyProviders", "denyModels"])
        assert.isTrue(other.reasons.every((r) => r.kind === "policy" && r.policyName === "no experiments"))
        // Archived: no longer applies.
        yield* governance.archivePolicy(tenantId, team.id)
        const afterArchive = yield* governance.decide(tenantId, { labels: { team: "search" }, provider: "openai", model: "gpt-4o", estimate: { outputTokens: 5000 } })
        assert.isTrue(afterArchive.allowed)
        // Bad input names the field.
        const bad = yield* Effect.flip(governance.createPolicy(tenantId, { name: "x", maxOutputTokens: -1 }))
        assert.deepStrictEqual([bad._tag, bad._tag === "InvalidPolicy" ? bad.field : undefined], ["InvalidPolicy", "maxOutputTokens"])
        const empty = yield* Effect.flip(governance.createPolicy(tenantId, { name: "x" }))
        assert.match(empty.message, /expected at least one rule/)
      })))

    it.effect("decide with reserve holds every unit's estimate; settling with actual tokens holds those", () =>
      at(NOW, Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const governance = yield* Governance
        const enforcement = yield* Enforcement
        yield* budgets.create(tenantId, budgetInput({ name: "usd", period: "day", amount: "1", action: "block" }))
        yield* budgets.create(tenantId, budgetInput({ name: "out", period: "day", unit: "tokens", tokenKind: "output", amount: "1000", action: "block" }))
        yield* budgets.create(tenantId, budgetInput({ name: "calls", period: "rolling", windowSeconds: 3600, unit: "requests", amount: "2", action: "block" }))
        const first = yield* governance.decide(tenantId, {
          model: "gpt-4o", estimate: { cost: decimal("0.4"), outputTokens: 600 }, reserve: true, requestId: "g-1"
        })
        assert.isTrue(first.allowed)
        const id = first.budget!.reservation!.id
        // The hold: 0.4, 600 output tokens, 1 request.
        const second = decisionToJson(yield* governance.decide(tenantId, { model: "gpt-4o", estimate: { cost: decimal("0.4"), outputTokens: 500 } }))
        assert.deepStrictEqual(second.reasons.map((r) => r.kind === "budget" ? [r.budgetName, r.remaining, r.estimate] : r.kind), [["out", "400", "500"]])
        assert.deepStrictEqual(Object.fromEntries(second.budgets.map((b) => [b.name, b.reserved])), { usd: "0.4", out: "600", calls: "1" })
        yield* enforcement.settle(tenantId, id, { actualCost: decimal("0.3"), actualTokens: { input: 10, output: 350 } })
        const third = decisionToJson(yield* governance.decide(tenantId, { model: "gpt-4o", estimate: { cost: decimal("0.4"), outputTokens: 500 } }))
        assert.strictEqual(third.decision, "allow")
        assert.deepStrictEqual(Object.fromEntries(third.budgets.map((b) => [b.name, b.reserved])), { usd: "0.3", out: "350", calls: "1" })
        // Landed under its request id: the ledger counts it, the hold does not.
        yield* ingest(tenantId, [tokenCall("g-1", NOW, "0.3", { input: 10, output: 350 })])
        const fourth = decisionToJson(yield* governance.decide(tenantId, { model: "gpt-4o", estimate: { cost: decimal("0") } }))
        assert.deepStrictEqual(
          Object.fromEntries(fourth.budgets.map((b) => [b.name, [b.spent, b.reserved]])),
          { usd: ["0.3", "0"], out: ["350", "0"], calls: ["1", "0"] }
        )
      })))

    it.effect("the cache answers policy-only calls without the database and sees other processes' changes by version", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const governance = yield* Governance
        const budgets = yield* Budgets
        const store = yield* ModelPolicies.ModelPolicies
        const t0 = nowMillis
        assert.isTrue((yield* at(t0, governance.decide(tenantId, { model: "gpt-4o" }))).allowed)
        // Another process adds a policy (straight to the store: this process is not told).
        yield* store.insert(tenantId, { name: "elsewhere", scope: {}, rules: { denyModels: [{ equals: "gpt-4o" }] } })
        // Within the staleness bound the cached answer stands; after it the version shows the change.
        assert.isTrue((yield* at(t0 + 500, governance.decide(tenantId, { model: "gpt-4o" }))).allowed)
        const after = yield* at(t0 + 1500, governance.decide(tenantId, { model: "gpt-4o" }))
        assert.deepStrictEqual(after.reasons.map((r) => r.kind === "policy" ? r.policyName : r.kind), ["elsewhere"])
        // A budget created in this process is seen at once (its change invalidates the cache).
        yield* at(t0 + 1600, budgets.create(tenantId, budgetInput({ name: "tiny", period: "day", unit: "requests", amount: "1", action: "block" })))
        const covered = yield* at(t0 + 1700, governance.decide(tenantId, { model: "gpt-4o-mini", estimate: { cost: decimal("0") } }))
        assert.isTrue(covered.allowed)
        assert.strictEqual(covered.budget!.budgets.length, 1)
        // A budget decision reads the version with spend: a budget another process changed is used as changed.
        const { sql } = yield* Database.Database
        yield* sql`UPDATE tally.budgets SET amount = 5 WHERE tenant_id = ${tenantId}`
        const fresh = yield* at(t0 + 1800, governance.decide(tenantId, { model: "gpt-4o-mini", estimate: { cost: decimal("0") } }))
        assert.strictEqual(Money.format(fresh.budget!.budgets[0]!.budget.amount), "5")
      }))
  })
})

const decimal = (value: string) => new Money.Decimal(value)
