import { assert, describe, layer } from "@effect/vitest"
import { Anomaly } from "@tally/core"
import { AnomalyFindings, Database, Store, Tenants } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { configure, defaults, type DetectionResult, make } from "../src/Anomalies.ts"
import * as T from "./AnomalyTraffic.ts"

const backend = process.env.TALLY_TEST_DATABASE_URL ? "postgres" : "pglite"

/** The store's repositories (findings among them) over the test database (PGlite, or PostgreSQL when configured). */
const testLayer = Store.layerWith(Database.layerTest)

const judged = { from: DateTime.makeUnsafe(T.judgedFrom), to: DateTime.makeUnsafe(T.judgedTo) }

const newTenantWith = (calls: ReadonlyArray<T.Call>) =>
  Effect.gen(function*() {
    const tenant = yield* Tenants.Tenants.use((tenants) => tenants.create({ name: "Generated" }))
    yield* T.record(tenant.id, calls)
    return tenant.id
  })

const label = (f: Anomaly.Finding) =>
  `${f.kind} ${Anomaly.scopeKey(f.scope)} ${DateTime.formatIso(f.windowStart)} ${f.severity}`

/** Findings stored for a tenant, as the owner sees them (no row security). */
const stored = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ kind: string; scope_kind: string; scope_value: string; window_start: Date; id: string }>`
      SELECT id, kind, scope_kind, scope_value, window_start FROM tally.anomalies WHERE tenant_id = ${tenantId}`
  })

const outboxMessages = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ dedupe_key: string; payload: { id: string; type: string; kind: string } }>`
      SELECT dedupe_key, payload FROM tally.outbox WHERE tenant_id = ${tenantId} AND kind = ${Anomaly.messageKind}`
  })

/** The injected tenant, shared by the tests after the one that detects it. */
let injected: { tenantId: string; runs: ReadonlyArray<DetectionResult> } | undefined

