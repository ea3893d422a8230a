import { assert, describe, layer } from "@effect/vitest"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { Money, UsageRecord } from "@tally/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import fc from "fast-check"
import { Database } from "../src/Database.ts"
import { DeadLetters } from "../src/DeadLetters.ts"
import * as CheckedRecord from "../src/internal/CheckedRecord.ts"
import * as LedgerRow from "../src/internal/LedgerRow.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { callArbitrary, epoch, pricedCall, usageArbitrary } from "./Fixtures.ts"
import { chunks, shuffled } from "./Properties.ts"
import { empty, newTenant, totals } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const statuses = (result: { readonly items: ReadonlyArray<{ readonly status: string }> }) =>
  result.items.map((item) => item.status)

const hashOf = (call: UsageRecord.UsageRecord): string => {
  const checked = CheckedRecord.check(call)
  if (CheckedRecord.isRejection(checked)) throw new Error(`fixture rejected: ${checked.field}: ${checked.message}`)
  return CheckedRecord.hashHex(checked.eventHash)
}

const sumCost = (calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
  Money.format(Money.sum(calls.flatMap((call) => (call.total === null ? [] : [call.total]))))

describe.each(targets)("UsageLedger on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("a batch lands and every call reads back exactly as written", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const tenantId = yield* newTenant()
        const calls = [
          pricedCall({
            requestId: "a",
            rawText: "{\"id\":\"a\",  \"usage\":{\"prompt_tokens\":1500,\"completion_tokens\":570.0}}"
          }),
          pricedCall({ requestId: "b", costSource: "provider", reportedCost: "0.0123456789012345678901234567" }),
          pricedCall({ requestId: "c", costSource: "unpriced", tags: { run: "42", "ünïcode": "✓" } }),
          // Priced in part: the token lines are kept, ten video seconds have no price.
          pricedCall({ requestId: "p", costSource: "partial" }),
          pricedCall({
            requestId: "d",
            costSource: "estimated",
            usage: {
              tokens: { inputText: 10, outputText: 5 },
              imagesGenerated: { "1024x1024/high": 2 },
              toolCalls: { file_search: 3 },
              audioSeconds: new Money.Decimal("12.345"),
              webSearches: 1,
              requests: 1,
              promptTokens: 10,
              batch: true,
              fineTuned: false,
              serviceTier: "flex",
              region: "eu"
            },
            labels: {
              project: "p",
              environment: "e",
              feature: "f",
              team: "t",
              customer: "c",
              endUser: "u",
              workflow: "w",
              costCenter: "cc",
              apiKeyId: "k"
            },
            raw: [1, "two", { three: null }, true]
          })
        ]
        const result = yield* ledger.insertBatch(tenantId, calls)
        assert.deepStrictEqual(statuses(result), ["inserted", "inserted", "inserted", "inserted", "inserted"])
        assert.strictEqual(result.inserted, 5)
        for (const call of calls) {
          const recorded = Option.getOrThrow(yield* ledger.get(tenantId, call.requestId))
          assert.deepStrictEqual(UsageRecord.encode(recorded.call), UsageRecord.encode(call))
          assert.strictEqual(recorded.eventHash, hashOf(call))
        }
        const a = Option.getOrThrow(yield* ledger.get(tenantId, "a"))
        assert.strictEqual(a.call.rawText, calls[0]!.rawText)
        const b = Option.getOrThrow(yield* ledger.get(tenantId, "b"))
        assert.strictEqual(Money.format(b.call.total!), "0.0123456789012345678901234567")
        assert.isTrue(Option.isNone(yield* ledger.get(tenantId, "missing")))
        // The partial call keeps its priced lines and names what it could not price.
        const p = Option.getOrThrow(yield* ledger.get(tenantId, "p"))
        assert.strictEqual(p.call.costSource, "partial")
        assert.deepStrictEqual(p.call.breakdown!.missing!.map((m) => [m.component, Money.format(m.quantity), m.unit]), [["videoSeconds", "10", "second"]])
        assert.isTrue(p.call.total!.greaterThan(0))
        assert.deepStrictEqual(yield* totals(tenantId), {
          ...empty,
          ledgerRows: 5,
          payloadRows: 5,
          requestIds: 5,
          ledgerCost: sumCost(calls),
          rollupRequests: 5,
          rollupCost: sumCost(calls),
          rollupInputText: 1200 * 4 + 10
        })
      }))

    it.effect("a replayed batch changes no totals", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const tenantId = yield* newTenant()
        const calls = Array.from({ length: 20 }, (_, i) => pricedCall({ requestId: `r-${i}`, occurredAt: epoch + i * 3_600_000 }))
        const first = yield* ledger.insertBatch(tenantId, calls)
        assert.strictEqual(first.inserted, 20)
        const before = yield* totals(tenantId)
        const again = yield* ledger.insertBatch(tenantId, [...calls].reverse())
        assert.deepStrictEqual(statuses(again), calls.map(() => "duplicate"))
        assert.deepStrictEqual(yield* totals(tenantId), before)
        assert.strictEqual(before.rollupRequests, 20)
      }))

    it.effect("raw payloads live beside the ledger row: one payload row per new call that has one, none for duplicates or conflicts", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const ledger = yield* UsageLedger
        const tenantId = yield* newTenant()
        const withRaw = pricedCall({ requestId: "p-raw" })
        const textOnly: UsageRecord.UsageRecord = { ...pricedCall({ requestId: "p-text" }), raw: null, rawText: "not json" }
        const none: UsageRecord.UsageRecord = { ...pricedCall({ requestId: "p-none" }), raw: null }
        assert.strictEqual((yield* ledger.insertBatch(tenantId, [withRaw, textOnly, none])).inserted, 3)
        const again = yield* ledger.insertBatch(tenantId, [withRaw, { ...withRaw, raw: { id: "p-raw", changed: true } }])
        assert.deepStrictEqual(statuses(again), ["duplicate", "conflict"])

        const payloads = yield* db.sql<{ request_id: string; raw: unknown; raw_text: string | null }>`SELECT
            request_id, raw, raw_text FROM tally.usage_payloads WHERE tenant_id = ${tenantId} ORDER BY request_id`
        assert.deepStrictEqual(payloads.map((row) => [row.request_id, row.raw, row.raw_text]), [
          ["p-raw", withRaw.raw, null],
          ["p-text", null, "not json"]
        ])
        // Period scans read the ledger's heap, which no longer holds the payloads.
        const inline = yield* db.sql`SELECT column_name FROM information_schema.columns
          WHERE table_schema = 'tally' AND table_name = 'usage_ledger' AND column_name IN ('raw', 'raw_text')`
        assert.strictEqual(inline.length, 0)
        for (const call of [withRaw, textOnly, none]) {
          const recorded = Option.getOrThrow(yield* ledger.get(tenantId, call.requestId))
          assert.deepStrictEqual(recorded.call.raw, call.raw)
          assert.strictEqual(recorded.call.rawText, call.rawText)
        }
        const stored = yield* totals(tenantId)
        assert.deepStrictEqual([stored.ledgerRows, stored.payloadRows], [3, 2])
      }))

    it.effect("jsonb columns hold the same values as when the driver serialized them as jsonb", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const ledger = yield* UsageLedger
        const tenantId = yield* newTenant()
        const key = fc.oneof(fc.string(), fc.constantFrom("__proto__", "10", "01", "é", "✓", ""))
        const [seed] = fc.sample(fc.integer(), 1)
        const drawn = fc.sample(
          fc.record({
            raw: fc.oneof(
              fc.dictionary(key, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
              fc.constantFrom([1, "two", { three: null }], "text", 1e21, -0, 0.1, 2 ** 53)
            ),
            tags: fc.dictionary(key, fc.string(), { maxKeys: 4 }),
            usage: usageArbitrary,
            costSource: fc.constantFrom<UsageRecord.CostSource>("computed", "provider", "partial", "unpriced")
          }),
          { numRuns: 40, seed: seed! }
        )
        const calls = drawn.map(({ costSource, raw, tags, usage }, i) =>
          pricedCall({ requestId: `j-${i}`, raw: raw as UsageRecord.UsageRecord["raw"], tags, usage, costSource })
        )
        assert.strictEqual((yield* ledger.insertBatch(tenantId, calls)).inserted, calls.length, `seed ${seed}`)
        // The values bound the way the ledger bound them before: jsonb arrays the driver serialized.
        const jsonb = (values: ReadonlyArray<unknown>) =>
          Result.getOrThrow(PgTypes.array(values.map((value) => value ?? null), PgTypes.OID.jsonb))
        const rows = yield* db.sql<{ request_id: string; same: boolean }>`SELECT old.request_id,
            p.raw = old.raw AND l.tags = old.tags
              AND l.cost_breakdown IS NOT DISTINCT FROM old.cost_breakdown
              AND l.images_generated IS NOT DISTINCT FROM old.images_generated
              AND l.tool_calls IS NOT DISTINCT FROM old.tool_calls AS same
          FROM unnest(
            ${Result.getOrThrow(PgTypes.array(calls.map((call) => call.requestId), PgTypes.OID.text))}::text[],
            ${jsonb(calls.map((call) => call.raw))}::jsonb[],
            ${jsonb(calls.map((call) => call.tags))}::jsonb[],
            ${jsonb(calls.map((call) => UsageRecord.encode(call).breakdown))}::jsonb[],
            ${jsonb(calls.map((call) => call.usage.imagesGenerated))}::jsonb[],
            ${jsonb(calls.map((call) => call.usage.toolCalls))}::jsonb[]
          ) AS old(request_id, raw, tags, cost_breakdown, images_generated, tool_calls)
          JOIN tally.usage_ledger l ON l.tenant_id = ${tenantId} AND l.request_id = old.request_id
          ${db.sql.literal(LedgerRow.payloadJoin("l"))}
          ORDER BY old.request_id`
        assert.strictEqual(rows.length, calls.length)
        assert.deepStrictEqual(rows.filter((row) => !row.same).map((row) => row.request_id), [], `seed ${seed}`)
      }))

    it.effect("the same request id with a different event is a conflict, dead-lettered with its raw payload", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const deadLetters = yield* DeadLetters
        const tenantId = yield* newTenant()
        const original = pricedCall({ requestId: "x" })
        const changed = pricedCall({
          requestId: "x",
          usage: { tokens: { inputText: 1 } },
          raw: { id: "x", changed: true },
          rawText: "{\"id\":\"x\",\"changed\":true}"
        })
        yield* ledger.insertBatch(tenantId, [original])
        const result = yield* ledger.insertBatch(tenantId, [changed, original])
        assert.deepStrictEqual(statuses(result), ["conflict", "duplicate"])
        const conflict = result.items[0]!
        assert.strictEqual(conflict.status, "conflict")
        if (conflict.status === "conflict") {
          assert.strictEqual(conflict.recordedHash, hashOf(original))
          assert.strictEqual(conflict.eventHash, hashOf(changed))
        }
        const recorded = Option.getOrThrow(yield* ledger.get(tenantId, "x"))
        assert.deepStrictEqual(UsageRecord.encode(recorded.call), UsageRecord.encode(original))
        const letters = yield* deadLetters.list(tenantId)
        assert.strictEqual(letters.length, 1)
        assert.strictEqual(letters[0]!.kind, "conflict")
        assert.strictEqual(letters[0]!.requestId, "x")
        assert.deepStrictEqual(letters[0]!.raw, { id: "x", changed: true })
        assert.strictEqual(letters[0]!.rawText, "{\"id\":\"x\",\"changed\":true}")
        assert.deepStrictEqual(letters[0]!.item, JSON.parse(JSON.stringify(UsageRecord.encode(changed))))
        assert.strictEqual((yield* totals(tenantId)).rollupRequests, 1)
      }))

    it.effect("repeats within one batch: the first lands, equal copies are duplicates, others conflicts", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const tenantId = yield* newTenant()
        const a = pricedCall({ requestId: "a" })
        const aLater = pricedCall({ requestId: "a", occurredAt: "2025-07-01T00:00:00Z" })
        const result = yield* ledger.insertBatch(tenantId, [a, a, aLater, a])
        assert.deepStrictEqual(statuses(result), ["inserted", "duplicate", "conflict", "duplicate"])
        assert.include(yield* totals(tenantId), { ledgerRows: 1, rollupRequests: 1, deadLetters: 1 })
      }))

    it.effect("invalid calls go to dead letters with field and reason; the rest of the batch lands", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const deadLetters = yield* DeadLetters
        const tenantId = yield* newTenant()
        const good = pricedCall({ requestId: "good" })
        const base = pricedCall({ requestId: "bad-total" })
        const badTotal = { ...base, total: base.total!.plus("0.000001") }
        const negative = pricedCall({
          requestId: "bad-tokens",
          raw: { broken: "payload" },
          rawText: "{\"broken\": \"payload\"}"
        })
        const badTokens = { ...negative, usage: { tokens: { inputText: -5 } } }
        const noReason = { ...pricedCall({ requestId: "bad-unpriced", costSource: "unpriced" }), unpricedReason: null }
        const partialWithoutMissing = pricedCall({ requestId: "bad-partial", costSource: "partial" })
        const noMissing = { ...partialWithoutMissing, breakdown: { ...partialWithoutMissing.breakdown!, missing: [] } }
        const nan = { ...pricedCall({ requestId: "bad-nan", costSource: "provider" }) }
        const notANumber = { ...nan, total: new Money.Decimal(NaN), reportedCost: new Money.Decimal(NaN) }
        const wrongDifference = { ...nan, difference: nan.difference!.plus(1) }
        const result = yield* ledger.insertBatch(tenantId, [badTotal, good, badTokens, noReason, notANumber, wrongDifference, noMissing])
        assert.deepStrictEqual(statuses(result), ["rejected", "inserted", "rejected", "rejected", "rejected", "rejected", "rejected"])
        const fields = result.items.flatMap((item) => (item.status === "rejected" ? [[item.requestId, item.field]] : []))
        assert.deepStrictEqual(fields, [
          ["bad-total", "total"],
          ["bad-tokens", "usage.tokens.inputText"],
          ["bad-unpriced", "unpricedReason"],
          ["bad-nan", "total"],
          ["bad-nan", "difference"],
          ["bad-partial", "breakdown.missing"]
        ])
        assert.strictEqual(result.rejected, 6)
        const letters = yield* deadLetters.list(tenantId)
        assert.strictEqual(letters.length, 6)
        const tokens = letters.find((letter) => letter.requestId === "bad-tokens")!
        assert.strictEqual(tokens.kind, "rejected")
        assert.strictEqual(tokens.field, "usage.tokens.inputText")
        assert.match(tokens.reason, /non-negative integer/)
        assert.deepStrictEqual(tokens.raw, { broken: "payload" })
        assert.strictEqual(tokens.rawText, "{\"broken\": \"payload\"}")
        assert.include(yield* totals(tenantId), { ledgerRows: 1, requestIds: 1, rollupRequests: 1, deadLetters: 6 })
      }))

    it.effect("events refused before they became calls are dead-lettered in the batch's transaction", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const deadLetters = yield* DeadLetters
        const tenantId = yield* newTenant()
        const refused = [
          { source: "ingest", kind: "malformed", requestId: "early-1", field: "usage", reason: "usage: expected an object" },
          { source: "ingest", kind: "rejected", requestId: null, field: "provider", reason: "provider: unknown provider" }
        ]
        const bad = { ...pricedCall({ requestId: "bad" }), total: null }
        const result = yield* ledger.insertBatch(tenantId, [pricedCall({ requestId: "ok" }), bad], refused)
        assert.deepStrictEqual(statuses(result), ["inserted", "rejected"], "refused events have no result")
        assert.strictEqual(result.rejected, 1)
        const letters = yield* deadLetters.list(tenantId)
        // One transaction: PGlite's clock can give the statements the same instant, so no order is asserted.
        assert.sameDeepMembers(letters.map((l) => [l.source, l.requestId, l.field]), [
          ["usage-batch", "bad", "total"],
          ["ingest", "early-1", "usage"],
          ["ingest", null, "provider"]
        ])
        const onlyRefused = yield* ledger.insertBatch(tenantId, [], [refused[0]!])
        assert.deepStrictEqual(onlyRefused.items, [])
        assert.include(yield* totals(tenantId), { ledgerRows: 1, deadLetters: 4 })
        const error = yield* Effect.flip(ledger.insertBatch("no-such-tenant", [pricedCall({ requestId: "a" })], refused))
        assert.strictEqual(error._tag, "TenantNotFound")
        assert.deepStrictEqual(yield* totals("no-such-tenant"), empty)
      }))

    it.effect("a batch for an unknown tenant fails whole and writes nothing", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const error = yield* Effect.flip(ledger.insertBatch("no-such-tenant", [pricedCall({ requestId: "a" })]))
        assert.strictEqual(error._tag, "TenantNotFound")
        assert.deepStrictEqual(yield* totals("no-such-tenant"), empty)
      }))

    it.effect("calls in any month get their partition, created on demand", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const { sql } = yield* Database
        const tenantId = yield* newTenant()
        const result = yield* ledger.insertBatch(tenantId, [
          pricedCall({ requestId: "future", occurredAt: "2031-07-31T23:59:59.999Z" }),
          pricedCall({ requestId: "past", occurredAt: "1999-12-01T00:00:00.000Z" })
        ])
        assert.strictEqual(result.inserted, 2)
        const [row] = yield* sql<{ future: string | null; past: string | null }>`SELECT
          to_regclass('tally.usage_ledger_2031_07')::text AS future,
          to_regclass('tally.usage_ledger_1999_12')::text AS past`
        assert.deepStrictEqual(row, { future: "tally.usage_ledger_2031_07", past: "tally.usage_ledger_1999_12" })
        const [where] = yield* sql<{ partition: string }>`SELECT tableoid::regclass::text AS partition
          FROM tally.usage_ledger WHERE tenant_id = ${tenantId} AND request_id = 'future'`
        assert.strictEqual(where!.partition, "tally.usage_ledger_2031_07")
      }))

    it.effect("duplicate storm: 1,000 copies of one event with random timestamps are counted once", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const tenantId = yield* newTenant()
        const [seed] = fc.sample(fc.integer(), 1)
        const instants = fc.sample(fc.integer({ min: 0, max: 365 * 24 * 3_600_000 }), { numRuns: 25, seed: seed! })
        const copies = fc.sample(fc.constantFrom(...instants), { numRuns: 1000, seed: seed! + 1 })
          .map((at) => pricedCall({ requestId: "storm", occurredAt: epoch + at }))
        const batches = chunks(shuffled(copies, seed! + 2), 100, seed! + 3)
        const results = yield* Effect.forEach(batches, (batch) => ledger.insertBatch(tenantId, batch), {
          concurrency: 4
        })
        const items = results.flatMap((result) => result.items)
        assert.strictEqual(items.length, 1000)
        assert.strictEqual(items.filter((item) => item.status === "inserted").length, 1, `seed ${seed}`)
        const winner = Option.getOrThrow(yield* ledger.get(tenantId, "storm")).call
        const winnerHash = hashOf(winner)
        const sameAsWinner = copies.filter((copy) => hashOf(copy) === winnerHash).length
        assert.strictEqual(items.filter((item) => item.status === "duplicate").length, sameAsWinner - 1)
        const conflicts = items.filter((item) => item.status === "conflict").length
        assert.strictEqual(conflicts, 1000 - sameAsWinner)
        assert.deepStrictEqual(yield* totals(tenantId), {
          ledgerRows: 1,
          payloadRows: 1,
          requestIds: 1,
          ledgerCost: sumCost([winner]),
          rollupRequests: 1,
          rollupCost: sumCost([winner]),
          rollupInputText: 1200,
          deadLetters: conflicts
        })
      }), 90_000)

    it.effect("concurrent overlapping batches from 4 fibers give exact totals", () =>
      Effect.gen(function*() {
        const ledger = yield* UsageLedger
        const tenantId = yield* newTenant()
        const [seed] = fc.sample(fc.integer(), 1)
        const calls = fc.sample(callArbitrary({ ids: 1, months: 3 }), { numRuns: 1200, seed: seed! })
          .map((call, i) => ({ ...call, requestId: `call-${i}` }))
        // Fiber k takes calls [300k, 300k + 600) around the ring: every call is sent by two fibers.
        const windows = [0, 1, 2, 3].map((k) =>
          shuffled(Array.from({ length: 600 }, (_, i) => calls[(300 * k + i) % calls.length]!), seed! + k)
        )
        const results = yield* Effect.forEach(
          windows,
          (window, k) =>
            Effect.forEach(chunks(window, 80, seed! + 10 + k), (batch) => ledger.insertBatch(tenantId, batch)),
          { concurrency: 4 }
        )
        const items = results.flat().flatMap((result) => result.items)
        assert.strictEqual(items.filter((item) => item.status === "inserted").length, 1200, `seed ${seed}`)
        assert.strictEqual(items.filter((item) => item.status === "duplicate").length, 1200)
        const inputText = calls.reduce((sum, call) => sum + (call.usage.tokens.inputText ?? 0), 0)
        assert.deepStrictEqual(yield* totals(tenantId), {
          ledgerRows: 1200,
          payloadRows: 1200,
          requestIds: 1200,
          ledgerCost: sumCost(calls),
          rollupRequests: 1200,
          rollupCost: sumCost(calls),
          rollupInputText: inputText,
          deadLetters: 0
        })
      }), 90_000)

    it.effect("a failure after the ledger insert rolls back the whole batch: no rows, no rollups", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const ledger = yield* UsageLedger
        const tenantId = yield* newTenant()
        const calls = Array.from({ length: 50 }, (_, i) =>
          pricedCall({ requestId: `k-${i}`, occurredAt: Date.UTC(2028, i % 3, 1 + i) }))
        const exit = yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const result = yield* ledger.insertBatch(tenantId, calls)
            assert.strictEqual(result.inserted, 50)
            assert.strictEqual((yield* db.sql`SELECT 1 FROM tally.usage_ledger`).length, 50)
            return yield* Effect.fail("injected failure after the ledger insert")
          })
        ).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        assert.deepStrictEqual(yield* totals(tenantId), empty)
        // Nothing was consumed: the same calls land afterwards, into partitions made again.
        const retried = yield* ledger.insertBatch(tenantId, calls)
        assert.strictEqual(retried.inserted, 50)
        assert.strictEqual((yield* totals(tenantId)).rollupRequests, 50)
      }))

    it.effect("an interrupted batch transaction leaves no partial rows or rollups", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const ledger = yield* UsageLedger
        const tenantId = yield* newTenant()
        const calls = Array.from({ length: 50 }, (_, i) => pricedCall({ requestId: `i-${i}` }))
        const written = yield* Deferred.make<void>()
        const fiber = yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* ledger.insertBatch(tenantId, calls)
            yield* Deferred.succeed(written, undefined)
            return yield* Effect.never
          })
        ).pipe(Effect.forkChild)
        yield* Deferred.await(written)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* totals(tenantId), empty)
        assert.strictEqual((yield* ledger.insertBatch(tenantId, calls)).inserted, 50)
      }))

    if (target.name === "postgres") {
      it.effect("a batch whose connection is killed before commit leaves no partial rows or rollups", () =>
        Effect.gen(function*() {
          const db = yield* Database
          const ledger = yield* UsageLedger
          const tenantId = yield* newTenant()
          const calls = Array.from({ length: 50 }, (_, i) => pricedCall({ requestId: `t-${i}` }))
          const backend = yield* Deferred.make<number>()
          const fiber = yield* db.withTenant(
            tenantId,
            Effect.gen(function*() {
              yield* ledger.insertBatch(tenantId, calls)
              const [row] = yield* db.sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
              yield* Deferred.succeed(backend, row!.pid)
              // Still inside the transaction when the backend is killed.
              yield* db.sql`SELECT pg_sleep(30)`
            })
          ).pipe(Effect.forkChild)
          const pid = yield* Deferred.await(backend)
          yield* db.sql`SELECT pg_terminate_backend(${pid})`
          const exit = yield* Fiber.await(fiber)
          assert.isTrue(Exit.isFailure(exit))
          assert.deepStrictEqual(yield* totals(tenantId), empty)
          assert.strictEqual((yield* ledger.insertBatch(tenantId, calls)).inserted, 50)
        }))
    }
  })
})
