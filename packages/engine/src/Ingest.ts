/**
 * Ingest: decode, normalize, match, price and store one batch of usage events for one tenant.
 *
 * Per event, in input order, the result is one of:
 * - `inserted`: recorded now; `duplicate`: the same event was recorded before (a replay);
 * - `conflict`: the request id was recorded with a different event (this one is dead-lettered);
 * - `rejected`: the event cannot be recorded (bad shape, unknown provider, negative tokens, a
 *   normalizer error); it is dead-lettered with its raw input and the reason, naming the field.
 * An unmatched model is not a rejection: the call is recorded `unpriced` with its usage and the
 * reason, so it can be repriced later and is never billed as $0.
 *
 * Every priced call of a batch goes to the ledger in one `insertBatch` call, which is one
 * transaction, together with the dead letters of the events rejected before pricing. If it fails
 * the whole batch fails with `IngestFailure`, nothing of it was written, and the caller retries:
 * the ledger is idempotent, so a retry reports the calls already written as duplicates and
 * changes no total.
 *
 * The calls' sale prices (`SalePricing`, when the tenant has sale rules) are stored in the same
 * transaction, for exactly the calls inserted.
 * The tenant's commitments are applied to each priced call after pricing (`Commitments.applyTo`:
 * provisioned throughput at zero marginal cost, committed-use discounts), and in the same
 * transaction, for exactly the calls inserted, their commitment usage is recorded and prepaid
 * credits are drawn down (`Credits`).
 *
 * After the ledger commit, `Budgets.evaluateAfterCommit` sees the calls really inserted.
 *
 * Hot path: decoding, normalizing and pricing are pure and synchronous; the database sees the
 * tenant's price-book version every few seconds (`TenantPricing`, cached) and one transaction
 * per batch, never a query per event.
 */
import type { Catalog, PriceBook } from "@tally/catalog"
import { type Commitment, type Credit, Money, type Tenant, Usage, type UsageRecord } from "@tally/core"
import { Costing } from "@tally/pricing"
import { Normalize, type NormalizedCall, type NormalizeError } from "@tally/providers"
import {
  Commitments as CommitmentStore,
  Credits as CreditStore,
  type Database,
  type DeadLetters,
  type PriceBooks,
  type SalePrices,
  type Tenants,
  UsageLedger
} from "@tally/store"
import { Context, DateTime, Duration, Effect, Layer, Result, Schema } from "effect"
import type { SqlError } from "effect/sql/SqlError"
import * as Budgets from "./Budgets.ts"
import * as Commitments from "./Commitments.ts"
import * as Credits from "./Credits.ts"
import * as SalePricing from "./SalePricing.ts"
import * as TenantPricing from "./TenantPricing.ts"
import * as UsageEvent from "./UsageEvent.ts"

export interface IngestOptions {
  /** Labels from the API key; an event's own labels win field by field. */
  readonly defaultLabels?: Partial<UsageRecord.Labels> | undefined
  readonly apiKeyId?: string | undefined
}

export type ItemStatus = "inserted" | "duplicate" | "conflict" | "rejected"

export interface IngestItem {
  readonly index: number
  readonly requestId: string | null
  readonly status: ItemStatus
  /** rejected / conflict: what is wrong, naming the field. */
  readonly reason?: string
  readonly costSource?: Costing.CostSource
  /** Exact decimal string. */
  readonly total?: string | null
  readonly currency?: string | null
  readonly model?: string | null
  readonly definition?: string | null
  /** The provider whose prices were searched (the model's provider when the call names one). */
  readonly provider?: string
  /** Input (prompt) and output tokens of the call as priced. */
  readonly inputTokens?: number
  readonly outputTokens?: number
}

export interface IngestResult {
  readonly items: ReadonlyArray<IngestItem>
  readonly inserted: number
  readonly duplicates: number
  readonly conflicts: number
  readonly rejected: number
}

