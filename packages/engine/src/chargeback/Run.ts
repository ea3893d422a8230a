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
 * Runs and finalizations of a tenant are serialized by an advisory lock, so a correction is
 * carried into exactly one final run: a draft that another finalization overtook is stale.
 */
import { Money, PricingSnapshot } from "@tally/core"
import { Chargeback as Store, Database, type Tenants } from "@tally/store"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { createHash } from "node:crypto"
import * as Allocate from "./Allocate.ts"
import * as Csv from "./Csv.ts"
import { InvalidChargeback, PeriodFinalized, RunAlreadyFinal, RunNotFound, RunStale } from "./Errors.ts"
import * as Focus from "./Focus.ts"
import * as Input from "./Input.ts"
import * as Rules from "./Rules.ts"

export * as Allocate from "./Allocate.ts"
export * as Csv from "./Csv.ts"
export * from "./Errors.ts"
export * as Focus from "./Focus.ts"
export { decodeRunInput, monthWindow, type RunInput } from "./Input.ts"
export * as Rules from "./Rules.ts"

// Model -------------------------------------------------------------------------------------

export type RunStatus = "draft" | "final"

export interface Line extends Allocate.Line {
  readonly lineNo: number
  readonly currency: string
}

export interface Inputs {
  /** Exact sum of the period's spend in the run's currency. */
  readonly ledgerTotal: Money.Decimal
  /** `ledgerTotal` rounded to the minor unit; the non-correction lines sum to it. */
  readonly roundedTotal: Money.Decimal
  /** Calls of the period in the run's currency, and calls without a price (no cost, no currency). */
  readonly requestCount: number
  readonly unpricedCount: number
  /** Spend of the period in other currencies: not part of this run (run again with `currency`). */
  readonly otherCurrencies: ReadonlyArray<{ readonly currency: string; readonly amount: Money.Decimal; readonly requestCount: number }>
  /** Pricing snapshots the period's calls were priced with. */
  readonly snapshotIds: ReadonlyArray<string>
  /** Final runs whose periods this run re-checked for late usage (their corrections are in `lines`). */
  readonly checked: ReadonlyArray<string>
  /** sha256 (hex) of the canonical JSON of every input above, the period, dimension, rule and spend per owner. */
  readonly sha256: string
}

export interface Computation {
  readonly tenantId: string
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: string
  readonly currency: string
  readonly rule: Rules.RuleInput
  /** `kind@version` of the rule's arithmetic. */
  readonly ruleVersion: string
  readonly shared: ReadonlyArray<string>
  /** Sum of every line, corrections included. */
  readonly total: Money.Decimal
  readonly lines: ReadonlyArray<Line>
  readonly inputs: Inputs
  /** The ledger as of this instant. */
  readonly asOf: DateTime.Utc
}

export interface AuditEntry {
  readonly action: "created" | "finalized"
  readonly actor: string
  readonly at: DateTime.Utc
}

export interface Run extends Computation {
  readonly id: string
  readonly status: RunStatus
  readonly createdBy: string
  readonly createdAt: DateTime.Utc
  readonly finalizedBy: string | null
  readonly finalizedAt: DateTime.Utc | null
  readonly audit: ReadonlyArray<AuditEntry>
}

export interface RunSummary {
  readonly id: string
  readonly status: RunStatus
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: string
  readonly currency: string
  readonly total: Money.Decimal
  readonly ruleVersion: string
  readonly inputsSha256: string
  readonly createdBy: string
  readonly createdAt: DateTime.Utc
  readonly finalizedBy: string | null
  readonly finalizedAt: DateTime.Utc | null
  readonly lineCount: number
}

export interface ListOptions {
  /** 1 to 100; default 20. */
  readonly limit?: number | undefined
  /** `endCursor` of the previous page. */
  readonly after?: string | undefined
  readonly status?: RunStatus | undefined
}

export interface RunPage {
  readonly runs: ReadonlyArray<RunSummary>
  readonly hasMore: boolean
  readonly endCursor: string | null
}

