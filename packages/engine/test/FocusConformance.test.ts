/**
 * FOCUS 1.3 (default) and 1.2 conformance of the chargeback and usage exports, checked by `FocusSpec.ts` (written
 * from the specification) on the CSV as a consumer reads it: mandatory columns, allowed values,
 * formats, ListUnitPrice x PricingQuantity = ListCost, and costs that sum to the run's total.
 */
import { assert, describe, layer } from "@effect/vitest"
import { CostAllocation, Money } from "@tally/core"
import { ChargebackLedger, ChargebackRuns } from "@tally/store"
import { Effect, Result, Stream } from "effect"
import * as Chargeback from "../src/chargeback/index.ts"
import { call, claude, costOf, dec, insert, layer as chargebackLayer, layerOptions, newTenant, sum, utc } from "./ChargebackSupport.ts"
import * as FocusSpec from "./FocusSpec.ts"
import { backend } from "./TestStore.ts"

const march = { from: utc("2025-03-01T00:00:00Z"), to: utc("2025-04-01T00:00:00Z") }
const april = { from: utc("2025-04-01T00:00:00Z"), to: utc("2025-05-01T00:00:00Z") }

const calls = [
  call({ requestId: "a1", at: "2025-03-02T10:00:00Z", labels: { team: "search", project: "web" }, tags: { env: "prod" }, tokens: { inputText: 123_457, outputText: 3_001, cacheRead: 999 } }),
  call({ requestId: "a2", at: "2025-03-05T11:00:00Z", labels: { team: "search" }, snapshot: claude, tokens: { inputText: 10_001, cacheRead: 5_003, cacheWrite5m: 77, outputText: 2_005 } }),
  call({ requestId: "b1", at: "2025-03-07T12:00:00Z", labels: { team: "chat" }, tokens: { inputText: 40_013, outputText: 1_019 }, webSearches: 7 }),
  call({ requestId: "b2", at: "2025-03-07T13:00:00Z", labels: { team: "chat" }, costSource: "provider", reportedCost: "0.0123456" }),
  call({ requestId: "p1", at: "2025-03-10T14:00:00Z", labels: { team: "platform" }, tokens: { inputText: 55_555, outputText: 4_444 } }),
  call({ requestId: "u1", at: "2025-03-11T15:00:00Z", tokens: { inputText: 33_333, outputText: 1_111 } }),
  call({ requestId: "u2", at: "2025-03-12T16:00:00Z", snapshot: claude, tokens: { inputText: 1_001, outputText: 7 } }),
  call({ requestId: "x1", at: "2025-03-15T19:00:00Z", labels: { team: "search" }, costSource: "unpriced" })
]

const byLine = (rows: ReadonlyArray<FocusSpec.Row>) => {
  const out = new Map<string, Array<FocusSpec.Row>>()
  for (const row of rows) out.set(row["x_LineNo"]!, [...(out.get(row["x_LineNo"]!) ?? []), row])
  return out
}

const versions = CostAllocation.Focus.versions

const focusCsv = (service: Chargeback.ChargebackService, tenantId: string, runId: string, version: CostAllocation.Focus.Version = "1.3") =>
  Effect.map(service.focus(tenantId, runId, { version }), ({ rows, run }) => ({ run, ...FocusSpec.parseCsv(CostAllocation.Csv.focus(rows, version)) }))

