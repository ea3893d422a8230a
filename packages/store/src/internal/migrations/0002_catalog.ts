/**
 * Model definitions and pricing snapshots. Built-in rows have no tenant and are readable by every
 * tenant; custom rows belong to one tenant. A snapshot is immutable once stored: its id is the
 * hash of its content, and ledger rows cite it.
 */
import { statements } from "./run.ts"

export default statements(
  `CREATE TABLE tally.model_definitions (
    tenant_id text REFERENCES tally.tenants (id),
    id text NOT NULL CHECK (length(id) BETWEEN 1 AND 300),
    provider text NOT NULL,
    model_key text NOT NULL,
    display_name text,
    match_patterns jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(match_patterns) = 'array'),
    definition jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(definition) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT model_definitions_key UNIQUE NULLS NOT DISTINCT (tenant_id, id)
  )`,
  `CREATE INDEX model_definitions_model ON tally.model_definitions (provider, model_key)`,
  `ALTER TABLE tally.model_definitions ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY read_own_or_builtin ON tally.model_definitions FOR SELECT TO tally_app
    USING (tenant_id IS NULL OR tenant_id = current_setting('tally.tenant_id', true))`,
  `CREATE POLICY insert_own ON tally.model_definitions FOR INSERT TO tally_app
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `CREATE POLICY update_own ON tally.model_definitions FOR UPDATE TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `CREATE POLICY delete_own ON tally.model_definitions FOR DELETE TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT, UPDATE, DELETE ON tally.model_definitions TO tally_app`,
  `CREATE TABLE tally.pricing_snapshots (
    tenant_id text REFERENCES tally.tenants (id),
    id text NOT NULL CHECK (length(id) BETWEEN 1 AND 200),
    definition_id text,
    provider text NOT NULL,
    model_key text NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    effective_from timestamptz,
    effective_to timestamptz CHECK (effective_to IS NULL OR effective_from IS NULL OR effective_to > effective_from),
    snapshot jsonb NOT NULL CHECK (jsonb_typeof(snapshot) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pricing_snapshots_key UNIQUE NULLS NOT DISTINCT (tenant_id, id)
  )`,
  `CREATE INDEX pricing_snapshots_model ON tally.pricing_snapshots (provider, model_key, effective_from)`,
  `CREATE FUNCTION tally.reject_snapshot_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'pricing snapshot % is immutable', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END
    $$`,
  `CREATE TRIGGER pricing_snapshots_immutable BEFORE UPDATE OR DELETE ON tally.pricing_snapshots
    FOR EACH ROW EXECUTE FUNCTION tally.reject_snapshot_change()`,
  `ALTER TABLE tally.pricing_snapshots ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY read_own_or_builtin ON tally.pricing_snapshots FOR SELECT TO tally_app
    USING (tenant_id IS NULL OR tenant_id = current_setting('tally.tenant_id', true))`,
  `CREATE POLICY insert_own ON tally.pricing_snapshots FOR INSERT TO tally_app
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT ON tally.pricing_snapshots TO tally_app`
)