export interface ChargebackService {
  /** Showback: the computation of a run for the period, nothing stored. */
  readonly showback: (
    tenantId: string,
    input: Input.RunInput
  ) => Effect.Effect<Computation, InvalidChargeback | Tenants.TenantNotFound | SqlError>
  /** Computes and stores a draft run. */
  readonly run: (
    tenantId: string,
    input: Input.RunInput & { readonly createdBy?: string | undefined }
  ) => Effect.Effect<Run, InvalidChargeback | PeriodFinalized | Tenants.TenantNotFound | SqlError>
  /** Makes a draft final: from then on neither it nor its lines can change (the database enforces it). */
  readonly finalize: (
    tenantId: string,
    runId: string,
    options?: { readonly finalizedBy?: string | undefined }
  ) => Effect.Effect<Run, InvalidChargeback | RunNotFound | RunAlreadyFinal | RunStale | PeriodFinalized | SqlError>
  /** A run with its lines and audit trail. */
  readonly get: (tenantId: string, runId: string) => Effect.Effect<Run, RunNotFound | SqlError>
  /** Runs newest first. */
  readonly list: (tenantId: string, options?: ListOptions) => Effect.Effect<RunPage, InvalidChargeback | SqlError>
  /** A run's FOCUS rows (see Focus.ts), from its period's ledger as of the run's instant. */
  readonly focus: (tenantId: string, runId: string) => Effect.Effect<{ readonly run: Run; readonly rows: ReadonlyArray<Focus.Row> }, RunNotFound | SqlError>
  /**
   * Priced calls of a period as FOCUS rows in CSV, streamed page by page (one tenant transaction
   * per page), with the count of unpriced calls the period has (they carry no cost row).
   */
  readonly usage: (
    tenantId: string,
    query: UsageQuery
  ) => Effect.Effect<{ readonly unpriced: number; readonly csv: Stream.Stream<string, SqlError> }, InvalidChargeback | Tenants.TenantNotFound | SqlError>
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
}

export class Chargeback extends Context.Service<Chargeback, ChargebackService>()("@tally/engine/Chargeback") {
  static readonly layer: Layer.Layer<Chargeback, never, Database.Database> = Layer.effect(
    Chargeback,
    Effect.gen(function*() {
      const db = yield* Database.Database
      return make(db)
    })
  )
}

// Computing --------------------------------------------------------------------------------

/**
 * How far before a final run's instant its period is re-checked for late usage: a batch that began
 * before the run read the ledger but committed after carries an `ingested_at` before that instant.
 * A re-check only decides whether to recompute; the correction itself is a difference, so checking
 * too much costs time, never money.
 */
export const lateMarginMillis = 15 * 60_000

const iso = (dt: DateTime.Utc): string => DateTime.formatIso(dt)
const fmt = Money.format
const actorOf = (actor: string | undefined): string => {
  const trimmed = actor?.trim() ?? ""
  return trimmed === "" ? "system" : trimmed.slice(0, 200)
}

/** The run's inputs as canonical JSON data (decimals as strings); what `sha256` hashes. */
interface InputsJson {
  readonly version: 1
  readonly tenantId: string
  readonly from: string
  readonly to: string
  readonly dimension: string
  readonly currency: string
  readonly rule: Rules.RuleInputEncoded
  readonly ruleVersion: string
  readonly shared: ReadonlyArray<string>
  readonly ledger: {
    readonly total: string
    readonly roundedTotal: string
    readonly requests: number
    readonly unpriced: number
    readonly owners: ReadonlyArray<{ readonly owner: string | null; readonly cost: string; readonly requests: number }>
  }
  readonly otherCurrencies: ReadonlyArray<{ readonly currency: string; readonly amount: string; readonly requests: number }>
  readonly snapshotIds: ReadonlyArray<string>
  readonly checked: ReadonlyArray<string>
  readonly corrections: ReadonlyArray<{ readonly runId: string; readonly owner: string | null; readonly amount: string }>
}

const StoredInputs = Schema.Struct({
  ledger: Schema.Struct({
    total: Money.DecimalFromString,
    roundedTotal: Money.DecimalFromString,
    requests: Schema.Number,
    unpriced: Schema.Number
  }),
  otherCurrencies: Schema.Array(
    Schema.Struct({ currency: Schema.String, amount: Money.DecimalFromString, requests: Schema.Number })
  ),
  snapshotIds: Schema.Array(Schema.String),
  checked: Schema.Array(Schema.String)
})
const decodeStoredInputs = Schema.decodeUnknownSync(StoredInputs)

const sha256 = (value: unknown): string =>
  createHash("sha256").update(PricingSnapshot.canonicalJson(value)).digest("hex")

