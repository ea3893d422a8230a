/**
 * Prepaid credits: grants (credit packs) of a customer or a team in a currency or in tokens, and
 * their drawdowns. A drawdown is written in the ingest transaction for a call really inserted, so
 * a replayed event draws nothing; its key (tenant, request, grant) makes a second draw of the same
 * call from the same grant impossible even so. `remaining` never goes below zero (a CHECK), and
 * drawing locks the grants it draws from.
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
  `CREATE TABLE tally.credit_grants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    seq bigint GENERATED ALWAYS AS IDENTITY,
    account_kind text NOT NULL CHECK (account_kind IN ('customer', 'team')),
    account text NOT NULL CHECK (length(account) BETWEEN 1 AND 512),
    unit text NOT NULL CHECK (unit ~ '^[A-Z]{3}$' OR unit = 'tokens'),
    amount numeric NOT NULL CHECK (amount > 0),
    remaining numeric NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    priority integer NOT NULL DEFAULT 0,
    effective_at timestamptz NOT NULL,
    expires_at timestamptz CHECK (expires_at > effective_at),
    alert_thresholds numeric[] NOT NULL DEFAULT '{}',
    enforce boolean NOT NULL DEFAULT false,
    note text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    voided_at timestamptz,
    UNIQUE (tenant_id, id)
  )`,
  `CREATE INDEX credit_grants_account ON tally.credit_grants (tenant_id, account_kind, account, unit, priority, seq)`,
  ...tenantTable("credit_grants", "SELECT, INSERT, UPDATE"),
  `CREATE TABLE tally.credit_drawdowns (
    tenant_id text NOT NULL,
    request_id text NOT NULL,
    grant_id uuid NOT NULL,
    amount numeric NOT NULL CHECK (amount > 0),
    unit text NOT NULL,
    basis text NOT NULL CHECK (basis IN ('price', 'cost', 'tokens')),
    occurred_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, request_id, grant_id),
    FOREIGN KEY (tenant_id, grant_id) REFERENCES tally.credit_grants (tenant_id, id)
  )`,
  `CREATE INDEX credit_drawdowns_grant ON tally.credit_drawdowns (tenant_id, grant_id, occurred_at)`,
  ...tenantTable("credit_drawdowns", "SELECT, INSERT")
)
