/**
 * Exchange rates and conversion into the reporting currency on a real database: rates entered and
 * imported as dated data, a period's spend converted at each call's day's rate with hand-computed
 * amounts, a rate added later producing a new (recorded) conversion while the old one stays, and
 * the usage FOCUS export converted with the originals kept in the PricingCurrency columns.
 */
import { assert, describe, layer } from "@effect/vitest"
import type { Fx} from "@tally/core";
import { Money } from "@tally/core"
import { Effect, Layer, Stream } from "effect"
import * as Chargeback from "../src/chargeback/index.ts"
import * as Currencies from "../src/Currencies.ts"
import { call, euroModel, insert, layer as chargebackLayer, layerOptions, newTenant, utc } from "./ChargebackSupport.ts"
import * as FocusSpec from "./FocusSpec.ts"
import { backend } from "./TestStore.ts"

const testLayer = Layer.provideMerge(Currencies.Currencies.layer, chargebackLayer)

const march = { from: utc("2025-03-01T00:00:00Z"), to: utc("2025-04-01T00:00:00Z") }

// EUR calls priced by `euroModel` (2 EUR / 1M input, 6 EUR / 1M output), a USD call by gpt-4o (2.50 / 10).
const calls = [
  // 1,000,000 x 2/1M + 500,000 x 6/1M = 2 + 3 = 5 EUR on 2 March
  call({ requestId: "e1", at: "2025-03-02T10:00:00Z", snapshot: euroModel, labels: { team: "search" }, tokens: { inputText: 1_000_000, outputText: 500_000 } }),
  // 250,000 x 2/1M + 100,000 x 6/1M = 0.5 + 0.6 = 1.1 EUR on 3 March
  call({ requestId: "e2", at: "2025-03-03T09:00:00Z", snapshot: euroModel, labels: { team: "chat" }, tokens: { inputText: 250_000, outputText: 100_000 } }),
  // 1,000,000 x 2.50/1M + 100,000 x 10/1M = 2.5 + 1 = 3.5 USD on 2 March
  call({ requestId: "u1", at: "2025-03-02T11:00:00Z", labels: { team: "search" }, tokens: { inputText: 1_000_000, outputText: 100_000 } })
]

const ratesCsv = "base,quote,date,rate,observedAt\nEUR,USD,2025-03-02,1.08,2025-03-02T16:00:00Z\nEUR,USD,2025-03-03,1.0825,2025-03-03T16:00:00Z\n"

