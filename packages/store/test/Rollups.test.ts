import { assert, describe, layer } from "@effect/vitest"
import { Money, Usage, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import { Database } from "../src/Database.ts"
import { type RollupRow, Rollups } from "../src/Rollups.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { callArbitrary, epoch, pricedCall } from "./Fixtures.ts"
import { property } from "./Properties.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const HOUR = 3_600_000
const everything = { from: DateTime.makeUnsafe(Date.UTC(2020, 0, 1)), to: DateTime.makeUnsafe(Date.UTC(2030, 0, 1)) }

/** A rollup row as plain comparable text and numbers. */
const plain = (row: RollupRow) => ({
  ...row,
  hour: DateTime.formatIso(row.hour),
  cost: Money.format(row.cost),
  audioSeconds: Money.format(row.audioSeconds),
  videoSeconds: Money.format(row.videoSeconds)
})

const countTotal = (counts: Readonly<Record<string, number>> | undefined) =>
  Object.values(counts ?? {}).reduce((sum, n) => sum + n, 0)

/** The rollups of recorded calls, computed here without SQL: the oracle for the aggregate. */
const expectedRollups = (tenantId: string, calls: ReadonlyArray<UsageRecord.UsageRecord>) => {
  const rows = new Map<string, PlainRow>()
  for (const call of calls) {
    const millis = DateTime.toEpochMillis(call.occurredAt)
    const hour = DateTime.formatIso(DateTime.makeUnsafe(Math.floor(millis / HOUR) * HOUR))
    const label = (value: string | undefined) => (value === undefined || value === "" ? null : value)
    const currency = call.costSource === "unpriced"
      ? null
      : call.costSource === "provider"
      ? call.reportedCurrency
      : call.breakdown!.currency
    const dims = {
      tenantId,
      hour,
      provider: call.provider,
      model: call.model,
      project: label(call.labels.project),
      environment: label(call.labels.environment),
      feature: label(call.labels.feature),
      team: label(call.labels.team),
      customer: label(call.labels.customer),
      costCenter: label(call.labels.costCenter),
      apiKeyId: label(call.labels.apiKeyId),
      currency
    }
    const key = JSON.stringify(Object.values(dims))
    const row = rows.get(key) ?? {
      ...dims,
      requestCount: 0,
      estimatedCount: 0,
      unpricedCount: 0,
      partialCount: 0,
      cost: "0",
      tokens: Object.fromEntries(Usage.TokenBuckets.map((b) => [b, 0])) as RollupRow["tokens"],
      billableRequests: 0,
      webSearches: 0,
      imagesGenerated: 0,
      toolCalls: 0,
      audioSeconds: "0",
      videoSeconds: "0"
    }
    const u = call.usage
    rows.set(key, {
      ...row,
      requestCount: row.requestCount + 1,
      estimatedCount: row.estimatedCount + (call.costSource === "estimated" ? 1 : 0),
      unpricedCount: row.unpricedCount + (call.costSource === "unpriced" ? 1 : 0),
      partialCount: row.partialCount + (call.costSource === "partial" ? 1 : 0),
      cost: Money.format(new Money.Decimal(row.cost).plus(call.total ?? 0)),
      tokens: Object.fromEntries(
        Usage.TokenBuckets.map((b) => [b, row.tokens[b] + (u.tokens[b] ?? 0)])
      ) as RollupRow["tokens"],
      billableRequests: row.billableRequests + (u.requests ?? 0),
      webSearches: row.webSearches + (u.webSearches ?? 0),
      imagesGenerated: row.imagesGenerated + countTotal(u.imagesGenerated),
      toolCalls: row.toolCalls + countTotal(u.toolCalls),
      audioSeconds: Money.format(new Money.Decimal(row.audioSeconds).plus(u.audioSeconds ?? 0)),
      videoSeconds: Money.format(new Money.Decimal(row.videoSeconds).plus(u.videoSeconds ?? 0))
    })
  }
  return [...rows.values()]
}

type PlainRow = ReturnType<typeof plain>

const keyOf = (row: PlainRow) =>
  JSON.stringify([
    row.hour,
    row.provider,
    row.model,
    row.project,
    row.environment,
    row.feature,
    row.team,
    row.customer,
    row.costCenter,
    row.apiKeyId,
    row.currency
  ])

const byKey = (rows: ReadonlyArray<PlainRow>) => [...rows].sort((a, b) => keyOf(a).localeCompare(keyOf(b)))

/** Inserts calls in the given batches and returns the calls that were actually recorded. */
const insertAll = (tenantId: string, batches: ReadonlyArray<ReadonlyArray<UsageRecord.UsageRecord>>) =>
  Effect.gen(function*() {
    const ledger = yield* UsageLedger
    const recorded: Array<UsageRecord.UsageRecord> = []
    for (const batch of batches) {
      const result = yield* ledger.insertBatch(tenantId, batch)
      result.items.forEach((item, i) => {
        if (item.status === "inserted") recorded.push(batch[i]!)
      })
    }
    return recorded
  })

const batchesArbitrary = fc.array(fc.array(callArbitrary({ ids: 60, months: 2 }), { minLength: 1, maxLength: 40 }), {
  minLength: 1,
  maxLength: 5
})

describe.each(targets)("rollups on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("incremental rollups equal an aggregation of the recorded calls done without SQL", () =>
      property(batchesArbitrary, (batches) =>
        Effect.gen(function*() {
          const rollups = yield* Rollups
          const tenantId = yield* newTenant()
          const recorded = yield* insertAll(tenantId, batches)
          const actual = (yield* rollups.list(tenantId, everything)).map(plain)
          assert.deepStrictEqual(byKey(actual), byKey(expectedRollups(tenantId, recorded)))
        }), { numRuns: 12 }), 90_000)

    it.effect("a rebuild from the ledger produces exactly the incremental rollups", () =>
      property(
        fc.tuple(batchesArbitrary, fc.integer({ min: 0, max: 60 * 24 }), fc.integer({ min: 1, max: 60 * 24 })),
        ([batches, startHour, hours]) =>
          Effect.gen(function*() {
            const rollups = yield* Rollups
            const tenantId = yield* newTenant()
            yield* insertAll(tenantId, batches)
            const incremental = yield* rollups.list(tenantId, everything)
            // A sub-range, unaligned on purpose: it is widened to whole hours.
            const from = DateTime.makeUnsafe(epoch + startHour * HOUR + 1_234)
            const to = DateTime.makeUnsafe(epoch + (startHour + hours) * HOUR - 5_678)
            const partial = yield* rollups.rebuild({ tenantId, from, to })
            assert.strictEqual(DateTime.toEpochMillis(partial.from), epoch + startHour * HOUR)
            assert.strictEqual(DateTime.toEpochMillis(partial.to), epoch + (startHour + hours) * HOUR)
            assert.deepStrictEqual((yield* rollups.list(tenantId, everything)).map(plain), incremental.map(plain))
            const full = yield* rollups.rebuild({ tenantId, ...everything })
            assert.strictEqual(full.rows, incremental.length)
            assert.deepStrictEqual((yield* rollups.list(tenantId, everything)).map(plain), incremental.map(plain))
          }),
        { numRuns: 12 }
      ), 90_000)

    it.effect("a rebuild repairs damaged rollups, for every tenant at once", () =>
      Effect.gen(function*() {
        const { sql } = yield* Database
        const rollups = yield* Rollups
        const a = yield* newTenant()
        const b = yield* newTenant()
        const calls = fc.sample(callArbitrary({ ids: 1, months: 1 }), { numRuns: 200, seed: 7 })
          .map((call, i) => ({ ...call, requestId: `r-${i}` }))
        yield* insertAll(a, [calls.slice(0, 100), calls.slice(100)])
        yield* insertAll(b, [calls])
        const before = { a: yield* rollups.list(a, everything), b: yield* rollups.list(b, everything) }
        yield* sql`UPDATE tally.usage_rollups_hourly SET cost = cost + 1, request_count = request_count * 2`
        yield* sql`DELETE FROM tally.usage_rollups_hourly WHERE tenant_id = ${b} AND hour < ${new Date(epoch + 240 * HOUR)}`
        const rebuilt = yield* rollups.rebuild(everything)
        assert.isAtLeast(rebuilt.tenants, 2)
        assert.deepStrictEqual((yield* rollups.list(a, everything)).map(plain), before.a.map(plain))
        assert.deepStrictEqual((yield* rollups.list(b, everything)).map(plain), before.b.map(plain))
      }), 60_000)

    it.effect("rebuilds running alongside batch inserts lose and double-count nothing", () =>
      Effect.gen(function*() {
        const rollups = yield* Rollups
        const tenantId = yield* newTenant()
        const calls = fc.sample(callArbitrary({ ids: 1, months: 1 }), { numRuns: 600, seed: 11 })
          .map((call, i) => ({ ...call, requestId: `c-${i}` }))
        const batches = Array.from({ length: 12 }, (_, i) => calls.slice(i * 50, i * 50 + 50))
        const [recorded] = yield* Effect.all([
          insertAll(tenantId, batches),
          Effect.forEach([1, 2, 3, 4, 5, 6], () => rollups.rebuild({ tenantId, ...everything }), { discard: true })
        ], { concurrency: 2 })
        assert.strictEqual(recorded.length, 600)
        const actual = (yield* rollups.list(tenantId, everything)).map(plain)
        assert.deepStrictEqual(byKey(actual), byKey(expectedRollups(tenantId, recorded)))
      }), 60_000)

    it.effect("a range must end after it starts", () =>
      Effect.gen(function*() {
        const rollups = yield* Rollups
        const at = DateTime.makeUnsafe(epoch)
        assert.strictEqual((yield* Effect.flip(rollups.rebuild({ from: at, to: at })))._tag, "InvalidRange")
        assert.strictEqual((yield* Effect.flip(rollups.list("t", { from: at, to: at })))._tag, "InvalidRange")
      }))

    it.effect("rollups of one call carry its labels, units and exact cost", () =>
      Effect.gen(function*() {
        const rollups = yield* Rollups
        const tenantId = yield* newTenant()
        const call = pricedCall({
          requestId: "one",
          occurredAt: "2025-03-14T15:59:59.999Z",
          usage: {
            tokens: { inputText: 1000, outputText: 10 },
            imagesGenerated: { "1024x1024/high": 2, "*": 1 },
            toolCalls: { file_search: 4 },
            audioSeconds: new Money.Decimal("1.5"),
            webSearches: 3,
            requests: 1
          },
          labels: { project: "p", costCenter: "cc", apiKeyId: "key_1", endUser: "u", workflow: "w" }
        })
        yield* insertAll(tenantId, [[call]])
        const [row] = (yield* rollups.list(tenantId, everything)).map(plain)
        assert.deepStrictEqual(row, {
          tenantId,
          hour: "2025-03-14T15:00:00.000Z",
          provider: "openai",
          model: "gpt-4o-2024-08-06",
          project: "p",
          environment: null,
          feature: null,
          team: null,
          customer: null,
          costCenter: "cc",
          apiKeyId: "key_1",
          currency: "USD",
          requestCount: 1,
          estimatedCount: 0,
          unpricedCount: 0,
          partialCount: 0,
          cost: Money.format(call.total!),
          tokens: { ...Object.fromEntries(Usage.TokenBuckets.map((b) => [b, 0])), inputText: 1000, outputText: 10 } as RollupRow["tokens"],
          billableRequests: 1,
          webSearches: 3,
          imagesGenerated: 3,
          toolCalls: 4,
          audioSeconds: "1.5",
          videoSeconds: "0"
        })
      }))
  })
})
