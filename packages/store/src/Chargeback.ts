/**
 * What chargeback reads and writes: spend of a period by owner (any label, model, provider or tag),
 * late usage of a finalized period, the cost lines behind a period for FOCUS exports, and the
 * runs with their lines and audit trail.
 *
 * The allocation maths and the rules are the engine's: this module takes instants and owner
 * dimensions and answers with rows. Functions that take a `sql` client run inside a transaction
 * the caller opened with `Database.withTenant`, so row-level security scopes every statement and
 * the engine composes them atomically. Mapping between rows and values happens here only.
 *
 * The ledger is read "as of" an instant: rows whose `ingested_at` is at or before it. The ledger is
 * append-only, so a run's inputs can be read again later (exports) and usage recorded after the
 * instant is exactly the late usage the next run corrects.
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { Money } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { labelColumns } from "./internal/LedgerRow.ts"
import { notFound, type TenantNotFound } from "./Tenants.ts"

// Owner dimensions --------------------------------------------------------------------------

/** Label dimensions, as named in the API, and their ledger columns. */
export const labelDimensions = labelColumns

/** Every dimension a run can use besides `tag:<key>`. */
export const dimensionNames = [...Object.keys(labelColumns), "model", "provider"] as const

export type Dimension =
  | { readonly kind: "column"; readonly name: string; readonly column: string }
  | { readonly kind: "tag"; readonly name: string; readonly key: string }

export class InvalidDimension extends Schema.TaggedError<InvalidDimension>()("InvalidDimension", {
  dimension: Schema.String,
  message: Schema.String
}) {}

const TAG_KEY = /^[A-Za-z0-9_.:/-]{1,100}$/

/** `team`, `costCenter`, `model`, `provider`, ... or `tag:<key>` for a tag of the calls. */
export const parseDimension = (name: string): Result.Result<Dimension, InvalidDimension> => {
  if (name.startsWith("tag:")) {
    const key = name.slice(4)
    return TAG_KEY.test(key)
      ? Result.succeed({ kind: "tag", name, key })
      : Result.fail(
        new InvalidDimension({
          dimension: name,
          message: `expected a tag key of 1 to 100 letters, digits or "_.:/-" after "tag:", got ${JSON.stringify(key)}`
        })
      )
  }
  const column = name === "model" || name === "provider"
    ? name
    : (labelColumns as Record<string, string>)[name]
  return column === undefined
    ? Result.fail(
      new InvalidDimension({
        dimension: name,
        message: `expected one of ${dimensionNames.join(", ")} or tag:<key>, got ${JSON.stringify(name)}`
      })
    )
    : Result.succeed({ kind: "column", name, column })
}

/** The owner of a ledger row as SQL; an empty label counts as no owner. `$n` is the tag key. */
const ownerExpression = (dimension: Dimension, tagParam: number): string =>
  dimension.kind === "tag" ? `nullif(tags ->> $${tagParam}, '')` : `nullif(${dimension.column}, '')`

// Reading spend ------------------------------------------------------------------------------

export interface SpendQuery {
  readonly tenantId: string
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: Dimension
  /** Only rows ingested at or before this instant. */
  readonly asOf: DateTime.Utc
}

export interface OwnerSpend {
  /** Null for calls without a value for the dimension. */
  readonly owner: string | null
  /** Null for unpriced calls only. */
  readonly currency: string | null
  /** Exact sum of the calls' totals (zero for unpriced calls). */
  readonly cost: Money.Decimal
  readonly requests: number
  readonly unpriced: number
}

export interface Spend {
  readonly owners: ReadonlyArray<OwnerSpend>
  /** Pricing snapshots the period's calls were priced with, sorted. */
  readonly snapshotIds: ReadonlyArray<string>
}

const toDate = (dt: DateTime.Utc): Date => DateTime.toDateUtc(dt)
const { OID } = PgTypes
const array = <A>(values: ReadonlyArray<A>, oid: number) => Result.getOrThrow(PgTypes.array(values as Array<A>, oid))
const num = (value: unknown): number => Number(value as string | number | bigint)

const ledgerWindow = "tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND ingested_at <= $4"

const windowParams = (q: SpendQuery): Array<unknown> => [q.tenantId, toDate(q.from), toDate(q.to), toDate(q.asOf)]

