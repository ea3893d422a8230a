/**
 * Model policies: per scope (tenant, project, team, customer, API key, ...), which providers and
 * models a call may use, whether the model must be priced, and per-call limits on output tokens
 * and estimated cost. The rules are JSON checked by `ModelPolicy` (`@tally/catalog`) before they
 * are stored. `tenant_governance` counts changes to a tenant's budgets and policies, so a worker
 * that caches them can tell in the same round trip whether its copy is current.
 */
import { statements } from "./run.ts"

export default statements(
  `CREATE TABLE tally.model_policies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scope jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(scope) = 'object'),
    rules jsonb NOT NULL CHECK (jsonb_typeof(rules) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz,
    UNIQUE (tenant_id, id)
  )`,
  `CREATE INDEX model_policies_active ON tally.model_policies (tenant_id, id) WHERE archived_at IS NULL`,
  `ALTER TABLE tally.model_policies ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.model_policies FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT, UPDATE ON tally.model_policies TO tally_app`,
  `CREATE TABLE tally.tenant_governance (
    tenant_id text PRIMARY KEY REFERENCES tally.tenants (id),
    version bigint NOT NULL DEFAULT 0
  )`,
  `ALTER TABLE tally.tenant_governance ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.tenant_governance FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT, UPDATE ON tally.tenant_governance TO tally_app`,
  // Every write to a tenant's budgets or policies bumps its version in the writing transaction.
  `CREATE FUNCTION tally.bump_governance() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO tally.tenant_governance AS g (tenant_id, version)
        VALUES (coalesce(NEW.tenant_id, OLD.tenant_id), 1)
        ON CONFLICT (tenant_id) DO UPDATE SET version = g.version + 1;
      RETURN NULL;
    END $$`,
  `CREATE TRIGGER budgets_governance AFTER INSERT OR UPDATE OR DELETE ON tally.budgets
    FOR EACH ROW EXECUTE FUNCTION tally.bump_governance()`,
  `CREATE TRIGGER model_policies_governance AFTER INSERT OR UPDATE OR DELETE ON tally.model_policies
    FOR EACH ROW EXECUTE FUNCTION tally.bump_governance()`
)
