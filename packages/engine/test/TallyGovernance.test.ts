/**
 * The Promise facade's decision: `tally.decide`, `tally.policies` and budgets in tokens and
 * requests, on an in-memory PGlite and (when TALLY_TEST_DATABASE_URL is set) on PostgreSQL.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createTally, type Tally } from "../src/Tally.ts"
import { backend, layerOptions, postgresOnlyLayer, testDatabaseUrl } from "./TestStore.ts"

const scenario = async (tally: Tally) => {
  const tenant = await tally.createTenant({ name: "Facade Gateway" })
  const id = tenant.tenantId
  const budget = await tally.budgets.create(id, {
    name: "2 requests an hour", period: "rolling", windowSeconds: 3600, unit: "requests", amount: "2", action: "block"
  })
  assert.deepStrictEqual([budget.unit, budget.windowSeconds], ["requests", 3600])
  const policy = await tally.policies.create(id, { name: "no o1", denyModels: ["startsWith:o1"] })
  assert.deepStrictEqual(policy.rules, { denyModels: [{ startsWith: "o1" }] })
  const refused = await tally.decide(id, { model: "o1-mini", provider: "openai" })
  assert.deepStrictEqual(refused.reasons.map((r) => r.kind === "policy" ? r.rule : r.kind), ["denyModels"])
  const first = await tally.decide(id, { model: "gpt-4o", provider: "openai", estimate: { cost: "0.01" }, reserve: true, requestId: "fx-1" })
  assert.strictEqual(first.decision, "allow")
  const settled = await tally.budgets.settle(id, first.reservation!.id, { actualCost: "0.009", actualTokens: { output: 20 } })
  assert.strictEqual(settled.status, "settled")
  await tally.decide(id, { model: "gpt-4o", provider: "openai", reserve: true })
  const full = await tally.decide(id, { model: "gpt-4o", provider: "openai" })
  assert.deepStrictEqual(full.reasons.map((r) => r.kind === "budget" ? [r.unit, r.remaining] : r.kind), [["requests", "0"]])
  const bad = await tally.decide(id, { model: "gpt-4o", estimate: { outputTokens: -1 } }).then(() => undefined, (error: { _tag: string; field: string }) => error)
  assert.deepStrictEqual([bad?._tag, bad?.field], ["InvalidEnforcementRequest", "estimate.outputTokens"])
  const archived = await tally.policies.archive(id, policy.id)
  assert.isNotNull(archived.archivedAt)
  assert.deepStrictEqual(await tally.policies.list(id), [])
}

const run = (options: Parameters<typeof createTally>[0]) =>
  Effect.promise(async () => {
    const tally = createTally(options)
    try {
      await scenario(tally)
    } finally {
      await tally.close()
    }
  })

describe("createTally decide", () => {
  layer(postgresOnlyLayer, layerOptions)((it) => {
    it.effect(`on ${backend === "postgres" ? "PostgreSQL" : "PGlite"}: policies and request budgets decide, reserve and settle`, () =>
      Effect.gen(function*() {
        const database = yield* testDatabaseUrl
        yield* run(database === undefined ? {} : { database })
      }), 180_000)
    if (backend === "postgres") {
      it.effect("on PGlite too", () => run({}), 180_000)
    }
  })
})
