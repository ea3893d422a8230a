/**
 * Anomaly findings and the series detection reads.
 *
 * Detection itself (statistics, thresholds) is core's `AnomalyDetectors`, run by the engine's
 * `Anomalies`; this module owns the SQL: hourly spend, requests and tokens per scope and model
 * from the rollups, tokens per minute per scope from the ledger, the calls behind a finding, and
 * the findings table.
 *
 * A finding is keyed by (tenant, kind, scope, window start, currency). `record` inserts
 * `ON CONFLICT DO NOTHING` in key order, so detection that runs again over the same hours, or on
 * several workers at once, records each anomaly once. Each finding really inserted gets its
 * outbox message (`anomaly.detected`) in the same transaction: a message exists exactly when its
 * finding does, and a duplicate sends nothing.
 */
import { Anomaly, type AnomalySeries, Money } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { tokenColumns } from "./internal/LedgerRow.ts"
import * as Outbox from "./Outbox.ts"

/** Calls of a scope in a window grouped by model and workflow, largest token use first. */
export interface InvolvedCalls {
  readonly model: string
  readonly workflow: string | null
  readonly requests: number
  readonly tokens: number
  /** Billed spend by currency (unpriced calls have none). */
  readonly cost: ReadonlyArray<{ readonly currency: string; readonly amount: string }>
  /** A few request ids, to find the calls in the ledger. */
  readonly sampleRequestIds: ReadonlyArray<string>
}

export interface Range {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
}

const validateRange = (range: Range): Anomaly.InvalidAnomalyQuery | undefined =>
  DateTime.toEpochMillis(range.to) > DateTime.toEpochMillis(range.from)
    ? undefined
    : new Anomaly.InvalidAnomalyQuery({ field: "to", message: "expected `to` after `from`" })

/** Rollup and ledger column of each scope kind but the tenant. */
const scopeColumns = {
  project: "project",
  feature: "feature",
  team: "team",
  customer: "customer",
  apiKey: "api_key_id",
  model: "model"
} as const satisfies Record<Exclude<Anomaly.ScopeKind, "tenant">, string>

const tokensOf = (prefix: string) =>
  Object.values(tokenColumns).map((column) => `coalesce(${prefix}${column}, 0)`).join(" + ")

const scopeOf = (kind: string, value: string): Anomaly.Scope =>
  kind === "tenant" ? Anomaly.tenantScope : { kind: kind as Anomaly.ScopeKind, value }

/** One branch per scope kind over the CTE `src`, grouped by `time` and `extra` columns. */
const scopeBranches = (time: string, extra: ReadonlyArray<string>, measures: string) => {
  const groupTail = extra.length === 0 ? "" : `, ${extra.join(", ")}`
  const selectTail = extra.length === 0 ? "" : `, ${extra.join(", ")}`
  return [
    `SELECT 'tenant' AS scope_kind, '' AS scope_value, ${time}${selectTail}, ${measures}
      FROM src GROUP BY ${time}${groupTail}`,
    ...Object.entries(scopeColumns).map(([kind, column]) =>
      `SELECT '${kind}' AS scope_kind, ${column} AS scope_value, ${time}${selectTail}, ${measures}
        FROM src WHERE ${column} <> '' GROUP BY ${time}, ${column}${groupTail}`
    )
  ].join("\nUNION ALL\n")
}

const hourlySql = `WITH src AS MATERIALIZED (
    SELECT hour, model, currency, project, feature, team, customer, api_key_id, cost,
      request_count, ${tokensOf("")} AS tokens
    FROM tally.usage_rollups_hourly
    WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 AND currency <> ''
  )
  ${
  scopeBranches(
    "hour",
    ["currency", "model"],
    "sum(cost)::text AS cost, sum(request_count)::bigint AS requests, sum(tokens)::bigint AS tokens"
  )
}`

// Absent labels are NULL in the ledger and '' in rollups; the CTE makes them '' here too.
const minutesSql = `WITH src AS MATERIALIZED (
    SELECT date_trunc('minute', occurred_at, 'UTC') AS minute, model,
      coalesce(project, '') AS project, coalesce(feature, '') AS feature, coalesce(team, '') AS team,
      coalesce(customer, '') AS customer, coalesce(api_key_id, '') AS api_key_id,
      ${tokensOf("")} AS tokens
    FROM tally.usage_ledger
    WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3
  )
  ${scopeBranches("minute", [], "sum(tokens)::bigint AS tokens, count(*)::bigint AS requests")}`

