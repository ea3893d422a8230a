/**
 * The FOCUS 1.3 Contract Commitment dataset and the Purchase rows over the worker's HTTP API, on a
 * real database. Figures by hand, March 2026:
 *   pt-4o     provisioned throughput, 2 USD per hour, 2 March 10:00-13:00: 3 hours, 6 USD, a
 *             Recurring Purchase of 6 billed by openai.
 *   acme      credit pack of 5 USD granted 5 March: a Spend row of 5 and a One-Time Purchase of
 *             5 (EffectiveCost 0).
 *   globex    credit pack of 3 USD granted 10 February, still active: a Spend row of 3 (period
 *             clipped to 1 March), no Purchase in March.
 *   tokens    a token grant: no price, left out.
 * Purchases bill 6 + 5 = 11; their EffectiveCost is 6.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenantWithKey } from "../apps/worker/src/cli/commands/Tenant.ts"
import { Money } from "../packages/core/src/index.ts"
import { Commitments, Credits } from "../packages/engine/src/index.ts"
import * as FocusSpec from "../packages/engine/test/FocusSpec.ts"
import { ApiKeys } from "../packages/store/src/index.ts"
import { type InProcess, makeDatabase, request, startInProcess, targets, type TestDatabase, testConfig } from "./support/Worker.ts"
import { Effect, Redacted } from "./support/Workspace.ts"

const period = "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z"

describe.each(targets)("contract commitment exports over HTTP on %s", (target) => {
  let database: TestDatabase
  let server: InProcess
  let readKey: string
  let otherReadKey: string
  let acmePack: string

  const get = (path: string, key: string = readKey) => request(`${server.url}${path}`, { headers: { authorization: `Bearer ${key}` } })

  beforeAll(async () => {
    database = await makeDatabase(target)
    server = await startInProcess(testConfig(database))
    const created = await server.run(createTenantWithKey({ name: "Commit Co", currency: "USD" }))
    const tenantId = created.tenant.id
    const other = await server.run(createTenantWithKey({ name: "Other Co" }))
    const setup = await server.run(Effect.gen(function*() {
      const apiKeys = yield* ApiKeys.ApiKeys
      const read = yield* apiKeys.create(tenantId, { name: "finops", scopes: ["read"] })
      const otherRead = yield* apiKeys.create(other.tenant.id, { name: "finops", scopes: ["read"] })
      yield* Commitments.create(tenantId, {
        name: "pt-4o",
        kind: "provisioned",
        provider: "openai",
        model: "gpt-4o-2024-08-06",
        currency: "USD",
        fee: "2",
        feePeriod: "hour",
        startsAt: "2026-03-02T10:00:00Z",
        endsAt: "2026-03-02T13:00:00Z"
      })
      const pack = yield* Credits.grant(tenantId, { customer: "acme", unit: "USD", amount: "5", effectiveAt: "2026-03-05T00:00:00Z", note: "pack" })
      yield* Credits.grant(tenantId, { customer: "globex", unit: "USD", amount: "3", effectiveAt: "2026-02-10T00:00:00Z", note: "pack" })
      yield* Credits.grant(tenantId, { customer: "acme", unit: "tokens", amount: "1000000", effectiveAt: "2026-03-05T00:00:00Z" })
      return { read: Redacted.value(read.secret), otherRead: Redacted.value(otherRead.secret), pack: pack.id }
    }))
    readKey = setup.read
    otherReadKey = setup.otherRead
    acmePack = setup.pack
  })

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  it("serves the Contract Commitment dataset of the period", async () => {
    const reply = await get(`/api/v1/exports/commitments?${period}`)
    expect(reply.status).toBe(200)
    expect(reply.headers.get("content-type")).toContain("text/csv")
    const { header, rows } = FocusSpec.parseCsv(reply.text)
    expect(header[0]).toBe("BillingCurrency")
    expect(rows.map((r) => [r["ContractCommitmentId"]?.startsWith("credit:") ? r["ContractCommitmentDescription"] : r["ContractCommitmentId"], r["ContractCommitmentCategory"], r["ContractCommitmentCost"], r["ContractCommitmentQuantity"], r["ContractCommitmentUnit"], r["ContractCommitmentPeriodStart"]])).toEqual([
      ["commitment:pt-4o", "Usage", "6", "3", "Hours", "2026-03-02T10:00:00Z"],
      ["acme pack", "Spend", "5", null, null, "2026-03-05T00:00:00Z"],
      ["globex pack", "Spend", "3", null, null, "2026-03-01T00:00:00Z"]
    ])
    expect(rows[1]!["ContractCommitmentId"]).toBe(`credit:${acmePack}`)
    expect(Money.format(FocusSpec.total(rows, "ContractCommitmentCost"))).toBe("14")
  })

  it("serves the Purchase rows, FOCUS 1.3 without problems", async () => {
    const reply = await get(`/api/v1/exports/commitments?${period}&format=purchases`)
    expect(reply.status).toBe(200)
    const { header, rows } = FocusSpec.parseCsv(reply.text)
    expect(FocusSpec.problems(header, rows, "1.3")).toEqual([])
    expect(rows.map((r) => [r["ChargeCategory"], r["ChargeFrequency"], r["BilledCost"], r["EffectiveCost"], r["SubAccountName"], r["ProviderName"]])).toEqual([
      ["Purchase", "Recurring", "6", "6", null, "openai"],
      ["Purchase", "One-Time", "5", "0", "acme", "Commit Co"]
    ])
    expect(Money.format(FocusSpec.total(rows, "BilledCost"))).toBe("11")
    expect(Money.format(FocusSpec.total(rows, "EffectiveCost"))).toBe("6")
  })

  it("names the bad parameter and keeps tenants apart", async () => {
    const noTo = await get("/api/v1/exports/commitments?from=2026-03-01T00:00:00Z")
    expect(noTo.status).toBe(400)
    expect(noTo.text).toContain("to: required")
    const badFormat = await get(`/api/v1/exports/commitments?${period}&format=xml`)
    expect(badFormat.status).toBe(400)
    expect(badFormat.text).toContain("format: expected dataset or purchases")
    const oldVersion = await get(`/api/v1/exports/commitments?${period}&version=1.2`)
    expect(oldVersion.status).toBe(400)
    expect(oldVersion.text).toContain("FOCUS 1.3 only")
    const other = await get(`/api/v1/exports/commitments?${period}`, otherReadKey)
    expect(other.status).toBe(200)
    expect(FocusSpec.parseCsv(other.text).rows).toEqual([])
  })
})
