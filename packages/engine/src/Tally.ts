/**
 * The Promise facade for callers that do not use Effect: `createTally(...)` returns at once and
 * opens nothing. Pricing (`cost`, `price`) needs only the catalog, loaded on the first call that
 * prices; the database (PGlite or PostgreSQL), its migrations and the ingest pipeline are opened
 * on the first call that needs them (ingest, tenants, usage, budgets, chargeback, reconciliation).
 * Both run in `ManagedRuntime`s that share one memo map, so the catalog is loaded once.
 *
 * Every method takes and returns plain JSON values: instants as ISO 8601 strings, money as exact
 * decimal strings. Failures reject with the engine's typed errors, `Error`s with a `_tag`, a
 * `message` and the fields a caller needs (`field` for bad input): see `TallyError`.
 *
 * `ingest` goes through the same batching pipeline as the worker, so many concurrent calls share
 * transactions; `close()` (or `await using`) stops intake, records everything already submitted,
 * then closes the database.
 */
import { Catalog, ModelPolicy } from "@tally/catalog"
import { Budget, CostAllocation, CostBreakdown, CostEngine, FieldError, Money, PricingSnapshot, type Reconciliation, SalePrice, Statement, Usage } from "@tally/core"
import { Costing } from "@tally/pricing"
import { Normalize } from "@tally/providers"
import { CustomerStatements, Database, SalePrices, Store, Tenants, UsageReport } from "@tally/store"
import { Clock, DateTime, Effect, Layer, ManagedRuntime, Option, Redacted, Result, Schema } from "effect"
import * as Budgets from "./Budgets.ts"
import { Chargeback, type ChargebackService } from "./chargeback/Chargeback.ts"
import * as ChargebackJson from "./chargeback/Json.ts"
import * as Enforcement from "./Enforcement.ts"
import * as Governance from "./Governance.ts"
import { Ingest, type IngestFailure, type IngestOptions, type IngestResult } from "./Ingest.ts"
import * as UsageJson from "./internal/UsageJson.ts"
import { IngestPipeline, type PipelineConfig } from "./Pipeline.ts"
import * as Compare from "./reconcile/Compare.ts"
import * as ReconcileRun from "./reconcile/Run.ts"
import * as Reprice from "./Reprice.ts"
import * as SalePricing from "./SalePricing.ts"
import { TenantPricing } from "./TenantPricing.ts"

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

/** A call on a facade after `close()`. */
export class TallyClosed extends Schema.TaggedError<TallyClosed>()("TallyClosed", {
  message: Schema.String
}) {}

/** Labels a gateway sends with a budget check or reservation (a budget covers a call when its scope is a subset). */
export interface CallLabels {
  readonly project?: string | undefined
  readonly environment?: string | undefined
  readonly feature?: string | undefined
  readonly team?: string | undefined
  readonly customer?: string | undefined
  readonly model?: string | undefined
}

export interface CheckInput {
  readonly labels?: CallLabels | undefined
  /** Decimal string in the tenant's currency, e.g. `"0.0125"`. */
  readonly estimatedCost: string
  /** When given, must be the tenant's currency. */
  readonly currency?: string | undefined
}

export interface ReserveInput extends CheckInput {
  /** The request id the call's usage will be ingested with: the hold ends when that lands. */
  readonly requestId?: string | undefined
  /** Default 600, at most 86400. */
  readonly ttlSeconds?: number | undefined
}

export interface SettleInput {
  /** Decimal string: what the call really cost. */
  readonly actualCost: string
  /** What the call really used, for budgets that count tokens. */
  readonly actualTokens?: { readonly input?: number; readonly output?: number } | undefined
  readonly requestId?: string | undefined
}

/** A gateway's question before a call (`POST /api/v1/decide`): see docs/budgets.md. */
export interface DecideInput {
  readonly labels?: CallLabels | undefined
  readonly provider?: string | undefined
  readonly model: string
  /** `cost` is a decimal string in the tenant's currency; without it the tokens are priced with the tenant's price book. */
  readonly estimate?: { readonly cost?: string; readonly inputTokens?: number; readonly outputTokens?: number } | undefined
  /** Hold the estimate on every covering budget when allowed; settle or release `reservation.id`. */
  readonly reserve?: boolean | undefined
  readonly requestId?: string | undefined
  readonly ttlSeconds?: number | undefined
  readonly currency?: string | undefined
}

