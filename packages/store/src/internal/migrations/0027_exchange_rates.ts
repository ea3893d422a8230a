/**
 * Exchange rates and the conversions made with them (issue 22, currencies). Rates are dated data
 * (a day, the source and its timestamp, when Tally recorded it, by whom) and are only ever added:
 * the app role may insert and read them, never update or delete them, so a conversion made with a
 * rate can always be re-read. A corrected rate for a day is a new row recorded later. Each
 * conversion into the reporting currency is recorded with the rate ids it used (the audit trail).
 */
import { statements } from "./run.ts"

export default statements(
  `CREATE TABLE tally.exchange_rates (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    base text NOT NULL CHECK (base ~ '^[A-Z]{3}$'),
    quote text NOT NULL CHECK (quote ~ '^[A-Z]{3}$' AND quote <> base),
    rate_date date NOT NULL,
    rate numeric NOT NULL CHECK (rate > 0),
    source text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
    observed_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    recorded_by text NOT NULL DEFAULT 'system'
  )`,
  `CREATE INDEX exchange_rates_day ON tally.exchange_rates (tenant_id, base, quote, rate_date, recorded_at)`,
  `ALTER TABLE tally.exchange_rates ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.exchange_rates FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT ON tally.exchange_rates TO tally_app`,
  `CREATE TABLE tally.fx_conversions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 500),
    reporting_currency text NOT NULL CHECK (reporting_currency ~ '^[A-Z]{3}$'),
    as_of timestamptz NOT NULL,
    total numeric NOT NULL,
    days jsonb NOT NULL CHECK (jsonb_typeof(days) = 'array'),
    rate_ids uuid[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by text NOT NULL DEFAULT 'system'
  )`,
  `CREATE INDEX fx_conversions_subject ON tally.fx_conversions (tenant_id, subject, created_at)`,
  `ALTER TABLE tally.fx_conversions ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.fx_conversions FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT ON tally.fx_conversions TO tally_app`
)
