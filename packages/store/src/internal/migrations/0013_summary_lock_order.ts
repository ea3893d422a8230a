/**
 * Concurrent batches of one tenant deadlocked on the daily summaries (0008, 0011). A batch's
 * rollup upsert locks its hourly rows in key order, but the summaries are kept by statement
 * triggers that fire once for the rows the upsert inserted and once more for the rows it updated:
 * two passes, each in key order, so two batches could each hold a summary row the other's second
 * pass wanted. PostgreSQL detected the cycle and aborted one of them.
 *
 * A statement trigger that fires before every summary trigger (triggers of one event fire in
 * name order, and `usage_a_...` sorts first) now takes a transaction lock per tenant. Every
 * transaction that writes a tenant's summary rows holds it first, until it commits, so summary
 * rows of one tenant are written by one transaction at a time and no cycle can form among them.
 * Lock order for a batch is then: request ids (sorted), hourly rollups (sorted), the tenant's
 * summary lock, daily summaries, team summaries. Transactions of different tenants share no
 * summary row and do not wait for each other. Rows of the same day and model were already
 * serialized by their row locks until commit, so this adds little waiting.
 */
import { statements } from "./run.ts"

export default statements(
  `CREATE FUNCTION tally.usage_summaries_lock() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock(
        hashtextextended('tally.summaries:' || coalesce(current_setting('tally.tenant_id', true), ''), 0)
      );
      RETURN NULL;
    END
    $$`,
  `CREATE TRIGGER usage_a_summaries_lock AFTER INSERT OR UPDATE OR DELETE ON tally.usage_rollups_hourly
    FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_summaries_lock()`
)