export type GovernanceDecision = ReturnType<typeof Governance.decisionToJson>
export type PolicyJson = ReturnType<typeof ModelPolicy.toJson>

export type Decision = ReturnType<typeof Enforcement.decisionToJson>
export type ReservationJson = ReturnType<typeof Enforcement.reservationToJson>
export type BudgetJson = ReturnType<typeof Budgets.budgetToJson>
export type BudgetStatusJson = ReturnType<typeof Budgets.statusToJson>

/** A provider report to compare with the ledger, as exported from the provider's console or API. */
export interface ReportInput {
  readonly format: Reconciliation.ReportFormat
  readonly content: string
}

export interface RepriceInput {
  /** `[from, to)`, ISO 8601 with a zone. */
  readonly from: string
  readonly to: string
  /** Only calls recorded `unpriced` or `partial`. */
  readonly onlyUnpriced?: boolean | undefined
  /** Compute the summary, write nothing. */
  readonly dryRun?: boolean | undefined
  /** Who asks, for the audit record (default `system`). */
  readonly actor?: string | undefined
}

export interface ReconcileInput {
  /** `[from, to)`, ISO 8601 with a zone. */
  readonly from: string
  readonly to: string
  readonly reports?: ReadonlyArray<ReportInput> | undefined
  /** Absolute tolerance per comparison (decimal string); relative tolerance is 0.5 %. */
  readonly tolerance?: string | undefined
  /** Store the run and its findings (default true). */
  readonly save?: boolean | undefined
}

/** The calls a facade can reject with, all `Error`s with a `_tag` (see docs/embedding.md). */
export type TallyError =
  | InvalidInput
  | TallyClosed
  | Enforcement.InvalidEnforcementRequest
  | Budget.InvalidBudget
  | Budget.BudgetNotFound
  | Budget.BudgetArchived
  | ModelPolicy.InvalidPolicy
  | ModelPolicy.PolicyNotFound
  | CostAllocation.InvalidChargeback
  | Reprice.InvalidReprice
  | IngestFailure

