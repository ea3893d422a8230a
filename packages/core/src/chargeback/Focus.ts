/**
 * FinOps FOCUS rows (1.3 by default, 1.2 selectable) for a chargeback run and for raw usage.
 *
 * A run's rows break each line down by what was consumed: one row per owner, provider, model,
 * pricing snapshot and priced component (token bucket, requests, images, ...), plus the owner's
 * share of every shared or unowned component. Quantities of shared components are split among
 * the owners in whole units (largest remainder), so list and contracted costs stay exact products
 * of unit price and quantity; the billed (and effective) cost of a line is its charged amount,
 * spread over its rows by largest remainder, so the rows sum exactly to the run's total.
 *
 * Corrections of final runs: in 1.2 one row each with ChargeClass "Correction" carrying the
 * difference; in 1.3 in the ledger style, a reversal of what the final run charged and the
 * corrected charge, both ChargeClass "Correction", summing to the same difference.
 *
 * 1.3 adds ServiceProviderName / HostProviderName (ProviderName and PublisherName are deprecated in
 * 1.3 but still mandatory, so both are filled), ContractApplied on charges that contract
 * commitments (prepaid credit packs, spend commitments, provisioned throughput) apply to, Purchase
 * rows for prepaid purchases and commitment fees, and the Contract Commitment dataset
 * (`contractCommitmentColumns`, `contractCommitmentRows`).
 *
 * Currency: a row can be converted into the tenant's reporting currency (`Conversion`): its
 * BillingCurrency and every cost and unit price are then in that currency (each the original
 * times the exchange rate, exact, not rounded), and PricingCurrency with the PricingCurrency*
 * columns keep the original amounts. Unconverted rows have PricingCurrency = BillingCurrency.
 *
 * Column semantics follow the FOCUS specification (see docs/chargeback.md for the column list
 * and where each value comes from). Custom columns are prefixed `x_`.
 */
import * as DateTime from "effect/DateTime"
import * as Money from "../Money.ts"
import * as UsageRecord from "../UsageRecord.ts"
import { apportion } from "./Allocate.ts"

/** The FOCUS versions an export can be written in; 1.3 unless asked otherwise. */
export const versions = ["1.3", "1.2"] as const
export type Version = typeof versions[number]
export const defaultVersion: Version = "1.3"

/** Whether `text` names a version this export writes. */
export const isVersion = (text: string): text is Version => (versions as ReadonlyArray<string>).includes(text)

/** FOCUS 1.2 columns this export fills, in the specification's (alphabetical) order. */
export const focusColumns = [
  "BilledCost",
  "BillingAccountId",
  "BillingAccountName",
  "BillingCurrency",
  "BillingPeriodEnd",
  "BillingPeriodStart",
  "ChargeCategory",
  "ChargeClass",
  "ChargeDescription",
  "ChargeFrequency",
  "ChargePeriodEnd",
  "ChargePeriodStart",
  "ConsumedQuantity",
  "ConsumedUnit",
  "ContractedCost",
  "ContractedUnitPrice",
  "EffectiveCost",
  "InvoiceId",
  "InvoiceIssuerName",
  "ListCost",
  "ListUnitPrice",
  "PricingCategory",
  "PricingCurrency",
  "PricingCurrencyContractedUnitPrice",
  "PricingCurrencyEffectiveCost",
  "PricingCurrencyListUnitPrice",
  "PricingQuantity",
  "PricingUnit",
  "ProviderName",
  "PublisherName",
  "RegionId",
  "ResourceId",
  "ServiceCategory",
  "ServiceName",
  "ServiceSubcategory",
  "SkuId",
  "SkuMeter",
  "SkuPriceId",
  "SubAccountId",
  "SubAccountName",
  "Tags"
] as const

/** FOCUS 1.3 columns: 1.2's plus ContractApplied, HostProviderName and ServiceProviderName. */
export const focus13Columns = [
  ...focusColumns.slice(0, focusColumns.indexOf("ContractedCost")),
  "ContractApplied",
  ...focusColumns.slice(focusColumns.indexOf("ContractedCost"), focusColumns.indexOf("InvoiceId")),
  "HostProviderName",
  ...focusColumns.slice(focusColumns.indexOf("InvoiceId"), focusColumns.indexOf("ServiceCategory")),
  "ServiceCategory",
  "ServiceName",
  "ServiceProviderName",
  ...focusColumns.slice(focusColumns.indexOf("ServiceSubcategory"))
] as const

/**
 * Custom columns: run lineage, the ledger rows (request ids) behind each row, tokens where the
 * specification's quantity columns must be null (purchases, corrections), and the exchange rate a
 * converted row was converted at.
 */
export const customColumns = [
  "x_RunId",
  "x_RunStatus",
  "x_LineNo",
  "x_LineKind",
  "x_Dimension",
  "x_Owner",
  "x_Allocation",
  "x_Model",
  "x_SnapshotId",
  "x_CostSource",
  "x_RequestCount",
  "x_RequestId",
  "x_CorrectedRunId",
  "x_CorrectionEntry",
  "x_TokenQuantity",
  "x_TokenUnit",
  "x_ExchangeRate",
  "x_ExchangeRateId",
  "x_ExchangeRateDate",
  "x_InputsSha256",
  "x_LedgerAsOf",
  "x_Lineage"
] as const

/** Every column of 1.2 and 1.3 (custom columns last). */
export const columns = [...focus13Columns, ...customColumns] as const
export type Column = typeof columns[number]
export type Row = { readonly [K in Column]: string | null }

/** The columns of one version, in order: FOCUS columns, then custom columns. */
export const columnsOf = (version: Version): ReadonlyArray<Column> =>
  version === "1.2" ? [...focusColumns, ...customColumns] : columns

