/** The laws of prepaid credit drawdown and of commitment transforms, as fast-check properties. */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { DateTime } from "effect"
import { Commitment, Credit, Money, type UsageRecord } from "../src/index.ts"
import * as Arb from "./Arbitraries.ts"

const d = (text: string) => new Money.Decimal(text)
const at = (millis: number) => DateTime.makeUnsafe(millis)
const DAY = 86_400_000

const accounts: ReadonlyArray<Credit.Account> = [{ kind: "customer", id: "a" }, { kind: "customer", id: "b" }, { kind: "team", id: "t" }]

const grantArb = (seq: number): fc.Arbitrary<Credit.Grant> =>
  fc.record({
    account: fc.constantFrom(...accounts),
    unit: fc.constantFrom("USD", "EUR", Credit.TOKENS),
    amount: Arb.decimalString(50, 4).filter((s) => !d(s).isZero()),
    spent: fc.integer({ min: 0, max: 100 }),
    priority: fc.integer({ min: -2, max: 2 }),
    effective: fc.integer({ min: 0, max: 10 }),
    expires: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
    voided: fc.boolean()
  }).map((g): Credit.Grant => {
    const amount = g.unit === Credit.TOKENS ? d(g.amount).floor().plus(1) : d(g.amount)
    return {
      id: `g${seq}`,
      seq,
      account: g.account,
      unit: g.unit,
      amount,
      remaining: amount.times(100 - g.spent).dividedBy(100).toDecimalPlaces(4, Money.Decimal.ROUND_DOWN),
      priority: g.priority,
      effectiveAt: at(g.effective * DAY),
      expiresAt: g.expires === undefined ? null : at((g.effective + g.expires) * DAY),
      alertThresholds: [d("1"), d("0.5")],
      enforce: false,
      note: null,
      createdAt: at(0),
      voidedAt: g.voided && g.spent % 5 === 0 ? at(DAY) : null
    }
  })

const grantsArb = fc.integer({ min: 0, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => grantArb(i + 1))))

const demandArb = (i: number): fc.Arbitrary<Credit.Demand> =>
  fc.record({
    accounts: fc.subarray([...accounts], { maxLength: 2 }),
    money: fc.option(fc.record({ amount: Arb.decimalString(20, 6), currency: fc.constantFrom("USD", "EUR") }), { nil: undefined }),
    tokens: fc.integer({ min: 0, max: 100 }),
    day: fc.integer({ min: 0, max: 30 })
  }).map((x) => ({
    requestId: `r${i}`,
    occurredAt: x.day * DAY,
    accounts: x.accounts,
    money: x.money === undefined ? undefined : { amount: d(x.money.amount), currency: x.money.currency, basis: "cost" as const },
    tokens: x.tokens
  }))

const demandsArb = fc.integer({ min: 0, max: 12 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => demandArb(i))))

describe("credit drawdown laws", () => {
  it("never takes a grant below zero, and every grant's draws are exactly what it lost", () => {
    fc.assert(
      fc.property(grantsArb, demandsArb, (grants, demands) => {
        const { draws, remaining } = Credit.allocate(grants, demands)
        for (const g of grants) {
          const left = remaining.get(g.id)!
          expect(left.isNegative()).toBe(false)
          const drawn = Money.sum(draws.filter((x) => x.grantId === g.id).map((x) => x.amount))
          expect(drawn.equals(g.remaining.minus(left))).toBe(true)
        }
        for (const x of draws) expect(x.amount.isPositive() && !x.amount.isZero()).toBe(true)
      }),
      { numRuns: 500 }
    )
  })

  it("a call draws at most what it asks, only from its own accounts' grants active at its time, in its unit; the rest is uncovered", () => {
    fc.assert(
      fc.property(grantsArb, demandsArb, (grants, demands) => {
        const { draws, uncovered } = Credit.allocate(grants, demands)
        const byId = new Map(grants.map((g) => [g.id, g]))
        for (const demand of demands) {
          const own = draws.filter((x) => x.requestId === demand.requestId)
          for (const x of own) {
            const g = byId.get(x.grantId)!
            expect(demand.accounts.some((a) => a.kind === g.account.kind && a.id === g.account.id)).toBe(true)
            expect(Credit.activeAt(g, demand.occurredAt)).toBe(true)
            expect(x.unit).toBe(g.unit)
          }
          const asks: Array<[string, Money.Decimal]> = []
          if (demand.money !== undefined && !demand.money.amount.isZero()) asks.push([demand.money.currency, demand.money.amount])
          if (demand.tokens > 0) asks.push([Credit.TOKENS, d(String(demand.tokens))])
          for (const [unit, amount] of asks) {
            const paid = Money.sum(own.filter((x) => x.unit === unit).map((x) => x.amount))
            const unpaid = Money.sum(uncovered.filter((u) => u.requestId === demand.requestId && u.unit === unit).map((u) => u.amount))
            expect(paid.lessThanOrEqualTo(amount)).toBe(true)
            const hasGrants = grants.some((g) => g.unit === unit && demand.accounts.some((a) => a.kind === g.account.kind && a.id === g.account.id))
            if (hasGrants) expect(paid.plus(unpaid).equals(amount)).toBe(true)
          }
        }
      }),
      { numRuns: 500 }
    )
  })

  it("draws lowest priority first, then in grant order: a later grant is drawn only when the earlier ones are empty", () => {
    fc.assert(
      fc.property(grantsArb, demandsArb, (grants, demands) => {
        const { draws } = Credit.allocate(grants, demands)
        const byId = new Map(grants.map((g) => [g.id, g]))
        const ids = new Set(draws.map((x) => x.requestId))
        for (const requestId of ids) {
          const own = draws.filter((x) => x.requestId === requestId)
          for (let i = 1; i < own.length; i++) {
            if (own[i]!.unit !== own[i - 1]!.unit) continue
            expect(Credit.order(byId.get(own[i - 1]!.grantId)!, byId.get(own[i]!.grantId)!)).toBeLessThan(0)
          }
        }
      }),
      { numRuns: 300 }
    )
  })
})

