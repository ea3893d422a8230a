/**
 * Chargeback runs as stored: a run with the rule and canonical inputs it used, its lines, and its
 * audit trail (created, finalized); finalized runs, and the correction lines later runs carried
 * for them. A final run is immutable: the database rejects any change to it or its lines.
 *
 * Rows map to values here only; the rule and inputs stay JSON (`unknown`), decoded by the engine's
 * `Chargeback`, which owns what they mean. Every method runs in the tenant's scope and joins the
 * caller's transaction of that tenant, so the engine computes and stores a run atomically.
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { type CostAllocation, Money } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import * as CostGroupRow from "./internal/CostGroupRow.ts"

export interface StoredLine {
  readonly lineNo: number
  readonly kind: CostAllocation.Allocate.LineKind
  readonly owner: string | null
  readonly direct: Money.Decimal
  readonly allocated: Money.Decimal
  readonly amount: Money.Decimal
  readonly currency: string
  readonly requestCount: number
  readonly correctsRunId: string | null
  /** The run the line belongs to. */
  readonly runId?: string | undefined
}

export interface AuditEntry {
  readonly action: "created" | "finalized"
  readonly actor: string
  readonly at: DateTime.Utc
  readonly detail: unknown
}

export interface StoredRun {
  readonly id: string
  readonly tenantId: string
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly status: "draft" | "final"
  readonly dimension: string
  readonly shared: ReadonlyArray<string>
  /** The rule input as stored (JSON). */
  readonly rule: unknown
  readonly ruleVersion: string
  readonly currency: string
  readonly total: Money.Decimal
  readonly ledgerTotal: Money.Decimal
  readonly asOf: DateTime.Utc
  /** The canonical inputs (JSON) and their sha256. */
  readonly inputs: unknown
  readonly inputsSha256: string
  readonly createdBy: string
  readonly createdAt: DateTime.Utc
  readonly finalizedBy: string | null
  readonly finalizedAt: DateTime.Utc | null
  readonly lineCount: number
}

export interface NewRun {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: string
  readonly shared: ReadonlyArray<string>
  readonly rule: unknown
  readonly ruleVersion: string
  readonly currency: string
  readonly total: Money.Decimal
  readonly ledgerTotal: Money.Decimal
  readonly asOf: DateTime.Utc
  readonly inputs: unknown
  readonly inputsSha256: string
  readonly createdBy: string
  readonly lines: ReadonlyArray<Omit<StoredLine, "currency">>
}

/** A finalized run that a later run may have to correct, and the last instant it was checked. */
export interface FinalizedRun extends StoredRun {
  /**
   * The latest `as_of` among this run and the finalized runs that re-checked it: usage recorded
   * after it is not yet reflected in any final charge.
   */
  readonly checkedThrough: DateTime.Utc
}

export interface FinalizedQuery {
  readonly dimension: string
  readonly currency: string
  /** Only runs ending at or before this instant. */
  readonly endingBy?: DateTime.Utc | undefined
  /** Only runs overlapping `[from, to)`. */
  readonly overlapping?: { readonly from: DateTime.Utc; readonly to: DateTime.Utc } | undefined
}

export interface ListQuery {
  readonly limit: number
  /** Id of the last run of the previous page. */
  readonly after: string | null
  readonly status: "draft" | "final" | null
}

interface RunRow {
  readonly id: string
  readonly tenant_id: string
  readonly period_from: Date
  readonly period_to: Date
  readonly status: "draft" | "frozen" | "void"
  readonly dimension: string
  readonly shared: ReadonlyArray<string>
  readonly rule: unknown
  readonly rule_version: string | null
  readonly currency: string
  readonly total: string | null
  readonly ledger_total: string | null
  readonly as_of: Date | null
  readonly inputs: unknown
  readonly inputs_sha256: string | null
  readonly created_by: string | null
  readonly created_at: Date
  readonly frozen_by: string | null
  readonly frozen_at: Date | null
  readonly line_count: string
}

const runColumns = `r.id, r.tenant_id, r.period_from, r.period_to, r.status, r.dimension, r.shared, r.rule,
  r.rule_version, r.currency, r.total::text AS total, r.ledger_total::text AS ledger_total, r.as_of, r.inputs,
  r.inputs_sha256, r.created_by, r.created_at, r.frozen_by, r.frozen_at,
  (SELECT count(*) FROM tally.chargeback_lines l WHERE l.run_id = r.id)::text AS line_count`