/**
 * A conversion of a row's amounts into the reporting currency: `rate` units of `to` per unit of
 * `from`, the rate recorded for `date` (the charge's day) with its id (see core `Fx`).
 */
export interface Conversion {
  readonly from: string
  readonly to: string
  readonly rate: Money.Decimal
  readonly rateId: string
  readonly date: string
}

/** One commitment of a contract: a row of the Contract Commitment dataset (FOCUS 1.3). */
export interface ContractCommitment {
  readonly contractId: string
  readonly commitmentId: string
  /** "Spend": a predetermined amount of spend (credit packs, spend commitments); "Usage": of usage (provisioned throughput). */
  readonly category: "Spend" | "Usage"
  /** Readable type, e.g. "Prepaid credits", "Committed spend", "Provisioned throughput". */
  readonly type: string
  readonly description: string | null
  readonly periodStart: DateTime.Utc
  readonly periodEnd: DateTime.Utc
  readonly contractPeriodStart: DateTime.Utc
  readonly contractPeriodEnd: DateTime.Utc
  /** Committed amount in `currency` (Spend); null when the commitment is only a quantity. */
  readonly cost: Money.Decimal | null
  readonly currency: string | null
  /** Committed quantity in `unit` (Usage, e.g. model-unit hours); null for spend commitments. */
  readonly quantity: Money.Decimal | null
  readonly unit: string | null
}

/** How a contract commitment applied to a charge: one element of ContractApplied. */
export interface Applied {
  readonly contractId: string
  readonly commitmentId: string
  /** Amount of the charge applied to the commitment, in the charge's currency. */
  readonly cost: Money.Decimal | null
  readonly quantity: Money.Decimal | null
  readonly unit: string | null
  /**
   * Whether the applied amount was paid in advance (a credit pack's drawdown, a prepaid commitment):
   * the charge's BilledCost is then lowered by it (it was billed by the purchase), its
   * EffectiveCost is not.
   */
  readonly prepaid: boolean
}

/**
 * A prepaid purchase (a credit pack) or a commitment's fee for a period (provisioned throughput):
 * a ChargeCategory "Purchase" row whose ResourceId is the commitment it buys.
 */
export interface Purchase {
  readonly commitment: ContractCommitment
  readonly chargePeriodStart: DateTime.Utc
  readonly chargePeriodEnd: DateTime.Utc
  readonly frequency: "One-Time" | "Recurring"
  /** Who bought it (a customer or team), for SubAccount and Tags; null for the tenant itself. */
  readonly owner: string | null
  readonly dimension: string
  readonly currency: string
  readonly unitPrice: Money.Decimal
  readonly quantity: Money.Decimal
  /** Pricing unit, FOCUS unit format (e.g. "Packs", "Hours"). */
  readonly unit: string
  /** Tokens the purchase is for (token packs, reserved tokens): x_TokenQuantity, since ConsumedQuantity must be null. */
  readonly tokens: Money.Decimal | null
  /** True when it pays for future charges (credits, prepaid commitments): EffectiveCost is then 0. */
  readonly coversFuture: boolean
  /** Who sells it: the tenant for credit packs it sells, the provider for provisioned throughput. */
  readonly seller: string
  readonly description: string
}

const SERVICE_CATEGORY = "AI and Machine Learning"
const SERVICE_SUBCATEGORY = "Generative AI"

/** How a cost line's unit reads in FOCUS (Unit Format attribute: capitalized plural nouns). */
const consumedUnits: Record<string, string> = {
  token: "Tokens",
  request: "Requests",
  image: "Images",
  second: "Seconds",
  search: "Searches",
  call: "Calls"
}

/** Units per pricing unit, and the pricing unit's name, by how the snapshot writes the rate. */
const pricing = (listRatePer: string, unit: string): { readonly per: Money.Decimal; readonly name: string } => {
  const consumed = consumedUnits[unit] ?? `${unit.charAt(0).toUpperCase()}${unit.slice(1)}s`
  switch (listRatePer) {
    case "1M tokens":
      return { per: Money.MILLION, name: `1000000 ${consumed}` }
    case "1k searches":
      return { per: new Money.Decimal(1000), name: `1000 ${consumed}` }
    default:
      return { per: Money.ONE, name: consumed }
  }
}

const iso = (dt: DateTime.Utc): string => DateTime.formatIso(dt).replace(/\.000Z$/, "Z")
const fmt = (value: Money.Decimal): string => Money.format(value)

const empty: Row = Object.fromEntries(columns.map((c) => [c, null])) as unknown as Row

type MutableRow = { -readonly [K in Column]: string | null }

/** HostProviderName of charges that are deployed on no infrastructure (adjustments, purchases of credit). */
const NOT_APPLICABLE = "Not Applicable"

/** The four cost columns of a charge that stands alone (no unit price): each the amount. */
const costs = (amount: Money.Decimal) => {
  const text = fmt(amount)
  return { BilledCost: text, EffectiveCost: text, ListCost: text, ContractedCost: text } as const
}

const dec = (text: string | null): Money.Decimal | null => (text === null ? null : new Money.Decimal(text))
const times = (text: string | null, rate: Money.Decimal): string | null => (text === null ? null : fmt(new Money.Decimal(text).times(rate)))

/**
 * The last step of every row: the columns of the version (1.3's provider names), the pricing
 * currency columns, and a conversion into the reporting currency when one is given.
 */
