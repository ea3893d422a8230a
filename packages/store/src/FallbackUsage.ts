/**
 * Which recorded calls were priced by a fallback rate: cost lines whose conditions name one
 * (`<bucket>:priced-at-<from>-rate`, `reasoning:priced-at-output-rate`, `cached-input-discount:…`,
 * `batch:no-discount-in-snapshot`, `service-tier:<tier>(no-multiplier-in-snapshot)`), grouped by
 * model, definition, snapshot, component and condition. Read in the tenant's scope from the
 * ledger's stored breakdowns; `tally catalog audit --tenant` reports it.
 */
import { Money } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"

export interface FallbackGroup {
  readonly provider: string
  readonly model: string
  readonly definitionId: string | null
  readonly snapshotId: string | null
  readonly component: string
  readonly condition: string
  readonly calls: number
  /** Quantity priced by the fallback (tokens, or units), exact. */
  readonly quantity: string
  /** Amount of those lines, exact, in `currency`. */
  readonly amount: string
  readonly currency: string
}

export interface FallbackUsageService {
  readonly byCondition: (
    tenantId: string,
    range: { readonly from: DateTime.Utc; readonly to: DateTime.Utc }
  ) => Effect.Effect<ReadonlyArray<FallbackGroup>, SqlError>
}

interface Row {
  readonly provider: string
  readonly model: string
  readonly definition_id: string | null
  readonly snapshot_id: string | null
  readonly component: string
  readonly condition: string
  readonly calls: string | number
  readonly quantity: string
  readonly amount: string
  readonly currency: string
}

export class FallbackUsage extends Context.Service<FallbackUsage, FallbackUsageService>()("@tally/store/FallbackUsage") {
  static readonly layer: Layer.Layer<FallbackUsage, never, Database> = Layer.effect(
    FallbackUsage,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql
      const byCondition = Effect.fn("FallbackUsage.byCondition")(function*(
        tenantId: string,
        range: { readonly from: DateTime.Utc; readonly to: DateTime.Utc }
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<Row>`SELECT u.provider, u.model, u.definition_id, u.snapshot_id,
                l.value ->> 'component' AS component, c.value AS condition,
                count(DISTINCT u.request_id) AS calls,
                sum((l.value ->> 'quantity')::numeric)::text AS quantity,
                sum((l.value ->> 'amount')::numeric)::text AS amount,
                u.cost_breakdown ->> 'currency' AS currency
              FROM tally.usage_ledger u
                CROSS JOIN LATERAL jsonb_array_elements(u.cost_breakdown -> 'lines') AS l(value)
                CROSS JOIN LATERAL jsonb_array_elements_text(l.value -> 'conditions') AS c(value)
              WHERE u.tenant_id = ${tenantId}
                AND u.occurred_at >= ${DateTime.toDateUtc(range.from)} AND u.occurred_at < ${DateTime.toDateUtc(range.to)}
                AND u.cost_breakdown IS NOT NULL
                AND (c.value LIKE '%:priced-at-%' OR c.value LIKE 'cached-input-discount:%'
                  OR c.value LIKE '%(no-multiplier-in-snapshot)' OR c.value = 'batch:no-discount-in-snapshot')
              GROUP BY u.provider, u.model, u.definition_id, u.snapshot_id, l.value ->> 'component', c.value, u.cost_breakdown ->> 'currency'
              ORDER BY count(DISTINCT u.request_id) DESC, u.provider, u.model, l.value ->> 'component', c.value`
        )
        return rows.map((r): FallbackGroup => ({
          provider: r.provider,
          model: r.model,
          definitionId: r.definition_id,
          snapshotId: r.snapshot_id,
          component: r.component,
          condition: r.condition,
          calls: Number(r.calls),
          quantity: Money.format(new Money.Decimal(r.quantity)),
          amount: Money.format(new Money.Decimal(r.amount)),
          currency: r.currency
        }))
      })
      return FallbackUsage.of({ byCondition })
    })
  )
}