/**
 * Settings for the rest of the transaction that a scan of a whole period needs:
 * - a custom plan for every execution. The client prepares statements, and after five runs
 *   PostgreSQL may switch to a generic plan that cannot see the period: on a month of 3.4M rows
 *   it walked the primary key in one process (12 s) instead of a parallel scan (3.8 s);
 * - no JIT compilation: the expressions are simple, and compiling took 2.2 s of a 7.5 s scan.
 */
const forPeriodScans = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql`SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)`)

/**
 * Spend of `[from, to)` by owner and currency, and the snapshots used, in one pass over the
 * period's ledger partitions. The groups are (owner, currency, snapshot): few, and a plain GROUP BY
 * lets PostgreSQL aggregate in parallel workers (grouping sets would not).
 */
export const spend = (sql: SqlClient.SqlClient, q: SpendQuery): Effect.Effect<Spend, SqlError> =>
  Effect.gen(function*() {
    const params = windowParams(q)
    if (q.dimension.kind === "tag") params.push(q.dimension.key)
    yield* forPeriodScans(sql)
    const rows = yield* sql.unsafe<{
      owner: string | null
      currency: string | null
      snapshot_id: string | null
      requests: string
      unpriced: string
      cost: string
    }>(
      `SELECT ${ownerExpression(q.dimension, 5)} AS owner, currency, snapshot_id,
          count(*)::text AS requests,
          count(*) FILTER (WHERE cost_source = 'unpriced')::text AS unpriced,
          coalesce(sum(total), 0)::text AS cost
        FROM tally.usage_ledger
        WHERE ${ledgerWindow}
        GROUP BY 1, 2, 3`,
      params
    )
    const owners = new Map<string, { owner: string | null; currency: string | null; cost: Money.Decimal; requests: number; unpriced: number }>()
    const snapshotIds = new Set<string>()
    for (const row of rows) {
      if (row.snapshot_id !== null) snapshotIds.add(row.snapshot_id)
      const key = JSON.stringify([row.owner, row.currency])
      const found = owners.get(key)
      owners.set(key, {
        owner: row.owner,
        currency: row.currency,
        cost: (found?.cost ?? Money.ZERO).plus(row.cost),
        requests: (found?.requests ?? 0) + num(row.requests),
        unpriced: (found?.unpriced ?? 0) + num(row.unpriced)
      })
    }
    return { owners: [...owners.values()], snapshotIds: [...snapshotIds].sort() }
  })

/**
 * Whether usage of `[from, to)` was recorded after `since`: the late usage of a finalized period.
 * Reaches only the late rows, through the ledger's (tenant, ingested_at) index.
 */
export const hasLateUsage = (
  sql: SqlClient.SqlClient,
  q: { readonly tenantId: string; readonly from: DateTime.Utc; readonly to: DateTime.Utc; readonly since: DateTime.Utc }
): Effect.Effect<boolean, SqlError> =>
  Effect.map(
    sql<{ late: boolean }>`SELECT EXISTS (
        SELECT 1 FROM tally.usage_ledger
        WHERE tenant_id = ${q.tenantId} AND ingested_at > ${toDate(q.since)}
          AND occurred_at >= ${toDate(q.from)} AND occurred_at < ${toDate(q.to)}
      ) AS late`,
    (rows) => rows[0]?.late === true
  )

// Cost lines for FOCUS -----------------------------------------------------------------------

/**
 * One group of cost lines: calls of one owner, model and snapshot, priced at one rate for one
 * component (token bucket, requests, images, ...). Calls whose provider reported the billed cost
 * form groups of their own with `component` "reported": their `quantity` is the reported amount,
 * priced at 1 per unit of the currency, so list cost = unit price x quantity stays exact.
 */
export interface CostGroup {
  readonly owner: string | null
  readonly provider: string
  readonly model: string
  readonly snapshotId: string | null
  readonly currency: string
  readonly component: string
  readonly unit: string
  /** The snapshot's list rate per `listRatePer`; 1 for "reported" groups. */
  readonly listRate: Money.Decimal
  readonly listRatePer: "1M tokens" | "1k searches" | "unit"
  /** Price of one unit (one token, one request, ...) after conditions. */
  readonly unitPrice: Money.Decimal
  readonly quantity: Money.Decimal
  /** Exact sum of the lines' amounts (what the list and contracted costs derive from). */
  readonly amount: Money.Decimal
  /** What the calls billed, apportioned to this group (provider-priced calls bill their reported cost). */
  readonly billed: Money.Decimal
  readonly requests: number
}

