/**
 * Repricing on PGlite and, when TALLY_TEST_DATABASE_URL is set, on PostgreSQL: unpriced calls
 * priced once a price exists, corrected prices as correction entries with their audit record,
 * idempotence, a finalized chargeback period corrected by the next run, and ingest running
 * during a reprice with the rollups and daily summaries equal to a recomputation from the ledger.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Catalog } from "@tally/catalog"
import { Money } from "@tally/core"
import { Database, Repricings, Rollups, Store } from "@tally/store"
import { DateTime, Effect, Layer, Redacted } from "effect"
import { Chargeback } from "../src/chargeback/index.ts"
import * as Reprice from "../src/Reprice.ts"
import * as TenantPricing from "../src/TenantPricing.ts"
import { ingestNow, layerOptions, newTenant } from "./TestStore.ts"

const url = process.env.TALLY_TEST_DATABASE_URL
const targets = [
  { name: "pglite", database: Database.layerPgliteTest },
  ...(url === undefined || url === "" ? [] : [{ name: "postgres", database: Database.layerEphemeralPostgres(Redacted.make(url)) }])
]

const servicesOn = (database: typeof Database.layerPgliteTest) =>
  Layer.mergeAll(TenantPricing.TenantPricing.layer, Reprice.Repricing.layer, Chargeback.layer).pipe(
    Layer.provideMerge(Layer.merge(Store.layerWith(database), Catalog.Catalog.layer))
  )

const utc = (text: string) => DateTime.makeUnsafe(text)
const january = { from: utc("2026-01-01T00:00:00Z"), to: utc("2026-02-01T00:00:00Z") }

/** A usage event with normalized usage: 1M input and 100k output tokens. */
const usageEvent = (requestId: string, model: string, occurredAt: string, labels: Record<string, string> = {}) => ({
  requestId,
  occurredAt,
  provider: "openai",
  model,
  labels,
  usage: { tokens: { inputText: 1_000_000, outputText: 100_000 } }
})

/** A raw OpenAI chat completion: 2M prompt and 200k completion tokens. */
const rawEvent = (requestId: string, model: string, occurredAt: string) => ({
  requestId,
  occurredAt,
  provider: "openai",
  api: "chat.completions",
  payload: {
    id: `chatcmpl-${requestId}`,
    object: "chat.completion",
    model,
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 2_000_000, completion_tokens: 200_000, total_tokens: 2_200_000 }
  }
})

const reprice = (tenantId: string, options: Partial<Reprice.RepriceOptions> = {}) =>
  Reprice.Repricing.use((r) => r.reprice(tenantId, { ...january, ...options }))

/** The ledger's price of each call, by request id. */
const prices = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    const rows = yield* sql<{ request_id: string; cost_source: string; total: string | null; snapshot_id: string | null }>`
      SELECT request_id, cost_source, total::text AS total, snapshot_id FROM tally.usage_ledger
      WHERE tenant_id = ${tenantId} ORDER BY request_id`
    return Object.fromEntries(rows.map((r) => [r.request_id, { costSource: r.cost_source, total: r.total === null ? null : Money.format(new Money.Decimal(r.total)), snapshotId: r.snapshot_id }]))
  })

const repricingCount = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    const [row] = yield* sql<{ entries: string; runs: string }>`SELECT
      (SELECT count(*)::text FROM tally.usage_repricings WHERE tenant_id = ${tenantId}) AS entries,
      (SELECT count(*)::text FROM tally.reprice_runs WHERE tenant_id = ${tenantId}) AS runs`
    return { entries: Number(row!.entries), runs: Number(row!.runs) }
  })

const rollupJson = (rows: ReadonlyArray<Rollups.RollupRow>) =>
  rows.map((r) => ({ ...r, hour: DateTime.formatIso(r.hour), cost: Money.format(r.cost), audioSeconds: Money.format(r.audioSeconds), videoSeconds: Money.format(r.videoSeconds) }))

/**
 * The tenant's hourly rollups equal a rebuild from the ledger, and the daily summaries add up to
 * the ledger: what a repricing moved, it moved exactly.
 */
