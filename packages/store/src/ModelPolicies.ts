/**
 * Model policies: the `model_policies` rows (rules as JSON, checked by `ModelPolicy` in
 * `@tally/catalog` before they are written), and the tenant's governance version, which every
 * write to its budgets or policies bumps (a trigger of migration 0021) so a cache of them can tell
 * whether it is current.
 */
import type { Budget } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"
import { isUuid } from "./internal/Uuid.ts"

/** A policy as stored: its rules as the JSON they were written with. */
export interface StoredPolicy {
  readonly id: string
  readonly tenantId: string
  readonly name: string
  readonly scope: Budget.Scope
  readonly rules: unknown
  readonly createdAt: DateTime.Utc
  readonly archivedAt: DateTime.Utc | null
}

interface PolicyRow {
  readonly id: string
  readonly tenant_id: string
  readonly name: string
  readonly scope: Budget.Scope
  readonly rules: unknown
  readonly created_at: Date
  readonly archived_at: Date | null
}

const columns = "p.id, p.tenant_id, p.name, p.scope, p.rules, p.created_at, p.archived_at"

const fromRow = (row: PolicyRow): StoredPolicy => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  scope: row.scope,
  rules: row.rules,
  createdAt: DateTime.fromDateUnsafe(row.created_at),
  archivedAt: row.archived_at === null ? null : DateTime.fromDateUnsafe(row.archived_at)
})

export interface ModelPoliciesService {
  readonly insert: (
    tenantId: string,
    policy: { readonly name: string; readonly scope: Budget.Scope; readonly rules: unknown }
  ) => Effect.Effect<StoredPolicy, SqlError>
  /** Active policies in creation order; archived ones too when asked. */
  readonly list: (
    tenantId: string,
    options?: { readonly includeArchived?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<StoredPolicy>, SqlError>
  /** Archives a policy at `at` (archiving twice keeps the first time); undefined when there is none. */
  readonly archive: (tenantId: string, policyId: string, at: DateTime.Utc) => Effect.Effect<StoredPolicy | undefined, SqlError>
  /** The tenant's governance version: bumped by every write to its budgets or policies (0 before any). */
  readonly version: (tenantId: string) => Effect.Effect<number, SqlError>
}

export class ModelPolicies extends Context.Service<ModelPolicies, ModelPoliciesService>()("@tally/store/ModelPolicies") {
  static readonly layer: Layer.Layer<ModelPolicies, never, Database> = Layer.effect(
    ModelPolicies,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const insert = Effect.fn("ModelPolicies.insert")(function*(
        tenantId: string,
        policy: { readonly name: string; readonly scope: Budget.Scope; readonly rules: unknown }
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<PolicyRow>(
            `INSERT INTO tally.model_policies AS p (tenant_id, name, scope, rules) VALUES ($1, $2, $3::jsonb, $4::jsonb)
              RETURNING ${columns}`,
            [tenantId, policy.name, JSON.stringify(policy.scope), JSON.stringify(policy.rules)]
          )
        )
        return fromRow(rows[0]!)
      })

      const list = Effect.fn("ModelPolicies.list")(function*(
        tenantId: string,
        options: { readonly includeArchived?: boolean | undefined } = {}
      ) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<PolicyRow>(
            `SELECT ${columns} FROM tally.model_policies p
              WHERE p.tenant_id = $1 ${options.includeArchived === true ? "" : "AND p.archived_at IS NULL"}
              ORDER BY p.created_at, p.id`,
            [tenantId]
          )
        )
        return rows.map(fromRow)
      })

      const archive = Effect.fn("ModelPolicies.archive")(function*(tenantId: string, policyId: string, at: DateTime.Utc) {
        if (!isUuid(policyId)) return undefined
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<PolicyRow>(
            `UPDATE tally.model_policies p SET archived_at = coalesce(p.archived_at, $3)
              WHERE p.tenant_id = $1 AND p.id = $2 RETURNING ${columns}`,
            [tenantId, policyId, new Date(DateTime.toEpochMillis(at))]
          )
        )
        return rows[0] === undefined ? undefined : fromRow(rows[0])
      })

      const version = Effect.fn("ModelPolicies.version")(function*(tenantId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql.unsafe<{ version: string }>(
            `SELECT coalesce((SELECT version FROM tally.tenant_governance WHERE tenant_id = $1), 0)::text AS version`,
            [tenantId]
          )
        )
        return Number(rows[0]!.version)
      })

      return ModelPolicies.of({ insert, list, archive, version })
    })
  )
}
