/**
 * The Promise facade for callers that do not use Effect: one `createTally(...)` builds the whole
 * engine (database, migrations, catalog, ingest pipeline) in a `ManagedRuntime`, and every method
 * runs one Effect on it.
 *
 * Failures reject with the engine's typed errors, which are `Error`s with a `_tag` and a
 * `message`: `IngestFailure` (retry), `NormalizeError`, `PricingError`, `InvalidTenant`,
 * `TenantAlreadyExists`, `InvalidInput` (a bad argument, naming its field).
 *
 * `ingest` goes through the same batching pipeline as the worker, so many concurrent calls share
 * transactions; `close()` stops intake, records everything already submitted, then closes the
 * database.
 */
import { Catalog } from "@tally/catalog"
import { CostBreakdown, CostEngine, FieldError, PricingSnapshot, Usage } from "@tally/core"
import { Costing } from "@tally/pricing"
import { Normalize } from "@tally/providers"
import { Database, Store, Tenants } from "@tally/store"
import { Clock, DateTime, Effect, Layer, ManagedRuntime, Redacted, Schema } from "effect"
import { Ingest, type IngestOptions, type IngestResult } from "./Ingest.ts"
import { IngestPipeline, type PipelineConfig } from "./Pipeline.ts"

export interface TallyOptions {
  /** A PostgreSQL URL; when absent, the embedded PGlite database is used. */
  readonly database?: string | undefined
  /** Where PGlite keeps its files (created if missing); in memory when absent. Ignored with `database`. */
  readonly dataDir?: string | undefined
  /** A custom catalog file (`tally.catalog/v1`) layered over the built-in catalog. */
  readonly catalog?: string | undefined
  /** Batching of `ingest` calls (see `IngestPipeline`). */
  readonly pipeline?: PipelineConfig | undefined
}

export interface CostInput {
  readonly provider: string
  /** The raw response: JSON, a chunk array, or SSE / NDJSON text. */
  readonly payload: unknown
  readonly api?: string | undefined
  readonly model?: string | undefined
  readonly request?: unknown
  readonly batch?: boolean | undefined
}

export interface CostOptions {
  /** When the call happened (prices in force then); now when absent. */
  readonly at?: Date | string | number | undefined
}

export interface CreateTenantInput {
  /** Your own id for the tenant (e.g. your organisation id); generated when absent. */
  readonly id?: string | undefined
  readonly name: string
  /** ISO 4217, default USD. */
  readonly currency?: string | undefined
  /** IANA zone, default UTC. */
  readonly timeZone?: string | undefined
  /** Whether the built-in model catalog prices this tenant's calls (default true). */
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
  /** Records a tenant's usage events; one result per event, in order (see `Ingest`). */
  readonly ingest: (tenantId: string, events: ReadonlyArray<unknown>, options?: IngestOptions) => Promise<IngestResult>
  /** Prices usage (`Usage` JSON) with one pricing snapshot (JSON); the breakdown as JSON, exact decimals as strings. */
  readonly price: (usage: unknown, snapshot: unknown) => Promise<CostBreakdown.CostBreakdownEncoded>
  /** Normalizes a raw provider payload and prices it against the catalog, as `tally cost` does. */
  readonly cost: (input: CostInput, options?: CostOptions) => Promise<Costing.CostedCallJson>
  readonly createTenant: (input: CreateTenantInput) => Promise<TenantJson>
  /** Records everything already submitted, then closes the database. Safe to call twice. */
  readonly close: () => Promise<void>
}

/** An argument the facade cannot use; `field` names it (`usage.tokens.inputText`, `at`). */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  field: Schema.String,
  message: Schema.String
}) {}

const decodeStrict = <S extends Schema.Decoder<unknown>>(schema: S, root: string) => {
  const decode = Schema.decodeUnknownEffect(schema, { onExcessProperty: "error", errors: "first" })
  return (input: unknown): Effect.Effect<S["Type"], InvalidInput, S["DecodingServices"]> =>
    Effect.mapError(decode(input), (error) => {
      const { field, message } = FieldError.fromSchemaError(error, { prefix: root })
      return new InvalidInput({ field, message: `${field}: ${message}` })
    })
}

