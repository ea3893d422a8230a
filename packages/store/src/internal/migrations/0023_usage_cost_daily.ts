/**
 * A daily cost summary for chargeback runs and their FOCUS rows (issue 19): per tenant-local day
 * and owner, for each of the owner dimensions runs are made by most (`dimension` is `team`,
 * `cost_center` or `project`, `owner` its value, '' for none: each call counts once under each, so
 * the rows grow with the sum of their values, not their product), by provider, model, currency,
 * pricing snapshot and cost source, one row for the calls themselves (`component = ''`: calls and
 * their total) and one row per priced component of the computed and estimated calls' cost lines
 * (unit, list rate, unit price: what a FOCUS row is cut by; calls = lines, quantity and amount
 * summed). A month of it has a few rows per day and owner where the ledger has every call, and
 * no jsonb to expand: a run reads it instead of a sequential scan of the month's heap.
 *
 * Unlike the summaries of 0008 and 0011 it is kept from the ledger, not the hourly rollups (they
 * have no snapshot and no cost lines): statement triggers on `tally.usage_ledger` add what a
 * statement inserted, subtract what it deleted, and for a repricing (an update of the price
 * columns) subtract the old price and add the new, aggregated per key and written in key order
 * (one pass, so concurrent batches lock its rows in one order). Its tenant column has no foreign
 * key: every row is derived from ledger rows, which reference the tenant, and the row-level check a
 * foreign key runs for each summary row written was a third of the trigger's cost on inserts
 * (docs/performance.md, "Ledger inserts"); like the raw payloads of 0022. The day is cut in the tenant's
 * time zone when the row is written and the zone is part of the key: a tenant whose zone changed
 * has rows of two zones, and a reader that sees rows of another zone near its period reads the
 * ledger instead (no rebuild is needed, and it is exact for any zone, since days are cut from
 * each call's own instant).
 *
 * A reader also needs the ledger "as of" an instant (ChargebackLedger): the summary holds every
 * committed call at its current price, so it stands for the ledger as of an instant only when no
 * call of the period was recorded or repriced after it; the reader checks that in the same
 * statement (the same snapshot) through the ledger's (tenant, ingested_at) and the repricings'
 * (tenant, repriced_at) indexes, and reads the ledger otherwise.
 */
import { statements } from "./run.ts"

const table = "tally.usage_cost_daily"

/** The summary's key after tenant, zone and day. */
export const keys = [
  "dimension",
  "owner",
  "provider",
  "model",
  "currency",
  "snapshot_id",
  "cost_source",
  "component",
  "unit",
  "list_rate",
  "list_rate_per",
  "unit_price"
] as const

const keyList = ["tenant_id", "zone", "day", ...keys].join(", ")
const positions = Array.from({ length: 3 + keys.length }, (_, i) => String(i + 1)).join(", ")

/** The owner dimensions the summary keeps, each a ledger column. */
export const dimensions = ["team", "cost_center", "project"] as const

/** The key of a call's rows before they are fanned out to the owner dimensions. */
const callKey = ["tenant_id", "zone", "day", ...dimensions, ...keys.slice(2)]

/**
 * The summary rows of `source` (ledger rows with a `sign` column). Each call's cost lines are
 * expanded once and summed per key with all three owners (a batch's calls fall into few keys),
 * and only those sums are fanned out to one row per owner dimension. Owners and snapshots without
 * a value read ''. `calls` of a cost-line row counts lines (a call has at most one per component).
 */
const upsert = (source: string) =>
  `WITH c AS (
      SELECT s.sign, s.tenant_id, t.time_zone AS zone, date_trunc('day', s.occurred_at, t.time_zone) AS day,
        ${dimensions.map((d) => `coalesce(s.${d}, '') AS ${d}`).join(", ")},
        s.provider, s.model, coalesce(s.currency, '') AS currency, coalesce(s.snapshot_id, '') AS snapshot_id, s.cost_source,
        s.cost_breakdown, s.total
      FROM ${source} s JOIN tally.tenants t ON t.id = s.tenant_id
    ), sums AS (
      SELECT ${callKey.join(", ")}, sum(calls) AS calls, sum(quantity) AS quantity, sum(amount) AS amount
      FROM (
        SELECT ${callKey.slice(0, 3 + dimensions.length + 5).join(", ")},
          '' AS component, '' AS unit, 0::numeric AS list_rate, '' AS list_rate_per, 0::numeric AS unit_price,
          sign AS calls, 0::numeric AS quantity, sign * coalesce(total, 0) AS amount
        FROM c
        UNION ALL
        SELECT ${callKey.slice(0, 3 + dimensions.length + 5).join(", ")},
          l ->> 'component', l ->> 'unit', (l ->> 'listRate')::numeric, l ->> 'listRatePer', (l ->> 'unitPrice')::numeric,
          sign, sign * (l ->> 'quantity')::numeric, sign * (l ->> 'amount')::numeric
        FROM c, jsonb_array_elements(c.cost_breakdown -> 'lines') AS l
        WHERE c.cost_source IN ('computed', 'estimated')
      ) r
      GROUP BY ${callKey.join(", ")}
    )
    INSERT INTO ${table} AS d (${keyList}, calls, quantity, amount)
    SELECT tenant_id, zone, day, o.dimension, CASE o.dimension ${
  dimensions.map((d) => `WHEN '${d}' THEN ${d}`).join(" ")
} END, ${keys.slice(2).join(", ")}, sum(calls), sum(quantity), sum(amount)
    FROM sums CROSS JOIN (VALUES ${dimensions.map((d) => `('${d}')`).join(", ")}) AS o (dimension)
    GROUP BY ${positions}
    ORDER BY ${positions}
    ON CONFLICT (${keyList}) DO UPDATE
      SET calls = d.calls + EXCLUDED.calls, quantity = d.quantity + EXCLUDED.quantity, amount = d.amount + EXCLUDED.amount`

