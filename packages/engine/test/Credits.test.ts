import { assert, describe, layer } from "@effect/vitest"
import { Money } from "@tally/core"
import { Credits as CreditStore, Outbox } from "@tally/store"
import { DateTime, Effect, Layer } from "effect"
import * as Credits from "../src/Credits.ts"
import { Enforcement } from "../src/Enforcement.ts"
import { Ingest } from "../src/Ingest.ts"
import { SalePricing } from "../src/SalePricing.ts"
import { backend, ingestLayer, layerOptions, newTenant, testTimeout } from "./TestStore.ts"

const testLayer = Layer.provideMerge(Layer.mergeAll(Enforcement.layer, Outbox.Outbox.layer, SalePricing.layer), ingestLayer)

// gpt-4o-mini lists $0.15 per 1M input and $0.60 per 1M output tokens: each call below costs
// 0.15 + 0.60 = 0.75 and uses 2,000,000 tokens.
const call = (requestId: string, labels: Record<string, string>) => ({
  requestId,
  occurredAt: "2026-01-10T12:00:00Z",
  provider: "openai",
  model: "gpt-4o-mini",
  usage: { tokens: { inputText: 1_000_000, outputText: 1_000_000 } },
  labels
})

const from = "2026-01-01T00:00:00Z"
const fmt = Money.format
const acme = { kind: "customer", id: "acme" } as const

const remainingOf = (tenantId: string) =>
  Effect.map(CreditStore.Credits.use((store) => store.list(tenantId, { includeVoided: true })), (grants) =>
    Object.fromEntries(grants.map((g) => [g.note ?? g.id, fmt(g.remaining)])))