const findingColumns = `id, tenant_id, kind, scope_kind, scope_value, window_start, window_end, severity, currency,
  observed::text AS observed, expected::text AS expected, statistic, score::text AS score, summary, evidence, detected_at`

interface FindingRow {
  readonly id: string
  readonly tenant_id: string
  readonly kind: Anomaly.Kind
  readonly scope_kind: Anomaly.ScopeKind
  readonly scope_value: string
  readonly window_start: Date
  readonly window_end: Date
  readonly severity: Anomaly.Severity
  readonly currency: string | null
  readonly observed: string
  readonly expected: string
  readonly statistic: string
  readonly score: string
  readonly summary: string
  readonly evidence: Schema.JsonObject
  readonly detected_at: Date
}

const fromRow = (row: FindingRow): Anomaly.Finding => ({
  id: row.id,
  tenantId: row.tenant_id,
  kind: row.kind,
  scope: scopeOf(row.scope_kind, row.scope_value),
  windowStart: DateTime.fromDateUnsafe(row.window_start),
  windowEnd: DateTime.fromDateUnsafe(row.window_end),
  severity: row.severity,
  currency: row.currency,
  observed: new Money.Decimal(row.observed),
  expected: new Money.Decimal(row.expected),
  statistic: row.statistic,
  score: new Money.Decimal(row.score),
  summary: row.summary,
  evidence: row.evidence,
  detectedAt: DateTime.fromDateUnsafe(row.detected_at)
})

/** The key that makes a finding unique, as comparable text; inserts run in this order. */
const findingKey = (finding: Anomaly.FindingInput) =>
  [
    finding.kind,
    finding.scope.kind,
    finding.scope.value ?? "",
    String(DateTime.toEpochMillis(finding.windowStart)).padStart(16, "0"),
    finding.currency ?? ""
  ].join("\u0000")

const compareKeys = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

const toMessage = (finding: Anomaly.Finding): Outbox.OutboxMessageInput => ({
  kind: Anomaly.messageKind,
  dedupeKey: Anomaly.dedupeKey(finding),
  payload: { type: Anomaly.messageKind, ...Anomaly.toJson(finding) }
})

export interface ListOptions extends Partial<Range> {
  readonly kinds?: ReadonlyArray<Anomaly.Kind> | undefined
  readonly scopeKinds?: ReadonlyArray<Anomaly.ScopeKind> | undefined
  /** At most this many, newest window first (default 500, at most 10,000). */
  readonly limit?: number | undefined
}

export interface RecordResult {
  /** Findings inserted by this call, in key order. */
  readonly recorded: ReadonlyArray<Anomaly.Finding>
  /** Findings whose key was already recorded (by an earlier run or a concurrent worker). */
  readonly duplicates: number
}

export interface AnomalyFindingsService {
  /** Spend, priced requests and tokens per scope, model and currency for each UTC hour in `[from, to)`. */
  readonly hourly: (tenantId: string, range: Range) => Effect.Effect<ReadonlyArray<AnomalySeries.HourRow>, Anomaly.InvalidAnomalyQuery | SqlError>
  /** Tokens and calls per scope for each UTC minute in `[from, to)` that had calls. */
  readonly minutes: (
    tenantId: string,
    range: Range
  ) => Effect.Effect<ReadonlyArray<AnomalySeries.MinuteRow>, Anomaly.InvalidAnomalyQuery | SqlError>
  /** The calls of `scope` in `[from, to)` by model and workflow, largest token use first. */
  readonly involved: (
    tenantId: string,
    scope: Anomaly.Scope,
    range: Range,
    limit?: number
  ) => Effect.Effect<ReadonlyArray<InvolvedCalls>, Anomaly.InvalidAnomalyQuery | SqlError>
  /**
   * Records findings in one transaction, once per (kind, scope, window start, currency), with an
   * outbox message for each new one; `now` is their detection time. A key recorded before, or by
   * a concurrent transaction, is counted as a duplicate and left as it was.
   */
  readonly record: (
    tenantId: string,
    findings: ReadonlyArray<Anomaly.FindingInput>,
    now: DateTime.Utc
  ) => Effect.Effect<RecordResult, Anomaly.InvalidAnomalyQuery | SqlError>
  /** Findings whose window overlaps `[from, to)` (any time when absent), newest window first. */
  readonly list: (tenantId: string, options?: ListOptions) => Effect.Effect<ReadonlyArray<Anomaly.Finding>, SqlError>
}

