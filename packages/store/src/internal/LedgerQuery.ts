/**
 * Pieces the ledger's read queries share (`UsageReport`, `LedgerRecords`, `UnitCosts`): numbered
 * parameters for statements built as text, the ledger column of each usage dimension, and a usage
 * filter as WHERE conditions on the ledger.
 */
import { UsageQuery } from "@tally/core"
import type * as SqlClient from "effect/sql/SqlClient"

/** Parameters of a statement built as text: each `add` binds a value and returns its `$n`. */
export class Params {
  readonly values: Array<unknown> = []
  add(value: unknown): string {
    this.values.push(value)
    return `$${this.values.length}`
  }
}

/** Ledger column of each dimension. */
export const ledgerColumn: Record<UsageQuery.Dimension, string> = {
  provider: "provider",
  model: "model",
  project: "project",
  environment: "environment",
  feature: "feature",
  team: "team",
  customer: "customer",
  costCenter: "cost_center",
  apiKeyId: "api_key_id",
  endUser: "end_user",
  workflow: "workflow",
  currency: "currency"
}

/** The filter as conditions on ledger rows (absent labels match `""`). */
export const filterOnLedger = (filter: UsageQuery.UsageFilter | undefined, params: Params): Array<string> => {
  const out: Array<string> = []
  for (const d of UsageQuery.dimensions) {
    const values = filter?.[d]
    if (values === undefined) continue
    out.push(`coalesce(${ledgerColumn[d]}, '') = ANY(${params.add([...values])}::text[])`)
  }
  if (filter?.tags !== undefined && Object.keys(filter.tags).length > 0) {
    out.push(`tags @> ${params.add(JSON.stringify(filter.tags))}::jsonb`)
  }
  return out
}

/**
 * JIT off for the rest of the transaction: scans of a month's ledger or rollups cross
 * jit_above_cost, and compiling their expressions costs more than running them.
 */
export const jitOff = (sql: SqlClient.SqlClient) => sql`SELECT set_config('jit', 'off', true)`