const line = (component: string, quantity: string, amount: string) => ({
  component,
  quantity: d(quantity),
  unit: "token" as const,
  listRate: d("1"),
  listRatePer: "1M tokens" as const,
  rateSource: `rates.${component}`,
  unitPrice: d(amount).dividedBy(d(quantity).isZero() ? 1 : quantity),
  amount: d(amount),
  conditions: []
})

const record = (amounts: ReadonlyArray<string>): UsageRecord.UsageRecord => {
  const lines = amounts.map((a, i) => line(`c${i}`, "1000", a))
  const total = Money.sum(lines.map((l) => l.amount))
  return {
    requestId: "r",
    occurredAt: at(10 * DAY),
    provider: "google",
    model: "gemini-2.5-flash",
    definitionId: "google/gemini-2.5-flash",
    snapshotId: "s",
    usage: { tokens: { inputText: 1000 }, serviceTier: "PROVISIONED_THROUGHPUT" },
    breakdown: { snapshotId: "s", provider: "google", modelKey: "gemini-2.5-flash", currency: "USD", lines, total },
    total,
    costSource: "computed",
    unpricedReason: null,
    reportedCost: null,
    reportedCurrency: null,
    difference: null,
    labels: {},
    tags: {},
    raw: null
  }
}

const commitment = (kind: Commitment.Kind, discountPercent: string | null): Commitment.Commitment => ({
  id: "c",
  name: "c",
  kind,
  provider: "google",
  model: "gemini-2.5-flash",
  deployment: null,
  currency: "USD",
  discountPercent: discountPercent === null ? null : d(discountPercent),
  amount: kind === "spend" ? d("100") : null,
  fee: kind === "provisioned" ? d("1") : null,
  feePeriod: kind === "provisioned" ? "hour" : null,
  startsAt: at(0),
  endsAt: null,
  createdAt: at(0),
  archivedAt: null
})

describe("commitment transform laws", () => {
  const amounts = fc.array(Arb.decimalString(5, 8), { minLength: 1, maxLength: 6 })

  it("provisioned throughput: lines sum to the total (0) and the coverage keeps the on-demand total", () => {
    fc.assert(
      fc.property(amounts, (xs) => {
        const original = record(xs)
        const { coverage, record: changed } = Commitment.apply([commitment("provisioned", null)], original)
        expect(coverage?.kind).toBe("provisioned")
        expect(changed.total!.isZero()).toBe(true)
        expect(Money.sum(changed.breakdown!.lines.map((l) => l.amount)).equals(changed.breakdown!.total)).toBe(true)
        expect(coverage!.onDemand.equals(original.total!)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("a committed-use discount: lines sum to the total, which is the on-demand total times (1 - rate)", () => {
    fc.assert(
      fc.property(amounts, Arb.percentString, (xs, percent) => {
        const original = { ...record(xs), usage: { tokens: { inputText: 1000 } } }
        const { coverage, record: changed } = Commitment.apply([commitment("spend", percent)], original)
        expect(coverage?.kind).toBe("discounted")
        expect(Money.sum(changed.breakdown!.lines.map((l) => l.amount)).equals(changed.total!)).toBe(true)
        expect(changed.total!.equals(original.total!.times(Money.ONE.minus(d(percent).dividedBy(100))))).toBe(true)
        expect(coverage!.charged.equals(changed.total!)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })
})