export interface Tally {
  /** Records a tenant's usage events; one result per event, in order (see `Ingest`). */
  readonly ingest: (tenantId: string, events: ReadonlyArray<unknown>, options?: IngestOptions) => Promise<IngestResult>
  /** Prices usage (`Usage` JSON) with one pricing snapshot (JSON); the breakdown as JSON, exact decimals as strings. Opens no database. */
  readonly price: (usage: unknown, snapshot: unknown) => Promise<CostBreakdown.CostBreakdownEncoded>
  /** Normalizes a raw provider payload and prices it against the catalog, as `tally cost` does. Opens no database. */
  readonly cost: (input: CostInput, options?: CostOptions) => Promise<Costing.CostedCallJson>
  readonly createTenant: (input: CreateTenantInput) => Promise<TenantJson>
  /** Usage and spend of a tenant grouped by labels, model or provider and cut into hours, days or months. */
  readonly usage: (tenantId: string, query: UsageJson.UsageQueryInput) => Promise<UsageJson.UsageReportJson>
  readonly budgets: {
    /** `{ name, amount, period, scope?, thresholds?, action?, currency? }` as for `POST /api/v1/budgets`. */
    readonly create: (tenantId: string, input: unknown) => Promise<BudgetJson>
    readonly list: (tenantId: string, options?: { readonly includeArchived?: boolean }) => Promise<ReadonlyArray<BudgetJson>>
    /** A patch of name, amount, thresholds or action. */
    readonly update: (tenantId: string, budgetId: string, patch: unknown, options?: { readonly actor?: string }) => Promise<BudgetJson>
    readonly archive: (tenantId: string, budgetId: string, options?: { readonly actor?: string }) => Promise<BudgetJson>
    /** Spend, reservations, crossings and forecast of the current period of every active budget, or of one. */
    readonly status: (tenantId: string, options?: { readonly budgetId?: string; readonly at?: string | Date }) => Promise<ReadonlyArray<BudgetStatusJson>>
    /** Would a call of this estimated cost fit every covering budget? A denial resolves (`allowed: false`). */
    readonly check: (tenantId: string, input: CheckInput) => Promise<Decision>
    /** `check`, and when allowed a hold on every covering budget (`reservation.id`). */
    readonly reserve: (tenantId: string, input: ReserveInput) => Promise<Decision>
    /** Records a reserved call's actual cost; settling again with the same cost changes nothing. */
    readonly settle: (tenantId: string, reservationId: string, input: SettleInput) => Promise<ReservationJson>
    /** Frees the hold of a call that did not run; releasing twice changes nothing. */
    readonly release: (tenantId: string, reservationId: string) => Promise<ReservationJson>
    readonly reservation: (tenantId: string, reservationId: string) => Promise<ReservationJson>
  }
  /**
   * One decision for a gateway: model policies and every covering budget (any unit), with every
   * reason; `reserve: true` also holds the estimate (settle it with `budgets.settle`).
   */
  readonly decide: (tenantId: string, input: DecideInput) => Promise<GovernanceDecision>
  readonly policies: {
    /** `{ name, scope?, allowProviders?, denyProviders?, allowModels?, denyModels?, pricedOnly?, maxOutputTokens?, maxCostPerCall? }`. */
    readonly create: (tenantId: string, input: unknown) => Promise<PolicyJson>
    readonly list: (tenantId: string, options?: { readonly includeArchived?: boolean }) => Promise<ReadonlyArray<PolicyJson>>
    readonly archive: (tenantId: string, policyId: string) => Promise<PolicyJson>
  }
  readonly chargeback: {
    /** Showback: a run's computation for the period, nothing stored. */
    readonly showback: (tenantId: string, input: unknown) => Promise<ChargebackJson.ComputationJson>
    /** Computes and stores a draft run (`{ month | from, to, dimension, rule?, shared?, currency? }`). */
    readonly run: (tenantId: string, input: unknown, options?: { readonly createdBy?: string }) => Promise<ChargebackJson.RunJson>
    readonly finalize: (tenantId: string, runId: string, options?: { readonly finalizedBy?: string }) => Promise<ChargebackJson.RunJson>
    readonly get: (tenantId: string, runId: string) => Promise<ChargebackJson.RunJson>
    readonly list: (tenantId: string, options?: { readonly limit?: number; readonly after?: string; readonly status?: "draft" | "final" }) => Promise<ChargebackJson.RunPageJson>
  }
  /**
   * Prices a period's recorded calls again with the price book in force at each call's time;
   * unpriced calls become priced, changed prices become correction entries (see docs/pricing.md).
   */
  readonly reprice: (tenantId: string, input: RepriceInput) => Promise<Reprice.RepriceSummaryJson>
  /** Re-derives every ledger row of a period and compares the given provider reports; see docs/reconciliation.md. */
  readonly reconcile: (tenantId: string, input: ReconcileInput) => Promise<ReconcileRun.RunReport>
  /** Sale prices, margin and customer statements; see docs/resale.md. */
  readonly resale: {
    /** `{ name, kind, percent? | perUnit? | rates?, currency?, customer? | plan?, provider?, model?, effectiveFrom, effectiveTo? }`, decimals as strings. */
    readonly addRule: (tenantId: string, input: unknown) => Promise<ReturnType<typeof SalePricing.ruleJson>>
    readonly archiveRule: (tenantId: string, ruleId: string) => Promise<ReturnType<typeof SalePricing.ruleJson>>
    readonly rules: (tenantId: string, options?: { readonly archived?: boolean }) => Promise<ReadonlyArray<ReturnType<typeof SalePricing.ruleJson>>>
    readonly assignPlan: (tenantId: string, input: { readonly customer: string; readonly plan: string; readonly effectiveFrom: string | Date }) => Promise<void>
    /** The sale price recorded for a call, or null. */
    readonly price: (tenantId: string, requestId: string) => Promise<ReturnType<typeof SalePricing.priceJson> | null>
    readonly margin: (tenantId: string, input: MarginInput) => Promise<ReadonlyArray<ReturnType<typeof CustomerStatements.marginJson>>>
    /** What finalizing would keep now; null when nothing changed since the last final statement. */
    readonly previewStatement: (tenantId: string, input: StatementInput) => Promise<Statement.StatementJson | null>
    /** Keeps the statement (or the correction since the last) as final; null when nothing changed. */
    readonly finalizeStatement: (tenantId: string, input: StatementInput, options?: { readonly finalizedBy?: string }) => Promise<Statement.StatementJson | null>
    readonly statement: (tenantId: string, statementId: string) => Promise<Statement.StatementJson>
    readonly statements: (tenantId: string, options?: { readonly customer?: string }) => Promise<ReadonlyArray<Statement.StatementJson>>
  }
  /** Records everything already submitted, then closes the database. Safe to call twice. */
  readonly close: () => Promise<void>
  readonly [Symbol.asyncDispose]: () => Promise<void>
}

