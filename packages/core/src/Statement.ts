/**
 * Customer statements: a customer's priced calls of a period as invoice-ready lines (by model or
 * by feature, then by component), each with its quantity, unit price and amount, rounded to the
 * currency's minor unit once, here, by largest remainder so the lines sum exactly to the total.
 * Taxes are left to the billing system. Pure; the engine reads the prices and keeps statements.
 *
 * A correction statement carries the difference between the period's lines now and what the
 * final statement (and earlier corrections) stated: late usage, repriced calls. Each statement
 * rounds its own lines.
 *
 * After the lines, a statement lists the prepaid credit its calls drew (per credit pack, rounded
 * the same way) and the amount due after it: total - credit applied.
 */
import * as Allocation from "./Allocation.ts"
import type * as CostBreakdown from "./CostBreakdown.ts"
import * as Csv from "./Csv.ts"
import * as Money from "./Money.ts"

export type GroupBy = "model" | "feature"
export const groupByValues: ReadonlyArray<GroupBy> = ["model", "feature"]

/** The group of calls without a feature label. */
export const noFeature = "(no feature)"

/** One priced call's lines under its group (its model or its feature). */
export interface PricedCall {
  readonly group: string
  readonly lines: ReadonlyArray<{
    readonly component: string
    readonly unit: CostBreakdown.LineUnit
    readonly quantity: Money.Decimal
    readonly unitPrice: Money.Decimal
    readonly amount: Money.Decimal
  }>
}

/** A line before rounding: exact sums over the calls of its group and component. */
export interface ExactLine {
  readonly group: string
  readonly component: string
  readonly unit: CostBreakdown.LineUnit
  readonly quantity: Money.Decimal
  readonly amount: Money.Decimal
  /** The price of one unit when every call had the same; null when they differed. */
  readonly unitPrice: Money.Decimal | null
}

export interface StatementLine {
  readonly group: string
  readonly component: string
  readonly unit: CostBreakdown.LineUnit
  readonly quantity: Money.Decimal
  /** Per 1M tokens for token lines, per unit otherwise; an average (see `averaged`) when calls differed. */
  readonly unitPrice: Money.Decimal | null
  readonly unitPricePer: "1M tokens" | "unit"
  readonly averaged: boolean
  readonly exactAmount: Money.Decimal
  /** Rounded to the minor unit; the lines' amounts sum to the statement's total. */
  readonly amount: Money.Decimal
}

const lineKey = (group: string, component: string, unit: string) => JSON.stringify([group, component, unit])

const byGroupAndComponent = (a: ExactLine, b: ExactLine): number =>
  a.group < b.group ? -1 : a.group > b.group ? 1 : a.component < b.component ? -1 : a.component > b.component ? 1 : a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0

/** Lines in statement order: by group, then component. */
export const sortLines = (lines: ReadonlyArray<ExactLine>): Array<ExactLine> => [...lines].sort(byGroupAndComponent)

/** Sums the calls' lines by group and component, sorted by group then component. */
export const exactLines = (calls: Iterable<PricedCall>): Array<ExactLine> => {
  const lines = new Map<string, { group: string; component: string; unit: CostBreakdown.LineUnit; quantity: Money.Decimal; amount: Money.Decimal; unitPrice: Money.Decimal | null; mixed: boolean }>()
  for (const call of calls) {
    for (const l of call.lines) {
      const key = lineKey(call.group, l.component, l.unit)
      const line = lines.get(key)
      if (line === undefined) {
        lines.set(key, { group: call.group, component: l.component, unit: l.unit, quantity: l.quantity, amount: l.amount, unitPrice: l.unitPrice, mixed: false })
      } else {
        line.quantity = line.quantity.plus(l.quantity)
        line.amount = line.amount.plus(l.amount)
        if (line.unitPrice === null || !line.unitPrice.equals(l.unitPrice)) line.unitPrice = null
      }
    }
  }
  return sortLines([...lines.values()].map(({ group, component, unit, quantity, amount, unitPrice }) => ({ group, component, unit, quantity, amount, unitPrice })))
}

