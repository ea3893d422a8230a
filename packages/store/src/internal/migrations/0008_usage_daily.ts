/**
 * A daily usage summary per tenant, for reports over weeks and months: the hourly rollups summed
 * into the days of the tenant's time zone, by provider, model, project, environment, feature,
 * team, cost center and currency (not by customer or API key, whose many values would keep it as
 * large as the hourly rollups).
 *
 * It is kept by triggers on the hourly rollups, so every writer of those (batch inserts, rebuilds)
 * keeps it exact without knowing it exists: each statement on the rollups adds what it inserted,
 * adds the difference of what it updated and subtracts what it deleted, aggregated per day and
 * key, in key order (as the rollups themselves are written, so concurrent batches lock rows in
 * one order). When a tenant's time zone changes, its summary is rebuilt from the hourly rollups.
 *
 * Days are `date_trunc('day', hour, zone)`. For zones whose offset is not a whole number of hours
 * an hour straddles two days and the summary is wrong for it; the read side never uses the
 * summary for such zones.
 */
import { statements } from "./run.ts"

const keys = ["provider", "model", "project", "environment", "feature", "team", "cost_center", "currency"]
export const measures = [
  "request_count",
  "estimated_count",
  "unpriced_count",
  "cost",
  "input_text",
  "cache_read",
  "cache_write_5m",
  "cache_write_1h",
  "input_image",
  "input_audio",
  "input_video",
  "output_text",
  "reasoning",
  "output_image",
  "output_audio",
  "output_video",
  "embedding",
  "training",
  "billable_requests",
  "web_searches",
  "images_generated",
  "tool_calls",
  "audio_seconds",
  "video_seconds"
]
const numericMeasures = new Set(["cost", "audio_seconds", "video_seconds"])

const keyList = ["tenant_id", "day", ...keys].join(", ")
const positions = Array.from({ length: 2 + keys.length }, (_, i) => String(i + 1)).join(", ")

/** Sums of `source` (rows with the rollup's columns and `sign`) per tenant-local day and key. */
const aggregate = (source: string, sums: ReadonlyArray<string>) =>
  `SELECT r.tenant_id, date_trunc('day', r.hour, t.time_zone), ${keys.map((k) => `r.${k}`).join(", ")}, ${
    sums.map((m) => `sum(r.sign * r.${m})`).join(", ")
  }
    FROM ${source} r JOIN tally.tenants t ON t.id = r.tenant_id
    GROUP BY ${positions}
    ORDER BY ${positions}`

const upsertOf = (sums: ReadonlyArray<string>) => (source: string) =>
  `INSERT INTO tally.usage_rollups_daily AS d (${["tenant_id", "day", ...keys, ...sums].join(", ")})
    ${aggregate(source, sums)}
    ON CONFLICT (${keyList}) DO UPDATE SET ${sums.map((m) => `${m} = d.${m} + EXCLUDED.${m}`).join(", ")}`

const upsert = upsertOf(measures)

const signed = (table: string, sign: number) => `(SELECT ${sign} AS sign, * FROM ${table})`

/**
 * The trigger functions that keep the summary, over the given measures (a later migration that
 * adds measures replaces them with `CREATE OR REPLACE`).
 */
export const functions = (sums: ReadonlyArray<string>, create: "CREATE" | "CREATE OR REPLACE"): readonly [string, string, string, string] => {
  const up = upsertOf(sums)
  return [
    `${create} FUNCTION tally.usage_daily_after_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${up(signed("new_rows", 1))};
      RETURN NULL;
    END
    $$`,
    `${create} FUNCTION tally.usage_daily_after_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${up(`(SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1 AS sign, * FROM old_rows)`)};
      RETURN NULL;
    END
    $$`,
    `${create} FUNCTION tally.usage_daily_after_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${up(signed("old_rows", -1))};
      RETURN NULL;
    END
    $$`,
    `${create} FUNCTION tally.usage_daily_rezone() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM tally.usage_rollups_daily WHERE tenant_id = NEW.id;
      ${up(`(SELECT 1 AS sign, * FROM tally.usage_rollups_hourly WHERE tenant_id = NEW.id)`)};
      RETURN NULL;
    END
    $$`
  ]
}

const [afterInsert, afterUpdate, afterDelete, rezone] = functions(measures, "CREATE")

export default statements(
  `CREATE TABLE tally.usage_rollups_daily (
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    day timestamptz NOT NULL,
    ${keys.map((k) => `${k} text NOT NULL`).join(",\n    ")},
    ${measures.map((m) => `${m} ${numericMeasures.has(m) ? "numeric" : "bigint"} NOT NULL`).join(",\n    ")},
    PRIMARY KEY (${keyList})
  )`,
  `ALTER TABLE tally.usage_rollups_daily ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.usage_rollups_daily FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT, UPDATE, DELETE ON tally.usage_rollups_daily TO tally_app`,
  // The triggers run as whoever wrote the rollups: the application role inside a tenant's scope
  // (row security applies to the summary as to the rollups) or the owner.
  afterInsert,
  afterUpdate,
  afterDelete,
  `CREATE TRIGGER usage_daily_insert AFTER INSERT ON tally.usage_rollups_hourly
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_daily_after_insert()`,
  `CREATE TRIGGER usage_daily_update AFTER UPDATE ON tally.usage_rollups_hourly
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_daily_after_update()`,
  `CREATE TRIGGER usage_daily_delete AFTER DELETE ON tally.usage_rollups_hourly
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_daily_after_delete()`,
  // A new time zone cuts other days: rebuild the tenant's summary from its hourly rollups.
  rezone,
  `CREATE TRIGGER usage_daily_rezone AFTER UPDATE OF time_zone ON tally.tenants
    FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone) EXECUTE FUNCTION tally.usage_daily_rezone()`,
  // Usage recorded before this migration.
  upsert(`(SELECT 1 AS sign, * FROM tally.usage_rollups_hourly)`)
)