interface Spend {
  readonly rows: ReadonlyArray<Allocate.SpendRow>
  readonly requests: number
  readonly unpriced: number
  readonly other: Map<string, { amount: Money.Decimal; requests: number }>
  readonly snapshotIds: ReadonlyArray<string>
}

/** Splits the store's spend rows into the run's currency, other currencies and unpriced calls. */
const splitSpend = (spend: Store.Spend, currency: string): Spend => {
  const rows: Array<Allocate.SpendRow> = []
  const other = new Map<string, { amount: Money.Decimal; requests: number }>()
  let requests = 0
  let unpriced = 0
  for (const row of spend.owners) {
    unpriced += row.unpriced
    if (row.currency === null) continue
    if (row.currency !== currency) {
      const found = other.get(row.currency)
      other.set(row.currency, {
        amount: (found?.amount ?? Money.ZERO).plus(row.cost),
        requests: (found?.requests ?? 0) + row.requests
      })
      continue
    }
    requests += row.requests
    rows.push({ owner: row.owner, cost: row.cost, requests: row.requests })
  }
  return { rows, requests, unpriced, other, snapshotIds: spend.snapshotIds }
}

const compareOwner = (a: string | null, b: string | null): number =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1

/** A stored rule as the input it was; a stored run always holds a rule that decoded when it was made. */
const storedRule = (rule: unknown): Rules.RuleInput => {
  const decoded = Rules.decodeUnknownResult(rule)
  if (Result.isFailure(decoded)) throw new Error(`a stored chargeback rule no longer decodes: ${decoded.failure.message}`)
  return decoded.success
}

