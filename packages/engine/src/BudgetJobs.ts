/**
 * The budget work a worker process runs in the background: webhook delivery passes, and a sweep
 * that evaluates every tenant's budgets for the current period (recording crossings a crashed
 * process missed) and deletes reservations that stopped counting an hour ago or more.
 */
import { Tenants } from "@tally/store"
import * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { Budgets } from "./Budgets.ts"
import { Enforcement } from "./Enforcement.ts"
import * as WebhookDelivery from "./WebhookDelivery.ts"

/** Reservations that stopped counting this long ago are deleted by the sweep. */
export const purgeAfterMs = 3_600_000

/** One sweep over every tenant; a tenant that fails is logged and the others still run. */
export const sweep: Effect.Effect<
  { readonly tenants: number; readonly crossings: number; readonly purged: number },
  never,
  Tenants.Tenants | Budgets | Enforcement
> = Effect.gen(function*() {
  const tenants = yield* Tenants.Tenants
  const budgets = yield* Budgets
  const enforcement = yield* Enforcement
  const list = yield* tenants.list.pipe(Effect.catch((error) => Effect.as(Effect.logWarning("budget sweep: cannot list tenants", error), [])))
  let crossings = 0
  let purged = 0
  for (const tenant of list) {
    const now = yield* DateTime.now
    yield* Effect.gen(function*() {
      crossings += (yield* budgets.evaluate(tenant.id)).crossings.length
      purged += yield* enforcement.purge(tenant.id, DateTime.makeUnsafe(DateTime.toEpochMillis(now) - purgeAfterMs))
    }).pipe(Effect.catch((error) => Effect.logWarning(`budget sweep of tenant ${tenant.id} failed`, error)))
  }
  return { tenants: list.length, crossings, purged }
}).pipe(Effect.withSpan("BudgetJobs.sweep"))

export interface JobsOptions {
  /** Between sweeps; default 1 minute. */
  readonly sweepInterval?: Duration.Input | undefined
  /** Between webhook delivery passes; default 5 seconds. */
  readonly deliveryInterval?: Duration.Input | undefined
}

/** Both jobs, for the layer's lifetime. */
export const layer = (
  options: JobsOptions = {}
): Layer.Layer<never, never, Tenants.Tenants | Budgets | Enforcement | WebhookDelivery.WebhookDelivery> =>
  Layer.merge(
    WebhookDelivery.layerWorker({ interval: options.deliveryInterval }),
    Layer.effectDiscard(
      sweep.pipe(Effect.repeat(Schedule.spaced(options.sweepInterval ?? "1 minute")), Effect.forkScoped)
    )
  )
