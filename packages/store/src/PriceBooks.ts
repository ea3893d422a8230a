/**
 * A tenant's price book as stored: its custom model definitions, price overrides and multipliers,
 * and a version that moves with every change.
 *
 * The store keeps definitions and price histories as the JSON the catalog encodes; it does not
 * interpret them (the catalog package sits above the store). The engine decodes them into price
 * book layers (`@tally/engine` TenantPricing) and computes every change; writes here only take
 * the row lock, run the caller's change against the current row, and record the result with the
 * snapshots it introduces, in one transaction of the tenant's scope.
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { Money, Tenant, TenantPriceBook } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { PricingSnapshots, type SnapshotInput } from "./PricingSnapshots.ts"

/** What a change computes from the current row: the row to write and the snapshots it cites. */
export interface Change<A> {
  readonly value: A
  readonly snapshots: ReadonlyArray<SnapshotInput>
}

interface DefinitionRow {
  readonly id: string
  readonly provider: string
  readonly model_key: string
  readonly display_name: string | null
  readonly definition: unknown
  readonly created_at: Date
  readonly updated_at: Date
}

interface OverrideRow {
  readonly scope: TenantPriceBook.ScopeSelector
  readonly definition_id: string
  readonly history: unknown
  readonly reason: string | null
  readonly created_at: Date
  readonly updated_at: Date
}

interface MultiplierRow {
  readonly id: string
  readonly scope: TenantPriceBook.ScopeSelector
  readonly factor: string
  readonly reason: string
  readonly providers: ReadonlyArray<string> | null
  readonly definition_ids: ReadonlyArray<string> | null
  readonly models: unknown
  readonly created_at: Date
}

const definitionOf = (row: DefinitionRow): TenantPriceBook.StoredDefinition => ({
  id: row.id,
  provider: row.provider,
  modelKey: row.model_key,
  displayName: row.display_name,
  definition: row.definition,
  createdAt: DateTime.fromDateUnsafe(row.created_at),
  updatedAt: DateTime.fromDateUnsafe(row.updated_at)
})

const overrideOf = (row: OverrideRow): TenantPriceBook.StoredOverride => ({
  scope: row.scope,
  definitionId: row.definition_id,
  history: row.history,
  reason: row.reason,
  createdAt: DateTime.fromDateUnsafe(row.created_at),
  updatedAt: DateTime.fromDateUnsafe(row.updated_at)
})

const multiplierOf = (row: MultiplierRow): TenantPriceBook.StoredMultiplier => ({
  id: row.id,
  scope: row.scope,
  factor: new Money.Decimal(row.factor),
  reason: row.reason,
  providers: row.providers,
  definitionIds: row.definition_ids,
  models: row.models ?? null,
  createdAt: DateTime.fromDateUnsafe(row.created_at)
})

