/**
 * Provider reports uploaded for reconciliation (OpenAI and Anthropic cost and usage exports, CSV),
 * kept exactly as uploaded with the period their rows cover, so a run over an overlapping period
 * can read them again. Parsing them is the engine's (`Reconcile.Compare`).
 */
import type { Reconciliation } from "@tally/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"

interface ReportRow {
  readonly id: string
  readonly format: Reconciliation.ReportFormat
  readonly name: string | null
  readonly period_from: Date
  readonly period_to: Date
  readonly row_count: number
  readonly content: string
  readonly uploaded_at: Date
}

const fromRow = (row: ReportRow): Reconciliation.Report => ({
  id: row.id,
  format: row.format,
  ...(row.name === null ? {} : { name: row.name }),
  period: { from: new Date(row.period_from), to: new Date(row.period_to) },
  rowCount: Number(row.row_count),
  content: row.content,
  uploadedAt: new Date(row.uploaded_at).toISOString()
})

export interface ProviderReportsService {
  /** Stores an uploaded report. */
  readonly save: (tenantId: string, input: Reconciliation.ReportInput) => Effect.Effect<Reconciliation.Report, SqlError>
  /** Uploaded reports overlapping the period, oldest upload first. */
  readonly list: (
    tenantId: string,
    period: Reconciliation.Period
  ) => Effect.Effect<ReadonlyArray<Reconciliation.Report>, SqlError>
}

export class ProviderReports extends Context.Service<ProviderReports, ProviderReportsService>()("@tally/store/ProviderReports") {
  static readonly layer: Layer.Layer<ProviderReports, never, Database> = Layer.effect(
    ProviderReports,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const save = Effect.fn("ProviderReports.save")(function*(tenantId: string, input: Reconciliation.ReportInput) {
        const [row] = yield* db.withTenant(
          tenantId,
          sql<{ id: string; uploaded_at: Date }>`INSERT INTO tally.provider_reports (tenant_id, format, name, period_from, period_to, row_count, content)
            VALUES (${tenantId}, ${input.format}, ${input.name ?? null}, ${input.period.from}, ${input.period.to}, ${input.rowCount}, ${input.content})
            RETURNING id, uploaded_at`
        )
        return { ...input, id: row!.id, uploadedAt: new Date(row!.uploaded_at).toISOString() } satisfies Reconciliation.Report
      })

      const list = Effect.fn("ProviderReports.list")(function*(tenantId: string, period: Reconciliation.Period) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<ReportRow>`SELECT id, format, name, period_from, period_to, row_count, content, uploaded_at
            FROM tally.provider_reports
            WHERE tenant_id = ${tenantId} AND period_from < ${period.to} AND period_to > ${period.from}
            ORDER BY uploaded_at, id`
        )
        return rows.map(fromRow)
      })

      return ProviderReports.of({ save, list })
    })
  )
}
