/**
 * What chargeback runs need beyond the tables of 0004: the owner dimension and sharing of a run,
 * the inputs it used (ledger totals, snapshot ids, their sha256), the ledger instant it read, who
 * finalized it, typed lines (owner, unallocated, correction), an append-only audit trail, and the
 * database's own guarantee that a finalized run never changes.
 *
 * The status `frozen` of 0004 is what the API calls "final".
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
  // No service wrote runs before this migration; the defaults only fill rows someone added by hand.
  `ALTER TABLE tally.chargeback_runs
    ADD COLUMN dimension text NOT NULL DEFAULT 'team' CHECK (length(dimension) BETWEEN 1 AND 300),
    ADD COLUMN shared text[] NOT NULL DEFAULT '{}',
    ADD COLUMN rule_version text,
    ADD COLUMN as_of timestamptz,
    ADD COLUMN ledger_total numeric,
    ADD COLUMN inputs jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(inputs) = 'object'),
    ADD COLUMN inputs_sha256 text CHECK (inputs_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN frozen_by text CHECK (length(frozen_by) BETWEEN 1 AND 200),
    ADD CONSTRAINT chargeback_runs_frozen_by CHECK ((status = 'frozen') = (frozen_by IS NOT NULL))`,
  `ALTER TABLE tally.chargeback_runs ALTER COLUMN dimension DROP DEFAULT`,
  `CREATE INDEX chargeback_runs_list ON tally.chargeback_runs (tenant_id, created_at DESC, id DESC)`,
  `CREATE INDEX chargeback_runs_final ON tally.chargeback_runs (tenant_id, dimension, currency, period_from)
    WHERE status = 'frozen'`,
  `ALTER TABLE tally.chargeback_lines
    ADD COLUMN kind text NOT NULL DEFAULT 'owner' CHECK (kind IN ('owner', 'unallocated', 'correction')),
    ADD COLUMN owner text,
    ADD COLUMN direct numeric NOT NULL DEFAULT 0,
    ADD COLUMN allocated numeric NOT NULL DEFAULT 0,
    ADD COLUMN request_count bigint NOT NULL DEFAULT 0 CHECK (request_count >= 0),
    ADD COLUMN corrects_run_id uuid,
    ADD CONSTRAINT chargeback_lines_owner CHECK (kind <> 'owner' OR owner IS NOT NULL),
    ADD CONSTRAINT chargeback_lines_unallocated CHECK (kind <> 'unallocated' OR owner IS NULL),
    ADD CONSTRAINT chargeback_lines_correction CHECK ((kind = 'correction') = (corrects_run_id IS NOT NULL)),
    ADD CONSTRAINT chargeback_lines_corrects FOREIGN KEY (tenant_id, corrects_run_id)
      REFERENCES tally.chargeback_runs (tenant_id, id)`,
  `CREATE INDEX chargeback_lines_corrects ON tally.chargeback_lines (tenant_id, corrects_run_id)
    WHERE corrects_run_id IS NOT NULL`,
  `CREATE TABLE tally.chargeback_audit (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL,
    run_id uuid NOT NULL,
    action text NOT NULL CHECK (action IN ('created', 'finalized')),
    actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    FOREIGN KEY (tenant_id, run_id) REFERENCES tally.chargeback_runs (tenant_id, id)
  )`,
  `CREATE INDEX chargeback_audit_run ON tally.chargeback_audit (tenant_id, run_id, at)`,
  ...tenantTable("chargeback_audit", "SELECT, INSERT"),
  // Immutability, enforced for every role including the owner: a finalized run, its lines and the
  // whole audit trail reject change. Grants already keep the application from updating or deleting
  // lines; these triggers also stop a migration, a script or a superuser session by mistake.
  `CREATE FUNCTION tally.chargeback_run_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
      IF OLD.status = 'frozen' THEN
        RAISE EXCEPTION 'chargeback run % is finalized and cannot change', OLD.id
          USING ERRCODE = 'object_not_in_prerequisite_state';
      END IF;
      IF TG_OP = 'DELETE' THEN
        RETURN OLD;
      END IF;
      RETURN NEW;
    END
    $$`,
  `CREATE TRIGGER chargeback_run_guard BEFORE UPDATE OR DELETE ON tally.chargeback_runs
    FOR EACH ROW EXECUTE FUNCTION tally.chargeback_run_guard()`,
  // The run's status is read as the invoking role: inside a tenant scope the run is visible (same
  // tenant), and the owner sees every run.
  `CREATE FUNCTION tally.chargeback_line_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
      v_run uuid := CASE WHEN TG_OP = 'INSERT' THEN NEW.run_id ELSE OLD.run_id END;
    BEGIN
      IF EXISTS (SELECT 1 FROM tally.chargeback_runs WHERE id = v_run AND status = 'frozen') THEN
        RAISE EXCEPTION 'chargeback run % is finalized; its lines cannot change', v_run
          USING ERRCODE = 'object_not_in_prerequisite_state';
      END IF;
      IF TG_OP = 'DELETE' THEN
        RETURN OLD;
      END IF;
      RETURN NEW;
    END
    $$`,
  `CREATE TRIGGER chargeback_line_guard BEFORE INSERT OR UPDATE OR DELETE ON tally.chargeback_lines
    FOR EACH ROW EXECUTE FUNCTION tally.chargeback_line_guard()`,
  `CREATE FUNCTION tally.chargeback_append_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'object_not_in_prerequisite_state';
    END
    $$`,
  `CREATE TRIGGER chargeback_audit_append_only BEFORE UPDATE OR DELETE ON tally.chargeback_audit
    FOR EACH ROW EXECUTE FUNCTION tally.chargeback_append_only()`,
  `CREATE TRIGGER chargeback_audit_no_truncate BEFORE TRUNCATE ON tally.chargeback_audit
    FOR EACH STATEMENT EXECUTE FUNCTION tally.chargeback_append_only()`,
  `CREATE TRIGGER chargeback_lines_no_truncate BEFORE TRUNCATE ON tally.chargeback_lines
    FOR EACH STATEMENT EXECUTE FUNCTION tally.chargeback_append_only()`,
  // Usage recorded after a run read the ledger (late events) is found through this index: it
  // reaches the few late rows of a finalized period without scanning the period.
  `CREATE INDEX usage_ledger_ingested ON tally.usage_ledger (tenant_id, ingested_at)`
)
