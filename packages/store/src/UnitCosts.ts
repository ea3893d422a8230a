/**
 * Unit costs: what a request, a workflow (trace), an end user, a customer and a feature cost over
 * a period, read from the ledger in one scan, and the units of one kind that cost the most. The
 * answer's shape is core's `UnitCost`.
 */
import { Money, UnitCost, UsageQuery } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { filterOnLedger, jitOff, Params } from "./internal/LedgerQuery.ts"

/** The most units `topUnits` lists. */
export const maxTopUnits = 500

export interface CostsOptions {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly filter?: UsageQuery.UsageFilter | undefined
  readonly kinds?: ReadonlyArray<UnitCost.UnitKind> | undefined
}

export interface TopUnitsOptions {
  readonly kind: Exclude<UnitCost.UnitKind, "request">
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly currency: string
  readonly limit: number
  readonly filter?: UsageQuery.UsageFilter | undefined
}

export interface UnitCostsService {
  /** Cost per request, workflow, end user, customer and feature in `[from, to)`. */
  readonly costs: (
    tenantId: string,
    options: CostsOptions
  ) => Effect.Effect<ReadonlyArray<UnitCost.UnitCost>, UsageQuery.InvalidQuery | SqlError>
  /** The units of one kind with the most spend in `currency`, most first. */
  readonly topUnits: (
    tenantId: string,
    options: TopUnitsOptions
  ) => Effect.Effect<ReadonlyArray<UnitCost.UnitCostEntry>, UsageQuery.InvalidQuery | SqlError>
}

export class UnitCosts extends Context.Service<UnitCosts, UnitCostsService>()("@tally/store/UnitCosts") {
  static readonly layer: Layer.Layer<UnitCosts, never, Database> = Layer.effect(
    UnitCosts,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const unitColumn: Record<UnitCost.UnitKind, string | null> = {
        request: null,
        workflow: "workflow",
        endUser: "end_user",
        customer: "customer",
        feature: "feature"
      }

      const costs = Effect.fn("UnitCosts.costs")(function*(
        tenantId: string,
        options: CostsOptions
      ) {
        const bad = UsageQuery.checkRange(options.from, options.to)
        if (bad !== undefined) return yield* bad
        const kinds = options.kinds ?? UnitCost.unitKinds
        const params = new Params()
        const where = [
          `tenant_id = ${params.add(tenantId)}`,
          `occurred_at >= ${params.add(DateTime.toDateUtc(options.from))}`,
          `occurred_at < ${params.add(DateTime.toDateUtc(options.to))}`,
          ...filterOnLedger(options.filter, params)
        ]
        // One scan: per kind, the distinct units and attributed calls over all currencies (the
        // grand-total grouping set), and the spend per currency (one set per currency).
        const selects = kinds.map((kind, k) => {
          const column = unitColumn[kind]
          if (column === null) {
            return `count(*) AS k${k}_requests, count(*) AS k${k}_units, coalesce(sum(total), 0)::text AS k${k}_spend,
              0 AS k${k}_unattributed, '0' AS k${k}_unattributed_spend`
          }
          const has = `${column} IS NOT NULL AND ${column} <> ''`
          return `count(*) FILTER (WHERE ${has}) AS k${k}_requests,
            count(DISTINCT ${column}) FILTER (WHERE ${has}) AS k${k}_units,
            coalesce(sum(total) FILTER (WHERE ${has}), 0)::text AS k${k}_spend,
            count(*) FILTER (WHERE NOT (${has})) AS k${k}_unattributed,
            coalesce(sum(total) FILTER (WHERE NOT (${has})), 0)::text AS k${k}_unattributed_spend`
        })
        const rows = yield* db.withTenant(
          tenantId,
          Effect.andThen(jitOff(sql), sql.unsafe<Record<string, unknown>>(
            `SELECT GROUPING(cur) AS whole, coalesce(cur, '') AS currency, ${selects.join(", ")}
              FROM (SELECT coalesce(currency, '') AS cur, * FROM tally.usage_ledger WHERE ${where.join(" AND ")}) AS l
              GROUP BY GROUPING SETS ((), (cur))`,
            params.values
          ))
        )
        return kinds.map((kind, k): UnitCost.UnitCost => {
          let units = 0
          let requests = 0
          let unattributedRequests = 0
          const spend: Array<UsageQuery.Amount> = []
          const unattributedSpend: Array<UsageQuery.Amount> = []
          for (const row of rows) {
            const currency = row.currency as string
            if (Number(row.whole) === 1) {
              units = Number(row[`k${k}_units`])
              requests = Number(row[`k${k}_requests`])
              unattributedRequests = Number(row[`k${k}_unattributed`])
              continue
            }
            // Unpriced calls have no currency and no spend.
            if (currency === "") continue
            UsageQuery.addSpend(spend, currency, new Money.Decimal(row[`k${k}_spend`] as string))
            UsageQuery.addSpend(unattributedSpend, currency, new Money.Decimal(row[`k${k}_unattributed_spend`] as string))
          }
          return { kind, units, requests, spend, unattributedRequests, unattributedSpend }
        })
      })

      const topUnits = Effect.fn("UnitCosts.topUnits")(function*(
        tenantId: string,
        options: TopUnitsOptions
      ) {
        const bad = UsageQuery.checkRange(options.from, options.to)
        if (bad !== undefined) return yield* bad
        if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > maxTopUnits) {
          return yield* UsageQuery.invalid("first", `expected 1 to ${maxTopUnits}`)
        }
        const column = unitColumn[options.kind]!
        const params = new Params()
        const where = [
          `tenant_id = ${params.add(tenantId)}`,
          `occurred_at >= ${params.add(DateTime.toDateUtc(options.from))}`,
          `occurred_at < ${params.add(DateTime.toDateUtc(options.to))}`,
          `${column} IS NOT NULL AND ${column} <> ''`,
          ...filterOnLedger(options.filter, params)
        ]
        const currency = params.add(options.currency)
        const rows = yield* db.withTenant(
          tenantId,
          Effect.andThen(jitOff(sql), sql.unsafe<{ unit: string; requests: string; spend: string }>(
            `SELECT ${column} AS unit, count(*)::text AS requests,
                coalesce(sum(total) FILTER (WHERE currency = ${currency}), 0)::text AS spend
              FROM tally.usage_ledger WHERE ${where.join(" AND ")}
              GROUP BY 1 ORDER BY sum(total) FILTER (WHERE currency = ${currency}) DESC NULLS LAST, 1
              LIMIT ${options.limit}`,
            params.values
          ))
        )
        return rows.map((row) => ({ unit: row.unit, requests: Number(row.requests), spend: new Money.Decimal(row.spend) }))
      })

      return UnitCosts.of({ costs, topUnits })
    })
  )
}