export interface MarginInput {
  readonly from: string | Date
  readonly to: string | Date
  readonly groupBy: ReadonlyArray<CustomerStatements.MarginDimension>
  readonly customer?: string | undefined
}

export interface StatementInput {
  readonly customer: string
  readonly from: string | Date
  readonly to: string | Date
  readonly currency: string
  readonly groupBy?: Statement.GroupBy | undefined
}

const catalogLayer = (options: TallyOptions) =>
  options.catalog === undefined ? Catalog.Catalog.layer : Catalog.Catalog.layerWith({ customCatalogPath: options.catalog })

const databaseLayer = (options: TallyOptions) =>
  options.database !== undefined
    ? Database.layerPostgres({ url: Redacted.make(options.database) })
    : Database.layerPglite({ dataDir: options.dataDir ?? "memory://" })

/** The ingest engine's layers over the chosen database and catalog. */
export const layer = (options: TallyOptions = {}) => {
  const ingest = Layer.provideMerge(Ingest.layer, Layer.merge(Store.layerWith(databaseLayer(options)), catalogLayer(options)))
  return Layer.provideMerge(IngestPipeline.layer(options.pipeline), ingest)
}

/** Everything the facade runs on a database: ingest, budgets, enforcement, chargeback, pricing books. */
const engineLayer = (options: TallyOptions, catalog: ReturnType<typeof catalogLayer>) => {
  const base = Layer.merge(Store.layerWith(databaseLayer(options)), catalog)
  const services = Layer.mergeAll(
    Ingest.layer,
    Budgets.Budgets.layer,
    Layer.provideMerge(Governance.Governance.layer, Enforcement.Enforcement.layer),
    Chargeback.layer,
    TenantPricing.layer,
    Reprice.Repricing.layer,
    SalePricing.SalePricing.layer
  )
  return Layer.provideMerge(IngestPipeline.layer(options.pipeline), Layer.provideMerge(services, base))
}

const fromResult = <A, E>(result: Result.Result<A, E>): Effect.Effect<A, E> => Effect.fromResult(result)

const decimal = (field: string, value: unknown): Effect.Effect<Money.Decimal, InvalidInput> => {
  const parsed = typeof value === "string" ? Money.parse(value) : undefined
  return parsed === undefined || parsed.isNegative()
    ? Effect.fail(new InvalidInput({ field, message: `${field}: expected a non-negative decimal string, got ${JSON.stringify(value)}` }))
    : Effect.succeed(parsed)
}

const instant = (field: string, value: unknown): Effect.Effect<DateTime.Utc, InvalidInput> => {
  const parsed = typeof value === "string" || value instanceof Date ? DateTime.make(value) : undefined
  return parsed !== undefined && parsed._tag === "Some"
    ? Effect.succeed(parsed.value)
    : Effect.fail(new InvalidInput({ field, message: `${field}: expected an ISO 8601 date-time, got ${JSON.stringify(value)}` }))
}

const statementInput = (input: StatementInput): Effect.Effect<CustomerStatements.StatementInput, InvalidInput> =>
  Effect.gen(function*() {
    return {
      customer: input.customer,
      from: yield* instant("from", input.from),
      to: yield* instant("to", input.to),
      currency: input.currency,
      groupBy: input.groupBy ?? "model"
    }
  })

