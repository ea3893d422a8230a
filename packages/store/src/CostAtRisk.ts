/**
 * Cost at risk: what the recorded spend leaves out because calls were priced only in part
 * (`partial`: the priced lines count, the components without a rate do not) or not at all
 * (`unpriced`), in `[from, to)`, optionally narrowed like a usage report (`UsageQuery.UsageFilter`):
 * the number of such calls, the spend the partial calls do count, and every component no price
 * was found for with its quantity and the calls it was in, in total and per provider and model.
 *
 * Read from the daily at-risk summary (0028) where it stands for the ledger: a period that starts
 * and ends at the tenant's midnights, no filter but provider and model, and, read as of an
 * instant, no call of the period recorded or repriced after it (0023's rule, checked in the same
 * statement). Otherwise from the ledger's partial and unpriced rows (a partial index keeps the
 * read to those rows), which grows with the calls.
 *
 * Components are named as cost lines name them: a token bucket (`inputAudio`), `image:<key>`,
 * `toolCall:<kind>`, `webSearches`, `audioSeconds`, `videoSeconds`. A partial call's are those its
 * breakdown lists as missing; an unpriced call's are all of its usage (requests aside, which are
 * priced only where a price says so).
 */
import { Money, UsageQuery } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { filterOnLedger, jitOff, Params } from "./internal/LedgerQuery.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"

export interface AtRiskComponent {
  readonly component: string
  /** As cost lines say: token, image, second, search, call. */
  readonly unit: string
  /** Exact quantity without a price. */
  readonly quantity: Money.Decimal
  /** Calls it was missing in: partial and unpriced. */
  readonly calls: number
  readonly partialCalls: number
  readonly unpricedCalls: number
}

export interface AtRiskModel {
  readonly provider: string
  readonly model: string
  readonly partialCalls: number
  readonly unpricedCalls: number
  readonly components: ReadonlyArray<AtRiskComponent>
}

export interface CostAtRiskReport {
  readonly partialCalls: number
  readonly unpricedCalls: number
  /** What the partial calls' priced lines add to spend, per currency (already in every spend total). */
  readonly partialSpend: ReadonlyArray<UsageQuery.Amount>
  /** Every component without a price, most calls first. */
  readonly components: ReadonlyArray<AtRiskComponent>
  /** The same per provider and model, most calls first. */
  readonly models: ReadonlyArray<AtRiskModel>
}

export interface CostAtRiskQuery {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly filter?: UsageQuery.UsageFilter | undefined
  /** Which calls: partial, unpriced, or both (the default). */
  readonly sources?: ReadonlyArray<"partial" | "unpriced"> | undefined
  /** Only calls ingested at or before this instant (a chargeback run's read instant), so the report
   * and the run's spend read see the same calls. */
  readonly ingestedBy?: DateTime.Utc | undefined
  /**
   * Where to read: `auto` (the default) reads the daily at-risk summary (0028) when it stands for
   * the ledger, `ledger` always reads the ledger's partial and unpriced rows.
   */
  readonly source?: "auto" | "ledger" | undefined
}

export const empty: CostAtRiskReport = { partialCalls: 0, unpricedCalls: 0, partialSpend: [], components: [], models: [] }

export interface CostAtRiskService {
  readonly report: (tenantId: string, query: CostAtRiskQuery) => Effect.Effect<CostAtRiskReport, SqlError>
  /**
   * `report` from the daily at-risk summary (0028) alone: undefined where it cannot stand for the
   * ledger (a filter it does not keep, a period off the tenant's midnights, calls of the period
   * recorded or repriced after `ingestedBy`, a changed time zone). The same report as the ledger's otherwise.
   */
  readonly summaryReport: (tenantId: string, query: CostAtRiskQuery) => Effect.Effect<CostAtRiskReport | undefined, SqlError>
}

const tokenComponents = Object.entries(LedgerRow.tokenColumns)
  .map(([bucket, column]) => `('${bucket}', 'token', ${column}::numeric)`)
  .join(", ")

