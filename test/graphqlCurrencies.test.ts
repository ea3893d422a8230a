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

  it("a cost budget's status counts EUR spend at its day's rate and lists a day without a rate as not converted", async () => {
    const tenant = await newTenant(worker.server, { name: "FX budget GraphQL", currency: "USD" })
    const admin = client(worker.server, tenant.admin)
    // Today and yesterday (UTC), inside the current month unless today is the 1st. "Today" is a
    // minute ago, but never before the month began (the budget counts the current month).
    const now = Date.now()
    const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1)
    const today = new Date(Math.max(now - 60_000, monthStart)).toISOString()
    const yesterday = new Date(now - 86_400_000).toISOString()
    const sameMonth = today.slice(0, 7) === yesterday.slice(0, 7)
    // 5 EUR each (euroModel: 2 / 6 EUR per 1M tokens).
    const tokens = { inputText: 1_000_000, outputText: 500_000 }
    await worker.server.run(UsageLedger.UsageLedger.use((l) =>
      l.insertBatch(tenant.id, [
        call({ requestId: "t1", at: today, snapshot: euroModel, tokens }),
        call({ requestId: "y1", at: yesterday, snapshot: euroModel, tokens })
      ])
    ))
    const created: Json = await admin.request(`mutation($date: String!) {
      createBudget(input: { name: "Month", period: MONTH, amount: "100" }) { ... on Budget { id } }
      addExchangeRates(rates: [{ base: "EUR", quote: "USD", date: $date, rate: "1.1", source: "manual" }]) { __typename }
    }`, { date: today.slice(0, 10) })
    const read: Json = await client(worker.server, tenant.read).request(`{ budget(id: "${created.createBudget.id}") { ... on Budget {
      status { spent spentInCurrency otherCurrencies { amount currency } converted { date currency amount rate converted } notConverted { date currency amount } }
    } } }`)
    const status = read.budget.status
    // 5 EUR x 1.1 = 5.5 USD counted; yesterday's 5 EUR has no rate: listed, not counted.
    expect(status.spent).toBe("5.5")
    expect(status.spentInCurrency).toBe("0")
    expect(status.converted).toEqual([{ date: today.slice(0, 10), currency: "EUR", amount: "5", rate: "1.1", converted: "5.5" }])
    expect(status.notConverted).toEqual(sameMonth ? [{ date: yesterday.slice(0, 10), currency: "EUR", amount: "5" }] : [])
    expect(status.otherCurrencies).toEqual([{ amount: sameMonth ? "10" : "5", currency: "EUR" }])
  })
})