const make = (db: Database.DatabaseService): ChargebackService => {
  const sql: SqlClient.SqlClient = db.sql

  /** The corrections owed for final runs before `resolved.from`, as of `asOf`. */
  const correctionsFor = Effect.fnUntraced(function*(tenantId: string, resolved: Input.Resolved, asOf: DateTime.Utc) {
    const finals = yield* Store.finalizedRuns(sql, {
      tenantId,
      dimension: resolved.dimension.name,
      currency: resolved.currency,
      endingBy: resolved.from
    })
    const lines: Array<Allocate.Line> = []
    const checked: Array<string> = []
    for (const final of finals) {
      const since = DateTime.makeUnsafe(DateTime.toEpochMillis(final.checkedThrough) - lateMarginMillis)
      const late = yield* Store.hasLateUsage(sql, { tenantId, from: final.from, to: final.to, since })
      if (!late) continue
      const dimension = Store.parseDimension(final.dimension)
      if (Result.isFailure(dimension)) return yield* Effect.die(dimension.failure)
      const rule = storedRule(final.rule)
      const spend = splitSpend(
        yield* Store.spend(sql, { tenantId, from: final.from, to: final.to, dimension: dimension.success, asOf }),
        final.currency
      )
      const now = Allocate.allocate({
        spend: spend.rows,
        rule,
        shared: new Set(final.shared),
        minorUnits: resolved.minorUnits
      })
      const own = (yield* Store.linesOf(sql, [final.id])).get(final.id) ?? []
      const earlier = yield* Store.finalCorrections(sql, [final.id])
      const charged = [...own.filter((l) => l.kind !== "correction"), ...earlier]
      lines.push(...Allocate.corrections(final.id, now.lines, charged))
      checked.push(final.id)
    }
    return { lines, checked }
  })

  /** The whole computation of a run, inside the caller's tenant transaction. */
  const compute = Effect.fnUntraced(function*(tenant: Store.TenantInfo, resolved: Input.Resolved) {
    // The transaction's start: every row ingested up to it and committed is visible to the reads below.
    const [now] = yield* sql<{ as_of: Date }>`SELECT now() AS as_of`
    const asOf = DateTime.fromDateUnsafe(now!.as_of)
    const spend = splitSpend(
      yield* Store.spend(sql, { tenantId: tenant.id, from: resolved.from, to: resolved.to, dimension: resolved.dimension, asOf }),
      resolved.currency
    )
    const allocation = Allocate.allocate({
      spend: spend.rows,
      rule: resolved.rule,
      shared: new Set(resolved.shared),
      minorUnits: resolved.minorUnits
    })
    const corrections = yield* correctionsFor(tenant.id, resolved, asOf)
    const lines: Array<Line> = [...allocation.lines, ...corrections.lines].map((line, lineNo) => ({
      ...line,
      lineNo,
      currency: resolved.currency
    }))
    const total = Money.sum(lines.map((l) => l.amount))
    const ruleVersion = Rules.versionOf(resolved.rule)
    const otherCurrencies = [...spend.other.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([currency, v]) => ({ currency, amount: v.amount, requestCount: v.requests }))
    const json: InputsJson = {
      version: 1,
      tenantId: tenant.id,
      from: iso(resolved.from),
      to: iso(resolved.to),
      dimension: resolved.dimension.name,
      currency: resolved.currency,
      rule: Rules.encode(resolved.rule),
      ruleVersion,
      shared: resolved.shared,
      ledger: {
        total: fmt(allocation.ledgerTotal),
        roundedTotal: fmt(allocation.roundedTotal),
        requests: spend.requests,
        unpriced: spend.unpriced,
        owners: [...spend.rows]
          .sort((a, b) => compareOwner(a.owner, b.owner))
          .map((r) => ({ owner: r.owner, cost: fmt(r.cost), requests: r.requests }))
      },
      otherCurrencies: otherCurrencies.map((o) => ({ currency: o.currency, amount: fmt(o.amount), requests: o.requestCount })),
      snapshotIds: spend.snapshotIds,
      checked: corrections.checked,
      corrections: corrections.lines.map((l) => ({ runId: l.correctsRunId!, owner: l.owner, amount: fmt(l.amount) }))
    }
    const computation: Computation = {
      tenantId: tenant.id,
      from: resolved.from,
      to: resolved.to,
      dimension: resolved.dimension.name,
      currency: resolved.currency,
      rule: resolved.rule,
      ruleVersion,
      shared: resolved.shared,
      total,
      lines,
      inputs: {
        ledgerTotal: allocation.ledgerTotal,
        roundedTotal: allocation.roundedTotal,
        requestCount: spend.requests,
        unpricedCount: spend.unpriced,
        otherCurrencies,
        snapshotIds: spend.snapshotIds,
        checked: corrections.checked,
        sha256: sha256(json)
      },
      asOf
    }
    return { computation, json }
  })

  const fromStored = (run: Store.StoredRun, lines: ReadonlyArray<Store.StoredLine>, audit: ReadonlyArray<Store.AuditEntry>): Run => {
    const inputs = decodeStoredInputs(run.inputs)
    return {
      id: run.id,
      status: run.status,
      tenantId: run.tenantId,
      from: run.from,
      to: run.to,
      dimension: run.dimension,
      currency: run.currency,
      rule: storedRule(run.rule),
      ruleVersion: run.ruleVersion,
      shared: run.shared,
      total: run.total,
      lines: lines.map((l) => ({
        lineNo: l.lineNo,
        kind: l.kind,
        owner: l.owner,
        direct: l.direct,
        allocated: l.allocated,
        amount: l.amount,
        currency: l.currency,
        requestCount: l.requestCount,
        correctsRunId: l.correctsRunId
      })),
      inputs: {
        ledgerTotal: inputs.ledger.total,
        roundedTotal: inputs.ledger.roundedTotal,
        requestCount: inputs.ledger.requests,
        unpricedCount: inputs.ledger.unpriced,
        otherCurrencies: inputs.otherCurrencies.map((o) => ({ currency: o.currency, amount: o.amount, requestCount: o.requests })),
        snapshotIds: inputs.snapshotIds,
        checked: inputs.checked,
        sha256: run.inputsSha256
      },
      asOf: run.asOf,
      createdBy: run.createdBy,
      createdAt: run.createdAt,
      finalizedBy: run.finalizedBy,
      finalizedAt: run.finalizedAt,
      audit: audit.map((a) => ({ action: a.action, actor: a.actor, at: a.at }))
    }
  }

  const notFound = (runId: string) =>
    new RunNotFound({ runId, message: `chargeback run ${JSON.stringify(runId)} does not exist` })

  /** Reads a run with lines and audit, inside a tenant transaction. */
  const load = Effect.fnUntraced(function*(runId: string) {
    const run = yield* Store.getRun(sql, runId)
    if (run === undefined) return yield* notFound(runId)
    const lines = (yield* Store.linesOf(sql, [run.id])).get(run.id) ?? []
    const audit = yield* Store.auditOf(sql, run.id)
    return fromStored(run, lines, audit)
  })

  const overlapping = (tenantId: string, resolved: { readonly dimension: string; readonly currency: string; readonly from: DateTime.Utc; readonly to: DateTime.Utc }) =>
    Store.finalizedRuns(sql, {
      tenantId,
      dimension: resolved.dimension,
      currency: resolved.currency,
      overlapping: { from: resolved.from, to: resolved.to }
    })

  const periodFinalized = (final: Store.StoredRun) =>
    new PeriodFinalized({
      runId: final.id,
      message: `the period ${iso(final.from)} to ${iso(final.to)} of dimension ${final.dimension} in ${final.currency} ` +
        `is charged by final run ${final.id}; late usage for it appears as corrections in the next run`
    })

  const showback = Effect.fn("Chargeback.showback")(function*(tenantId: string, input: Input.RunInput) {
    return yield* db.withTenant(
      tenantId,
      Effect.gen(function*() {
        const tenant = yield* Store.tenantInfo(sql, tenantId)
        const resolved = yield* Effect.fromResult(Input.resolve(input, tenant))
        return (yield* compute(tenant, resolved)).computation
      })
    )
  })

  const run = Effect.fn("Chargeback.run")(function*(
    tenantId: string,
    input: Input.RunInput & { readonly createdBy?: string | undefined }
  ) {
    return yield* db.withTenant(
      tenantId,
      Effect.gen(function*() {
        const tenant = yield* Store.tenantInfo(sql, tenantId)
        yield* Store.lockTenant(sql, tenantId)
        const resolved = yield* Effect.fromResult(Input.resolve(input, tenant))
        const [final] = yield* overlapping(tenantId, {
          dimension: resolved.dimension.name,
          currency: resolved.currency,
          from: resolved.from,
          to: resolved.to
        })
        if (final !== undefined) return yield* periodFinalized(final)
        const { computation, json } = yield* compute(tenant, resolved)
        const stored = yield* Store.insertRun(sql, {
          tenantId,
          from: computation.from,
          to: computation.to,
          dimension: computation.dimension,
          shared: computation.shared,
          rule: Rules.encode(computation.rule),
          ruleVersion: computation.ruleVersion,
          currency: computation.currency,
          total: computation.total,
          ledgerTotal: computation.inputs.ledgerTotal,
          asOf: computation.asOf,
          inputs: json,
          inputsSha256: computation.inputs.sha256,
          createdBy: actorOf(input.createdBy),
          lines: computation.lines
        })
        // Just written in this transaction: not finding it is a defect, not an answer.
        return yield* load(stored.id).pipe(Effect.catchTag("RunNotFound", Effect.die))
      })
    )
  })

  const finalize = Effect.fn("Chargeback.finalize")(function*(
    tenantId: string,
    runId: string,
    options?: { readonly finalizedBy?: string | undefined }
  ) {
    return yield* db.withTenant(
      tenantId,
      Effect.gen(function*() {
        yield* Store.lockTenant(sql, tenantId)
        const draft = yield* Store.getRun(sql, runId, { lock: true })
        if (draft === undefined) return yield* notFound(runId)
        if (draft.status === "final") {
          return yield* new RunAlreadyFinal({
            runId,
            message: `chargeback run ${runId} is final already (finalized by ${draft.finalizedBy} at ${
              draft.finalizedAt === null ? "?" : iso(draft.finalizedAt)
            })`
          })
        }
        const [final] = yield* overlapping(tenantId, draft)
        if (final !== undefined) return yield* periodFinalized(final)
        const overtaken = yield* Store.finalizedSince(sql, {
          tenantId,
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
        yield* Store.finalizeRun(sql, { tenantId, runId, finalizedBy: actorOf(options?.finalizedBy) })
        return yield* load(runId)
      })
    )
  })

  const get = Effect.fn("Chargeback.get")(function*(tenantId: string, runId: string) {
    return yield* db.withTenant(tenantId, load(runId))
  })

  const list = Effect.fn("Chargeback.list")(function*(tenantId: string, options: ListOptions = {}) {
    const limit = options.limit ?? 20
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return yield* new InvalidChargeback({ field: "limit", message: `limit: expected 1 to 100, got ${limit}` })
    }
    const after = options.after ?? null
    if (after !== null && !Store.isRunId(after)) {
      return yield* new InvalidChargeback({ field: "after", message: "after: not a cursor this list returned" })
    }
    const rows = yield* db.withTenant(
      tenantId,
      Store.listRuns(sql, { limit: limit + 1, after, status: options.status ?? null })
    )
    const page = rows.slice(0, limit)
    return {
      runs: page.map((r): RunSummary => ({
        id: r.id,
        status: r.status,
        from: r.from,
        to: r.to,
        dimension: r.dimension,
        currency: r.currency,
        total: r.total,
        ruleVersion: r.ruleVersion,
        inputsSha256: r.inputsSha256,
        createdBy: r.createdBy,
        createdAt: r.createdAt,
        finalizedBy: r.finalizedBy,
        finalizedAt: r.finalizedAt,
        lineCount: r.lineCount
      })),
      hasMore: rows.length > limit,
      endCursor: page.length === 0 ? null : page[page.length - 1]!.id
    } satisfies RunPage
  })

  const focus = Effect.fn("Chargeback.focus")(function*(tenantId: string, runId: string) {
    return yield* db.withTenant(
      tenantId,
      Effect.gen(function*() {
        const run = yield* load(runId)
        const tenant = yield* Store.tenantInfo(sql, tenantId).pipe(Effect.orDie)
        const dimension = Store.parseDimension(run.dimension)
        if (Result.isFailure(dimension)) return yield* Effect.die(dimension.failure)
        const groups = yield* Store.costGroups(sql, {
          tenantId,
          from: run.from,
          to: run.to,
          dimension: dimension.success,
          asOf: run.asOf,
          currency: run.currency
        })
        const corrected = new Map<string, { from: DateTime.Utc; to: DateTime.Utc }>()
        for (const id of new Set(run.lines.flatMap((l) => (l.correctsRunId === null ? [] : [l.correctsRunId])))) {
          const other = yield* Store.getRun(sql, id)
          if (other !== undefined) corrected.set(id, { from: other.from, to: other.to })
        }
        return { run, rows: Focus.runRows(tenant, run, groups, corrected) }
      })
    )
  })

  const usage = Effect.fn("Chargeback.usage")(function*(tenantId: string, query: UsageQuery) {
    const span = DateTime.toEpochMillis(query.to) - DateTime.toEpochMillis(query.from)
    if (span <= 0) return yield* new InvalidChargeback({ field: "to", message: "to: expected an instant after from" })
    let owners: Store.UsageFilter["owners"]
    if (query.owners !== undefined || query.unowned === true) {
      if (query.dimension === undefined) {
        return yield* new InvalidChargeback({ field: "dimension", message: "dimension: required with owner or unowned" })
      }
      const dimension = Store.parseDimension(query.dimension)
      if (Result.isFailure(dimension)) {
        return yield* new InvalidChargeback({ field: "dimension", message: `dimension: ${dimension.failure.message}` })
      }
      owners = { dimension: dimension.success, values: query.owners ?? [], unowned: query.unowned === true }
    }
    const pageSize = query.pageSize ?? 2000
    const { tenant, unpriced } = yield* db.withTenant(
      tenantId,
      Effect.all({
        tenant: Store.tenantInfo(sql, tenantId),
        unpriced: Store.unpricedCount(sql, { tenantId, from: query.from, to: query.to })
      })
    )
    type Cursor = { readonly occurredAt: DateTime.Utc; readonly requestId: string } | null
    const pages = Stream.paginate<Cursor, string, SqlError>(null, (after) =>
      db.withTenant(
        tenantId,
        Store.usagePage(sql, {
          tenantId,
          from: query.from,
          to: query.to,
          after,
          limit: pageSize,
          filter: { asOf: query.asOf, owners }
        })
      ).pipe(
        Effect.map((records) => {
          const text = records.map((r) => Focus.usageRows(tenant, r).map(Csv.focusRecord).join("")).join("")
          const last = records[records.length - 1]
          return [
            text === "" ? [] : [text],
            records.length < pageSize || last === undefined
              ? Option.none()
              : Option.some<Cursor>({ occurredAt: last.occurredAt, requestId: last.requestId })
          ] as const
        })
      )
    )
    return { unpriced, csv: Stream.concat(Stream.succeed(Csv.focusHeader()), pages) }
  })

  return Chargeback.of({ showback, run, finalize, get, list, focus, usage })
}