const finish = (input: Row, version: Version, conversion?: Conversion): Row => {
  const row: MutableRow = { ...input }
  if (version === "1.3") {
    row.ServiceProviderName = row.ServiceProviderName ?? row.ProviderName
    row.HostProviderName = row.HostProviderName ?? row.ProviderName
  } else {
    row.ServiceProviderName = null
    row.HostProviderName = null
    row.ContractApplied = null
    row.x_CorrectionEntry = null
  }
  row.PricingCurrency = row.BillingCurrency
  row.PricingCurrencyEffectiveCost = row.EffectiveCost
  row.PricingCurrencyListUnitPrice = row.ListUnitPrice
  row.PricingCurrencyContractedUnitPrice = row.ContractedUnitPrice
  if (conversion !== undefined && conversion.from === row.BillingCurrency && conversion.from !== conversion.to) {
    const { rate } = conversion
    row.BillingCurrency = conversion.to
    row.BilledCost = times(row.BilledCost, rate)
    row.EffectiveCost = times(row.EffectiveCost, rate)
    row.ListCost = times(row.ListCost, rate)
    row.ContractedCost = times(row.ContractedCost, rate)
    row.ListUnitPrice = times(row.ListUnitPrice, rate)
    row.ContractedUnitPrice = times(row.ContractedUnitPrice, rate)
    row.x_ExchangeRate = fmt(rate)
    row.x_ExchangeRateId = conversion.rateId
    row.x_ExchangeRateDate = conversion.date
  }
  return row
}

/**
 * Applies contract commitments to the rows of one charge (FOCUS 1.3): each row gets its share of
 * every application (largest remainder over the rows' effective costs, so shares sum exactly to the
 * applied amount) in ContractApplied; prepaid amounts lower the rows' BilledCost, since the
 * purchase billed them.
 */
const applyContracts = (rows: ReadonlyArray<Row>, input: ReadonlyArray<Applied>, rate: Money.Decimal = Money.ONE): Array<Row> => {
  if (input.length === 0 || rows.length === 0) return [...rows]
  // Applied costs are in the BillingCurrency, so converted rows take converted amounts.
  const applied = input.map((a) => ({ ...a, cost: a.cost === null ? null : a.cost.times(rate) }))
  const costs = rows.map((r) => new Money.Decimal(r.EffectiveCost ?? "0"))
  // Charges that cost nothing (calls on provisioned capacity) share by quantity instead.
  const weights = costs.every((c) => c.isZero()) ? rows.map((r) => new Money.Decimal(r.ConsumedQuantity ?? "1")) : costs
  const scaleOf = (d: Money.Decimal | null) => Math.max(12, d?.decimalPlaces() ?? 0)
  const shares = applied.map((a) => ({
    cost: a.cost === null ? null : apportion(a.cost, weights, scaleOf(a.cost)),
    quantity: a.quantity === null ? null : apportion(a.quantity, weights, scaleOf(a.quantity))
  }))
  return rows.map((row, i) => {
    let prepaid = Money.ZERO
    const elements = applied.map((a, j) => {
      const cost = shares[j]!.cost?.[i] ?? null
      const quantity = shares[j]!.quantity?.[i] ?? null
      if (a.prepaid && cost !== null) prepaid = prepaid.plus(cost)
      // Decimal properties are JSON numbers written out exactly (never through a float).
      const parts = [`"ContractId":${JSON.stringify(a.contractId)}`, `"ContractCommitmentId":${JSON.stringify(a.commitmentId)}`]
      if (cost !== null) parts.push(`"ContractCommitmentAppliedCost":${fmt(cost)}`)
      if (quantity !== null) {
        parts.push(`"ContractCommitmentAppliedQuantity":${fmt(quantity)}`, `"ContractCommitmentAppliedUnit":${JSON.stringify(a.unit ?? "Units")}`)
      }
      return `{${parts.join(",")}}`
    })
    const before = row.ContractApplied === null ? [] : [row.ContractApplied.slice('{"Elements":['.length, -"]}".length)]
    return {
      ...row,
      BilledCost: fmt((dec(row.BilledCost) ?? Money.ZERO).minus(prepaid)),
      ContractApplied: `{"Elements":[${[...before, ...elements].join(",")}]}`
    }
  })
}

export interface Tenant {
  readonly id: string
  readonly name: string
}

/** What a run's rows need of the run (a `Run` from the service is one). */
export interface RunView {
  readonly id: string
  readonly status: "draft" | "final"
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: string
  readonly currency: string
  readonly shared: ReadonlyArray<string>
  readonly asOf: DateTime.Utc
  readonly total: Money.Decimal
  readonly inputs: { readonly sha256: string }
  readonly lines: ReadonlyArray<{
    readonly lineNo: number
    readonly kind: "owner" | "unallocated" | "correction"
    readonly owner: string | null
    readonly allocated: Money.Decimal
    readonly amount: Money.Decimal
    readonly requestCount: number
    readonly correctsRunId: string | null
  }>
}

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

/** The tag key of an owner dimension: the label name, or the tag's key for `tag:<key>`. */
const tagKey = (dimension: string): string => (dimension.startsWith("tag:") ? dimension.slice(4) : dimension)

interface Priced {
  readonly group: CostGroup
  readonly quantity: Money.Decimal
  readonly requests: number
  /** Weight of the row in its line's billed amount. */
  readonly weight: Money.Decimal
  readonly allocation: "direct" | "allocated" | "unallocated"
}

/**
 * Query of the usage export that lists the calls behind a row (each with its `x_RequestId`): the
 * run's period and ledger instant, and the row's owner, or for shared cost the unowned calls and
 * those of the shared owners.
 */
const lineage = (run: RunView, owners: ReadonlyArray<string>, unowned: boolean): string => {
  const params = new URLSearchParams({ from: iso(run.from), to: iso(run.to), asOf: DateTime.formatIso(run.asOf), format: "focus" })
  params.set("dimension", run.dimension)
  for (const owner of owners) params.append("owner", owner)
  if (unowned) params.set("unowned", "true")
  return `/api/v1/exports/usage?${params.toString()}`
}

