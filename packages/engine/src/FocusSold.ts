/**
 * The resale side of FOCUS: what a tenant charges its customers, as rows (`Focus.soldRows`), for
 * a period, streamed page by page like the cost export (`Chargeback.usage`).
 *
 * - One row per price line of each priced call (`tally.usage_prices`), the tenant as service
 *   provider and invoice issuer. Calls without a sale price have no row; they are counted.
 * - What the customer's credit packs paid of a call (its drawdowns by price, in the call's price
 *   currency) is in ContractApplied (`credit:<grant id>`) and lowers its BilledCost, not its
 *   EffectiveCost.
 * - Before the calls, the Purchase rows of the credit packs the customers bought in the period
 *   (`FocusCommitments.assemble`), on the customer's billing account: their BilledCost is what the
 *   drawdowns took off the usage rows, so BilledCost sums to what the customers pay.
 * - FOCUS 1.2 has no ContractApplied, so it cannot say that a pack paid part of a charge: its rows
 *   bill each call's full price and leave the packs' purchases out (a pack is billed once, by the
 *   usage it pays for; BilledCost = EffectiveCost on every row).
 * - With `convert`, amounts in another currency than the tenant's are converted at the rate of the
 *   row's UTC day (a pack: the day it takes effect); a day without a rate fails the export before
 *   anything is streamed. The original amounts stay in the PricingCurrency columns.
 */
import { CostAllocation, Fx, Money, type Tenant } from "@tally/core"
import type { Commitments, Credits} from "@tally/store";
import { ExchangeRates, SalePrices, Tenants } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import * as FocusCommitments from "./FocusCommitments.ts"

const { Csv, Focus } = CostAllocation
type InvalidChargeback = CostAllocation.InvalidChargeback

export interface SoldQuery {
  readonly from: DateTime.Utc
  /** Exclusive. */
  readonly to: DateTime.Utc
  /** Only these customers' calls and packs; every customer's when absent. */
  readonly customers?: ReadonlyArray<string> | undefined
  /** FOCUS version of the rows; default 1.3. */
  readonly version?: CostAllocation.Focus.Version | undefined
  /** Converts amounts in other currencies into the tenant's at the rate of their day. */
  readonly convert?: boolean | undefined
  /** Calls per page (and per transaction); default 2000. */
  readonly pageSize?: number | undefined
}

export interface SoldExport {
  /** Calls of the period (of the customers asked) without a sale price: they have no row. */
  readonly unpriced: number
  /** The CSV: header, pack purchases, then the calls' rows page by page. */
  readonly csv: Stream.Stream<string, SqlError>
}

const invalid = (field: string, message: string) => new CostAllocation.InvalidChargeback({ field, message })

/** The sold rows of the period as FOCUS CSV, streamed (see the module comment). */
export const stream: (
  tenantId: string,
  query: SoldQuery
) => Effect.Effect<
  SoldExport,
  InvalidChargeback | Tenant.TenantNotFound | SqlError,
  Tenants.Tenants | SalePrices.SalePrices | ExchangeRates.ExchangeRates | Commitments.Commitments | Credits.Credits
> = Effect.fn("FocusSold.stream")(function*(tenantId: string, query: SoldQuery) {
  if (DateTime.toEpochMillis(query.to) <= DateTime.toEpochMillis(query.from)) return yield* invalid("to", "to: expected an instant after from")
  const customers = query.customers === undefined ? undefined : [...new Set(query.customers)]
  if (customers?.some((c) => c === "") === true) return yield* invalid("customer", "customer: expected a non-empty name")
  const version = query.version ?? Focus.defaultVersion
  const pageSize = query.pageSize ?? 2000
  const prices = yield* SalePrices.SalePrices
  const tenant = yield* Tenants.Tenants.use((t) => t.get(tenantId))
  const filter = { from: query.from, to: query.to, customers }
  const summary = yield* prices.soldSummary(tenantId, filter)
  const assembled = yield* FocusCommitments.assemble(tenantId, query.from, query.to)
  const packs = version === "1.2" ? [] : assembled.purchases.filter((p) =>
    p.commitment.category === "Spend" && p.dimension === "customer" && p.owner !== null && (customers === undefined || customers.includes(p.owner))
  )

  // The rate of each (currency, day) the export converts, read once; a missing one fails here.
  const rates = new Map<string, CostAllocation.Focus.Conversion>()
  if (query.convert === true) {
    const days = [
      ...summary.days,
      ...packs.map((p) => ({ date: Fx.dayOf(DateTime.toDateUtc(p.chargePeriodStart)), currency: p.currency }))
    ].filter((d) => d.currency !== tenant.currency)
    if (days.length > 0) {
      const sorted = days.map((d) => d.date).sort()
      const asOf = DateTime.formatIso(yield* DateTime.now)
      const known = yield* ExchangeRates.ExchangeRates.use((fx) => fx.list(tenantId, { quote: tenant.currency, from: sorted[0], to: sorted[sorted.length - 1] }))
      const converted = Fx.convertDays(days.map((d) => ({ ...d, amount: Money.ZERO })), tenant.currency, known, asOf)
      if (converted instanceof Fx.RateMissing) return yield* invalid("convert", `convert: ${converted.message}`)
      for (const day of converted) {
        if (day.rate === undefined) continue
        rates.set(`${day.currency}/${day.date}`, { from: day.currency, to: tenant.currency, rate: day.rate.rate, rateId: day.rate.id, date: day.date })
      }
    }
  }
  const conversionOf = (currency: string, at: DateTime.Utc) => rates.get(`${currency}/${Fx.dayOf(DateTime.toDateUtc(at))}`)

  const head = Csv.focusHeader(version) +
    packs.map((p) =>
      Focus.soldPurchaseRows(tenant, [p], { version, conversion: conversionOf(p.currency, p.chargePeriodStart) })
        .map((row) => Csv.focusRecord(row, version)).join("")
    ).join("")

  type Cursor = { readonly occurredAt: DateTime.Utc; readonly requestId: string } | null
  const pages = Stream.paginate<Cursor, string, SqlError>(null, (after) =>
    prices.soldPage(tenantId, { ...filter, after, limit: pageSize }).pipe(
      Effect.map((sold) => {
        const text = sold.map((p) => {
          // A priced call has a currency (a CHECK of usage_prices).
          const currency = p.currency ?? ""
          const applied = p.draws.map((d): CostAllocation.Focus.Applied => {
            const id = `credit:${d.grantId}`
            return { contractId: id, commitmentId: id, cost: d.amount, quantity: null, unit: null, prepaid: true }
          })
          const rows = Focus.soldRows(tenant, { ...p, currency }, { version, conversion: conversionOf(currency, p.occurredAt), applied })
          return rows.map((row) => Csv.focusRecord(row, version)).join("")
        }).join("")
        const last = sold[sold.length - 1]
        return [
          text === "" ? [] : [text],
          sold.length < pageSize || last === undefined ? Option.none() : Option.some<Cursor>({ occurredAt: last.occurredAt, requestId: last.requestId })
        ] as const
      })
    ))
  return { unpriced: summary.unpriced, csv: Stream.concat(Stream.succeed(head), pages) } satisfies SoldExport
})
