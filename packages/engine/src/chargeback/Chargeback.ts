/**
 * Chargeback and showback: what each owner (team, cost center, any label, model, provider or tag)
 * is charged for a period, with shared and unowned cost split by a rule, rounded so the lines sum
 * exactly to the ledger total, stored with the inputs it used and an audit trail, and immutable
 * once final.
 *
 * A run reads the ledger as of one instant (the start of its transaction). Usage recorded later
 * for the period of a final run is never rewritten into it: the next run of the same dimension
 * and currency recomputes that period with the final run's own rule and carries the difference as
 * correction lines (FOCUS ChargeClass "Correction"). Showback is the same computation, not stored.
 *
 * Runs and finalizations of a tenant are serialized by the tenant's "chargeback" lock, so a
 * correction is carried into exactly one final run: a draft that another finalization overtook is
 * stale. The maths is core's (`CostAllocation`); the computation is `Compute.ts`, the run and its
 * stored form `Run.ts`; the store's `ChargebackRuns` and `ChargebackLedger` read and write.
 */
import { CostAllocation, Fx, Money, type Tenant, UsageRecord } from "@tally/core"
import { ChargebackLedger, ChargebackRuns, CostAtRisk, Database, ExchangeRates, Tenants } from "@tally/store"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { SqlError } from "effect/sql/SqlError"
import * as Compute from "./Compute.ts"
import { periodFinalized, type PeriodFinalized, RunAlreadyFinal, runNotFound, type RunNotFound, RunStale } from "./Errors.ts"
import * as Run from "./Run.ts"

const { Csv, Dimension, Focus, Input } = CostAllocation
type InvalidChargeback = CostAllocation.InvalidChargeback

export interface ListOptions {
  /** 1 to 100; default 20. */
  readonly limit?: number | undefined
  /** `endCursor` of the previous page. */
  readonly after?: string | undefined
  readonly status?: Run.RunStatus | undefined
}

export interface RunPage {
  readonly runs: ReadonlyArray<Run.RunSummary>
  readonly hasMore: boolean
  readonly endCursor: string | null
}

export interface UsageQuery {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  /** Only calls recorded at or before this instant (a run's `asOf`). */
  readonly asOf?: DateTime.Utc | undefined
  /** With `owners` and/or `unowned`: only calls of these owners under this dimension. */
  readonly dimension?: string | undefined
  readonly owners?: ReadonlyArray<string> | undefined
  readonly unowned?: boolean | undefined
  /** Calls per page (and per transaction); default 2000. */
  readonly pageSize?: number | undefined
  /** FOCUS version of the rows; default 1.3. */
  readonly version?: CostAllocation.Focus.Version | undefined
  /**
   * Converts calls priced in another currency into the tenant's (reporting) currency at the rate
   * of the call's UTC day (as of `asOf`, or now); the original amounts stay in the PricingCurrency
   * columns. A day without a rate fails the export before it starts.
   */
  readonly convert?: boolean | undefined
}