/**
 * Builds the facade. Returns at once and opens nothing: the catalog loads on the first call that
 * prices, the database on the first call that needs it (a database or catalog that cannot be used
 * rejects that call, and every later one, with the error). `await createTally(...)` also works.
 */
export const createTally = (options: TallyOptions = {}): Tally => {
  const memoMap = Layer.makeMemoMapUnsafe()
  const catalog = catalogLayer(options)
  const pricing = ManagedRuntime.make(catalog, { memoMap })
  const engine = ManagedRuntime.make(engineLayer(options, catalog), { memoMap })
  let engineOpened = false
  let closed: Promise<void> | undefined
  const inFlight = new Set<Promise<unknown>>()

  const track = <A>(promise: Promise<A>): Promise<A> => {
    inFlight.add(promise)
    const forget = () => inFlight.delete(promise)
    promise.then(forget, forget)
    return promise
  }
  const closedError = () => Promise.reject(new TallyClosed({ message: "tally: closed; create a new facade to continue" }))

  const price = <A, E>(effect: Effect.Effect<A, E, Catalog.Catalog>): Promise<A> =>
    closed !== undefined ? closedError() : track(pricing.runPromise(effect))

  const run = <A, E>(effect: Effect.Effect<A, E, ManagedRuntime.ManagedRuntime.Services<typeof engine>>): Promise<A> => {
    if (closed !== undefined) return closedError()
    engineOpened = true
    return track(engine.runPromise(effect))
  }

  // Disposing a runtime interrupts the calls still running, so first let them finish: drain the
  // pipeline (answers every ingest already submitted), wait for the other calls, then dispose.
  const close = async () => {
    if (engineOpened) {
      await engine.runPromise(IngestPipeline.use((pipeline) => pipeline.drain)).catch(() => undefined)
    }
    await Promise.allSettled(inFlight)
    await engine.dispose()
    await pricing.dispose()
  }

  const enforcement = <A, E>(f: (service: Enforcement.EnforcementService) => Effect.Effect<A, E>) =>
    run(Enforcement.Enforcement.use(f))
  const governance = <A, E>(f: (service: Governance.GovernanceService) => Effect.Effect<A, E>) =>
    run(Governance.Governance.use(f))
  const budgets = <A, E>(f: (service: Budgets.BudgetsService) => Effect.Effect<A, E>) =>
    run(Budgets.Budgets.use(f))
  const chargeback = <A, E>(f: (service: ChargebackService) => Effect.Effect<A, E>) =>
    run(Chargeback.use(f))

  const tally: Tally = {
    ingest: (tenantId, events, ingestOptions) => run(IngestPipeline.use((pipeline) => pipeline.submit(tenantId, events, ingestOptions))),

    price: (usage, snapshot) =>
      closed !== undefined ? closedError() : track(Effect.runPromise(Effect.gen(function*() {
        const decodedUsage = yield* decodeUsage(usage)
        const decodedSnapshot = yield* decodeSnapshot(snapshot)
        const breakdown = yield* Effect.fromResult(CostEngine.price(decodedUsage, decodedSnapshot))
        return CostBreakdown.encode(breakdown)
      }))),

    cost: (input, costOptions = {}) =>
      price(Effect.gen(function*() {
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

    usage: (tenantId, query) =>
      run(Effect.gen(function*() {
        const decoded = yield* fromResult(UsageJson.decode(query))
        const report = yield* UsageReport.UsageReport.use((r) => r.usage(tenantId, decoded))
        return UsageJson.reportToJson(report)
      })),

    budgets: {
      create: (tenantId, input) =>
        budgets((s) => Effect.flatMap(fromResult(Budget.decodeBudgetInput(input)), (decoded) => s.create(tenantId, decoded)).pipe(Effect.map(Budgets.budgetToJson))),
      list: (tenantId, listOptions) =>
        budgets((s) => Effect.map(s.list(tenantId, listOptions), (all) => all.map(Budgets.budgetToJson))),
      update: (tenantId, budgetId, patch, updateOptions) =>
        budgets((s) =>
          Effect.flatMap(fromResult(Budget.decodeBudgetPatch(patch)), (decoded) => s.update(tenantId, budgetId, decoded, updateOptions)).pipe(
            Effect.map(Budgets.budgetToJson)
          )),
      archive: (tenantId, budgetId, archiveOptions) => budgets((s) => Effect.map(s.archive(tenantId, budgetId, archiveOptions), Budgets.budgetToJson)),
      status: (tenantId, statusOptions = {}) =>
        budgets((s) =>
          Effect.gen(function*() {
            const at = statusOptions.at === undefined ? undefined : yield* instant("at", statusOptions.at)
            const all = yield* s.status(tenantId, { budgetId: statusOptions.budgetId, at })
            return all.map(Budgets.statusToJson)
          })),
      check: (tenantId, input) =>
        enforcement((s) =>
          Effect.flatMap(fromResult(Enforcement.decodeCheck(input)), (body) => s.check(tenantId, body)).pipe(Effect.map(Enforcement.decisionToJson))),
      reserve: (tenantId, input) =>
        enforcement((s) =>
          Effect.flatMap(fromResult(Enforcement.decodeReserve(input)), (body) => s.reserve(tenantId, body)).pipe(Effect.map(Enforcement.decisionToJson))),
      settle: (tenantId, reservationId, input) =>
        enforcement((s) =>
          Effect.flatMap(fromResult(Enforcement.decodeSettle({ ...input, reservationId })), (body) =>
            s.settle(tenantId, body.reservationId, { actualCost: body.actualCost, actualTokens: body.actualTokens, requestId: body.requestId })).pipe(
              Effect.map(Enforcement.reservationToJson)
            )),
      release: (tenantId, reservationId) => enforcement((s) => Effect.map(s.release(tenantId, reservationId), Enforcement.reservationToJson)),
      reservation: (tenantId, reservationId) => enforcement((s) => Effect.map(s.get(tenantId, reservationId), Enforcement.reservationToJson))
    },
    decide: (tenantId, input) =>
      governance((s) =>
        Effect.flatMap(fromResult(Governance.decodeDecide(input)), (body) => s.decide(tenantId, body)).pipe(
          Effect.map(Governance.decisionToJson)
        )
      ),
    policies: {
      create: (tenantId, input) => governance((s) => Effect.map(s.createPolicy(tenantId, input), ModelPolicy.toJson)),
      list: (tenantId, listOptions) => governance((s) => Effect.map(s.listPolicies(tenantId, listOptions), (all) => all.map(ModelPolicy.toJson))),
      archive: (tenantId, policyId) => governance((s) => Effect.map(s.archivePolicy(tenantId, policyId), ModelPolicy.toJson))
    },

    chargeback: {
      showback: (tenantId, input) =>
        chargeback((s) =>
          Effect.flatMap(fromResult(CostAllocation.Input.decodeRunInput(input)), (decoded) => s.showback(tenantId, decoded)).pipe(
            Effect.map(ChargebackJson.computationToJson)
          )),
      run: (tenantId, input, runOptions = {}) =>
        chargeback((s) =>
          Effect.flatMap(fromResult(CostAllocation.Input.decodeRunInput(input)), (decoded) =>
            s.run(tenantId, { ...decoded, createdBy: runOptions.createdBy })).pipe(Effect.map(ChargebackJson.runToJson))),
      finalize: (tenantId, runId, finalizeOptions) => chargeback((s) => Effect.map(s.finalize(tenantId, runId, finalizeOptions), ChargebackJson.runToJson)),
      get: (tenantId, runId) => chargeback((s) => Effect.map(s.get(tenantId, runId), ChargebackJson.runToJson)),
      list: (tenantId, listOptions) => chargeback((s) => Effect.map(s.list(tenantId, listOptions), ChargebackJson.pageToJson))
    },

    reprice: (tenantId, input) =>
      run(Effect.gen(function*() {
        const from = yield* instant("from", input.from)
        const to = yield* instant("to", input.to)
        const summary = yield* Reprice.Repricing.use((r) =>
          r.reprice(tenantId, { from, to, onlyUnpriced: input.onlyUnpriced, dryRun: input.dryRun, actor: input.actor })
        )
        return Reprice.summaryJson(summary)
      })),

    reconcile: (tenantId, input) =>
      run(Effect.gen(function*() {
        const from = yield* instant("from", input.from)
        const to = yield* instant("to", input.to)
        if (DateTime.toEpochMillis(to) <= DateTime.toEpochMillis(from)) {
          return yield* new InvalidInput({ field: "to", message: `to: expected an instant after from (${input.from}), got ${input.to}` })
        }
        const tolerance = input.tolerance === undefined
          ? undefined
          : { absolute: yield* decimal("tolerance", input.tolerance), relative: new Money.Decimal("0.005") }
        const reports: Array<Compare.ParsedReport> = []
        for (const [i, report] of (input.reports ?? []).entries()) {
          const parsed = Compare.parse(report.format, report.content)
          if (Result.isFailure(parsed)) {
            return yield* new InvalidInput({ field: `reports[${i}]`, message: `reports[${i}]: ${parsed.failure.message}` })
          }
          reports.push(parsed.success)
        }
        const book = yield* TenantPricing.use((p) => p.book(tenantId))
        return yield* ReconcileRun.run({
          tenantId,
          period: { from: new Date(DateTime.toEpochMillis(from)), to: new Date(DateTime.toEpochMillis(to)) },
          book,
          reports,
          tolerance,
          save: input.save
        })
      })),

    resale: {
      addRule: (tenantId, input) =>
        run(Effect.flatMap(fromResult(SalePrice.decodeRuleInput(input)), (rule) =>
          SalePricing.SalePricing.use((s) => Effect.map(s.addRule(tenantId, rule), SalePricing.ruleJson)))),
      archiveRule: (tenantId, ruleId) => run(SalePricing.SalePricing.use((s) => Effect.map(s.archiveRule(tenantId, ruleId), SalePricing.ruleJson))),
      rules: (tenantId, listOptions) =>
        run(SalePrices.SalePrices.use((s) => Effect.map(s.listRules(tenantId, { archived: listOptions?.archived === true }), (all) => all.map(SalePricing.ruleJson)))),
      assignPlan: (tenantId, input) =>
        run(Effect.gen(function*() {
          const at = yield* instant("effectiveFrom", input.effectiveFrom)
          yield* SalePricing.SalePricing.use((s) =>
            s.assignPlan(tenantId, { customer: input.customer, plan: input.plan, effectiveFrom: DateTime.toEpochMillis(at) })
          )
        })),
      price: (tenantId, requestId) =>
        run(SalePricing.SalePricing.use((s) => Effect.map(s.priceOf(tenantId, requestId), (found) => Option.match(found, { onNone: () => null, onSome: SalePricing.priceJson })))),
      margin: (tenantId, input) =>
        run(Effect.gen(function*() {
          const from = yield* instant("from", input.from)
          const to = yield* instant("to", input.to)
          const rows = yield* CustomerStatements.CustomerStatements.use((s) =>
            s.margin(tenantId, { from, to, groupBy: input.groupBy, ...(input.customer === undefined ? {} : { customer: input.customer }) })
          )
          return rows.map(CustomerStatements.marginJson)
        })),
      previewStatement: (tenantId, input) =>
        run(Effect.flatMap(statementInput(input), (decoded) =>
          CustomerStatements.CustomerStatements.use((s) => Effect.map(s.preview(tenantId, decoded), (st) => (st === null ? null : Statement.toJson(st)))))),
      finalizeStatement: (tenantId, input, finalizeOptions = {}) =>
        run(Effect.flatMap(statementInput(input), (decoded) =>
          CustomerStatements.CustomerStatements.use((s) =>
            Effect.map(s.finalize(tenantId, decoded, finalizeOptions.finalizedBy ?? "system"), (st) => (st === null ? null : Statement.toJson(st)))
          ))),
      statement: (tenantId, statementId) =>
        run(CustomerStatements.CustomerStatements.use((s) => Effect.map(s.get(tenantId, statementId), Statement.toJson))),
      statements: (tenantId, listOptions = {}) =>
        run(CustomerStatements.CustomerStatements.use((s) => Effect.map(s.list(tenantId, listOptions.customer), (all) => all.map(Statement.toJson))))
    },

    close: () => (closed ??= close()),
    [Symbol.asyncDispose]: () => tally.close()
  }
  return tally
}
