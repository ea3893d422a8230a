/**
 * Reconciliation runs with their findings, and what a run reads besides the uploaded reports: the
 * ledger rows of its period (with their raw payloads, through the ledger's one row mapping) and
 * the request ids that arrived again with a different payload (conflict dead letters). Every
 * method runs in the tenant's scope.
 */
import type { Reconciliation, UsageRecord } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"

/** A conflict dead letter: a request id recorded before with a different event. */
export interface Conflict {
  readonly deadLetterId: string
  readonly requestId: string | null
  readonly receivedAt: string
  readonly reason: string
  /** The refused event as it arrived (its raw payload included). */
  readonly item: unknown
}

/** A run to store with its findings. */
export interface NewRun {
  readonly period: Reconciliation.Period
  readonly summary: Readonly<Record<string, unknown>>
  readonly report: Readonly<Record<string, unknown>>
  readonly findings: ReadonlyArray<Reconciliation.FindingInput>
}

interface RunRow {
  id: string
  period_from: Date
  period_to: Date
  created_at: Date
  summary: Record<string, unknown>
  report: Record<string, unknown>
}

const runOf = (row: RunRow): Reconciliation.Run => ({
  id: row.id,
  period: { from: new Date(row.period_from), to: new Date(row.period_to) },
  createdAt: new Date(row.created_at).toISOString(),
  summary: row.summary,
  report: row.report
})

interface FindingRow {
  id: string
  run_id: string
  request_id: string | null
  occurred_at: Date | null
  kind: string
  severity: Reconciliation.Severity
  provider: string | null
  model: string | null
  reported_cost: unknown
  computed_cost: unknown
  difference: unknown
  currency: string | null
  detail: Record<string, unknown>
}

const decimalText = (value: unknown): string | null => (value === null || value === undefined ? null : String(value))

const findingOf = (row: FindingRow): Reconciliation.Finding => ({
  id: row.id,
  runId: row.run_id,
  kind: row.kind,
  severity: row.severity,
  requestId: row.request_id,
  occurredAt: row.occurred_at === null ? null : DateTime.formatIso(DateTime.fromDateUnsafe(new Date(row.occurred_at))),
  provider: row.provider,
  model: row.model,
  reportedCost: decimalText(row.reported_cost),
  computedCost: decimalText(row.computed_cost),
  difference: decimalText(row.difference),
  currency: row.currency,
  evidence: row.detail
})

/** Run ids are uuids; anything else names no run (asking PostgreSQL would be a type error, not "none"). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface ReconciliationRunsService {
  /** The ledger rows with `from <= occurred_at < to`, oldest first. */
  readonly ledgerRows: (
    tenantId: string,
    period: Reconciliation.Period
  ) => Effect.Effect<ReadonlyArray<UsageRecord.UsageRecord>, SqlError>
  /**
   * Conflict dead letters (a request id recorded before with a different event) received in the
   * period or naming a request id the period's ledger holds.
   */
  readonly conflicts: (tenantId: string, period: Reconciliation.Period) => Effect.Effect<ReadonlyArray<Conflict>, SqlError>
  /** Records a run and its findings in one transaction. */
  readonly save: (tenantId: string, run: NewRun) => Effect.Effect<Reconciliation.Run, SqlError>
  /** The newest run over exactly this period, if any. */
  readonly latest: (tenantId: string, period: Reconciliation.Period) => Effect.Effect<Reconciliation.Run | undefined, SqlError>
  /** One run by id, if the tenant has it. */
  readonly get: (tenantId: string, runId: string) => Effect.Effect<Reconciliation.Run | undefined, SqlError>
  /** A run's findings, errors first. */
  readonly findings: (tenantId: string, runId: string) => Effect.Effect<ReadonlyArray<Reconciliation.Finding>, SqlError>
}

