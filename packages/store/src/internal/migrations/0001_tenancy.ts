/**
 * The application role, the `tally` schema, tenants and API keys, and the tenant policy every
 * tenant table repeats: rows are visible and writable only while `tally.tenant_id` names their
 * tenant, and only to the application role, which owns nothing and cannot bypass row security.
 */
import { statements } from "./run.ts"

/**
 * Creates `role` unless it exists and makes the current user a member (so it may `SET ROLE`).
 * Roles are cluster-wide: another database of the same cluster may be creating it at this moment,
 * in which case this one waits for that transaction and then finds the duplicate, which is fine.
 */
export const ensureRole = (role: string) =>
  `DO $$
  BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '${role}') THEN
      BEGIN
        CREATE ROLE ${role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
    IF NOT pg_catalog.pg_has_role(current_user, '${role}', 'MEMBER') THEN
      EXECUTE format('GRANT ${role} TO %I', current_user);
    END IF;
  END
  $$`

export default statements(
  ensureRole("tally_app"),
  `CREATE SCHEMA IF NOT EXISTS tally`,
  `REVOKE ALL ON SCHEMA tally FROM PUBLIC`,
  `GRANT USAGE ON SCHEMA tally TO tally_app`,
  `CREATE TABLE tally.tenants (
    id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    time_zone text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 100),
    builtin_catalog boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  `ALTER TABLE tally.tenants ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.tenants FOR ALL TO tally_app
    USING (id = current_setting('tally.tenant_id', true))
    WITH CHECK (id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT, UPDATE ON tally.tenants TO tally_app`,
  `CREATE TABLE tally.api_keys (
    id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix text NOT NULL,
    secret_hash bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    scopes text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read', 'admin']),
    default_labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(default_labels) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
  )`,
  `CREATE INDEX api_keys_tenant ON tally.api_keys (tenant_id, created_at)`,
  `ALTER TABLE tally.api_keys ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.api_keys FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT, UPDATE ON tally.api_keys TO tally_app`,
  // A presented key names no tenant, so it is looked up by hash through this one narrow door: it
  // runs as the owner and returns only the active key with exactly that hash.
  `CREATE FUNCTION tally.verify_api_key(p_secret_hash bytea)
    RETURNS TABLE (key_id text, tenant_id text, scopes text[], default_labels jsonb)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
      SELECT k.id, k.tenant_id, k.scopes, k.default_labels
      FROM tally.api_keys k
      WHERE k.secret_hash = p_secret_hash AND k.revoked_at IS NULL
    $$`,
  `REVOKE ALL ON FUNCTION tally.verify_api_key(bytea) FROM PUBLIC`,
  `GRANT EXECUTE ON FUNCTION tally.verify_api_key(bytea) TO tally_app`
)
