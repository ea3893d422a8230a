/**
 * Currencies: exchange rates entered or imported as dated data, and conversions of a period's
 * spend into the tenant's reporting currency (its `currency`) at the rate of each call's day
 * (UTC), recorded with the rates they used. A rate added later never changes a recorded
 * conversion: converting again records a new one (see core `Fx` for the rule and the rounding).
 */
import { CostAllocation, Fx, Money, type Tenant } from "@tally/core"
import type { Database} from "@tally/store";
import { ExchangeRates, Tenants } from "@tally/store"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type { SqlError } from "effect/sql/SqlError"

/** What one owner spent in the period: the originals by currency, and their sum in the reporting currency. */
export interface OwnerConversion {
  readonly owner: string | null
  readonly original: ReadonlyArray<{ readonly currency: string; readonly amount: Money.Decimal }>
  readonly converted: Money.Decimal
}

export interface SpendConversion {
  readonly conversion: ExchangeRates.Conversion
  readonly owners: ReadonlyArray<OwnerConversion>
}

export interface ConvertQuery {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  /** The ledger and the rates as they were at this instant; now when absent. */
  readonly asOf?: DateTime.Utc | undefined
  /** Owner dimension (`team`, `customer`, `tag:<key>`, ...): converted spend by owner. */
  readonly dimension?: string | undefined
  readonly by?: string | undefined
}

export interface CurrenciesService {
  readonly add: (tenantId: string, rates: ReadonlyArray<unknown>, by?: string) => Effect.Effect<ReadonlyArray<Fx.Rate>, Fx.InvalidRate | Tenant.TenantNotFound | SqlError>
  readonly import: (
    tenantId: string,
    text: string,
    format: "csv" | "json",
    options?: { readonly source?: string | undefined; readonly by?: string | undefined }
  ) => Effect.Effect<ReadonlyArray<Fx.Rate>, Fx.InvalidRate | Tenant.TenantNotFound | SqlError>
  readonly rates: (tenantId: string, filter?: ExchangeRates.RateFilter) => Effect.Effect<ReadonlyArray<Fx.Rate>, SqlError>
  /** Converts a period's spend into the reporting currency, records the conversion and returns it. */
  readonly convert: (
    tenantId: string,
    query: ConvertQuery
  ) => Effect.Effect<SpendConversion, Fx.RateMissing | Fx.InvalidRate | Tenant.TenantNotFound | SqlError>
  readonly conversions: (tenantId: string, subject?: string) => Effect.Effect<ReadonlyArray<ExchangeRates.Conversion>, SqlError>
}

const actorOf = (actor: string | undefined): string => {
  const trimmed = actor?.trim() ?? ""
  return trimmed === "" ? "system" : trimmed.slice(0, 200)
}