describe(`Prepaid credits on ${backend}`, () => {
  layer(testLayer, layerOptions)((it) => {
    it.effect("calls draw their customer's grants by cost, lowest priority then grant order, exactly once; alerts go to the outbox", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        yield* Credits.grant(tenantId, { customer: "acme", unit: "USD", amount: "1", effectiveAt: from, alertThresholds: ["0.5"], note: "g1" })
        yield* Credits.grant(tenantId, { customer: "acme", unit: "USD", amount: "0.5", effectiveAt: from, note: "g2" })
        yield* Credits.grant(tenantId, { customer: "acme", unit: "USD", amount: "0.1", priority: -1, effectiveAt: from, note: "g0" })
        yield* Credits.grant(tenantId, {
          customer: "acme",
          unit: "USD",
          amount: "5",
          effectiveAt: "2025-12-01T00:00:00Z",
          expiresAt: "2026-01-01T00:00:00Z",
          note: "expired"
        })
        yield* Credits.grant(tenantId, { customer: "other", unit: "USD", amount: "9", effectiveAt: from, note: "other" })

        // c1: 0.1 from g0 (priority -1), 0.65 from g1. Balance 1.6 -> 0.85.
        yield* ingest.ingest(tenantId, [call("c1", { customer: "acme" })])
        assert.deepStrictEqual(yield* remainingOf(tenantId), { g1: "0.35", g2: "0.5", g0: "0", expired: "5", other: "9" })
        // c2: 0.35 from g1, 0.4 from g2. Balance 0.85 -> 0.1: below the 0.5 threshold.
        yield* ingest.ingest(tenantId, [call("c2", { customer: "acme" })])
        assert.deepStrictEqual(yield* remainingOf(tenantId), { g1: "0", g2: "0.1", g0: "0", expired: "5", other: "9" })
        // c3: 0.1 from g2, 0.65 unpaid. Balance 0.
        yield* ingest.ingest(tenantId, [call("c3", { customer: "acme" })])
        // Replays draw nothing.
        const replay = yield* ingest.ingest(tenantId, [call("c1", { customer: "acme" }), call("c2", { customer: "acme" }), call("c3", { customer: "acme" })])
        assert.strictEqual(replay.duplicates, 3)
        assert.deepStrictEqual(yield* remainingOf(tenantId), { g1: "0", g2: "0", g0: "0", expired: "5", other: "9" })

        const draws = yield* CreditStore.Credits.use((store) => store.drawdowns(tenantId, {}))
        assert.deepStrictEqual(draws.map((d) => [d.requestId, fmt(d.amount), d.basis]).sort(), [
          ["c1", "0.1", "cost"],
          ["c1", "0.65", "cost"],
          ["c2", "0.35", "cost"],
          ["c2", "0.4", "cost"],
          ["c3", "0.1", "cost"]
        ])
        const [usd] = yield* Credits.balance(tenantId, acme)
        assert.deepStrictEqual([usd!.unit, fmt(usd!.balance), fmt(usd!.granted)], ["USD", "0", "1.6"])

        const messages = yield* Outbox.Outbox.use((outbox) => outbox.list(tenantId))
        assert.deepStrictEqual(messages.map((m) => [m.kind, m.payload["balance"], m.payload["threshold"]]).sort(), [
          ["credit.balance_exhausted", "0", "0"],
          ["credit.balance_low", "0.1", "0.5"]
        ])
      }), testTimeout)

    it.effect("a customer with a sale price draws by price; a customer without one by cost", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        yield* SalePricing.use((s) =>
          s.addRule(tenantId, {
            name: "acme +50%",
            customer: "acme",
            kind: "markup-percent",
            percent: new Money.Decimal("50"),
            effectiveFrom: DateTime.makeUnsafe(from)
          })
        )
        yield* Credits.grant(tenantId, { customer: "acme", unit: "USD", amount: "2", effectiveAt: from, note: "acme" })
        yield* Credits.grant(tenantId, { customer: "beta", unit: "USD", amount: "2", effectiveAt: from, note: "beta" })
        // acme's call sells at 0.75 x 1.5 = 1.125; beta has no sale price: its cost, 0.75.
        yield* ingest.ingest(tenantId, [call("s-acme", { customer: "acme" }), call("s-beta", { customer: "beta" })])
        assert.deepStrictEqual(yield* remainingOf(tenantId), { acme: "0.875", beta: "1.25" })
        const draws = yield* CreditStore.Credits.use((store) => store.drawdowns(tenantId, {}))
        assert.deepStrictEqual(draws.map((d) => [d.requestId, fmt(d.amount), d.basis]), [["s-acme", "1.125", "price"], ["s-beta", "0.75", "cost"]])
      }), testTimeout)

    it.effect("a tokens grant of a team is drawn by the calls' total tokens", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        yield* Credits.grant(tenantId, { team: "t1", unit: "tokens", amount: "3000000", effectiveAt: from, note: "tokens" })
        yield* ingest.ingest(tenantId, [call("t-1", { team: "t1" }), call("t-2", { team: "t1" })])
        assert.deepStrictEqual(yield* remainingOf(tenantId), { tokens: "0" })
        const draws = yield* CreditStore.Credits.use((store) => store.drawdowns(tenantId, {}))
        assert.deepStrictEqual(draws.map((d) => [d.requestId, fmt(d.amount), d.unit, d.basis]), [
          ["t-1", "2000000", "tokens", "tokens"],
          ["t-2", "1000000", "tokens", "tokens"]
        ])
      }), testTimeout)

    it.effect("with enforcement a reservation that would overdraw the balance is refused; released holds free it again", () =>
      Effect.gen(function*() {
        const enforcement = yield* Enforcement
        const tenantId = yield* newTenant()
        yield* Credits.grant(tenantId, { customer: "acme", unit: "USD", amount: "1", effectiveAt: from, enforce: true })
        const reserve = (estimate: string) =>
          enforcement.reserve(tenantId, { labels: { customer: "acme" }, estimatedCost: new Money.Decimal(estimate) })
        const first = yield* reserve("0.6")
        assert.isTrue(first.allowed)
        const second = yield* reserve("0.6")
        assert.isFalse(second.allowed)
        assert.deepStrictEqual(second.credits!.map((c) => [fmt(c.balance), fmt(c.held), fmt(c.remaining), c.allowed]), [["1", "0.6", "0.4", false]])
        assert.isUndefined(second.reservation)
        yield* enforcement.release(tenantId, first.reservation!.id)
        assert.isTrue((yield* reserve("0.6")).allowed)
        // A customer without enforcing grants is not limited by credits.
        const free = yield* enforcement.reserve(tenantId, { labels: { customer: "nobody" }, estimatedCost: new Money.Decimal("100") })
        assert.isTrue(free.allowed)
        assert.isUndefined(free.credits)
      }), testTimeout)

    it.effect("many parallel reservations and drawdowns never overdraw: admitted estimates fit the balance, grants end at exactly 0", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const enforcement = yield* Enforcement
        const tenantId = yield* newTenant()
        yield* Credits.grant(tenantId, { customer: "acme", unit: "USD", amount: "1", effectiveAt: from, enforce: true, note: "a" })
        const decisions = yield* Effect.all(
          Array.from({ length: 20 }, () => enforcement.reserve(tenantId, { labels: { customer: "acme" }, estimatedCost: new Money.Decimal("0.3") })),
          { concurrency: "unbounded" }
        )
        // 1 / 0.3: three fit (0.9), a fourth would overdraw.
        assert.strictEqual(decisions.filter((d) => d.allowed).length, 3)

        yield* Credits.grant(tenantId, { customer: "bulk", unit: "USD", amount: "5", effectiveAt: from, note: "b" })
        const results = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => ingest.ingest(tenantId, [call(`p-${i}`, { customer: "bulk" })])),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.reduce((n, r) => n + r.inserted, 0), 20)
        // 20 calls of 0.75 ask 15; the grant pays exactly its 5 and stops at 0.
        const remaining = yield* remainingOf(tenantId)
        assert.strictEqual(remaining["b"], "0")
        const draws = yield* CreditStore.Credits.use((store) => store.drawdowns(tenantId, {}))
        assert.strictEqual(fmt(Money.sum(draws.map((d) => d.amount))), "5")
        assert.isTrue(draws.every((d) => d.amount.isPositive()))
      }), testTimeout)

    it.effect("bad grants are refused naming the field", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [{ unit: "USD", amount: "1" }, "customer"],
          [{ customer: "a", team: "b", unit: "USD", amount: "1" }, "customer"],
          [{ customer: "a", unit: "usd", amount: "1" }, "unit"],
          [{ customer: "a", unit: "USD", amount: "0" }, "amount"],
          [{ customer: "a", unit: "tokens", amount: "1.5" }, "amount"],
          [{ customer: "a", unit: "USD", amount: "1", effectiveAt: from, expiresAt: from }, "expiresAt"]
        ]
        for (const [input, field] of cases) {
          const error = yield* Effect.flip(Credits.grant(tenantId, input))
          assert.strictEqual(error._tag, "InvalidCredit")
          assert.strictEqual((error as { field: string }).field, field, JSON.stringify(input))
        }
      }), testTimeout)
  })
})