describe(`FOCUS exports on ${backend}`, () => {
  layer(chargebackLayer, layerOptions)((it) => {
    it.effect("a run's FOCUS rows conform, and their billed costs sum to the run's total line by line", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant({ name: "Focus, \"Inc\"" })
        yield* insert(tenantId, calls)
        for (const [rule, shared] of [
          [{ kind: "proportional" }, ["platform"]],
          [{ kind: "even" }, []],
          [{ kind: "fixed", shares: { search: dec("12.5"), chat: dec("12.5"), finance: dec("75") } }, ["platform"]],
          [{ kind: "none" }, ["platform"]]
        ] as const) {
          const run = yield* service.run(tenantId, { ...march, dimension: "team", rule, shared })
          for (const version of versions) {
          const { header, rows } = yield* focusCsv(service, tenantId, run.id, version)
          assert.deepStrictEqual(FocusSpec.problems(header, rows, version), [], `${rule.kind} ${version}`)
          if (version === "1.3") {
            for (const row of rows) {
              assert.strictEqual(row["ServiceProviderName"], row["ProviderName"])
              assert.strictEqual(row["PricingCurrency"], "USD")
              if (row["ConsumedUnit"] === "Tokens") assert.strictEqual(row["x_TokenQuantity"], row["ConsumedQuantity"])
            }
          } else assert.isFalse(header.includes("ServiceProviderName"))
          assert.isTrue(FocusSpec.total(rows, "BilledCost").equals(run.total), rule.kind)
          assert.isTrue(FocusSpec.total(rows, "EffectiveCost").equals(run.total), rule.kind)
          const lines = byLine(rows)
          for (const line of run.lines) {
            if (line.amount.isZero() && !lines.has(String(line.lineNo))) continue
            assert.isTrue(FocusSpec.total(lines.get(String(line.lineNo)) ?? [], "BilledCost").equals(line.amount), `${rule.kind} line ${line.lineNo}`)
          }
          // Quantities are conserved: every token of every component lands on exactly one row.
          const tokens = (rs: ReadonlyArray<FocusSpec.Row>) =>
            FocusSpec.total(rs.filter((r) => r["ConsumedUnit"] === "Tokens"), "ConsumedQuantity")
          const ledgerTokens = sum(calls.filter((c) => c.costSource === "computed").flatMap((c) => Object.values(c.usage.tokens).map((n) => new Money.Decimal(n ?? 0))))
          assert.isTrue(tokens(rows).equals(ledgerTokens), rule.kind)
          for (const row of rows) {
            assert.strictEqual(row["ServiceCategory"], "AI and Machine Learning")
            assert.strictEqual(row["ServiceSubcategory"], "Generative AI")
            assert.strictEqual(row["x_RunId"], run.id)
            assert.strictEqual(row["BillingAccountName"], "Focus, \"Inc\"")
            if (row["ConsumedUnit"] === "Tokens") assert.strictEqual(row["PricingUnit"], "1000000 Tokens")
          }
          if (rule.kind === "none") {
            assert.isAbove(rows.filter((r) => r["x_LineKind"] === "unallocated").length, 0)
          }
          }
        }
      }))

    it.effect("late usage shows up as Correction rows charged in the next run for the corrected period", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant()
        yield* insert(tenantId, calls)
        const marchRun = yield* service.run(tenantId, { ...march, dimension: "team", shared: ["platform"] })
        yield* service.finalize(tenantId, marchRun.id)
        const late = call({ requestId: "late", at: "2025-03-30T10:00:00Z", labels: { team: "chat" }, tokens: { inputText: 500_000, outputText: 20_000 } })
        yield* insert(tenantId, [late, call({ requestId: "apr", at: "2025-04-02T10:00:00Z", labels: { team: "search" } })])
        const aprilRun = yield* service.run(tenantId, { ...april, dimension: "team", shared: ["platform"] })
        // 1.3: ledger style, a reversal of what the final run charged the owner and the corrected charge.
        const ledger = yield* focusCsv(service, tenantId, aprilRun.id, "1.3")
        assert.deepStrictEqual(FocusSpec.problems(ledger.header, ledger.rows, "1.3"), [])
        assert.isTrue(FocusSpec.total(ledger.rows, "BilledCost").equals(aprilRun.total))
        for (const line of aprilRun.lines.filter((l) => l.kind === "correction")) {
          const entries = ledger.rows.filter((r) => r["x_LineNo"] === String(line.lineNo))
          assert.deepStrictEqual(entries.map((r) => r["x_CorrectionEntry"]), ["reversal", "corrected"])
          const charged = marchRun.lines.filter((l) => l.kind !== "correction" && l.owner === line.owner).map((l) => l.amount)
          assert.isTrue(new Money.Decimal(entries[0]!["BilledCost"]!).equals(sum(charged).negated()), `reversal of ${line.owner}`)
          assert.isTrue(new Money.Decimal(entries[1]!["BilledCost"]!).equals(sum(charged).plus(line.amount)), `corrected ${line.owner}`)
        }
        const { header, rows } = yield* focusCsv(service, tenantId, aprilRun.id, "1.2")
        assert.deepStrictEqual(FocusSpec.problems(header, rows, "1.2"), [])
        const corrections = rows.filter((r) => r["ChargeClass"] === "Correction")
        assert.isAbove(corrections.length, 0)
        for (const row of corrections) {
          assert.strictEqual(row["ChargeCategory"], "Usage")
          assert.strictEqual(row["ChargePeriodStart"], "2025-03-01T00:00:00Z")
          assert.strictEqual(row["ChargePeriodEnd"], "2025-04-01T00:00:00Z")
          assert.strictEqual(row["BillingPeriodStart"], "2025-04-01T00:00:00Z")
          assert.strictEqual(row["x_CorrectedRunId"], marchRun.id)
        }
        assert.isTrue(FocusSpec.total(rows, "BilledCost").equals(aprilRun.total))
        // The March run's own export never changes: it is read as of the run's instant.
        const marchAgain = yield* focusCsv(service, tenantId, marchRun.id)
        assert.isTrue(FocusSpec.total(marchAgain.rows, "BilledCost").equals(marchRun.total))
        // Its quantities are those of the calls it charged; the late call's tokens are not among them.
        const computedTokens = sum(calls.filter((c) => c.costSource === "computed").flatMap((c) => Object.values(c.usage.tokens).map((n) => new Money.Decimal(n ?? 0))))
        assert.isTrue(FocusSpec.total(marchAgain.rows.filter((r) => r["ConsumedUnit"] === "Tokens"), "ConsumedQuantity").equals(computedTokens))
        // The export read the cost groups stored with the run (from the daily cost summary): the
        // ledger's as of the run's instant, exactly, though the ledger has the late call now.
        const team = Result.getOrThrow(CostAllocation.Dimension.parse("team"))
        const plain = (groups: ReadonlyArray<CostAllocation.Focus.CostGroup>) =>
          groups.map((g) => ({ ...g, listRate: Money.format(g.listRate), unitPrice: Money.format(g.unitPrice), quantity: Money.format(g.quantity), amount: Money.format(g.amount), billed: Money.format(g.billed) }))
        const stored = yield* ChargebackRuns.ChargebackRuns.use((runs) => runs.costGroups(tenantId, marchRun.id)).pipe(Effect.provide(ChargebackRuns.ChargebackRuns.layer))
        const fromLedger = yield* ChargebackLedger.ChargebackLedger.use((ledger) =>
          ledger.costGroups(tenantId, { ...march, dimension: team, asOf: marchRun.asOf, currency: "USD", source: "ledger" })
        ).pipe(Effect.provide(ChargebackLedger.ChargebackLedger.layer))
        assert.isDefined(stored)
        assert.deepStrictEqual(plain(stored!), plain(fromLedger))
      }))

    it.effect("the usage export lists every priced call's cost lines with its request id, exact and conformant", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant()
        yield* insert(tenantId, calls)
        const old = yield* service.usage(tenantId, { ...march, pageSize: 3, version: "1.2" })
        const oldRows = FocusSpec.parseCsv((yield* Stream.runCollect(old.csv)).join(""))
        assert.deepStrictEqual(FocusSpec.problems(oldRows.header, oldRows.rows, "1.2"), [])
        assert.isTrue(FocusSpec.total(oldRows.rows, "BilledCost").equals(sum(calls.filter((c) => c.costSource !== "unpriced").map(costOf))))
        const { csv, unpriced } = yield* service.usage(tenantId, { ...march, pageSize: 3 })
        const text = (yield* Stream.runCollect(csv)).join("")
        const { header, rows } = FocusSpec.parseCsv(text)
        assert.deepStrictEqual(FocusSpec.problems(header, rows, "1.3"), [])
        assert.strictEqual(unpriced, 1)
        const priced = calls.filter((c) => c.costSource !== "unpriced")
        assert.deepStrictEqual([...new Set(rows.map((r) => r["x_RequestId"]))].sort(), priced.map((c) => c.requestId).sort())
        assert.isTrue(FocusSpec.total(rows, "BilledCost").equals(sum(priced.map(costOf))))
        for (const c of priced) {
          const own = rows.filter((r) => r["x_RequestId"] === c.requestId)
          assert.isTrue(FocusSpec.total(own, "BilledCost").equals(costOf(c)), c.requestId)
        }
        const a1 = rows.find((r) => r["x_RequestId"] === "a1" && r["SkuMeter"] === "inputText")!
        assert.strictEqual(a1["ConsumedQuantity"], "123457")
        assert.strictEqual(a1["PricingQuantity"], "0.123457")
        assert.strictEqual(a1["ListUnitPrice"], "2.5")
        assert.deepStrictEqual(JSON.parse(a1["Tags"]!), { env: "prod", project: "web", team: "search" })
        // Filtered the way a chargeback row's x_Lineage asks: one owner, as of an instant.
        const chat = yield* service.usage(tenantId, { ...march, dimension: "team", owners: ["chat"] })
        const chatRows = FocusSpec.parseCsv((yield* Stream.runCollect(chat.csv)).join("")).rows
        assert.deepStrictEqual([...new Set(chatRows.map((r) => r["x_RequestId"]))].sort(), ["b1", "b2"])
        const pool = yield* service.usage(tenantId, { ...march, dimension: "team", owners: ["platform"], unowned: true })
        const poolRows = FocusSpec.parseCsv((yield* Stream.runCollect(pool.csv)).join("")).rows
        assert.deepStrictEqual([...new Set(poolRows.map((r) => r["x_RequestId"]))].sort(), ["p1", "u1", "u2"])
        const before = yield* service.usage(tenantId, { ...march, asOf: utc("2000-01-01T00:00:00Z") })
        assert.deepStrictEqual(FocusSpec.parseCsv((yield* Stream.runCollect(before.csv)).join("")).rows, [])
      }))
  })
})
