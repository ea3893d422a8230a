/**
 * What a GraphQL request runs with: the verified API key (its tenant and scopes) and a runner that
 * executes one service call in the worker's services, turning the services' typed failures into
 * the API's typed errors (`ServiceErrors.toGraphql`).
 *
 * Every read and write goes through the store's services, which open the tenant's scope
 * (`Database.withTenant`): row-level security decides what the key's tenant can see.
 */
import type { ApiKey } from "@tally/core"
import type { Catalog } from "@tally/catalog"
import type { Budgets, Chargeback, Currencies, Enforcement, Governance, GovernanceCache, Reprice, SalePricing, TenantPricing } from "@tally/engine"
import type { Database, Store } from "@tally/store"
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as ServiceErrors from "../ServiceErrors.ts"

/** The services resolvers call. */
export type Services =
  | Store.Services
  | Database.Database
  | Catalog.Catalog
  | Budgets.Budgets
  | Enforcement.Enforcement
  | Governance.Governance
  | GovernanceCache.GovernanceCache
  | Chargeback.Chargeback
  | Currencies.Currencies
  | TenantPricing.TenantPricing
  | Reprice.Repricing
  | SalePricing.SalePricing

/** Runs one effect for a resolver; rejects with the API's error for its failure. */
export type Runner = <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>

export interface GraphqlContext {
  readonly tenantId: string
  readonly key: ApiKey.VerifiedKey
  readonly run: Runner
  /** How often subscriptions look for changes, in milliseconds, unless they say. */
  readonly pollMillis: number
  /** Aborted when the client goes away: ends subscriptions and interrupts running calls. */
  readonly signal?: AbortSignal | undefined
  /**
   * Set by the answer cache (`AnswerCache.ts`) on an operation it may keep: each `usage` field
   * that resolves to a report (not a typed error) counts itself, and only a fully answered
   * operation is kept.
   */
  readonly answered?: { count: number } | undefined
}

/** A runner over the worker's services; `signal` interrupts the call when the client goes away. */
export const makeRunner = (
  context: Context.Context<Services>,
  options: { readonly signal?: AbortSignal | undefined; readonly onDefect?: (cause: Cause.Cause<unknown>) => void } = {}
): Runner => {
  const run = Effect.runPromiseExitWith(context)
  return async (effect) => {
    const exit = await run(effect, { signal: options.signal })
    if (Exit.isSuccess(exit)) return exit.value
    const error = Cause.findError(exit.cause)
    if (Result.isSuccess(error)) throw ServiceErrors.toGraphql(error.success)
    // A client that went away interrupts its calls: nothing to report.
    if (Cause.hasInterruptsOnly(exit.cause)) throw new Error("the request was cancelled")
    options.onDefect?.(exit.cause)
    throw new Error("internal error")
  }
}
