/**
 * Tenants and calls a store test needs, and what landed, counted as the owner (no row security)
 * to check what was really stored.
 */
import { Money, type UsageRecord } from "@tally/core"
import * as Effect from "effect/Effect"
import { Database } from "../src/Database.ts"
import { Tenants } from "../src/Tenants.ts"
import { UsageLedger } from "../src/UsageLedger.ts"

export const newTenant = (name = "Acme") =>
  Effect.gen(function*() {
    const tenants = yield* Tenants
    return (yield* tenants.create({ name })).id
  })

export interface Totals {
  readonly ledgerRows: number
  /** Rows of `usage_payloads` (0022): one per ledger row whose call has a raw payload. */
  readonly payloadRows: number
  readonly requestIds: number
  readonly ledgerCost: string
  readonly rollupRequests: number
  readonly rollupCost: string
  readonly rollupInputText: number
  readonly deadLetters: number
}

/** What is stored for a tenant, counted as the owner. */
export const totals = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const [row] = yield* sql<{
      ledger_rows: bigint
      payload_rows: bigint
      request_ids: bigint
      ledger_cost: string
      rollup_requests: string
      rollup_cost: string
      rollup_input_text: string
      dead_letters: bigint
    }>`SELECT
        (SELECT count(*) FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger_rows,
        (SELECT count(*) FROM tally.usage_payloads WHERE tenant_id = ${tenantId}) AS payload_rows,
        (SELECT count(*) FROM tally.usage_request_ids WHERE tenant_id = ${tenantId}) AS request_ids,
        (SELECT coalesce(sum(total), 0)::text FROM tally.usage_ledger WHERE tenant_id = ${tenantId}) AS ledger_cost,
        (SELECT coalesce(sum(request_count), 0)::text FROM tally.usage_rollups_hourly WHERE tenant_id = ${tenantId}) AS rollup_requests,
        (SELECT coalesce(sum(cost), 0)::text FROM tally.usage_rollups_hourly WHERE tenant_id = ${tenantId}) AS rollup_cost,
        (SELECT coalesce(sum(input_text), 0)::text FROM tally.usage_rollups_hourly WHERE tenant_id = ${tenantId}) AS rollup_input_text,
        (SELECT count(*) FROM tally.dead_letters WHERE tenant_id = ${tenantId}) AS dead_letters`
    return {
      ledgerRows: Number(row!.ledger_rows),
      payloadRows: Number(row!.payload_rows),
      requestIds: Number(row!.request_ids),
      ledgerCost: Money.format(new Money.Decimal(row!.ledger_cost)),
      rollupRequests: Number(row!.rollup_requests),
      rollupCost: Money.format(new Money.Decimal(row!.rollup_cost)),
      rollupInputText: Number(row!.rollup_input_text),
      deadLetters: Number(row!.dead_letters)
    } satisfies Totals
  })

export const empty: Totals = {
  ledgerRows: 0,
  payloadRows: 0,
  requestIds: 0,
  ledgerCost: "0",
  rollupRequests: 0,
  rollupCost: "0",
  rollupInputText: 0,
  deadLetters: 0
}

/** Records calls 50 at a time; returns those inserted now (not duplicates or rejected ones). */
export const insertAll = (tenantId: string, calls: ReadonlyArray<UsageRecord.UsageRecord>) =>
  Effect.gen(function*() {
    const ledger = yield* UsageLedger
    const recorded: Array<UsageRecord.UsageRecord> = []
    for (let i = 0; i < calls.length; i += 50) {
      const batch = calls.slice(i, i + 50)
      const result = yield* ledger.insertBatch(tenantId, batch)
      result.items.forEach((item, j) => {
        if (item.status === "inserted") recorded.push(batch[j]!)
      })
    }
    return recorded
  })