const trigger = (name: string, source: string) =>
  `CREATE FUNCTION tally.${name}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${upsert(source)};
      RETURN NULL;
    END
    $$`

export default statements(
  `CREATE TABLE ${table} (
    tenant_id text NOT NULL,
    zone text NOT NULL,
    day timestamptz NOT NULL,
    dimension text NOT NULL CHECK (dimension IN (${dimensions.map((d) => `'${d}'`).join(", ")})),
    owner text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    currency text NOT NULL,
    snapshot_id text NOT NULL,
    cost_source text NOT NULL,
    component text NOT NULL,
    unit text NOT NULL,
    list_rate numeric NOT NULL,
    list_rate_per text NOT NULL,
    unit_price numeric NOT NULL,
    calls bigint NOT NULL,
    quantity numeric NOT NULL,
    amount numeric NOT NULL,
    PRIMARY KEY (${keyList})
  )`,
  `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON ${table} FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT, UPDATE ON ${table} TO tally_app`,
  trigger("usage_cost_daily_after_insert", `(SELECT 1 AS sign, * FROM new_rows)`),
  trigger(
    "usage_cost_daily_after_update",
    `(SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1 AS sign, * FROM old_rows)`
  ),
  trigger("usage_cost_daily_after_delete", `(SELECT -1 AS sign, * FROM old_rows)`),
  `CREATE TRIGGER usage_cost_daily_insert AFTER INSERT ON tally.usage_ledger
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_cost_daily_after_insert()`,
  `CREATE TRIGGER usage_cost_daily_update AFTER UPDATE ON tally.usage_ledger
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_cost_daily_after_update()`,
  `CREATE TRIGGER usage_cost_daily_delete AFTER DELETE ON tally.usage_ledger
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_cost_daily_after_delete()`,
  // Usage recorded before this migration.
  upsert(`(SELECT 1 AS sign, * FROM tally.usage_ledger)`),
  // A run's FOCUS cost groups, stored with the run when they could be read from the summary (in
  // the run's transaction, as of its instant): an export of the run reads them back instead of
  // reading the period again, also after late usage arrived. Like a run's lines, immutable once
  // the run is final, and append-only for the application.
  `CREATE TABLE tally.chargeback_cost_groups (
    tenant_id text NOT NULL,
    run_id uuid NOT NULL,
    group_no integer NOT NULL,
    owner text,
    provider text NOT NULL,
    model text NOT NULL,
    snapshot_id text,
    currency text NOT NULL,
    component text NOT NULL,
    unit text NOT NULL,
    list_rate numeric NOT NULL,
    list_rate_per text NOT NULL,
    unit_price numeric NOT NULL,
    quantity numeric NOT NULL,
    amount numeric NOT NULL,
    billed numeric NOT NULL,
    requests bigint NOT NULL CHECK (requests > 0),
    PRIMARY KEY (tenant_id, run_id, group_no),
    FOREIGN KEY (tenant_id, run_id) REFERENCES tally.chargeback_runs (tenant_id, id)
  )`,
  `ALTER TABLE tally.chargeback_cost_groups ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.chargeback_cost_groups FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT ON tally.chargeback_cost_groups TO tally_app`,
  `CREATE TRIGGER chargeback_cost_groups_guard BEFORE INSERT ON tally.chargeback_cost_groups
    FOR EACH ROW EXECUTE FUNCTION tally.chargeback_line_guard()`,
  `CREATE TRIGGER chargeback_cost_groups_append_only BEFORE UPDATE OR DELETE ON tally.chargeback_cost_groups
    FOR EACH ROW EXECUTE FUNCTION tally.chargeback_append_only()`,
  `CREATE TRIGGER chargeback_cost_groups_no_truncate BEFORE TRUNCATE ON tally.chargeback_cost_groups
    FOR EACH STATEMENT EXECUTE FUNCTION tally.chargeback_append_only()`
)
