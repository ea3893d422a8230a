/**
 * Commitments (migration 0026): the `commitments` rows, and `commitment_usage`, what a commitment
 * did to each call it covered. The rules (which calls a commitment covers, what it does to their
 * cost, fees, utilisation, break-even) are `Commitment` in `@tally/core`; this module stores and
 * sums.
 *
 * `recordUsage` runs inside the ingest transaction (it joins the caller's tenant scope) for the
 * calls the ledger really inserted, so a replayed call records nothing. `active` is what ingest
 * applies: the tenant's commitments, cached for a few seconds and dropped on every change made
 * through this service.
 */
import { Commitment, Money } from "@tally/core"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { isUuid } from "./internal/Uuid.ts"

interface CommitmentRow {
  readonly id: string
  readonly name: string
  readonly kind: Commitment.Kind
  readonly provider: string | null
  readonly model: string | null
  readonly deployment: string | null
  readonly currency: string
  readonly discount_percent: string | null
  readonly amount: string | null
  readonly fee: string | null
  readonly fee_period: Commitment.FeePeriod | null
  readonly starts_at: Date
  readonly ends_at: Date | null
  readonly created_at: Date
  readonly archived_at: Date | null
}

const columns =
  "id, name, kind, provider, model, deployment, currency, discount_percent::text, amount::text, fee::text, fee_period, starts_at, ends_at, created_at, archived_at"

const utc = (date: Date) => DateTime.fromDateUnsafe(date)
const dec = (text: string | null) => (text === null ? null : new Money.Decimal(text))

const fromRow = (row: CommitmentRow): Commitment.Commitment => ({
  id: row.id,
  name: row.name,
  kind: row.kind,
  provider: row.provider,
  model: row.model,
  deployment: row.deployment,
  currency: row.currency,
  discountPercent: dec(row.discount_percent),
  amount: dec(row.amount),
  fee: dec(row.fee),
  feePeriod: row.fee_period,
  startsAt: utc(row.starts_at),
  endsAt: row.ends_at === null ? null : utc(row.ends_at),
  createdAt: utc(row.created_at),
  archivedAt: row.archived_at === null ? null : utc(row.archived_at)
})

/** A call's coverage, as ingest records it. */
export interface UsageEntry {
  readonly requestId: string
  readonly occurredAt: DateTime.Utc
  readonly coverage: Commitment.Coverage
}

/** Which calls a break-even estimate adds up: the scope of a prospective (or bought) commitment. */
export interface Scope {
  readonly provider?: string | null | undefined
  readonly model?: string | null | undefined
  readonly deployment?: string | null | undefined
  readonly currency: string
}