const toDate = (dt: DateTime.Utc): Date => DateTime.toDateUtc(dt)
const utc = (date: Date): DateTime.Utc => DateTime.fromDateUnsafe(date)
const num = (value: unknown): number => Number(value as string | number | bigint)
const { OID } = PgTypes
const array = <A>(values: ReadonlyArray<A>, oid: number) => Result.getOrThrow(PgTypes.array(values as Array<A>, oid))

const runFromRow = (row: RunRow): StoredRun => ({
  id: row.id,
  tenantId: row.tenant_id,
  from: utc(row.period_from),
  to: utc(row.period_to),
  status: row.status === "frozen" ? "final" : "draft",
  dimension: row.dimension,
  shared: row.shared,
  rule: row.rule,
  ruleVersion: row.rule_version ?? "",
  currency: row.currency,
  total: new Money.Decimal(row.total ?? "0"),
  ledgerTotal: new Money.Decimal(row.ledger_total ?? "0"),
  asOf: utc(row.as_of ?? row.created_at),
  inputs: row.inputs,
  inputsSha256: row.inputs_sha256 ?? "",
  createdBy: row.created_by ?? "system",
  createdAt: utc(row.created_at),
  finalizedBy: row.frozen_by,
  finalizedAt: row.frozen_at === null ? null : utc(row.frozen_at),
  lineCount: num(row.line_count)
})

interface LineRow {
  readonly run_id: string
  readonly line_no: number
  readonly kind: CostAllocation.Allocate.LineKind
  readonly owner: string | null
  readonly direct: string
  readonly allocated: string
  readonly amount: string
  readonly currency: string
  readonly request_count: string
  readonly corrects_run_id: string | null
}

const lineColumns = `run_id, line_no, kind, owner, direct::text AS direct, allocated::text AS allocated,
  amount::text AS amount, currency, request_count::text AS request_count, corrects_run_id`

const lineFromRow = (row: LineRow): StoredLine => ({
  lineNo: row.line_no,
  kind: row.kind,
  owner: row.owner,
  direct: new Money.Decimal(row.direct),
  allocated: new Money.Decimal(row.allocated),
  amount: new Money.Decimal(row.amount),
  currency: row.currency,
  requestCount: num(row.request_count),
  correctsRunId: row.corrects_run_id,
  runId: row.run_id
})

const decimalText = (value: Money.Decimal): string => Money.format(value)

