/**
 * Exchange rates and conversions (migration 0027): rates are inserted and read, never changed;
 * each conversion into a reporting currency is recorded with the rate ids it used. Also the daily
 * spend of a period by currency (and owner), which conversions convert day by day.
 */
import type { CostAllocation, Fx} from "@tally/core";
import { Money } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"

interface RateRow {
  readonly id: string
  readonly base: string
  readonly quote: string
  readonly rate_date: string
  readonly rate: string
  readonly source: string
  readonly observed_at: Date
  readonly recorded_at: Date
  readonly recorded_by: string
}

const rateColumns = `id, base, quote, to_char(rate_date, 'YYYY-MM-DD') AS rate_date, rate::text AS rate, source,
  observed_at, recorded_at, recorded_by`

const fromRow = (row: RateRow): Fx.Rate => ({
  id: row.id,
  base: row.base,
  quote: row.quote,
  date: row.rate_date,
  rate: new Money.Decimal(row.rate),
  source: row.source,
  observedAt: row.observed_at.toISOString(),
  recordedAt: row.recorded_at.toISOString(),
  recordedBy: row.recorded_by
})

/** A recorded conversion: what was converted, as of when, at which rates, to what total. */
export interface Conversion {
  readonly id: string
  readonly subject: string
  readonly reportingCurrency: string
  readonly asOf: string
  readonly total: Money.Decimal
  readonly days: ReadonlyArray<ConversionDay>
  readonly rateIds: ReadonlyArray<string>
  readonly createdAt: string
  readonly createdBy: string
}

/** One day, currency and owner of a conversion, with the original and converted amounts. */
export interface ConversionDay {
  readonly date: string
  readonly currency: string
  readonly owner: string | null
  readonly amount: string
  readonly rateId: string | null
  readonly rate: string | null
  readonly converted: string
}

interface ConversionRow {
  readonly id: string
  readonly subject: string
  readonly reporting_currency: string
  readonly as_of: Date
  readonly total: string
  readonly days: ReadonlyArray<ConversionDay>
  readonly rate_ids: ReadonlyArray<string>
  readonly created_at: Date
  readonly created_by: string
}

const conversionColumns = "id, subject, reporting_currency, as_of, total::text AS total, days, rate_ids::text[] AS rate_ids, created_at, created_by"

const conversionFromRow = (row: ConversionRow): Conversion => ({
  id: row.id,
  subject: row.subject,
  reportingCurrency: row.reporting_currency,
  asOf: row.as_of.toISOString(),
  total: new Money.Decimal(row.total),
  days: row.days,
  rateIds: row.rate_ids,
  createdAt: row.created_at.toISOString(),
  createdBy: row.created_by
})

/** Ledger column of each field an owner dimension can name. */
const fieldColumns = {
  ...LedgerRow.labelColumns,
  model: "model",
  provider: "provider"
} as const satisfies Record<CostAllocation.Dimension.Field, string>

/** Rates of one pair and range of days; every field optional. */
export interface RateFilter {
  readonly base?: string | undefined
  readonly quote?: string | undefined
  readonly from?: string | undefined
  readonly to?: string | undefined
}

export interface DailySpend {
  readonly date: string
  readonly currency: string
  readonly owner: string | null
  readonly amount: Money.Decimal
}

export interface ExchangeRatesService {
  /** Adds rates (all in one transaction) and returns them as stored. */
  readonly add: (tenantId: string, rates: ReadonlyArray<Fx.RateInput>, recordedBy: string) => Effect.Effect<ReadonlyArray<Fx.Rate>, SqlError>
  /** Rates, oldest day first then in recording order; filtered by pair and days when given. */
  readonly list: (tenantId: string, filter?: RateFilter) => Effect.Effect<ReadonlyArray<Fx.Rate>, SqlError>
  /**
   * Priced spend of calls that occurred in [from, to), ingested by `asOf`, summed by UTC day,
   * currency and (with a dimension) owner.
   */
  readonly dailySpend: (
    tenantId: string,
    query: {
      readonly from: DateTime.Utc
      readonly to: DateTime.Utc
      readonly asOf: DateTime.Utc
      readonly dimension?: CostAllocation.Dimension.Dimension | undefined
    }
  ) => Effect.Effect<ReadonlyArray<DailySpend>, SqlError>
  readonly recordConversion: (
    tenantId: string,
    conversion: Omit<Conversion, "id" | "createdAt">
  ) => Effect.Effect<Conversion, SqlError>
  /** Conversions of a subject (all when undefined), oldest first. */
  readonly conversions: (tenantId: string, subject?: string) => Effect.Effect<ReadonlyArray<Conversion>, SqlError>
}

