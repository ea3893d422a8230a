/**
 * The ledger as chargeback reads it: spend of a period by owner (any label, model, provider or
 * tag), late usage of a finalized period, the cost lines behind a period for FOCUS exports, and
 * the priced calls of a period page by page.
 *
 * The ledger is read "as of" an instant: rows whose `ingested_at` is at or before it, each at the
 * price it had then. Rows are only ever added, and a repricing keeps every call's earlier price
 * (`tally.usage_repricings`), so a run's inputs can be read again later (exports), and usage
 * recorded or repriced after the instant is exactly the late usage the next run corrects. Every method runs in the tenant's
 * scope and joins the caller's transaction of that tenant, so the engine reads a period and
 * stores a run atomically. The allocation maths and the rules are core's (`CostAllocation`).
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { type CostAllocation, Money, type UsageRecord } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import * as CostGroupRow from "./internal/CostGroupRow.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"

type Dimension = CostAllocation.Dimension.Dimension

/** Ledger column of each field an owner dimension can name. */
const fieldColumns = {
  ...LedgerRow.labelColumns,
  model: "model",
  provider: "provider"
} as const satisfies Record<CostAllocation.Dimension.Field, string>

/** The owner of a ledger row as SQL; an empty label counts as no owner. `$n` is the tag key. */
const ownerExpression = (dimension: Dimension, tagParam: number): string =>
  dimension.kind === "tag" ? `nullif(tags ->> $${tagParam}, '')` : `nullif(${fieldColumns[dimension.name]}, '')`

export interface SpendQuery {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: Dimension
  /** Only rows ingested at or before this instant. */
  readonly asOf: DateTime.Utc
  /**
   * Where to read: `auto` (the default) reads the daily cost summary when it stands for the ledger
   * as of `asOf` (see `summarySpend`) and the ledger otherwise; `ledger` always scans the ledger.
   */
  readonly source?: "auto" | "ledger" | undefined
}

export interface Period {
  readonly from: DateTime.Utc
  /** Exclusive. */
  readonly to: DateTime.Utc
}

/** Which calls a usage export lists, beyond its period. */
export interface UsageFilter {
  /** Only calls ingested at or before this instant (what a run read). */
  readonly asOf?: DateTime.Utc | undefined
  /** Only calls whose owner under `dimension` is one of `values`, or has none when `unowned`. */
  readonly owners?: {
    readonly dimension: Dimension
    readonly values: ReadonlyArray<string>
    readonly unowned: boolean
  } | undefined
}

export interface UsagePageQuery extends Period {
  /** The key of the last call of the previous page; null for the first page. */
  readonly after: { readonly occurredAt: DateTime.Utc; readonly requestId: string } | null
  readonly limit: number
  readonly filter?: UsageFilter | undefined
}

const toDate = (dt: DateTime.Utc): Date => DateTime.toDateUtc(dt)
const { OID } = PgTypes
const array = <A>(values: ReadonlyArray<A>, oid: number) => Result.getOrThrow(PgTypes.array(values as Array<A>, oid))
const num = (value: unknown): number => Number(value as string | number | bigint)

/** The price columns of a ledger row that a repricing changes (0016). */
const repricedColumns: ReadonlySet<string> = new Set([
  "cost_source",
  "total",
  "currency",
  "definition_id",
  "snapshot_id",
  "unpriced_reason",
  "cost_breakdown",
  "cost_difference"
])

/**
 * The ledger of one tenant and period as it was at an instant, as a derived table `ledger` (the
 * placeholders name the parameters): rows ingested by then, each with the price it had then. A
 * call repriced after the instant reads with the price before its first such repricing; the
 * subquery of those repricings is almost always empty, so the scan stays a scan of the ledger.
 */
const ledgerAsOf = (tenant: string, from: string, to: string, asOf: string): string => {
  const columns = ["tenant_id", "ingested_at", ...LedgerRow.columnsWithoutPayload].map((c) =>
    repricedColumns.has(c) ? `CASE WHEN b.request_id IS NULL THEN l.${c} ELSE b.before_${c} END AS ${c}` : `l.${c}`
  )
  return `(SELECT ${columns.join(", ")}
    FROM tally.usage_ledger l
    LEFT JOIN (
      SELECT DISTINCT ON (occurred_at, request_id) occurred_at, request_id, ${
    [...repricedColumns].map((c) => `before_${c}`).join(", ")
  }
      FROM tally.usage_repricings
      WHERE tenant_id = ${tenant} AND occurred_at >= ${from} AND occurred_at < ${to} AND repriced_at > ${asOf}
      ORDER BY occurred_at, request_id, id
    ) b ON b.occurred_at = l.occurred_at AND b.request_id = l.request_id
    WHERE l.tenant_id = ${tenant} AND l.occurred_at >= ${from} AND l.occurred_at < ${to} AND l.ingested_at <= ${asOf}) AS ledger`
}

