/**
 * Stored pricing snapshots, so that every ledger row's `snapshot_id` can be looked up for audit.
 * Built-in snapshots are global (no tenant) and written by the system; custom ones belong to a
 * tenant. A snapshot's id is the hash of its content, so saving the same prices twice is a no-op,
 * and a stored snapshot can never change (the table rejects updates and deletes).
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { PricingSnapshot } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"

export interface SnapshotInput {
  readonly snapshot: PricingSnapshot.PricingSnapshot
  /** The model definition the snapshot prices, when known. */
  readonly definitionId?: string | null | undefined
}

export interface StoredSnapshot {
  readonly id: string
  /** Null for built-in snapshots. */
  readonly tenantId: string | null
  readonly definitionId: string | null
  readonly snapshot: PricingSnapshot.PricingSnapshot
  readonly createdAt: DateTime.Utc
}

/** An ISO date or date-time as an instant; a bare date is midnight UTC. */
const instant = (text: string | undefined): Date | null => {
  if (text === undefined) return null
  const parsed = DateTime.make(text)
  return Option.isSome(parsed) ? DateTime.toDateUtc(parsed.value) : null
}

interface SnapshotRow {
  readonly id: string
  readonly tenant_id: string | null
  readonly definition_id: string | null
  readonly snapshot: unknown
  readonly created_at: Date
}

const snapshotColumns = "id, tenant_id, definition_id, snapshot, created_at"

const fromRow = (row: SnapshotRow): StoredSnapshot => ({
  id: row.id,
  tenantId: row.tenant_id,
  definitionId: row.definition_id,
  snapshot: PricingSnapshot.decodeSnapshot(row.snapshot),
  createdAt: DateTime.fromDateUnsafe(row.created_at)
})

export interface PricingSnapshotsService {
  /** Saves built-in (global) snapshots as the system; returns their ids in input order. */
  readonly saveBuiltin: (inputs: ReadonlyArray<SnapshotInput>) => Effect.Effect<ReadonlyArray<string>, SqlError>
  /** Saves a tenant's custom snapshots; returns their ids in input order. */
  readonly saveCustom: (
    tenantId: string,
    inputs: ReadonlyArray<SnapshotInput>
  ) => Effect.Effect<ReadonlyArray<string>, SqlError>
  /** The snapshot with this id visible to the tenant: its own custom one first, else built-in. */
  readonly get: (tenantId: string, id: string) => Effect.Effect<Option.Option<StoredSnapshot>, SqlError>
  /** The snapshots with these ids visible to the tenant (its own first, else built-in), by id. */
  readonly getMany: (tenantId: string, ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, StoredSnapshot>, SqlError>
}

export class PricingSnapshots extends Context.Service<PricingSnapshots, PricingSnapshotsService>()(
  "@tally/store/PricingSnapshots"
) {
  static readonly layer: Layer.Layer<PricingSnapshots, never, Database> = Layer.effect(
    PricingSnapshots,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      /** Inserts snapshots in the current transaction; returns their ids in input order. */
      const save = (tenantId: string | null, inputs: ReadonlyArray<SnapshotInput>) =>
        Effect.forEach(inputs, ({ definitionId, snapshot }) => {
          const id = PricingSnapshot.snapshotId(snapshot)
          return Effect.as(
            sql`INSERT INTO tally.pricing_snapshots
                (tenant_id, id, definition_id, provider, model_key, currency, effective_from, effective_to, snapshot)
              VALUES (${tenantId}, ${id}, ${definitionId ?? null}, ${snapshot.provider}, ${snapshot.modelKey}, ${
              PricingSnapshot.currencyOf(snapshot)
            }, ${instant(snapshot.effectiveFrom)}::timestamptz, ${instant(snapshot.effectiveTo)}::timestamptz, ${
              PgTypes.jsonb(PricingSnapshot.encodeSnapshot(snapshot))
            })
              ON CONFLICT ON CONSTRAINT pricing_snapshots_key DO NOTHING`,
            id
          )
        })

      const saveBuiltin = Effect.fn("PricingSnapshots.saveBuiltin")(function*(inputs: ReadonlyArray<SnapshotInput>) {
        return yield* sql.withTransaction(save(null, inputs))
      })

      const saveCustom = Effect.fn("PricingSnapshots.saveCustom")(function*(
        tenantId: string,
        inputs: ReadonlyArray<SnapshotInput>
      ) {
        return yield* db.withTenant(tenantId, save(tenantId, inputs))
      })

      const get = Effect.fn("PricingSnapshots.get")(function*(tenantId: string, id: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<SnapshotRow>`SELECT ${sql.literal(snapshotColumns)}
            FROM tally.pricing_snapshots WHERE id = ${id}
            ORDER BY tenant_id NULLS LAST LIMIT 1`
        )
        const row = rows[0]
        return row === undefined ? Option.none() : Option.some(fromRow(row))
      })

      const getMany = Effect.fn("PricingSnapshots.getMany")(function*(tenantId: string, ids: ReadonlyArray<string>) {
        if (ids.length === 0) return new Map<string, StoredSnapshot>()
        const rows = yield* db.withTenant(
          tenantId,
          sql<SnapshotRow>`SELECT DISTINCT ON (id) ${sql.literal(snapshotColumns)}
            FROM tally.pricing_snapshots WHERE id = ANY(${[...ids]}::text[])
            ORDER BY id, tenant_id NULLS LAST`
        )
        return new Map(rows.map((row) => [row.id, fromRow(row)]))
      })

      return PricingSnapshots.of({ saveBuiltin, saveCustom, get, getMany })
    })
  )
}
