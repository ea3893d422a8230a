/**
 * A tenant's own price book beside its custom model definitions (which live in
 * `model_definitions` since 0002): price overrides of any definition it sees, and multipliers
 * (contract discounts, markups), each for the whole tenant or narrowed to a project, team or API
 * key. A version number per tenant moves with every change, so pricing can keep a built book
 * until the version moves.
 *
 * A scope is stored as its canonical key (`""` for the whole tenant, else `apiKey=…&project=…&team=…`
 * with the keys it names in that order) and as JSON.
 */
import { statements } from "./run.ts"

const tenantPolicy = (table: string) => [
  `ALTER TABLE tally.${table} ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.${table} FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`
]

export default statements(
  `CREATE TABLE tally.price_overrides (
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    scope_key text NOT NULL CHECK (length(scope_key) <= 2000),
    scope jsonb NOT NULL CHECK (jsonb_typeof(scope) = 'object'),
    definition_id text NOT NULL CHECK (length(definition_id) BETWEEN 1 AND 300),
    history jsonb NOT NULL CHECK (jsonb_typeof(history) = 'array' AND jsonb_array_length(history) > 0),
    reason text CHECK (length(reason) <= 1000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scope_key, definition_id)
  )`,
  ...tenantPolicy("price_overrides"),
  `GRANT SELECT, INSERT, UPDATE, DELETE ON tally.price_overrides TO tally_app`,
  `CREATE TABLE tally.price_multipliers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    scope_key text NOT NULL CHECK (length(scope_key) <= 2000),
    scope jsonb NOT NULL CHECK (jsonb_typeof(scope) = 'object'),
    factor numeric NOT NULL CHECK (factor >= 0),
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    providers text[],
    definition_ids text[],
    models jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE INDEX price_multipliers_tenant ON tally.price_multipliers (tenant_id, created_at)`,
  ...tenantPolicy("price_multipliers"),
  `GRANT SELECT, INSERT, DELETE ON tally.price_multipliers TO tally_app`,
  `CREATE TABLE tally.price_book_versions (
    tenant_id text PRIMARY KEY REFERENCES tally.tenants (id),
    version bigint NOT NULL CHECK (version > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  ...tenantPolicy("price_book_versions"),
  `GRANT SELECT, INSERT, UPDATE ON tally.price_book_versions TO tally_app`
)