describe(`currencies on ${backend}`, () => {
  layer(testLayer, layerOptions)((it) => {
    it.effect("a period's spend is converted at each call's day's rate; a later rate makes a new conversion, the old one stays", () =>
      Effect.gen(function*() {
        const fx = yield* Currencies.Currencies
        const tenantId = yield* newTenant({ currency: "USD" })
        yield* insert(tenantId, calls)
        const imported = yield* fx.import(tenantId, ratesCsv, "csv", { source: "ECB reference rates", by: "ops" })
        assert.deepStrictEqual(imported.map((r) => [r.date, Money.format(r.rate), r.source, r.recordedBy]), [
          ["2025-03-02", "1.08", "ECB reference rates", "ops"],
          ["2025-03-03", "1.0825", "ECB reference rates", "ops"]
        ])
        assert.strictEqual(imported[0]!.observedAt, "2025-03-02T16:00:00.000Z")

        const first = yield* fx.convert(tenantId, { ...march, dimension: "team", by: "ops" })
        // search: 3.5 USD + 5 EUR x 1.08 = 3.5 + 5.4 = 8.9; chat: 1.1 EUR x 1.0825 = 1.19075
        const byOwner = new Map(first.owners.map((o) => [o.owner, o]))
        assert.strictEqual(Money.format(byOwner.get("search")!.converted), "8.9")
        assert.deepStrictEqual(byOwner.get("search")!.original.map((o) => [o.currency, Money.format(o.amount)]), [["EUR", "5"], ["USD", "3.5"]])
        assert.strictEqual(Money.format(byOwner.get("chat")!.converted), "1.19075")
        assert.strictEqual(Money.format(first.conversion.total), "10.09075")
        assert.deepStrictEqual([...first.conversion.rateIds].sort(), imported.map((r) => r.id).sort())

        // A corrected rate for 2 March, recorded later: a new rate, nothing rewritten.
        const [corrected] = yield* fx.add(tenantId, [{ base: "EUR", quote: "USD", date: "2025-03-02", rate: "1.09", source: "manual correction" }], "ops")
        const second = yield* fx.convert(tenantId, { ...march, dimension: "team" })
        // search: 3.5 + 5 x 1.09 = 8.95; total 8.95 + 1.19075 = 10.14075
        assert.strictEqual(Money.format(second.conversion.total), "10.14075")
        assert.include(second.conversion.rateIds, corrected!.id)
        const recorded = yield* fx.conversions(tenantId, first.conversion.subject)
        assert.deepStrictEqual(recorded.map((c) => Money.format(c.total)), ["10.09075", "10.14075"])
        assert.deepStrictEqual(recorded[0]!.days, first.conversion.days)
        // As of the first conversion's instant, the same rates and the same total.
        const again = yield* fx.convert(tenantId, { ...march, dimension: "team", asOf: utc(first.conversion.asOf) })
        assert.strictEqual(Money.format(again.conversion.total), "10.09075")
        const all = yield* fx.rates(tenantId, { base: "EUR", quote: "USD" })
        assert.deepStrictEqual(all.map((r) => Money.format(r.rate)), ["1.08", "1.09", "1.0825"])
      }))

    it.effect("the usage FOCUS export converts other-currency calls and keeps the originals; a day without a rate is named", () =>
      Effect.gen(function*() {
        const fx = yield* Currencies.Currencies
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant({ currency: "USD" })
        yield* insert(tenantId, calls)
        const missing = yield* Effect.flip(service.usage(tenantId, { ...march, convert: true }))
        assert.strictEqual(missing.message, "convert: no EUR->USD exchange rate for 2025-03-02: add one (tally fx add or fx import)")
        yield* fx.import(tenantId, ratesCsv, "csv", { source: "ECB" })
        const { csv } = yield* service.usage(tenantId, { ...march, convert: true })
        const { header, rows } = FocusSpec.parseCsv((yield* Stream.runCollect(csv)).join(""))
        assert.deepStrictEqual(FocusSpec.problems(header, rows, "1.3"), [])
        assert.isTrue(rows.every((r) => r["BillingCurrency"] === "USD"))
        const of = (id: string) => rows.filter((r) => r["x_RequestId"] === id)
        assert.strictEqual(Money.format(FocusSpec.total(of("e1"), "BilledCost")), "5.4")
        assert.strictEqual(Money.format(FocusSpec.total(of("e1"), "PricingCurrencyEffectiveCost")), "5")
        assert.strictEqual(Money.format(FocusSpec.total(of("e2"), "BilledCost")), "1.19075")
        assert.strictEqual(Money.format(FocusSpec.total(of("u1"), "BilledCost")), "3.5")
        const input = of("e1").find((r) => r["SkuMeter"] === "inputText")!
        assert.deepStrictEqual(
          [input["PricingCurrency"], input["PricingCurrencyListUnitPrice"], input["ListUnitPrice"], input["x_ExchangeRate"], input["x_ExchangeRateDate"]],
          ["EUR", "2", "2.16", "1.08", "2025-03-02"]
        )
        // Unconverted, the EUR calls stay in EUR.
        const plain = yield* service.usage(tenantId, march)
        const plainRows = FocusSpec.parseCsv((yield* Stream.runCollect(plain.csv)).join("")).rows
        assert.deepStrictEqual([...new Set(plainRows.map((r) => r["BillingCurrency"]))].sort(), ["EUR", "USD"])
      }))

    it.effect("bad rates are refused by field, and a conversion needs every day's rate", () =>
      Effect.gen(function*() {
        const fx = yield* Currencies.Currencies
        const tenantId = yield* newTenant({ currency: "USD" })
        const bad = yield* Effect.flip(fx.add(tenantId, [{ base: "EUR", quote: "USD", date: "2025-03-32", rate: "1.1", source: "x" }]))
        assert.strictEqual(bad._tag, "InvalidRate")
        assert.strictEqual((bad as Fx.InvalidRate).field, "date")
        const badFile = yield* Effect.flip(fx.import(tenantId, "[{\"base\":\"EUR\",\"quote\":\"USD\",\"date\":\"2025-03-02\",\"rate\":\"-2\",\"source\":\"x\"}]", "json"))
        assert.strictEqual((badFile as Fx.InvalidRate).field, "rates[0].rate")
        assert.deepStrictEqual(yield* fx.rates(tenantId), [])
        yield* insert(tenantId, calls)
        yield* fx.add(tenantId, [{ base: "EUR", quote: "USD", date: "2025-03-02", rate: "1.08", source: "x" }])
        const missing = yield* Effect.flip(fx.convert(tenantId, march))
        assert.deepStrictEqual([missing._tag, (missing as Fx.RateMissing).date], ["RateMissing", "2025-03-03"])
        assert.deepStrictEqual(yield* fx.conversions(tenantId), [])
      }))
  })
})
