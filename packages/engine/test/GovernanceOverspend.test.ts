/**
 * The overspend bound, measured. Workers run decide(reserve) / settle / ingest pairs in parallel
 * against small block budgets in dollars and in output tokens, each call's actual cost and tokens
 * a random 70% to 130% of its estimate (a seeded generator: the run is reproducible). The bound
 * (docs/budgets.md): a block budget ends at most the sum of the positive estimate errors
 * (actual − estimate) of the calls in flight at its last admission over its amount; with `C`
 * workers at most `C` calls are in flight, so at most the sum of the `C` largest positive errors.
 * Each run prints its measured overshoot beside that bound (`overspend {...}` on stdout).
 */
import { assert, describe, layer } from "@effect/vitest"
import { Budget, Money } from "@tally/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { Budgets } from "../src/Budgets.ts"
import { Enforcement } from "../src/Enforcement.ts"
import { Governance } from "../src/Governance.ts"
import { call, governanceTargets, ingest, layerOptions, newTenant } from "./BudgetSupport.ts"


/** mulberry32: a small seeded generator, so every run draws the same calls. */
const generator = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORKERS = 16
const CALLS = 240

interface Drawn {
  readonly id: string
  readonly estimate: Money.Decimal
  readonly actual: Money.Decimal
  readonly outEstimate: number
  readonly outActual: number
}

const draw = (seed: number): ReadonlyArray<Drawn> => {
  const next = generator(seed)
  return Array.from({ length: CALLS }, (_, i) => {
    const estimate = new Money.Decimal(5 + Math.floor(next() * 11)).div(100) // 0.05 .. 0.15
    const actual = estimate.times(70 + Math.floor(next() * 61)).div(100).toDecimalPlaces(6) // 70% .. 130%
    const outEstimate = 100 + Math.floor(next() * 401)
    const outActual = Math.round(outEstimate * (0.7 + next() * 0.6))
    return { id: `os-${seed}-${i}`, estimate, actual, outEstimate, outActual }
  })
}

/** The sum of the `n` largest positive values. */
const topPositive = (values: ReadonlyArray<Money.Decimal>, n: number) =>
  Money.sum([...values].filter((v) => v.gt(0)).sort((a, b) => b.comparedTo(a)).slice(0, n))

describe.each(governanceTargets)("the overspend bound on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("parallel decide/settle pairs with random real costs exceed no budget by more than the in-flight errors", () =>
      Effect.gen(function*() {
        const tenantId = yield* newTenant()
        const budgets = yield* Budgets
        const governance = yield* Governance
        const enforcement = yield* Enforcement
        const usd = yield* budgets.create(tenantId, Result.getOrThrow(Budget.decodeBudgetInput({
          name: "usd", period: "day", amount: "6", action: "block", scope: { project: "a" }
        })))
        const tokens = yield* budgets.create(tenantId, Result.getOrThrow(Budget.decodeBudgetInput({
          name: "output tokens", period: "rolling", windowSeconds: 86_400, unit: "tokens", tokenKind: "output", amount: "15000", action: "block",
          scope: { project: "b" }
        })))
        const calls = draw(23)
        // Even calls run in project a (the dollar budget), odd ones in b (the token budget).
        const projectOf = (c: Drawn) => (Number(c.id.split("-").at(-1)) % 2 === 0 ? "a" : "b")
        const admitted: Array<Drawn> = []
        let next = 0
        const worker = Effect.gen(function*() {
          while (next < calls.length) {
            const c = calls[next++]!
            const decision = yield* governance.decide(tenantId, {
              labels: { project: projectOf(c) },
              model: "gpt-4o",
              estimate: { cost: c.estimate, outputTokens: c.outEstimate },
              reserve: true,
              requestId: c.id
            })
            if (!decision.allowed) continue
            admitted.push(c)
            yield* enforcement.settle(tenantId, decision.budget!.reservation!.id, {
              actualCost: c.actual,
              actualTokens: { input: 0, output: c.outActual }
            })
            const { usage: _usage, ...record } = call(c.id, Date.now(), Money.format(c.actual), { labels: { project: projectOf(c) } })
            yield* ingest(tenantId, [{ ...record, usage: { tokens: { outputText: c.outActual } } }])
          }
        })
        yield* Effect.all(Array.from({ length: WORKERS }, () => worker), { concurrency: "unbounded" })

        const status = yield* budgets.status(tenantId)
        const byId = new Map(status.map((s) => [s.budget.id, s]))
        const usdSpent = byId.get(usd.id)!.spent
        const tokensSpent = byId.get(tokens.id)!.spent
        const inA = admitted.filter((c) => projectOf(c) === "a")
        const inB = admitted.filter((c) => projectOf(c) === "b")
        const usdBound = topPositive(inA.map((c) => c.actual.minus(c.estimate)), WORKERS)
        const tokenBound = topPositive(inB.map((c) => new Money.Decimal(c.outActual - c.outEstimate)), WORKERS)
        const usdOver = usdSpent.minus(usd.amount)
        const tokensOver = tokensSpent.minus(tokens.amount)
        console.log("overspend", JSON.stringify({
          backend: target.name,
          workers: WORKERS,
          calls: CALLS,
          admitted: admitted.length,
          usd: { amount: "6", spent: Money.format(usdSpent), over: Money.format(usdOver), bound: Money.format(usdBound) },
          outputTokens: { amount: "15000", spent: Money.format(tokensSpent), over: Money.format(tokensOver), bound: Money.format(tokenBound) }
        }))
        // Spend reached the budgets (the test is not vacuous) and stayed within the bound.
        assert.isTrue(admitted.length < CALLS)
        assert.isTrue(inA.length < CALLS / 2 && inB.length < CALLS / 2)
        assert.isTrue(usdSpent.gt(usd.amount.times(0.9)) && tokensSpent.gt(tokens.amount.times(0.9)))
        assert.isTrue(usdOver.lte(usdBound), `usd over by ${Money.format(usdOver)}, bound ${Money.format(usdBound)}`)
        assert.isTrue(tokensOver.lte(tokenBound), `tokens over by ${Money.format(tokensOver)}, bound ${Money.format(tokenBound)}`)
        // Every reservation was settled and landed: nothing is still held.
        assert.isTrue(status.every((s) => s.reserved.isZero()))
      }), { timeout: 600_000 })
  })
})
