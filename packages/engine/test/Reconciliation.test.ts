import { assert, describe, it, layer } from "@effect/vitest"
import { Catalog } from "@tally/catalog"
import { Money } from "@tally/core"
import { Costing } from "@tally/pricing"
import { Normalize } from "@tally/providers"
import { Database, ReconciliationRuns, UsageLedger } from "@tally/store"
import { DateTime, Effect, Result } from "effect"
import { Ingest } from "../src/Ingest.ts"
import * as Compare from "../src/reconcile/Compare.ts"
import * as Run from "../src/reconcile/Run.ts"
import { fixture } from "./FixtureFiles.ts"
import { backend, ingestLayer, layerOptions, newTenant, testTimeout } from "./TestStore.ts"

const sse = fixture("openai-chat-stream-include-usage.sse")
const noUsage = fixture("reconcile/stream-without-usage.sse")
const at = "2025-08-06T10:00:00Z"
const period = { from: new Date("2025-08-01T00:00:00Z"), to: new Date("2025-09-01T00:00:00Z") }

const parsed = (format: string, name: string) => {
  const result = Compare.parse(format, fixture(`reconcile/${name}`))
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return result.success
}

describe("provider report formats", () => {
  it("reads OpenAI costs and usage pages, Anthropic cost and usage reports and the generic CSV", () => {
    const costs = parsed("openai-costs", "openai-costs.json")
    assert.deepStrictEqual([costs.provider, costs.rows.length, Money.format(costs.rows[0]!.cost!), costs.rows[0]!.day], ["openai", 1, "0.06", "2024-11-01"])
    const usage = parsed("openai-usage", "openai-usage.json")
    assert.deepStrictEqual([usage.rows[0]!.inputTokens, usage.rows[0]!.outputTokens], [1000, 500])
    const anthropicCost = parsed("anthropic-cost", "anthropic-cost.json")
    // Cents in the report, dollars here: "123.45" cents = 1.2345.
    assert.strictEqual(Money.format(anthropicCost.rows[0]!.cost!), "1.2345")
    assert.strictEqual(anthropicCost.rows[0]!.model, "claude-sonnet-4-20250514")
    assert.strictEqual(anthropicCost.rows[0]!.project, "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ")
    const anthropicUsage = parsed("anthropic-usage", "anthropic-usage.json")
    assert.deepStrictEqual([anthropicUsage.rows[0]!.inputTokens, anthropicUsage.rows[0]!.outputTokens], [1600, 250])
    const csv = parsed("csv", "ledger-vs-provider.csv")
    assert.deepStrictEqual([csv.provider, csv.rows.length, csv.rows[0]!.inputTokens, csv.period.to.toISOString()], ["openai", 2, 1290, "2025-08-07T00:00:00.000Z"])
  })

  it("refuses malformed reports with the problem named", () => {
    const cases: Array<[string, string, RegExp]> = [
      ["csv", "date,model,cost\n2025-13-45x,a,1\n", /line 2: date/],
      ["csv", "date,model,tokens\n", /unknown column "tokens"/],
      ["csv", "date,cost\n2025-08-06,abc\n", /cost "abc" is not a decimal/],
      // An unterminated quote would otherwise swallow the rest of the file into one field.
      ["csv", "date,model,cost\n2025-08-06,\"gpt-4o,1.00\n2025-08-07,gpt-4o,2.00\n", /line 2: unterminated quoted field/],
      ["openai-costs", "{", /not JSON/],
      ["openai-costs", fixture("reconcile/openai-usage.json"), /usage report, expected costs/],
      ["xlsx", "", /unknown format/]
    ]
    for (const [format, content, pattern] of cases) {
      const result = Compare.parse(format, content)
      assert.isTrue(Result.isFailure(result), format)
      if (Result.isFailure(result)) assert.match(result.failure.message, pattern)
    }
  })
})

/** The seeded drift: a normalizer rule changed to count the provider's cached tokens as plain input too. */
const doubleCounting: typeof Normalize.normalize = (input) =>
  Result.map(Normalize.normalize(input), (call) => ({
    ...call,
    usage: { ...call.usage, tokens: { ...call.usage.tokens, inputText: (call.usage.tokens.inputText ?? 0) + (call.usage.tokens.cacheRead ?? 0) } }
  }))