/**
 * A final run that correction lines correct: its period, and (for the 1.3 ledger style) what it
 * and the corrections before this run charged an owner (null: the unallocated line).
 */
export interface Corrected {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly charged?: ((owner: string | null) => Money.Decimal) | undefined
}

export interface Options {
  readonly version?: Version | undefined
}

/**
 * The FOCUS rows of a run from its period's cost groups (read as of the run's instant).
 * `corrected` gives the periods of the final runs the correction lines correct.
 */
export const runRows = (
  tenant: Tenant,
  run: RunView,
  groups: ReadonlyArray<CostGroup>,
  corrected: ReadonlyMap<string, Corrected>,
  options: Options = {}
): Array<Row> => {
  const version = options.version ?? defaultVersion
  const minorUnits = Money.minorUnits(run.currency)
  const shared = new Set(run.shared)
  const isPool = (owner: string | null) => owner === null || shared.has(owner)
  const byOwner = new Map<string, Array<CostGroup>>()
  // Shared and unowned cost of one price point is one group, whoever it came from.
  const poolByPrice = new Map<string, CostGroup>()
  for (const group of groups) {
    if (isPool(group.owner)) {
      const key = [group.provider, group.model, group.snapshotId, group.component, group.unit, fmt(group.listRate), group.listRatePer, fmt(group.unitPrice)].join("\u0000")
      const found = poolByPrice.get(key)
      poolByPrice.set(key, found === undefined ? { ...group, owner: null } : {
        ...found,
        quantity: found.quantity.plus(group.quantity),
        amount: found.amount.plus(group.amount),
        billed: found.billed.plus(group.billed),
        requests: found.requests + group.requests
      })
    } else {
      const list = byOwner.get(group.owner!) ?? []
      list.push(group)
      byOwner.set(group.owner!, list)
    }
  }
  const pool = [...poolByPrice.values()]

  // Whole units of every shared component, split among the owners in proportion to their shares.
  const takers = run.lines.filter((l) => l.kind === "owner" && !l.allocated.isZero())
  const poolBilled = Money.sum(pool.map((g) => g.billed))
  const allocatedQuantity = new Map<string, Array<{ quantity: Money.Decimal; requests: number }>>()
  for (const [i, group] of pool.entries()) {
    const weights = takers.map((t) => t.allocated)
    const parts = apportion(group.quantity, weights, group.quantity.decimalPlaces())
    const requests = apportion(new Money.Decimal(group.requests), weights, 0)
    takers.forEach((t, j) => {
      const list = allocatedQuantity.get(t.owner!) ?? []
      list[i] = { quantity: parts[j]!, requests: requests[j]!.toNumber() }
      allocatedQuantity.set(t.owner!, list)
    })
  }
  const totalAllocated = Money.sum(takers.map((t) => t.allocated))

  const base = (): { -readonly [K in Column]: string | null } => ({
    ...empty,
    BillingAccountId: tenant.id,
    BillingAccountName: tenant.name,
    BillingCurrency: run.currency,
    BillingPeriodStart: iso(run.from),
    BillingPeriodEnd: iso(run.to),
    ChargePeriodStart: iso(run.from),
    ChargePeriodEnd: iso(run.to),
    ChargeCategory: "Usage",
    ChargeFrequency: "Usage-Based",
    InvoiceId: run.id,
    ServiceCategory: SERVICE_CATEGORY,
    ServiceSubcategory: SERVICE_SUBCATEGORY,
    x_RunId: run.id,
    x_RunStatus: run.status,
    x_Dimension: run.dimension,
    x_InputsSha256: run.inputs.sha256,
    x_LedgerAsOf: DateTime.formatIso(run.asOf)
  })

  const rows: Array<Row> = []
  for (const line of run.lines) {
    if (line.kind === "correction") {
      const period = corrected.get(line.correctsRunId!)
      const correction = {
        ...base(),
        ChargeClass: "Correction",
        ChargePeriodStart: period === undefined ? iso(run.from) : iso(period.from),
        ChargePeriodEnd: period === undefined ? iso(run.to) : iso(period.to),
        PricingCategory: null,
        ProviderName: tenant.name,
        PublisherName: tenant.name,
        InvoiceIssuerName: tenant.name,
        ServiceName: "LLM usage",
        SubAccountId: line.owner === null ? null : `${run.dimension}:${line.owner}`,
        SubAccountName: line.owner,
        Tags: JSON.stringify(line.owner === null ? {} : { [tagKey(run.dimension)]: line.owner }),
        x_LineNo: String(line.lineNo),
        x_LineKind: "correction",
        x_Owner: line.owner,
        x_RequestCount: String(line.requestCount),
        x_CorrectedRunId: line.correctsRunId
      }
      const who = `${run.dimension} ${line.owner ?? "(unallocated)"}`
      const charged = period?.charged?.(line.owner)
      if (version === "1.2" || charged === undefined) {
        rows.push(finish({
          ...correction,
          ChargeDescription: `Correction of final run ${line.correctsRunId} for ${who}: usage recorded after it was final`,
          ...costs(line.amount),
          x_CorrectionEntry: version === "1.2" ? null : "difference"
        }, version))
        continue
      }
      // Ledger style: reverse what was charged, then charge the corrected amount.
      rows.push(finish({
        ...correction,
        ChargeDescription: `Reversal of what final run ${line.correctsRunId} and its earlier corrections charged ${who}`,
        ...costs(charged.negated()),
        x_CorrectionEntry: "reversal"
      }, version))
      rows.push(finish({
        ...correction,
        ChargeDescription: `Corrected charge of final run ${line.correctsRunId} for ${who}: with usage recorded after it was final`,
        ...costs(charged.plus(line.amount)),
        x_CorrectionEntry: "corrected"
      }, version))
      continue
    }

    const priced: Array<Priced> = []
    if (line.kind === "unallocated") {
      for (const group of pool) {
        priced.push({ group, quantity: group.quantity, requests: group.requests, weight: group.billed, allocation: "unallocated" })
      }
    } else {
      for (const group of byOwner.get(line.owner!) ?? []) {
        priced.push({ group, quantity: group.quantity, requests: group.requests, weight: group.billed, allocation: "direct" })
      }
      const quantities = allocatedQuantity.get(line.owner!)
      if (quantities !== undefined && !totalAllocated.isZero() && !poolBilled.isZero()) {
        const fraction = line.allocated.div(totalAllocated)
        pool.forEach((group, i) => {
          const { quantity, requests } = quantities[i]!
          priced.push({ group, quantity, requests, weight: group.billed.times(fraction), allocation: "allocated" })
        })
      }
    }
    const kept = priced.filter((p) => !(p.quantity.isZero() && p.weight.isZero()))
    if (kept.length === 0) {
      if (line.amount.isZero()) continue
      // A charge without recorded detail (usage that left the ledger view it was computed from):
      // still a row, as an adjustment, so the rows keep summing to the run's total.
      rows.push(finish({
        ...base(),
        ChargeCategory: "Adjustment",
        ChargeDescription: `Charge for ${run.dimension} ${line.owner ?? "(unallocated)"} without itemized usage`,
        ...costs(line.amount),
        HostProviderName: NOT_APPLICABLE,
        ProviderName: tenant.name,
        PublisherName: tenant.name,
        InvoiceIssuerName: tenant.name,
        ServiceName: "LLM usage",
        SubAccountId: line.owner === null ? null : `${run.dimension}:${line.owner}`,
        SubAccountName: line.owner,
        Tags: JSON.stringify(line.owner === null ? {} : { [tagKey(run.dimension)]: line.owner }),
        x_LineNo: String(line.lineNo),
        x_LineKind: line.kind,
        x_Owner: line.owner,
        x_RequestCount: String(line.requestCount)
      }, version))
      continue
    }
    const billed = apportion(line.amount, kept.map((p) => p.weight), minorUnits)
    kept.forEach((p, i) => {
      const g = p.group
      const reported = g.component === "reported"
      // A reported cost is priced as that many units of the currency at 1 each: exact, and what was billed.
      const { name, per } = reported ? { name: "Units", per: Money.ONE } : pricing(g.listRatePer, g.unit)
      const pricingQuantity = p.quantity.div(per)
      const contractedUnitPrice = g.unitPrice.times(per)
      const skuPrice = reported
        ? `${g.provider}/${g.model}/reported`
        : `${g.snapshotId ?? "none"}/${g.component}${contractedUnitPrice.equals(g.listRate) ? "" : `@${fmt(contractedUnitPrice)}`}`
      const share = p.allocation === "allocated" ? " (share of shared cost)" : ""
      rows.push(finish({
        ...base(),
        BilledCost: fmt(billed[i]!),
        EffectiveCost: fmt(billed[i]!),
        ListUnitPrice: fmt(g.listRate),
        ListCost: fmt(g.listRate.times(pricingQuantity)),
        ContractedUnitPrice: fmt(contractedUnitPrice),
        ContractedCost: fmt(contractedUnitPrice.times(pricingQuantity)),
        PricingQuantity: fmt(pricingQuantity),
        PricingUnit: name,
        PricingCategory: "Standard",
        ConsumedQuantity: reported ? String(p.requests) : fmt(p.quantity),
        ConsumedUnit: reported ? "Requests" : consumedUnits[g.unit] ?? name,
        ChargeDescription: reported
          ? `${g.provider}/${g.model} calls at the cost the provider reported, for ${run.dimension} ${line.owner ?? "(unallocated)"}${share}`
          : `${g.component} ${g.unit === "token" ? "tokens" : g.unit} of ${g.provider}/${g.model} for ${run.dimension} ${line.owner ?? "(unallocated)"}${share}`,
        ProviderName: g.provider,
        PublisherName: g.provider,
        InvoiceIssuerName: g.provider,
        ServiceName: g.provider,
        SkuId: `${g.provider}/${g.model}`,
        SkuMeter: g.component,
        SkuPriceId: skuPrice,
        SubAccountId: line.owner === null ? null : `${run.dimension}:${line.owner}`,
        SubAccountName: line.owner,
        Tags: JSON.stringify(line.owner === null ? {} : { [tagKey(run.dimension)]: line.owner }),
        x_LineNo: String(line.lineNo),
        x_LineKind: line.kind,
        x_Owner: line.owner,
        x_Allocation: p.allocation,
        x_Model: g.model,
        x_SnapshotId: g.snapshotId,
        x_CostSource: reported ? "provider" : "computed",
        x_RequestCount: String(p.requests),
        x_TokenQuantity: g.unit === "token" ? fmt(p.quantity) : null,
        x_TokenUnit: g.unit === "token" ? g.component : null,
        x_Lineage: p.allocation === "direct" ? lineage(run, [line.owner!], false) : lineage(run, run.shared, true)
      }, version))
    })
  }
  return rows
}

