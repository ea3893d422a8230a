import { assert, describe, layer } from "@effect/vitest"
import { Anomaly, Money, type UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { AnomalyFindings } from "../src/AnomalyFindings.ts"
import { Database } from "../src/Database.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { pricedCall } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const HOUR = 3_600_000
const MINUTE = 60_000
const start = Date.UTC(2025, 2, 14, 10)
const at = (millis: number) => DateTime.makeUnsafe(millis)
const range = { from: at(start), to: at(start + 3 * HOUR) }
/** Tokens of the fixture's default usage, every bucket. */
const TOKENS = 1200 + 300 + 450 + 120

const insert = (tenantId: string, calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
  Effect.gen(function*() {
    const ledger = yield* UsageLedger
    const result = yield* ledger.insertBatch(tenantId, calls)
    assert.deepStrictEqual(result.items.map((item) => item.status), calls.map(() => "inserted"))
  })

/** Two hours of calls: search's gpt-4o and mini calls, a call without labels, an unpriced one. */
const traffic = (): ReadonlyArray<UsageRecord.UsageRecord> => [
  pricedCall({ requestId: "a1", occurredAt: start + 5 * MINUTE, labels: { project: "search", team: "core", workflow: "wf-1" } }),
  pricedCall({ requestId: "a2", occurredAt: start + 5 * MINUTE + 10_000, labels: { project: "search", team: "core", workflow: "wf-1" } }),
  pricedCall({ requestId: "a3", occurredAt: start + 40 * MINUTE, model: "gpt-4o-mini", labels: { project: "search" } }),
  pricedCall({ requestId: "b1", occurredAt: start + HOUR + 1 * MINUTE, labels: {} }),
  pricedCall({ requestId: "u1", occurredAt: start + HOUR + 1 * MINUTE, costSource: "unpriced", labels: { project: "search" } })
]

const finding = (overrides: Partial<Anomaly.FindingInput> = {}): Anomaly.FindingInput => ({
  kind: "spend_spike",
  scope: { kind: "project", value: "search" },
  windowStart: at(start),
  windowEnd: at(start + HOUR),
  severity: "warning",
  currency: "USD",
  observed: new Money.Decimal("12.5"),
  expected: new Money.Decimal("2"),
  statistic: "modified_z",
  score: new Money.Decimal("7.25"),
  summary: "project=search spent 6.3x its usual hour",
  evidence: { note: "test" },
  ...overrides
})

const outbox = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    return yield* sql<{ kind: string; dedupe_key: string; payload: Record<string, unknown> }>`
      SELECT kind, dedupe_key, payload FROM tally.outbox WHERE tenant_id = ${tenantId} ORDER BY dedupe_key`
  })