describe(`anomaly detection on generated traffic (${backend})`, () => {
  layer(testLayer, { excludeTestServices: true, timeout: "300 seconds" })((it) => {
    it.effect("clean traffic — daily cycle, quiet weekend, nightly batch burst, Poisson noise — raises no finding", () =>
      Effect.gen(function*() {
        const sensitive = yield* make(configure(T.testThresholds))
        const standard = yield* make(defaults)
        for (const seed of [11, 12, 13]) {
          const tenantId = yield* newTenantWith(T.cleanTraffic(seed))
          for (const [name, anomalies] of [["test thresholds", sensitive], ["defaults", standard]] as const) {
            const result = yield* anomalies.detectRange({ tenantId, ...judged })
            assert.deepStrictEqual(result.recorded.map(label), [], `seed ${seed}, ${name}`)
            assert.deepStrictEqual(Object.values(result.deviating), [0, 0, 0, 0], `seed ${seed}, ${name}`)
            if (name === "test thresholds") {
              // The check means something only if many scope-hours were actually judged.
              assert.isAbove(result.evaluated.spend_spike, 600, `seed ${seed}`)
              assert.isAbove(result.evaluated.token_rate_spike, 600, `seed ${seed}`)
              assert.isAbove(result.evaluated.model_mix_shift, 350, `seed ${seed}`)
              assert.isAbove(result.evaluated.cost_per_request_jump, 300, `seed ${seed}`)
            }
          }
          assert.lengthOf(yield* stored(tenantId), 0)
        }
      }), 300_000)

    it.effect("each injected anomaly is found with its scope, window and severity, by concurrent workers at once", () =>
      Effect.gen(function*() {
        const anomalies = yield* make(configure(T.testThresholds))
        const tenantId = yield* newTenantWith(T.injectedTraffic(21))
        // Three workers judge the same hours at the same time (in parallel on PostgreSQL).
        const runs = yield* Effect.all([1, 2, 3].map(() => anomalies.detectRange({ tenantId, ...judged })), {
          concurrency: "unbounded"
        })
        injected = { tenantId, runs }
        const findings = runs.flatMap((run) => run.recorded)
        for (const want of T.expected) {
          const found = findings.filter((f) =>
            f.kind === want.kind && f.scope.kind === want.scope.kind && f.scope.value === want.scope.value &&
            DateTime.toEpochMillis(f.windowStart) === want.windowStart
          )
          assert.lengthOf(found, 1, `${want.kind} ${want.scope.kind}=${want.scope.value}: ${findings.map(label).join("\n")}`)
          assert.strictEqual(found[0]!.severity, want.severity, label(found[0]!))
        }
        // Nothing before the first injection, nothing on scopes the injections do not touch.
        for (const f of findings) {
          assert.isAtLeast(DateTime.toEpochMillis(f.windowStart), T.injections.promptGrowth, label(f))
          assert.isFalse(
            T.untouchedScopes.some((s) => s.kind === f.scope.kind && s.value === f.scope.value),
            `false positive: ${label(f)}`
          )
        }
        // A lasting change is reported when it starts, not again every hour after.
        const ofScope = (kind: string, value: string) =>
          findings.filter((f) => f.kind === kind && f.scope.value === value).map((f) => DateTime.formatIso(f.windowStart))
        assert.deepStrictEqual(ofScope("model_mix_shift", "summarize"), [DateTime.formatIso(DateTime.makeUnsafe(T.injections.modelSwap))])
        assert.deepStrictEqual(ofScope("cost_per_request_jump", "semantic-search"), [
          DateTime.formatIso(DateTime.makeUnsafe(T.injections.promptGrowth))
        ])
      }), 300_000)

    it.effect("concurrent and repeated runs record every finding once, each with one outbox message", () =>
      Effect.gen(function*() {
        const { runs, tenantId } = injected!
        const anomalies = yield* make(configure(T.testThresholds))
        const rows = yield* stored(tenantId)
        const recorded = runs.flatMap((run) => run.recorded)
        assert.isAbove(rows.length, T.expected.length)
        assert.strictEqual(recorded.length, rows.length)
        assert.deepStrictEqual(runs.map((run) => run.recorded.length + run.duplicates), runs.map(() => rows.length))
        assert.strictEqual(new Set(recorded.map((f) => f.id)).size, rows.length)

        const again = yield* anomalies.detectRange({ tenantId, ...judged })
        assert.strictEqual(again.recorded.length, 0)
        assert.strictEqual(again.duplicates, rows.length)
        assert.lengthOf(yield* stored(tenantId), rows.length)

        const messages = yield* outboxMessages(tenantId)
        assert.strictEqual(messages.length, rows.length)
        assert.deepStrictEqual(
          messages.map((m) => m.payload.id).sort(),
          rows.map((r) => r.id).sort()
        )
        for (const message of messages) assert.strictEqual(message.payload.type, Anomaly.messageKind)
      }), 300_000)

    it.effect("a finding carries its evidence: window, baseline, statistic and the calls or models involved", () =>
      Effect.gen(function*() {
        const { tenantId } = injected!
        const list = yield* AnomalyFindings.AnomalyFindings.use((store) => store.list(tenantId, judged))
        const find = (kind: Anomaly.Kind, scopeValue: string) =>
          list.find((f) => f.kind === kind && f.scope.value === scopeValue)!

        const loop = find("token_rate_spike", "key_agents")
        const evidence = loop.evidence as {
          observed: { peakMinute: string; spikeMinutes: number }
          calls: { groups: ReadonlyArray<{ workflow: string | null; requests: number; sampleRequestIds: ReadonlyArray<string> }> }
        }
        assert.strictEqual(loop.statistic, "ratio_to_p99")
        assert.isAtLeast(loop.score.toNumber(), 10)
        assert.isAtLeast(evidence.observed.spikeMinutes, 20)
        const peak = Date.parse(evidence.observed.peakMinute)
        assert.isTrue(peak >= T.injections.runawayLoop && peak < T.injections.runawayLoop + 30 * T.MINUTE)
        assert.strictEqual(evidence.calls.groups[0]!.workflow, T.runawayWorkflow)
        assert.isAbove(evidence.calls.groups[0]!.requests, 400)
        assert.isNotEmpty(evidence.calls.groups[0]!.sampleRequestIds)

        const swap = find("model_mix_shift", "summarize")
        const mix = swap.evidence as {
          models: ReadonlyArray<{ model: string; usualShare: number; share: number }>
          costImpact: number
        }
        assert.deepStrictEqual(
          mix.models.map((m) => [m.model, m.usualShare, m.share]),
          [["claude-opus-4", 0, 1], ["gpt-4o-mini", 1, 0]]
        )
        assert.isAbove(mix.costImpact, 20)

        const burst = find("spend_spike", "agents")
        const spend = burst.evidence as { baseline: { hours: number; values: ReadonlyArray<unknown> }; statistic: { name: string } }
        assert.strictEqual(spend.statistic.name, "modified_z")
        assert.strictEqual(spend.baseline.hours, 7)
        assert.lengthOf(spend.baseline.values, 7)
        assert.isTrue(burst.observed.greaterThan(burst.expected.times(5)))
        assert.strictEqual(burst.currency, "USD")

        const growth = find("cost_per_request_jump", "semantic-search")
        const cpr = growth.evidence as {
          models: ReadonlyArray<{ model: string; deviating: boolean; tokensPerRequest: string; usualTokensPerRequest: string }>
          confirmedBy: ReadonlyArray<string>
        }
        const mini = cpr.models.find((m) => m.model === "gpt-4o-mini")!
        assert.isTrue(mini.deviating)
        assert.isAbove(Number(mini.tokensPerRequest) / Number(mini.usualTokensPerRequest), 4)
        assert.deepStrictEqual(cpr.confirmedBy, [DateTime.formatIso(DateTime.makeUnsafe(T.injections.promptGrowth + T.HOUR))])
      }), 120_000)

    it.effect("findings are visible to their own tenant only", () =>
      Effect.gen(function*() {
        const { tenantId } = injected!
        const db = yield* Database.Database
        const other = yield* Tenants.Tenants.use((tenants) => tenants.create({ name: "Other" }))
        const count = (as: string) =>
          db.withTenant(as, db.sql<{ n: bigint | number }>`SELECT count(*) AS n FROM tally.anomalies`).pipe(
            Effect.map((rows) => Number(rows[0]!.n))
          )
        assert.strictEqual(yield* count(other.id), 0)
        assert.strictEqual(yield* count(tenantId), (yield* stored(tenantId)).length)
        assert.lengthOf(yield* AnomalyFindings.AnomalyFindings.use((store) => store.list(other.id)), 0)
        const forged = yield* db.withTenant(
          other.id,
          db.sql`INSERT INTO tally.anomalies (tenant_id, kind, scope_kind, scope_value, window_start, window_end, severity,
              observed, expected, statistic, score, summary, evidence)
            VALUES (${tenantId}, 'spend_spike', 'tenant', '', now(), now() + interval '1 hour', 'info', 1, 1, 'x', 1, 'x', '{}')`
        ).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(forged))
      }))

    it.effect("bad requests are refused with the field at fault", () =>
      Effect.gen(function*() {
        const anomalies = yield* make(defaults)
        const backwards = yield* anomalies.detectRange({ tenantId: "t", from: judged.to, to: judged.from }).pipe(Effect.flip)
        assert.strictEqual(backwards._tag === "InvalidDetection" ? backwards.field : backwards._tag, "to")
        const badConfig = yield* make(configure({ tokenRate: { referenceQuantile: 2 } })).pipe(Effect.flip)
        assert.strictEqual(badConfig.field, "config.tokenRate.referenceQuantile")
        const store = yield* AnomalyFindings.AnomalyFindings
        const tenant = yield* Tenants.Tenants.use((tenants) => tenants.create({ name: "Bad" }))
        const now = DateTime.makeUnsafe(T.judgedTo)
        const bad = yield* store.record(tenant.id, [{
          kind: "spend_spike",
          scope: { kind: "project", value: null },
          windowStart: now,
          windowEnd: DateTime.makeUnsafe(T.judgedTo + T.HOUR),
          severity: "info",
          currency: "USD",
          observed: T.decimal("1"),
          expected: T.decimal("1"),
          statistic: "modified_z",
          score: T.decimal("7"),
          summary: "x",
          evidence: {}
        }], now).pipe(Effect.flip)
        assert.strictEqual(bad._tag === "InvalidAnomalyQuery" ? bad.field : bad._tag, "findings[0].scope.value")
      }))
  })
})
