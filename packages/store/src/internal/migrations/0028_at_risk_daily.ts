/**
 * A daily summary of the cost at risk (issue 19), beside the daily cost summary of 0023: per
 * tenant-local day, provider, model, currency and cost source (`partial` or `unpriced`), one row
 * for the calls themselves (`component = ''`: calls and, for partial calls, the spend their priced
 * lines count) and one row per component without a price (quantity, and the calls it was missing
 * in). What `CostAtRisk.report` reads from the ledger's partial and unpriced rows, with rows that
 * grow with the days and models instead of the calls: a chargeback run reads it instead.
 *
 * A partial call's components are the entries of its breakdown's `missing` list, summed per
 * (component, unit) so that a call counts once under each (the ledger's read counts distinct
 * calls); an unpriced call's are its non-zero token buckets, searches, audio and video seconds,
 * images per key and tool calls per kind (requests aside), as `CostAtRisk` names them.
 *
 * Kept like 0023's summary: statement triggers on `tally.usage_ledger` add what a statement
 * inserted, subtract what it deleted, and for an update (a repricing) subtract the old row and add
 * the new one, so an unpriced call that becomes priced leaves the summary in the transaction that
 * prices it. Each statement's rows are aggregated per key and written in key order (concurrent
 * batches lock the rows in one order); the triggers sort before 0023's by name, so every statement
 * locks this summary's rows before the cost summary's. Only partial and unpriced rows reach the
 * aggregation: a batch of priced calls costs a scan of its transition table. No foreign key to the
 * tenant, as 0023 (every row derives from ledger rows, which have one). The day is cut in the
 * tenant's zone at write time and the zone is part of the key; a reader that finds rows of another
 * zone near its period reads the ledger, as 0023's readers do.
 */
import { statements } from "./run.ts"

const table = "tally.usage_at_risk_daily"

/** The summary's key after tenant, zone and day. */
const keys = ["provider", "model", "currency", "cost_source", "component", "unit"] as const

const keyList = ["tenant_id", "zone", "day", ...keys].join(", ")
const positions = Array.from({ length: 3 + keys.length }, (_, i) => String(i + 1)).join(", ")

/**
 * Token bucket → ledger column, as `LedgerRow.tokenColumns` has them when this migration was
 * written (a migration does not follow later code; a new bucket needs a migration of its own).
 */
const tokenColumns = {
  inputText: "input_text",
  cacheRead: "cache_read",
  cacheReadImage: "cache_read_image",
  cacheReadAudio: "cache_read_audio",
  cacheReadVideo: "cache_read_video",
  cacheWrite5m: "cache_write_5m",
  cacheWrite1h: "cache_write_1h",
  inputImage: "input_image",
  inputAudio: "input_audio",
  inputVideo: "input_video",
  outputText: "output_text",
  reasoning: "reasoning",
  outputImage: "output_image",
  outputAudio: "output_audio",
  outputVideo: "output_video",
  embedding: "embedding",
  training: "training"
}

const unpricedComponents = [
  ...Object.entries(tokenColumns).map(([bucket, column]) => `('${bucket}', 'token', c.${column}::numeric)`),
  `('webSearches', 'search', c.web_searches::numeric)`,
  `('audioSeconds', 'second', c.audio_seconds)`,
  `('videoSeconds', 'second', c.video_seconds)`
].join(", ")

const callKey = "tenant_id, zone, day, provider, model, currency, cost_source"

/** The summary rows of `source` (ledger rows with a `sign` column), added to the table. */
const upsert = (source: string) =>
  `WITH c AS (
      SELECT s.*, t.time_zone AS zone, date_trunc('day', s.occurred_at, t.time_zone) AS day, coalesce(s.currency, '') AS key_currency
      FROM ${source} s JOIN tally.tenants t ON t.id = s.tenant_id
      WHERE s.cost_source IN ('partial', 'unpriced')
    ), r (${callKey}, component, unit, calls, quantity, amount) AS (
      SELECT tenant_id, zone, day, provider, model, key_currency, cost_source, '', '', sign, 0::numeric, sign * coalesce(total, 0)
      FROM c
      UNION ALL
      SELECT c.tenant_id, c.zone, c.day, c.provider, c.model, c.key_currency, c.cost_source, m.component, m.unit, c.sign, c.sign * m.quantity, 0
      FROM c CROSS JOIN LATERAL (
        SELECT e ->> 'component' AS component, e ->> 'unit' AS unit, sum((e ->> 'quantity')::numeric) AS quantity
        FROM jsonb_array_elements(c.cost_breakdown -> 'missing') AS e
        GROUP BY 1, 2
      ) m
      WHERE c.cost_source = 'partial'
      UNION ALL
      SELECT c.tenant_id, c.zone, c.day, c.provider, c.model, c.key_currency, c.cost_source, u.component, u.unit, c.sign, c.sign * u.quantity, 0
      FROM c CROSS JOIN LATERAL (VALUES ${unpricedComponents}) AS u (component, unit, quantity)
      WHERE c.cost_source = 'unpriced' AND u.quantity > 0
      UNION ALL
      SELECT c.tenant_id, c.zone, c.day, c.provider, c.model, c.key_currency, c.cost_source, 'image:' || i.key, 'image', c.sign, c.sign * i.value::numeric, 0
      FROM c CROSS JOIN LATERAL jsonb_each_text(coalesce(c.images_generated, '{}'::jsonb)) AS i (key, value)
      WHERE c.cost_source = 'unpriced' AND i.value::numeric > 0
      UNION ALL
      SELECT c.tenant_id, c.zone, c.day, c.provider, c.model, c.key_currency, c.cost_source, 'toolCall:' || k.key, 'call', c.sign, c.sign * k.value::numeric, 0
      FROM c CROSS JOIN LATERAL jsonb_each_text(coalesce(c.tool_calls, '{}'::jsonb)) AS k (key, value)
      WHERE c.cost_source = 'unpriced' AND k.value::numeric > 0
    )
    INSERT INTO ${table} AS d (${keyList}, calls, quantity, amount)
    SELECT ${keyList}, sum(calls), sum(quantity), sum(amount)
    FROM r
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
    provider text NOT NULL,
    model text NOT NULL,
    currency text NOT NULL,
    cost_source text NOT NULL CHECK (cost_source IN ('partial', 'unpriced')),
    component text NOT NULL,
    unit text NOT NULL,
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
  trigger("usage_at_risk_daily_after_insert", `(SELECT 1 AS sign, * FROM new_rows)`),
  trigger(
    "usage_at_risk_daily_after_update",
    `(SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1 AS sign, * FROM old_rows)`
  ),
  trigger("usage_at_risk_daily_after_delete", `(SELECT -1 AS sign, * FROM old_rows)`),
  `CREATE TRIGGER usage_at_risk_daily_insert AFTER INSERT ON tally.usage_ledger
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_at_risk_daily_after_insert()`,
  `CREATE TRIGGER usage_at_risk_daily_update AFTER UPDATE ON tally.usage_ledger
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_at_risk_daily_after_update()`,
  `CREATE TRIGGER usage_at_risk_daily_delete AFTER DELETE ON tally.usage_ledger
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_at_risk_daily_after_delete()`,
  // Usage recorded before this migration: its partial and unpriced rows, through 0018's partial index.
  upsert(`(SELECT 1 AS sign, * FROM tally.usage_ledger WHERE cost_source IN ('partial', 'unpriced'))`)
)