const assertRollupsMatchLedger = (tenantId: string) =>
  Effect.gen(function*() {
    const rollups = yield* Rollups.Rollups
    const range = { from: utc("2025-12-01T00:00:00Z"), to: utc("2026-03-01T00:00:00Z") }
    const kept = rollupJson(yield* rollups.list(tenantId, range))
    yield* rollups.rebuild({ ...range, tenantId })
    const rebuilt = rollupJson(yield* rollups.list(tenantId, range))
    assert.deepStrictEqual(kept, rebuilt)
    const { sql } = yield* Database.Database
    const [row] = yield* sql<Record<string, string>>`SELECT
      (SELECT coalesce(sum(total), 0)::text FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger_cost,
      (SELECT count(*)::text FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger_calls,
      (SELECT count(*) FILTER (WHERE cost_source = 'unpriced')::text FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger_unpriced,
      (SELECT coalesce(sum(cost), 0)::text FROM tally.usage_rollups_daily WHERE tenant_id = ${tenantId}) AS daily_cost,
      (SELECT coalesce(sum(request_count), 0)::text FROM tally.usage_rollups_daily WHERE tenant_id = ${tenantId}) AS daily_calls,
      (SELECT coalesce(sum(unpriced_count), 0)::text FROM tally.usage_rollups_daily WHERE tenant_id = ${tenantId}) AS daily_unpriced`
    const r = row!
    assert.strictEqual(Money.format(new Money.Decimal(r.daily_cost!)), Money.format(new Money.Decimal(r.ledger_cost!)))
    assert.strictEqual(r.daily_calls, r.ledger_calls)
    assert.strictEqual(r.daily_unpriced, r.ledger_unpriced)
    return { cost: Money.format(new Money.Decimal(r.ledger_cost!)), calls: Number(r.ledger_calls) }
  })

const totalsOf = (summary: Reprice.RepriceSummary) => Reprice.summaryJson(summary).totals

