/**
 * FinOps FOCUS 1.2 rows for a chargeback run and for raw usage.
 *
 * A run's rows break each line down by what was consumed: one row per owner, provider, model,
 * pricing snapshot and priced component (token bucket, requests, images, ...), plus the owner's
 * share of every shared or unowned component. Quantities of shared components are split among
 * the owners in whole units (largest remainder), so list and contracted costs stay exact products
 * of unit price and quantity; the billed (and effective) cost of a line is its charged amount,
 * spread over its rows by largest remainder, so the rows sum exactly to the run's total.
 * Corrections of final runs are one row each with ChargeClass "Correction" and the corrected
 * period as their charge period.
 *
 * Column semantics follow the FOCUS 1.2 specification (see docs/chargeback.md for the column list
 * and where each value comes from). Custom columns are prefixed `x_`.
 */
import * as DateTime from "effect/DateTime"
import * as Money from "../Money.ts"
import * as UsageRecord from "../UsageRecord.ts"
import { apportion } from "./Allocate.ts"

/** FOCUS columns this export fills, in the specification's (alphabetical) order. */
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
  "PricingQuantity",
  "PricingUnit",
  "ProviderName",
  "PublisherName",
  "RegionId",
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

/** Custom columns: run lineage, and the ledger rows (request ids) behind each row. */
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
  "x_InputsSha256",
  "x_LedgerAsOf",
  "x_Lineage"
] as const

export const columns = [...focusColumns, ...customColumns] as const
export type Column = typeof columns[number]
export type Row = { readonly [K in Column]: string | null }

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
 * The FOCUS rows of a run from its period's cost groups (read as of the run's instant).
 * `corrected` gives the periods of the final runs the correction lines correct.
 */
export const runRows = (
  tenant: Tenant,
  run: RunView,
  groups: ReadonlyArray<CostGroup>,
  corrected: ReadonlyMap<string, { readonly from: DateTime.Utc; readonly to: DateTime.Utc }>
): Array<Row> => {
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
      const amount = fmt(line.amount)
      rows.push({
        ...base(),
        ChargeClass: "Correction",
        ChargePeriodStart: period === undefined ? iso(run.from) : iso(period.from),
        ChargePeriodEnd: period === undefined ? iso(run.to) : iso(period.to),
        ChargeDescription: `Correction of final run ${line.correctsRunId} for ${run.dimension} ${line.owner ?? "(unallocated)"}: usage recorded after it was final`,
        BilledCost: amount,
        EffectiveCost: amount,
        ListCost: amount,
        ContractedCost: amount,
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
      })
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
      const amount = fmt(line.amount)
      rows.push({
        ...base(),
        ChargeCategory: "Adjustment",
        ChargeDescription: `Charge for ${run.dimension} ${line.owner ?? "(unallocated)"} without itemized usage`,
        BilledCost: amount,
        EffectiveCost: amount,
        ListCost: amount,
        ContractedCost: amount,
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
      })
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
      rows.push({
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
        x_Lineage: p.allocation === "direct" ? lineage(run, [line.owner!], false) : lineage(run, run.shared, true)
      })
    })
  }
  return rows
}

const HOUR = 3_600_000

/**
 * The FOCUS rows of one priced call: one per cost line (computed calls) or one for the whole call
 * (provider-priced calls). Costs are exact, not rounded: a call often costs less than a cent.
 * Only the record's cost, labels, tags, model and region are read (not its raw payload).
 */
export const usageRows = (tenant: Tenant, record: UsageRecord.UsageRecord): Array<Row> => {
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
  if (lines.length === 0) {
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
  }
  return lines.map((line): Row => {
    const { amount, listRate, quantity, unitPrice } = line
    const { name, per } = pricing(line.listRatePer, line.unit)
    const pricingQuantity = quantity.div(per)
    const contractedUnitPrice = unitPrice.times(per)
    return {
      ...common,
      BilledCost: fmt(amount),
      EffectiveCost: fmt(amount),
      ListUnitPrice: fmt(listRate),
      ListCost: fmt(listRate.times(pricingQuantity)),
      ContractedUnitPrice: fmt(contractedUnitPrice),
      ContractedCost: fmt(contractedUnitPrice.times(pricingQuantity)),
      PricingQuantity: fmt(pricingQuantity),
      PricingUnit: name,
      ConsumedQuantity: fmt(quantity),
      ConsumedUnit: consumedUnits[line.unit] ?? name,
      ChargeDescription: `${line.component} ${line.unit === "token" ? "tokens" : line.unit} of ${record.provider}/${record.model} call ${record.requestId}`,
      SkuMeter: line.component,
      SkuPriceId: `${record.snapshotId ?? "none"}/${line.component}${contractedUnitPrice.equals(listRate) ? "" : `@${fmt(contractedUnitPrice)}`}`
    }
  })
}