const HOUR = 3_600_000

/** The cost and quantity columns of a priced line: costs are unit price x pricing quantity, exactly. */
const pricedLine = (
  amount: Money.Decimal,
  listUnitPrice: Money.Decimal,
  contractedUnitPrice: Money.Decimal,
  pricingQuantity: Money.Decimal,
  pricingUnit: string,
  quantity: Money.Decimal,
  unit: string
) => ({
  BilledCost: fmt(amount),
  EffectiveCost: fmt(amount),
  ListUnitPrice: fmt(listUnitPrice),
  ListCost: fmt(listUnitPrice.times(pricingQuantity)),
  ContractedUnitPrice: fmt(contractedUnitPrice),
  ContractedCost: fmt(contractedUnitPrice.times(pricingQuantity)),
  PricingQuantity: fmt(pricingQuantity),
  PricingUnit: pricingUnit,
  ConsumedQuantity: fmt(quantity),
  ConsumedUnit: consumedUnits[unit] ?? pricingUnit
})

const PROVISIONED = /^provisioned-throughput:(.+)\(on-demand (-?[0-9.]+)\)$/
const DISCOUNT = /^commitment-discount:(.+)\(-[0-9.]+%\)$/

/** The id of a commitment (`@tally/core` Commitment) in FOCUS: `commitment:<name>`, contract and commitment alike. */
export const commitmentId = (name: string): string => `commitment:${name}`

