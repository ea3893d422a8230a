/**
 * Budgets can change after they were created: name, amount, thresholds and action. Each change is
 * kept as one row of an append-only audit: who made it, when, and every field's old and new value,
 * so an alert sent under an earlier amount can always be explained. Archiving is recorded the same
 * way.
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
  // `changes` maps each changed field to `{ "from": old, "to": new }` as JSON (decimals as strings).
  // Changes of one budget are serialized by its row lock, so `id` orders them as they happened.
  `CREATE TABLE tally.budget_changes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL,
    budget_id uuid NOT NULL,
    action text NOT NULL CHECK (action IN ('updated', 'archived')),
    actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    changed_at timestamptz NOT NULL,
    changes jsonb NOT NULL CHECK (jsonb_typeof(changes) = 'object' AND changes <> '{}'),
    FOREIGN KEY (tenant_id, budget_id) REFERENCES tally.budgets (tenant_id, id)
  )`,
  `CREATE INDEX budget_changes_budget ON tally.budget_changes (tenant_id, budget_id, id)`,
  ...tenantTable("budget_changes", "SELECT, INSERT"),
  // The application may only add rows (grants); the guard of 0007, which names the table it
  // refuses, also stops the owner, a script or a migration from rewriting the history.
  `CREATE TRIGGER budget_changes_append_only BEFORE UPDATE OR DELETE ON tally.budget_changes
    FOR EACH ROW EXECUTE FUNCTION tally.chargeback_append_only()`,
  `CREATE TRIGGER budget_changes_no_truncate BEFORE TRUNCATE ON tally.budget_changes
    FOR EACH STATEMENT EXECUTE FUNCTION tally.chargeback_append_only()`
)
