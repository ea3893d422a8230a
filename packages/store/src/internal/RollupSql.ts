/**
 * The hourly rollup as SQL, in one place: the batch insert aggregates the rows it just inserted
 * with it, and a rebuild aggregates the ledger with it, so the two cannot drift apart.
 */
import { tokenColumns } from "./LedgerRow.ts"

/** Dimensions of a rollup row besides tenant and hour; absent labels and currency are ''. */
export const dimensions = [
  "provider",
  "model",
  "project",
  "environment",
  "feature",
  "team",
  "customer",
  "cost_center",
  "api_key_id",
  "currency"
] as const

const optionalDimensions: ReadonlySet<string> = new Set(dimensions.filter((d) => d !== "provider" && d !== "model"))

const tokenMeasures = Object.values(tokenColumns).map((name) => [name, `coalesce(sum(${name}), 0)`] as const)

/** Measure column and its aggregate over ledger rows. */
export const measures: ReadonlyArray<readonly [column: string, aggregate: string]> = [
  ["request_count", "count(*)"],
  ["estimated_count", "count(*) FILTER (WHERE cost_source = 'estimated')"],
  ["unpriced_count", "count(*) FILTER (WHERE cost_source = 'unpriced')"],
  ["partial_count", "count(*) FILTER (WHERE cost_source = 'partial')"],
  ["cost", "coalesce(sum(total), 0)"],
  ...tokenMeasures,
  ["billable_requests", "coalesce(sum(requests), 0)"],
  ["web_searches", "coalesce(sum(web_searches), 0)"],
  ["images_generated", "coalesce(sum(tally.count_total(images_generated)), 0)"],
  ["tool_calls", "coalesce(sum(tally.count_total(tool_calls)), 0)"],
  ["audio_seconds", "coalesce(sum(audio_seconds), 0)"],
  ["video_seconds", "coalesce(sum(video_seconds), 0)"]
]

/** Ledger columns the aggregate reads; the batch insert returns exactly these. */
export const sourceColumns: ReadonlyArray<string> = [
  "tenant_id",
  "occurred_at",
  "provider",
  "model",
  ...dimensions.filter((d) => optionalDimensions.has(d)),
  "cost_source",
  "total",
  ...Object.values(tokenColumns),
  "requests",
  "web_searches",
  "images_generated",
  "tool_calls",
  "audio_seconds",
  "video_seconds"
]

export const keyColumns: ReadonlyArray<string> = ["tenant_id", "hour", ...dimensions]

export const insertColumns: ReadonlyArray<string> = [...keyColumns, ...measures.map(([column]) => column)]

const dimensionExpression = (d: string) => (optionalDimensions.has(d) ? `coalesce(${d}, '')` : d)

/**
 * `SELECT` of rollup rows from `source` (a table or CTE with `sourceColumns`), grouped by tenant,
 * UTC hour and dimensions, in key order so that concurrent upserts lock rows in the same order.
 */
export const aggregate = (source: string, where = ""): string => {
  const keys = ["tenant_id", "date_trunc('hour', occurred_at, 'UTC')", ...dimensions.map(dimensionExpression)]
  const positions = keys.map((_, i) => String(i + 1)).join(", ")
  return `SELECT ${[...keys, ...measures.map(([, expression]) => expression)].join(", ")}
    FROM ${source} ${where}
    GROUP BY ${positions}
    ORDER BY ${positions}`
}

/** Upsert of aggregated rows: new keys are inserted, existing ones incremented. */
export const upsert = (select: string): string =>
  `INSERT INTO tally.usage_rollups_hourly AS r (${insertColumns.join(", ")})
    ${select}
    ON CONFLICT (${keyColumns.join(", ")}) DO UPDATE SET ${
    measures.map(([column]) => `${column} = r.${column} + EXCLUDED.${column}`).join(", ")
  }`

/** A measure's aggregate over rows that carry a `sign` (1 adds the row, -1 takes it away). */
const signed = (expression: string): string =>
  `coalesce(${expression.replace(/count\(\*\)/g, "sum(sign)").replace(/sum\((?!sign\))/g, "sum(sign * ")}, 0)`

/**
 * `aggregate` over `source` rows with a `sign` column: what moving calls between rollup rows
 * (a repricing takes each call's old price away and adds its new one) adds to each row.
 */
export const signedAggregate = (source: string): string => {
  const keys = ["tenant_id", "date_trunc('hour', occurred_at, 'UTC')", ...dimensions.map(dimensionExpression)]
  const positions = keys.map((_, i) => String(i + 1)).join(", ")
  return `SELECT ${[...keys, ...measures.map(([, expression]) => signed(expression))].join(", ")}
    FROM ${source}
    GROUP BY ${positions}
    ORDER BY ${positions}`
}