/**
 * The period's cost lines grouped for FOCUS rows, as of the run's instant. Computed calls expand
 * their breakdown lines; provider-priced calls become one "reported" line each (the breakdown, if
 * any, is Tally's own estimate and not what was billed), grouped per owner and model. Unpriced
 * calls have no cost lines.
 */
export const costGroups = (
  sql: SqlClient.SqlClient,
  q: SpendQuery & { readonly currency: string }
): Effect.Effect<ReadonlyArray<CostGroup>, SqlError> =>
  Effect.gen(function*() {
    const params = [...windowParams(q), q.currency]
    if (q.dimension.kind === "tag") params.push(q.dimension.key)
    const owner = ownerExpression(q.dimension, 6)
    yield* forPeriodScans(sql)
    // The planner takes every call for 100 cost lines (a set-returning function's default) and so
    // expects millions of groups where there are hundreds: it sorted 13.7M lines on disk and read
    // in one process (111 s for a month of 3.4M calls). Hash aggregation over a parallel scan: 36 s.
    yield* sql`SELECT set_config('enable_sort', 'off', true), set_config('parallel_tuple_cost', '0', true)`
    const rows = yield* sql.unsafe<Record<string, string | null>>(
      `SELECT owner, provider, model, snapshot_id, component, unit, list_rate::text AS list_rate, list_rate_per,
          unit_price::text AS unit_price, sum(quantity)::text AS quantity, sum(amount)::text AS amount,
          sum(billed)::text AS billed, count(*)::text AS requests
        FROM (
          SELECT ${owner} AS owner, provider, model, snapshot_id,
            l ->> 'component' AS component, l ->> 'unit' AS unit, (l ->> 'listRate')::numeric AS list_rate,
            l ->> 'listRatePer' AS list_rate_per, (l ->> 'unitPrice')::numeric AS unit_price,
            (l ->> 'quantity')::numeric AS quantity, (l ->> 'amount')::numeric AS amount,
            (l ->> 'amount')::numeric AS billed
          FROM tally.usage_ledger, jsonb_array_elements(cost_breakdown -> 'lines') AS l
          WHERE ${ledgerWindow} AND currency = $5 AND cost_source IN ('computed', 'estimated')
          UNION ALL
          SELECT ${owner}, provider, model, NULL, 'reported', 'unit', 1, 'unit', 1,
            total, total, total
          FROM tally.usage_ledger
          WHERE ${ledgerWindow} AND currency = $5 AND cost_source = 'provider'
        ) lines
        GROUP BY owner, provider, model, snapshot_id, component, unit, list_rate, list_rate_per, unit_price
        ORDER BY owner NULLS LAST, provider, model, snapshot_id NULLS FIRST, component, unit_price`,
      params
    )
    return rows.map((row): CostGroup => ({
      owner: row.owner ?? null,
      provider: row.provider!,
      model: row.model!,
      snapshotId: row.snapshot_id ?? null,
      currency: q.currency,
      component: row.component!,
      unit: row.unit!,
      listRate: new Money.Decimal(row.list_rate!),
      listRatePer: row.list_rate_per as CostGroup["listRatePer"],
      unitPrice: new Money.Decimal(row.unit_price!),
      quantity: new Money.Decimal(row.quantity!),
      amount: new Money.Decimal(row.amount!),
      billed: new Money.Decimal(row.billed!),
      requests: num(row.requests)
    }))
  })

/** One priced call of the ledger with its cost lines, for per-request (usage) exports. */
export interface UsageRecord {
  readonly requestId: string
  readonly occurredAt: DateTime.Utc
  readonly provider: string
  readonly api: string | null
  readonly model: string
  readonly snapshotId: string | null
  readonly region: string | null
  readonly costSource: "provider" | "computed" | "estimated"
  readonly currency: string
  readonly total: Money.Decimal
  /** Breakdown lines (decimals as strings, as stored); empty for provider-priced calls. */
  readonly lines: ReadonlyArray<{
    readonly component: string
    readonly unit: string
    readonly quantity: string
    readonly listRate: string
    readonly listRatePer: string
    readonly unitPrice: string
    readonly amount: string
  }>
  /** Attribution labels that are set, by API name. */
  readonly labels: Readonly<Record<string, string>>
  readonly tags: Readonly<Record<string, string>>
}

