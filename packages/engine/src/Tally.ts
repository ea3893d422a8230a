/**
 * The Promise facade for callers that do not use Effect.
 */
import type { CostBreakdown, PricingSnapshot, Usage } from "@tally/core"
import type { CostedCallJson } from "./Costing.ts"
import type { IngestOptions, IngestResult } from "./Ingest.ts"

export interface TallyOptions {
  /** A PostgreSQL URL; when absent, the embedded PGlite database is used. */
  readonly database?: string | undefined
  /** Where PGlite keeps its files; in memory when absent. Ignored with `database`. */
  readonly dataDir?: string | undefined
  /** A custom catalog file (`tally.catalog/v1`) layered over the built-in catalog. */
  readonly catalog?: string | undefined
}

export interface CostInput {
  readonly provider: string
  readonly payload: unknown
  readonly api?: string | undefined
  readonly model?: string | undefined
  readonly request?: unknown
  readonly batch?: boolean | undefined
}

export interface CreateTenantInput {
  readonly id?: string | undefined
  readonly name: string
  readonly currency?: string | undefined
  readonly timeZone?: string | undefined
  readonly builtinCatalog?: boolean | undefined
}

export interface TenantJson {
  readonly tenantId: string
  readonly name: string
  readonly currency: string
  readonly timeZone: string
  readonly builtinCatalog: boolean
  readonly createdAt: string
}

export interface Tally {
  readonly ingest: (tenantId: string, events: ReadonlyArray<unknown>, options?: IngestOptions) => Promise<IngestResult>
  /** Prices usage (`Usage` JSON) with one pricing snapshot (JSON); the breakdown as JSON. */
  readonly price: (usage: Usage.UsageEncoded, snapshot: PricingSnapshot.PricingSnapshotEncoded) => Promise<CostBreakdown.CostBreakdownEncoded>
  /** Normalizes a raw provider payload and prices it against the catalog, as `tally cost` does. */
  readonly cost: (input: CostInput, options?: { readonly at?: Date | string | number | undefined }) => Promise<CostedCallJson>
  readonly createTenant: (input: CreateTenantInput) => Promise<TenantJson>
  /** Drains in-flight work and closes the database. */
  readonly close: () => Promise<void>
}

export class TallyError extends Error {
  readonly tag: string
  constructor(tag: string, message: string) {
    super(message)
    this.name = "TallyError"
    this.tag = tag
  }
}

export const createTally = (_options: TallyOptions = {}): Promise<Tally> =>
  Promise.reject(new TallyError("NotImplemented", "createTally is not implemented yet"))
