import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import type * as CostBreakdown from "../src/CostBreakdown.ts"
import * as Money from "../src/Money.ts"
import * as SalePrice from "../src/SalePrice.ts"
import { decimalString } from "./Arbitraries.ts"

const d = (text: string) => new Money.Decimal(text)
const jan = Date.UTC(2026, 0, 1)
const feb = Date.UTC(2026, 1, 1)

const rule = (overrides: Partial<SalePrice.Rule> & Pick<SalePrice.Rule, "kind">): SalePrice.Rule => ({
  id: overrides.id ?? "r",
  name: overrides.name ?? "rule",
  customer: null,
  plan: null,
  provider: null,
  model: null,
  percent: null,
  perUnit: null,
  rates: null,
  currency: null,
  effectiveFrom: jan,
  effectiveTo: null,
  createdAt: 0,
  ...overrides
})

const line = (component: string, quantity: string, unitPrice: string, unit: CostBreakdown.LineUnit = "token"): CostBreakdown.CostLine => ({
  component,
  quantity: d(quantity),
  unit,
  listRate: d(unitPrice).times(unit === "token" ? 1_000_000 : 1),
  listRatePer: unit === "token" ? "1M tokens" : "unit",
  rateSource: `rates.${component}`,
  unitPrice: d(unitPrice),
  amount: d(quantity).times(d(unitPrice)),
  conditions: []
})

// gpt-4o-mini-like: 1000 input tokens at 0.15/1M, 200 output at 0.6/1M -> 0.00015 + 0.00012 = 0.00027
const costLines = [line("inputText", "1000", "0.00000015"), line("outputText", "200", "0.0000006")]
const call = (overrides: Partial<SalePrice.CallInput> = {}): SalePrice.CallInput => ({
  at: Date.UTC(2026, 0, 15),
  provider: "openai",
  model: "gpt-4o-mini-2024-07-18",
  modelKey: "gpt-4o-mini",
  customer: "globex",
  usage: { tokens: { inputText: 1000, outputText: 200 } },
  costTotal: d("0.00027"),
  costCurrency: "USD",
  costLines,
  missing: [],
  ...overrides
})

const priced = (outcome: SalePrice.Outcome): SalePrice.Price => {
  if (outcome._tag !== "Priced") throw new Error(`expected a price, got: ${outcome.reason}`)
  return outcome.price
}

