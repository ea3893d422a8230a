import { assert, describe, layer } from "@effect/vitest"
import { Anomaly } from "@tally/core"
import { Database, Store, Tenants } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import { TestClock } from "effect/testing"
import { Anomalies, configure, detectAnomalies, type DetectionResult, layerSchedule, make } from "../src/Anomalies.ts"
import * as T from "./AnomalyTraffic.ts"

const backend = process.env.TALLY_TEST_DATABASE_URL ? "postgres" : "pglite"

const testLayer = Store.layerWith(Database.layerTest)

const label = (f: Anomaly.Finding) => `${f.kind} ${Anomaly.scopeKey(f.scope)} ${DateTime.formatIso(f.windowStart)}`
const iso = (millis: number) => DateTime.formatIso(DateTime.makeUnsafe(millis))

describe(`the anomaly schedule (${backend})`, () => {
  layer(testLayer, { excludeTestServices: true, timeout: "300 seconds" })((it) => {
    it.effect("hour by hour on a test clock, the schedule records what a backfill of the same hours would", () =>
      Effect.gen(function*() {
        const tenant = yield* Tenants.Tenants.use((tenants) => tenants.create({ name: "Scheduled" }))
        yield* T.record(tenant.id, T.injectedTraffic(21))
        const engine = Layer.effect(Anomalies, make(configure(T.testThresholds)))
        const runs = yield* Queue.unbounded<ReadonlyArray<DetectionResult>>()
        const byRun = new Map<string, ReadonlyArray<string>>()

        yield* Effect.gen(function*() {
          yield* TestClock.setTime(T.at(9, 8, 30))
          yield* Layer.build(layerSchedule({ onRun: (results) => Queue.offer(runs, results) }).pipe(Layer.provide(engine)))
          // The test clock stands still while a run reads and writes the database; each step moves
          // it to the next boundary (5 past the hour) and waits for that run to finish.
          for (let hour = 9; hour <= 18; hour++) {
            yield* TestClock.setTime(T.at(9, hour, 5))
            const results = yield* Queue.take(runs)
            const mine = results.find((r) => r.tenantId === tenant.id)!
            assert.strictEqual(DateTime.formatIso(mine.asOf), iso(T.at(9, hour, 5)))
            byRun.set(`${hour}:05`, mine.recorded.map(label))
          }
        }).pipe(Effect.scoped, Effect.provide(TestClock.layer()))

        // Each injected anomaly is recorded by the first run that can see it whole: the hour must
        // have ended, and a step change needs the hour after it to confirm it.
        const firstRun = (want: T.Expected) =>
          [...byRun].find(([, labels]) =>
            labels.includes(`${want.kind} ${want.scope.kind}=${want.scope.value} ${iso(want.windowStart)}`)
          )?.[0]
        assert.deepStrictEqual(
          T.expected.map((want) => [want.kind, firstRun(want)]),
          [
            ["model_mix_shift", "14:05"],
            ["cost_per_request_jump", "12:05"],
            ["spend_spike", "14:05"],
            ["spend_spike", "15:05"],
            ["token_rate_spike", "17:05"]
          ]
        )

        // A backfill of the hours the runs judged finds nothing new: the schedule missed nothing
        // and recorded nothing a backfill would not.
        const scheduled = [...byRun.values()].flat()
        const backfill = yield* Anomalies.use((anomalies) =>
          anomalies.detectRange({
            tenantId: tenant.id,
            from: DateTime.makeUnsafe(T.at(9, 7)),
            to: DateTime.makeUnsafe(T.at(9, 18)),
            asOf: DateTime.makeUnsafe(T.at(9, 18, 5))
          })
        ).pipe(Effect.provide(engine))
        assert.deepStrictEqual(backfill.recorded.map(label), [])
        assert.strictEqual(backfill.duplicates, scheduled.length)
        assert.strictEqual(new Set(scheduled).size, scheduled.length)
      }), 300_000)

    it.effect("detectAnomalies at a moment judges the hours just ended and the current hour's minutes", () =>
      Effect.gen(function*() {
        const tenant = yield* Tenants.Tenants.use((tenants) => tenants.create({ name: "Moment" }))
        yield* T.record(tenant.id, T.injectedTraffic(32))
        const engine = Layer.effect(Anomalies, make(configure(T.testThresholds)))
        // 16:45: the runaway loop (16:10-16:40) is in the current hour's complete minutes.
        const result = yield* detectAnomalies({ tenantId: tenant.id, at: DateTime.makeUnsafe(T.at(9, 16, 45)) }).pipe(
          Effect.provide(engine)
        )
        assert.strictEqual(DateTime.formatIso(result.from), iso(T.at(9, 14)))
        assert.strictEqual(DateTime.formatIso(result.to), iso(T.at(9, 17)))
        const loop = result.recorded.find((f) => f.kind === "token_rate_spike" && f.scope.value === "key_agents")
        assert.isDefined(loop)
        assert.strictEqual((loop!.evidence as { evaluatedUntil: string }).evaluatedUntil, iso(T.at(9, 16, 45)))
        // Money signals of the incomplete hour wait for it to end.
        assert.isFalse(result.recorded.some((f) => f.kind !== "token_rate_spike" && DateTime.toEpochMillis(f.windowStart) === T.at(9, 16)))
      }), 300_000)
  })
})