/** Components of each partial or unpriced row, one row per (call, component). */
const componentsSql = (rows: string) => `
  SELECT provider, model, cost_source, request_id, m.value ->> 'component' AS component, m.value ->> 'unit' AS unit, (m.value ->> 'quantity')::numeric AS quantity
    FROM ${rows} CROSS JOIN LATERAL jsonb_array_elements(cost_breakdown -> 'missing') AS m(value)
    WHERE cost_source = 'partial'
  UNION ALL
  SELECT provider, model, cost_source, request_id, u.component, u.unit, u.quantity
    FROM ${rows} CROSS JOIN LATERAL (VALUES ${tokenComponents},
      ('webSearches', 'search', web_searches::numeric), ('audioSeconds', 'second', audio_seconds), ('videoSeconds', 'second', video_seconds)
    ) AS u(component, unit, quantity)
    WHERE cost_source = 'unpriced' AND u.quantity > 0
  UNION ALL
  SELECT provider, model, cost_source, request_id, 'image:' || i.key, 'image', i.value::numeric
    FROM ${rows} CROSS JOIN LATERAL jsonb_each_text(coalesce(images_generated, '{}'::jsonb)) AS i(key, value)
    WHERE cost_source = 'unpriced' AND i.value::numeric > 0
  UNION ALL
  SELECT provider, model, cost_source, request_id, 'toolCall:' || k.key, 'call', k.value::numeric
    FROM ${rows} CROSS JOIN LATERAL jsonb_each_text(coalesce(tool_calls, '{}'::jsonb)) AS k(key, value)
    WHERE cost_source = 'unpriced' AND k.value::numeric > 0`

interface ComponentRow {
  readonly provider: string
  readonly model: string
  readonly component: string
  readonly unit: string
  readonly quantity: string
  readonly partial_calls: string | number
  readonly unpriced_calls: string | number
}

interface CallRow {
  readonly provider: string
  readonly model: string
  readonly partial_calls: string | number
  readonly unpriced_calls: string | number
  readonly currency: string | null
  readonly partial_spend: string | null
}

/** A row of the summary's read: a component (`component` set) or a model's calls; all null but `ok` when there are none. */
type SummaryRow = Omit<ComponentRow & CallRow, "provider"> & { readonly ok: boolean; readonly provider: string | null }

const byCalls = <A extends { readonly calls?: number; readonly partialCalls: number; readonly unpricedCalls: number }>(key: (a: A) => string) => (a: A, b: A): number =>
  (b.calls ?? b.partialCalls + b.unpricedCalls) - (a.calls ?? a.partialCalls + a.unpricedCalls) || key(a).localeCompare(key(b))

const component = (r: { component: string; unit: string; quantity: Money.Decimal; partialCalls: number; unpricedCalls: number }): AtRiskComponent => ({
  component: r.component,
  unit: r.unit,
  quantity: r.quantity,
  calls: r.partialCalls + r.unpricedCalls,
  partialCalls: r.partialCalls,
  unpricedCalls: r.unpricedCalls
})

/** The summary answers filters on its own key columns; any other filter reads the ledger. */
const summaryFilterColumns: ReadonlySet<UsageQuery.Dimension> = new Set(["provider", "model"])

const summaryAnswers = (filter: UsageQuery.UsageFilter | undefined): boolean =>
  filter === undefined ||
  ((filter.tags === undefined || Object.keys(filter.tags).length === 0) &&
    UsageQuery.dimensions.every((d) => filter[d] === undefined || summaryFilterColumns.has(d)))

