/**
 * The result of pricing one usage against one snapshot: a line per priced component, exact
 * amounts and their exact total. Encoded with decimals as strings at every boundary.
 */
import { Schema } from "effect"
import { DecimalFromString } from "./Money.ts"

export const LineUnit = Schema.Literals(["token", "request", "image", "second", "search", "call"])
export type LineUnit = typeof LineUnit.Type

export const CostLine = Schema.Struct({
  /** The usage bucket or unit priced: a token bucket name, "requests", "image:<key>", "toolCall:<kind>", ... */
  component: Schema.String,
  quantity: DecimalFromString,
  unit: LineUnit,
  /** The rate as written in the snapshot (per 1M tokens, per 1k searches or per unit), before conditions. */
  listRate: DecimalFromString,
  listRatePer: Schema.Literals(["1M tokens", "1k searches", "unit"]),
  /** Which snapshot rate was used, e.g. "rates.outputText" for reasoning without its own rate. */
  rateSource: Schema.String,
  /** Price of one unit after every condition (tier, discount, multipliers). */
  unitPrice: DecimalFromString,
  amount: DecimalFromString,
  /** Conditions applied, in order, e.g. "tier:long-context(>200000 prompt tokens, cliff)", "batch:-50%". */
  conditions: Schema.Array(Schema.String)
})
export type CostLine = typeof CostLine.Type

/** Usage a partial breakdown could not price: the component (as `PricingError` names it) and its quantity. */
export const MissingComponent = Schema.Struct({
  component: Schema.String,
  quantity: DecimalFromString,
  unit: LineUnit
})
export type MissingComponent = typeof MissingComponent.Type

export const CostBreakdown = Schema.Struct({
  snapshotId: Schema.String,
  provider: Schema.String,
  modelKey: Schema.String,
  currency: Schema.String,
  lines: Schema.Array(CostLine),
  total: DecimalFromString,
  /**
   * Present only on a partial breakdown: usage the snapshot has no price for. `total` is the sum
   * of the priced lines and leaves these out; they are the call's cost at risk.
   */
  missing: Schema.optionalKey(Schema.Array(MissingComponent))
})
export type CostBreakdown = typeof CostBreakdown.Type
export type CostBreakdownEncoded = typeof CostBreakdown.Encoded

export const encode = Schema.encodeSync(CostBreakdown)
export const decode = Schema.decodeUnknownSync(CostBreakdown)