export class Currencies extends Context.Service<Currencies, CurrenciesService>()("@tally/engine/Currencies") {
  static readonly layer: Layer.Layer<Currencies, never, Database.Database> = Layer.effect(
    Currencies,
    Effect.gen(function*() {
      const store = yield* ExchangeRates.ExchangeRates
      const tenants = yield* Tenants.Tenants

      const requireTenant = (tenantId: string) => tenants.get(tenantId)

      const add = Effect.fn("Currencies.add")(function*(tenantId: string, inputs: ReadonlyArray<unknown>, by?: string) {
        yield* requireTenant(tenantId)
        if (inputs.length === 0) return yield* new Fx.InvalidRate({ field: "rates", message: "rates: expected at least one rate" })
        const valid: Array<Fx.RateInput> = []
        for (const [i, input] of inputs.entries()) {
          const rate = Fx.validate(input, inputs.length === 1 ? "" : `rates[${i}]`)
          if (rate instanceof Fx.InvalidRate) return yield* rate
          valid.push(rate)
        }
        return yield* store.add(tenantId, valid, actorOf(by))
      })

      const importRates = Effect.fn("Currencies.import")(function*(
        tenantId: string,
        text: string,
        format: "csv" | "json",
        options: { readonly source?: string | undefined; readonly by?: string | undefined } = {}
      ) {
        yield* requireTenant(tenantId)
        const parsed = Fx.parseImport(text, format, options.source)
        if (parsed instanceof Fx.InvalidRate) return yield* parsed
        return yield* store.add(tenantId, parsed, actorOf(options.by))
      })

      const convert = Effect.fn("Currencies.convert")(function*(tenantId: string, query: ConvertQuery) {
        const tenant = yield* requireTenant(tenantId)
        if (DateTime.toEpochMillis(query.to) <= DateTime.toEpochMillis(query.from)) {
          return yield* new Fx.InvalidRate({ field: "to", message: "to: expected an instant after from" })
        }
        let dimension: CostAllocation.Dimension.Dimension | undefined
        if (query.dimension !== undefined) {
          const parsed = CostAllocation.Dimension.parse(query.dimension)
          if (Result.isFailure(parsed)) return yield* new Fx.InvalidRate({ field: "dimension", message: `dimension: ${parsed.failure.message}` })
          dimension = parsed.success
        }
        const asOf = query.asOf ?? (yield* DateTime.now)
        const spend = yield* store.dailySpend(tenantId, { from: query.from, to: query.to, asOf, dimension })
        const firstDay = DateTime.formatIso(query.from).slice(0, 10)
        const lastDay = DateTime.formatIso(query.to).slice(0, 10)
        const rates = yield* store.list(tenantId, { quote: tenant.currency, from: firstDay, to: lastDay })
        const days = Fx.convertDays(spend, tenant.currency, rates, DateTime.formatIso(asOf))
        if (days instanceof Fx.RateMissing) return yield* days
        const byOwner = new Map<string | null, { original: Map<string, Money.Decimal>; converted: Money.Decimal }>()
        const recorded: Array<ExchangeRates.ConversionDay> = []
        days.forEach((day, i) => {
          const owner = spend[i]!.owner
          const entry = byOwner.get(owner) ?? { original: new Map(), converted: Money.ZERO }
          entry.original.set(day.currency, (entry.original.get(day.currency) ?? Money.ZERO).plus(day.amount))
          entry.converted = entry.converted.plus(day.converted)
          byOwner.set(owner, entry)
          recorded.push({
            date: day.date,
            currency: day.currency,
            owner,
            amount: Money.format(day.amount),
            rateId: day.rate?.id ?? null,
            rate: day.rate === undefined ? null : Money.format(day.rate.rate),
            converted: Money.format(day.converted)
          })
        })
        const subject = `spend:${DateTime.formatIso(query.from)}/${DateTime.formatIso(query.to)}${query.dimension === undefined ? "" : `:${query.dimension}`}`
        const conversion = yield* store.recordConversion(tenantId, {
          subject,
          reportingCurrency: tenant.currency,
          asOf: DateTime.formatIso(asOf),
          total: Money.sum(days.map((d) => d.converted)),
          days: recorded,
          rateIds: [...new Set(days.flatMap((d) => (d.rate === undefined ? [] : [d.rate.id])))],
          createdBy: actorOf(query.by)
        })
        const owners = [...byOwner.entries()].map(([owner, e]): OwnerConversion => ({
          owner,
          original: [...e.original.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([currency, amount]) => ({ currency, amount })),
          converted: e.converted
        }))
        return { conversion, owners } satisfies SpendConversion
      })

      return Currencies.of({
        add,
        import: importRates,
        rates: (tenantId, filter) => store.list(tenantId, filter),
        convert,
        conversions: (tenantId, subject) => store.conversions(tenantId, subject)
      })
    })
  ).pipe(Layer.provide(Layer.mergeAll(ExchangeRates.ExchangeRates.layer, Tenants.Tenants.layer)))
}