for (const target of targets) {
  describe(`repricing on ${target.name}`, () => {
    layer(servicesOn(target.database), layerOptions)((it) => {
      it.effect("unpriced calls become priced once a price exists; a dry run writes nothing; a second run changes nothing", () =>
        Effect.gen(function*() {
          const pricing = yield* TenantPricing.TenantPricing
          const tenantId = yield* newTenant()
          const ingested = yield* ingestNow(tenantId, [
            usageEvent("u-1", "llama-internal", "2026-01-10T10:00:00Z", { team: "search" }),
            rawEvent("u-2", "llama-internal", "2026-01-11T11:00:00Z"),
            usageEvent("p-1", "gpt-4o", "2026-01-12T12:00:00Z")
          ])
          assert.deepStrictEqual(ingested.items.map((i) => i.costSource), ["unpriced", "unpriced", "computed"])
          const before = yield* prices(tenantId)

          // Nothing to price yet: the run scans, changes nothing, records nothing.
          const early = yield* reprice(tenantId, { onlyUnpriced: true })
          assert.deepInclude(early, { scanned: 2, repriced: 0, unchanged: 2, runId: null })

          yield* pricing.createDefinition(tenantId, {
            id: "acme/llama-internal",
            provider: "openai",
            modelKey: "llama-internal",
            price: { currency: "USD", rates: { inputText: "0.20", outputText: "0.60" } }
          })

          const dry = yield* reprice(tenantId, { onlyUnpriced: true, dryRun: true, actor: "alice" })
          // u-1: 1M x 0.20 + 100k x 0.60 per 1M = 0.2 + 0.06 = 0.26; u-2: 2M x 0.20 + 200k x 0.60 = 0.4 + 0.12 = 0.52
          assert.deepInclude(dry, { dryRun: true, runId: null, scanned: 2, repriced: 2, newlyPriced: 2, corrections: 0, unchanged: 0 })
          assert.deepStrictEqual(totalsOf(dry), [{ currency: "USD", before: "0", after: "0.78", delta: "0.78" }])
          assert.deepStrictEqual(yield* prices(tenantId), before)
          assert.deepStrictEqual(yield* repricingCount(tenantId), { entries: 0, runs: 0 })

          const run = yield* reprice(tenantId, { onlyUnpriced: true, actor: "alice" })
          assert.deepInclude(run, { dryRun: false, scanned: 2, repriced: 2, newlyPriced: 2, corrections: 0, unchanged: 0, skipped: 0 })
          assert.isNotNull(run.runId)
          assert.deepStrictEqual(totalsOf(run), [{ currency: "USD", before: "0", after: "0.78", delta: "0.78" }])
          const after = yield* prices(tenantId)
          assert.deepInclude(after["u-1"], { costSource: "computed", total: "0.26" })
          assert.deepInclude(after["u-2"], { costSource: "computed", total: "0.52" })
          assert.deepStrictEqual(after["p-1"], before["p-1"])
          assert.deepStrictEqual(run.snapshotsBefore, [])
          assert.deepStrictEqual(run.snapshotsAfter, [after["u-1"]!.snapshotId!])

          // The original price is kept beside the new one.
          const history = yield* Repricings.Repricings.use((r) => r.history(tenantId, "u-2"))
          assert.strictEqual(history.length, 1)
          assert.deepInclude(history[0]!, { kind: "priced", actor: "alice", runId: run.runId! })
          assert.deepInclude(history[0]!.before, { costSource: "unpriced", total: null, snapshotId: null })
          assert.strictEqual(history[0]!.after.costSource, "computed")
          assert.strictEqual(Money.format(history[0]!.after.total!), "0.52")
          const [audit] = yield* Repricings.Repricings.use((r) => r.runs(tenantId, 10))
          assert.deepInclude(audit!, { id: run.runId!, actor: "alice", onlyUnpriced: true })
          assert.deepInclude(audit!.summary, { repriced: 2, newlyPriced: 2 })

          const totals = yield* assertRollupsMatchLedger(tenantId)

          // Again: the price book has not moved, so nothing does.
          const again = yield* reprice(tenantId, { actor: "alice" })
          assert.deepInclude(again, { scanned: 3, repriced: 0, unchanged: 3, runId: null })
          assert.deepStrictEqual(yield* prices(tenantId), after)
          assert.deepStrictEqual(yield* repricingCount(tenantId), { entries: 2, runs: 1 })
          assert.deepStrictEqual(yield* assertRollupsMatchLedger(tenantId), totals)
        }))

      it.effect("a corrected price becomes a correction entry with who, when and the snapshots before and after", () =>
        Effect.gen(function*() {
          const pricing = yield* TenantPricing.TenantPricing
          const tenantId = yield* newTenant()
          yield* pricing.createDefinition(tenantId, {
            id: "acme/m1",
            provider: "openai",
            modelKey: "m1",
            price: { rates: { inputText: "1", outputText: "2" } }
          })
          // 1M x 1 + 100k x 2 per 1M = 1.2 each
          yield* ingestNow(tenantId, [
            usageEvent("c-1", "m1", "2026-01-05T09:00:00Z"),
            usageEvent("c-2", "m1", "2026-01-20T09:00:00Z")
          ])
          const before = yield* prices(tenantId)
          assert.strictEqual(before["c-1"]!.total, "1.2")
          // The published input price was 1.50 from January 15th: only c-2 is affected.
          yield* pricing.updateDefinition(tenantId, { id: "acme/m1", price: { effectiveFrom: "2026-01-15", rates: { inputText: "1.50" } } })

          const started = yield* DateTime.now
          const run = yield* reprice(tenantId, { actor: "key_finance" })
          // c-2: 1M x 1.50 + 100k x 2 = 1.7, 0.5 more
          assert.deepInclude(run, { scanned: 2, repriced: 1, newlyPriced: 0, corrections: 1, unchanged: 1 })
          assert.deepStrictEqual(totalsOf(run), [{ currency: "USD", before: "1.2", after: "1.7", delta: "0.5" }])
          const after = yield* prices(tenantId)
          assert.deepStrictEqual(after["c-1"], before["c-1"])
          assert.strictEqual(after["c-2"]!.total, "1.7")
          assert.notStrictEqual(after["c-2"]!.snapshotId, before["c-2"]!.snapshotId)
          assert.deepStrictEqual(run.snapshotsBefore, [before["c-2"]!.snapshotId!])
          assert.deepStrictEqual(run.snapshotsAfter, [after["c-2"]!.snapshotId!])

          const [entry] = yield* Repricings.Repricings.use((r) => r.ofRun(tenantId, run.runId!))
          assert.deepInclude(entry!, { kind: "correction", actor: "key_finance", requestId: "c-2" })
          assert.deepInclude(entry!.before, { costSource: "computed", snapshotId: before["c-2"]!.snapshotId, currency: "USD" })
          assert.deepInclude(entry!.after, { costSource: "computed", snapshotId: after["c-2"]!.snapshotId, currency: "USD" })
          assert.strictEqual(Money.format(entry!.before.total!), "1.2")
          assert.strictEqual(Money.format(entry!.after.total!), "1.7")
          assert.isAtLeast(DateTime.toEpochMillis(entry!.repricedAt), DateTime.toEpochMillis(started) - 60_000)
          const [audit] = yield* Repricings.Repricings.use((r) => r.runs(tenantId, 10))
          assert.strictEqual(audit!.priceBookVersion, run.priceBookVersion)
          assert.deepStrictEqual(audit!.summary["totals"], [{ currency: "USD", before: "1.2", after: "1.7", delta: "0.5" }])

          // The correction entries are history: no role may rewrite them.
          const { sql } = yield* Database.Database
          const refused = yield* Effect.flip(sql`UPDATE tally.usage_repricings SET actor = 'mallory' WHERE tenant_id = ${tenantId}`)
          assert.include(String(refused.reason.cause ?? refused.message), "append-only")

          yield* assertRollupsMatchLedger(tenantId)
          const again = yield* reprice(tenantId, { actor: "key_finance" })
          assert.deepInclude(again, { repriced: 0, runId: null })
        }))

      it.effect("a repricing of a finalized chargeback period never rewrites it: the next run carries the correction", () =>
        Effect.gen(function*() {
          const pricing = yield* TenantPricing.TenantPricing
          const chargeback = yield* Chargeback
          const tenantId = yield* newTenant()
          yield* pricing.createDefinition(tenantId, {
            id: "acme/m2",
            provider: "openai",
            modelKey: "m2",
            price: { rates: { inputText: "1", outputText: "2" } }
          })
          yield* ingestNow(tenantId, [
            usageEvent("j-1", "m2", "2026-01-05T09:00:00Z", { team: "search" }),
            usageEvent("j-2", "m2", "2026-01-06T09:00:00Z", { team: "ads" }),
            usageEvent("f-1", "m2", "2026-02-03T09:00:00Z", { team: "ads" })
          ])
          const input = { dimension: "team" }
          const janRun = yield* chargeback.run(tenantId, { ...january, ...input })
          yield* chargeback.finalize(tenantId, janRun.id)
          // 1.2 + 1.2
          assert.strictEqual(Money.format(janRun.total), "2.4")

          // Search's calls were billed at a wrong rate all along: 3 per 1M input, from the start.
          yield* pricing.setOverride(tenantId, {
            definitionId: "acme/m2",
            scope: { team: "search" },
            price: { effectiveFrom: "2025-01-01", rates: { inputText: "3" } },
            reason: "contract rate"
          })
          const run = yield* reprice(tenantId, { actor: "alice" })
          // j-1: 1M x 3 + 100k x 2 = 3.2, 2 more
          assert.deepInclude(run, { scanned: 2, repriced: 1, corrections: 1 })
          assert.deepStrictEqual(totalsOf(run), [{ currency: "USD", before: "1.2", after: "3.2", delta: "2" }])

          // January's final run is what it was.
          const janAgain = yield* chargeback.get(tenantId, janRun.id)
          assert.deepStrictEqual(janAgain.lines.map((l) => [l.owner, Money.format(l.amount)]), janRun.lines.map((l) => [l.owner, Money.format(l.amount)]))
          assert.strictEqual(Money.format(janAgain.total), "2.4")

          // February's run corrects January by the difference, once.
          const february = { from: january.to, to: utc("2026-03-01T00:00:00Z") }
          const febRun = yield* chargeback.run(tenantId, { ...february, ...input })
          const corrections = febRun.lines.filter((l) => l.kind === "correction")
          assert.deepStrictEqual(corrections.map((l) => [l.owner, Money.format(l.amount), l.correctsRunId]), [["search", "2", janRun.id]])
          assert.deepStrictEqual(febRun.inputs.checked, [janRun.id])
          yield* chargeback.finalize(tenantId, febRun.id)
          const march = yield* chargeback.run(tenantId, { from: february.to, to: utc("2026-04-01T00:00:00Z"), ...input })
          assert.deepStrictEqual(march.lines.filter((l) => l.kind === "correction"), [])

          // What January reads as of its run is still what it was charged; as of now, the new price.
          const janNow = yield* chargeback.showback(tenantId, { ...january, ...input })
          assert.strictEqual(Money.format(janNow.total), "4.4")
          assert.strictEqual(Money.format(janAgain.inputs.ledgerTotal), "2.4")
          yield* assertRollupsMatchLedger(tenantId)
        }))

      it.effect("ingest during a reprice loses and double-counts nothing; rollups equal a recomputation from the ledger", () =>
        Effect.gen(function*() {
          const pricing = yield* TenantPricing.TenantPricing
          const tenantId = yield* newTenant()
          const hour = (i: number) => `2026-01-${String(1 + (i % 28)).padStart(2, "0")}T${String(i % 24).padStart(2, "0")}:00:00Z`
          const teams = ["search", "ads", "chat"]
          const first = Array.from({ length: 1200 }, (_, i) => usageEvent(`a-${i}`, "llama-x", hour(i), { team: teams[i % 3]! }))
          for (let i = 0; i < first.length; i += 300) yield* ingestNow(tenantId, first.slice(i, i + 300))
          yield* pricing.createDefinition(tenantId, {
            id: "acme/llama-x",
            provider: "openai",
            modelKey: "llama-x",
            price: { rates: { inputText: "0.20", outputText: "0.60" } }
          })
          // Ingest of the same hours and teams while the reprice runs; some of it unpriced still.
          const second = Array.from({ length: 600 }, (_, i) =>
            usageEvent(`b-${i}`, i % 2 === 0 ? "llama-x" : "llama-unknown", hour(i + 7), { team: teams[i % 3]! })
          )
          const [run, ...ingests] = yield* Effect.all([
            reprice(tenantId, { actor: "alice" }),
            ...Array.from({ length: 6 }, (_, k) => ingestNow(tenantId, second.slice(k * 100, k * 100 + 100)))
          ], { concurrency: "unbounded" })
          assert.strictEqual(ingests.reduce((n, r) => n + r.inserted, 0), 600)
          assert.strictEqual(run.newlyPriced, run.repriced)
          assert.isAtLeast(run.repriced, 1200)

          // Whatever the reprice saw of the new calls, a second run prices the rest and then nothing moves.
          yield* reprice(tenantId, { actor: "alice" })
          const { cost, calls } = yield* assertRollupsMatchLedger(tenantId)
          assert.strictEqual(calls, 1800)
          // 1500 priced calls x 0.26; 300 unpriced
          assert.strictEqual(cost, "390")
          const finalRun = yield* reprice(tenantId, { actor: "alice" })
          assert.deepInclude(finalRun, { scanned: 1800, repriced: 0, unchanged: 1800 })
          const all = yield* prices(tenantId)
          assert.strictEqual(Object.values(all).filter((p) => p.costSource === "unpriced").length, 300)
          // One entry per call priced, never two.
          assert.strictEqual((yield* repricingCount(tenantId)).entries, 1200)
        }))

      it.effect("a partial call keeps its priced lines until the missing rate exists, then becomes priced", () =>
        Effect.gen(function*() {
          const pricing = yield* TenantPricing.TenantPricing
          const tenantId = yield* newTenant()
          yield* pricing.createDefinition(tenantId, {
            id: "acme/searcher",
            provider: "openai",
            modelKey: "searcher",
            price: { rates: { inputText: "1", outputText: "2" } }
          })
          const ingested = yield* ingestNow(tenantId, [{
            requestId: "s-1",
            occurredAt: "2026-01-08T08:00:00Z",
            provider: "openai",
            model: "searcher",
            usage: { tokens: { inputText: 1_000_000, outputText: 100_000 }, webSearches: 4 }
          }])
          // The tokens are priced (1 + 0.2), the 4 searches have no rate: partial, never $0.
          assert.deepInclude(ingested.items[0]!, { costSource: "partial", total: "1.2" })
          yield* pricing.updateDefinition(tenantId, {
            id: "acme/searcher",
            price: { effectiveFrom: "2026-01-01", units: { perThousandWebSearches: "25" } }
          })
          const run = yield* reprice(tenantId, { onlyUnpriced: true, actor: "alice" })
          // 4 searches x $25 per 1,000 = 0.1 more
          assert.deepInclude(run, { scanned: 1, repriced: 1, newlyPriced: 1, corrections: 0 })
          assert.deepStrictEqual(totalsOf(run), [{ currency: "USD", before: "1.2", after: "1.3", delta: "0.1" }])
          assert.deepInclude((yield* prices(tenantId))["s-1"], { costSource: "computed", total: "1.3" })
          const [entry] = yield* Repricings.Repricings.use((r) => r.history(tenantId, "s-1"))
          assert.deepInclude(entry!, { kind: "priced" })
          assert.strictEqual(entry!.before.costSource, "partial")
          assert.include(entry!.before.unpricedReason!, "webSearches")
          yield* assertRollupsMatchLedger(tenantId)
          assert.deepInclude(yield* reprice(tenantId, { onlyUnpriced: true }), { scanned: 0, repriced: 0 })
        }))

      it.effect("a range that ends before it starts is refused naming the field", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const error = yield* Effect.flip(reprice(tenantId, { from: january.to, to: january.from }))
          assert.strictEqual(error._tag, "InvalidReprice")
          assert.include(error.message, "to:")
        }))
    })
  })
}