export interface ChargebackService {
  /** Showback: the computation of a run for the period, nothing stored. */
  readonly showback: (
    tenantId: string,
    input: CostAllocation.Input.RunInput
  ) => Effect.Effect<Run.Computation, InvalidChargeback | Tenant.TenantNotFound | SqlError>
  /** Computes and stores a draft run. */
  readonly run: (
    tenantId: string,
    input: CostAllocation.Input.RunInput & { readonly createdBy?: string | undefined }
  ) => Effect.Effect<Run.Run, InvalidChargeback | PeriodFinalized | Tenant.TenantNotFound | SqlError>
  /** Makes a draft final: from then on neither it nor its lines can change (the database enforces it). */
  readonly finalize: (
    tenantId: string,
    runId: string,
    options?: { readonly finalizedBy?: string | undefined }
  ) => Effect.Effect<Run.Run, InvalidChargeback | RunNotFound | RunAlreadyFinal | RunStale | PeriodFinalized | SqlError>
  /** A run with its lines and audit trail. */
  readonly get: (tenantId: string, runId: string) => Effect.Effect<Run.Run, RunNotFound | SqlError>
  /** Runs newest first. */
  readonly list: (tenantId: string, options?: ListOptions) => Effect.Effect<RunPage, InvalidChargeback | SqlError>
  /** A run's FOCUS rows (see core's `CostAllocation.Focus`), from its period's ledger as of the run's instant. */
  readonly focus: (
    tenantId: string,
    runId: string,
    options?: { readonly version?: CostAllocation.Focus.Version | undefined }
  ) => Effect.Effect<{ readonly run: Run.Run; readonly rows: ReadonlyArray<CostAllocation.Focus.Row> }, RunNotFound | SqlError>
  /**
   * Priced calls of a period as FOCUS rows in CSV, streamed page by page (one tenant transaction
   * per page), with the count of unpriced calls the period has (they carry no cost row).
   */
  readonly usage: (
    tenantId: string,
    query: UsageQuery
  ) => Effect.Effect<
    { readonly unpriced: number; readonly csv: Stream.Stream<string, SqlError> },
    InvalidChargeback | Tenant.TenantNotFound | SqlError
  >
}

/** What the operations below work with. */
interface Services extends Compute.Repositories {
  readonly db: Database.DatabaseService
  readonly tenants: Tenants.TenantsService
  readonly rates: ExchangeRates.ExchangeRatesService
}

/** The lock that serializes a tenant's runs and finalizations. */
const LOCK = "chargeback"

const iso = (dt: DateTime.Utc): string => DateTime.formatIso(dt)

const actorOf = (actor: string | undefined): string => {
  const trimmed = actor?.trim() ?? ""
  return trimmed === "" ? "system" : trimmed.slice(0, 200)
}

/** A run with its lines and audit trail, inside a tenant transaction. */
const load = Effect.fnUntraced(function*(services: Services, tenantId: string, runId: string) {
  const { runs } = services
  const run = yield* runs.get(tenantId, runId)
  if (run === undefined) return yield* runNotFound(runId)
  const lines = (yield* runs.lines(tenantId, [run.id])).get(run.id) ?? []
  const audit = yield* runs.audit(tenantId, run.id)
  return Run.fromStored(run, lines, audit)
})

/** Final runs of the dimension and currency whose periods overlap `[from, to)`. */
const overlapping = (
  services: Services,
  tenantId: string,
  period: { readonly dimension: string; readonly currency: string; readonly from: DateTime.Utc; readonly to: DateTime.Utc }
) =>
  services.runs.finalized(tenantId, {
    dimension: period.dimension,
    currency: period.currency,
    overlapping: { from: period.from, to: period.to }
  })

const showback = Effect.fn("Chargeback.showback")(function*(
  services: Services,
  tenantId: string,
  input: CostAllocation.Input.RunInput
) {
  return yield* services.db.withTenant(
    tenantId,
    Effect.gen(function*() {
      const tenant = yield* services.tenants.get(tenantId)
      const resolved = yield* Effect.fromResult(Input.resolve(input, tenant))
      return (yield* Compute.compute(services, tenantId, resolved)).computation
    })
  )
})

