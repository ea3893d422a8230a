/**
 * Tables the budget, chargeback and reconciliation services write. Their services come with later
 * issues; the keys that make those services correct are here from the start: a threshold crossing
 * is recorded once per (budget, period, threshold), and a chargeback line belongs to one run.
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
  `CREATE TABLE tally.budgets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scope jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(scope) = 'object'),
    period text NOT NULL CHECK (period IN ('day', 'week', 'month', 'quarter', 'year')),
    amount numeric NOT NULL CHECK (amount > 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    thresholds numeric[] NOT NULL DEFAULT '{50,80,100}' CHECK (cardinality(thresholds) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz,
    UNIQUE (tenant_id, id)
  )`,
  ...tenantTable("budgets", "SELECT, INSERT, UPDATE"),
  `CREATE TABLE tally.budget_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL,
    budget_id uuid NOT NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL CHECK (period_end > period_start),
    threshold numeric NOT NULL CHECK (threshold > 0),
    spent numeric NOT NULL,
    budget_amount numeric NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    crossed_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, budget_id) REFERENCES tally.budgets (tenant_id, id),
    UNIQUE (budget_id, period_start, threshold)
  )`,
  ...tenantTable("budget_events", "SELECT, INSERT"),
  `CREATE TABLE tally.chargeback_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    period_from timestamptz NOT NULL,
    period_to timestamptz NOT NULL CHECK (period_to > period_from),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'frozen', 'void')),
    rule jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(rule) = 'object'),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total numeric,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    frozen_at timestamptz,
    CHECK ((status = 'frozen') = (frozen_at IS NOT NULL)),
    UNIQUE (tenant_id, id)
  )`,
  ...tenantTable("chargeback_runs", "SELECT, INSERT, UPDATE"),
  `CREATE TABLE tally.chargeback_lines (
    tenant_id text NOT NULL,
    run_id uuid NOT NULL,
    line_no integer NOT NULL CHECK (line_no >= 0),
    dimension jsonb NOT NULL CHECK (jsonb_typeof(dimension) = 'object'),
    amount numeric NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    detail jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, line_no),
    FOREIGN KEY (tenant_id, run_id) REFERENCES tally.chargeback_runs (tenant_id, id)
  )`,
  ...tenantTable("chargeback_lines", "SELECT, INSERT"),
  `CREATE TABLE tally.reconciliation_findings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    request_id text,
    occurred_at timestamptz,
    kind text NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    provider text,
    model text,
    reported_cost numeric,
    computed_cost numeric,
    difference numeric,
    currency text CHECK (currency ~ '^[A-Z]{3}$'),
    detail jsonb NOT NULL DEFAULT '{}',
    found_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolution text
  )`,
  `CREATE INDEX reconciliation_findings_tenant ON tally.reconciliation_findings (tenant_id, found_at)`,
  ...tenantTable("reconciliation_findings", "SELECT, INSERT, UPDATE")
)