/** What is left to state: each line now minus what earlier statements of the period stated; zero lines dropped. */
export const difference = (current: ReadonlyArray<ExactLine>, stated: ReadonlyArray<ExactLine>): Array<ExactLine> => {
  const before = new Map<string, ExactLine>()
  for (const line of stated) {
    const key = lineKey(line.group, line.component, line.unit)
    const seen = before.get(key)
    before.set(
      key,
      seen === undefined ? line : {
        ...seen,
        quantity: seen.quantity.plus(line.quantity),
        amount: seen.amount.plus(line.amount),
        unitPrice: seen.unitPrice !== null && line.unitPrice !== null && seen.unitPrice.equals(line.unitPrice) ? seen.unitPrice : null
      }
    )
  }
  const out: Array<ExactLine> = []
  const keys = new Set<string>()
  for (const line of current) {
    const key = lineKey(line.group, line.component, line.unit)
    keys.add(key)
    const seen = before.get(key)
    out.push(
      seen === undefined ? line : {
        ...line,
        quantity: line.quantity.minus(seen.quantity),
        amount: line.amount.minus(seen.amount),
        // One unit price only when it did not change.
        unitPrice: seen.unitPrice !== null && line.unitPrice !== null && seen.unitPrice.equals(line.unitPrice) ? line.unitPrice : null
      }
    )
  }
  for (const [key, line] of before) {
    if (!keys.has(key)) out.push({ ...line, quantity: line.quantity.negated(), amount: line.amount.negated() })
  }
  return sortLines(out.filter((l) => !(l.quantity.isZero() && l.amount.isZero())))
}

/**
 * Amounts rounded to the currency's minor unit by largest remainder. Largest remainder works on
 * non-negative parts; a correction may have negative amounts, which are rounded as their negation
 * (the same rule mirrored), positives and negatives apart.
 */
const roundAmounts = (amounts: ReadonlyArray<Money.Decimal>, currency: string): Array<Money.Decimal> => {
  const scale = Money.minorUnits(currency)
  const positive = amounts.map((a, i) => ({ a, i })).filter(({ a }) => !a.isNegative())
  const negative = amounts.map((a, i) => ({ a, i })).filter(({ a }) => a.isNegative())
  const rounded: Array<Money.Decimal> = Array.from({ length: amounts.length }, () => Money.ZERO)
  const pos = Allocation.largestRemainder(positive.map(({ a }) => a), scale)
  positive.forEach(({ i }, k) => (rounded[i] = pos.parts[k]!))
  const neg = Allocation.largestRemainder(negative.map(({ a }) => a.negated()), scale)
  negative.forEach(({ i }, k) => (rounded[i] = neg.parts[k]!.negated()))
  return rounded
}

/**
 * Rounds exact lines to the currency's minor unit by largest remainder: the rounded amounts sum
 * exactly to the exact total rounded half-even.
 */
export const round = (exact: ReadonlyArray<ExactLine>, currency: string): { readonly lines: Array<StatementLine>; readonly total: Money.Decimal; readonly exactTotal: Money.Decimal } => {
  const rounded = roundAmounts(exact.map((l) => l.amount), currency)
  const lines = exact.map((l, i): StatementLine => {
    const per = l.unit === "token" ? Money.MILLION : Money.ONE
    const averaged = l.unitPrice === null
    const unitPrice = l.unitPrice !== null
      ? l.unitPrice.times(per)
      : l.quantity.isZero()
      ? null
      : l.amount.div(l.quantity).times(per).toDecimalPlaces(10, Money.Decimal.ROUND_HALF_EVEN)
    return {
      group: l.group,
      component: l.component,
      unit: l.unit,
      quantity: l.quantity,
      unitPrice,
      unitPricePer: l.unit === "token" ? "1M tokens" : "unit",
      averaged,
      exactAmount: l.amount,
      amount: rounded[i]!
    }
  })
  return { lines, total: Money.sum(rounded), exactTotal: Money.sum(exact.map((l) => l.amount)) }
}

/** Prepaid credit one credit pack (a grant of the customer) gave the calls of a statement, exact. */
export interface ExactCredit {
  readonly grantId: string
  /** The grant's note, e.g. "starter pack"; null when it has none. */
  readonly name: string | null
  readonly amount: Money.Decimal
}

export interface StatementCredit {
  readonly grantId: string
  readonly name: string | null
  readonly exactAmount: Money.Decimal
  /** Rounded to the minor unit; the credits' amounts sum to the statement's `creditTotal`. */
  readonly amount: Money.Decimal
}

