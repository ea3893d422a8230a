/**
 * Cache reads by modality: `cacheReadImage`, `cacheReadAudio` and `cacheReadVideo` join the token
 * buckets (`cacheRead` keeps text cache reads), so the ledger, the hourly rollups and both daily
 * summaries gain a column each, and the summaries' trigger functions sum them too. Existing rows
 * read 0 (the rollups) or null (the ledger, like every absent bucket).
 */
import * as Daily from "./0008_usage_daily.ts"
import * as DailyTeams from "./0011_usage_daily_teams.ts"
import { statements } from "./run.ts"

const added = ["cache_read_image", "cache_read_audio", "cache_read_video"]

const addColumns = (table: string, type: string) =>
  `ALTER TABLE ${table} ${added.map((column) => `ADD COLUMN ${column} ${type}`).join(", ")}`

export default statements(
  addColumns("tally.usage_ledger", "bigint"),
  addColumns("tally.usage_rollups_hourly", "bigint NOT NULL DEFAULT 0"),
  addColumns("tally.usage_rollups_daily", "bigint NOT NULL DEFAULT 0"),
  addColumns("tally.usage_rollups_daily_teams", "bigint NOT NULL DEFAULT 0"),
  ...Daily.functions([...Daily.measures, ...added], "CREATE OR REPLACE"),
  ...DailyTeams.functions([...DailyTeams.measures, ...added], "CREATE OR REPLACE")
)