export class ReconciliationRuns extends Context.Service<ReconciliationRuns, ReconciliationRunsService>()(
  "@tally/store/ReconciliationRuns"
) {
  static readonly layer: Layer.Layer<ReconciliationRuns, never, Database> = Layer.effect(
    ReconciliationRuns,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const ledgerRows = Effect.fn("ReconciliationRuns.ledgerRows")(function*(tenantId: string, period: Reconciliation.Period) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<LedgerRow.Row>(
            `SELECT ${LedgerRow.rowWithPayload()} FROM tally.usage_ledger l ${LedgerRow.payloadJoin("l")}
              WHERE l.tenant_id = $1 AND l.occurred_at >= $2 AND l.occurred_at < $3
              ORDER BY l.occurred_at, l.request_id`,
            [tenantId, period.from, period.to]
          )
        )
        return rows.map(LedgerRow.toUsageRecord)
      })

      const conflicts = Effect.fn("ReconciliationRuns.conflicts")(function*(tenantId: string, period: Reconciliation.Period) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<{ id: string; request_id: string | null; received_at: Date; reason: string; item: unknown }>`SELECT d.id, d.request_id, d.received_at, d.reason, d.item
            FROM tally.dead_letters d
            WHERE d.tenant_id = ${tenantId} AND d.kind = 'conflict' AND (
              (d.received_at >= ${period.from} AND d.received_at < ${period.to})
              OR EXISTS (SELECT 1 FROM tally.usage_ledger l WHERE l.tenant_id = d.tenant_id AND l.request_id = d.request_id
                AND l.occurred_at >= ${period.from} AND l.occurred_at < ${period.to}))
            ORDER BY d.received_at, d.id`
        )
        return rows.map((row): Conflict => ({
          deadLetterId: row.id,
          requestId: row.request_id,
          receivedAt: new Date(row.received_at).toISOString(),
          reason: row.reason,
          item: row.item
        }))
      })

      const save = Effect.fn("ReconciliationRuns.save")(function*(tenantId: string, input: NewRun) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const [run] = yield* sql<{ id: string; created_at: Date }>`INSERT INTO tally.reconciliation_runs (tenant_id, period_from, period_to, summary, report)
              VALUES (${tenantId}, ${input.period.from}, ${input.period.to}, ${JSON.stringify(input.summary)}::jsonb, ${JSON.stringify(input.report)}::jsonb)
              RETURNING id, created_at`
            const runId = run!.id
            // One statement per finding keeps the SQL plain; a run has few findings compared with rows.
            for (const f of input.findings) {
              yield* sql`INSERT INTO tally.reconciliation_findings
                (tenant_id, run_id, request_id, occurred_at, kind, severity, provider, model, reported_cost, computed_cost, difference, currency, detail)
                VALUES (${tenantId}, ${runId}, ${f.requestId}, ${f.occurredAt === null ? null : new Date(f.occurredAt)}, ${f.kind}, ${f.severity},
                  ${f.provider}, ${f.model}, ${f.reportedCost}, ${f.computedCost}, ${f.difference}, ${f.currency}, ${JSON.stringify(f.evidence)}::jsonb)`
            }
            return {
              id: runId,
              period: input.period,
              createdAt: new Date(run!.created_at).toISOString(),
              summary: input.summary,
              report: input.report
            } satisfies Reconciliation.Run
          })
        )
      })

      const latest = Effect.fn("ReconciliationRuns.latest")(function*(tenantId: string, period: Reconciliation.Period) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<RunRow>`SELECT id, period_from, period_to, created_at, summary, report FROM tally.reconciliation_runs
            WHERE tenant_id = ${tenantId} AND period_from = ${period.from} AND period_to = ${period.to}
            ORDER BY created_at DESC, id LIMIT 1`
        )
        return rows[0] === undefined ? undefined : runOf(rows[0])
      })

      const get = Effect.fn("ReconciliationRuns.get")(function*(tenantId: string, runId: string) {
        if (!UUID.test(runId)) return undefined
        const rows = yield* db.withTenant(
          tenantId,
          sql<RunRow>`SELECT id, period_from, period_to, created_at, summary, report FROM tally.reconciliation_runs
            WHERE tenant_id = ${tenantId} AND id = ${runId}`
        )
        return rows[0] === undefined ? undefined : runOf(rows[0])
      })

      const findings = Effect.fn("ReconciliationRuns.findings")(function*(tenantId: string, runId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<FindingRow>`SELECT id, run_id, request_id, occurred_at, kind, severity, provider, model, reported_cost::text, computed_cost::text, difference::text, currency, detail
            FROM tally.reconciliation_findings
            WHERE tenant_id = ${tenantId} AND run_id = ${runId}
            ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, kind, occurred_at NULLS LAST, request_id NULLS LAST, id`
        )
        return rows.map(findingOf)
      })

      return ReconciliationRuns.of({ ledgerRows, conflicts, save, latest, get, findings })
    })
  )
}
