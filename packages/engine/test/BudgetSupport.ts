/**
 * What the budget tests share: the databases they run against (PGlite always, PostgreSQL when
 * `TALLY_TEST_DATABASE_URL` is set), the layer of budget services over one, and priced calls with
 * exact, chosen costs.
 */
import { Catalog } from "@tally/catalog"
import { Money, type UsageRecord } from "@tally/core"
import { Database, Outbox, Store, Tenants, UsageLedger } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Budgets } from "../src/Budgets.ts"
import { Enforcement } from "../src/Enforcement.ts"
import { Governance } from "../src/Governance.ts"

export type Services =
  | Store.Services
  | Database.Database
  | Budgets
  | Enforcement
  | Outbox.Outbox

export interface Target {
  readonly name: "pglite" | "postgres"
  readonly layer: Layer.Layer<Services, Database.LayerError>
}

const withServices = (database: Layer.Layer<Database.Database, Database.LayerError>): Layer.Layer<Services, Database.LayerError> =>
  Layer.mergeAll(Budgets.layer, Enforcement.layer, Outbox.Outbox.layer).pipe(
    Layer.provideMerge(Store.layerWith(database))
  )

const url = process.env.TALLY_TEST_DATABASE_URL

export const targets: ReadonlyArray<Target> = [
  { name: "pglite", layer: withServices(Database.layerPgliteTest) },
  ...(url === undefined || url === ""
    ? []
    : [{ name: "postgres" as const, layer: withServices(Database.layerEphemeralPostgres(Redacted.make(url))) }])
]

const withGovernance = (database: Layer.Layer<Database.Database, Database.LayerError>) =>
  Governance.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Budgets.layer, Enforcement.layer, Outbox.Outbox.layer)),
    Layer.provideMerge(Layer.merge(Store.layerWith(database), Catalog.Catalog.layer))
  )

/** The same databases with `Governance` (one decision: policies and budgets) and the catalog. */
export const governanceTargets = [
  { name: "pglite" as const, layer: withGovernance(Database.layerPgliteTest) },
  ...(url === undefined || url === ""
    ? []
    : [{ name: "postgres" as const, layer: withGovernance(Database.layerEphemeralPostgres(Redacted.make(url))) }])
]

/** Real clock for the pool's timers, and time for PGlite to start. */
export const layerOptions = { excludeTestServices: true, timeout: "120 seconds" } as const

let tenantCounter = 0

export const newTenant = (options: { readonly timeZone?: string; readonly currency?: string } = {}) =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    tenantCounter += 1
    const tenant = yield* tenants.create({
      name: `Budget tenant ${tenantCounter}`,
      timeZone: options.timeZone ?? "UTC",
      currency: options.currency ?? "USD"
    })
    return tenant.id
  })

export interface CallOptions {
  readonly labels?: UsageRecord.Labels
  readonly model?: string
  readonly currency?: string
}

/** A provider-priced call: its total is exactly `cost`. */
export const call = (
  requestId: string,
  occurredAt: string | number,
  cost: string,
  options: CallOptions = {}
): UsageRecord.UsageRecord => ({
  requestId,
  occurredAt: DateTime.makeUnsafe(occurredAt),
  provider: "openai",
  model: options.model ?? "gpt-4o",
  definitionId: null,
  snapshotId: null,
  usage: { tokens: { inputText: 100, outputText: 20 } },
  breakdown: null,
  total: new Money.Decimal(cost),
  costSource: "provider",
  unpricedReason: null,
  reportedCost: new Money.Decimal(cost),
  reportedCurrency: options.currency ?? "USD",
  difference: null,
  labels: options.labels ?? {},
  tags: {},
  raw: { id: requestId }
})

/**
 * What Ingest does with a batch: insert it, then evaluate budgets with the calls really inserted.
 */
export const ingest = (tenantId: string, calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
  Effect.gen(function*() {
    const ledger = yield* UsageLedger.UsageLedger
    const budgets = yield* Budgets
    const result = yield* ledger.insertBatch(tenantId, calls)
    const inserted = calls.filter((_, i) => result.items[i]!.status === "inserted")
    const evaluation = yield* budgets.evaluateAfterCommit(tenantId, inserted)
    return { result, evaluation }
  })

export const decimal = (value: string) => new Money.Decimal(value)

/** Budget events of a tenant, read as the owner. */
export const eventRows = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ budget_id: string; period_start: Date; threshold: string; spent: string }>`SELECT
        budget_id, period_start, threshold::text AS threshold, spent::text AS spent
      FROM tally.budget_events WHERE tenant_id = ${tenantId}
      ORDER BY budget_id, period_start, threshold::numeric`
  })

/** Outbox messages of a tenant, read as the owner. */
export const outboxRows = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database.Database
    return yield* sql<{ id: string; kind: string; dedupe_key: string; payload: Record<string, unknown>; status: string }>`SELECT
        id, kind, dedupe_key, payload, status
      FROM tally.outbox WHERE tenant_id = ${tenantId}
      ORDER BY dedupe_key`
  })
