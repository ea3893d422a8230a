/**
 * Selling usage: a tenant's sale price rules (its sale price book), its customers' plans, the sale
 * price of every recorded call beside its cost, and customer statements.
 *
 * - `sale_price_rules`: markups and list prices, each for one customer, one plan or everyone, one
 *   model, one provider or everything, effective-dated. Removing a rule archives it: prices
 *   already recorded keep naming it.
 * - `customer_plans`: which plan a customer is on from when (the latest assignment in effect wins).
 * - `usage_prices`: one row per recorded call of a tenant that has sale rules, keyed like the
 *   idempotency key (tenant, request id) and written in the call's ledger transaction: the price
 *   (or why there is none), its lines and the rule, and the cost it was derived from.
 * - `customer_statements`: a customer's priced usage of a period as statement lines, draft or
 *   final; a final statement never changes (trigger), late usage becomes a correction statement.
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
  `CREATE TABLE tally.sale_price_rules (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    customer text CHECK (length(customer) BETWEEN 1 AND 200),
    plan text CHECK (length(plan) BETWEEN 1 AND 200),
    provider text CHECK (length(provider) BETWEEN 1 AND 200),
    model text CHECK (length(model) BETWEEN 1 AND 200),
    kind text NOT NULL CHECK (kind IN ('markup-percent', 'markup-per-unit', 'list-price')),
    percent numeric CHECK (percent >= 0),
    per_unit numeric CHECK (per_unit >= 0),
    rates jsonb CHECK (rates IS NULL OR jsonb_typeof(rates) = 'object'),
    currency text CHECK (currency ~ '^[A-Z]{3}$'),
    effective_from timestamptz NOT NULL,
    effective_to timestamptz CHECK (effective_to > effective_from),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    archived_at timestamptz,
    CHECK (customer IS NULL OR plan IS NULL),
    CHECK ((kind = 'markup-percent') = (percent IS NOT NULL)),
    CHECK ((kind = 'markup-per-unit') = (per_unit IS NOT NULL)),
    CHECK ((kind = 'list-price') = (rates IS NOT NULL)),
    CHECK ((kind = 'markup-percent') = (currency IS NULL)),
    UNIQUE (tenant_id, id)
  )`,
  `CREATE INDEX sale_price_rules_active ON tally.sale_price_rules (tenant_id, created_at) WHERE archived_at IS NULL`,
  ...tenantTable("sale_price_rules", "SELECT, INSERT, UPDATE"),
  `CREATE TABLE tally.customer_plans (
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    customer text NOT NULL CHECK (length(customer) BETWEEN 1 AND 200),
    effective_from timestamptz NOT NULL,
    plan text NOT NULL CHECK (length(plan) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, customer, effective_from)
  )`,
  ...tenantTable("customer_plans", "SELECT, INSERT, UPDATE, DELETE"),
  `CREATE TABLE tally.usage_prices (
    tenant_id text NOT NULL,
    request_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    customer text,
    plan text,
    feature text,
    provider text NOT NULL,
    model text NOT NULL,
    status text NOT NULL CHECK (status IN ('priced', 'unpriced')),
    rule_id uuid,
    kind text CHECK (kind IN ('markup-percent', 'markup-per-unit', 'list-price')),
    reason text,
    currency text,
    total numeric,
    lines jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(lines) = 'array'),
    cost_total numeric,
    cost_currency text,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    repriced_at timestamptz,
    PRIMARY KEY (tenant_id, request_id),
    CHECK ((status = 'priced') = (total IS NOT NULL AND currency IS NOT NULL AND rule_id IS NOT NULL)),
    CHECK ((status = 'unpriced') = (reason IS NOT NULL)),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES tally.sale_price_rules (tenant_id, id)
  )`,
  `CREATE INDEX usage_prices_time ON tally.usage_prices (tenant_id, occurred_at)`,
  `CREATE INDEX usage_prices_customer ON tally.usage_prices (tenant_id, customer, occurred_at)`,
  ...tenantTable("usage_prices", "SELECT, INSERT, UPDATE"),
  `CREATE TABLE tally.customer_statements (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    customer text NOT NULL CHECK (length(customer) BETWEEN 1 AND 200),
    period_from timestamptz NOT NULL,
    period_to timestamptz NOT NULL CHECK (period_to > period_from),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    group_by text NOT NULL CHECK (group_by IN ('model', 'feature')),
    kind text NOT NULL CHECK (kind IN ('statement', 'correction')),
    corrects_id uuid,
    status text NOT NULL CHECK (status IN ('draft', 'final')),
    lines jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array'),
    total numeric NOT NULL,
    exact_total numeric NOT NULL,
    request_count bigint NOT NULL CHECK (request_count >= 0),
    unpriced_count bigint NOT NULL CHECK (unpriced_count >= 0),
    as_of timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finalized_at timestamptz,
    finalized_by text CHECK (length(finalized_by) BETWEEN 1 AND 200),
    UNIQUE (tenant_id, id),
    CHECK ((kind = 'correction') = (corrects_id IS NOT NULL)),
    CHECK ((status = 'final') = (finalized_at IS NOT NULL AND finalized_by IS NOT NULL)),
    FOREIGN KEY (tenant_id, corrects_id) REFERENCES tally.customer_statements (tenant_id, id)
  )`,
  `CREATE INDEX customer_statements_period ON tally.customer_statements (tenant_id, customer, currency, period_from)`,
  ...tenantTable("customer_statements", "SELECT, INSERT, UPDATE, DELETE"),
  // A final statement is immutable for every role, like a finalized chargeback run.
  `CREATE FUNCTION tally.customer_statement_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
      IF OLD.status = 'final' THEN
        RAISE EXCEPTION 'customer statement % is final and cannot change', OLD.id
          USING ERRCODE = 'object_not_in_prerequisite_state';
      END IF;
      IF TG_OP = 'DELETE' THEN
        RETURN OLD;
      END IF;
      RETURN NEW;
    END
    $$`,
  `CREATE TRIGGER customer_statement_guard BEFORE UPDATE OR DELETE ON tally.customer_statements
    FOR EACH ROW EXECUTE FUNCTION tally.customer_statement_guard()`
)
