/**
 * Anomaly findings: unusual spend, token rates, model mix or cost per request for one scope of a
 * tenant, with the evidence that made them unusual.
 *
 * A finding is keyed by (tenant, kind, scope, window start, currency): detection runs again over
 * the same hours (on a schedule, on backfill, from several workers at once) and must never record
 * the same anomaly twice, so the key is a UNIQUE constraint and writers insert `ON CONFLICT DO
 * NOTHING`. Money is never compared across currencies, so a tenant billed in two currencies can
 * have one finding per currency; token rates have no currency (NULL, equal to itself here).
 * Findings are append-only for the application.
 */
import { statements } from "./run.ts"

export default statements(
  `CREATE TABLE tally.anomalies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    kind text NOT NULL CHECK (kind IN ('spend_spike', 'token_rate_spike', 'model_mix_shift', 'cost_per_request_jump')),
    scope_kind text NOT NULL CHECK (scope_kind IN ('tenant', 'project', 'feature', 'team', 'customer', 'apiKey', 'model')),
    scope_value text NOT NULL CHECK ((scope_kind = 'tenant') = (scope_value = '')),
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL CHECK (window_end > window_start),
    severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    currency text CHECK (currency ~ '^[A-Z]{3}$'),
    observed numeric NOT NULL,
    expected numeric NOT NULL,
    statistic text NOT NULL CHECK (length(statistic) BETWEEN 1 AND 100),
    score numeric NOT NULL,
    summary text NOT NULL CHECK (length(summary) BETWEEN 1 AND 1000),
    evidence jsonb NOT NULL CHECK (jsonb_typeof(evidence) = 'object'),
    detected_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (tenant_id, kind, scope_kind, scope_value, window_start, currency)
  )`,
  `CREATE INDEX anomalies_tenant_window ON tally.anomalies (tenant_id, window_start)`,
  `ALTER TABLE tally.anomalies ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.anomalies FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT ON tally.anomalies TO tally_app`
)
