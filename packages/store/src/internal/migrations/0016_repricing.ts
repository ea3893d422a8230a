/**
 * Repricing: stored calls priced again with the price book in force at each call's time.
 *
 * A reprice changes only a ledger row's price (cost source, total, currency, definition, snapshot,
 * breakdown, unpriced reason, difference). The row's price before and after is kept, one row per
 * call and run, in `tally.usage_repricings`, which is append-only for every role; the ledger row
 * itself holds the current price, so every report, budget and export reads it as it is now.
 * Whoever reads the ledger "as of" an earlier instant (a chargeback run's inputs) takes the
 * price before the first repricing recorded after that instant, and a repricing recorded after a
 * final run read its period is late usage for that period: the next run carries it as a
 * correction (docs/chargeback.md).
 *
 * `tally.reprice_runs` is the audit record of a run that changed something: who, when, the range,
 * the tenant's price-book version, the snapshots before and after, and the totals per currency.
 *
 * The application role may update exactly the price columns of the ledger, nothing else, and a
 * trigger refuses any update of a ledger row, by any role, that has no repricing entry of the same
 * transaction naming its price before and after: no price is overwritten silently.
 */
import { statements } from "./run.ts"

const tenantTable = (table: string, grants: string) => [
  `ALTER TABLE tally.${table} ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.${table} FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT ${grants} ON tally.${table} TO tally_app`
]

const appendOnly = (table: string) => [
  `CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON tally.${table}
    FOR EACH ROW EXECUTE FUNCTION tally.chargeback_append_only()`,
  `CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON tally.${table}
    FOR EACH STATEMENT EXECUTE FUNCTION tally.chargeback_append_only()`
]

/** The price columns of a ledger row, as kept before and after a repricing. */
const price = (prefix: string) =>
  `${prefix}_cost_source text NOT NULL CHECK (${prefix}_cost_source IN ('provider', 'computed', 'estimated', 'partial', 'unpriced')),
    ${prefix}_total numeric,
    ${prefix}_currency text,
    ${prefix}_definition_id text,
    ${prefix}_snapshot_id text,
    ${prefix}_unpriced_reason text,
    ${prefix}_cost_breakdown jsonb,
    ${prefix}_cost_difference numeric`

export default statements(
  `CREATE TABLE tally.reprice_runs (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    period_from timestamptz NOT NULL,
    period_to timestamptz NOT NULL CHECK (period_to > period_from),
    only_unpriced boolean NOT NULL,
    price_book_version integer NOT NULL,
    summary jsonb NOT NULL CHECK (jsonb_typeof(summary) = 'object')
  )`,
  `CREATE INDEX reprice_runs_tenant ON tally.reprice_runs (tenant_id, started_at)`,
  ...tenantTable("reprice_runs", "SELECT, INSERT"),
  ...appendOnly("reprice_runs"),
  // `kind`: `priced` when an unpriced or partial call gained priced lines, `correction` when the
  // price of a priced call changed. `id` orders the repricings of one call as they happened.
  `CREATE TABLE tally.usage_repricings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    run_id uuid NOT NULL,
    actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    repriced_at timestamptz NOT NULL DEFAULT now(),
    occurred_at timestamptz NOT NULL,
    request_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('priced', 'correction')),
    ${price("before")},
    ${price("after")},
    UNIQUE (tenant_id, run_id, request_id)
  )`,
  `CREATE INDEX usage_repricings_call ON tally.usage_repricings (tenant_id, occurred_at, request_id, id)`,
  `CREATE INDEX usage_repricings_recorded ON tally.usage_repricings (tenant_id, repriced_at)`,
  ...tenantTable("usage_repricings", "SELECT, INSERT"),
  ...appendOnly("usage_repricings"),
  `GRANT UPDATE (cost_source, total, currency, definition_id, snapshot_id, unpriced_reason, cost_breakdown, cost_difference)
    ON tally.usage_ledger TO tally_app`,
  // No price changes without its entry: for every role, each row an update of the ledger changed
  // must find the repricing entry written by the same transaction, naming its price before and
  // after, and keep its key. Checked once per statement over its transition tables, set-based.
  `CREATE FUNCTION tally.usage_ledger_repriced() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE unrecorded text;
    BEGIN
      SELECT coalesce(o.request_id, n.request_id) INTO unrecorded
      FROM new_rows n
      FULL JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.occurred_at = n.occurred_at AND o.request_id = n.request_id
      WHERE n.request_id IS NULL OR o.request_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM tally.usage_repricings r
        WHERE r.tenant_id = n.tenant_id AND r.occurred_at = n.occurred_at AND r.request_id = n.request_id
          AND r.repriced_at = now()
          AND r.before_cost_source = o.cost_source AND r.after_cost_source = n.cost_source
          AND r.before_total IS NOT DISTINCT FROM o.total AND r.after_total IS NOT DISTINCT FROM n.total
          AND r.before_currency IS NOT DISTINCT FROM o.currency AND r.after_currency IS NOT DISTINCT FROM n.currency
          AND r.before_snapshot_id IS NOT DISTINCT FROM o.snapshot_id AND r.after_snapshot_id IS NOT DISTINCT FROM n.snapshot_id
      )
      LIMIT 1;
      IF FOUND THEN
        RAISE EXCEPTION 'usage_ledger: the price of % changes only with its repricing entry', unrecorded
          USING ERRCODE = 'object_not_in_prerequisite_state';
      END IF;
      RETURN NULL;
    END
    $$`,
  `CREATE TRIGGER usage_ledger_repriced AFTER UPDATE ON tally.usage_ledger
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_ledger_repriced()`
)
