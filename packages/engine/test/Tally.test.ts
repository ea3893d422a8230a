import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createTally, type Tally } from "../src/Tally.ts"
import { fixtureJson } from "./FixtureFiles.ts"
import { backend, layerOptions, postgresOnlyLayer, testDatabaseUrl } from "./TestStore.ts"

const openai = fixtureJson<{ payload: Record<string, unknown> }>("openai-chat-completion.json").payload
const event = (requestId: string) => ({ requestId, occurredAt: "2026-01-15T10:00:00Z", provider: "openai", payload: openai })

const snapshot = { provider: "openai", modelKey: "gpt-4o", currency: "USD", rates: { inputText: "2.50", outputText: "10.00" } }

/** Each test opens its own databases (PGlite start, migrations, catalog load): allow for a busy machine. */
const timeout = 180_000

/** Runs `use` with a facade, always closing it. */
const withTally = <A>(options: Parameters<typeof createTally>[0], use: (tally: Tally) => Promise<A>) =>
  Effect.promise(async () => {
    const tally = await createTally(options)
    try {
      return await use(tally)
    } finally {
      await tally.close()
    }
  })

const rejection = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return error as { readonly _tag?: string; readonly message: string; readonly field?: string; readonly reason?: string }
  }
  throw new Error("expected a rejection")
}

