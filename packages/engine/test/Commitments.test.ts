import { assert, describe, layer } from "@effect/vitest"
import { Money } from "@tally/core"
import { Commitments as CommitmentStore, UsageLedger } from "@tally/store"
import { DateTime, Effect, Layer, Option } from "effect"
import * as Commitments from "../src/Commitments.ts"
import { Ingest } from "../src/Ingest.ts"
import { Repricing } from "../src/Reprice.ts"
import { fixtureJson } from "./FixtureFiles.ts"
import { backend, ingestLayer, layerOptions, newTenant, testTimeout } from "./TestStore.ts"

// gemini-2.5-flash lists $0.30 per 1M input and $2.50 per 1M output tokens: 200,000 prompt and
// 100,000 output tokens cost 0.06 + 0.25 = 0.31 on demand.
const provisioned = fixtureJson<{ payload: Record<string, unknown> }>("vertex-provisioned-throughput.json").payload
const onDemand = { ...provisioned, usageMetadata: { ...(provisioned["usageMetadata"] as object), trafficType: "ON_DEMAND" } }

const gemini = (requestId: string, payload: unknown, occurredAt = "2026-01-15T00:30:00Z") => ({
  requestId,
  occurredAt,
  provider: "google",
  payload
})

// gpt-4o-mini lists $0.15 per 1M input and $0.60 per 1M output: 1M of each is 0.75 on demand.
const mini = (requestId: string) => ({
  requestId,
  occurredAt: "2026-01-10T12:00:00Z",
  provider: "openai",
  model: "gpt-4o-mini",
  usage: { tokens: { inputText: 1_000_000, outputText: 1_000_000 } }
})

const recorded = (tenantId: string, requestId: string) =>
  Effect.map(UsageLedger.UsageLedger.use((ledger) => ledger.get(tenantId, requestId)), (o) => Option.getOrThrow(o).call)

const utc = (iso: string) => DateTime.makeUnsafe(iso)
const fmt = (d: Money.Decimal | null) => (d === null ? null : Money.format(d))

