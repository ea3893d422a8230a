/**
 * The arithmetic of a run, as plain functions over values: the period's spend in the run's
 * currency, attributed spend per owner, the pool of shared and unowned cost split by the rule,
 * lines rounded to the currency's minor unit by largest remainder (core's `Allocation`, the one
 * place Tally rounds money) so they sum exactly to the rounded ledger total, and corrections of a
 * final run as the difference between what its period costs now and what was charged for it.
 */
import { largestRemainder } from "../Allocation.ts"
import * as Money from "../Money.ts"
import type { OwnerDirect } from "./Rule.ts"
import * as Rules from "./Rules.ts"

export type LineKind = "owner" | "unallocated" | "correction"

export interface Line {
  readonly kind: LineKind
  /** Null for the unallocated line and its corrections. */
  readonly owner: string | null
  /** Spend attributed to the owner directly (the whole pool, for the unallocated line). Exact. */
  readonly direct: Money.Decimal
  /** The owner's share of the pool. Exact. */
  readonly allocated: Money.Decimal
  /** What is charged: rounded to the currency's minor unit. */
  readonly amount: Money.Decimal
  readonly requestCount: number
  /** The final run a correction line corrects. */
  readonly correctsRunId: string | null
}

/** Spend of one owner (null: no value for the dimension) in the run's currency. */
export interface SpendRow {
  readonly owner: string | null
  readonly cost: Money.Decimal
  readonly requests: number
}

/** Spend of one owner in one currency in a period, as the ledger sums it. */
export interface OwnerSpend {
  /** Null for calls without a value for the dimension. */
  readonly owner: string | null
  /** Null for unpriced calls only. */
  readonly currency: string | null
  /** Exact sum of the calls' totals (zero for unpriced calls). */
  readonly cost: Money.Decimal
  readonly requests: number
  readonly unpriced: number
}

/** A period's spend by owner and currency, and the pricing snapshots its calls were priced with. */
export interface PeriodSpend {
  readonly owners: ReadonlyArray<OwnerSpend>
  /** Sorted. */
  readonly snapshotIds: ReadonlyArray<string>
}

/** A period's spend as one run sees it: its own currency, the other currencies, the unpriced calls. */
export interface RunSpend {
  /** Spend per owner in the run's currency. */
  readonly rows: ReadonlyArray<SpendRow>
  /** Calls in the run's currency, and calls without a price (no cost, no currency). */
  readonly requests: number
  readonly unpriced: number
  /** Spend in every other currency: not part of the run. */
  readonly other: ReadonlyMap<string, { readonly amount: Money.Decimal; readonly requests: number }>
  readonly snapshotIds: ReadonlyArray<string>
}

/** Splits a period's spend into the run's currency, other currencies and unpriced calls. */
export const splitSpend = (spend: PeriodSpend, currency: string): RunSpend => {
  const rows: Array<SpendRow> = []
  const other = new Map<string, { amount: Money.Decimal; requests: number }>()
  let requests = 0
  let unpriced = 0
  for (const row of spend.owners) {
    unpriced += row.unpriced
    if (row.currency === null) continue
    if (row.currency !== currency) {
      const found = other.get(row.currency)
      other.set(row.currency, {
        amount: (found?.amount ?? Money.ZERO).plus(row.cost),
        requests: (found?.requests ?? 0) + row.requests
      })
      continue
    }
    requests += row.requests
    rows.push({ owner: row.owner, cost: row.cost, requests: row.requests })
  }
  return { rows, requests, unpriced, other, snapshotIds: spend.snapshotIds }
}