/** Every facade method rejects with a typed error naming what is wrong; closing twice is fine. */
const typedErrors = async (tally: Tally) => {
  const badUsage = await rejection(tally.price({ tokens: { inputText: -1 } }, snapshot))
  assert.strictEqual(badUsage._tag, "InvalidInput")
  assert.strictEqual(badUsage.field, "usage.tokens.inputText")
  const typo = await rejection(tally.price({ tokens: { input_tokens: 1 } }, snapshot))
  assert.strictEqual(typo.field, "usage.tokens.input_tokens")
  const badAt = await rejection(tally.cost({ provider: "openai", payload: openai }, { at: "last tuesday" }))
  assert.strictEqual(badAt.field, "at")
  const provider = await rejection(tally.cost({ provider: "acme", payload: {} }))
  assert.strictEqual(provider._tag, "NormalizeError")
  const currency = await rejection(tally.createTenant({ name: "X", currency: "dollars" }))
  assert.strictEqual(currency._tag, "InvalidTenant")
  const tenant = await rejection(tally.ingest("nobody", [event("n1")]))
  assert.strictEqual(tenant._tag, "IngestFailure")
  assert.strictEqual(tenant.reason, "unknown-tenant")
  const budget = await rejection(tally.budgets.create("nobody", { name: "b", period: "fortnight", amount: "10" }))
  assert.strictEqual(budget._tag, "InvalidBudget")
  assert.strictEqual(budget.field, "period")
  const reserve = await rejection(tally.budgets.reserve("nobody", { estimatedCost: "ten dollars" }))
  assert.strictEqual(reserve._tag, "InvalidEnforcementRequest")
  assert.strictEqual(reserve.field, "estimatedCost")
  const query = await rejection(tally.usage("nobody", { from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", groupBy: ["colour" as never] }))
  assert.strictEqual(query._tag, "InvalidQuery")
  assert.match(query.field!, /^query\.groupBy/)
  const run = await rejection(tally.chargeback.showback("nobody", { month: "2026-13", dimension: "team" }))
  assert.strictEqual(run._tag, "InvalidChargeback")
  const window = await rejection(tally.reconcile("nobody", { from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z" }))
  assert.strictEqual(window.field, "to")
  const backwards = await rejection(tally.reprice("nobody", { from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z" }))
  assert.strictEqual(backwards._tag, "InvalidReprice")
  assert.strictEqual(backwards.field, "to")
  const since = await rejection(tally.reprice("nobody", { from: "yesterday", to: "2026-01-01T00:00:00Z" }))
  assert.strictEqual(since.field, "from")
  await tally.close()
  await tally.close()
  const late = await rejection(tally.createTenant({ name: "late" }))
  assert.strictEqual(late._tag, "TallyClosed")
  assert.match(late.message, /closed/)
  assert.strictEqual((await rejection(tally.cost({ provider: "openai", payload: openai })))._tag, "TallyClosed")
}

describe(`createTally on ${backend}`, () => {
  layer(postgresOnlyLayer, layerOptions)((it) => {
    it.effect("round trip: create a tenant, ingest, replay, cost and price, close", () =>
      Effect.gen(function*() {
        const database = yield* testDatabaseUrl
        const out = yield* withTally({ database }, async (tally) => {
          const tenant = await tally.createTenant({ name: "Facade Inc", currency: "USD", timeZone: "Europe/Berlin" })
          const first = await tally.ingest(tenant.tenantId, [event("f1"), event("f2")], { defaultLabels: { project: "p" } })
          const replay = await tally.ingest(tenant.tenantId, [event("f1"), event("f2")], { defaultLabels: { project: "p" } })
          const quote = await tally.cost({ provider: "openai", payload: openai }, { at: "2026-01-15T10:00:00Z" })
          const priced = await tally.price({ tokens: { inputText: 1000, outputText: 500 } }, snapshot)
          const repriced = await tally.reprice(tenant.tenantId, { from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", actor: "ops" })
          return { tenant, first, replay, quote, priced, repriced }
        })
        assert.strictEqual(out.tenant.timeZone, "Europe/Berlin")
        assert.match(out.tenant.tenantId, /^tnt_/)
        assert.deepStrictEqual(out.first.items.map((i) => i.status), ["inserted", "inserted"])
        assert.deepStrictEqual(out.replay.items.map((i) => i.status), ["duplicate", "duplicate"])
        // gpt-4.1-nano: 16 input at $0.10/M + 363 output at $0.40/M.
        assert.strictEqual(out.first.items[0]!.total, "0.0001468")
        assert.strictEqual(out.quote.total, "0.0001468")
        assert.strictEqual(out.quote.costSource, "computed")
        assert.strictEqual(out.priced.total, "0.0075")
        // Priced at ingest with the same book: a reprice finds nothing to change and writes nothing.
        assert.deepInclude(out.repriced, { runId: null, actor: "ops", scanned: 2, repriced: 0, unchanged: 2 })
      }), timeout)

    it.effect("typed errors reject, naming what is wrong; a closed facade refuses work", () =>
      Effect.gen(function*() {
        const database = yield* testDatabaseUrl
        const tally = createTally({ database })
        yield* Effect.promise(() => typedErrors(tally))
      }), timeout)

    it.effect("budgets from promises: a block budget denies, reserve holds, settle and release free the hold", () =>
      Effect.gen(function*() {
        const database = yield* testDatabaseUrl
        yield* withTally({ database }, async (tally) => {
          const { tenantId } = await tally.createTenant({ name: "Budgeted", currency: "USD" })
          const budget = await tally.budgets.create(tenantId, { name: "bot", scope: { project: "bot" }, period: "month", amount: "1.00", action: "block" })
          assert.strictEqual(budget.amount, "1")
          assert.deepStrictEqual((await tally.budgets.list(tenantId)).map((b) => b.id), [budget.id])

          const tooBig = await tally.budgets.check(tenantId, { labels: { project: "bot" }, estimatedCost: "1.50" })
          assert.deepStrictEqual([tooBig.decision, tooBig.deniedBy], ["deny", [budget.id]])
          const other = await tally.budgets.check(tenantId, { labels: { project: "other" }, estimatedCost: "1.50" })
          assert.strictEqual(other.decision, "allow")

          const held = await tally.budgets.reserve(tenantId, { labels: { project: "bot" }, estimatedCost: "0.60", requestId: "r-1" })
          assert.strictEqual(held.decision, "allow")
          const reservationId = held.reservation!.id
          // 0.60 is held: a second 0.60 no longer fits the 1.00 budget.
          const second = await tally.budgets.reserve(tenantId, { labels: { project: "bot" }, estimatedCost: "0.60" })
          assert.strictEqual(second.decision, "deny")
          assert.isUndefined(second.reservation)
          const status = await tally.budgets.status(tenantId, { budgetId: budget.id })
          assert.deepStrictEqual([status[0]!.reserved, status[0]!.remaining], ["0.6", "0.4"])

          const settled = await tally.budgets.settle(tenantId, reservationId, { actualCost: "0.25", requestId: "r-1" })
          assert.deepStrictEqual([settled.status, settled.actual], ["settled", "0.25"])
          const again = await tally.budgets.settle(tenantId, reservationId, { actualCost: "0.25", requestId: "r-1" })
          assert.strictEqual(again.status, "settled")
          const third = await tally.budgets.reserve(tenantId, { labels: { project: "bot" }, estimatedCost: "0.70" })
          assert.strictEqual(third.decision, "allow")
          const released = await tally.budgets.release(tenantId, third.reservation!.id)
          assert.strictEqual(released.status, "released")
          const closed = await rejection(tally.budgets.release(tenantId, reservationId))
          assert.strictEqual(closed._tag, "ReservationClosed")
          const missing = await rejection(tally.budgets.reservation(tenantId, "rsv_missing"))
          assert.strictEqual(missing._tag, "ReservationNotFound")

          const lowered = await tally.budgets.update(tenantId, budget.id, { amount: "2.00" }, { actor: "test" })
          assert.strictEqual(lowered.amount, "2")
          const archived = await tally.budgets.archive(tenantId, budget.id)
          assert.isNotNull(archived.archivedAt)
        })
      }), timeout)

    it.effect("usage, showback, chargeback runs and reconciliation from promises agree with what was ingested", () =>
      Effect.gen(function*() {
        const database = yield* testDatabaseUrl
        yield* withTally({ database }, async (tally) => {
          const { tenantId } = await tally.createTenant({ name: "Reports", currency: "USD" })
          const at = (i: number) => `2026-01-15T1${i}:00:00Z`
          const events = [
            { ...event("u1"), occurredAt: at(0), labels: { team: "search" } },
            { ...event("u2"), occurredAt: at(1), labels: { team: "search" } },
            { ...event("u3"), occurredAt: at(2), labels: { team: "ads" } }
          ]
          const ingested = await tally.ingest(tenantId, events)
          assert.strictEqual(ingested.inserted, 3)

          const report = await tally.usage(tenantId, { from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", groupBy: ["team"] })
          const byTeam = Object.fromEntries(report.buckets.map((b) => [b.group.team, [b.requests, b.spend[0]!.amount]]))
          // Each call is 0.0001468 (gpt-4.1-nano, 16 input + 363 output tokens).
          assert.deepStrictEqual(byTeam, { search: [2, "0.0002936"], ads: [1, "0.0001468"] })
          assert.deepStrictEqual(report.totals.spend, [{ currency: "USD", amount: "0.0004404" }])

          const showback = await tally.chargeback.showback(tenantId, { month: "2026-01", dimension: "team" })
          assert.strictEqual(showback.inputs.ledgerTotal, "0.0004404")
          assert.strictEqual(showback.inputs.requestCount, 3)
          const draft = await tally.chargeback.run(tenantId, { month: "2026-01", dimension: "team" }, { createdBy: "test" })
          assert.deepStrictEqual([draft.status, draft.createdBy, draft.total], ["draft", "test", showback.total])
          assert.deepStrictEqual(draft.lines.map((l) => l.amount), showback.lines.map((l) => l.amount))
          const final = await tally.chargeback.finalize(tenantId, draft.runId, { finalizedBy: "cfo" })
          assert.strictEqual(final.status, "final")
          assert.strictEqual((await tally.chargeback.get(tenantId, draft.runId)).finalizedBy, "cfo")
          assert.deepStrictEqual((await tally.chargeback.list(tenantId)).runs.map((r) => r.runId), [draft.runId])
          assert.strictEqual((await rejection(tally.chargeback.finalize(tenantId, draft.runId)))._tag, "RunAlreadyFinal")

          const csv = "date,provider,model,cost\n2026-01-15,openai,gpt-4.1-nano-2025-04-14,0.0004404\n"
          const reconciled = await tally.reconcile(tenantId, {
            from: "2026-01-15T00:00:00Z",
            to: "2026-01-16T00:00:00Z",
            reports: [{ format: "csv", content: csv }]
          })
          assert.strictEqual(reconciled.summary.rows, 3)
          assert.strictEqual(reconciled.summary.rederivedMatching, 3)
          assert.deepStrictEqual(reconciled.summary.billed, { USD: "0.0004404" })
          assert.strictEqual(reconciled.summary.bySeverity.error, 0)
          assert.match(reconciled.runId!, /./)
          const badReport = await rejection(tally.reconcile(tenantId, { from: "2026-01-15T00:00:00Z", to: "2026-01-16T00:00:00Z", reports: [{ format: "csv", content: "date,cost\n2026-01-15,abc\n" }] }))
          assert.deepStrictEqual([badReport._tag, badReport.field], ["InvalidInput", "reports[0]"])
        })
      }), timeout)

    it.effect("close records every ingest already started; a PGlite data dir keeps them for the next open", () =>
      Effect.promise(async () => {
        const dataDir = mkdtempSync(join(tmpdir(), "tally-facade-"))
        try {
          const tally = await createTally({ dataDir, pipeline: { maxWait: "1 hour", maxBatch: 1_000_000 } })
          const { tenantId } = await tally.createTenant({ name: "Persisted" })
          // Batches never fill and never time out: only the drain on close records them.
          const pending = Array.from({ length: 10 }, (_, i) => tally.ingest(tenantId, [event(`p${i}`)]))
          await tally.close()
          const results = await Promise.all(pending)
          assert.strictEqual(results.reduce((n, r) => n + r.inserted, 0), 10)

          const reopened = await createTally({ dataDir })
          try {
            const replay = await reopened.ingest(tenantId, Array.from({ length: 10 }, (_, i) => event(`p${i}`)))
            assert.strictEqual(replay.duplicates, 10)
          } finally {
            await reopened.close()
          }
        } finally {
          rmSync(dataDir, { recursive: true, force: true })
        }
      }), timeout)
  })
})

describe("createTally opens nothing until a call needs the database", () => {
  it.effect("creating a facade and pricing calls opens no database; the first database call does", () =>
    Effect.promise(async () => {
      const parent = mkdtempSync(join(tmpdir(), "tally-lazy-"))
      const dataDir = join(parent, "data")
      try {
        const tally = createTally({ dataDir })
        const quote = await tally.cost({ provider: "openai", payload: openai }, { at: "2026-01-15T10:00:00Z" })
        assert.strictEqual(quote.total, "0.0001468")
        assert.strictEqual((await tally.price({ tokens: { inputText: 1000, outputText: 500 } }, snapshot)).total, "0.0075")
        // PGlite creates its directory when it opens: pricing did not open it.
        assert.isFalse(existsSync(dataDir))
        await tally.createTenant({ name: "Opened" })
        assert.isTrue(existsSync(dataDir))
        await tally.close()
      } finally {
        rmSync(parent, { recursive: true, force: true })
      }
    }), timeout)

  it.effect("a database that cannot be reached fails only the calls that need it, with a typed error", () =>
    Effect.promise(async () => {
      // Port 9 (discard) on loopback: nothing listens, connecting fails at once.
      const tally = createTally({ database: "postgres://tally@127.0.0.1:9/tally" })
      const quote = await tally.cost({ provider: "openai", payload: openai }, { at: "2026-01-15T10:00:00Z" })
      assert.strictEqual(quote.total, "0.0001468")
      const failed = await rejection(tally.createTenant({ name: "Nope" }))
      assert.isString(failed._tag)
      assert.isString(failed.message)
      await tally.close()
    }), timeout)
})
