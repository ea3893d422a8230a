/**
 * A second, coarser daily summary for the question asked most: what each team (cost center)
 * spent on which model and provider, per day. It keeps only provider, model, team, cost center
 * and currency, so a month of it has about as many rows as the answer has buckets, where the
 * summary of 0008 (which also keeps project, environment and feature) has several times more.
 *
 * Kept exactly like that one: statement triggers on the hourly rollups add what a statement
 * inserted, the difference of what it updated and subtract what it deleted, per tenant-local
 * day; a tenant's new time zone rebuilds it.
 */
import { statements } from "./run.ts"

const table = "tally.usage_rollups_daily_teams"
const keys = ["provider", "model", "team", "cost_center", "currency"]
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

const upsertOf = (sums: ReadonlyArray<string>) => (source: string) =>
  `INSERT INTO ${table} AS d (${["tenant_id", "day", ...keys, ...sums].join(", ")})
    SELECT r.tenant_id, date_trunc('day', r.hour, t.time_zone), ${keys.map((k) => `r.${k}`).join(", ")}, ${
    sums.map((m) => `sum(r.sign * r.${m})`).join(", ")
  }
    FROM ${source} r JOIN tally.tenants t ON t.id = r.tenant_id
    GROUP BY ${positions}
    ORDER BY ${positions}
    ON CONFLICT (${keyList}) DO UPDATE SET ${sums.map((m) => `${m} = d.${m} + EXCLUDED.${m}`).join(", ")}`

const upsert = upsertOf(measures)

/** The trigger functions that keep the summary, over the given measures (replaced when measures are added). */
export const functions = (sums: ReadonlyArray<string>, create: "CREATE" | "CREATE OR REPLACE"): readonly [string, string, string, string] => {
  const up = upsertOf(sums)
  return [
    `${create} FUNCTION tally.usage_daily_teams_after_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${up(`(SELECT 1 AS sign, * FROM new_rows)`)};
      RETURN NULL;
    END
    $$`,
    `${create} FUNCTION tally.usage_daily_teams_after_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${up(`(SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1 AS sign, * FROM old_rows)`)};
      RETURN NULL;
    END
    $$`,
    `${create} FUNCTION tally.usage_daily_teams_after_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${up(`(SELECT -1 AS sign, * FROM old_rows)`)};
      RETURN NULL;
    END
    $$`,
    `${create} FUNCTION tally.usage_daily_teams_rezone() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM ${table} WHERE tenant_id = NEW.id;
      ${up(`(SELECT 1 AS sign, * FROM tally.usage_rollups_hourly WHERE tenant_id = NEW.id)`)};
      RETURN NULL;
    END
    $$`
  ]
}

const [afterInsert, afterUpdate, afterDelete, rezone] = functions(measures, "CREATE")

export default statements(
  `CREATE TABLE ${table} (
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    day timestamptz NOT NULL,
    ${keys.map((k) => `${k} text NOT NULL`).join(",\n    ")},
    ${measures.map((m) => `${m} ${numericMeasures.has(m) ? "numeric" : "bigint"} NOT NULL`).join(",\n    ")},
    PRIMARY KEY (${keyList})
  )`,
  `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON ${table} FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO tally_app`,
  afterInsert,
  afterUpdate,
  afterDelete,
  `CREATE TRIGGER usage_daily_teams_insert AFTER INSERT ON tally.usage_rollups_hourly
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_daily_teams_after_insert()`,
  `CREATE TRIGGER usage_daily_teams_update AFTER UPDATE ON tally.usage_rollups_hourly
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_daily_teams_after_update()`,
  `CREATE TRIGGER usage_daily_teams_delete AFTER DELETE ON tally.usage_rollups_hourly
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally.usage_daily_teams_after_delete()`,
  rezone,
  `CREATE TRIGGER usage_daily_teams_rezone AFTER UPDATE OF time_zone ON tally.tenants
    FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone) EXECUTE FUNCTION tally.usage_daily_teams_rezone()`,
  upsert(`(SELECT 1 AS sign, * FROM tally.usage_rollups_hourly)`)
)