/** One caller's events with their options, for `ingestBatch`. */
export interface Submission {
  readonly events: ReadonlyArray<unknown>
  readonly options?: IngestOptions | undefined
}

/**
 * The batch's transaction failed: the caller must retry (or not ack). Usually nothing of it was
 * written; if the connection dropped while committing it may have been, and the retry then
 * answers `duplicate` for what landed (the ledger is idempotent).
 * `unavailable`: the database failed; `unknown-tenant`: no such tenant (retrying will not help).
 */
export class IngestFailure extends Schema.TaggedError<IngestFailure>()("IngestFailure", {
  reason: Schema.Literals(["unavailable", "unknown-tenant"]),
  tenantId: Schema.String,
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {}

export interface IngestService {
  /** Decode, normalize, match, price and store one batch for one tenant; one result per event, in order. */
  readonly ingest: (
    tenantId: string,
    events: ReadonlyArray<unknown>,
    options?: IngestOptions
  ) => Effect.Effect<IngestResult, IngestFailure>
  /**
   * Several callers' events for one tenant in one ledger transaction (what the pipeline batches);
   * one result per submission, each in its own input order. All commit or none.
   */
  readonly ingestBatch: (
    tenantId: string,
    submissions: ReadonlyArray<Submission>
  ) => Effect.Effect<ReadonlyArray<IngestResult>, IngestFailure>
}

/** Which stage dead-letters the events that fail before pricing. */
export const deadLetterSource = "ingest"

/** How long a tenant's settings (built-in catalog on or off) are reused before being read again. */
export const tenantCacheTtl = Duration.seconds(5)

// ---------------------------------------------------------------------------------------------
// Preparing one event (pure)

/** An event refused before pricing, with the field at fault. */
export interface Rejected {
  readonly _tag: "Rejected"
  readonly requestId: string | null
  readonly field: string
  readonly reason: string
  /** `malformed` (the event's shape) or `rejected` (its payload or provider). */
  readonly kind: "malformed" | "rejected"
  readonly input: unknown
}

/** An event priced and ready for the ledger. */
export interface Priced {
  readonly _tag: "Priced"
  readonly call: UsageRecord.UsageRecord
  readonly costed: Costing.CostedCall
  /** What a commitment did to the call (after pricing), recorded if the call is inserted. */
  readonly coverage?: Commitment.Coverage | undefined
}

export type Prepared = Rejected | Priced

const reject = (
  requestId: string | null,
  field: string,
  reason: string,
  kind: Rejected["kind"],
  input: unknown
): Rejected => ({ _tag: "Rejected", requestId, field, reason: `${field}: ${reason}`, kind, input })

/** The field a normalizer error concerns, as a path into the event. */
const normalizeField = (event: UsageEvent.RawEvent, error: NormalizeError.NormalizeError): string => {
  if (Normalize.resolveProvider(event.provider) === undefined) return "provider"
  if (error.reason === "unsupported" && error.path === "(payload)" && event.api !== undefined) return "api"
  if (error.path === "(payload)") return "payload"
  if (error.path === "request" || error.path.startsWith("request.") || error.path.startsWith("request[")) {
    return error.path
  }
  return error.path.startsWith("[") ? `payload${error.path}` : `payload.${error.path}`
}

/** The normalizer's message without its `provider: path: ` prefix, which the field replaces. */
const normalizeDetail = (error: NormalizeError.NormalizeError): string => {
  const prefix = `${error.provider}: ${error.path}: `
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message
}

/**
 * A normalized event as the call `Costing` prices. Its `provider` may be any catalog provider
 * (not only those Tally has a normalizer for): prices are searched under `modelProvider`.
 */
const callOfNormalized = (event: UsageEvent.NormalizedEvent, raw: unknown): NormalizedCall.NormalizedCall => ({
  provider: Normalize.resolveProvider(event.provider) ?? "otel",
  api: "span",
  model: event.model,
  modelProvider: event.provider,
  usage: event.usage,
  batch: event.usage.batch ?? false,
  estimated: false,
  corrections: [],
  subCalls: [],
  raw
})

/** What pricing an event needs besides the event: the tenant's price book, the tenant, the caller's options. */
export interface PrepareContext {
  readonly book: PriceBook.PriceBook
  readonly tenantId: string
  readonly options: IngestOptions
}

const scopeOf = (context: PrepareContext, labels: UsageRecord.Labels): PriceBook.Scope => {
  const scope: { -readonly [K in keyof PriceBook.Scope]: string } = { tenant: context.tenantId }
  if (context.options.apiKeyId !== undefined && context.options.apiKeyId !== "") scope.apiKey = context.options.apiKeyId
  if (labels.project !== undefined && labels.project !== "") scope.project = labels.project
  if (labels.team !== undefined && labels.team !== "") scope.team = labels.team
  return scope
}

/**
 * Decodes, normalizes and prices one event without touching the database: the ledger row, or
 * why the event is refused. Pure; `Ingest` runs it for every event of a batch.
 */
export const prepare = (context: PrepareContext, input: unknown): Prepared => {
  const decoded = UsageEvent.decodeEvent(input)
  if (Result.isFailure(decoded)) {
    const { path, requestId } = decoded.failure
    const message = decoded.failure.message.startsWith(`${path}: `)
      ? decoded.failure.message.slice(path.length + 2)
      : decoded.failure.message
    return reject(requestId, path, message, "malformed", input)
  }
  const event = decoded.success
  const labels = UsageEvent.ledgerLabels(event.labels, context.options.defaultLabels, context.options.apiKeyId)
  let call: NormalizedCall.NormalizedCall
  let rawText: string | undefined
  if (UsageEvent.isRaw(event)) {
    const normalized = Normalize.normalize({
      provider: event.provider,
      api: event.api,
      model: event.model,
      request: event.request,
      payload: event.payload,
      batch: event.batch
    })
    if (Result.isFailure(normalized)) {
      return reject(event.requestId, normalizeField(event, normalized.failure), normalizeDetail(normalized.failure), "rejected", input)
    }
    call = normalized.success
    if (typeof event.payload === "string") rawText = event.payload
  } else {
    call = callOfNormalized(event, (input as { readonly usage: unknown }).usage)
  }
  const costed = Costing.cost(context.book, call, {
    at: DateTime.toEpochMillis(event.occurredAt),
    scope: scopeOf(context, labels)
  })
  if (!UsageEvent.isRaw(event) && costed.unpriced?.reason === "unknown-provider" && Normalize.resolveProvider(event.provider) === undefined) {
    return reject(event.requestId, "provider", `unknown provider ${JSON.stringify(event.provider)}: ${costed.unpriced.message}`, "rejected", input)
  }
  const priced = Costing.toUsageRecord(costed, {
    requestId: event.requestId,
    occurredAt: event.occurredAt,
    labels,
    tags: event.tags ?? {},
    rawText
  })
  if (UsageEvent.isRaw(event)) return { _tag: "Priced", call: priced, costed }
  // The producer named the provider and sent no api: record exactly that.
  const { api: _api, ...rest } = priced
  return { _tag: "Priced", call: { ...rest, provider: event.provider }, costed }
}

/** The tenant's commitments applied to a priced call (a transform after pricing). */
const withCommitments = (active: ReadonlyArray<Commitment.Commitment>, prepared: Prepared): Prepared => {
  if (prepared._tag === "Rejected" || active.length === 0) return prepared
  const applied = Commitments.applyTo(active, prepared.call)
  return applied.coverage === undefined ? prepared : { ...prepared, call: applied.record, coverage: applied.coverage }
}

// ---------------------------------------------------------------------------------------------
// Results

const pricedFields = (costed: Costing.CostedCall, call: UsageRecord.UsageRecord) => ({
  costSource: costed.costSource,
  total: call.total === null ? null : Money.format(call.total),
  currency: costed.currency,
  model: costed.model,
  definition: costed.definitionId,
  provider: costed.pricingProvider,
  ...tokenCounts(costed.usage)
})

/** Input tokens are the input buckets; the rest (output, reasoning, ...) is output. */
const tokenCounts = (usage: Usage.Usage) => {
  let input = 0
  for (const bucket of Usage.InputBuckets) input += Usage.tokens(usage, bucket)
  return { inputTokens: input, outputTokens: Usage.totalTokens(usage) - input }
}

const itemOf = (index: number, prepared: Prepared, stored: UsageLedger.ItemResult | undefined): IngestItem => {
  if (prepared._tag === "Rejected") {
    return { index, requestId: prepared.requestId, status: "rejected", reason: prepared.reason }
  }
  const fields = pricedFields(prepared.costed, prepared.call)
  switch (stored?.status) {
    case "inserted":
    case "duplicate":
      return { index, requestId: stored.requestId, status: stored.status, ...fields }
    case "conflict":
      return {
        index,
        requestId: stored.requestId,
        status: "conflict",
        reason: `requestId: already recorded with a different event (recorded ${stored.recordedHash}, this ${stored.eventHash})`,
        ...fields
      }
    case "rejected":
      return { index, requestId: stored.requestId, status: "rejected", reason: `${stored.field}: ${stored.reason}` }
    case undefined:
      // insertBatch returns one result per call; a missing one is a broken invariant, not input.
      throw new Error(`the ledger returned no result for event ${index}`)
  }
}

export const summarize = (items: ReadonlyArray<IngestItem>): IngestResult => {
  let inserted = 0
  let duplicates = 0
  let conflicts = 0
  let rejected = 0
  for (const item of items) {
    if (item.status === "inserted") inserted++
    else if (item.status === "duplicate") duplicates++
    else if (item.status === "conflict") conflicts++
    else rejected++
  }
  return { items, inserted, duplicates, conflicts, rejected }
}

const deadLetterOf = (rejected: Rejected): DeadLetters.DeadLetterInput => {
  const input = rejected.input
  const payload = input !== null && typeof input === "object" && !Array.isArray(input) && "payload" in input
    ? (input as { readonly payload: unknown }).payload
    : undefined
  return {
    source: deadLetterSource,
    kind: rejected.kind,
    requestId: rejected.requestId,
    field: rejected.field,
    reason: rejected.reason,
    item: input,
    raw: payload === undefined ? input : payload,
    rawText: typeof payload === "string" ? payload : null
  }
}

// ---------------------------------------------------------------------------------------------
// The service

export const make = Effect.gen(function*() {
  const ledger = yield* UsageLedger.UsageLedger
  const budgets = yield* Budgets.Budgets
  const commitments = yield* CommitmentStore.Commitments
  const credits = yield* CreditStore.Credits
  const salePricing = yield* SalePricing.SalePricing

  // Each tenant's price book: the catalog with the tenant's custom definitions, overrides and
  // multipliers, and its built-in switch; rebuilt only when those change (TenantPricing).
  const tenantBook = yield* TenantPricing.makeBookLoader

  const failure = (tenantId: string) => (error: Tenant.TenantNotFound | SqlError | PriceBook.CatalogInvalid) =>
    error._tag === "TenantNotFound"
      ? new IngestFailure({ reason: "unknown-tenant", tenantId, message: error.message })
      : error._tag === "CatalogInvalid"
      ? new IngestFailure({ reason: "unavailable", tenantId, message: `the batch was not recorded: ${error.message}`, cause: error })
      : new IngestFailure({
        reason: "unavailable",
        tenantId,
        message: `the database failed; the batch may not have been written (a retry is safe): ${error.message}`,
        cause: error
      })

  const ingestBatch = Effect.fn("Ingest.ingestBatch")(function*(tenantId: string, submissions: ReadonlyArray<Submission>) {
    const book = yield* tenantBook.get(tenantId).pipe(Effect.mapError(failure(tenantId)))
    const active = yield* commitments.active(tenantId).pipe(Effect.mapError(failure(tenantId)))
    const saleBook = yield* salePricing.book(tenantId).pipe(Effect.mapError(failure(tenantId)))
    const prepared = submissions.map((submission) => {
      const context: PrepareContext = { book, tenantId, options: submission.options ?? {} }
      return submission.events.map((event) => withCommitments(active, prepare(context, event)))
    })
    const calls: Array<UsageRecord.UsageRecord> = []
    const rejected: Array<DeadLetters.DeadLetterInput> = []
    for (const list of prepared) {
      for (const p of list) {
        if (p._tag === "Priced") calls.push(p.call)
        else rejected.push(deadLetterOf(p))
      }
    }
    const stored = calls.length === 0 && rejected.length === 0
      ? undefined
      : yield* ledger.insertBatch(tenantId, calls, rejected, { afterInsert: afterInsert(tenantId, prepared, saleBook) }).pipe(
        Effect.mapError(failure(tenantId))
      )
    // Committed: budgets see the calls really inserted (never fails; a sweep catches up if it gave up).
    if (stored !== undefined && calls.length > 0) {
      yield* budgets.evaluateAfterCommit(tenantId, calls.filter((_, i) => stored.items[i]?.status === "inserted"))
    }

    let next = 0
    return prepared.map((list) =>
      summarize(list.map((p, index) => itemOf(index, p, p._tag === "Priced" ? stored?.items[next++] : undefined)))
    )
  })

  /**
   * In the batch's transaction, for the calls inserted: their sale prices (when the tenant has sale
   * rules), commitment usage, and prepaid credit drawdowns (by sale price, else cost).
   */
  const afterInsert = (tenantId: string, prepared: ReadonlyArray<ReadonlyArray<Prepared>>, saleBook: SalePrices.SaleBook) =>
  (inserted: ReadonlyArray<UsageRecord.UsageRecord>) =>
    Effect.gen(function*() {
      const prices = yield* salePricing.recordInserted(tenantId, saleBook, inserted)
      const coverage = new Map<string, Commitment.Coverage>()
      for (const list of prepared) {
        for (const p of list) {
          if (p._tag === "Priced" && p.coverage !== undefined && !coverage.has(p.call.requestId)) coverage.set(p.call.requestId, p.coverage)
        }
      }
      const entries: Array<CommitmentStore.UsageEntry> = []
      for (const call of inserted) {
        const c = coverage.get(call.requestId)
        if (c !== undefined) entries.push({ requestId: call.requestId, occurredAt: call.occurredAt, coverage: c })
      }
      yield* commitments.recordUsage(tenantId, entries)
      const demands: Array<Credit.Demand> = []
      inserted.forEach((call, i) => {
        if (call.labels.customer !== undefined || call.labels.team !== undefined) {
          demands.push(Credits.demandOf(call, SalePricing.chargeOf(call, prices[i])))
        }
      })
      if (demands.length > 0) yield* credits.draw(tenantId, demands, yield* DateTime.now)
    })

  const ingest = Effect.fn("Ingest.ingest")(function*(
    tenantId: string,
    events: ReadonlyArray<unknown>,
    options?: IngestOptions
  ) {
    const [result] = yield* ingestBatch(tenantId, [{ events, options }])
    return result!
  })

  return Ingest.of({ ingest, ingestBatch })
})

export class Ingest extends Context.Service<Ingest, IngestService>()("@tally/engine/Ingest") {
  static readonly layer: Layer.Layer<
    Ingest,
    never,
    | Catalog.Catalog
    | Tenants.Tenants
    | PriceBooks.PriceBooks
    | UsageLedger.UsageLedger
    | Database.Database
    | CommitmentStore.Commitments
    | CreditStore.Credits
    | SalePrices.SalePrices
    | Layer.Services<typeof Budgets.Budgets.layer>
  > = Layer.effect(Ingest, make).pipe(Layer.provide([Budgets.Budgets.layer, SalePricing.SalePricing.layer]))
}