/** The rows of both reads as one report: per model, in total, most calls first. */
const assemble = (components: ReadonlyArray<ComponentRow>, calls: ReadonlyArray<CallRow>): CostAtRiskReport => {
  const models = new Map<string, { provider: string; model: string; partialCalls: number; unpricedCalls: number; components: Array<AtRiskComponent> }>()
  const modelOf = (provider: string, model: string) => {
    const key = `${provider}\u0000${model}`
    let m = models.get(key)
    if (m === undefined) {
      m = { provider, model, partialCalls: 0, unpricedCalls: 0, components: [] }
      models.set(key, m)
    }
    return m
  }
  const partialSpend: Array<UsageQuery.Amount> = []
  let partialCalls = 0
  let unpricedCalls = 0
  for (const row of calls) {
    const m = modelOf(row.provider, row.model)
    m.partialCalls += Number(row.partial_calls)
    m.unpricedCalls += Number(row.unpriced_calls)
    partialCalls += Number(row.partial_calls)
    unpricedCalls += Number(row.unpriced_calls)
    if (row.partial_spend !== null && row.currency !== null && row.currency !== "") {
      UsageQuery.addSpend(partialSpend, row.currency, new Money.Decimal(row.partial_spend))
    }
  }
  const totals = new Map<string, { component: string; unit: string; quantity: Money.Decimal; partialCalls: number; unpricedCalls: number }>()
  for (const row of components) {
    const entry = { component: row.component, unit: row.unit, quantity: new Money.Decimal(row.quantity), partialCalls: Number(row.partial_calls), unpricedCalls: Number(row.unpriced_calls) }
    modelOf(row.provider, row.model).components.push(component(entry))
    const key = `${row.component}\u0000${row.unit}`
    const total = totals.get(key)
    if (total === undefined) totals.set(key, { ...entry })
    else {
      total.quantity = total.quantity.plus(entry.quantity)
      total.partialCalls += entry.partialCalls
      total.unpricedCalls += entry.unpricedCalls
    }
  }
  const order = byCalls<AtRiskComponent>((c) => `${c.component}\u0000${c.unit}`)
  return {
    partialCalls,
    unpricedCalls,
    partialSpend,
    components: [...totals.values()].map(component).sort(order),
    models: [...models.values()]
      .map((m) => ({ ...m, components: [...m.components].sort(order) }))
      .sort(byCalls<AtRiskModel>((m) => `${m.provider}\u0000${m.model}`))
  }
}

const sourceList = (query: CostAtRiskQuery) =>
  (query.sources ?? ["partial", "unpriced"]).map((s) => (s === "partial" ? "'partial'" : "'unpriced'")).join(", ")