const run = Effect.fn("Chargeback.run")(function*(
  services: Services,
  tenantId: string,
  input: CostAllocation.Input.RunInput & { readonly createdBy?: string | undefined }
) {
  return yield* services.db.withTenant(
    tenantId,
    Effect.gen(function*() {
      const tenant = yield* services.tenants.get(tenantId)
      yield* services.tenants.lock(tenantId, LOCK)
      const resolved = yield* Effect.fromResult(Input.resolve(input, tenant))
      const [final] = yield* overlapping(services, tenantId, {
        dimension: resolved.dimension.name,
        currency: resolved.currency,
        from: resolved.from,
        to: resolved.to
      })
      if (final !== undefined) return yield* periodFinalized(final)
      const { computation, json } = yield* Compute.compute(services, tenantId, resolved)
      const stored = yield* services.runs.insert(tenantId, Run.toStored(computation, json, actorOf(input.createdBy)))
      // The run's FOCUS cost groups, when the daily cost summary has them as of the run's instant (a
      // few milliseconds): its exports then read them back, also after late usage. Otherwise an
      // export reads the ledger as of the instant, as it always could.
      const groups = yield* services.ledger.summaryCostGroups(tenantId, {
        from: resolved.from,
        to: resolved.to,
        dimension: resolved.dimension,
        asOf: computation.asOf,
        currency: resolved.currency
      })
      if (groups !== undefined) yield* services.runs.insertCostGroups(tenantId, stored.id, groups)
      // Just written in this transaction: not finding it is a defect, not an answer.
      return yield* load(services, tenantId, stored.id).pipe(Effect.catchTag("RunNotFound", Effect.die))
    })
  )
})

const finalize = Effect.fn("Chargeback.finalize")(function*(
  services: Services,
  tenantId: string,
  runId: string,
  options?: { readonly finalizedBy?: string | undefined }
) {
  const { runs } = services
  return yield* services.db.withTenant(
    tenantId,
    Effect.gen(function*() {
      yield* services.tenants.lock(tenantId, LOCK)
      const draft = yield* runs.get(tenantId, runId, { lock: true })
      if (draft === undefined) return yield* runNotFound(runId)
      if (draft.status === "final") {
        return yield* new RunAlreadyFinal({
          runId,
          message: `chargeback run ${runId} is final already (finalized by ${draft.finalizedBy} at ${
            draft.finalizedAt === null ? "?" : iso(draft.finalizedAt)
          })`
        })
      }
      const [final] = yield* overlapping(services, tenantId, draft)
      if (final !== undefined) return yield* periodFinalized(final)
      const overtaken = yield* runs.finalizedSince(tenantId, {
        dimension: draft.dimension,
        currency: draft.currency,
        since: draft.asOf,
        except: draft.id
      })
      if (overtaken.length > 0) {
        return yield* new RunStale({
          runId,
          finalizedRunIds: overtaken,
          message: `chargeback run ${runId} was computed before run ${overtaken.join(", ")} became final; ` +
            "its corrections may be charged already, so compute a new run and finalize that"
        })
      }
      yield* runs.finalize(tenantId, runId, actorOf(options?.finalizedBy))
      return yield* load(services, tenantId, runId)
    })
  )
})

const get = Effect.fn("Chargeback.get")(function*(services: Services, tenantId: string, runId: string) {
  return yield* services.db.withTenant(tenantId, load(services, tenantId, runId))
})

const list = Effect.fn("Chargeback.list")(function*(services: Services, tenantId: string, options: ListOptions = {}) {
  const limit = options.limit ?? 20
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    return yield* new CostAllocation.InvalidChargeback({ field: "limit", message: `limit: expected 1 to 100, got ${limit}` })
  }
  const after = options.after ?? null
  if (after !== null && !ChargebackRuns.isRunId(after)) {
    return yield* new CostAllocation.InvalidChargeback({ field: "after", message: "after: not a cursor this list returned" })
  }
  const rows = yield* services.runs.list(tenantId, { limit: limit + 1, after, status: options.status ?? null })
  const page = rows.slice(0, limit)
  return {
    runs: page.map(Run.summaryOf),
    hasMore: rows.length > limit,
    endCursor: page.length === 0 ? null : page[page.length - 1]!.id
  } satisfies RunPage
})

