/**
 * The process's cache of what `Governance` decides with (per tenant: the tenant, its active
 * budgets and model policies, and the governance version they were read at). Kept as a service of
 * its own so that the services that change budgets (`Budgets`) can forget a tenant's entry the
 * moment they commit a change, without depending on `Governance`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

export interface GovernanceCacheService {
  /** Entries by tenant id; `Governance` owns their shape. */
  readonly entries: Map<string, unknown>
  readonly invalidate: (tenantId: string) => void
}

export class GovernanceCache extends Context.Service<GovernanceCache, GovernanceCacheService>()("@tally/engine/GovernanceCache") {
  static readonly layer: Layer.Layer<GovernanceCache> = Layer.sync(GovernanceCache, () => {
    const entries = new Map<string, unknown>()
    return { entries, invalidate: (tenantId: string) => void entries.delete(tenantId) }
  })
}

/** Forgets the tenant's entry when a cache is in context; nothing otherwise. */
export const invalidate = (tenantId: string): Effect.Effect<void> =>
  Effect.map(Effect.serviceOption(GovernanceCache), (cache) => {
    if (Option.isSome(cache)) cache.value.invalidate(tenantId)
  })
