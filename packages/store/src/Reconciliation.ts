/**
 * What reconciliation reads and writes: the ledger rows of a period with their raw payloads, the
 * request ids that arrived again with a different payload (conflict dead letters), uploaded
 * provider reports, and runs with their findings. Every statement runs in the tenant's scope.
 */
import type { UsageRecord } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import * as LedgerRow from "./internal/LedgerRow.ts"

export interface Period {
  readonly from: Date
  /** Exclusive. */
  readonly to: Date
}

/** The ledger rows with `from <= occurred_at < to`, oldest first. */
export const ledgerRows = (tenantId: string, period: Period): Effect.Effect<ReadonlyArray<UsageRecord.UsageRecord>, SqlError, Database> =>
  Effect.gen(function*() {
    const db = yield* Database
    const rows = yield* db.withTenant(
      tenantId,
      db.sql<LedgerRow.Row>`SELECT * FROM tally.usage_ledger
        WHERE tenant_id = ${tenantId} AND occurred_at >= ${period.from} AND occurred_at < ${period.to}
        ORDER BY occurred_at, request_id`
    )
    return rows.map(LedgerRow.toUsageRecord)
  })

export interface Conflict {
  readonly deadLetterId: string
  readonly requestId: string | null
  readonly receivedAt: string
  readonly reason: string
  /** The refused event as it arrived (its raw payload included). */
  readonly item: unknown
}

/**
 * Conflict dead letters (a request id recorded before with a different event) received in the
 * period or naming a request id the period's ledger holds.
 */
export const conflicts = (tenantId: string, period: Period): Effect.Effect<ReadonlyArray<Conflict>, SqlError, Database> =>
  Effect.gen(function*() {
    const db = yield* Database
    const rows = yield* db.withTenant(
      tenantId,
      db.sql<{ id: string; request_id: string | null; received_at: Date; reason: string; item: unknown }>`SELECT d.id, d.request_id, d.received_at, d.reason, d.item
        FROM tally.dead_letters d
        WHERE d.tenant_id = ${tenantId} AND d.kind = 'conflict' AND (
          (d.received_at >= ${period.from} AND d.received_at < ${period.to})
          OR EXISTS (SELECT 1 FROM tally.usage_ledger l WHERE l.tenant_id = d.tenant_id AND l.request_id = d.request_id
            AND l.occurred_at >= ${period.from} AND l.occurred_at < ${period.to}))
        ORDER BY d.received_at, d.id`
    )
    return rows.map((row) => ({
      deadLetterId: row.id,
      requestId: row.request_id,
      receivedAt: new Date(row.received_at).toISOString(),
      reason: row.reason,
      item: row.item
    }))
  })

// Provider reports ---------------------------------------------------------------------------

export type ReportFormat = "openai-costs" | "openai-usage" | "anthropic-cost" | "anthropic-usage" | "csv"

export interface ReportInput {
  readonly format: ReportFormat
  readonly name?: string | undefined
  /** The period the report's rows cover (first bucket start, last bucket end). */
  readonly period: Period
  readonly rowCount: number
  /** The report exactly as uploaded. */
  readonly content: string
}

export interface StoredReport extends ReportInput {
  readonly id: string
  readonly uploadedAt: string
}

export const saveReport = (tenantId: string, input: ReportInput): Effect.Effect<StoredReport, SqlError, Database> =>
  Effect.gen(function*() {
    const db = yield* Database
    const [row] = yield* db.withTenant(
      tenantId,
      db.sql<{ id: string; uploaded_at: Date }>`INSERT INTO tally.provider_reports (tenant_id, format, name, period_from, period_to, row_count, content)
        VALUES (${tenantId}, ${input.format}, ${input.name ?? null}, ${input.period.from}, ${input.period.to}, ${input.rowCount}, ${input.content})
        RETURNING id, uploaded_at`
    )
    return { ...input, id: row!.id, uploadedAt: new Date(row!.uploaded_at).toISOString() }
  })

/** Uploaded reports overlapping the period, oldest upload first. */
export const reports = (tenantId: string, period: Period): Effect.Effect<ReadonlyArray<StoredReport>, SqlError, Database> =>
  Effect.gen(function*() {
    const db = yield* Database
    const rows = yield* db.withTenant(
      tenantId,
      db.sql<{ id: string; format: ReportFormat; name: string | null; period_from: Date; period_to: Date; row_count: number; content: string; uploaded_at: Date }>`SELECT
          id, format, name, period_from, period_to, row_count, content, uploaded_at
        FROM tally.provider_reports
        WHERE tenant_id = ${tenantId} AND period_from < ${period.to} AND period_to > ${period.from}
        ORDER BY uploaded_at, id`
    )
    return rows.map((row) => ({
      id: row.id,
      format: row.format,
      ...(row.name === null ? {} : { name: row.name }),
      period: { from: new Date(row.period_from), to: new Date(row.period_to) },
      rowCount: Number(row.row_count),
      content: row.content,
      uploadedAt: new Date(row.uploaded_at).toISOString()
    }))
  })

