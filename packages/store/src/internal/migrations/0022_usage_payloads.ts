/**
 * Raw payloads out of the ledger's heap: `raw` and `raw_text` move to `tally.usage_payloads`, one
 * row per call that has either, keyed like the ledger row (tenant, occurred_at, request id) and
 * partitioned by the same months.
 *
 * Period scans (chargeback runs, reports, budgets, rebuilds, anomaly windows) read every ledger
 * row of a month and never the raw payload, yet the payload (a provider's response kept verbatim)
 * was a large part of the row. Now the ledger's heap holds the columns those scans use, and the
 * few readers of raw payloads (`UsageLedger.get`, `LedgerRecords.rawPayloads`, reconciliation and
 * repricing, which re-derive calls from them) join the side table by key. The batch insert writes
 * both rows in the same statement, from the same ids that came back new, so idempotency,
 * conflicts and crash behaviour are as before: a payload row exists only with its ledger row, and
 * a call with neither `raw` nor text has none. Measured (`pnpm bench insert`, layout experiment,
 * docs/performance.md): the second row costs a bare insert 3-30% more than the one wide row, a
 * few percent of the whole batch.
 *
 * The payload partitions follow the ledger's: `ensure_usage_partition` now creates both months
 * (`usage_payloads_YYYY_MM` beside `usage_ledger_YYYY_MM`), and the months that already exist get
 * theirs here. To archive a month, detach both (docs/store.md).
 */
import { statements } from "./run.ts"

export default statements(
  `CREATE TABLE tally.usage_payloads (
    tenant_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    request_id text NOT NULL,
    raw jsonb,
    raw_text text,
    PRIMARY KEY (tenant_id, occurred_at, request_id)
  ) PARTITION BY RANGE (occurred_at)`,
  `ALTER TABLE tally.usage_payloads ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.usage_payloads FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  // Append-only for the application, like the ledger; partitions get no grants.
  `GRANT SELECT, INSERT ON tally.usage_payloads TO tally_app`,
  `CREATE OR REPLACE FUNCTION tally.ensure_usage_partition(p_month_start timestamptz) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
      v_from timestamptz := date_trunc('month', p_month_start, 'UTC');
      v_to timestamptz := date_trunc('month', p_month_start, 'UTC') + interval '1 month';
      v_suffix text := to_char(v_from AT TIME ZONE 'UTC', 'YYYY_MM');
      v_name text := 'usage_ledger_' || v_suffix;
      v_payloads text := 'usage_payloads_' || v_suffix;
    BEGIN
      IF to_regclass(format('tally.%I', v_name)) IS NOT NULL AND to_regclass(format('tally.%I', v_payloads)) IS NOT NULL THEN
        RETURN v_name;
      END IF;
      PERFORM pg_advisory_xact_lock(hashtextextended('tally.usage_ledger.partitions', 0));
      IF to_regclass(format('tally.%I', v_name)) IS NULL THEN
        EXECUTE format(
          'CREATE TABLE tally.%I PARTITION OF tally.usage_ledger FOR VALUES FROM (%L) TO (%L)',
          v_name, v_from, v_to
        );
      END IF;
      IF to_regclass(format('tally.%I', v_payloads)) IS NULL THEN
        EXECUTE format(
          'CREATE TABLE tally.%I PARTITION OF tally.usage_payloads FOR VALUES FROM (%L) TO (%L)',
          v_payloads, v_from, v_to
        );
      END IF;
      RETURN v_name;
    EXCEPTION WHEN duplicate_table THEN
      RETURN v_name;
    END
    $$`,
  // The payload month of every ledger month that is attached (named by ensure_usage_partition,
  // rows or not), and of any month holding rows; then the payloads themselves.
  `DO $$
    DECLARE m record;
    BEGIN
      FOR m IN
        SELECT to_date(substring(c.relname FROM '^usage_ledger_([0-9]{4}_[0-9]{2})$'), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC' AS month
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'tally.usage_ledger'::regclass AND c.relname ~ '^usage_ledger_[0-9]{4}_[0-9]{2}$'
        UNION
        SELECT DISTINCT date_trunc('month', occurred_at, 'UTC') FROM tally.usage_ledger
      LOOP
        PERFORM tally.ensure_usage_partition(m.month);
      END LOOP;
    END
    $$`,
  `INSERT INTO tally.usage_payloads (tenant_id, occurred_at, request_id, raw, raw_text)
    SELECT tenant_id, occurred_at, request_id, raw, raw_text FROM tally.usage_ledger
    WHERE raw IS NOT NULL OR raw_text IS NOT NULL`,
  `ALTER TABLE tally.usage_ledger DROP COLUMN raw, DROP COLUMN raw_text`
)