describe("SalePrice", () => {
  it("a 25% markup multiplies every cost line: 0.00015 -> 0.0001875, 0.00012 -> 0.00015, total 0.0003375", () => {
    const price = priced(SalePrice.price([rule({ kind: "markup-percent", percent: d("25") })], [], call()))
    assert.deepStrictEqual(price.lines.map((l) => [l.component, Money.format(l.amount), Money.format(l.unitPrice), l.basis]), [
      ["inputText", "0.0001875", "0.0000001875", "cost x 1.25"],
      ["outputText", "0.00015", "0.00000075", "cost x 1.25"]
    ])
    assert.strictEqual(Money.format(price.total), "0.0003375")
    assert.strictEqual(price.currency, "USD")
  })

  it("a per-unit markup of 0.1 per 1M tokens adds 0.0001 to the input line and 0.00002 to the output line", () => {
    const price = priced(SalePrice.price([rule({ kind: "markup-per-unit", perUnit: d("0.1"), currency: "USD" })], [], call()))
    assert.deepStrictEqual(price.lines.map((l) => Money.format(l.amount)), ["0.00025", "0.00014"])
    assert.strictEqual(Money.format(price.total), "0.00039")
  })

  it("a list price ignores the cost: 1000 x 2/1M + 200 x 8/1M = 0.002 + 0.0016 = 0.0036 EUR", () => {
    const list = rule({ kind: "list-price", rates: { inputText: d("2"), outputText: d("8") }, currency: "EUR" })
    const price = priced(SalePrice.price([list], [], call()))
    assert.strictEqual(Money.format(price.total), "0.0036")
    assert.strictEqual(price.currency, "EUR")
    // An unpriced cost (unknown model) is still sold at list, from the token counts.
    const unknown = priced(SalePrice.price([list], [], call({ costTotal: null, costCurrency: null, costLines: null, modelKey: null })))
    assert.strictEqual(Money.format(unknown.total), "0.0036")
    assert.deepStrictEqual(unknown.lines.map((l) => l.cost), [null, null])
  })

  it("names what it cannot price: no rule, no cost to mark up, a component without a list rate, another currency", () => {
    const none = SalePrice.price([], [], call())
    assert.deepStrictEqual(none, { _tag: "Unpriced", plan: null, ruleId: null, reason: "no sale price rule applies to this call" })
    const noCost = SalePrice.price([rule({ kind: "markup-percent", percent: d("10") })], [], call({ costTotal: null, costLines: null }))
    assert.strictEqual(noCost._tag === "Unpriced" && noCost.reason, "the call has no cost to mark up")
    const noRate = SalePrice.price([rule({ kind: "list-price", rates: { inputText: d("2") }, currency: "USD" })], [], call())
    assert.strictEqual(noRate._tag === "Unpriced" && noRate.reason, "the rule has no list rate for \"outputText\"")
    const eur = SalePrice.price([rule({ kind: "markup-per-unit", perUnit: d("1"), currency: "EUR" })], [], call())
    assert.strictEqual(eur._tag === "Unpriced" && eur.reason, "the rule is in EUR but the call's cost is in USD")
  })

  it("a provider-priced call without Tally's lines is marked up as one cost line", () => {
    const price = priced(SalePrice.price([rule({ kind: "markup-percent", percent: d("50") })], [], call({ costLines: null, costTotal: d("0.01") })))
    assert.deepStrictEqual(price.lines.map((l) => [l.component, Money.format(l.quantity), l.unit, Money.format(l.amount)]), [["cost", "1", "call", "0.015"]])
  })

  it("the most specific rule in effect wins: customer, then plan, then everyone; model before provider; later effectiveFrom", () => {
    const everyone = rule({ id: "everyone", kind: "markup-percent", percent: d("10") })
    const provider = rule({ id: "provider", kind: "markup-percent", percent: d("11"), provider: "openai" })
    const model = rule({ id: "model", kind: "markup-percent", percent: d("12"), model: "gpt-4o-mini" })
    const plan = rule({ id: "plan", kind: "markup-percent", percent: d("20"), plan: "pro" })
    const customer = rule({ id: "customer", kind: "markup-percent", percent: d("30"), customer: "globex" })
    const later = rule({ id: "customer-feb", kind: "markup-percent", percent: d("40"), customer: "globex", effectiveFrom: feb })
    const plans = [{ customer: "globex", plan: "pro", effectiveFrom: jan }]
    const pick = (rules: ReadonlyArray<SalePrice.Rule>, input = call()) => SalePrice.select(rules, input, SalePrice.planOf(plans, input.customer, input.at))?.id
    assert.strictEqual(pick([everyone, provider]), "provider")
    assert.strictEqual(pick([everyone, provider, model]), "model")
    assert.strictEqual(pick([model, plan]), "plan")
    assert.strictEqual(pick([plan, customer, later]), "customer")
    assert.strictEqual(pick([plan, customer, later], call({ at: Date.UTC(2026, 1, 2) })), "customer-feb")
    assert.strictEqual(pick([plan, customer], call({ customer: "initech" })), undefined)
    // A model pattern with a trailing * matches the reported model by prefix.
    assert.strictEqual(pick([everyone, rule({ id: "prefix", kind: "markup-percent", percent: d("1"), model: "gpt-4o-mini-2024*" })]), "prefix")
    // Not yet in effect, or ended.
    assert.strictEqual(pick([rule({ id: "ended", kind: "markup-percent", percent: d("1"), effectiveTo: jan + 1 })]), undefined)
  })

  it("a customer's plan is the latest assignment in effect at the call's time", () => {
    const plans = [
      { customer: "globex", plan: "starter", effectiveFrom: jan },
      { customer: "globex", plan: "pro", effectiveFrom: feb }
    ]
    assert.strictEqual(SalePrice.planOf(plans, "globex", jan - 1), null)
    assert.strictEqual(SalePrice.planOf(plans, "globex", jan + 5), "starter")
    assert.strictEqual(SalePrice.planOf(plans, "globex", feb), "pro")
    assert.strictEqual(SalePrice.planOf(plans, null, feb), null)
  })

  it("checks rule input: the amount each kind needs, one audience, dates in order", () => {
    const base = { name: "r", kind: "markup-percent" as const, effectiveFrom: { epochMilliseconds: jan } as never }
    assert.strictEqual(SalePrice.checkInput({ ...base })?.field, "percent")
    assert.strictEqual(SalePrice.checkInput({ ...base, percent: d("5"), perUnit: d("1") })?.field, "perUnit")
    assert.strictEqual(SalePrice.checkInput({ ...base, percent: d("5"), customer: "a", plan: "b" })?.field, "plan")
    assert.strictEqual(SalePrice.checkInput({ ...base, percent: d("5"), currency: "USD" })?.field, "currency")
    assert.strictEqual(SalePrice.checkInput({ ...base, kind: "list-price", rates: {}, currency: "USD" })?.field, "rates")
    assert.strictEqual(SalePrice.checkInput({ ...base, kind: "markup-per-unit", perUnit: d("1") })?.field, "currency")
    assert.strictEqual(
      SalePrice.checkInput({ ...base, percent: d("5"), effectiveTo: { epochMilliseconds: jan } as never })?.message,
      "effectiveTo: expected a time after effectiveFrom"
    )
    assert.strictEqual(SalePrice.checkInput({ ...base, percent: d("5") }), undefined)
  })

  const quantity = fc.integer({ min: 0, max: 5_000_000 }).map(String)
  const lines = fc.array(
    fc.tuple(fc.constantFrom("inputText", "outputText", "cacheRead", "reasoning"), quantity, decimalString(1, 9)),
    { minLength: 1, maxLength: 6 }
  ).map((list) => list.map(([c, q, p], i) => line(`${c}${i}`, q, p)))
  const rules = fc.oneof(
    decimalString(300, 4).map((p) => rule({ kind: "markup-percent", percent: d(p) })),
    decimalString(50, 6).map((u) => rule({ kind: "markup-per-unit", perUnit: d(u), currency: "USD" }))
  )

  it("property: the price lines sum to the price total and the cost lines to the cost, for every markup", () => {
    fc.assert(
      fc.property(lines, rules, (costLines, r) => {
        const costTotal = Money.sum(costLines.map((l) => l.amount))
        const price = priced(SalePrice.price([r], [], call({ costLines, costTotal })))
        assert.isTrue(Money.sum(price.lines.map((l) => l.amount)).equals(price.total))
        assert.isTrue(Money.sum(price.lines.map((l) => l.cost!)).equals(costTotal))
        for (const l of price.lines) assert.isTrue(l.quantity.times(l.unitPrice).equals(l.amount))
        if (r.kind === "markup-percent") assert.isTrue(price.total.equals(costTotal.times(Money.ONE.plus(r.percent!.div(100)))))
        else assert.isTrue(price.total.minus(costTotal).equals(Money.sum(costLines.map((l) => l.quantity)).times(r.perUnit!).div(1_000_000)))
      })
    )
  })

  it("property: a list price is quantity x rate per line, whatever the cost", () => {
    fc.assert(
      fc.property(lines, decimalString(100, 6), (costLines, rate) => {
        const rates = Object.fromEntries(costLines.map((l) => [l.component, d(rate)]))
        const price = priced(SalePrice.price([rule({ kind: "list-price", rates, currency: "USD" })], [], call({ costLines, costTotal: Money.sum(costLines.map((l) => l.amount)) })))
        assert.isTrue(Money.sum(price.lines.map((l) => l.amount)).equals(price.total))
        assert.isTrue(price.total.equals(Money.sum(costLines.map((l) => l.quantity)).times(d(rate)).div(1_000_000)))
      })
    )
  })
})