describe(`Commitments on ${backend}`, () => {
  layer(Layer.provideMerge(Repricing.layer, ingestLayer), layerOptions)((it) => {
    it.effect("a call on provisioned throughput costs 0 and keeps its on-demand cost; spillover is priced on demand; a replay covers nothing", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const pt = yield* Commitments.create(tenantId, {
          name: "vertex-pt",
          kind: "provisioned",
          provider: "google",
          model: "gemini-2.5-flash",
          currency: "USD",
          fee: "10",
          feePeriod: "hour",
          startsAt: "2026-01-01T00:00:00Z"
        })
        const result = yield* ingest.ingest(tenantId, [gemini("pt-1", provisioned), gemini("od-1", onDemand), gemini("pt-1", provisioned)])
        assert.deepStrictEqual(result.items.map((i) => i.status), ["inserted", "inserted", "duplicate"])
        assert.strictEqual(result.items[0]!.total, "0")
        assert.strictEqual(result.items[1]!.total, "0.31")

        const covered = yield* recorded(tenantId, "pt-1")
        assert.strictEqual(fmt(covered.total), "0")
        assert.deepStrictEqual(covered.breakdown!.lines.map((l) => [l.component, fmt(l.amount), fmt(l.unitPrice), l.conditions.at(-1)]), [
          ["inputText", "0", "0", "provisioned-throughput:vertex-pt(on-demand 0.06)"],
          ["outputText", "0", "0", "provisioned-throughput:vertex-pt(on-demand 0.25)"]
        ])
        const spilled = yield* recorded(tenantId, "od-1")
        assert.strictEqual(fmt(spilled.total), "0.31")
        assert.isFalse(spilled.breakdown!.lines.some((l) => l.conditions.some((c) => c.startsWith("provisioned-throughput"))))

        // Two hours at 10 an hour; the covered call would have cost 0.31 on demand.
        const report = yield* Commitments.report(tenantId, pt.id, utc("2026-01-15T00:00:00Z"), utc("2026-01-15T02:00:00Z"))
        assert.strictEqual(fmt(report.fee), "20")
        assert.deepStrictEqual([report.covered.calls, report.covered.tokens, fmt(report.covered.onDemand), fmt(report.covered.charged)], [1, 300000, "0.31", "0"])
        assert.deepStrictEqual([report.spillover.calls, fmt(report.spillover.onDemand), fmt(report.spillover.charged)], [1, "0.31", "0.31"])
        assert.strictEqual(fmt(report.utilisation), "0.0155")
        assert.strictEqual(fmt(report.effectiveCost), "20.31")
        assert.strictEqual(fmt(report.savings), "-19.69")

        const rows = yield* CommitmentStore.Commitments.use((store) =>
          store.coverage(tenantId, { from: utc("2026-01-15T00:00:00Z"), to: utc("2026-01-16T00:00:00Z") })
        )
        assert.deepStrictEqual(rows.map((r) => [r.requestId, r.coverage.kind, fmt(r.coverage.onDemand), fmt(r.coverage.charged), r.coverage.signal]), [
          ["od-1", "spillover", "0.31", "0.31", null],
          ["pt-1", "provisioned", "0.31", "0", "service-tier:PROVISIONED_THROUGHPUT"]
        ])

        // Repricing prices the calls again and applies the commitment again: nothing changes.
        const repriced = yield* Repricing.use((r) => r.reprice(tenantId, { from: utc("2026-01-15T00:00:00Z"), to: utc("2026-01-16T00:00:00Z") }))
        assert.deepStrictEqual([repriced.scanned, repriced.unchanged], [2, 2])
        assert.strictEqual(fmt((yield* recorded(tenantId, "pt-1")).total), "0")

        // 30 days of the scope's usage: 0.62 on demand (the covered call counts at its on-demand cost).
        const estimate = yield* Commitments.breakEven(tenantId, {
          provider: "google",
          model: "gemini-2.5-flash",
          currency: "USD",
          fee: "730",
          feePeriod: "month",
          at: "2026-01-20T00:00:00Z"
        })
        assert.strictEqual(fmt(estimate.onDemand), "0.62")
        assert.strictEqual(fmt(estimate.feePerHour), "1")
        assert.strictEqual(fmt(estimate.feePerMonth), "730")
        assert.isTrue(estimate.onDemandPerHour.equals(new Money.Decimal("0.62").dividedBy(720)))
        assert.isTrue(estimate.breakEvenUtilisation!.equals(new Money.Decimal(720).dividedBy("0.62")))
        assert.isFalse(estimate.worthBuying)
      }), testTimeout)

    it.effect("a committed-use discount takes its percentage off every line; the month's report shows the shortfall", () =>
      Effect.gen(function*() {
        const ingest = yield* Ingest
        const tenantId = yield* newTenant()
        const cud = yield* Commitments.create(tenantId, {
          name: "openai-cud",
          kind: "spend",
          provider: "openai",
          model: "gpt-4o-mini*",
          currency: "USD",
          discountPercent: "20",
          amount: "100",
          startsAt: "2026-01-01T00:00:00Z"
        })
        const result = yield* ingest.ingest(tenantId, [mini("m-1")])
        assert.strictEqual(result.items[0]!.total, "0.6")
        const call = yield* recorded(tenantId, "m-1")
        assert.deepStrictEqual(call.breakdown!.lines.map((l) => [fmt(l.amount), l.conditions.at(-1)]), [
          ["0.12", "commitment-discount:openai-cud(-20%)"],
          ["0.48", "commitment-discount:openai-cud(-20%)"]
        ])
        const report = yield* Commitments.report(tenantId, cud.id, utc("2026-01-01T00:00:00Z"), utc("2026-02-01T00:00:00Z"))
        assert.deepStrictEqual(
          [fmt(report.fee), fmt(report.covered.onDemand), fmt(report.covered.charged), fmt(report.utilisation), fmt(report.shortfall), fmt(report.effectiveCost), fmt(report.savings)],
          ["100", "0.75", "0.6", "0.006", "99.4", "100", "-99.25"]
        )
        // Half of January: half the committed amount.
        const half = yield* Commitments.report(tenantId, cud.id, utc("2026-01-01T00:00:00Z"), utc("2026-01-16T12:00:00Z"))
        assert.strictEqual(fmt(half.fee), "50")
      }), testTimeout)

    it.effect("bad commitments are refused naming the field", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const base = { name: "x", currency: "USD", startsAt: "2026-01-01T00:00:00Z" }
        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [{ ...base, kind: "provisioned", model: "m", feePeriod: "hour" }, "fee"],
          [{ ...base, kind: "provisioned", fee: "1", feePeriod: "hour" }, "model"],
          [{ ...base, kind: "spend", amount: "5" }, "discountPercent"],
          [{ ...base, kind: "spend", amount: "5", discountPercent: "120" }, "discountPercent"],
          [{ ...base, kind: "spend", amount: "5", discountPercent: "10", endsAt: "2025-01-01T00:00:00Z" }, "endsAt"],
          [{ ...base, kind: "provisioned", model: "m", fee: "-1", feePeriod: "hour" }, "fee"]
        ]
        for (const [input, field] of cases) {
          const error = yield* Effect.flip(Commitments.create(tenantId, input))
          assert.strictEqual(error._tag, "InvalidCommitment")
          assert.strictEqual((error as { field: string }).field, field, JSON.stringify(input))
        }
      }), testTimeout)
  })
})
