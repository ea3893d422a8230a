/**
 * A FOCUS cost group as SQL returns it (decimals and counts as text), whether read from the
 * ledger, the daily cost summary or a run's stored groups: the one mapping to core's `CostGroup`.
 */
import { type CostAllocation, Money } from "@tally/core"

export const toCostGroup = (row: Record<string, string | null>, currency: string): CostAllocation.Focus.CostGroup => ({
  owner: row.owner ?? null,
  provider: row.provider!,
  model: row.model!,
  snapshotId: row.snapshot_id ?? null,
  currency,
  component: row.component!,
  unit: row.unit!,
  listRate: new Money.Decimal(row.list_rate!),
  listRatePer: row.list_rate_per as CostAllocation.Focus.CostGroup["listRatePer"],
  unitPrice: new Money.Decimal(row.unit_price!),
  quantity: new Money.Decimal(row.quantity!),
  amount: new Money.Decimal(row.amount!),
  billed: new Money.Decimal(row.billed!),
  requests: Number(row.requests)
})
