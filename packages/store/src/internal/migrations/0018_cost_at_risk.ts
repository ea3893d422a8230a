/**
 * Cost at risk: calls priced only in part (`partial`) are counted in the hourly rollups and both
 * daily summaries (`partial_count`, beside `unpriced_count`), so usage reports, budgets and
 * chargeback say how many calls their spend leaves out in part; the summaries' trigger functions
 * sum the new column too. Existing partial calls are counted from the ledger (the update reaches
 * the daily summaries through their triggers).
 *
 * The missing components and their quantities are read from the ledger's partial and unpriced
 * rows; a partial index keeps that read to those rows.
 */
import * as Daily from "./0008_usage_daily.ts"
import * as DailyTeams from "./0011_usage_daily_teams.ts"
import { statements } from "./run.ts"

/** The daily summaries' measures after this migration (0008's, 0015's cache reads by modality, this one's). */
export const dailyMeasures = [...Daily.measures, "cache_read_image", "cache_read_audio", "cache_read_video", "partial_count"]
export const dailyTeamsMeasures = [...DailyTeams.measures, "cache_read_image", "cache_read_audio", "cache_read_video", "partial_count"]

const dimensions = ["provider", "model", "project", "environment", "feature", "team", "customer", "cost_center", "api_key_id", "currency"]
const optional = new Set(dimensions.filter((d) => d !== "provider" && d !== "model"))
const expression = (d: string) => (optional.has(d) ? `coalesce(${d}, '') AS ${d}` : d)

export default statements(
  `ALTER TABLE tally.usage_rollups_hourly ADD COLUMN partial_count bigint NOT NULL DEFAULT 0`,
  `ALTER TABLE tally.usage_rollups_daily ADD COLUMN partial_count bigint NOT NULL DEFAULT 0`,
  `ALTER TABLE tally.usage_rollups_daily_teams ADD COLUMN partial_count bigint NOT NULL DEFAULT 0`,
  ...Daily.functions(dailyMeasures, "CREATE OR REPLACE"),
  ...DailyTeams.functions(dailyTeamsMeasures, "CREATE OR REPLACE"),
  `UPDATE tally.usage_rollups_hourly r SET partial_count = s.n
    FROM (
      SELECT tenant_id, date_trunc('hour', occurred_at, 'UTC') AS hour, ${dimensions.map(expression).join(", ")}, count(*) AS n
      FROM tally.usage_ledger WHERE cost_source = 'partial'
      GROUP BY ${Array.from({ length: 2 + dimensions.length }, (_, i) => String(i + 1)).join(", ")}
    ) s
    WHERE r.tenant_id = s.tenant_id AND r.hour = s.hour AND ${dimensions.map((d) => `r.${d} = s.${d}`).join(" AND ")}`,
  `CREATE INDEX usage_ledger_at_risk ON tally.usage_ledger (tenant_id, occurred_at) WHERE cost_source IN ('partial', 'unpriced')`
)