const labelSelect = Object.values(labelColumns).join(", ")

/** Which calls a usage export lists, beyond its period. */
export interface UsageFilter {
  /** Only calls ingested at or before this instant (what a run read). */
  readonly asOf?: DateTime.Utc | undefined
  /** Only calls whose owner under `dimension` is one of `owners`, or has none when `unowned`. */
  readonly owners?: {
    readonly dimension: Dimension
    readonly values: ReadonlyArray<string>
    readonly unowned: boolean
  } | undefined
}

/**
 * Priced calls of `[from, to)` in (occurred_at, request_id) order, `limit` at a time after the
 * given key: a keyset walk that a streaming export can resume.
 */
export const usagePage = (
  sql: SqlClient.SqlClient,
  q: {
    readonly tenantId: string
    readonly from: DateTime.Utc
    readonly to: DateTime.Utc
    readonly after: { readonly occurredAt: DateTime.Utc; readonly requestId: string } | null
    readonly limit: number
    readonly filter?: UsageFilter | undefined
  }
): Effect.Effect<ReadonlyArray<UsageRecord>, SqlError> =>
  Effect.gen(function*() {
    const afterAt = q.after === null ? toDate(q.from) : toDate(q.after.occurredAt)
    const afterId = q.after === null ? "" : q.after.requestId
    const params: Array<unknown> = [q.tenantId, toDate(q.from), toDate(q.to), afterAt, afterId, q.limit]
    let where = ""
    if (q.filter?.asOf !== undefined) {
      params.push(toDate(q.filter.asOf))
      where += ` AND ingested_at <= $${params.length}`
    }
    const owners = q.filter?.owners
    if (owners !== undefined) {
      params.push(array(owners.values, OID.text))
      const valuesParam = params.length
      params.push(owners.unowned)
      const unownedParam = params.length
      if (owners.dimension.kind === "tag") params.push(owners.dimension.key)
      const owner = ownerExpression(owners.dimension, params.length)
      where += ` AND (${owner} = ANY($${valuesParam}::text[]) OR ($${unownedParam}::boolean AND ${owner} IS NULL))`
    }
    const rows = yield* sql.unsafe<Record<string, unknown>>(
      `SELECT request_id, occurred_at, provider, api, model, snapshot_id, region, cost_source, currency,
          total::text AS total, cost_breakdown -> 'lines' AS lines, tags, ${labelSelect}
        FROM tally.usage_ledger
        WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND cost_source <> 'unpriced'
          AND (occurred_at, request_id) > ($4::timestamptz, $5::text)${where}
        ORDER BY occurred_at, request_id
        LIMIT $6`,
      params
    )
    return rows.map((row): UsageRecord => {
      const labels: Record<string, string> = {}
      for (const [name, column] of Object.entries(labelColumns)) {
        const value = row[column]
        if (typeof value === "string" && value !== "") labels[name] = value
      }
      const source = row.cost_source as UsageRecord["costSource"]
      return {
        requestId: row.request_id as string,
        occurredAt: DateTime.fromDateUnsafe(row.occurred_at as Date),
        provider: row.provider as string,
        api: (row.api as string | null) ?? null,
        model: row.model as string,
        snapshotId: (row.snapshot_id as string | null) ?? null,
        region: (row.region as string | null) ?? null,
        costSource: source,
        currency: row.currency as string,
        total: new Money.Decimal(row.total as string),
        lines: source === "provider" ? [] : ((row.lines as UsageRecord["lines"] | null) ?? []),
        labels,
        tags: (row.tags as Record<string, string> | null) ?? {}
      }
    })
  })

/** Unpriced calls of `[from, to)`: they are in the ledger but carry no cost to export. */
export const unpricedCount = (
  sql: SqlClient.SqlClient,
  q: { readonly tenantId: string; readonly from: DateTime.Utc; readonly to: DateTime.Utc }
): Effect.Effect<number, SqlError> =>
  Effect.map(
    sql<{ n: string }>`SELECT count(*)::text AS n FROM tally.usage_ledger
      WHERE tenant_id = ${q.tenantId} AND occurred_at >= ${toDate(q.from)} AND occurred_at < ${toDate(q.to)}
        AND cost_source = 'unpriced'`,
    (rows) => num(rows[0]?.n ?? 0)
  )

