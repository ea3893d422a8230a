/**
 * Cost at risk: what the recorded spend leaves out because calls were priced only in part
 * (`partial`: the priced lines count, the components without a rate do not) or not at all
 * (`unpriced`). Read from the ledger's partial and unpriced rows in `[from, to)` (a partial index
 * keeps the read to those rows), optionally narrowed like a usage report (`UsageQuery.UsageFilter`):
 * the number of such calls, the spend the partial calls do count, and every component no price
 * was found for with its quantity and the calls it was in, in total and per provider and model.
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
}

export const empty: CostAtRiskReport = { partialCalls: 0, unpricedCalls: 0, partialSpend: [], components: [], models: [] }

export interface CostAtRiskService {
  readonly report: (tenantId: string, query: CostAtRiskQuery) => Effect.Effect<CostAtRiskReport, SqlError>
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

export class CostAtRisk extends Context.Service<CostAtRisk, CostAtRiskService>()("@tally/store/CostAtRisk") {
  static readonly layer: Layer.Layer<CostAtRisk, never, Database> = Layer.effect(
    CostAtRisk,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const report = Effect.fn("CostAtRisk.report")(function*(tenantId: string, query: CostAtRiskQuery) {
        const params = new Params()
        const tenant = params.add(tenantId)
        const from = params.add(DateTime.toDateUtc(query.from))
        const to = params.add(DateTime.toDateUtc(query.to))
        const filters = filterOnLedger(query.filter, params)
        const rows = `(SELECT * FROM tally.usage_ledger
          WHERE tenant_id = ${tenant} AND occurred_at >= ${from} AND occurred_at < ${to}
            AND cost_source IN (${(query.sources ?? ["partial", "unpriced"]).map((s) => (s === "partial" ? "'partial'" : "'unpriced'")).join(", ")})${filters.map((f) => ` AND ${f}`).join("")}) AS r`
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
        } satisfies CostAtRiskReport
      })

      return CostAtRisk.of({ report })
    })
  )
}