const definitionColumns = "id, provider, model_key, display_name, definition, created_at, updated_at"
const overrideColumns = "scope, definition_id, history, reason, created_at, updated_at"
const multiplierColumns = "id, scope, factor::text AS factor, reason, providers, definition_ids, models, created_at"

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface PriceBooksService {
  /** Everything of the tenant's price book, and its version. */
  readonly load: (tenantId: string) => Effect.Effect<TenantPriceBook.StoredPriceBook, SqlError>
  /** The version alone (0 before the first change): cheap enough to ask every few seconds. */
  readonly version: (tenantId: string) => Effect.Effect<number, SqlError>
  readonly getDefinition: (
    tenantId: string,
    definitionId: string
  ) => Effect.Effect<TenantPriceBook.StoredDefinition, TenantPriceBook.CustomDefinitionNotFound | SqlError>
  /** Records a new custom definition; its id must be new in the tenant. */
  readonly createDefinition: (
    tenantId: string,
    input: TenantPriceBook.DefinitionInput,
    snapshots: ReadonlyArray<SnapshotInput>
  ) => Effect.Effect<TenantPriceBook.StoredDefinition, TenantPriceBook.DefinitionExists | Tenant.TenantNotFound | SqlError>
  /** Changes a custom definition: `change` sees the locked current row and returns the new one. */
  readonly updateDefinition: <E>(
    tenantId: string,
    definitionId: string,
    change: (current: TenantPriceBook.StoredDefinition) => Effect.Effect<Change<TenantPriceBook.DefinitionInput>, E>
  ) => Effect.Effect<TenantPriceBook.StoredDefinition, E | TenantPriceBook.CustomDefinitionNotFound | SqlError>
  /** Sets the override of a definition in a scope: `change` sees the current one (or undefined). */
  readonly setOverride: <E>(
    tenantId: string,
    scope: TenantPriceBook.ScopeSelector | undefined,
    definitionId: string,
    change: (current: TenantPriceBook.StoredOverride | undefined) => Effect.Effect<Change<TenantPriceBook.OverrideInput>, E>
  ) => Effect.Effect<TenantPriceBook.StoredOverride, E | Tenant.TenantNotFound | SqlError>
  /** Removes an override; false when there was none. */
  readonly removeOverride: (
    tenantId: string,
    scope: TenantPriceBook.ScopeSelector | undefined,
    definitionId: string
  ) => Effect.Effect<boolean, SqlError>
  readonly addMultiplier: (
    tenantId: string,
    input: TenantPriceBook.MultiplierInput
  ) => Effect.Effect<TenantPriceBook.StoredMultiplier, TenantPriceBook.InvalidPriceBookEntry | Tenant.TenantNotFound | SqlError>
  readonly removeMultiplier: (
    tenantId: string,
    multiplierId: string
  ) => Effect.Effect<TenantPriceBook.StoredMultiplier, TenantPriceBook.MultiplierNotFound | SqlError>
}