/** What is left to state of each pack's credit: drawn now minus what earlier statements stated; zeros dropped. */
export const creditDifference = (current: ReadonlyArray<ExactCredit>, stated: ReadonlyArray<ExactCredit>): Array<ExactCredit> => {
  const left = new Map<string, ExactCredit>()
  for (const c of current) left.set(c.grantId, { ...c, amount: (left.get(c.grantId)?.amount ?? Money.ZERO).plus(c.amount) })
  for (const c of stated) {
    const seen = left.get(c.grantId)
    left.set(c.grantId, seen === undefined ? { ...c, amount: c.amount.negated() } : { ...seen, amount: seen.amount.minus(c.amount) })
  }
  return [...left.values()].filter((c) => !c.amount.isZero()).sort((a, b) => (a.grantId < b.grantId ? -1 : a.grantId > b.grantId ? 1 : 0))
}

/** Rounds each pack's credit like the lines (largest remainder, to the minor unit). */
export const roundCredits = (exact: ReadonlyArray<ExactCredit>, currency: string): { readonly credits: Array<StatementCredit>; readonly total: Money.Decimal } => {
  const rounded = roundAmounts(exact.map((c) => c.amount), currency)
  return {
    credits: exact.map((c, i) => ({ grantId: c.grantId, name: c.name, exactAmount: c.amount, amount: rounded[i]! })),
    total: Money.sum(rounded)
  }
}

export type Kind = "statement" | "correction"

/** A statement as a document: a preview (not kept) or final. */
export interface Statement {
  readonly id: string | null
  readonly customer: string
  /** ISO instants; `periodTo` exclusive. */
  readonly periodFrom: string
  readonly periodTo: string
  readonly currency: string
  readonly groupBy: GroupBy
  readonly kind: Kind
  readonly correctsId: string | null
  readonly status: "preview" | "final"
  readonly lines: ReadonlyArray<StatementLine>
  readonly total: Money.Decimal
  readonly exactTotal: Money.Decimal
  /**
   * Prepaid credit the statement's calls drew from the customer's credit packs, per pack (for a
   * correction: the difference). Empty on statements finalized before statements recorded credits.
   */
  readonly credits: ReadonlyArray<StatementCredit>
  /** The credits' rounded amounts summed. */
  readonly creditTotal: Money.Decimal
  /** total - creditTotal: what the customer still owes for the period. */
  readonly amountDue: Money.Decimal
  /** Priced calls in the period (for a correction: in the period now). */
  readonly requestCount: number
  /** Calls of the customer in the period without a price in this currency's rules (not on the statement). */
  readonly unpricedCount: number
  /** The ledger instant the statement read. */
  readonly asOf: string
  readonly finalizedAt: string | null
  readonly finalizedBy: string | null
}

const fmt = Money.format
const fixed = (value: Money.Decimal, currency: string) => value.toFixed(Money.minorUnits(currency))

export const lineJson = (l: StatementLine, currency: string) => ({
  group: l.group,
  component: l.component,
  unit: l.unit,
  quantity: fmt(l.quantity),
  unitPrice: l.unitPrice === null ? null : fmt(l.unitPrice),
  unitPricePer: l.unitPricePer,
  averaged: l.averaged,
  exactAmount: fmt(l.exactAmount),
  amount: fixed(l.amount, currency)
})

export const creditJson = (c: StatementCredit, currency: string) => ({
  grantId: c.grantId,
  name: c.name,
  exactAmount: fmt(c.exactAmount),
  amount: fixed(c.amount, currency)
})

/** The statement as JSON: decimals as exact strings, amounts with the currency's minor digits. */
export const toJson = (s: Statement) => ({
  id: s.id,
  customer: s.customer,
  periodFrom: s.periodFrom,
  periodTo: s.periodTo,
  currency: s.currency,
  groupBy: s.groupBy,
  kind: s.kind,
  correctsId: s.correctsId,
  status: s.status,
  lines: s.lines.map((l) => lineJson(l, s.currency)),
  total: fixed(s.total, s.currency),
  exactTotal: fmt(s.exactTotal),
  credits: s.credits.map((c) => creditJson(c, s.currency)),
  creditTotal: fixed(s.creditTotal, s.currency),
  amountDue: fixed(s.amountDue, s.currency),
  requestCount: s.requestCount,
  unpricedCount: s.unpricedCount,
  asOf: s.asOf,
  finalizedAt: s.finalizedAt,
  finalizedBy: s.finalizedBy,
  taxes: "not included; left to the billing system"
})
export type StatementJson = ReturnType<typeof toJson>

