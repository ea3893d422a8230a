/**
 * The usage ledger (partitioned by month of event time), its idempotency keys, hourly rollups and
 * dead letters.
 *
 * A partitioned table's unique keys must contain the partition key, so (tenant, request id) cannot
 * be unique on the ledger itself: a replay with another timestamp would land in another month.
 * `usage_request_ids` is the idempotency key instead: one row per (tenant, request id) across all
 * months, written in the same statement as the ledger row, with the hash of the event so that a
 * replay with a different payload is told apart from a plain duplicate.
 */
import { statements } from "./run.ts"

const tenantPolicy = (table: string) =>
  `CREATE POLICY tenant_isolation ON tally.${table} FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`

export default statements(
  `CREATE TABLE tally.usage_request_ids (
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    request_id text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 256),
    event_hash bytea NOT NULL CHECK (length(event_hash) = 32),
    occurred_at timestamptz NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, request_id)
  )`,
  `ALTER TABLE tally.usage_request_ids ENABLE ROW LEVEL SECURITY`,
  tenantPolicy("usage_request_ids"),
  `GRANT SELECT, INSERT ON tally.usage_request_ids TO tally_app`,
  `CREATE TABLE tally.usage_ledger (
    tenant_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    request_id text NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    provider text NOT NULL,
    api text,
    model text NOT NULL,
    definition_id text,
    snapshot_id text,
    input_text bigint,
    cache_read bigint,
    cache_write_5m bigint,
    cache_write_1h bigint,
    input_image bigint,
    input_audio bigint,
    input_video bigint,
    output_text bigint,
    reasoning bigint,
    output_image bigint,
    output_audio bigint,
    output_video bigint,
    embedding bigint,
    training bigint,
    requests bigint,
    images_generated jsonb,
    audio_seconds numeric,
    video_seconds numeric,
    web_searches bigint,
    tool_calls jsonb,
    prompt_tokens bigint,
    batch boolean,
    fine_tuned boolean,
    service_tier text,
    region text,
    cost_source text NOT NULL CHECK (cost_source IN ('provider', 'computed', 'estimated', 'unpriced')),
    unpriced_reason text,
    currency text CHECK (currency ~ '^[A-Z]{3}$'),
    total numeric,
    cost_breakdown jsonb,
    reported_cost numeric,
    reported_currency text CHECK (reported_currency ~ '^[A-Z]{3}$'),
    cost_difference numeric,
    project text,
    environment text,
    feature text,
    team text,
    customer text,
    end_user text,
    workflow text,
    cost_center text,
    api_key_id text,
    tags jsonb NOT NULL DEFAULT '{}',
    raw jsonb,
    raw_text text,
    CHECK ((cost_source = 'unpriced') = (total IS NULL)),
    CHECK ((cost_source = 'unpriced') = (unpriced_reason IS NOT NULL)),
    CHECK (total IS NULL OR currency IS NOT NULL),
    CHECK (reported_cost IS NULL OR reported_currency IS NOT NULL),
    PRIMARY KEY (tenant_id, occurred_at, request_id)
  ) PARTITION BY RANGE (occurred_at)`,
  `ALTER TABLE tally.usage_ledger ENABLE ROW LEVEL SECURITY`,
  tenantPolicy("usage_ledger"),
  // Append-only for the application. Partitions get no grants at all, so the application can only
  // reach rows through the parent, where the policy applies.
  `GRANT SELECT, INSERT ON tally.usage_ledger TO tally_app`,
  // Creates the month's partition if it does not exist. Safe to call concurrently from any number
  // of sessions; runs as the owner because only the owner may attach partitions.
  `CREATE FUNCTION tally.ensure_usage_partition(p_month_start timestamptz) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
      v_from timestamptz := date_trunc('month', p_month_start, 'UTC');
      v_to timestamptz := date_trunc('month', p_month_start, 'UTC') + interval '1 month';
      v_name text := 'usage_ledger_' || to_char(v_from AT TIME ZONE 'UTC', 'YYYY_MM');
    BEGIN
      IF to_regclass(format('tally.%I', v_name)) IS NOT NULL THEN
        RETURN v_name;
      END IF;
      PERFORM pg_advisory_xact_lock(hashtextextended('tally.usage_ledger.partitions', 0));
      IF to_regclass(format('tally.%I', v_name)) IS NOT NULL THEN
        RETURN v_name;
      END IF;
      EXECUTE format(
        'CREATE TABLE tally.%I PARTITION OF tally.usage_ledger FOR VALUES FROM (%L) TO (%L)',
        v_name, v_from, v_to
      );
      RETURN v_name;
    EXCEPTION WHEN duplicate_table THEN
      RETURN v_name;
    END
    $$`,
  `REVOKE ALL ON FUNCTION tally.ensure_usage_partition(timestamptz) FROM PUBLIC`,
  `GRANT EXECUTE ON FUNCTION tally.ensure_usage_partition(timestamptz) TO tally_app`,
  // Sum of the counts in a {"key": count} object (images by size, tool calls by kind).
  `CREATE FUNCTION tally.count_total(p_counts jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT coalesce(sum(value::bigint), 0)::bigint FROM jsonb_each_text(p_counts) $$`,
  `CREATE TABLE tally.usage_rollups_hourly (
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    hour timestamptz NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    project text NOT NULL,
    environment text NOT NULL,
    feature text NOT NULL,
    team text NOT NULL,
    customer text NOT NULL,
    cost_center text NOT NULL,
    api_key_id text NOT NULL,
    currency text NOT NULL,
    request_count bigint NOT NULL,
    estimated_count bigint NOT NULL,
    unpriced_count bigint NOT NULL,
    cost numeric NOT NULL,
    input_text bigint NOT NULL,
    cache_read bigint NOT NULL,
    cache_write_5m bigint NOT NULL,
    cache_write_1h bigint NOT NULL,
    input_image bigint NOT NULL,
    input_audio bigint NOT NULL,
    input_video bigint NOT NULL,
    output_text bigint NOT NULL,
    reasoning bigint NOT NULL,
    output_image bigint NOT NULL,
    output_audio bigint NOT NULL,
    output_video bigint NOT NULL,
    embedding bigint NOT NULL,
    training bigint NOT NULL,
    billable_requests bigint NOT NULL,
    web_searches bigint NOT NULL,
    images_generated bigint NOT NULL,
    tool_calls bigint NOT NULL,
    audio_seconds numeric NOT NULL,
    video_seconds numeric NOT NULL,
    PRIMARY KEY (tenant_id, hour, provider, model, project, environment, feature, team, customer, cost_center, api_key_id, currency)
  )`,
  `ALTER TABLE tally.usage_rollups_hourly ENABLE ROW LEVEL SECURITY`,
  tenantPolicy("usage_rollups_hourly"),
  `GRANT SELECT, INSERT, UPDATE, DELETE ON tally.usage_rollups_hourly TO tally_app`,
  `CREATE TABLE tally.dead_letters (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    source text NOT NULL CHECK (length(source) BETWEEN 1 AND 100),
    kind text NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    request_id text,
    field text,
    reason text NOT NULL,
    item jsonb,
    raw jsonb,
    raw_text text
  )`,
  `CREATE INDEX dead_letters_tenant ON tally.dead_letters (tenant_id, received_at)`,
  `ALTER TABLE tally.dead_letters ENABLE ROW LEVEL SECURITY`,
  tenantPolicy("dead_letters"),
  `GRANT SELECT, INSERT ON tally.dead_letters TO tally_app`
)