describe(`Reconciliation on ${backend}`, () => {
  layer(ingestLayer, layerOptions)((it) => {
    it.effect("re-derivation catches seeded drift and every named finding; reports compare per day × model × project", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const { book } = yield* Catalog.Catalog
        const tenantId = yield* newTenant()
        const web = { project: "web" }
        const result = yield* ingest.ingest(tenantId, [
          { requestId: "clean", occurredAt: at, provider: "openai", api: "chat.completions", payload: sse, labels: web },
          { requestId: "unmatched", occurredAt: at, provider: "openai", model: "no-such-model-xyz", usage: { tokens: { inputText: 10, outputText: 5 } }, labels: web },
          { requestId: "estimated", occurredAt: at, provider: "openai", api: "chat.completions", payload: noUsage, request: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hi" }] }, labels: web },
          { requestId: "clean", occurredAt: at, provider: "openai", api: "chat.completions", payload: sse.replace("Stream01", "Stream99"), labels: web }
        ])
        assert.deepStrictEqual(result.items.map((i) => i.status), ["inserted", "inserted", "inserted", "conflict"])

        // Rows written by a drifted normalizer, and rows whose figures were tampered with.
        const drifted = doubleCounting({ provider: "openai", api: "chat.completions", payload: sse })
        const call = Result.getOrThrow(drifted)
        const costed = Costing.cost(book, call, { at, scope: { tenant: tenantId } })
        const occurredAt = DateTime.makeUnsafe(at)
        const driftRow = Costing.toUsageRecord(costed, { requestId: "drifted", occurredAt, labels: web, tags: {}, rawText: sse })
        const honest = Costing.toUsageRecord(Costing.cost(book, Result.getOrThrow(Normalize.normalize({ provider: "openai", api: "chat.completions", payload: sse })), { at, scope: { tenant: tenantId } }), {
          requestId: "x",
          occurredAt,
          labels: web,
          tags: {},
          rawText: sse
        })
        const computed = honest.breakdown!.total
        const zero = { ...honest, requestId: "zero-cost", breakdown: { ...honest.breakdown!, lines: honest.breakdown!.lines.map((l) => ({ ...l, amount: Money.ZERO })), total: Money.ZERO }, total: Money.ZERO }
        const reported = computed.plus("0.5")
        const providerPriced = { ...honest, requestId: "provider-priced", costSource: "provider" as const, total: reported, reportedCost: reported, reportedCurrency: "USD", difference: reported.minus(computed) }
        const written = yield* UsageLedger.UsageLedger.use((ledger) => ledger.insertBatch(tenantId, [driftRow, zero, providerPriced]))
        assert.deepStrictEqual(written.items.map((i) => i.status), ["inserted", "inserted", "inserted"])

        const csv = Compare.parse("csv", fixture("reconcile/ledger-vs-provider.csv"))
        const report = yield* Run.run({ tenantId, period, book, reports: [Result.getOrThrow(csv)], whatIf: { at: new Date("2026-01-01T00:00:00Z") } })
        const kinds = (requestId: string | null) => report.findings.filter((f) => f.requestId === requestId).map((f) => f.kind).sort()

        assert.deepStrictEqual(kinds("clean"), ["duplicate-request-id"])
        assert.deepStrictEqual(kinds("drifted"), ["cached-tokens-double-counted", "price-drift"])
        assert.deepStrictEqual(kinds("zero-cost"), ["price-drift", "tokens-but-zero-cost"])
        assert.deepStrictEqual(kinds("provider-priced"), ["reported-cost-variance"])
        assert.deepStrictEqual(kinds("unmatched"), ["unmatched-model"])
        assert.include(kinds("estimated"), "streaming-without-usage")
        const variance = report.findings.find((f) => f.kind === "reported-cost-variance")!
        assert.strictEqual(variance.difference, "0.5")
        const drift = report.findings.find((f) => f.requestId === "drifted" && f.kind === "price-drift")!
        assert.strictEqual(drift.computedCost, Money.format(computed))

        // The CSV: gpt-4.1-nano/batch-jobs is missing on our side; the web row of gpt-4o-mini is a cost variance.
        const comparison = report.comparisons[0]!
        const byStatus = Object.fromEntries(comparison.lines.map((l) => [`${l.model}|${l.project}`, l.status]))
        assert.strictEqual(byStatus["gpt-4.1-nano|batch-jobs"], "missing-on-our-side")
        assert.strictEqual(byStatus["gpt-4o-mini-2024-07-18|web"], "cost-variance")
        assert.isTrue(report.findings.some((f) => f.kind === "missing-on-our-side" && f.severity === "error"))
        assert.isNotNull(report.summary.whatIf)

        // Stored: the run and its findings read back.
        const stored = yield* ReconciliationRuns.ReconciliationRuns.use((runs) => runs.latest(tenantId, period))
        assert.strictEqual(stored?.id, report.runId)
        const findings = yield* ReconciliationRuns.ReconciliationRuns.use((runs) => runs.findings(tenantId, report.runId!))
        assert.strictEqual(findings.length, report.findings.length)
        assert.strictEqual(findings[0]!.severity, "error")
      }), testTimeout)

    it.effect("a billed total changed in the database is price drift even when the breakdown still matches", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const { book } = yield* Catalog.Catalog
        const { sql } = yield* Database.Database
        const tenantId = yield* newTenant()
        yield* ingest.ingest(tenantId, [{ requestId: "billed", occurredAt: at, provider: "openai", api: "chat.completions", payload: sse }])
        // Tampering behind Tally's back: the ledger's trigger refuses a price change without its
        // repricing entry (0016), so the superuser switches triggers off for this one statement.
        yield* sql.withTransaction(Effect.andThen(
          sql`SET LOCAL session_replication_role = replica`,
          sql`UPDATE tally.usage_ledger SET total = total + 0.000001 WHERE tenant_id = ${tenantId} AND request_id = 'billed'`
        ))
        const report = yield* Run.run({ tenantId, period, book, save: false })
        assert.strictEqual(report.summary.rederivedMatching, 0)
        const drift = report.findings.filter((f) => f.kind === "price-drift")
        assert.strictEqual(drift.length, 1)
        assert.strictEqual(drift[0]!.difference, "-0.000001")
        assert.match(String(drift[0]!.evidence["message"]), /the billed total is/)
      }), testTimeout)

    it.effect("a report missing on their side and a clean month produce exactly the expected findings", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const { book } = yield* Catalog.Catalog
        const tenantId = yield* newTenant()
        yield* ingest.ingest(tenantId, [{ requestId: "a", occurredAt: at, provider: "openai", api: "chat.completions", payload: sse, labels: { project: "web" } }])
        const clean = yield* Run.run({ tenantId, period, book, save: false })
        assert.deepStrictEqual([clean.summary.rows, clean.summary.rederivedMatching, clean.findings.length], [1, 1, 0])
        const csv = Result.getOrThrow(Compare.parse("csv", "date,provider,model,project,cost\n2025-08-06,openai,gpt-4.1-nano,other,1.00\n"))
        const compared = yield* Run.run({ tenantId, period, book, reports: [csv], save: false })
        assert.deepStrictEqual(compared.findings.map((f) => f.kind).sort(), ["missing-on-our-side", "missing-on-their-side"])
      }), testTimeout)

    it.effect("report rows outside the run's period are left out of the comparison and counted, not missing on our side", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const { book } = yield* Catalog.Catalog
        const tenantId = yield* newTenant()
        yield* ingest.ingest(tenantId, [{ requestId: "a", occurredAt: at, provider: "openai", api: "chat.completions", payload: sse, labels: { project: "web" } }])
        // A month's CSV for a run over 2025-08-06 only: the day before and the day at `to` are outside.
        const oneDay = { from: new Date("2025-08-06T00:00:00Z"), to: new Date("2025-08-07T00:00:00Z") }
        const csv = Result.getOrThrow(Compare.parse("csv", [
          "date,provider,model,project,cost",
          "2025-08-05,openai,gpt-4.1-nano,web,1.00",
          "2025-08-06,openai,gpt-4.1-nano,other,2.00",
          "2025-08-07,openai,gpt-4.1-nano,web,3.00",
          "2025-08-07,openai,gpt-4.1-nano,other,4.00"
        ].join("\n")))
        const report = yield* Run.run({ tenantId, period: oneDay, book, reports: [csv], save: false })
        const comparison = report.comparisons[0]!
        assert.deepStrictEqual([...new Set(comparison.lines.map((l) => l.day))], ["2025-08-06"])
        assert.strictEqual(comparison.rowsOutsidePeriod, 3)
        assert.deepStrictEqual(report.summary.reports, [{ format: "csv", provider: "openai", counts: comparison.counts, rowsOutsidePeriod: 3 }])
        // The in-period row still takes part: its project has no ledger calls, the ledger's call no report row.
        const missing = report.findings.filter((f) => f.kind === "missing-on-our-side")
        assert.deepStrictEqual(missing.map((f) => [f.occurredAt, f.reportedCost]), [["2025-08-06T00:00:00.000Z", "2"]])
        assert.strictEqual(comparison.counts["missing-on-their-side"], 1)

        // A JSON report wholly outside the run's period (an OpenAI costs page of 2024-11-01) compares nothing.
        const november = yield* Run.run({ tenantId, period: oneDay, book, reports: [parsed("openai-costs", "openai-costs.json")], save: false })
        assert.deepStrictEqual([november.comparisons[0]!.lines, november.comparisons[0]!.rowsOutsidePeriod, november.findings], [[], 1, []])
      }), testTimeout)
  })
})