// Runs and findings --------------------------------------------------------------------------

export type Severity = "info" | "warning" | "error"

export interface FindingInput {
  readonly kind: string
  readonly severity: Severity
  readonly requestId: string | null
  readonly occurredAt: string | null
  readonly provider: string | null
  readonly model: string | null
  /** Exact decimals as strings. */
  readonly reportedCost: string | null
  readonly computedCost: string | null
  readonly difference: string | null
  readonly currency: string | null
  /** What shows the problem: rows, amounts, snapshot ids, the message. */
  readonly evidence: Readonly<Record<string, unknown>>
}

export interface StoredFinding extends FindingInput {
  readonly id: string
  readonly runId: string
}

export interface StoredRun {
  readonly id: string
  readonly period: Period
  readonly createdAt: string
  readonly summary: Readonly<Record<string, unknown>>
  readonly report: Readonly<Record<string, unknown>>
}

/** Records a run and its findings in one transaction. */
export const saveRun = (
  tenantId: string,
  input: { readonly period: Period; readonly summary: Readonly<Record<string, unknown>>; readonly report: Readonly<Record<string, unknown>>; readonly findings: ReadonlyArray<FindingInput> }
): Effect.Effect<StoredRun, SqlError, Database> =>
  Effect.gen(function*() {
    const db = yield* Database
    const sql = db.sql
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
        return { id: runId, period: input.period, createdAt: new Date(run!.created_at).toISOString(), summary: input.summary, report: input.report }
      })
    )
  })

interface RunRow {
  id: string
  period_from: Date
  period_to: Date
  created_at: Date
  summary: Record<string, unknown>
  report: Record<string, unknown>
}

const runOf = (row: RunRow): StoredRun => ({
  id: row.id,
  period: { from: new Date(row.period_from), to: new Date(row.period_to) },
  createdAt: new Date(row.created_at).toISOString(),
  summary: row.summary,
  report: row.report
})

/** The newest run over exactly this period, if any. */
export const latestRun = (tenantId: string, period: Period): Effect.Effect<StoredRun | undefined, SqlError, Database> =>
  Effect.gen(function*() {
    const db = yield* Database
    const rows = yield* db.withTenant(
      tenantId,
      db.sql<RunRow>`SELECT id, period_from, period_to, created_at, summary, report FROM tally.reconciliation_runs
        WHERE tenant_id = ${tenantId} AND period_from = ${period.from} AND period_to = ${period.to}
        ORDER BY created_at DESC, id LIMIT 1`
    )
    return rows[0] === undefined ? undefined : runOf(rows[0])
  })

/** One run by id, if the tenant has it. */
export const getRun = (tenantId: string, runId: string): Effect.Effect<StoredRun | undefined, SqlError, Database> =>
  Effect.gen(function*() {
    const db = yield* Database
    // Not a uuid cannot name a run; asking PostgreSQL would be a type error, not "none".
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(runId)) return undefined
    const rows = yield* db.withTenant(
      tenantId,
      db.sql<RunRow>`SELECT id, period_from, period_to, created_at, summary, report FROM tally.reconciliation_runs
        WHERE tenant_id = ${tenantId} AND id = ${runId}`
    )
    return rows[0] === undefined ? undefined : runOf(rows[0])
  })

const decimalText = (value: unknown): string | null => (value === null || value === undefined ? null : String(value))

/** A run's findings, errors first. */
export const findings = (tenantId: string, runId: string): Effect.Effect<ReadonlyArray<StoredFinding>, SqlError, Database> =>
  Effect.gen(function*() {
    const db = yield* Database
    const rows = yield* db.withTenant(
      tenantId,
      db.sql<{
        id: string
        run_id: string
        request_id: string | null
        occurred_at: Date | null
        kind: string
        severity: Severity
        provider: string | null
        model: string | null
        reported_cost: unknown
        computed_cost: unknown
        difference: unknown
        currency: string | null
        detail: Record<string, unknown>
      }>`SELECT id, run_id, request_id, occurred_at, kind, severity, provider, model, reported_cost::text, computed_cost::text, difference::text, currency, detail
        FROM tally.reconciliation_findings
        WHERE tenant_id = ${tenantId} AND run_id = ${runId}
        ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, kind, occurred_at NULLS LAST, request_id NULLS LAST, id`
    )
    return rows.map((row) => ({
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
    }))
  })