// Tenants ------------------------------------------------------------------------------------

export interface TenantInfo {
  readonly id: string
  readonly name: string
  readonly currency: string
  readonly timeZone: string
}

export const tenantInfo = (sql: SqlClient.SqlClient, tenantId: string): Effect.Effect<TenantInfo, TenantNotFound | SqlError> =>
  Effect.gen(function*() {
    const [row] = yield* sql<{ id: string; name: string; currency: string; time_zone: string }>`SELECT id, name,
        currency, time_zone FROM tally.tenants WHERE id = ${tenantId}`
    return row === undefined
      ? yield* notFound(tenantId)
      : { id: row.id, name: row.name, currency: row.currency, timeZone: row.time_zone }
  })

/**
 * Serializes run creation and finalization of one tenant: a finalization must see every run
 * finalized before it, and two drafts must not both carry one correction into final runs.
 */
export const lockTenant = (sql: SqlClient.SqlClient, tenantId: string): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`tally.chargeback:${tenantId}`}, 0))`)

// Runs ---------------------------------------------------------------------------------------

export type RunStatus = "draft" | "final"
export type LineKind = "owner" | "unallocated" | "correction"

export interface StoredLine {
  readonly lineNo: number
  readonly kind: LineKind
  readonly owner: string | null
  readonly direct: Money.Decimal
  readonly allocated: Money.Decimal
  readonly amount: Money.Decimal
  readonly currency: string
  readonly requestCount: number
  readonly correctsRunId: string | null
}

export interface AuditEntry {
  readonly action: "created" | "finalized"
  readonly actor: string
  readonly at: DateTime.Utc
  readonly detail: unknown
}

export interface StoredRun {
  readonly id: string
  readonly tenantId: string
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly status: RunStatus
  readonly dimension: string
  readonly shared: ReadonlyArray<string>
  /** The rule input as stored (JSON). */
  readonly rule: unknown
  readonly ruleVersion: string
  readonly currency: string
  readonly total: Money.Decimal
  readonly ledgerTotal: Money.Decimal
  readonly asOf: DateTime.Utc
  /** The canonical inputs (JSON) and their sha256. */
  readonly inputs: unknown
  readonly inputsSha256: string
  readonly createdBy: string
  readonly createdAt: DateTime.Utc
  readonly finalizedBy: string | null
  readonly finalizedAt: DateTime.Utc | null
  readonly lineCount: number
}

export interface NewRun {
  readonly tenantId: string
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: string
  readonly shared: ReadonlyArray<string>
  readonly rule: unknown
  readonly ruleVersion: string
  readonly currency: string
  readonly total: Money.Decimal
  readonly ledgerTotal: Money.Decimal
  readonly asOf: DateTime.Utc
  readonly inputs: unknown
  readonly inputsSha256: string
  readonly createdBy: string
  readonly lines: ReadonlyArray<Omit<StoredLine, "currency">>
}

interface RunRow {
  readonly id: string
  readonly tenant_id: string
  readonly period_from: Date
  readonly period_to: Date
  readonly status: "draft" | "frozen" | "void"
  readonly dimension: string
  readonly shared: ReadonlyArray<string>
  readonly rule: unknown
  readonly rule_version: string | null
  readonly currency: string
  readonly total: string | null
  readonly ledger_total: string | null
  readonly as_of: Date | null
  readonly inputs: unknown
  readonly inputs_sha256: string | null
  readonly created_by: string | null
  readonly created_at: Date
  readonly frozen_by: string | null
  readonly frozen_at: Date | null
  readonly line_count: string
}

const runColumns = `r.id, r.tenant_id, r.period_from, r.period_to, r.status, r.dimension, r.shared, r.rule,
  r.rule_version, r.currency, r.total::text AS total, r.ledger_total::text AS ledger_total, r.as_of, r.inputs,
  r.inputs_sha256, r.created_by, r.created_at, r.frozen_by, r.frozen_at,
  (SELECT count(*) FROM tally.chargeback_lines l WHERE l.run_id = r.id)::text AS line_count`

const utc = (date: Date): DateTime.Utc => DateTime.fromDateUnsafe(date)

const runFromRow = (row: RunRow): StoredRun => ({
  id: row.id,
  tenantId: row.tenant_id,
  from: utc(row.period_from),
  to: utc(row.period_to),
  status: row.status === "frozen" ? "final" : "draft",
  dimension: row.dimension,
  shared: row.shared,
  rule: row.rule,
  ruleVersion: row.rule_version ?? "",
  currency: row.currency,
  total: new Money.Decimal(row.total ?? "0"),
  ledgerTotal: new Money.Decimal(row.ledger_total ?? "0"),
  asOf: utc(row.as_of ?? row.created_at),
  inputs: row.inputs,
  inputsSha256: row.inputs_sha256 ?? "",
  createdBy: row.created_by ?? "system",
  createdAt: utc(row.created_at),
  finalizedBy: row.frozen_by,
  finalizedAt: row.frozen_at === null ? null : utc(row.frozen_at),
  lineCount: num(row.line_count)
})

interface LineRow {
  readonly run_id: string
  readonly line_no: number
  readonly kind: LineKind
  readonly owner: string | null
  readonly direct: string
  readonly allocated: string
  readonly amount: string
  readonly currency: string
  readonly request_count: string
  readonly corrects_run_id: string | null
}

const lineColumns = `run_id, line_no, kind, owner, direct::text AS direct, allocated::text AS allocated,
  amount::text AS amount, currency, request_count::text AS request_count, corrects_run_id`

const lineFromRow = (row: LineRow): StoredLine => ({
  lineNo: row.line_no,
  kind: row.kind,
  owner: row.owner,
  direct: new Money.Decimal(row.direct),
  allocated: new Money.Decimal(row.allocated),
  amount: new Money.Decimal(row.amount),
  currency: row.currency,
  requestCount: num(row.request_count),
  correctsRunId: row.corrects_run_id
})

const decimalText = (value: Money.Decimal): string => Money.format(value)

/** Run ids are uuids; anything else names no run (and must not reach the database as a cast error). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isRunId = (id: string): boolean => UUID.test(id)

/** Stores a draft run, its lines and its "created" audit entry; returns the stored run. */
export const insertRun = (sql: SqlClient.SqlClient, run: NewRun): Effect.Effect<StoredRun, SqlError> =>
  Effect.gen(function*() {
    const [row] = yield* sql<{ id: string }>`INSERT INTO tally.chargeback_runs
        (tenant_id, period_from, period_to, status, rule, currency, total, created_by, dimension, shared,
         rule_version, as_of, ledger_total, inputs, inputs_sha256)
      VALUES (${run.tenantId}, ${toDate(run.from)}, ${toDate(run.to)}, 'draft', ${PgTypes.jsonb(run.rule)},
        ${run.currency}, ${decimalText(run.total)}::numeric, ${run.createdBy}, ${run.dimension},
        ${array(run.shared, OID.text)}::text[], ${run.ruleVersion}, ${toDate(run.asOf)},
        ${decimalText(run.ledgerTotal)}::numeric, ${PgTypes.jsonb(run.inputs)}, ${run.inputsSha256})
      RETURNING id`
    const runId = row!.id
    if (run.lines.length > 0) {
      yield* sql.unsafe(
        `INSERT INTO tally.chargeback_lines
            (tenant_id, run_id, line_no, dimension, amount, currency, detail, kind, owner, direct, allocated,
             request_count, corrects_run_id)
          SELECT $1, $2, line_no, CASE WHEN owner IS NULL THEN '{}'::jsonb ELSE jsonb_build_object($3::text, owner) END,
            amount, $4, '{}', kind, owner, direct, allocated, request_count, corrects_run_id
          FROM unnest($5::int4[], $6::text[], $7::text[], $8::numeric[], $9::numeric[], $10::numeric[], $11::int8[],
            $12::uuid[]) AS l(line_no, kind, owner, direct, allocated, amount, request_count, corrects_run_id)`,
        [
          run.tenantId,
          runId,
          run.dimension,
          run.currency,
          array(run.lines.map((l) => l.lineNo), OID.int4),
          array(run.lines.map((l) => l.kind), OID.text),
          array(run.lines.map((l) => l.owner), OID.text),
          array(run.lines.map((l) => decimalText(l.direct)), OID.numeric),
          array(run.lines.map((l) => decimalText(l.allocated)), OID.numeric),
          array(run.lines.map((l) => decimalText(l.amount)), OID.numeric),
          array(run.lines.map((l) => BigInt(l.requestCount)), OID.int8),
          array(run.lines.map((l) => l.correctsRunId), OID.uuid)
        ]
      )
    }
    yield* sql`INSERT INTO tally.chargeback_audit (tenant_id, run_id, action, actor, detail)
      VALUES (${run.tenantId}, ${runId}, 'created', ${run.createdBy}, ${PgTypes.jsonb({ inputsSha256: run.inputsSha256 })})`
    const [stored] = yield* sql<RunRow>`SELECT ${sql.literal(runColumns)} FROM tally.chargeback_runs r WHERE r.id = ${runId}`
    return runFromRow(stored!)
  })

/** The run with this id, if the tenant has one. Locks it `FOR UPDATE` when asked. */
export const getRun = (
  sql: SqlClient.SqlClient,
  runId: string,
  options: { readonly lock?: boolean } = {}
): Effect.Effect<StoredRun | undefined, SqlError> =>
  Effect.gen(function*() {
    if (!isRunId(runId)) return undefined
    const rows = yield* sql<RunRow>`SELECT ${sql.literal(runColumns)} FROM tally.chargeback_runs r
      WHERE r.id = ${runId} AND r.status <> 'void' ${sql.literal(options.lock === true ? "FOR UPDATE" : "")}`
    return rows[0] === undefined ? undefined : runFromRow(rows[0])
  })

/** Lines of the given runs, by run and line number. */
export const linesOf = (
  sql: SqlClient.SqlClient,
  runIds: ReadonlyArray<string>
): Effect.Effect<ReadonlyMap<string, ReadonlyArray<StoredLine>>, SqlError> =>
  Effect.gen(function*() {
    const out = new Map<string, Array<StoredLine>>()
    if (runIds.length === 0) return out
    const rows = yield* sql.unsafe<LineRow>(
      `SELECT ${lineColumns} FROM tally.chargeback_lines WHERE run_id = ANY($1::uuid[]) ORDER BY run_id, line_no`,
      [array(runIds, OID.uuid)]
    )
    for (const row of rows) {
      const list = out.get(row.run_id) ?? []
      list.push(lineFromRow(row))
      out.set(row.run_id, list)
    }
    return out
  })

export const auditOf = (sql: SqlClient.SqlClient, runId: string): Effect.Effect<ReadonlyArray<AuditEntry>, SqlError> =>
  Effect.map(
    sql<{ action: AuditEntry["action"]; actor: string; at: Date; detail: unknown }>`SELECT action, actor, at, detail
      FROM tally.chargeback_audit WHERE run_id = ${runId} ORDER BY at, action`,
    (rows) => rows.map((row) => ({ action: row.action, actor: row.actor, at: utc(row.at), detail: row.detail }))
  )

/** Marks a draft final and records who did it. The database rejects any change after this. */
export const finalizeRun = (
  sql: SqlClient.SqlClient,
  q: { readonly tenantId: string; readonly runId: string; readonly finalizedBy: string }
): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    yield* sql`UPDATE tally.chargeback_runs SET status = 'frozen', frozen_at = clock_timestamp(),
        frozen_by = ${q.finalizedBy}
      WHERE id = ${q.runId} AND status = 'draft'`
    yield* sql`INSERT INTO tally.chargeback_audit (tenant_id, run_id, action, actor)
      VALUES (${q.tenantId}, ${q.runId}, 'finalized', ${q.finalizedBy})`
  })

/** A finalized run that a later run may have to correct, and the last instant it was checked. */
export interface FinalizedRun extends StoredRun {
  /**
   * The latest `as_of` among this run and the finalized runs that re-checked it: usage recorded
   * after it is not yet reflected in any final charge.
   */
  readonly checkedThrough: DateTime.Utc
}

/**
 * Finalized runs of a dimension and currency, optionally only those ending at or before `endingBy`
 * or overlapping `[overlapFrom, overlapTo)`, in period order.
 */
export const finalizedRuns = (
  sql: SqlClient.SqlClient,
  q: {
    readonly tenantId: string
    readonly dimension: string
    readonly currency: string
    readonly endingBy?: DateTime.Utc | undefined
    readonly overlapping?: { readonly from: DateTime.Utc; readonly to: DateTime.Utc } | undefined
  }
): Effect.Effect<ReadonlyArray<FinalizedRun>, SqlError> =>
  Effect.gen(function*() {
    const rows = yield* sql.unsafe<RunRow & { checked_through: Date | null }>(
      `SELECT ${runColumns},
          (SELECT max(c.as_of) FROM tally.chargeback_runs c
            WHERE c.tenant_id = r.tenant_id AND c.status = 'frozen'
              AND c.inputs -> 'checked' @> jsonb_build_array(r.id::text)) AS checked_through
        FROM tally.chargeback_runs r
        WHERE r.tenant_id = $1 AND r.status = 'frozen' AND r.dimension = $2 AND r.currency = $3
          AND ($4::timestamptz IS NULL OR r.period_to <= $4)
          AND ($5::timestamptz IS NULL OR (r.period_from < $6 AND r.period_to > $5))
        ORDER BY r.period_from, r.created_at`,
      [
        q.tenantId,
        q.dimension,
        q.currency,
        q.endingBy === undefined ? null : toDate(q.endingBy),
        q.overlapping === undefined ? null : toDate(q.overlapping.from),
        q.overlapping === undefined ? null : toDate(q.overlapping.to)
      ]
    )
    return rows.map((row) => {
      const run = runFromRow(row)
      const checked = row.checked_through === null ? run.asOf : utc(row.checked_through)
      return {
        ...run,
        checkedThrough: DateTime.toEpochMillis(checked) > DateTime.toEpochMillis(run.asOf) ? checked : run.asOf
      }
    })
  })

/** Runs of a dimension and currency finalized after `since`. */
export const finalizedSince = (
  sql: SqlClient.SqlClient,
  q: {
    readonly tenantId: string
    readonly dimension: string
    readonly currency: string
    readonly since: DateTime.Utc
    readonly except: string
  }
): Effect.Effect<ReadonlyArray<string>, SqlError> =>
  Effect.map(
    sql<{ id: string }>`SELECT id FROM tally.chargeback_runs
      WHERE tenant_id = ${q.tenantId} AND status = 'frozen' AND dimension = ${q.dimension} AND currency = ${q.currency}
        AND frozen_at > ${toDate(q.since)} AND id <> ${q.except}
      ORDER BY frozen_at`,
    (rows) => rows.map((row) => row.id)
  )

/**
 * Correction lines in finalized runs that correct the given runs: with a run's own lines, what
 * has been charged for its period so far.
 */
export const finalCorrections = (
  sql: SqlClient.SqlClient,
  runIds: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<StoredLine>, SqlError> =>
  runIds.length === 0
    ? Effect.succeed([])
    : Effect.map(
      sql.unsafe<LineRow>(
        `SELECT ${lineColumns.split(",").map((c) => `l.${c.trim()}`).join(", ")}
          FROM tally.chargeback_lines l JOIN tally.chargeback_runs r ON r.id = l.run_id
          WHERE r.status = 'frozen' AND l.corrects_run_id = ANY($1::uuid[])
          ORDER BY l.corrects_run_id, r.period_from, l.line_no`,
        [array(runIds, OID.uuid)]
      ),
      (rows) => rows.map(lineFromRow)
    )

export interface ListQuery {
  readonly limit: number
  /** Id of the last run of the previous page. */
  readonly after: string | null
  readonly status: RunStatus | null
}

/**
 * Runs newest first, `limit` at a time after the run `after` (by its exact created_at and id, read
 * in the database: timestamps keep microseconds that a JavaScript Date would lose).
 */
export const listRuns = (sql: SqlClient.SqlClient, q: ListQuery): Effect.Effect<ReadonlyArray<StoredRun>, SqlError> =>
  Effect.map(
    sql.unsafe<RunRow>(
      `SELECT ${runColumns} FROM tally.chargeback_runs r
        WHERE r.status <> 'void'
          AND ($1::text IS NULL OR r.status = $1)
          AND ($2::uuid IS NULL OR (r.created_at, r.id) < (SELECT a.created_at, a.id FROM tally.chargeback_runs a WHERE a.id = $2))
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT $3`,
      [q.status === null ? null : q.status === "final" ? "frozen" : "draft", q.after, q.limit]
    ),
    (rows) => rows.map(runFromRow)
  )