export class CostAtRisk extends Context.Service<CostAtRisk, CostAtRiskService>()("@tally/store/CostAtRisk") {
  static readonly layer: Layer.Layer<CostAtRisk, never, Database> = Layer.effect(
    CostAtRisk,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const fromLedger = Effect.fnUntraced(function*(tenantId: string, query: CostAtRiskQuery) {
        const params = new Params()
        const tenant = params.add(tenantId)
        const from = params.add(DateTime.toDateUtc(query.from))
        const to = params.add(DateTime.toDateUtc(query.to))
        const filters = filterOnLedger(query.filter, params)
        if (query.ingestedBy !== undefined) filters.push(`ingested_at <= ${params.add(DateTime.toDateUtc(query.ingestedBy))}`)
        const rows = `(SELECT * FROM tally.usage_ledger
          WHERE tenant_id = ${tenant} AND occurred_at >= ${from} AND occurred_at < ${to}
            AND cost_source IN (${sourceList(query)})${filters.map((f) => ` AND ${f}`).join("")}) AS r`
        const componentText = `SELECT provider, model, component, unit, sum(quantity)::text AS quantity,
            count(DISTINCT request_id) FILTER (WHERE cost_source = 'partial') AS partial_calls,
            count(DISTINCT request_id) FILTER (WHERE cost_source = 'unpriced') AS unpriced_calls
          FROM (${componentsSql(rows)}) AS c
          GROUP BY provider, model, component, unit
          ORDER BY provider, model, component, unit`
        const callText = `SELECT provider, model, coalesce(currency, '') AS currency,
            count(*) FILTER (WHERE cost_source = 'partial') AS partial_calls,
            count(*) FILTER (WHERE cost_source = 'unpriced') AS unpriced_calls,
            (sum(total) FILTER (WHERE cost_source = 'partial'))::text AS partial_spend
          FROM ${rows}
          GROUP BY provider, model, coalesce(currency, '')
          ORDER BY provider, model, 3`
        const [components, calls] = yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* jitOff(sql)
            const components = yield* sql.unsafe<ComponentRow>(componentText, params.values)
            const calls = yield* sql.unsafe<CallRow>(callText, params.values)
            return [components, calls] as const
          })
        )
        return assemble(components, calls)
      })

      /**
       * The report from the daily at-risk summary (0028), or undefined when it cannot stand for the
       * ledger: the eligibility is checked in the statement that reads the rows (one snapshot). As of
       * an instant, the two probes of 0023's readers (usage recorded or repriced after it) reach only
       * such rows through the (tenant, ingested_at) and (tenant, repriced_at) indexes.
       */
      const summaryReport = Effect.fn("CostAtRisk.summaryReport")(function*(tenantId: string, query: CostAtRiskQuery) {
        if (!summaryAnswers(query.filter)) return undefined
        const params = new Params()
        const tenant = params.add(tenantId)
        const from = params.add(DateTime.toDateUtc(query.from))
        const to = params.add(DateTime.toDateUtc(query.to))
        const ingestedBy = query.ingestedBy
        let late = ""
        if (ingestedBy !== undefined) {
          const asOf = params.add(DateTime.toDateUtc(ingestedBy))
          late = `
            AND NOT EXISTS (
              SELECT 1 FROM tally.usage_ledger
              WHERE tenant_id = ${tenant} AND occurred_at >= ${from} AND occurred_at < ${to} AND ingested_at > ${asOf}
            )
            AND NOT EXISTS (
              SELECT 1 FROM tally.usage_repricings
              WHERE tenant_id = ${tenant} AND occurred_at >= ${from} AND occurred_at < ${to} AND repriced_at > ${asOf}
            )`
        }
        let filters = ""
        for (const d of summaryFilterColumns) {
          const values = query.filter?.[d]
          if (values !== undefined) filters += ` AND d.${d} = ANY(${params.add([...values])}::text[])`
        }
        const text = `WITH ok AS (
            SELECT t.time_zone AS zone,
              date_trunc('day', ${from}::timestamptz, t.time_zone) = ${from}::timestamptz
              AND date_trunc('day', ${to}::timestamptz, t.time_zone) = ${to}::timestamptz${late}
              AND NOT EXISTS (
                SELECT 1 FROM tally.usage_at_risk_daily
                WHERE tenant_id = ${tenant} AND zone <> t.time_zone
                  AND day > ${from}::timestamptz - interval '2 days' AND day < ${to}::timestamptz + interval '2 days'
              ) AS ok
            FROM tally.tenants t WHERE t.id = ${tenant}
          ), d AS (
            SELECT d.* FROM tally.usage_at_risk_daily d, ok
            WHERE ok.ok AND d.tenant_id = ${tenant} AND d.zone = ok.zone AND d.day >= ${from} AND d.day < ${to}
              AND d.cost_source IN (${sourceList(query)}) AND d.calls <> 0${filters}
          ), report_rows AS (
            SELECT provider, model, component, unit, sum(quantity)::text AS quantity,
              coalesce(sum(calls) FILTER (WHERE cost_source = 'partial'), 0)::text AS partial_calls,
              coalesce(sum(calls) FILTER (WHERE cost_source = 'unpriced'), 0)::text AS unpriced_calls,
              NULL::text AS currency, NULL::text AS partial_spend
            FROM d WHERE component <> ''
            GROUP BY provider, model, component, unit
            UNION ALL
            SELECT provider, model, '', '', NULL,
              coalesce(sum(calls) FILTER (WHERE cost_source = 'partial'), 0)::text,
              coalesce(sum(calls) FILTER (WHERE cost_source = 'unpriced'), 0)::text,
              currency, (sum(amount) FILTER (WHERE cost_source = 'partial'))::text
            FROM d WHERE component = ''
            GROUP BY provider, model, currency
          )
          SELECT ok.ok, report_rows.* FROM ok LEFT JOIN report_rows ON true
          ORDER BY provider, model, component, unit, currency`
        const rows = yield* db.withTenant(
          tenantId,
          Effect.andThen(
            // Custom plans: a generic plan cannot see that few rows follow the instant (0023's reads).
            sql`SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)`,
            sql.unsafe<SummaryRow>(text, params.values)
          )
        )
        if (rows[0]?.ok !== true) return undefined
        const present = rows.filter((row): row is SummaryRow & { readonly provider: string } => row.provider !== null)
        return assemble(present.filter((row) => row.component !== ""), present.filter((row) => row.component === ""))
      })

      const report = Effect.fn("CostAtRisk.report")(function*(tenantId: string, query: CostAtRiskQuery) {
        const summary = query.source === "ledger" ? undefined : yield* summaryReport(tenantId, query)
        return summary ?? (yield* fromLedger(tenantId, query))
      })

      return CostAtRisk.of({ report, summaryReport })
    })
  )
}