/**
 * ContractApplied of a cost line from the conditions commitments left on it (1.3): a line served on
 * provisioned throughput applies its quantity (and keeps its on-demand cost as `x_OnDemandCost`),
 * a line with a committed-use discount applies its (discounted) amount. Null when none did.
 */
const commitmentsApplied = (conditions: ReadonlyArray<string>, quantity: Money.Decimal, amount: Money.Decimal, unit: string): string | null => {
  const elements: Array<string> = []
  for (const condition of conditions) {
    const pt = PROVISIONED.exec(condition)
    if (pt !== null) {
      const id = JSON.stringify(commitmentId(pt[1]!))
      elements.push(`{"ContractId":${id},"ContractCommitmentId":${id},"ContractCommitmentAppliedQuantity":${fmt(quantity)},"ContractCommitmentAppliedUnit":${JSON.stringify(unit)},"x_OnDemandCost":${pt[2]}}`)
      continue
    }
    const discount = DISCOUNT.exec(condition)
    if (discount !== null) {
      const id = JSON.stringify(commitmentId(discount[1]!))
      elements.push(`{"ContractId":${id},"ContractCommitmentId":${id},"ContractCommitmentAppliedCost":${fmt(amount)}}`)
    }
  }
  return elements.length === 0 ? null : `{"Elements":[${elements.join(",")}]}`
}

export interface UsageOptions extends Options {
  /** Converts the call's amounts into the reporting currency (the rate of the call's day). */
  readonly conversion?: Conversion | undefined
  /** Contract commitments applied to the call (1.3 only: credit drawdowns, provisioned throughput). */
  readonly applied?: ReadonlyArray<Applied> | undefined
}

/**
 * The FOCUS rows of one priced call: one per cost line (computed calls) or one for the whole call
 * (provider-priced calls). Costs are exact, not rounded: a call often costs less than a cent.
 * Only the record's cost, labels, tags, model and region are read (not its raw payload).
 */
export const usageRows = (tenant: Tenant, record: UsageRecord.UsageRecord, options: UsageOptions = {}): Array<Row> => {
  const version = options.version ?? defaultVersion
  const millis = DateTime.toEpochMillis(record.occurredAt)
  // An empty label is no label.
  const labels: Record<string, string> = {}
  for (const [name, value] of Object.entries(record.labels)) if (value !== undefined && value !== "") labels[name] = value
  const hourStart = DateTime.makeUnsafe(Math.floor(millis / HOUR) * HOUR)
  const hourEnd = DateTime.makeUnsafe(Math.floor(millis / HOUR) * HOUR + HOUR)
  const monthStart = DateTime.makeUnsafe(Date.UTC(new Date(millis).getUTCFullYear(), new Date(millis).getUTCMonth(), 1))
  const monthEnd = DateTime.makeUnsafe(Date.UTC(new Date(millis).getUTCFullYear(), new Date(millis).getUTCMonth() + 1, 1))
  const tags: Record<string, string> = { ...record.tags, ...labels }
  const common = {
    ...empty,
    BillingAccountId: tenant.id,
    BillingAccountName: tenant.name,
    BillingCurrency: UsageRecord.currencyOf(record),
    BillingPeriodStart: iso(monthStart),
    BillingPeriodEnd: iso(monthEnd),
    ChargePeriodStart: iso(hourStart),
    ChargePeriodEnd: iso(hourEnd),
    ChargeCategory: "Usage",
    ChargeFrequency: "Usage-Based",
    PricingCategory: "Standard",
    ProviderName: record.provider,
    PublisherName: record.provider,
    InvoiceIssuerName: record.provider,
    RegionId: record.usage.region ?? null,
    ServiceCategory: SERVICE_CATEGORY,
    ServiceName: record.provider,
    ServiceSubcategory: SERVICE_SUBCATEGORY,
    SkuId: `${record.provider}/${record.model}`,
    SubAccountId: labels["project"] ?? null,
    SubAccountName: labels["project"] ?? null,
    Tags: JSON.stringify(Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1)))),
    x_Model: record.model,
    x_SnapshotId: record.snapshotId,
    x_CostSource: record.costSource,
    x_RequestCount: "1",
    x_RequestId: record.requestId
  } satisfies Row
  // A provider-priced call is billed its reported cost: its breakdown, if any, is Tally's estimate.
  const lines = record.costSource === "provider" ? [] : record.breakdown?.lines ?? []
  const appliedRate = options.conversion !== undefined && options.conversion.from === common.BillingCurrency && options.conversion.from !== options.conversion.to
    ? options.conversion.rate
    : Money.ONE
  const rows: Array<Row> = lines.length === 0
    ? (() => {
      // Billed at the cost the provider reported: that many units of the currency at 1 each.
      const total = fmt(record.total ?? Money.ZERO)
      return [{
        ...common,
        BilledCost: total,
        EffectiveCost: total,
        ListUnitPrice: "1",
        ListCost: total,
        ContractedUnitPrice: "1",
        ContractedCost: total,
        PricingQuantity: total,
        PricingUnit: "Units",
        ConsumedQuantity: "1",
        ConsumedUnit: "Requests",
        ChargeDescription: `${record.provider}/${record.model} call ${record.requestId} at the cost the provider reported`,
        SkuMeter: "reported",
        SkuPriceId: `${record.provider}/${record.model}/reported`
      }]
    })()
    : lines.map((line): Row => {
      const { amount, listRate, quantity, unitPrice } = line
      const { name, per } = pricing(line.listRatePer, line.unit)
      const pricingQuantity = quantity.div(per)
      const contractedUnitPrice = unitPrice.times(per)
      return {
        ...common,
        ...pricedLine(amount, listRate, contractedUnitPrice, pricingQuantity, name, quantity, line.unit),
        ChargeDescription: `${line.component} ${line.unit === "token" ? "tokens" : line.unit} of ${record.provider}/${record.model} call ${record.requestId}`,
        SkuMeter: line.component,
        SkuPriceId: `${record.snapshotId ?? "none"}/${line.component}${contractedUnitPrice.equals(listRate) ? "" : `@${fmt(contractedUnitPrice)}`}`,
        // Applied costs are in the BillingCurrency: converted when the row is.
        ContractApplied: commitmentsApplied(line.conditions, quantity, amount.times(appliedRate), consumedUnits[line.unit] ?? name),
        x_TokenQuantity: line.unit === "token" ? fmt(quantity) : null,
        x_TokenUnit: line.unit === "token" ? line.component : null
      }
    })
  const conversion = options.conversion
  const finished = rows.map((row) => finish(row, version, conversion))
  if (version === "1.2" || options.applied === undefined) return finished
  const rate = conversion !== undefined && conversion.from === common.BillingCurrency ? conversion.rate : Money.ONE
  return applyContracts(finished, options.applied, rate)
}