export class AnomalyFindings extends Context.Service<AnomalyFindings, AnomalyFindingsService>()("@tally/store/AnomalyFindings") {
  static readonly layer: Layer.Layer<AnomalyFindings, never, Database> = Layer.effect(
    AnomalyFindings,
    Effect.gen(function*() {
      const db = yield* Database
      const outbox = yield* Outbox.Outbox
      const sql = db.sql

      const hourly = Effect.fn("AnomalyFindings.hourly")(function*(tenantId: string, range: Range) {
        const invalid = validateRange(range)
        if (invalid !== undefined) return yield* invalid
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{
            scope_kind: string
            scope_value: string
            hour: Date
            currency: string
            model: string
            cost: string
            requests: bigint | string
            tokens: bigint | string
          }>(hourlySql, [tenantId, DateTime.toDateUtc(range.from), DateTime.toDateUtc(range.to)])
        )
        return rows.map((row): AnomalySeries.HourRow => ({
          hour: row.hour.getTime(),
          scope: scopeOf(row.scope_kind, row.scope_value),
          model: row.model,
          currency: row.currency,
          cost: new Money.Decimal(row.cost),
          requests: Number(row.requests),
          tokens: Number(row.tokens)
        }))
      })

      const minutes = Effect.fn("AnomalyFindings.minutes")(function*(tenantId: string, range: Range) {
        const invalid = validateRange(range)
        if (invalid !== undefined) return yield* invalid
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{
            scope_kind: string
            scope_value: string
            minute: Date
            tokens: bigint | string
            requests: bigint | string
          }>(minutesSql, [tenantId, DateTime.toDateUtc(range.from), DateTime.toDateUtc(range.to)])
        )
        return rows.map((row): AnomalySeries.MinuteRow => ({
          minute: row.minute.getTime(),
          scope: scopeOf(row.scope_kind, row.scope_value),
          tokens: Number(row.tokens),
          requests: Number(row.requests)
        }))
      })

      const involved = Effect.fn("AnomalyFindings.involved")(function*(
        tenantId: string,
        scope: Anomaly.Scope,
        range: Range,
        limit = 5
      ) {
        const invalid = validateRange(range)
        if (invalid !== undefined) return yield* invalid
        const filter = scope.kind === "tenant" ? "" : `AND ${scopeColumns[scope.kind]} = $4`
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{
            model: string
            workflow: string | null
            requests: bigint | string
            tokens: bigint | string
            cost: ReadonlyArray<{ currency: string; amount: string }> | null
            samples: ReadonlyArray<string>
          }>(
            `WITH calls AS (
                SELECT model, workflow, request_id, currency, total, ${tokensOf("")} AS tokens
                FROM tally.usage_ledger
                WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 ${filter}
              ),
              groups AS (
                SELECT model, workflow, count(*) AS requests, sum(tokens)::bigint AS tokens,
                  (array_agg(request_id ORDER BY tokens DESC, request_id))[1:3] AS samples
                FROM calls GROUP BY model, workflow
              ),
              money AS (
                SELECT model, workflow, jsonb_agg(jsonb_build_object('currency', currency, 'amount', amount::text)
                  ORDER BY currency) AS cost
                FROM (SELECT model, workflow, currency, sum(total) AS amount FROM calls
                  WHERE currency IS NOT NULL GROUP BY model, workflow, currency) m
                GROUP BY model, workflow
              )
              SELECT g.model, g.workflow, g.requests, g.tokens, m.cost, g.samples
              FROM groups g LEFT JOIN money m
                ON m.model = g.model AND m.workflow IS NOT DISTINCT FROM g.workflow
              ORDER BY g.tokens DESC, g.requests DESC, g.model, g.workflow NULLS FIRST
              LIMIT ${Math.max(1, Math.min(100, Math.trunc(limit)))}`,
            [
              tenantId,
              DateTime.toDateUtc(range.from),
              DateTime.toDateUtc(range.to),
              ...(scope.value === null ? [] : [scope.value])
            ]
          )
        )
        return rows.map((row): InvolvedCalls => ({
          model: row.model,
          workflow: row.workflow,
          requests: Number(row.requests),
          tokens: Number(row.tokens),
          cost: row.cost ?? [],
          sampleRequestIds: row.samples
        }))
      })