/** `ledgerAsOf` over the parameters `windowParams` gives. */
const ledgerWindow = ledgerAsOf("$1", "$2", "$3", "$4")

const windowParams = (tenantId: string, q: SpendQuery): Array<unknown> => [
  tenantId,
  toDate(q.from),
  toDate(q.to),
  toDate(q.asOf)
]

/**
 * Settings for the rest of the transaction that a scan of a whole period needs:
 * - a custom plan for every execution. The client prepares statements, and after five runs
 *   PostgreSQL may switch to a generic plan that cannot see the period: on a month of 3.4M rows
 *   it walked the primary key in one process (12 s) instead of a parallel scan (3.8 s). The
 *   probes for usage recorded after an instant need it too: a generic plan cannot tell that few
 *   rows follow the instant, and walked the month's (tenant, occurred_at) index instead of the
 *   (tenant, ingested_at) one (4.3 s instead of milliseconds for a month of 1M calls);
 * - no JIT compilation: the expressions are simple, and compiling took 2.2 s of a 7.5 s scan.
 */
const forPeriodScans = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql`SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)`)

const usageColumns = LedgerRow.columnsWithoutPayload.join(", ")

/**
 * How the daily cost summary (0023) answers an owner dimension: its rows under `dimension`, the
 * owner read from `owner`. Model and provider are columns of every row, so they read the team rows.
 */
const summaryOwners: Partial<Record<CostAllocation.Dimension.Field, { readonly dimension: string; readonly owner: string }>> = {
  team: { dimension: "team", owner: "d.owner" },
  costCenter: { dimension: "cost_center", owner: "d.owner" },
  project: { dimension: "project", owner: "d.owner" },
  model: { dimension: "team", owner: "d.model" },
  provider: { dimension: "team", owner: "d.provider" }
}

/** How the summary answers a dimension, or undefined when only the ledger has it (tags, customers, ...). */
const summaryOwner = (dimension: Dimension) => dimension.kind === "tag" ? undefined : summaryOwners[dimension.name]

/**
 * `ok`: whether the daily cost summary (0023) of `[$2, $3)` is the ledger as of `$4` for tenant
 * `$1`, and `zone`, the tenant's time zone the summary rows are read in. It is when the period
 * starts and ends at midnights of the tenant's zone, no call of the period was recorded after the
 * instant nor repriced after it (two index probes; the summary holds every committed call at its
 * current price), and no summary row near the period was cut in another zone (the tenant's zone
 * changed). Part of the statement that reads the summary, so both see one snapshot.
 */
const summaryEligible = `summary_ok AS (
    SELECT t.time_zone AS zone,
      date_trunc('day', $2::timestamptz, t.time_zone) = $2::timestamptz
      AND date_trunc('day', $3::timestamptz, t.time_zone) = $3::timestamptz
      AND NOT EXISTS (
        SELECT 1 FROM tally.usage_ledger
        WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND ingested_at > $4
      )
      AND NOT EXISTS (
        SELECT 1 FROM tally.usage_repricings
        WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND repriced_at > $4
      )
      AND NOT EXISTS (
        SELECT 1 FROM tally.usage_cost_daily
        WHERE tenant_id = $1 AND zone <> t.time_zone
          AND day > $2::timestamptz - interval '2 days' AND day < $3::timestamptz + interval '2 days'
      ) AS ok
    FROM tally.tenants t WHERE t.id = $1
  )`

/** The summary rows of the period under a dimension, when `summary_ok` says they may be read. */
const summaryWindow = (dimension: string) =>
  `tally.usage_cost_daily d, summary_ok
    WHERE summary_ok.ok AND d.tenant_id = $1 AND d.zone = summary_ok.zone AND d.day >= $2 AND d.day < $3
      AND d.dimension = '${dimension}'`

type SpendRow = {
  owner: string | null
  currency: string | null
  snapshot_id: string | null
  requests: string
  unpriced: string
  cost: string
}

/** Spend rows (owner, currency, snapshot) as core's period spend. */
const periodSpend = (rows: ReadonlyArray<SpendRow>): CostAllocation.Allocate.PeriodSpend => {
  const owners = new Map<string, CostAllocation.Allocate.OwnerSpend>()
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
}

const costGroupOf = (currency: string) => (row: Record<string, string | null>) => CostGroupRow.toCostGroup(row, currency)