const focus = Effect.fn("Chargeback.focus")(function*(
  services: Services,
  tenantId: string,
  runId: string,
  options: { readonly version?: CostAllocation.Focus.Version | undefined } = {}
) {
  return yield* services.db.withTenant(
    tenantId,
    Effect.gen(function*() {
      const run = yield* load(services, tenantId, runId)
      const tenant = yield* services.tenants.get(tenantId).pipe(Effect.orDie)
      const dimension = Dimension.parse(run.dimension)
      if (Result.isFailure(dimension)) return yield* Effect.die(dimension.failure)
      const groups = (yield* services.runs.costGroups(tenantId, run.id)) ?? (yield* services.ledger.costGroups(tenantId, {
        from: run.from,
        to: run.to,
        dimension: dimension.success,
        asOf: run.asOf,
        currency: run.currency
      }))
      const corrected = new Map<string, CostAllocation.Focus.Corrected>()
      const ids = [...new Set(run.lines.flatMap((l) => (l.correctsRunId === null ? [] : [l.correctsRunId])))]
      // For the ledger-style corrections (1.3): what the final run and the corrections of runs of
      // earlier periods than this one charged each owner, so a reversal reverses exactly that.
      const earlier = ids.length === 0 ? [] : yield* services.runs.corrections(tenantId, ids)
      const periods = new Map<string, DateTime.Utc>()
      for (const line of earlier) {
        if (line.runId === undefined || periods.has(line.runId)) continue
        const of = yield* services.runs.get(tenantId, line.runId)
        if (of !== undefined) periods.set(line.runId, of.from)
      }
      const ownLines = ids.length === 0 ? new Map<string, ReadonlyArray<ChargebackRuns.StoredLine>>() : yield* services.runs.lines(tenantId, ids)
      for (const id of ids) {
        const other = yield* services.runs.get(tenantId, id)
        if (other === undefined) continue
        const before = earlier.filter((l) => {
          if (l.correctsRunId !== id || l.runId === undefined || l.runId === run.id) return false
          const from = periods.get(l.runId)
          return from !== undefined && DateTime.toEpochMillis(from) < DateTime.toEpochMillis(run.from)
        })
        const charged = (owner: string | null) =>
          Money.sum([...(ownLines.get(id) ?? []).filter((l) => l.kind !== "correction"), ...before].filter((l) => l.owner === owner).map((l) => l.amount))
        corrected.set(id, { from: other.from, to: other.to, charged })
      }
      return { run, rows: Focus.runRows(tenant, run, groups, corrected, { version: options.version }) }
    })
  )
})

/**
 * The conversion of each call of a usage export into the reporting currency (none unless asked):
 * the rates of the period's days are read once, and a day with other-currency spend but no rate
 * fails here, before anything is streamed.
 */
const converter = Effect.fnUntraced(function*(services: Services, tenant: Tenant.Tenant, query: UsageQuery) {
  const none = (_: UsageRecord.UsageRecord): CostAllocation.Focus.Conversion | undefined => undefined
  if (query.convert !== true) return none
  const asOf = query.asOf ?? (yield* DateTime.now)
  const spend = yield* services.rates.dailySpend(tenant.id, { from: query.from, to: query.to, asOf })
  const rates = yield* services.rates.list(tenant.id, {
    quote: tenant.currency,
    from: DateTime.formatIso(query.from).slice(0, 10),
    to: DateTime.formatIso(query.to).slice(0, 10)
  })
  const at = DateTime.formatIso(asOf)
  const days = Fx.convertDays(spend, tenant.currency, rates, at)
  if (days instanceof Fx.RateMissing) {
    return yield* new CostAllocation.InvalidChargeback({ field: "convert", message: `convert: ${days.message}` })
  }
  return (record: UsageRecord.UsageRecord): CostAllocation.Focus.Conversion | undefined => {
    const currency = UsageRecord.currencyOf(record)
    if (currency === null || currency === tenant.currency) return undefined
    const date = Fx.dayOf(DateTime.toDateUtc(record.occurredAt))
    const rate = Fx.pick(rates, currency, tenant.currency, date, at)
    return rate === undefined ? undefined : { from: currency, to: tenant.currency, rate: rate.rate, rateId: rate.id, date }
  }
})