      const insertOne = (tenantId: string, finding: Anomaly.FindingInput, now: DateTime.Utc) =>
        sql<FindingRow>`INSERT INTO tally.anomalies (tenant_id, kind, scope_kind, scope_value, window_start,
            window_end, severity, currency, observed, expected, statistic, score, summary, evidence, detected_at)
          VALUES (${tenantId}, ${finding.kind}, ${finding.scope.kind}, ${finding.scope.value ?? ""},
            ${DateTime.toDateUtc(finding.windowStart)}, ${DateTime.toDateUtc(finding.windowEnd)}, ${finding.severity},
            ${finding.currency}, ${Money.format(finding.observed)}::numeric, ${Money.format(finding.expected)}::numeric,
            ${finding.statistic}, ${Money.format(finding.score)}::numeric, ${finding.summary},
            ${JSON.stringify(finding.evidence)}::jsonb, ${DateTime.toDateUtc(now)})
          ON CONFLICT (tenant_id, kind, scope_kind, scope_value, window_start, currency) DO NOTHING
          RETURNING ${sql.literal(findingColumns)}`

      const record = Effect.fn("AnomalyFindings.record")(function*(
        tenantId: string,
        findings: ReadonlyArray<Anomaly.FindingInput>,
        now: DateTime.Utc
      ) {
        for (const [index, finding] of findings.entries()) {
          const invalid = Anomaly.validate(finding, index)
          if (invalid !== undefined) return yield* invalid
        }
        // Key order: two transactions recording overlapping sets wait on the same rows in the
        // same order and cannot deadlock.
        const ordered = [...findings].sort((a, b) => compareKeys(findingKey(a), findingKey(b)))
        const unique = ordered.filter((finding, i) => i === 0 || findingKey(finding) !== findingKey(ordered[i - 1]!))
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const recorded: Array<Anomaly.Finding> = []
            for (const finding of unique) {
              const rows = yield* insertOne(tenantId, finding, now)
              if (rows[0] !== undefined) recorded.push(fromRow(rows[0]))
            }
            yield* outbox.enqueue(tenantId, recorded.map(toMessage), { now })
            return { recorded, duplicates: findings.length - recorded.length } satisfies RecordResult
          })
        )
      })

      const list = Effect.fn("AnomalyFindings.list")(function*(tenantId: string, options: ListOptions = {}) {
        const limit = Math.max(1, Math.min(10_000, Math.trunc(options.limit ?? 500)))
        const rows = yield* db.withTenant(
          tenantId,
          sql<FindingRow>`SELECT ${sql.literal(findingColumns)} FROM tally.anomalies
            WHERE tenant_id = ${tenantId}
              ${options.to === undefined ? sql.literal("") : sql`AND window_start < ${DateTime.toDateUtc(options.to)}`}
              ${options.from === undefined ? sql.literal("") : sql`AND window_end > ${DateTime.toDateUtc(options.from)}`}
              ${options.kinds === undefined ? sql.literal("") : sql`AND ${sql.in("kind", options.kinds)}`}
              ${options.scopeKinds === undefined ? sql.literal("") : sql`AND ${sql.in("scope_kind", options.scopeKinds)}`}
            ORDER BY window_start DESC, kind, scope_kind, scope_value
            LIMIT ${limit}`
        )
        return rows.map(fromRow)
      })

      return AnomalyFindings.of({ hourly, minutes, involved, record, list })
    })
  ).pipe(Layer.provide(Outbox.Outbox.layer))
}