/** The order of cost groups, whichever source they were read from. */
const costGroupOrder =
  "owner NULLS LAST, provider, model, snapshot_id NULLS FIRST, component, unit_price, unit, list_rate, list_rate_per"

export interface ChargebackLedgerService {
  /**
   * The instant the enclosing transaction started (`now()`): every row ingested up to it and
   * committed is visible to the reads of that transaction. What a run reads the ledger as of.
   */
  readonly asOf: (tenantId: string) => Effect.Effect<DateTime.Utc, SqlError>
  /**
   * Spend of `[from, to)` by owner and currency, and the snapshots used, in one pass over the
   * period's ledger partitions. The groups are (owner, currency, snapshot): few, and a plain
   * GROUP BY lets PostgreSQL aggregate in parallel workers (grouping sets would not).
   */
  readonly spend: (tenantId: string, query: SpendQuery) => Effect.Effect<CostAllocation.Allocate.PeriodSpend, SqlError>
  /**
   * `spend` from the daily cost summary (0023), without a scan of the ledger: undefined when the
   * summary cannot stand for the ledger as of the instant (a dimension it does not keep, a period
   * that does not start and end at the tenant's midnights, calls of the period recorded or
   * repriced after the instant, a changed time zone). The same amounts as the ledger's otherwise.
   */
  readonly summarySpend: (
    tenantId: string,
    query: SpendQuery
  ) => Effect.Effect<CostAllocation.Allocate.PeriodSpend | undefined, SqlError>
  /**
   * Whether usage of `[from, to)` was recorded or repriced after `since`: the late usage of a
   * finalized period. Reaches only the late rows, through the ledger's (tenant, ingested_at) index
   * and the repricings' (tenant, repriced_at) index.
   */
  readonly hasLateUsage: (
    tenantId: string,
    query: Period & { readonly since: DateTime.Utc }
  ) => Effect.Effect<boolean, SqlError>
  /**
   * The period's cost lines grouped for FOCUS rows, as of the run's instant. Computed calls expand
   * their breakdown lines; provider-priced calls become one "reported" line each (the breakdown,
   * if any, is Tally's own estimate and not what was billed), grouped per owner and model.
   * Unpriced calls have no cost lines.
   */
  readonly costGroups: (
    tenantId: string,
    query: SpendQuery & { readonly currency: string }
  ) => Effect.Effect<ReadonlyArray<CostAllocation.Focus.CostGroup>, SqlError>
  /** `costGroups` from the daily cost summary, or undefined when it cannot be read (as `summarySpend`). */
  readonly summaryCostGroups: (
    tenantId: string,
    query: SpendQuery & { readonly currency: string }
  ) => Effect.Effect<ReadonlyArray<CostAllocation.Focus.CostGroup> | undefined, SqlError>
  /**
   * Priced calls of `[from, to)` in (occurred_at, request_id) order, `limit` at a time after the
   * given key: a keyset walk that a streaming export can resume. The records come without their
   * raw payload (`raw` is null), which an export never shows.
   */
  readonly usagePage: (
    tenantId: string,
    query: UsagePageQuery
  ) => Effect.Effect<ReadonlyArray<UsageRecord.UsageRecord>, SqlError>
  /** Unpriced calls of `[from, to)`: they are in the ledger but carry no cost to export. */
  readonly unpricedCount: (tenantId: string, query: Period) => Effect.Effect<number, SqlError>
}