for (const target of targets) {
  describe(`AnomalyFindings (${target.name})`, () => {
    layer(target.layer, layerOptions)((it) => {
      it.effect("hourly: spend, priced requests and tokens per scope, model and currency; unpriced calls and empty labels left out", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const calls = traffic()
          yield* insert(tenantId, calls)
          const rows = yield* AnomalyFindings.use((findings) => findings.hourly(tenantId, range))
          const cost = (ids: ReadonlyArray<string>) => Money.format(Money.sum(calls.filter((c) => ids.includes(c.requestId)).map((c) => c.total!)))
          const plain = rows
            .map((r) => ({ hour: r.hour, scope: Anomaly.scopeKey(r.scope), model: r.model, currency: r.currency, cost: Money.format(r.cost), requests: r.requests, tokens: r.tokens }))
            .sort((a, b) => a.hour - b.hour || a.scope.localeCompare(b.scope) || a.model.localeCompare(b.model))
          assert.deepStrictEqual(plain, [
            { hour: start, scope: "model=gpt-4o-2024-08-06", model: "gpt-4o-2024-08-06", currency: "USD", cost: cost(["a1", "a2"]), requests: 2, tokens: 2 * TOKENS },
            { hour: start, scope: "model=gpt-4o-mini", model: "gpt-4o-mini", currency: "USD", cost: cost(["a3"]), requests: 1, tokens: TOKENS },
            { hour: start, scope: "project=search", model: "gpt-4o-2024-08-06", currency: "USD", cost: cost(["a1", "a2"]), requests: 2, tokens: 2 * TOKENS },
            { hour: start, scope: "project=search", model: "gpt-4o-mini", currency: "USD", cost: cost(["a3"]), requests: 1, tokens: TOKENS },
            { hour: start, scope: "team=core", model: "gpt-4o-2024-08-06", currency: "USD", cost: cost(["a1", "a2"]), requests: 2, tokens: 2 * TOKENS },
            { hour: start, scope: "tenant", model: "gpt-4o-2024-08-06", currency: "USD", cost: cost(["a1", "a2"]), requests: 2, tokens: 2 * TOKENS },
            { hour: start, scope: "tenant", model: "gpt-4o-mini", currency: "USD", cost: cost(["a3"]), requests: 1, tokens: TOKENS },
            { hour: start + HOUR, scope: "model=gpt-4o-2024-08-06", model: "gpt-4o-2024-08-06", currency: "USD", cost: cost(["b1"]), requests: 1, tokens: TOKENS },
            { hour: start + HOUR, scope: "tenant", model: "gpt-4o-2024-08-06", currency: "USD", cost: cost(["b1"]), requests: 1, tokens: TOKENS }
          ])
        }))

      it.effect("minutes: tokens and calls per scope in each minute with calls, unpriced calls included", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          yield* insert(tenantId, traffic())
          const rows = yield* AnomalyFindings.use((findings) => findings.minutes(tenantId, range))
          const tenant = rows
            .filter((r) => r.scope.kind === "tenant")
            .map((r) => ({ minute: r.minute, tokens: r.tokens, requests: r.requests }))
            .sort((a, b) => a.minute - b.minute)
          assert.deepStrictEqual(tenant, [
            { minute: start + 5 * MINUTE, tokens: 2 * TOKENS, requests: 2 },
            { minute: start + 40 * MINUTE, tokens: TOKENS, requests: 1 },
            { minute: start + HOUR + MINUTE, tokens: 2 * TOKENS, requests: 2 }
          ])
          const search = rows.filter((r) => Anomaly.scopeKey(r.scope) === "project=search").map((r) => r.minute).sort((a, b) => a - b)
          assert.deepStrictEqual(search, [start + 5 * MINUTE, start + 40 * MINUTE, start + HOUR + MINUTE])
        }))

      it.effect("involved: the calls of a scope by model and workflow, largest token use first, with cost and samples", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const calls = traffic()
          yield* insert(tenantId, calls)
          const groups = yield* AnomalyFindings.use((findings) =>
            findings.involved(tenantId, { kind: "project", value: "search" }, { from: at(start), to: at(start + 2 * HOUR) })
          )
          const cost = (ids: ReadonlyArray<string>) => Money.sum(calls.filter((c) => ids.includes(c.requestId)).map((c) => c.total!))
          assert.deepStrictEqual(groups.map((g) => ({ ...g, cost: g.cost.map((c) => ({ currency: c.currency, amount: Money.format(new Money.Decimal(c.amount)) })) })), [
            { model: "gpt-4o-2024-08-06", workflow: "wf-1", requests: 2, tokens: 2 * TOKENS, cost: [{ currency: "USD", amount: Money.format(cost(["a1", "a2"])) }], sampleRequestIds: ["a1", "a2"] },
            { model: "gpt-4o-2024-08-06", workflow: null, requests: 1, tokens: TOKENS, cost: [], sampleRequestIds: ["u1"] },
            { model: "gpt-4o-mini", workflow: null, requests: 1, tokens: TOKENS, cost: [{ currency: "USD", amount: Money.format(cost(["a3"])) }], sampleRequestIds: ["a3"] }
          ])
          const limited = yield* AnomalyFindings.use((findings) => findings.involved(tenantId, Anomaly.tenantScope, range, 1))
          assert.deepStrictEqual(limited.map((g) => [g.model, g.workflow, g.requests]), [["gpt-4o-2024-08-06", null, 2]])
        }))

      it.effect("a range that does not move forward is refused, naming `to`", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const backwards = { from: range.to, to: range.from }
          for (const read of [
            AnomalyFindings.use((findings) => Effect.asVoid(findings.hourly(tenantId, backwards))),
            AnomalyFindings.use((findings) => Effect.asVoid(findings.minutes(tenantId, backwards))),
            AnomalyFindings.use((findings) => Effect.asVoid(findings.involved(tenantId, Anomaly.tenantScope, backwards)))
          ]) {
            const error = yield* Effect.flip(read)
            assert.strictEqual(error._tag, "InvalidAnomalyQuery")
            assert.strictEqual(error._tag === "InvalidAnomalyQuery" ? error.field : "", "to")
          }
        }))

      it.effect("record: each key once, in one transaction with its outbox message; repeats and duplicates in a batch count as duplicates", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const now = at(start + 2 * HOUR)
          const spike = finding()
          const rate = finding({ kind: "token_rate_spike", scope: Anomaly.tenantScope, currency: null, statistic: "ratio_to_p99" })
          const first = yield* AnomalyFindings.use((findings) => findings.record(tenantId, [spike, rate, spike], now))
          assert.strictEqual(first.duplicates, 1)
          // Key order: kind, scope, window start, currency.
          assert.deepStrictEqual(first.recorded.map((f) => f.kind), ["spend_spike", "token_rate_spike"])
          assert.deepStrictEqual(first.recorded.map((f) => DateTime.formatIso(f.detectedAt)), [DateTime.formatIso(now), DateTime.formatIso(now)])
          const again = yield* AnomalyFindings.use((findings) => findings.record(tenantId, [rate, finding({ severity: "critical" })], now))
          assert.deepStrictEqual(again, { recorded: [], duplicates: 2 })

          const messages = yield* outbox(tenantId)
          assert.deepStrictEqual(messages.map((m) => [m.kind, m.dedupe_key]), [
            [Anomaly.messageKind, Anomaly.dedupeKey(spike)],
            [Anomaly.messageKind, Anomaly.dedupeKey(rate)]
          ])
          const stored = first.recorded[0]!
          assert.deepStrictEqual(messages[0]!.payload, JSON.parse(JSON.stringify({ type: Anomaly.messageKind, ...Anomaly.toJson(stored) })))
          assert.strictEqual(Money.format(stored.observed), "12.5")
          assert.strictEqual(stored.severity, "warning")
        }))

      it.effect("record refuses a finding that cannot be, naming it, and stores nothing of the batch", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const now = at(start + 2 * HOUR)
          const bad = yield* Effect.flip(AnomalyFindings.use((findings) =>
            findings.record(tenantId, [finding(), finding({ scope: { kind: "team", value: null } })], now)
          ))
          assert.strictEqual(bad._tag, "InvalidAnomalyQuery")
          assert.strictEqual(bad._tag === "InvalidAnomalyQuery" ? bad.field : "", "findings[1].scope.value")
          const backwards = yield* Effect.flip(AnomalyFindings.use((findings) =>
            findings.record(tenantId, [finding({ windowEnd: at(start) })], now)
          ))
          assert.strictEqual(backwards._tag === "InvalidAnomalyQuery" ? backwards.field : "", "findings[0].windowEnd")
          assert.lengthOf(yield* AnomalyFindings.use((findings) => findings.list(tenantId)), 0)
          assert.lengthOf(yield* outbox(tenantId), 0)
        }))

      it.effect("list: windows overlapping the range, by kind and scope kind, newest window first; only the tenant's own", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const other = yield* newTenant("Other")
          const now = at(start + 5 * HOUR)
          yield* AnomalyFindings.use((findings) =>
            findings.record(tenantId, [
              finding(),
              finding({ windowStart: at(start + HOUR), windowEnd: at(start + 2 * HOUR) }),
              finding({ kind: "model_mix_shift", scope: Anomaly.tenantScope, windowStart: at(start + 2 * HOUR), windowEnd: at(start + 3 * HOUR) })
            ], now)
          )
          const list = (options?: Parameters<typeof AnomalyFindings.Service["list"]>[1]) =>
            AnomalyFindings.use((findings) => findings.list(tenantId, options)).pipe(
              Effect.map((found) => found.map((f) => `${f.kind} ${Anomaly.scopeKey(f.scope)} ${DateTime.formatIso(f.windowStart)}`))
            )
          assert.deepStrictEqual(yield* list(), [
            "model_mix_shift tenant 2025-03-14T12:00:00.000Z",
            "spend_spike project=search 2025-03-14T11:00:00.000Z",
            "spend_spike project=search 2025-03-14T10:00:00.000Z"
          ])
          assert.deepStrictEqual(yield* list({ from: at(start + HOUR + MINUTE), to: at(start + 2 * HOUR) }), [
            "spend_spike project=search 2025-03-14T11:00:00.000Z"
          ])
          assert.deepStrictEqual(yield* list({ kinds: ["model_mix_shift"] }), ["model_mix_shift tenant 2025-03-14T12:00:00.000Z"])
          assert.deepStrictEqual(yield* list({ scopeKinds: ["project"], limit: 1 }), ["spend_spike project=search 2025-03-14T11:00:00.000Z"])
          assert.lengthOf(yield* AnomalyFindings.use((findings) => findings.list(other)), 0)
        }))
    })
  })
}
