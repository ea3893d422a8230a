/** Reads the store's tables as the owner (no row security), to check what really landed. */
import { Money } from "@tally/core"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import { Database } from "../src/Database.ts"
import { Tenants } from "../src/Tenants.ts"

export const newTenant = (name = "Acme") =>
  Effect.gen(function*() {
    const tenants = yield* Tenants
    return (yield* tenants.create({ name })).id
  })

export interface Totals {
  readonly ledgerRows: number
  readonly requestIds: number
  readonly ledgerCost: string
  readonly rollupRequests: number
  readonly rollupCost: string
  readonly rollupInputText: number
  readonly deadLetters: number
}

/** What is stored for a tenant, counted as the owner. */
export const totals = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const [row] = yield* sql<{
      ledger_rows: bigint
      request_ids: bigint
      ledger_cost: string
      rollup_requests: string
      rollup_cost: string
      rollup_input_text: string
      dead_letters: bigint
    }>`SELECT
        (SELECT count(*) FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger_rows,
        (SELECT count(*) FROM tally.usage_request_ids WHERE tenant_id = ${tenantId}) AS request_ids,
        (SELECT coalesce(sum(total), 0)::text FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger_cost,
        (SELECT coalesce(sum(request_count), 0)::text FROM tally.usage_rollups_hourly WHERE tenant_id = ${tenantId}) AS rollup_requests,
        (SELECT coalesce(sum(cost), 0)::text FROM tally.usage_rollups_hourly WHERE tenant_id = ${tenantId}) AS rollup_cost,
        (SELECT coalesce(sum(input_text), 0)::text FROM tally.usage_rollups_hourly WHERE tenant_id = ${tenantId}) AS rollup_input_text,
        (SELECT count(*) FROM tally.dead_letters WHERE tenant_id = ${tenantId}) AS dead_letters`
    return {
      ledgerRows: Number(row!.ledger_rows),
      requestIds: Number(row!.request_ids),
      ledgerCost: Money.format(new Money.Decimal(row!.ledger_cost)),
      rollupRequests: Number(row!.rollup_requests),
      rollupCost: Money.format(new Money.Decimal(row!.rollup_cost)),
      rollupInputText: Number(row!.rollup_input_text),
      deadLetters: Number(row!.dead_letters)
    } satisfies Totals
  })

export const empty: Totals = {
  ledgerRows: 0,
  requestIds: 0,
  ledgerCost: "0",
  rollupRequests: 0,
  rollupCost: "0",
  rollupInputText: 0,
  deadLetters: 0
}

/**
 * Runs a fast-check property whose body is an Effect, in the current context: every run sees the
 * same database as the test.
 */
export const property = <A, R>(
  arbitrary: fc.Arbitrary<A>,
  body: (value: A) => Effect.Effect<unknown, unknown, R>,
  parameters: fc.Parameters<[A]>
): Effect.Effect<void, never, R> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R>()
    const run = Effect.runPromiseWith(context)
    yield* Effect.promise(() => fc.assert(fc.asyncProperty(arbitrary, (value) => run(Effect.asVoid(body(value)))), parameters))
  })

/** A reproducible shuffle driven by fast-check's generator. */
export const shuffled = <A>(items: ReadonlyArray<A>, seed: number): Array<A> =>
  fc.sample(fc.shuffledSubarray([...items], { minLength: items.length, maxLength: items.length }), { numRuns: 1, seed })[0]!

/** Cuts `items` into consecutive chunks of random sizes in [1, max]. */
export const chunks = <A>(items: ReadonlyArray<A>, max: number, seed: number): Array<Array<A>> => {
  const sizes = fc.sample(fc.integer({ min: 1, max }), { numRuns: items.length, seed })
  const out: Array<Array<A>> = []
  let i = 0
  for (const size of sizes) {
    if (i >= items.length) break
    out.push(items.slice(i, i + size))
    i += size
  }
  return out
}