/** Run ids are uuids; anything else names no run (and must not reach the database as a cast error). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isRunId = (id: string): boolean => UUID.test(id)

export interface ChargebackRunsService {
  /** Stores a draft run, its lines and its "created" audit entry; returns the stored run. */
  readonly insert: (tenantId: string, run: NewRun) => Effect.Effect<StoredRun, SqlError>
  /**
   * The run with this id, if the tenant has one. With `lock`, the run stays locked `FOR UPDATE`
   * until the enclosing transaction ends.
   */
  readonly get: (
    tenantId: string,
    runId: string,
    options?: { readonly lock?: boolean }
  ) => Effect.Effect<StoredRun | undefined, SqlError>
  /** Lines of the given runs, by run and line number. */
  readonly lines: (
    tenantId: string,
    runIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, ReadonlyArray<StoredLine>>, SqlError>
  /** A run's audit trail, oldest first. */
  readonly audit: (tenantId: string, runId: string) => Effect.Effect<ReadonlyArray<AuditEntry>, SqlError>
  /** Marks a draft final and records who did it. The database rejects any change after this. */
  readonly finalize: (tenantId: string, runId: string, finalizedBy: string) => Effect.Effect<void, SqlError>
  /** Finalized runs of a dimension and currency, optionally ending by or overlapping a period, in period order. */
  readonly finalized: (tenantId: string, query: FinalizedQuery) => Effect.Effect<ReadonlyArray<FinalizedRun>, SqlError>
  /** Ids of the runs of a dimension and currency finalized after `since`, but `except`. */
  readonly finalizedSince: (
    tenantId: string,
    query: {
      readonly dimension: string
      readonly currency: string
      readonly since: DateTime.Utc
      readonly except: string
    }
  ) => Effect.Effect<ReadonlyArray<string>, SqlError>
  /**
   * Correction lines in finalized runs that correct the given runs: with a run's own lines, what
   * has been charged for its period so far.
   */
  readonly corrections: (tenantId: string, runIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<StoredLine>, SqlError>
  /**
   * Runs newest first, `limit` at a time after the run `after` (by its exact created_at and id,
   * read in the database: timestamps keep microseconds that a JavaScript Date would lose).
   */
  readonly list: (tenantId: string, query: ListQuery) => Effect.Effect<ReadonlyArray<StoredRun>, SqlError>
  /** Stores a draft run's FOCUS cost groups (as of its instant), in order, beside it. */
  readonly insertCostGroups: (
    tenantId: string,
    runId: string,
    groups: ReadonlyArray<CostAllocation.Focus.CostGroup>
  ) => Effect.Effect<void, SqlError>
  /** The cost groups stored with a run, in order; undefined when none were stored with it. */
  readonly costGroups: (
    tenantId: string,
    runId: string
  ) => Effect.Effect<ReadonlyArray<CostAllocation.Focus.CostGroup> | undefined, SqlError>
}

export class ChargebackRuns extends Context.Service<ChargebackRuns, ChargebackRunsService>()("@tally/store/ChargebackRuns") {
  static readonly layer: Layer.Layer<ChargebackRuns, never, Database> = Layer.effect(
    ChargebackRuns,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const selectRun = (runId: string) =>
        sql<RunRow>`SELECT ${sql.literal(runColumns)} FROM tally.chargeback_runs r WHERE r.id = ${runId}`

      const insert = Effect.fn("ChargebackRuns.insert")(function*(tenantId: string, run: NewRun) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const [row] = yield* sql<{ id: string }>`INSERT INTO tally.chargeback_runs
                (tenant_id, period_from, period_to, status, rule, currency, total, created_by, dimension, shared,
                 rule_version, as_of, ledger_total, inputs, inputs_sha256)
              VALUES (${tenantId}, ${toDate(run.from)}, ${toDate(run.to)}, 'draft', ${PgTypes.jsonb(run.rule)},
                ${run.currency}, ${decimalText(run.total)}::numeric, ${run.createdBy}, ${run.dimension},
                ${array(run.shared, OID.text)}::text[], ${run.ruleVersion}, ${toDate(run.asOf)},
                ${decimalText(run.ledgerTotal)}::numeric, ${PgTypes.jsonb(run.inputs)}, ${run.inputsSha256})
              RETURNING id`
            const runId = row!.id
            if (run.lines.length > 0) {
              yield* sql.unsafe(
                `INSERT INTO tally.chargeback_lines
                    (tenant_id, run_id, line_no, dimension, amount, currency, detail, kind, owner, direct, allocated,
                     request_count, corrects_run_id)
                  SELECT $1, $2, line_no, CASE WHEN owner IS NULL THEN '{}'::jsonb ELSE jsonb_build_object($3::text, owner) END,
                    amount, $4, '{}', kind, owner, direct, allocated, request_count, corrects_run_id
                  FROM unnest($5::int4[], $6::text[], $7::text[], $8::numeric[], $9::numeric[], $10::numeric[], $11::int8[],
                    $12::uuid[]) AS l(line_no, kind, owner, direct, allocated, amount, request_count, corrects_run_id)`,
                [
                  tenantId,
                  runId,
                  run.dimension,
                  run.currency,
                  array(run.lines.map((l) => l.lineNo), OID.int4),
                  array(run.lines.map((l) => l.kind), OID.text),
                  array(run.lines.map((l) => l.owner), OID.text),
                  array(run.lines.map((l) => decimalText(l.direct)), OID.numeric),
                  array(run.lines.map((l) => decimalText(l.allocated)), OID.numeric),
                  array(run.lines.map((l) => decimalText(l.amount)), OID.numeric),
                  array(run.lines.map((l) => BigInt(l.requestCount)), OID.int8),
                  array(run.lines.map((l) => l.correctsRunId), OID.uuid)
                ]
              )
            }
            yield* sql`INSERT INTO tally.chargeback_audit (tenant_id, run_id, action, actor, detail)
              VALUES (${tenantId}, ${runId}, 'created', ${run.createdBy}, ${PgTypes.jsonb({ inputsSha256: run.inputsSha256 })})`
            const [stored] = yield* selectRun(runId)
            return runFromRow(stored!)
          })
        )
      })

      const get = Effect.fn("ChargebackRuns.get")(function*(
        tenantId: string,
        runId: string,
        options: { readonly lock?: boolean } = {}
      ) {
        if (!isRunId(runId)) return undefined
        const rows = yield* db.withTenant(
          tenantId,
          sql<RunRow>`SELECT ${sql.literal(runColumns)} FROM tally.chargeback_runs r
            WHERE r.id = ${runId} AND r.status <> 'void' ${sql.literal(options.lock === true ? "FOR UPDATE" : "")}`
        )
        return rows[0] === undefined ? undefined : runFromRow(rows[0])
      })

      const lines = Effect.fn("ChargebackRuns.lines")(function*(tenantId: string, runIds: ReadonlyArray<string>) {
        const out = new Map<string, Array<StoredLine>>()
        if (runIds.length === 0) return out
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<LineRow>(
            `SELECT ${lineColumns} FROM tally.chargeback_lines WHERE run_id = ANY($1::uuid[]) ORDER BY run_id, line_no`,
            [array(runIds, OID.uuid)]
          )
        )
        for (const row of rows) {
          const list = out.get(row.run_id) ?? []
          list.push(lineFromRow(row))
          out.set(row.run_id, list)
        }
        return out
      })

      const audit = Effect.fn("ChargebackRuns.audit")(function*(tenantId: string, runId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<{ action: AuditEntry["action"]; actor: string; at: Date; detail: unknown }>`SELECT action, actor, at, detail
            FROM tally.chargeback_audit WHERE run_id = ${runId} ORDER BY at, action`
        )
        return rows.map((row): AuditEntry => ({ action: row.action, actor: row.actor, at: utc(row.at), detail: row.detail }))
      })

      const finalize = Effect.fn("ChargebackRuns.finalize")(function*(tenantId: string, runId: string, finalizedBy: string) {
        yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* sql`UPDATE tally.chargeback_runs SET status = 'frozen', frozen_at = clock_timestamp(),
                frozen_by = ${finalizedBy}
              WHERE id = ${runId} AND status = 'draft'`
            yield* sql`INSERT INTO tally.chargeback_audit (tenant_id, run_id, action, actor)
              VALUES (${tenantId}, ${runId}, 'finalized', ${finalizedBy})`
          })
        )
      })

      const finalized = Effect.fn("ChargebackRuns.finalized")(function*(tenantId: string, q: FinalizedQuery) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<RunRow & { checked_through: Date | null }>(
            `SELECT ${runColumns},
                (SELECT max(c.as_of) FROM tally.chargeback_runs c
                  WHERE c.tenant_id = r.tenant_id AND c.status = 'frozen'
                    AND c.inputs -> 'checked' @> jsonb_build_array(r.id::text)) AS checked_through
              FROM tally.chargeback_runs r
              WHERE r.tenant_id = $1 AND r.status = 'frozen' AND r.dimension = $2 AND r.currency = $3
                AND ($4::timestamptz IS NULL OR r.period_to <= $4)
                AND ($5::timestamptz IS NULL OR (r.period_from < $6 AND r.period_to > $5))
              ORDER BY r.period_from, r.created_at`,
            [
              tenantId,
              q.dimension,
              q.currency,
              q.endingBy === undefined ? null : toDate(q.endingBy),
              q.overlapping === undefined ? null : toDate(q.overlapping.from),
              q.overlapping === undefined ? null : toDate(q.overlapping.to)
            ]
          )
        )
        return rows.map((row): FinalizedRun => {
          const run = runFromRow(row)
          const checked = row.checked_through === null ? run.asOf : utc(row.checked_through)
          return {
            ...run,
            checkedThrough: DateTime.toEpochMillis(checked) > DateTime.toEpochMillis(run.asOf) ? checked : run.asOf
          }
        })
      })

      const finalizedSince = Effect.fn("ChargebackRuns.finalizedSince")(function*(
        tenantId: string,
        q: { readonly dimension: string; readonly currency: string; readonly since: DateTime.Utc; readonly except: string }
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<{ id: string }>`SELECT id FROM tally.chargeback_runs
            WHERE tenant_id = ${tenantId} AND status = 'frozen' AND dimension = ${q.dimension} AND currency = ${q.currency}
              AND frozen_at > ${toDate(q.since)} AND id <> ${q.except}
            ORDER BY frozen_at`
        )
        return rows.map((row) => row.id)
      })

      const corrections = Effect.fn("ChargebackRuns.corrections")(function*(tenantId: string, runIds: ReadonlyArray<string>) {
        if (runIds.length === 0) return []
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<LineRow>(
            `SELECT ${lineColumns.split(",").map((c) => `l.${c.trim()}`).join(", ")}
              FROM tally.chargeback_lines l JOIN tally.chargeback_runs r ON r.id = l.run_id
              WHERE r.status = 'frozen' AND l.corrects_run_id = ANY($1::uuid[])
              ORDER BY l.corrects_run_id, r.period_from, l.line_no`,
            [array(runIds, OID.uuid)]
          )
        )
        return rows.map(lineFromRow)
      })

      const list = Effect.fn("ChargebackRuns.list")(function*(tenantId: string, q: ListQuery) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<RunRow>(
            `SELECT ${runColumns} FROM tally.chargeback_runs r
              WHERE r.status <> 'void'
                AND ($1::text IS NULL OR r.status = $1)
                AND ($2::uuid IS NULL OR (r.created_at, r.id) < (SELECT a.created_at, a.id FROM tally.chargeback_runs a WHERE a.id = $2))
              ORDER BY r.created_at DESC, r.id DESC
              LIMIT $3`,
            [q.status === null ? null : q.status === "final" ? "frozen" : "draft", q.after, q.limit]
          )
        )
        return rows.map(runFromRow)
      })

      const insertCostGroups = Effect.fn("ChargebackRuns.insertCostGroups")(function*(
        tenantId: string,
        runId: string,
        groups: ReadonlyArray<CostAllocation.Focus.CostGroup>
      ) {
        if (groups.length === 0) return
        const text = (pick: (g: CostAllocation.Focus.CostGroup) => string | null) => array(groups.map(pick), OID.text)
        const numeric = (pick: (g: CostAllocation.Focus.CostGroup) => Money.Decimal) =>
          array(groups.map((g) => decimalText(pick(g))), OID.numeric)
        yield* db.withTenant(
          tenantId,
          sql.unsafe(
            `INSERT INTO tally.chargeback_cost_groups
                (tenant_id, run_id, group_no, owner, provider, model, snapshot_id, currency, component, unit, list_rate,
                 list_rate_per, unit_price, quantity, amount, billed, requests)
              SELECT $1, $2, g.ordinality - 1, g.owner, g.provider, g.model, g.snapshot_id, g.currency, g.component, g.unit,
                g.list_rate, g.list_rate_per, g.unit_price, g.quantity, g.amount, g.billed, g.requests
              FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::numeric[],
                $11::text[], $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[], $16::int8[])
                WITH ORDINALITY AS g(owner, provider, model, snapshot_id, currency, component, unit, list_rate, list_rate_per,
                  unit_price, quantity, amount, billed, requests, ordinality)`,
            [
              tenantId,
              runId,
              text((g) => g.owner),
              text((g) => g.provider),
              text((g) => g.model),
              text((g) => g.snapshotId),
              text((g) => g.currency),
              text((g) => g.component),
              text((g) => g.unit),
              numeric((g) => g.listRate),
              text((g) => g.listRatePer),
              numeric((g) => g.unitPrice),
              numeric((g) => g.quantity),
              numeric((g) => g.amount),
              numeric((g) => g.billed),
              array(groups.map((g) => BigInt(g.requests)), OID.int8)
            ]
          )
        )
      })

      const costGroups = Effect.fn("ChargebackRuns.costGroups")(function*(tenantId: string, runId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<Record<string, string | null>>`SELECT owner, provider, model, snapshot_id, currency, component, unit,
              list_rate::text AS list_rate, list_rate_per, unit_price::text AS unit_price, quantity::text AS quantity,
              amount::text AS amount, billed::text AS billed, requests::text AS requests
            FROM tally.chargeback_cost_groups WHERE run_id = ${runId} ORDER BY group_no`
        )
        if (rows.length === 0) return undefined
        return rows.map((row) => CostGroupRow.toCostGroup(row, row.currency!))
      })

      return ChargebackRuns.of({
        insertCostGroups,
        costGroups, insert, get, lines, audit, finalize, finalized, finalizedSince, corrections, list })
    })
  )
}
