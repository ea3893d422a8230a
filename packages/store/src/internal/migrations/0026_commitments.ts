/**
 * Commitments (committed-use discounts and provisioned throughput) and what each did to the calls
 * it covered. `commitment_usage` is written in the ingest transaction for the calls really
 * inserted, one row per call at most (a replay writes nothing), so a period's report is a sum.
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
  `CREATE TABLE tally.commitments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind text NOT NULL CHECK (kind IN ('spend', 'provisioned')),
    provider text,
    model text,
    deployment text,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    discount_percent numeric CHECK (discount_percent >= 0 AND discount_percent <= 100),
    amount numeric CHECK (amount >= 0),
    fee numeric CHECK (fee >= 0),
    fee_period text CHECK (fee_period IN ('hour', 'month')),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz CHECK (ends_at > starts_at),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    archived_at timestamptz,
    CHECK ((kind = 'spend' AND discount_percent IS NOT NULL AND amount IS NOT NULL AND fee IS NULL)
        OR (kind = 'provisioned' AND fee IS NOT NULL AND fee_period IS NOT NULL AND discount_percent IS NULL)),
    UNIQUE (tenant_id, id)
  )`,
  `CREATE INDEX commitments_active ON tally.commitments (tenant_id, created_at) WHERE archived_at IS NULL`,
  ...tenantTable("commitments", "SELECT, INSERT, UPDATE"),
  `CREATE TABLE tally.commitment_usage (
    tenant_id text NOT NULL,
    request_id text NOT NULL,
    commitment_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    kind text NOT NULL CHECK (kind IN ('provisioned', 'spillover', 'discounted')),
    on_demand numeric NOT NULL,
    charged numeric NOT NULL,
    currency text NOT NULL,
    tokens bigint NOT NULL,
    signal text,
    PRIMARY KEY (tenant_id, request_id),
    FOREIGN KEY (tenant_id, commitment_id) REFERENCES tally.commitments (tenant_id, id)
  )`,
  `CREATE INDEX commitment_usage_period ON tally.commitment_usage (tenant_id, commitment_id, occurred_at)`,
  ...tenantTable("commitment_usage", "SELECT, INSERT")
)