export const csvHeader = ["group", "component", "unit", "quantity", "unit_price", "unit_price_per", "averaged", "amount", "currency"] as const

/**
 * The lines as CSV (RFC 4180), one per line, then a `total` row; when credit was applied, a
 * `credit` row per pack (component: the grant id; amount negative, what it takes off) and an
 * `amount_due` row.
 */
export const toCsv = (s: Statement): string =>
  Csv.stringify([
    [...csvHeader],
    ...s.lines.map((l) => [
      l.group,
      l.component,
      l.unit,
      fmt(l.quantity),
      l.unitPrice === null ? null : fmt(l.unitPrice),
      l.unitPricePer,
      String(l.averaged),
      fixed(l.amount, s.currency),
      s.currency
    ]),
    ["total", null, null, null, null, null, null, fixed(s.total, s.currency), s.currency],
    ...(s.credits.length === 0 ? [] : [
      ...s.credits.map((c) => ["credit", c.grantId, null, null, null, null, null, fixed(c.amount.negated(), s.currency), s.currency]),
      ["amount_due", null, null, null, null, null, null, fixed(s.amountDue, s.currency), s.currency]
    ])
  ])

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")

/** A self-contained HTML page, print-ready (A4, no scripts, no external resources). */
export const toHtml = (s: Statement): string => {
  const title = `${s.kind === "correction" ? "Correction statement" : "Statement"}: ${s.customer}`
  const rows = s.lines.map((l) =>
    `<tr><td>${escape(l.group)}</td><td>${escape(l.component)}</td><td class="n">${escape(fmt(l.quantity))} ${
      escape(l.unit)
    }</td><td class="n">${l.unitPrice === null ? "" : `${escape(fmt(l.unitPrice))} / ${escape(l.unitPricePer)}${l.averaged ? " (avg)" : ""}`}</td><td class="n">${
      escape(fixed(l.amount, s.currency))
    }</td></tr>`
  ).join("\n")
  const credits = s.credits.length === 0 ? "" : `\n${
    s.credits.map((c) =>
      `<tr class="credit"><td colspan="4">Prepaid credit applied: ${escape(c.name ?? "credit pack")} (${escape(c.grantId)})</td><td class="n">${
        escape(fixed(c.amount.negated(), s.currency))
      }</td></tr>`
    ).join("\n")
  }\n<tr><td colspan="4">Amount due (${escape(s.currency)})</td><td class="n">${escape(fixed(s.amountDue, s.currency))}</td></tr>`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
@page { size: A4; margin: 18mm }
body { font: 11pt/1.4 system-ui, sans-serif; color: #111 }
table { width: 100%; border-collapse: collapse }
th, td { padding: 4px 6px; border-bottom: 1px solid #ccc; text-align: left }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums }
tfoot td { font-weight: bold; border-top: 2px solid #111 }
tfoot tr.credit td { font-weight: normal; border-top: 0 }
</style></head><body>
<h1>${escape(title)}</h1>
<p>Period ${escape(s.periodFrom)} to ${escape(s.periodTo)} (exclusive). Currency ${escape(s.currency)}. ${
    s.status === "final" ? `Final${s.id === null ? "" : ` (${escape(s.id)})`}, ${escape(s.finalizedAt ?? "")} by ${escape(s.finalizedBy ?? "")}.` : "Preview, not final."
  }${s.correctsId === null ? "" : ` Corrects ${escape(s.correctsId)}.`}</p>
<table>
<thead><tr><th>${s.groupBy === "model" ? "Model" : "Feature"}</th><th>Component</th><th class="n">Quantity</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead>
<tbody>
${rows}
</tbody>
<tfoot><tr><td colspan="4">Total (${escape(s.currency)}, taxes not included)</td><td class="n">${escape(fixed(s.total, s.currency))}</td></tr>${credits}</tfoot>
</table>
<p>${s.requestCount} priced calls.${s.unpricedCount > 0 ? ` ${s.unpricedCount} calls without a sale price are not on this statement.` : ""}</p>
</body></html>
`
}
