/**
 * The FOCUS 1.3 Contract Commitment dataset of a tenant for a period, and the Purchase rows that go
 * with it, assembled from the stores: the tenant's commitments (provisioned throughput, committed
 * spend) and its customers' credit grants in a currency.
 *
 * - A commitment active in `[from, to)` is one dataset row (`commitment:<name>`, the id usage rows
 *   name in ContractApplied); its period and cost are the part inside `[from, to)` (cost: the fee
 *   over that part, `Commitment.feeOver`). Provisioned throughput also gives a Purchase row: its fee
 *   over the part, billed by the provider (Recurring, in Hours or Months).
 * - A credit grant in a currency, not voided and active in `[from, to)`, is one row
 *   (`credit:<grant id>`, Spend, "Prepaid credits", cost the amount granted); one granted inside
 *   `[from, to)` also gives a Purchase row (One-Time, a pack sold by the tenant to the customer,
 *   EffectiveCost 0: its cost shows on the usage it is drawn by). An open-ended grant or commitment
 *   ends, in the dataset, at `to`. Token grants carry no price and are left out.
 */
import { Commitment, CostAllocation, Money, type Tenant } from "@tally/core"
import { Commitments, Credits, Tenants } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type { SqlError } from "effect/sql/SqlError"

type Focus = typeof CostAllocation.Focus
type ContractCommitment = CostAllocation.Focus.ContractCommitment
type Purchase = CostAllocation.Focus.Purchase

export interface Assembled {
  readonly tenant: { readonly id: string; readonly name: string }
  readonly commitments: ReadonlyArray<ContractCommitment>
  readonly purchases: ReadonlyArray<Purchase>
}

const ms = DateTime.toEpochMillis
const later = (a: DateTime.Utc, b: DateTime.Utc) => ms(a) >= ms(b) ? a : b
const earlier = (a: DateTime.Utc, b: DateTime.Utc) => ms(a) <= ms(b) ? a : b

const focus: Focus = CostAllocation.Focus

/** Reads the commitments and credit grants of the tenant active in `[from, to)` (see the module comment). */
export const assemble: (
  tenantId: string,
  from: DateTime.Utc,
  to: DateTime.Utc
) => Effect.Effect<
  Assembled,
  Tenant.TenantNotFound | SqlError,
  Tenants.Tenants | Commitments.Commitments | Credits.Credits
> = Effect.fn("FocusCommitments.assemble")(function*(tenantId: string, from: DateTime.Utc, to: DateTime.Utc) {
  const tenant = yield* Tenants.Tenants.use((t) => t.get(tenantId))
  const commitments: Array<ContractCommitment> = []
  const purchases: Array<Purchase> = []
  const stored = yield* Commitments.Commitments.use((s) => s.list(tenantId, { includeArchived: true }))
  for (const c of stored) {
    const end = c.endsAt ?? to
    if (ms(c.startsAt) >= ms(to) || ms(end) <= ms(from)) continue
    const start = later(c.startsAt, from)
    const stop = earlier(end, to)
    const cost = Commitment.feeOver(c, ms(start), ms(stop))
    const id = focus.commitmentId(c.name)
    const provisioned = c.kind === "provisioned" && c.fee !== null && c.feePeriod !== null && !c.fee.isZero()
    const unit = c.feePeriod === "hour" ? "Hours" : "Months"
    const quantity = provisioned ? cost.div(c.fee!) : null
    const commitment: ContractCommitment = {
      contractId: id,
      commitmentId: id,
      category: c.kind === "provisioned" ? "Usage" : "Spend",
      type: c.kind === "provisioned" ? "Provisioned throughput" : "Committed spend",
      description: c.kind === "provisioned"
        ? `${c.model ?? c.deployment ?? "any model"} capacity, ${Money.format(c.fee ?? Money.ZERO)} ${c.currency} per ${c.feePeriod ?? "hour"}`
        : `${Money.format(c.amount ?? Money.ZERO)} ${c.currency} per month`,
      periodStart: start,
      periodEnd: stop,
      contractPeriodStart: c.startsAt,
      contractPeriodEnd: end,
      cost,
      currency: c.currency,
      quantity: c.kind === "provisioned" ? quantity : null,
      unit: c.kind === "provisioned" ? unit : null
    }
    commitments.push(commitment)
    if (provisioned && quantity !== null && !cost.isZero()) {
      purchases.push({
        commitment,
        chargePeriodStart: start,
        chargePeriodEnd: stop,
        frequency: "Recurring",
        owner: null,
        dimension: "customer",
        currency: c.currency,
        unitPrice: c.fee!,
        quantity,
        unit,
        tokens: null,
        coversFuture: false,
        seller: c.provider ?? tenant.name,
        description: `${c.name} provisioned throughput, ${Money.format(quantity)} ${c.feePeriod}${quantity.equals(1) ? "" : "s"}`
      })
    }
  }
  const grants = yield* Credits.Credits.use((s) => s.list(tenantId))
  for (const g of grants) {
    if (g.unit === "tokens") continue
    const end = g.expiresAt ?? to
    if (ms(g.effectiveAt) >= ms(to) || ms(end) <= ms(from)) continue
    const id = `credit:${g.id}`
    const description = `${g.account.id} ${g.note ?? "credit grant"}`
    const commitment: ContractCommitment = {
      contractId: id,
      commitmentId: id,
      category: "Spend",
      type: "Prepaid credits",
      description,
      periodStart: later(g.effectiveAt, from),
      periodEnd: earlier(end, to),
      contractPeriodStart: g.effectiveAt,
      contractPeriodEnd: end,
      cost: g.amount,
      currency: g.unit,
      quantity: null,
      unit: null
    }
    commitments.push(commitment)
    if (ms(g.effectiveAt) >= ms(from)) {
      purchases.push({
        commitment,
        chargePeriodStart: g.effectiveAt,
        chargePeriodEnd: DateTime.add(g.effectiveAt, { days: 1 }),
        frequency: "One-Time",
        owner: g.account.id,
        dimension: g.account.kind,
        currency: g.unit,
        unitPrice: g.amount,
        quantity: Money.ONE,
        unit: "Packs",
        tokens: null,
        coversFuture: true,
        seller: tenant.name,
        description: `${description}, ${Money.format(g.amount)} ${g.unit} of credit`
      })
    }
  }
  return { tenant: { id: tenant.id, name: tenant.name }, commitments, purchases } satisfies Assembled
})

/** The Contract Commitment dataset as CSV (FOCUS 1.3). */
export const contractCommitmentsCsv = (assembled: Assembled): string =>
  CostAllocation.Csv.contractCommitments(focus.contractCommitmentRows(assembled.commitments))

/** The Purchase rows as a FOCUS CSV (1.3 unless asked). */
export const purchasesCsv = (assembled: Assembled, version: CostAllocation.Focus.Version = focus.defaultVersion): string =>
  CostAllocation.Csv.focus(focus.purchaseRows(assembled.tenant, assembled.purchases, { version }), version)