export interface CommitmentsService {
  readonly insert: (tenantId: string, commitment: Commitment.NewCommitment) => Effect.Effect<Commitment.Commitment, SqlError>
  readonly get: (tenantId: string, id: string) => Effect.Effect<Commitment.Commitment, Commitment.CommitmentNotFound | SqlError>
  /** In creation order; archived ones only when asked. */
  readonly list: (
    tenantId: string,
    options?: { readonly includeArchived?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<Commitment.Commitment>, SqlError>
  /** The commitment stops applying to calls ingested from now on; its history stays. */
  readonly archive: (tenantId: string, id: string, at: DateTime.Utc) => Effect.Effect<Commitment.Commitment, Commitment.CommitmentNotFound | SqlError>
  /** The tenant's unarchived commitments in creation order, cached up to `cacheMillis`. */
  readonly active: (tenantId: string) => Effect.Effect<ReadonlyArray<Commitment.Commitment>, SqlError>
  /** Records coverage of inserted calls; in the caller's transaction when inside one. */
  readonly recordUsage: (tenantId: string, entries: ReadonlyArray<UsageEntry>) => Effect.Effect<void, SqlError>
  /** What the commitment covered and what spilled over in `[from, to)`. */
  readonly usage: (
    tenantId: string,
    commitmentId: string,
    from: DateTime.Utc,
    to: DateTime.Utc
  ) => Effect.Effect<{ readonly covered: Commitment.PeriodUsage; readonly spillover: Commitment.PeriodUsage }, SqlError>
  /** What commitments did to the calls that occurred in `[from, to)`, oldest first (for exports such as FOCUS). */
  readonly coverage: (
    tenantId: string,
    range: { readonly from: DateTime.Utc; readonly to: DateTime.Utc; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<UsageEntry>, SqlError>
  /**
   * On-demand cost of the scope's calls in `[from, to)` in its currency: the ledger's totals, with
   * the on-demand cost in place of the recorded one for calls a commitment changed.
   */
  readonly onDemand: (tenantId: string, scope: Scope, from: DateTime.Utc, to: DateTime.Utc) => Effect.Effect<Money.Decimal, SqlError>
}

/** How long ingest reuses a tenant's commitments before reading them again. */
export const cacheMillis = 5_000

const { OID } = PgTypes
const array = (values: ReadonlyArray<unknown>, oid: number) => Result.getOrThrow(PgTypes.array(values, oid))

interface UsageRow {
  readonly kind: Commitment.CoverageKind
  readonly calls: string
  readonly tokens: string
  readonly on_demand: string
  readonly charged: string
}

export class Commitments extends Context.Service<Commitments, CommitmentsService>()("@tally/store/Commitments") {
  static readonly layer: Layer.Layer<Commitments, never, Database> = Layer.effect(
    Commitments,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql
      const cache = new Map<string, { readonly at: number; readonly list: ReadonlyArray<Commitment.Commitment> }>()

      const select = (tenantId: string, where: string, params: ReadonlyArray<unknown>) =>
        db.withTenant(
          tenantId,
          sql.unsafe<CommitmentRow>(`SELECT ${columns} FROM tally.commitments WHERE ${where} ORDER BY created_at, id`, [...params])
        ).pipe(Effect.map((rows) => rows.map(fromRow)))

      const get = Effect.fn("Commitments.get")(function*(tenantId: string, id: string) {
        if (!isUuid(id)) return yield* Commitment.notFound(id)
        const [found] = yield* select(tenantId, "id = $1", [id])
        if (found === undefined) return yield* Commitment.notFound(id)
        return found
      })

      const insert = Effect.fn("Commitments.insert")(function*(tenantId: string, c: Commitment.NewCommitment) {
        const [row] = yield* db.withTenant(
          tenantId,
          sql.unsafe<CommitmentRow>(
            `INSERT INTO tally.commitments (tenant_id, name, kind, provider, model, deployment, currency,
               discount_percent, amount, fee, fee_period, starts_at, ends_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric, $9::numeric, $10::numeric, $11, $12, $13)
             RETURNING ${columns}`,
            [
              tenantId,
              c.name,
              c.kind,
              c.provider,
              c.model,
              c.deployment,
              c.currency,
              c.discountPercent === null ? null : Money.format(c.discountPercent),
              c.amount === null ? null : Money.format(c.amount),
              c.fee === null ? null : Money.format(c.fee),
              c.feePeriod,
              new Date(DateTime.toEpochMillis(c.startsAt)),
              c.endsAt === null ? null : new Date(DateTime.toEpochMillis(c.endsAt))
            ]
          )
        )
        cache.delete(tenantId)
        return fromRow(row!)
      })

      const list = Effect.fn("Commitments.list")(function*(
        tenantId: string,
        options: { readonly includeArchived?: boolean | undefined } = {}
      ) {
        return yield* select(tenantId, options.includeArchived === true ? "true" : "archived_at IS NULL", [])
      })

      const archive = Effect.fn("Commitments.archive")(function*(tenantId: string, id: string, at: DateTime.Utc) {
        yield* get(tenantId, id)
        yield* db.withTenant(
          tenantId,
          sql`UPDATE tally.commitments SET archived_at = coalesce(archived_at, ${new Date(DateTime.toEpochMillis(at))}) WHERE id = ${id}`
        )
        cache.delete(tenantId)
        return yield* get(tenantId, id)
      })

      const active = Effect.fnUntraced(function*(tenantId: string) {
        const now = yield* Clock.currentTimeMillis
        const cached = cache.get(tenantId)
        if (cached !== undefined && now - cached.at < cacheMillis) return cached.list
        const fresh = yield* select(tenantId, "archived_at IS NULL", [])
        cache.set(tenantId, { at: now, list: fresh })
        return fresh
      })

      const recordUsage = Effect.fn("Commitments.recordUsage")(function*(tenantId: string, entries: ReadonlyArray<UsageEntry>) {
        if (entries.length === 0) return
        yield* db.withTenant(
          tenantId,
          sql.unsafe(
            `INSERT INTO tally.commitment_usage
               (tenant_id, request_id, commitment_id, occurred_at, kind, on_demand, charged, currency, tokens, signal)
             SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::timestamptz[], $5::text[], $6::numeric[], $7::numeric[],
               $8::text[], $9::int8[], $10::text[])
             ON CONFLICT DO NOTHING`,
            [
              tenantId,
              array(entries.map((e) => e.requestId), OID.text),
              array(entries.map((e) => e.coverage.commitmentId), OID.uuid),
              array(entries.map((e) => DateTime.toEpochMillis(e.occurredAt)), OID.timestamptz),
              array(entries.map((e) => e.coverage.kind), OID.text),
              array(entries.map((e) => Money.format(e.coverage.onDemand)), OID.numeric),
              array(entries.map((e) => Money.format(e.coverage.charged)), OID.numeric),
              array(entries.map((e) => e.coverage.currency), OID.text),
              array(entries.map((e) => BigInt(e.coverage.tokens)), OID.int8),
              array(entries.map((e) => e.coverage.signal), OID.text)
            ]
          )
        )
      })

      const usage = Effect.fn("Commitments.usage")(function*(
        tenantId: string,
        commitmentId: string,
        from: DateTime.Utc,
        to: DateTime.Utc
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<UsageRow>`SELECT kind, count(*)::text AS calls, coalesce(sum(tokens), 0)::text AS tokens,
              coalesce(sum(on_demand), 0)::text AS on_demand, coalesce(sum(charged), 0)::text AS charged
            FROM tally.commitment_usage
            WHERE commitment_id = ${commitmentId}
              AND occurred_at >= ${new Date(DateTime.toEpochMillis(from))} AND occurred_at < ${new Date(DateTime.toEpochMillis(to))}
            GROUP BY kind`
        )
        const of = (kinds: ReadonlyArray<Commitment.CoverageKind>): Commitment.PeriodUsage => {
          let out = Commitment.emptyUsage
          for (const row of rows) {
            if (!kinds.includes(row.kind)) continue
            out = {
              calls: out.calls + Number(row.calls),
              tokens: out.tokens + Number(row.tokens),
              onDemand: out.onDemand.plus(row.on_demand),
              charged: out.charged.plus(row.charged)
            }
          }
          return out
        }
        return { covered: of(["provisioned", "discounted"]), spillover: of(["spillover"]) }
      })

      const onDemand = Effect.fn("Commitments.onDemand")(function*(
        tenantId: string,
        scope: Scope,
        from: DateTime.Utc,
        to: DateTime.Utc
      ) {
        const model = scope.model ?? null
        const literal = (text: string) => text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)
        const pattern = model === null ? null : model.endsWith("*") ? `${literal(model.slice(0, -1))}%` : literal(model)
        const [row] = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ total: string }>(
            `SELECT coalesce(sum(coalesce(u.on_demand, l.total)), 0)::text AS total
             FROM tally.usage_ledger l
             LEFT JOIN tally.commitment_usage u ON u.tenant_id = l.tenant_id AND u.request_id = l.request_id
             WHERE l.tenant_id = $1 AND l.occurred_at >= $2 AND l.occurred_at < $3 AND l.currency = $4
               AND l.total IS NOT NULL
               AND ($5::text IS NULL OR lower(l.provider) = lower($5))
               AND ($6::text IS NULL OR lower(l.model) LIKE $6 OR lower(l.definition_id) LIKE $6)
               AND ($7::text IS NULL OR l.tags->>'deployment' = $7 OR l.model = $7)`,
            [
              tenantId,
              new Date(DateTime.toEpochMillis(from)),
              new Date(DateTime.toEpochMillis(to)),
              scope.currency,
              scope.provider ?? null,
              pattern,
              scope.deployment ?? null
            ]
          )
        )
        return new Money.Decimal(row?.total ?? "0")
      })

      const coverage = Effect.fn("Commitments.coverage")(function*(
        tenantId: string,
        range: { readonly from: DateTime.Utc; readonly to: DateTime.Utc; readonly limit?: number | undefined }
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<{
            request_id: string
            commitment_id: string
            occurred_at: Date
            kind: Commitment.CoverageKind
            on_demand: string
            charged: string
            currency: string
            tokens: string
            signal: string | null
          }>`SELECT request_id, commitment_id, occurred_at, kind, on_demand::text AS on_demand, charged::text AS charged, currency,
              tokens::text AS tokens, signal
            FROM tally.commitment_usage
            WHERE occurred_at >= ${new Date(DateTime.toEpochMillis(range.from))} AND occurred_at < ${new Date(DateTime.toEpochMillis(range.to))}
            ORDER BY occurred_at, request_id
            LIMIT ${Math.min(Math.max(range.limit ?? 10_000, 1), 100_000)}`
        )
        return rows.map((row): UsageEntry => ({
          requestId: row.request_id,
          occurredAt: utc(row.occurred_at),
          coverage: {
            commitmentId: row.commitment_id,
            kind: row.kind,
            onDemand: new Money.Decimal(row.on_demand),
            charged: new Money.Decimal(row.charged),
            currency: row.currency,
            tokens: Number(row.tokens),
            signal: row.signal
          }
        }))
      })

      return Commitments.of({ insert, get, list, archive, active, recordUsage, usage, onDemand, coverage })
    })
  )
}