/**
 * The Purchase row of a prepaid purchase or a commitment's fee (FOCUS 1.3; in 1.2 without
 * ContractApplied). Its ResourceId and ContractApplied name the commitment it buys; a credit pack
 * (paying for future charges) has EffectiveCost 0, its cost shows on the usage it is drawn by.
 * ConsumedQuantity is null on a purchase; the tokens a token pack buys are in x_TokenQuantity.
 */
export const purchaseRows = (tenant: Tenant, purchases: ReadonlyArray<Purchase>, options: Options & { readonly conversion?: Conversion | undefined } = {}): Array<Row> => {
  const version = options.version ?? defaultVersion
  return purchases.map((p) => {
    const c = p.commitment
    const billed = p.unitPrice.times(p.quantity)
    const start = DateTime.toDateUtc(p.chargePeriodStart)
    const monthStart = DateTime.makeUnsafe(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1))
    const monthEnd = DateTime.makeUnsafe(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1))
    const row: Row = {
      ...empty,
      BillingAccountId: tenant.id,
      BillingAccountName: tenant.name,
      BillingCurrency: p.currency,
      BillingPeriodStart: iso(monthStart),
      BillingPeriodEnd: iso(monthEnd),
      ChargePeriodStart: iso(p.chargePeriodStart),
      ChargePeriodEnd: iso(p.chargePeriodEnd),
      ChargeCategory: "Purchase",
      ChargeFrequency: p.frequency,
      ChargeDescription: p.description,
      BilledCost: fmt(billed),
      EffectiveCost: p.coversFuture ? "0" : fmt(billed),
      ListUnitPrice: fmt(p.unitPrice),
      ListCost: fmt(billed),
      ContractedUnitPrice: fmt(p.unitPrice),
      ContractedCost: fmt(billed),
      PricingQuantity: fmt(p.quantity),
      PricingUnit: p.unit,
      PricingCategory: "Committed",
      ProviderName: p.seller,
      PublisherName: p.seller,
      InvoiceIssuerName: p.seller,
      HostProviderName: c.category === "Spend" ? NOT_APPLICABLE : p.seller,
      ResourceId: c.commitmentId,
      ServiceCategory: SERVICE_CATEGORY,
      ServiceSubcategory: SERVICE_SUBCATEGORY,
      ServiceName: c.type,
      SkuId: `${c.type}`,
      SkuPriceId: `${c.contractId}/${c.commitmentId}`,
      SubAccountId: p.owner === null ? null : `${p.dimension}:${p.owner}`,
      SubAccountName: p.owner,
      Tags: JSON.stringify(p.owner === null ? {} : { [tagKey(p.dimension)]: p.owner }),
      x_Owner: p.owner,
      x_TokenQuantity: p.tokens === null ? null : fmt(p.tokens),
      x_TokenUnit: p.tokens === null ? null : "tokens",
      ContractApplied: `{"Elements":[{"ContractId":${JSON.stringify(c.contractId)},"ContractCommitmentId":${JSON.stringify(c.commitmentId)},"ContractCommitmentAppliedCost":${fmt(billed)}}]}`
    }
    return finish(row, version, options.conversion)
  })
}

/** The columns of the Contract Commitment dataset (FOCUS 1.3), in the specification's order. */
export const contractCommitmentColumns = [
  "BillingCurrency",
  "ContractCommitmentCategory",
  "ContractCommitmentCost",
  "ContractCommitmentDescription",
  "ContractCommitmentId",
  "ContractCommitmentPeriodEnd",
  "ContractCommitmentPeriodStart",
  "ContractCommitmentQuantity",
  "ContractCommitmentType",
  "ContractCommitmentUnit",
  "ContractId",
  "ContractPeriodEnd",
  "ContractPeriodStart"
] as const
export type ContractCommitmentRow = { readonly [K in typeof contractCommitmentColumns[number]]: string | null }

