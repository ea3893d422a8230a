/**
 * Reconciliation runs, their findings' severity and run, and uploaded provider reports.
 *
 * 0004 created `reconciliation_findings` before the service existed; a run now groups its
 * findings (`run_id`) and every finding carries a severity. A provider report (OpenAI Costs or
 * Usage page, Anthropic cost or usage report, generic CSV) is kept verbatim as uploaded, with the
 * period it covers, so a later run over that period compares against it.
 */
import { statements } from "./run.ts"

const tenantTable = (table: string, grants: string) => [
  `ALTER TABLE tally.${table} ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.${table} FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT ${grants} ON tally.${table} TO tally_app`
]

export default statements(
  `CREATE TABLE tally.reconciliation_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    period_from timestamptz NOT NULL,
    period_to timestamptz NOT NULL CHECK (period_to > period_from),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    summary jsonb NOT NULL CHECK (jsonb_typeof(summary) = 'object'),
    report jsonb NOT NULL CHECK (jsonb_typeof(report) = 'object')
  )`,
  `CREATE INDEX reconciliation_runs_period ON tally.reconciliation_runs (tenant_id, period_from, period_to, created_at)`,
  ...tenantTable("reconciliation_runs", "SELECT, INSERT"),
  `ALTER TABLE tally.reconciliation_findings
    ADD COLUMN run_id uuid REFERENCES tally.reconciliation_runs (id),
    ADD COLUMN severity text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'error'))`,
  `CREATE INDEX reconciliation_findings_run ON tally.reconciliation_findings (tenant_id, run_id)`,
  `CREATE TABLE tally.provider_reports (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    format text NOT NULL CHECK (format IN ('openai-costs', 'openai-usage', 'anthropic-cost', 'anthropic-usage', 'csv')),
    name text CHECK (length(name) <= 500),
    period_from timestamptz NOT NULL,
    period_to timestamptz NOT NULL CHECK (period_to >= period_from),
    row_count integer NOT NULL CHECK (row_count >= 0),
    content text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT clock_timestamp()
  )`,
  `CREATE INDEX provider_reports_period ON tally.provider_reports (tenant_id, period_from, period_to)`,
  ...tenantTable("provider_reports", "SELECT, INSERT")
)