/** Which calls a usage export lists by owner; undefined for every call of the period. */
const ownersOf = (query: UsageQuery): Result.Result<ChargebackLedger.UsageFilter["owners"], InvalidChargeback> => {
  if (query.owners === undefined && query.unowned !== true) return Result.succeed(undefined)
  if (query.dimension === undefined) {
    return Result.fail(new CostAllocation.InvalidChargeback({ field: "dimension", message: "dimension: required with owner or unowned" }))
  }
  const dimension = Dimension.parse(query.dimension)
  if (Result.isFailure(dimension)) {
    return Result.fail(new CostAllocation.InvalidChargeback({ field: "dimension", message: `dimension: ${dimension.failure.message}` }))
  }
  return Result.succeed({ dimension: dimension.success, values: query.owners ?? [], unowned: query.unowned === true })
}

const usage = Effect.fn("Chargeback.usage")(function*(services: Services, tenantId: string, query: UsageQuery) {
  const span = DateTime.toEpochMillis(query.to) - DateTime.toEpochMillis(query.from)
  if (span <= 0) return yield* new CostAllocation.InvalidChargeback({ field: "to", message: "to: expected an instant after from" })
  const owners = yield* Effect.fromResult(ownersOf(query))
  const pageSize = query.pageSize ?? 2000
  const version = query.version ?? Focus.defaultVersion
  const { tenant, unpriced } = yield* services.db.withTenant(
    tenantId,
    Effect.all({
      tenant: services.tenants.get(tenantId),
      unpriced: services.ledger.unpricedCount(tenantId, { from: query.from, to: query.to })
    })
  )
  const conversionOf = yield* converter(services, tenant, query)
  type Cursor = { readonly occurredAt: DateTime.Utc; readonly requestId: string } | null
  const pages = Stream.paginate<Cursor, string, SqlError>(null, (after) =>
    services.ledger.usagePage(tenantId, {
      from: query.from,
      to: query.to,
      after,
      limit: pageSize,
      filter: { asOf: query.asOf, owners }
    }).pipe(
      Effect.map((records) => {
        const text = records.map((r) =>
          Focus.usageRows(tenant, r, { version, conversion: conversionOf(r) }).map((row) => Csv.focusRecord(row, version)).join("")
        ).join("")
        const last = records[records.length - 1]
        return [
          text === "" ? [] : [text],
          records.length < pageSize || last === undefined
            ? Option.none()
            : Option.some<Cursor>({ occurredAt: last.occurredAt, requestId: last.requestId })
        ] as const
      })
    ))
  return { unpriced, csv: Stream.concat(Stream.succeed(Csv.focusHeader(version)), pages) }
})

export class Chargeback extends Context.Service<Chargeback, ChargebackService>()("@tally/engine/Chargeback") {
  /** The service over the store's chargeback repositories and tenants; needs only the `Database`. */
  static readonly layer: Layer.Layer<Chargeback, never, Database.Database> = Layer.effect(
    Chargeback,
    Effect.gen(function*() {
      const services: Services = {
        db: yield* Database.Database,
        tenants: yield* Tenants.Tenants,
        runs: yield* ChargebackRuns.ChargebackRuns,
        ledger: yield* ChargebackLedger.ChargebackLedger,
        atRisk: yield* CostAtRisk.CostAtRisk,
        rates: yield* ExchangeRates.ExchangeRates
      }
      return Chargeback.of({
        showback: (tenantId, input) => showback(services, tenantId, input),
        run: (tenantId, input) => run(services, tenantId, input),
        finalize: (tenantId, runId, options) => finalize(services, tenantId, runId, options),
        get: (tenantId, runId) => get(services, tenantId, runId),
        list: (tenantId, options) => list(services, tenantId, options),
        focus: (tenantId, runId, options) => focus(services, tenantId, runId, options),
        usage: (tenantId, query) => usage(services, tenantId, query)
      })
    })
  ).pipe(
    Layer.provide(Layer.mergeAll(Tenants.Tenants.layer, ChargebackRuns.ChargebackRuns.layer, ChargebackLedger.ChargebackLedger.layer, CostAtRisk.CostAtRisk.layer, ExchangeRates.ExchangeRates.layer))
  )
}