export interface Allocation {
  /** Owner lines sorted by owner, then the unallocated line if there is one. */
  readonly lines: ReadonlyArray<Line>
  /** Exact sum of the spend. */
  readonly ledgerTotal: Money.Decimal
  /** `ledgerTotal` rounded half-even to the minor unit; the lines sum to it exactly. */
  readonly roundedTotal: Money.Decimal
  /** Shared and unowned cost, exact. */
  readonly pool: Money.Decimal
  /** Whether the rule applied to the pool (otherwise it is the unallocated line). */
  readonly ruleApplied: boolean
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Splits `target` in proportion to `weights` into parts with at most `scale` decimals that sum to
 * `target` exactly (when `target` has at most `scale` decimals). All-zero weights split evenly.
 * The exact shares are rounded by largest remainder, so each part is within one unit of the last
 * place of its exact share.
 */
export const apportion = (target: Money.Decimal, weights: ReadonlyArray<Money.Decimal>, scale: number): Array<Money.Decimal> => {
  if (weights.length === 0) return []
  const sum = Money.sum(weights)
  const exact = sum.isZero()
    ? weights.map(() => target.div(weights.length))
    : weights.map((weight) => target.times(weight).div(sum))
  // The quotients carry 80 significant digits, so their sum is within far less than half a unit of
  // `target`: rounding the sum gives `target` back, and the parts sum to it.
  const { parts, total } = largestRemainder(exact, scale)
  if (!total.equals(target.toDecimalPlaces(scale, Money.Decimal.ROUND_HALF_EVEN))) {
    throw new Error(`apportion: parts sum to ${Money.format(total)}, not ${Money.format(target)}`)
  }
  return parts
}

/** Decimal places the pool is split at: enough that splitting loses nothing of the pool. */
const poolScale = (pool: Money.Decimal, minorUnits: number): number => Math.max(pool.decimalPlaces(), minorUnits + 12)

export interface AllocateInput {
  readonly spend: ReadonlyArray<SpendRow>
  readonly rule: Rules.RuleInput
  readonly shared: ReadonlySet<string>
  /** Minor-unit exponent of the run's currency (2 for USD, 0 for JPY). */
  readonly minorUnits: number
}

/** The lines of a period: see the module comment. Pure; the rule's input must have been validated. */
export const allocate = (input: AllocateInput): Allocation => {
  const direct = new Map<string, { cost: Money.Decimal; requests: number }>()
  let pool = Money.ZERO
  let poolRequests = 0
  let ledgerTotal = Money.ZERO
  for (const row of input.spend) {
    ledgerTotal = ledgerTotal.plus(row.cost)
    if (row.owner === null || input.shared.has(row.owner)) {
      pool = pool.plus(row.cost)
      poolRequests += row.requests
      continue
    }
    const found = direct.get(row.owner)
    direct.set(row.owner, {
      cost: (found?.cost ?? Money.ZERO).plus(row.cost),
      requests: (found?.requests ?? 0) + row.requests
    })
  }
  const owners: Array<OwnerDirect> = [...direct.entries()]
    .map(([owner, { cost }]) => ({ owner, direct: cost }))
    .sort((a, b) => compare(a.owner, b.owner))

  const weights = Rules.ruleOf(input.rule).weights(input.rule, owners)
  const ruleApplies = weights.length > 0 && Money.sum(weights.map((w) => w.weight)).gt(0)
  const allocated = new Map<string, Money.Decimal>()
  if (ruleApplies && !pool.isZero()) {
    const parts = apportion(pool, weights.map((w) => w.weight), poolScale(pool, input.minorUnits))
    weights.forEach((w, i) => allocated.set(w.owner, (allocated.get(w.owner) ?? Money.ZERO).plus(parts[i]!)))
  }

  const names = new Set<string>(owners.map((o) => o.owner))
  if (ruleApplies) for (const w of weights) names.add(w.owner)
  const ordered = [...names].sort(compare)
  const exact: Array<{ line: Omit<Line, "amount">; value: Money.Decimal }> = ordered.map((owner) => {
    const d = direct.get(owner)
    const a = allocated.get(owner) ?? Money.ZERO
    const cost = d?.cost ?? Money.ZERO
    return {
      line: { kind: "owner", owner, direct: cost, allocated: a, requestCount: d?.requests ?? 0, correctsRunId: null },
      value: cost.plus(a)
    }
  })
  if (!ruleApplies && !(pool.isZero() && poolRequests === 0)) {
    exact.push({
      line: { kind: "unallocated", owner: null, direct: pool, allocated: Money.ZERO, requestCount: poolRequests, correctsRunId: null },
      value: pool
    })
  }
  const { parts, total } = largestRemainder(exact.map((e) => e.value), input.minorUnits)
  const roundedTotal = ledgerTotal.toDecimalPlaces(input.minorUnits, Money.Decimal.ROUND_HALF_EVEN)
  if (!total.equals(roundedTotal)) {
    throw new Error(`allocate: lines sum to ${Money.format(total)}, not the rounded ledger total ${Money.format(roundedTotal)}`)
  }
  return {
    lines: exact.map((e, i) => ({ ...e.line, amount: parts[i]! })),
    ledgerTotal,
    roundedTotal,
    pool,
    ruleApplied: ruleApplies
  }
}

/** A line already charged for a final run's period: its own lines and earlier corrections of it. */
export interface ChargedLine {
  readonly owner: string | null
  readonly direct: Money.Decimal
  readonly allocated: Money.Decimal
  readonly amount: Money.Decimal
  readonly requestCount: number
}

const keyOf = (owner: string | null): string => (owner === null ? "\u0000unallocated" : `o:${owner}`)

/**
 * Correction lines for the final run `runId`: per owner (and the unallocated line), what its period
 * costs now (`recomputed`, by the run's own rule) minus what has been charged for it so far. Only
 * non-zero amounts become lines; each correction's direct and allocated parts are the exact
 * differences, so a period's lines and all its corrections add up to its current allocation.
 */
export const corrections = (
  runId: string,
  recomputed: ReadonlyArray<Line>,
  charged: ReadonlyArray<ChargedLine>
): Array<Line> => {
  const sums = new Map<string, { owner: string | null; now: ChargedLine | undefined; then: ChargedLine }>()
  const zero = (owner: string | null): ChargedLine => ({
    owner,
    direct: Money.ZERO,
    allocated: Money.ZERO,
    amount: Money.ZERO,
    requestCount: 0
  })
  for (const line of charged) {
    const key = keyOf(line.owner)
    const entry = sums.get(key) ?? { owner: line.owner, now: undefined, then: zero(line.owner) }
    entry.then = {
      owner: line.owner,
      direct: entry.then.direct.plus(line.direct),
      allocated: entry.then.allocated.plus(line.allocated),
      amount: entry.then.amount.plus(line.amount),
      requestCount: entry.then.requestCount + line.requestCount
    }
    sums.set(key, entry)
  }
  for (const line of recomputed) {
    const key = keyOf(line.owner)
    const entry = sums.get(key) ?? { owner: line.owner, now: undefined, then: zero(line.owner) }
    entry.now = line
    sums.set(key, entry)
  }
  const out: Array<Line> = []
  for (const key of [...sums.keys()].sort(compare)) {
    const { now, owner, then } = sums.get(key)!
    const current = now ?? zero(owner)
    const amount = current.amount.minus(then.amount)
    if (amount.isZero()) continue
    out.push({
      kind: "correction",
      owner,
      direct: current.direct.minus(then.direct),
      allocated: current.allocated.minus(then.allocated),
      amount,
      requestCount: Math.max(0, current.requestCount - then.requestCount),
      correctsRunId: runId
    })
  }
  // Owners in code-point order, the unallocated key ("\0...") sorts first; put it last like a run's lines.
  return [...out.filter((l) => l.owner !== null), ...out.filter((l) => l.owner === null)]
}
