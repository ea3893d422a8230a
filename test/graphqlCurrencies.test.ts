/**
 * Exchange rates and conversions through GraphQL over real HTTP: rates imported and entered, a
 * period's EUR and USD spend converted into the tenant's USD with hand-computed amounts, the
 * conversion recorded, and bad input answered as InvalidInput naming the field.
 */
import { describe, expect, it } from "vitest"
import { call, euroModel } from "../packages/engine/test/ChargebackSupport.ts"
import { UsageLedger } from "../packages/store/src/index.ts"
import { client, newTenant } from "./support/Graphql.ts"
import { inProcessWorker, targets } from "./support/Worker.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

describe.each(targets)("GraphQL currencies on %s", (target) => {
  const worker = inProcessWorker(target)

  it("imports and adds rates, converts a period's spend at each day's rate, and keeps each conversion", async () => {
    const tenant = await newTenant(worker.server, { name: "FX GraphQL", currency: "USD" })
    // 5 EUR on 2 March (euroModel: 2 / 6 EUR per 1M), 3.5 USD on 2 March (gpt-4o: 2.50 / 10 USD per 1M).
    await worker.server.run(UsageLedger.UsageLedger.use((l) =>
      l.insertBatch(tenant.id, [
        call({ requestId: "e1", at: "2025-03-02T10:00:00Z", snapshot: euroModel, labels: { customer: "globex" }, tokens: { inputText: 1_000_000, outputText: 500_000 } }),
        call({ requestId: "u1", at: "2025-03-02T11:00:00Z", labels: { customer: "initech" }, tokens: { inputText: 1_000_000, outputText: 100_000 } })
      ])
    ))
    const admin = client(worker.server, tenant.admin)
    const imported: Json = await admin.request(`mutation($text: String!) {
      importExchangeRates(format: CSV, text: $text, source: "ECB") { __typename ... on MutationImportExchangeRatesSuccess { data { id base quote date rate source recordedBy } } }
      bad: addExchangeRates(rates: [{ base: "EUR", quote: "USD", date: "2025-03-02", rate: "0", source: "x" }]) { __typename ... on InvalidInput { field message } }
    }`, { text: "base,quote,date,rate\nEUR,USD,2025-03-02,1.08\n" })
    const [rate] = imported.importExchangeRates.data
    expect(rate).toMatchObject({ base: "EUR", quote: "USD", date: "2025-03-02", rate: "1.08", source: "ECB" })
    expect(imported.bad).toEqual({ __typename: "InvalidInput", field: "rate", message: "rate: expected a rate above 0, got 0" })
    const converted: Json = await admin.request(`mutation {
      convertSpend(from: "2025-03-01T00:00:00Z", to: "2025-04-01T00:00:00Z", dimension: "customer") {
        ... on SpendConversion { conversion { subject total reportingCurrency rateIds days { date currency owner amount rate converted } } owners { owner original { amount currency } converted { amount currency } } }
      }
    }`)
    const { conversion, owners } = converted.convertSpend
    // 5 EUR x 1.08 = 5.4 USD, plus 3.5 USD: 8.9 USD.
    expect(conversion.total).toBe("8.9")
    expect(conversion.rateIds).toEqual([rate.id])
    expect(owners).toEqual([
      { owner: "globex", original: [{ amount: "5", currency: "EUR" }], converted: { amount: "5.4", currency: "USD" } },
      { owner: "initech", original: [{ amount: "3.5", currency: "USD" }], converted: { amount: "3.5", currency: "USD" } }
    ])
    // A corrected rate is a new rate; the recorded conversion stays as it was.
    await admin.request(`mutation { addExchangeRates(rates: [{ base: "EUR", quote: "USD", date: "2025-03-02", rate: "1.1", source: "manual" }]) { __typename } }`)
    const again: Json = await admin.request(`mutation { convertSpend(from: "2025-03-01T00:00:00Z", to: "2025-04-01T00:00:00Z", dimension: "customer") { ... on SpendConversion { conversion { total } } } }`)
    expect(again.convertSpend.conversion.total).toBe("9")
    const read: Json = await client(worker.server, tenant.read).request(`query($subject: String) {
      currencyConversions(subject: $subject) { ... on QueryCurrencyConversionsSuccess { data { total createdBy } } }
      exchangeRates(base: "EUR") { ... on QueryExchangeRatesSuccess { data { rate } } }
    }`, { subject: conversion.subject })
    expect(read.currencyConversions.data.map((c: Json) => c.total)).toEqual(["8.9", "9"])
    expect(read.exchangeRates.data.map((r: Json) => r.rate)).toEqual(["1.08", "1.1"])
  })
})