export class ChargebackLedger extends Context.Service<ChargebackLedger, ChargebackLedgerService>()(
  "@tally/store/ChargebackLedger"
) {
  static readonly layer: Layer.Layer<ChargebackLedger, never, Database> = Layer.effect(
    ChargebackLedger,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const asOf = Effect.fn("ChargebackLedger.asOf")(function*(tenantId: string) {
        const [row] = yield* db.withTenant(tenantId, sql<{ as_of: Date }>`SELECT now() AS as_of`)
        return DateTime.fromDateUnsafe(row!.as_of)
      })

      const ledgerSpend = Effect.fnUntraced(function*(tenantId: string, q: SpendQuery) {
        const params = windowParams(tenantId, q)
        if (q.dimension.kind === "tag") params.push(q.dimension.key)
        const rows = yield* db.withTenant(
          tenantId,
          Effect.andThen(
            forPeriodScans(sql),
            sql.unsafe<SpendRow>(
              `SELECT ${ownerExpression(q.dimension, 5)} AS owner, currency, snapshot_id,
                  count(*)::text AS requests,
                  count(*) FILTER (WHERE cost_source = 'unpriced')::text AS unpriced,
                  coalesce(sum(total), 0)::text AS cost
                FROM ${ledgerWindow}
                GROUP BY 1, 2, 3`,
              params
            )
          )
        )
        return periodSpend(rows)
      })

      const summarySpend = Effect.fn("ChargebackLedger.summarySpend")(function*(tenantId: string, q: SpendQuery) {
        const how = summaryOwner(q.dimension)
        if (how === undefined) return undefined
        const rows = yield* db.withTenant(
          tenantId,
          Effect.andThen(forPeriodScans(sql), sql.unsafe<SpendRow & { ok: boolean }>(
            `WITH ${summaryEligible}, spend AS (
                SELECT nullif(${how.owner}, '') AS owner, nullif(d.currency, '') AS currency,
                  nullif(d.snapshot_id, '') AS snapshot_id,
                  sum(d.calls)::text AS requests,
                  coalesce(sum(d.calls) FILTER (WHERE d.cost_source = 'unpriced'), 0)::text AS unpriced,
                  sum(d.amount)::text AS cost
                FROM ${summaryWindow(how.dimension)} AND d.component = ''
                GROUP BY 1, 2, 3
                HAVING sum(d.calls) > 0
              )
              SELECT summary_ok.ok, spend.* FROM summary_ok LEFT JOIN spend ON true`,
            windowParams(tenantId, q)
          ))
        )
        if (rows[0]?.ok !== true) return undefined
        return periodSpend(rows.filter((row) => row.requests !== null))
      })

      const spend = Effect.fn("ChargebackLedger.spend")(function*(tenantId: string, q: SpendQuery) {
        const fromSummary = q.source === "ledger" ? undefined : yield* summarySpend(tenantId, q)
        return fromSummary ?? (yield* ledgerSpend(tenantId, q))
      })

      const hasLateUsage = Effect.fn("ChargebackLedger.hasLateUsage")(function*(
        tenantId: string,
        q: Period & { readonly since: DateTime.Utc }
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          Effect.andThen(forPeriodScans(sql), sql<{ late: boolean }>`SELECT EXISTS (
              SELECT 1 FROM tally.usage_ledger
              WHERE tenant_id = ${tenantId} AND ingested_at > ${toDate(q.since)}
                AND occurred_at >= ${toDate(q.from)} AND occurred_at < ${toDate(q.to)}
            ) OR EXISTS (
              SELECT 1 FROM tally.usage_repricings
              WHERE tenant_id = ${tenantId} AND repriced_at > ${toDate(q.since)}
                AND occurred_at >= ${toDate(q.from)} AND occurred_at < ${toDate(q.to)}
            ) AS late`)
        )
        return rows[0]?.late === true
      })

      const ledgerCostGroups = Effect.fnUntraced(function*(
        tenantId: string,
        q: SpendQuery & { readonly currency: string }
      ) {
        const params = [...windowParams(tenantId, q), q.currency]
        if (q.dimension.kind === "tag") params.push(q.dimension.key)
        const owner = ownerExpression(q.dimension, 6)
        const rows = yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* forPeriodScans(sql)
            // The planner takes every call for 100 cost lines (a set-returning function's default) and
            // so expects millions of groups where there are hundreds: it sorted 13.7M lines on disk and
            // read in one process (111 s for a month of 3.4M calls). Hash aggregation over a parallel
            // scan: 36 s.
            yield* sql`SELECT set_config('enable_sort', 'off', true), set_config('parallel_tuple_cost', '0', true)`
            return yield* sql.unsafe<Record<string, string | null>>(
              `SELECT owner, provider, model, snapshot_id, component, unit, list_rate::text AS list_rate, list_rate_per,
                  unit_price::text AS unit_price, sum(quantity)::text AS quantity, sum(amount)::text AS amount,
                  sum(billed)::text AS billed, count(*)::text AS requests
                FROM (
                  SELECT ${owner} AS owner, provider, model, snapshot_id,
                    l ->> 'component' AS component, l ->> 'unit' AS unit, (l ->> 'listRate')::numeric AS list_rate,
                    l ->> 'listRatePer' AS list_rate_per, (l ->> 'unitPrice')::numeric AS unit_price,
                    (l ->> 'quantity')::numeric AS quantity, (l ->> 'amount')::numeric AS amount,
                    (l ->> 'amount')::numeric AS billed
                  FROM ${ledgerWindow}, jsonb_array_elements(cost_breakdown -> 'lines') AS l
                  WHERE currency = $5 AND cost_source IN ('computed', 'estimated')
                  UNION ALL
                  SELECT ${owner}, provider, model, NULL, 'reported', 'unit', 1, 'unit', 1,
                    total, total, total
                  FROM ${ledgerWindow}
                  WHERE currency = $5 AND cost_source = 'provider'
                ) lines
                GROUP BY owner, provider, model, snapshot_id, component, unit, list_rate, list_rate_per, unit_price
                ORDER BY ${costGroupOrder}`,
              params
            )
          })
        )
        return rows.map(costGroupOf(q.currency))
      })

      const summaryCostGroups = Effect.fn("ChargebackLedger.summaryCostGroups")(function*(
        tenantId: string,
        q: SpendQuery & { readonly currency: string }
      ) {
        const how = summaryOwner(q.dimension)
        if (how === undefined) return undefined
        const rows = yield* db.withTenant(
          tenantId,
          Effect.andThen(forPeriodScans(sql), sql.unsafe<Record<string, string | null> & { ok: boolean }>(
            `WITH ${summaryEligible}, groups AS (
                SELECT owner, provider, model, snapshot_id, component, unit, list_rate::text AS list_rate, list_rate_per,
                  unit_price::text AS unit_price, sum(quantity)::text AS quantity, sum(amount)::text AS amount,
                  sum(amount)::text AS billed, sum(calls)::text AS requests
                FROM (
                  SELECT nullif(${how.owner}, '') AS owner, d.provider, d.model, nullif(d.snapshot_id, '') AS snapshot_id,
                    d.component, d.unit, d.list_rate, d.list_rate_per, d.unit_price, d.quantity, d.amount, d.calls
                  FROM ${summaryWindow(how.dimension)} AND d.currency = $5 AND d.component <> ''
                    AND d.cost_source IN ('computed', 'estimated')
                  UNION ALL
                  SELECT nullif(${how.owner}, ''), d.provider, d.model, NULL, 'reported', 'unit', 1, 'unit', 1,
                    d.amount, d.amount, d.calls
                  FROM ${summaryWindow(how.dimension)} AND d.currency = $5 AND d.component = '' AND d.cost_source = 'provider'
                ) lines
                GROUP BY owner, provider, model, snapshot_id, component, unit, list_rate, list_rate_per, unit_price
                HAVING sum(calls) > 0
              )
              SELECT summary_ok.ok, groups.* FROM summary_ok LEFT JOIN groups ON true
              ORDER BY ${costGroupOrder}`,
            [...windowParams(tenantId, q), q.currency]
          ))
        )
        if (rows[0]?.ok !== true) return undefined
        return rows.filter((row) => row.requests !== null).map(costGroupOf(q.currency))
      })

      const costGroups = Effect.fn("ChargebackLedger.costGroups")(function*(
        tenantId: string,
        q: SpendQuery & { readonly currency: string }
      ) {
        const fromSummary = q.source === "ledger" ? undefined : yield* summaryCostGroups(tenantId, q)
        return fromSummary ?? (yield* ledgerCostGroups(tenantId, q))
      })

      const usagePage = Effect.fn("ChargebackLedger.usagePage")(function*(tenantId: string, q: UsagePageQuery) {
        const afterAt = q.after === null ? toDate(q.from) : toDate(q.after.occurredAt)
        const afterId = q.after === null ? "" : q.after.requestId
        const params: Array<unknown> = [tenantId, toDate(q.from), toDate(q.to), afterAt, afterId, q.limit]
        let where = ""
        let source = "tally.usage_ledger"
        if (q.filter?.asOf !== undefined) {
          params.push(toDate(q.filter.asOf))
          source = ledgerAsOf("$1", "$2", "$3", `$${params.length}`)
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
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<LedgerRow.Row>(
            `SELECT ${usageColumns}
              FROM ${source}
              WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND cost_source <> 'unpriced'
                AND (occurred_at, request_id) > ($4::timestamptz, $5::text)${where}
              ORDER BY occurred_at, request_id
              LIMIT $6`,
            params
          )
        )
        return rows.map((row) => LedgerRow.toUsageRecord({ ...row, raw: null }))
      })

      const unpricedCount = Effect.fn("ChargebackLedger.unpricedCount")(function*(tenantId: string, q: Period) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<{ n: string }>`SELECT count(*)::text AS n FROM tally.usage_ledger
            WHERE tenant_id = ${tenantId} AND occurred_at >= ${toDate(q.from)} AND occurred_at < ${toDate(q.to)}
              AND cost_source = 'unpriced'`
        )
        return num(rows[0]?.n ?? 0)
      })

      return ChargebackLedger.of({
        asOf,
        spend,
        summarySpend,
        hasLateUsage,
        costGroups,
        summaryCostGroups,
        usagePage,
        unpricedCount
      })
    })
  )
}