const decodeUsage = decodeStrict(Usage.Usage, "usage")
const decodeSnapshot = decodeStrict(PricingSnapshot.PricingSnapshot, "snapshot")

const atOf = (at: CostOptions["at"]): Effect.Effect<number, InvalidInput> => {
  if (at === undefined) return Clock.currentTimeMillis
  const parsed = DateTime.make(at)
  return parsed._tag === "Some"
    ? Effect.succeed(DateTime.toEpochMillis(parsed.value))
    : Effect.fail(new InvalidInput({ field: "at", message: `at: expected a date or an ISO 8601 date-time, got ${JSON.stringify(at)}` }))
}

/** The engine's layers over the chosen database and catalog. */
export const layer = (options: TallyOptions = {}) => {
  const database = options.database !== undefined
    ? Database.layerPostgres({ url: Redacted.make(options.database) })
    : Database.layerPglite({ dataDir: options.dataDir ?? "memory://" })
  const catalog = options.catalog === undefined
    ? Catalog.Catalog.layer
    : Catalog.Catalog.layerWith({ customCatalogPath: options.catalog })
  const ingest = Layer.provideMerge(Ingest.layer, Layer.merge(Store.layerWith(database), catalog))
  return Layer.provideMerge(IngestPipeline.layer(options.pipeline), ingest)
}

/** Builds the engine; rejects when the database cannot be opened or migrated, or the catalog is invalid. */
export const createTally = async (options: TallyOptions = {}): Promise<Tally> => {
  const runtime = ManagedRuntime.make(layer(options))
  try {
    await runtime.context()
  } catch (error) {
    await runtime.dispose()
    throw error
  }
  let closed: Promise<void> | undefined
  const inFlight = new Set<Promise<unknown>>()

  const run = <A, E>(effect: Effect.Effect<A, E, ManagedRuntime.ManagedRuntime.Services<typeof runtime>>): Promise<A> => {
    if (closed !== undefined) return Promise.reject(new Error("tally: closed"))
    const promise = runtime.runPromise(effect)
    inFlight.add(promise)
    const forget = () => inFlight.delete(promise)
    promise.then(forget, forget)
    return promise
  }

  // Disposing the runtime interrupts the calls still running, so first let them finish: drain the
  // pipeline (answers every ingest already submitted), wait for the other calls, then dispose.
  const close = async () => {
    await runtime.runPromise(IngestPipeline.use((pipeline) => pipeline.drain))
    await Promise.allSettled(inFlight)
    await runtime.dispose()
  }

  return {
    ingest: (tenantId, events, ingestOptions) => run(IngestPipeline.use((pipeline) => pipeline.submit(tenantId, events, ingestOptions))),

    price: (usage, snapshot) =>
      run(Effect.gen(function*() {
        const decodedUsage = yield* decodeUsage(usage)
        const decodedSnapshot = yield* decodeSnapshot(snapshot)
        const breakdown = yield* Effect.fromResult(CostEngine.price(decodedUsage, decodedSnapshot))
        return CostBreakdown.encode(breakdown)
      })),

    cost: (input, costOptions = {}) =>
      run(Effect.gen(function*() {
        const at = yield* atOf(costOptions.at)
        const call = yield* Normalize.normalizeEffect(input)
        const { book } = yield* Catalog.Catalog
        return Costing.toJson(Costing.cost(book, call, { at }))
      })),

    createTenant: (input) =>
      run(Effect.map(Tenants.Tenants.use((tenants) => tenants.create(input)), (tenant): TenantJson => ({
        tenantId: tenant.id,
        name: tenant.name,
        currency: tenant.currency,
        timeZone: tenant.timeZone,
        builtinCatalog: tenant.builtinCatalog,
        createdAt: DateTime.formatIso(tenant.createdAt)
      }))),

    close: () => (closed ??= close())
  }
}