export class ExchangeRates extends Context.Service<ExchangeRates, ExchangeRatesService>()("@tally/store/ExchangeRates") {
  static readonly layer: Layer.Layer<ExchangeRates, never, Database> = Layer.effect(
    ExchangeRates,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const add = Effect.fn("ExchangeRates.add")(function*(tenantId: string, rates: ReadonlyArray<Fx.RateInput>, recordedBy: string) {
        return yield* db.withTenant(
          tenantId,
          Effect.forEach(rates, (r) =>
            sql.unsafe<RateRow>(
              `INSERT INTO tally.exchange_rates (tenant_id, base, quote, rate_date, rate, source, observed_at, recorded_by)
                VALUES ($1, $2, $3, $4::date, $5::numeric, $6, coalesce($7::timestamptz, $4::date::timestamp AT TIME ZONE 'UTC'), $8)
                RETURNING ${rateColumns}`,
              [tenantId, r.base, r.quote, r.date, Money.format(r.rate), r.source, r.observedAt ?? null, recordedBy]
            ).pipe(Effect.map((rows) => fromRow(rows[0]!))))
        )
      })

      const list = Effect.fn("ExchangeRates.list")(function*(tenantId: string, filter: RateFilter = {}) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<RateRow>(
            `SELECT ${rateColumns} FROM tally.exchange_rates
              WHERE ($1::text IS NULL OR base = $1) AND ($2::text IS NULL OR quote = $2)
                AND ($3::date IS NULL OR rate_date >= $3::date) AND ($4::date IS NULL OR rate_date <= $4::date)
              ORDER BY rate_date, base, quote, recorded_at, id`,
            [filter.base ?? null, filter.quote ?? null, filter.from ?? null, filter.to ?? null]
          )
        )
        return rows.map(fromRow)
      })

      const dailySpend = Effect.fn("ExchangeRates.dailySpend")(function*(
        tenantId: string,
        query: {
          readonly from: DateTime.Utc
          readonly to: DateTime.Utc
          readonly asOf: DateTime.Utc
          readonly dimension?: CostAllocation.Dimension.Dimension | undefined
        }
      ) {
        const params: Array<unknown> = [tenantId, DateTime.toDateUtc(query.from), DateTime.toDateUtc(query.to), DateTime.toDateUtc(query.asOf)]
        const d = query.dimension
        let owner = "NULL::text"
        if (d !== undefined) {
          if (d.kind === "tag") {
            params.push(d.key)
            owner = `nullif(tags ->> $${params.length}, '')`
          } else owner = `nullif(${fieldColumns[d.name]}, '')`
        }
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ day: string; currency: string; owner: string | null; amount: string }>(
            `SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, currency, ${owner} AS owner,
                sum(total)::text AS amount
              FROM tally.usage_ledger
              WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND ingested_at <= $4
                AND cost_source <> 'unpriced' AND currency IS NOT NULL AND total IS NOT NULL
              GROUP BY 1, 2, 3
              ORDER BY 1, 2, 3 NULLS FIRST`,
            params
          )
        )
        return rows.map((r): DailySpend => ({ date: r.day, currency: r.currency, owner: r.owner, amount: new Money.Decimal(r.amount) }))
      })

      const recordConversion = Effect.fn("ExchangeRates.recordConversion")(function*(
        tenantId: string,
        c: Omit<Conversion, "id" | "createdAt">
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<ConversionRow>(
            `INSERT INTO tally.fx_conversions (tenant_id, subject, reporting_currency, as_of, total, days, rate_ids, created_by)
              VALUES ($1, $2, $3, $4::timestamptz, $5::numeric, $6::jsonb, $7::uuid[], $8)
              RETURNING ${conversionColumns}`,
            [tenantId, c.subject, c.reportingCurrency, c.asOf, Money.format(c.total), JSON.stringify(c.days), `{${c.rateIds.join(",")}}`, c.createdBy]
          )
        )
        return conversionFromRow(rows[0]!)
      })

      const conversions = Effect.fn("ExchangeRates.conversions")(function*(tenantId: string, subject?: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<ConversionRow>(
            `SELECT ${conversionColumns} FROM tally.fx_conversions
              WHERE ($1::text IS NULL OR subject = $1) ORDER BY created_at, id`,
            [subject ?? null]
          )
        )
        return rows.map(conversionFromRow)
      })

      return ExchangeRates.of({ add, list, dailySpend, recordConversion, conversions })
    })
  )
}
