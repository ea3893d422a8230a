import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Money from "../src/Money.ts"
import * as UsageQuery from "../src/UsageQuery.ts"

const at = (iso: string) => DateTime.makeUnsafe(iso)
const day: UsageQuery.UsageQuery = { from: at("2025-03-01T00:00:00Z"), to: at("2025-03-02T00:00:00Z"), granularity: "hour" }
const fieldOf = (query: UsageQuery.UsageQuery) => UsageQuery.validate(query)?.field

describe("UsageQuery", () => {
  it("a query over a non-empty range with sane groups is valid", () => {
    assert.isUndefined(UsageQuery.validate({ ...day, groupBy: ["team", "model"], groupByTags: ["env"], filter: { team: ["core", ""] }, timeZone: "Asia/Kolkata" }))
  })

  it("each bad part names its field, and the message starts with it", () => {
    assert.strictEqual(fieldOf({ ...day, to: day.from }), "to")
    assert.strictEqual(fieldOf({ ...day, to: at("2027-03-01T00:00:00Z") }), "granularity")
    assert.strictEqual(fieldOf({ ...day, groupBy: ["team", "team"] }), "groupBy")
    assert.strictEqual(fieldOf({ ...day, groupByTags: ["a", "b", "c", "d", "e", "f"] }), "groupByTags")
    assert.strictEqual(fieldOf({ ...day, groupByTags: [""] }), "groupByTags")
    assert.strictEqual(fieldOf({ ...day, filter: { customer: [] } }), "filter.customer")
    const zone = UsageQuery.validate({ ...day, timeZone: "Mars/Olympus" })
    assert.strictEqual(zone?.field, "timeZone")
    assert.isTrue(zone?.message.startsWith("timeZone: "))
  })

  it("spend is kept per currency, ordered by code, never summed across currencies", () => {
    const spend: Array<UsageQuery.Amount> = []
    UsageQuery.addSpend(spend, "USD", new Money.Decimal("1.5"))
    UsageQuery.addSpend(spend, "EUR", new Money.Decimal("2"))
    UsageQuery.addSpend(spend, "USD", new Money.Decimal("0.25"))
    assert.deepStrictEqual(spend.map((s) => [s.currency, Money.format(s.amount)]), [["EUR", "2"], ["USD", "1.75"]])
  })

  it("empty measures count every token bucket as zero", () => {
    const empty = UsageQuery.emptyMeasures()
    assert.strictEqual(Object.keys(empty.tokens).length, 17)
    assert.isTrue(Object.values(empty.tokens).every((n) => n === 0))
    assert.deepStrictEqual(UsageQuery.measureNames.slice(0, 6), ["requests", "estimatedRequests", "unpricedRequests", "partialRequests", "spend", "inputText"])
  })
})