export class PriceBooks extends Context.Service<PriceBooks, PriceBooksService>()("@tally/store/PriceBooks") {
  static readonly layer: Layer.Layer<PriceBooks, never, Database> = Layer.effect(
    PriceBooks,
    Effect.gen(function*() {
      const db = yield* Database
      const snapshotStore = yield* PricingSnapshots
      const sql = db.sql

      /** Moves the tenant's version; the caller's transaction. Fails when the tenant does not exist. */
      const bump = (tenantId: string) =>
        Effect.gen(function*() {
          const exists = yield* sql`SELECT 1 FROM tally.tenants WHERE id = ${tenantId}`
          if (exists.length === 0) return yield* Tenant.notFound(tenantId)
          yield* sql`INSERT INTO tally.price_book_versions AS v (tenant_id, version) VALUES (${tenantId}, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1, updated_at = now()`
        })

      const saveSnapshots = (tenantId: string, snapshots: ReadonlyArray<SnapshotInput>) =>
        snapshots.length === 0 ? Effect.void : Effect.asVoid(snapshotStore.saveCustom(tenantId, snapshots))

      const load = Effect.fn("PriceBooks.load")(function*(tenantId: string) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const [version] = yield* sql<{ version: string }>`SELECT version::text AS version
              FROM tally.price_book_versions WHERE tenant_id = ${tenantId}`
            const definitions = yield* sql<DefinitionRow>`SELECT ${sql.literal(definitionColumns)}
              FROM tally.model_definitions WHERE tenant_id = ${tenantId} ORDER BY id`
            const overrides = yield* sql<OverrideRow>`SELECT ${sql.literal(overrideColumns)}
              FROM tally.price_overrides WHERE tenant_id = ${tenantId} ORDER BY scope_key, definition_id`
            const multipliers = yield* sql<MultiplierRow>`SELECT ${sql.literal(multiplierColumns)}
              FROM tally.price_multipliers WHERE tenant_id = ${tenantId} ORDER BY created_at, id`
            return {
              version: Number(version?.version ?? 0),
              definitions: definitions.map(definitionOf),
              overrides: overrides.map(overrideOf),
              multipliers: multipliers.map(multiplierOf)
            } satisfies TenantPriceBook.StoredPriceBook
          })
        )
      })

      const version = (tenantId: string) =>
        db.withTenant(
          tenantId,
          sql<{ version: string }>`SELECT version::text AS version FROM tally.price_book_versions WHERE tenant_id = ${tenantId}`
        ).pipe(Effect.map((rows) => Number(rows[0]?.version ?? 0)), Effect.withSpan("PriceBooks.version"))

      const definitionNotFound = (definitionId: string) =>
        new TenantPriceBook.CustomDefinitionNotFound({
          definitionId,
          message: `no custom model definition ${JSON.stringify(definitionId)} in this tenant`
        })

      const getDefinition = Effect.fn("PriceBooks.getDefinition")(function*(tenantId: string, definitionId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<DefinitionRow>`SELECT ${sql.literal(definitionColumns)} FROM tally.model_definitions
            WHERE tenant_id = ${tenantId} AND id = ${definitionId}`
        )
        return rows[0] === undefined ? yield* definitionNotFound(definitionId) : definitionOf(rows[0])
      })

      const createDefinition = Effect.fn("PriceBooks.createDefinition")(function*(
        tenantId: string,
        input: TenantPriceBook.DefinitionInput,
        snapshots: ReadonlyArray<SnapshotInput>
      ) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* bump(tenantId)
            const rows = yield* sql<DefinitionRow>`INSERT INTO tally.model_definitions
                (tenant_id, id, provider, model_key, display_name, match_patterns, definition)
              VALUES (${tenantId}, ${input.id}, ${input.provider}, ${input.modelKey}, ${input.displayName ?? null},
                ${PgTypes.jsonb([input.match])}, ${PgTypes.jsonb(input.definition)})
              ON CONFLICT ON CONSTRAINT model_definitions_key DO NOTHING
              RETURNING ${sql.literal(definitionColumns)}`
            if (rows[0] === undefined) {
              return yield* new TenantPriceBook.DefinitionExists({
                definitionId: input.id,
                message: `a custom model definition ${JSON.stringify(input.id)} already exists; update it instead`
              })
            }
            yield* saveSnapshots(tenantId, snapshots)
            return definitionOf(rows[0])
          })
        )
      })

      const updateDefinition = <E>(
        tenantId: string,
        definitionId: string,
        change: (current: TenantPriceBook.StoredDefinition) => Effect.Effect<Change<TenantPriceBook.DefinitionInput>, E>
      ) =>
        db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const rows = yield* sql<DefinitionRow>`SELECT ${sql.literal(definitionColumns)} FROM tally.model_definitions
              WHERE tenant_id = ${tenantId} AND id = ${definitionId} FOR UPDATE`
            if (rows[0] === undefined) return yield* definitionNotFound(definitionId)
            const next = yield* change(definitionOf(rows[0]))
            yield* bump(tenantId).pipe(Effect.catchTag("TenantNotFound", Effect.die))
            const updated = yield* sql<DefinitionRow>`UPDATE tally.model_definitions SET
                provider = ${next.value.provider}, model_key = ${next.value.modelKey},
                display_name = ${next.value.displayName ?? null}, match_patterns = ${PgTypes.jsonb([next.value.match])},
                definition = ${PgTypes.jsonb(next.value.definition)}, updated_at = now()
              WHERE tenant_id = ${tenantId} AND id = ${definitionId}
              RETURNING ${sql.literal(definitionColumns)}`
            yield* saveSnapshots(tenantId, next.snapshots)
            return definitionOf(updated[0]!)
          })
        ).pipe(Effect.withSpan("PriceBooks.updateDefinition"))

      const setOverride = <E>(
        tenantId: string,
        scope: TenantPriceBook.ScopeSelector | undefined,
        definitionId: string,
        change: (current: TenantPriceBook.StoredOverride | undefined) => Effect.Effect<Change<TenantPriceBook.OverrideInput>, E>
      ) =>
        db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* bump(tenantId)
            const key = TenantPriceBook.scopeKey(scope)
            const rows = yield* sql<OverrideRow>`SELECT ${sql.literal(overrideColumns)} FROM tally.price_overrides
              WHERE tenant_id = ${tenantId} AND scope_key = ${key} AND definition_id = ${definitionId} FOR UPDATE`
            const next = yield* change(rows[0] === undefined ? undefined : overrideOf(rows[0]))
            const written = yield* sql<OverrideRow>`INSERT INTO tally.price_overrides AS o
                (tenant_id, scope_key, scope, definition_id, history, reason)
              VALUES (${tenantId}, ${key}, ${PgTypes.jsonb(TenantPriceBook.normalizeScope(scope))}, ${definitionId},
                ${PgTypes.jsonb(next.value.history)}, ${next.value.reason ?? null})
              ON CONFLICT (tenant_id, scope_key, definition_id) DO UPDATE SET
                history = EXCLUDED.history, reason = EXCLUDED.reason, updated_at = now()
              RETURNING ${sql.literal(overrideColumns)}`
            yield* saveSnapshots(tenantId, next.snapshots)
            return overrideOf(written[0]!)
          })
        ).pipe(Effect.withSpan("PriceBooks.setOverride"))

      const removeOverride = Effect.fn("PriceBooks.removeOverride")(function*(
        tenantId: string,
        scope: TenantPriceBook.ScopeSelector | undefined,
        definitionId: string
      ) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const rows = yield* sql`DELETE FROM tally.price_overrides
              WHERE tenant_id = ${tenantId} AND scope_key = ${TenantPriceBook.scopeKey(scope)} AND definition_id = ${definitionId}
              RETURNING definition_id`
            if (rows.length === 0) return false
            yield* bump(tenantId).pipe(Effect.catchTag("TenantNotFound", Effect.die))
            return true
          })
        )
      })

      const addMultiplier = Effect.fn("PriceBooks.addMultiplier")(function*(tenantId: string, input: TenantPriceBook.MultiplierInput) {
        if (!(Money.isDecimal(input.factor) && input.factor.isFinite() && !input.factor.isNegative())) {
          return yield* new TenantPriceBook.InvalidPriceBookEntry({ field: "factor", message: "factor: expected a non-negative decimal" })
        }
        if (input.reason.trim().length === 0 || input.reason.length > 1000) {
          return yield* new TenantPriceBook.InvalidPriceBookEntry({ field: "reason", message: "reason: expected 1 to 1000 characters" })
        }
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* bump(tenantId)
            const rows = yield* sql<MultiplierRow>`INSERT INTO tally.price_multipliers
                (tenant_id, scope_key, scope, factor, reason, providers, definition_ids, models)
              VALUES (${tenantId}, ${TenantPriceBook.scopeKey(input.scope)}, ${PgTypes.jsonb(TenantPriceBook.normalizeScope(input.scope))},
                ${Money.format(input.factor)}::numeric, ${input.reason},
                ${input.providers == null ? null : [...input.providers]}::text[],
                ${input.definitionIds == null ? null : [...input.definitionIds]}::text[],
                ${input.models === undefined || input.models === null ? null : PgTypes.jsonb(input.models)})
              RETURNING ${sql.literal(multiplierColumns)}`
            return multiplierOf(rows[0]!)
          })
        )
      })

      const removeMultiplier = Effect.fn("PriceBooks.removeMultiplier")(function*(tenantId: string, multiplierId: string) {
        const missing = new TenantPriceBook.MultiplierNotFound({
          multiplierId,
          message: `no price multiplier ${JSON.stringify(multiplierId)} in this tenant`
        })
        if (!uuid.test(multiplierId)) return yield* missing
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const rows = yield* sql<MultiplierRow>`DELETE FROM tally.price_multipliers
              WHERE tenant_id = ${tenantId} AND id = ${multiplierId}
              RETURNING ${sql.literal(multiplierColumns)}`
            if (rows[0] === undefined) return yield* missing
            yield* bump(tenantId).pipe(Effect.catchTag("TenantNotFound", Effect.die))
            return multiplierOf(rows[0])
          })
        )
      })

      return PriceBooks.of({
        load,
        version,
        getDefinition,
        createDefinition,
        updateDefinition,
        setOverride,
        removeOverride,
        addMultiplier,
        removeMultiplier
      })
    })
  ).pipe(Layer.provide(PricingSnapshots.layer))
}