/** The Contract Commitment dataset: one row per commitment, joined to usage by ContractApplied's ContractCommitmentId. */
export const contractCommitmentRows = (commitments: ReadonlyArray<ContractCommitment>): Array<ContractCommitmentRow> =>
  commitments.map((c) => ({
    BillingCurrency: c.currency,
    ContractCommitmentCategory: c.category,
    ContractCommitmentCost: c.cost === null ? null : fmt(c.cost),
    ContractCommitmentDescription: c.description,
    ContractCommitmentId: c.commitmentId,
    ContractCommitmentPeriodEnd: iso(c.periodEnd),
    ContractCommitmentPeriodStart: iso(c.periodStart),
    ContractCommitmentQuantity: c.quantity === null ? null : fmt(c.quantity),
    ContractCommitmentType: c.type,
    ContractCommitmentUnit: c.unit,
    ContractId: c.contractId,
    ContractPeriodEnd: iso(c.contractPeriodEnd),
    ContractPeriodStart: iso(c.contractPeriodStart)
  }))

/** A call as the tenant sold it (a priced sale price, see core `SalePrice`): the lines its customer is charged. */
export interface SoldCall {
  readonly requestId: string
  readonly occurredAt: DateTime.Utc
  readonly customer: string | null
  readonly provider: string
  readonly model: string
  readonly ruleId: string | null
  readonly currency: string
  readonly lines: ReadonlyArray<{
    readonly component: string
    readonly quantity: Money.Decimal
    readonly unit: string
    /** Price of one unit (one token, one request, ...). */
    readonly unitPrice: Money.Decimal
    readonly amount: Money.Decimal
    readonly basis: string
  }>
}

/**
 * The FOCUS rows of a call as the tenant sells it to its customer (the resale view): one row per
 * price line, the tenant as service provider and invoice issuer, the LLM provider as host. List
 * and contracted unit prices are the sale unit price per pricing unit, so ListCost = ListUnitPrice
 * x PricingQuantity = BilledCost before credits. Credit drawdowns (`applied`, prepaid) lower
 * BilledCost and show in ContractApplied (1.3).
 */
export const soldRows = (tenant: Tenant, call: SoldCall, options: UsageOptions = {}): Array<Row> => {
  const version = options.version ?? defaultVersion
  const millis = DateTime.toEpochMillis(call.occurredAt)
  const day = new Date(millis)
  const hour = Math.floor(millis / HOUR) * HOUR
  const rows = call.lines.map((line): Row => {
    const { name, per } = pricing(line.unit === "token" ? "1M tokens" : "unit", line.unit)
    const pricingQuantity = line.quantity.div(per)
    const unitPrice = line.unitPrice.times(per)
    return {
      ...empty,
      BillingAccountId: call.customer === null ? tenant.id : `${tenant.id}/customer:${call.customer}`,
      BillingAccountName: call.customer ?? tenant.name,
      BillingCurrency: call.currency,
      BillingPeriodStart: iso(DateTime.makeUnsafe(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1))),
      BillingPeriodEnd: iso(DateTime.makeUnsafe(Date.UTC(day.getUTCFullYear(), day.getUTCMonth() + 1, 1))),
      ChargePeriodStart: iso(DateTime.makeUnsafe(hour)),
      ChargePeriodEnd: iso(DateTime.makeUnsafe(hour + HOUR)),
      ChargeCategory: "Usage",
      ChargeFrequency: "Usage-Based",
      ChargeDescription: `${line.component} ${line.unit === "token" ? "tokens" : line.unit} of ${call.provider}/${call.model} call ${call.requestId} (${line.basis})`,
      PricingCategory: "Standard",
      ...pricedLine(line.amount, unitPrice, unitPrice, pricingQuantity, name, line.quantity, line.unit),
      ProviderName: tenant.name,
      PublisherName: call.provider,
      InvoiceIssuerName: tenant.name,
      ServiceProviderName: tenant.name,
      HostProviderName: call.provider,
      ServiceCategory: SERVICE_CATEGORY,
      ServiceSubcategory: SERVICE_SUBCATEGORY,
      ServiceName: "LLM usage",
      SkuId: `${call.provider}/${call.model}`,
      SkuMeter: line.component,
      SkuPriceId: `${call.ruleId ?? "none"}/${line.component}`,
      SubAccountId: call.customer === null ? null : `customer:${call.customer}`,
      SubAccountName: call.customer,
      Tags: JSON.stringify(call.customer === null ? {} : { customer: call.customer }),
      x_Owner: call.customer,
      x_Model: call.model,
      x_RequestCount: "1",
      x_RequestId: call.requestId,
      x_TokenQuantity: line.unit === "token" ? fmt(line.quantity) : null,
      x_TokenUnit: line.unit === "token" ? line.component : null
    }
  })
  const finished = rows.map((row) => finish(row, version, options.conversion))
  if (version === "1.2" || options.applied === undefined) return finished
  const rate = options.conversion !== undefined && options.conversion.from === call.currency ? options.conversion.rate : Money.ONE
  return applyContracts(finished, options.applied, rate)
}

/**
 * The Purchase rows of credit packs a tenant sold its customers, as the resale view bills them: on
 * the customer's billing account, like the customer's `soldRows`, so a customer's rows (usage and
 * the packs that paid for it) share one BillingAccountId.
 */
export const soldPurchaseRows = (tenant: Tenant, purchases: ReadonlyArray<Purchase>, options: Options & { readonly conversion?: Conversion | undefined } = {}): Array<Row> =>
  purchases.flatMap((p) =>
    purchaseRows(tenant, [p], options).map((row): Row =>
      p.owner === null || p.dimension !== "customer"
        ? row
        : { ...row, BillingAccountId: `${tenant.id}/customer:${p.owner}`, BillingAccountName: p.owner }
    )
  )
