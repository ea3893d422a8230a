/**
 * The series anomaly detection reads, indexed for lookups by hour and minute: money per
 * (scope, currency) and hour, with each hour's split by model; tokens per scope and minute. Built
 * from the rows the store's `AnomalyFindings` reads (`HourRow`, `MinuteRow`).
 */
import * as Anomaly from "./Anomaly.ts"
import * as Money from "./Money.ts"

type Decimal = Money.Decimal
type Scope = Anomaly.Scope

/** Spend, priced requests and tokens of one scope, model and currency in one UTC hour. */
export interface HourRow {
  /** Start of the UTC hour, epoch milliseconds. */
  readonly hour: number
  readonly scope: Scope
  readonly model: string
  readonly currency: string
  readonly cost: Money.Decimal
  readonly requests: number
  readonly tokens: number
}

/** Tokens (every bucket) and calls of one scope in one UTC minute; minutes without calls are absent. */
export interface MinuteRow {
  /** Start of the minute, epoch milliseconds. */
  readonly minute: number
  readonly scope: Scope
  readonly tokens: number
  readonly requests: number
}

export const MINUTE = 60_000
export const HOUR = 3_600_000
export const DAY = 24 * HOUR

export interface ModelCell {
  readonly cost: Decimal
  /** `cost` as a float, for statistics that are ratios or spreads, never for amounts. */
  readonly costNumber: number
  readonly requests: number
  readonly tokens: number
}

export interface Cell extends ModelCell {
  readonly models: ReadonlyMap<string, ModelCell>
}

/** Spend of one scope in one currency, hour by hour; hours without rows had no priced calls. */
export interface MoneySeries {
  readonly key: string
  readonly scope: Scope
  readonly currency: string
  /** The first hour with spend in the loaded range, epoch millis. */
  readonly firstHour: number
  readonly cells: ReadonlyMap<number, Cell>
}

/** Tokens of one scope, minute by minute, in minute order; only minutes with calls. */
export interface MinuteSeries {
  readonly key: string
  readonly scope: Scope
  readonly minutes: Float64Array
  readonly tokens: Float64Array
  readonly requests: Float64Array
}

export const moneyKey = (scope: Scope, currency: string) => `${Anomaly.scopeKey(scope)} ${currency}`

interface MutableCell {
  cost: Decimal
  costNumber: number
  requests: number
  tokens: number
  readonly models: Map<string, { cost: Decimal; costNumber: number; requests: number; tokens: number }>
}

export const moneySeries = (rows: ReadonlyArray<HourRow>): Map<string, MoneySeries> => {
  const building = new Map<string, { scope: Scope; currency: string; firstHour: number; cells: Map<number, MutableCell> }>()
  for (const row of rows) {
    const key = moneyKey(row.scope, row.currency)
    let series = building.get(key)
    if (series === undefined) {
      series = { scope: row.scope, currency: row.currency, firstHour: row.hour, cells: new Map() }
      building.set(key, series)
    }
    series.firstHour = Math.min(series.firstHour, row.hour)
    let cell = series.cells.get(row.hour)
    if (cell === undefined) {
      cell = { cost: Money.ZERO, costNumber: 0, requests: 0, tokens: 0, models: new Map() }
      series.cells.set(row.hour, cell)
    }
    cell.cost = cell.cost.plus(row.cost)
    cell.requests += row.requests
    cell.tokens += row.tokens
    const model = cell.models.get(row.model) ?? { cost: Money.ZERO, costNumber: 0, requests: 0, tokens: 0 }
    model.cost = model.cost.plus(row.cost)
    model.requests += row.requests
    model.tokens += row.tokens
    cell.models.set(row.model, model)
  }
  const out = new Map<string, MoneySeries>()
  for (const [key, series] of building) {
    for (const cell of series.cells.values()) {
      cell.costNumber = cell.cost.toNumber()
      for (const model of cell.models.values()) model.costNumber = model.cost.toNumber()
    }
    out.set(key, { key, ...series })
  }
  return out
}

export const minuteSeries = (rows: ReadonlyArray<MinuteRow>): Map<string, MinuteSeries> => {
  const grouped = new Map<string, { scope: Scope; rows: Array<MinuteRow> }>()
  for (const row of rows) {
    const key = Anomaly.scopeKey(row.scope)
    const group = grouped.get(key) ?? { scope: row.scope, rows: [] }
    group.rows.push(row)
    grouped.set(key, group)
  }
  const out = new Map<string, MinuteSeries>()
  for (const [key, group] of grouped) {
    const sorted = group.rows.sort((a, b) => a.minute - b.minute)
    out.set(key, {
      key,
      scope: group.scope,
      minutes: Float64Array.from(sorted, (row) => row.minute),
      tokens: Float64Array.from(sorted, (row) => row.tokens),
      requests: Float64Array.from(sorted, (row) => row.requests)
    })
  }
  return out
}

/** Index of the first element >= `value` in a sorted array. */
export const lowerBound = (values: Float64Array, value: number): number => {
  let lo = 0
  let hi = values.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (values[mid]! < value) lo = mid + 1
    else hi = mid
  }
  return lo
}

export const floorTo = (millis: number, unit: number) => Math.floor(millis / unit) * unit
export const ceilTo = (millis: number, unit: number) => Math.ceil(millis / unit) * unit
