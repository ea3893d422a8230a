import { assert, describe, layer } from "@effect/vitest"
import { PricingSnapshot } from "@tally/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type { SqlError } from "effect/sql/SqlError"
import { ApiKeys } from "../src/ApiKeys.ts"
import { Database, TenantScopeViolation } from "../src/Database.ts"
import { PricingSnapshots } from "../src/PricingSnapshots.ts"
import { UsageLedger } from "../src/UsageLedger.ts"
import { pricedCall, snapshot } from "./Fixtures.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

/** Every table that holds tenant data, with the column that names the tenant. */
const tenantTables = [
  ["tenants", "id"],
  ["api_keys", "tenant_id"],
  ["model_definitions", "tenant_id"],
  ["pricing_snapshots", "tenant_id"],
  ["usage_request_ids", "tenant_id"],
  ["usage_ledger", "tenant_id"],
  ["usage_rollups_hourly", "tenant_id"],
  ["dead_letters", "tenant_id"],
  ["budgets", "tenant_id"],
  ["budget_events", "tenant_id"],
  ["chargeback_runs", "tenant_id"],
  ["chargeback_lines", "tenant_id"],
  ["reconciliation_findings", "tenant_id"],
  // 0005
  ["budget_reservations", "tenant_id"],
  ["budget_holds", "tenant_id"],
  ["tenant_webhooks", "tenant_id"],
  ["outbox", "tenant_id"],
  ["outbox_deliveries", "tenant_id"],
  // 0006
  ["anomalies", "tenant_id"],
  // 0007
  ["chargeback_audit", "tenant_id"],
  // 0008 (filled by the hourly rollups' triggers)
  ["usage_rollups_daily", "tenant_id"],
  // 0009
  ["price_overrides", "tenant_id"],
  ["price_multipliers", "tenant_id"],
  ["price_book_versions", "tenant_id"],
  // 0010
  ["reconciliation_runs", "tenant_id"],
  ["provider_reports", "tenant_id"],
  // 0011 (filled by the hourly rollups' triggers)
  ["usage_rollups_daily_teams", "tenant_id"],
  // 0012
  ["budget_changes", "tenant_id"],
  // 0021 (tenant_governance is filled by the budgets' and policies' trigger)
  ["model_policies", "tenant_id"],
  ["tenant_governance", "tenant_id"],
  // 0016
  ["reprice_runs", "tenant_id"],
  ["usage_repricings", "tenant_id"],
  // 0022 (the raw payloads, beside the ledger)
  ["usage_payloads", "tenant_id"],
  // 0023 (usage_cost_daily is filled by the ledger's triggers)
  ["usage_cost_daily", "tenant_id"],
  ["chargeback_cost_groups", "tenant_id"],
  // 0024
  ["sale_price_rules", "tenant_id"],
  ["customer_plans", "tenant_id"],
  ["usage_prices", "tenant_id"],
  ["customer_statements", "tenant_id"],
  // 0025
  ["credit_grants", "tenant_id"],
  ["credit_drawdowns", "tenant_id"],
  // 0026
  ["commitments", "tenant_id"],
  ["commitment_usage", "tenant_id"],
  // 0027
  ["exchange_rates", "tenant_id"],
  ["fx_conversions", "tenant_id"],
  // 0028 (filled by the ledger's triggers from partial and unpriced calls)
  ["usage_at_risk_daily", "tenant_id"]
] as const

const customSnapshot = (tenant: string) =>
  PricingSnapshot.decodeSnapshot({ provider: "custom", modelKey: `model-of-${tenant}`, rates: { inputText: "1" } })

/** One row (at least) in every tenant table, written through the tenant's own scope. */
const seed = (tenantId: string) =>
  Effect.gen(function*() {
    const db = yield* Database
    const sql = db.sql
    yield* (yield* ApiKeys).create(tenantId, { name: "ci", scopes: ["ingest"] })
    const batch = yield* (yield* UsageLedger).insertBatch(tenantId, [
      pricedCall({ requestId: `${tenantId}-1` }),
      { ...pricedCall({ requestId: `${tenantId}-bad` }), total: null },
      pricedCall({ requestId: `${tenantId}-unpriced`, costSource: "unpriced" })
    ])
    assert.deepStrictEqual(batch.items.map((item) => item.status), ["inserted", "rejected", "inserted"])
    yield* (yield* PricingSnapshots).saveCustom(tenantId, [{ snapshot: customSnapshot(tenantId) }])
    yield* db.withTenant(
      tenantId,
      Effect.gen(function*() {
        yield* sql`INSERT INTO tally.model_definitions (tenant_id, id, provider, model_key)
          VALUES (${tenantId}, 'custom/model', 'custom', 'model')`
        const [budget] = yield* sql<{ id: string }>`INSERT INTO tally.budgets (tenant_id, name, period, amount, currency)
          VALUES (${tenantId}, 'monthly', 'month', 100, 'USD') RETURNING id`
        yield* sql`INSERT INTO tally.budget_events (tenant_id, budget_id, period_start, period_end, threshold, spent, budget_amount, currency)
          VALUES (${tenantId}, ${budget!.id}::uuid, '2025-03-01Z', '2025-04-01Z', 80, 81, 100, 'USD')`
        yield* sql`INSERT INTO tally.budget_changes (tenant_id, budget_id, action, actor, changed_at, changes)
          VALUES (${tenantId}, ${budget!.id}::uuid, 'updated', 'ci', '2025-03-14Z', '{"amount":{"from":"90","to":"100"}}')`
        yield* sql`INSERT INTO tally.model_policies (tenant_id, name, rules) VALUES (${tenantId}, 'openai only', '{"allowProviders":["openai"]}')`
        const [run] = yield* sql<{ id: string }>`INSERT INTO tally.chargeback_runs (tenant_id, period_from, period_to, currency, dimension)
          VALUES (${tenantId}, '2025-03-01Z', '2025-04-01Z', 'USD', 'team') RETURNING id`
        yield* sql`INSERT INTO tally.chargeback_lines (tenant_id, run_id, line_no, dimension, owner, amount, currency)
          VALUES (${tenantId}, ${run!.id}::uuid, 0, '{"team":"core"}', 'core', 12.5, 'USD')`
        yield* sql`INSERT INTO tally.chargeback_audit (tenant_id, run_id, action, actor)
          VALUES (${tenantId}, ${run!.id}::uuid, 'created', 'ci')`
        yield* sql`INSERT INTO tally.chargeback_cost_groups (tenant_id, run_id, group_no, owner, provider, model, currency,
            component, unit, list_rate, list_rate_per, unit_price, quantity, amount, billed, requests)
          VALUES (${tenantId}, ${run!.id}::uuid, 0, 'core', 'openai', 'gpt-4o', 'USD', 'inputText', 'token', 2.5, '1M tokens',
            0.0000025, 1000, 0.0025, 0.0025, 1)`
        const [reservation] = yield* sql<{ id: string }>`INSERT INTO tally.budget_reservations
          (tenant_id, estimate, currency, created_at, expires_at)
          VALUES (${tenantId}, 1, 'USD', '2025-03-14Z', '2025-03-15Z') RETURNING id`
        yield* sql`INSERT INTO tally.budget_holds (tenant_id, reservation_id, budget_id, period_start)
          VALUES (${tenantId}, ${reservation!.id}::uuid, ${budget!.id}::uuid, '2025-03-01Z')`
        yield* sql`INSERT INTO tally.tenant_webhooks (tenant_id, url, secret)
          VALUES (${tenantId}, 'https://hooks.example/tally', 'sixteen-chars-secret')`
        const [message] = yield* sql<{ id: string }>`INSERT INTO tally.outbox
          (tenant_id, kind, dedupe_key, payload, created_at, next_attempt_at)
          VALUES (${tenantId}, 'budget.threshold', 'k1', '{}', '2025-03-14Z', '2025-03-14Z') RETURNING id`
        yield* sql`INSERT INTO tally.outbox_deliveries (tenant_id, outbox_id, attempt, attempted_at, url, outcome, duration_ms)
          VALUES (${tenantId}, ${message!.id}::uuid, 1, '2025-03-14Z', 'https://hooks.example/tally', 'failed', 5)`
        yield* sql`INSERT INTO tally.anomalies (tenant_id, kind, scope_kind, scope_value, window_start, window_end,
            severity, currency, observed, expected, statistic, score, summary, evidence)
          VALUES (${tenantId}, 'spend_spike', 'tenant', '', '2025-03-14Z', '2025-03-15Z',
            'warning', 'USD', 10, 1, 'mad', 5, 'spend spike', '{}')`
        yield* sql`INSERT INTO tally.price_overrides (tenant_id, scope_key, scope, definition_id, history)
          VALUES (${tenantId}, '', '{}', 'openai/gpt-4o', '[{}]')`
        yield* sql`INSERT INTO tally.price_multipliers (tenant_id, scope_key, scope, factor, reason)
          VALUES (${tenantId}, '', '{}', 0.9, 'contract')`
        yield* sql`INSERT INTO tally.price_book_versions (tenant_id, version) VALUES (${tenantId}, 1)`
        const [reconciliation] = yield* sql<{ id: string }>`INSERT INTO tally.reconciliation_runs
          (tenant_id, period_from, period_to, summary, report)
          VALUES (${tenantId}, '2025-03-01Z', '2025-04-01Z', '{}', '{}') RETURNING id`
        yield* sql`INSERT INTO tally.reconciliation_findings (tenant_id, request_id, kind, run_id)
          VALUES (${tenantId}, ${`${tenantId}-1`}, 'cost-mismatch', ${reconciliation!.id}::uuid)`
        yield* sql`INSERT INTO tally.provider_reports (tenant_id, format, period_from, period_to, row_count, content)
          VALUES (${tenantId}, 'csv', '2025-03-01Z', '2025-03-02Z', 0, 'date,cost')`
        const [reprice] = yield* sql<{ id: string }>`INSERT INTO tally.reprice_runs
          (id, tenant_id, actor, started_at, period_from, period_to, only_unpriced, price_book_version, summary)
          VALUES (gen_random_uuid(), ${tenantId}, 'ci', '2025-03-14Z', '2025-03-01Z', '2025-04-01Z', false, 1, '{}') RETURNING id`
        yield* sql`INSERT INTO tally.usage_repricings
          (tenant_id, run_id, actor, occurred_at, request_id, kind, before_cost_source, after_cost_source)
          VALUES (${tenantId}, ${reprice!.id}::uuid, 'ci', '2025-03-14Z', ${`${tenantId}-1`}, 'correction', 'computed', 'computed')`
        const [rule] = yield* sql<{ id: string }>`INSERT INTO tally.sale_price_rules (tenant_id, name, kind, percent, effective_from)
          VALUES (${tenantId}, 'markup', 'markup-percent', 20, '2025-03-01Z') RETURNING id`
        yield* sql`INSERT INTO tally.customer_plans (tenant_id, customer, effective_from, plan)
          VALUES (${tenantId}, 'acme', '2025-03-01Z', 'pro')`
        yield* sql`INSERT INTO tally.usage_prices (tenant_id, request_id, occurred_at, provider, model, status, rule_id, kind,
            currency, total, cost_total, cost_currency)
          VALUES (${tenantId}, ${`${tenantId}-1`}, '2025-03-14Z', 'openai', 'gpt-4o', 'priced', ${rule!.id}::uuid,
            'markup-percent', 'USD', 1.2, 1, 'USD')`
        yield* sql`INSERT INTO tally.customer_statements (tenant_id, customer, period_from, period_to, currency, group_by, kind,
            status, lines, total, exact_total, request_count, unpriced_count, as_of)
          VALUES (${tenantId}, 'acme', '2025-03-01Z', '2025-04-01Z', 'USD', 'model', 'statement', 'draft', '[]', 1.2, 1.2, 1, 0,
            '2025-04-01Z')`
        const [grant] = yield* sql<{ id: string }>`INSERT INTO tally.credit_grants (tenant_id, account_kind, account, unit, amount,
            remaining, effective_at)
          VALUES (${tenantId}, 'customer', 'acme', 'USD', 100, 98.8, '2025-03-01Z') RETURNING id`
        yield* sql`INSERT INTO tally.credit_drawdowns (tenant_id, request_id, grant_id, amount, unit, basis, occurred_at)
          VALUES (${tenantId}, ${`${tenantId}-1`}, ${grant!.id}::uuid, 1.2, 'USD', 'price', '2025-03-14Z')`
        const [commitment] = yield* sql<{ id: string }>`INSERT INTO tally.commitments (tenant_id, name, kind, provider, currency,
            fee, fee_period, starts_at)
          VALUES (${tenantId}, 'capacity', 'provisioned', 'google', 'USD', 5, 'hour', '2025-03-01Z') RETURNING id`
        yield* sql`INSERT INTO tally.commitment_usage (tenant_id, request_id, commitment_id, occurred_at, kind, on_demand, charged,
            currency, tokens)
          VALUES (${tenantId}, ${`${tenantId}-1`}, ${commitment!.id}::uuid, '2025-03-14Z', 'provisioned', 1, 0, 'USD', 1000)`
        const [rate] = yield* sql<{ id: string }>`INSERT INTO tally.exchange_rates (tenant_id, base, quote, rate_date, rate, source,
            observed_at)
          VALUES (${tenantId}, 'EUR', 'USD', '2025-03-14', 1.09, 'ci', '2025-03-14Z') RETURNING id`
        yield* sql`INSERT INTO tally.fx_conversions (tenant_id, subject, reporting_currency, as_of, total, days, rate_ids)
          VALUES (${tenantId}, 'spend', 'USD', '2025-04-01Z', 1.09, '[]', ${`{${rate!.id}}`}::uuid[])`
      })
    )
  })

const twoTenants = Effect.gen(function*() {
  const a = yield* newTenant("A")
  const b = yield* newTenant("B")
  yield* seed(a)
  yield* seed(b)
  return { a, b }
})

/** Rows per table as the owner sees them, for one tenant. */
const ownerCounts = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const counts: Record<string, number> = {}
    for (const [table, column] of tenantTables) {
      const [row] = yield* sql.unsafe<{ n: bigint }>(`SELECT count(*) AS n FROM tally.${table} WHERE ${column} = $1`, [
        tenantId
      ])
      counts[table] = Number(row!.n)
    }
    return counts
  })

/** Rows per table visible in the current scope: all of them, and those naming `tenantId`. */
const visibleCounts = (tenantId: string) =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const all: Record<string, number> = {}
    const named: Record<string, number> = {}
    for (const [table, column] of tenantTables) {
      const [row] = yield* sql.unsafe<{ all: bigint; named: bigint }>(
        `SELECT count(*) AS all, count(*) FILTER (WHERE ${column} = $1) AS named FROM tally.${table}`,
        [tenantId]
      )
      all[table] = Number(row!.all)
      named[table] = Number(row!.named)
    }
    return { all, named }
  })

const zeroes = Object.fromEntries(tenantTables.map(([table]) => [table, 0]))

const reasonOf = (exit: Exit.Exit<unknown, SqlError>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const error = Cause.findErrorOption(exit.cause)
  return Option.isSome(error) ? error.value.reason._tag : "defect"
}

describe.each(targets)("tenancy by row-level security on $name", (target) => {
  layer(target.layer, layerOptions)((it) => {
    it.effect("every tenant table has row-level security with a policy on tally.tenant_id", () =>
      Effect.gen(function*() {
        const { sql } = yield* Database
        const tables = yield* sql<{ name: string; rls: boolean; policies: string }>`SELECT c.relname AS name,
            c.relrowsecurity AS rls,
            coalesce((SELECT string_agg(coalesce(p.qual, '') || ' ' || coalesce(p.with_check, ''), ' ')
              FROM pg_policies p WHERE p.schemaname = 'tally' AND p.tablename = c.relname), '') AS policies
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'tally' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            AND c.relname <> 'schema_migrations'
          ORDER BY c.relname`
        assert.deepStrictEqual(tables.map((t) => t.name), tenantTables.map(([table]) => table).sort())
        for (const table of tables) {
          assert.isTrue(table.rls, `${table.name} has row-level security`)
          assert.include(table.policies, "current_setting('tally.tenant_id'::text, true)", table.name)
        }
      }))

    it.effect("without a tenant no row is visible and nothing can be written", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const { a } = yield* twoTenants
        const owner = yield* ownerCounts(a)
        for (const [table] of tenantTables) assert.isAbove(owner[table]!, 0, `seeded ${table}`)
        const visible = yield* db.withoutTenant(visibleCounts(a))
        assert.deepStrictEqual(visible.all, zeroes)
        const insert = yield* db.withoutTenant(
          db.sql`INSERT INTO tally.dead_letters (tenant_id, source, kind, reason) VALUES (${a}, 'test', 'test', 'x')`
        ).pipe(Effect.exit)
        assert.strictEqual(reasonOf(insert), "AuthorizationError")
      }))

    it.effect("tenant A sees only its own rows, even through raw SQL on the store's client", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const { a, b } = yield* twoTenants
        const ownerA = yield* ownerCounts(a)
        const seenByA = yield* db.withTenant(a, visibleCounts(b))
        assert.deepStrictEqual(seenByA.named, zeroes)
        const ownA = yield* db.withTenant(a, visibleCounts(a))
        // Built-in (global) snapshots are visible to all; the seed wrote none.
        assert.deepStrictEqual(ownA.all, ownerA)
        assert.deepStrictEqual(ownA.named, ownerA)
        const ledgerOfB = yield* db.withTenant(
          a,
          db.sql`SELECT * FROM tally.usage_ledger WHERE request_id = ${`${b}-1`}`
        )
        assert.strictEqual(ledgerOfB.length, 0)
      }))

    it.effect("tenant A cannot write, change or delete tenant B's rows", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const sql = db.sql
        const { a, b } = yield* twoTenants
        const before = yield* ownerCounts(b)
        const inserts = [
          sql`INSERT INTO tally.tenants (id, name, currency, time_zone) VALUES (${`${b}-twin`}, 'x', 'USD', 'UTC')`,
          sql`INSERT INTO tally.dead_letters (tenant_id, source, kind, reason) VALUES (${b}, 'test', 'test', 'x')`,
          sql`INSERT INTO tally.usage_request_ids (tenant_id, request_id, event_hash, occurred_at)
            VALUES (${b}, 'forged', ${new Uint8Array(32)}, '2025-03-14Z')`,
          sql`INSERT INTO tally.usage_ledger (tenant_id, occurred_at, request_id, provider, model, cost_source, unpriced_reason)
            VALUES (${b}, '2025-03-14Z', 'forged', 'openai', 'gpt-4o', 'unpriced', 'forged')`,
          sql`INSERT INTO tally.usage_payloads (tenant_id, occurred_at, request_id, raw_text)
            VALUES (${b}, '2025-03-14Z', 'forged', 'forged')`,
          sql`INSERT INTO tally.reconciliation_findings (tenant_id, kind) VALUES (${b}, 'forged')`
        ]
        for (const insert of inserts) {
          assert.strictEqual(reasonOf(yield* db.withTenant(a, insert).pipe(Effect.exit)), "AuthorizationError")
        }
        const changed = yield* db.withTenant(
          a,
          Effect.all([
            sql`UPDATE tally.api_keys SET name = 'stolen' WHERE tenant_id = ${b} RETURNING id`,
            sql`UPDATE tally.tenants SET name = 'stolen' WHERE id = ${b} RETURNING id`,
            sql`DELETE FROM tally.usage_rollups_hourly WHERE tenant_id = ${b} RETURNING tenant_id`,
            sql`UPDATE tally.budgets SET amount = 1 WHERE tenant_id = ${b} RETURNING id`
          ])
        )
        assert.deepStrictEqual(changed.map((rows) => rows.length), [0, 0, 0, 0])
        // Moving one's own row to another tenant is refused by the policy's check.
        const moved = yield* db.withTenant(a, sql`UPDATE tally.api_keys SET tenant_id = ${b} WHERE tenant_id = ${a}`)
          .pipe(Effect.exit)
        assert.strictEqual(reasonOf(moved), "AuthorizationError")
        assert.deepStrictEqual(yield* ownerCounts(b), before)
      }))

    it.effect("the application role owns nothing and cannot switch row security off", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const sql = db.sql
        const { a } = yield* twoTenants
        const [role] = yield* db.withTenant(
          a,
          sql<{ user: string; super: boolean; bypass: boolean; owned: bigint }>`SELECT current_user AS user,
            r.rolsuper AS super, r.rolbypassrls AS bypass,
            (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'tally' AND pg_get_userbyid(c.relowner) = current_user) AS owned
            FROM pg_roles r WHERE r.rolname = current_user`
        )
        assert.deepStrictEqual(role, { user: "tally_app", super: false, bypass: false, owned: 0n })
        const off = yield* db.withTenant(
          a,
          Effect.andThen(sql`SET LOCAL row_security = off`, sql`SELECT count(*) FROM tally.usage_ledger`)
        ).pipe(Effect.exit)
        assert.strictEqual(reasonOf(off), "AuthorizationError")
      }))

    it.effect("ledger partitions are out of the application's reach, and the ledger is append-only", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const sql = db.sql
        const { a } = yield* twoTenants
        const partition = yield* db.withTenant(a, sql`SELECT count(*) FROM tally.usage_ledger_2025_03`).pipe(Effect.exit)
        assert.strictEqual(reasonOf(partition), "AuthorizationError")
        const payloads = yield* db.withTenant(a, sql`SELECT count(*) FROM tally.usage_payloads_2025_03`).pipe(Effect.exit)
        assert.strictEqual(reasonOf(payloads), "AuthorizationError")
        const rewrite = yield* db.withTenant(a, sql`UPDATE tally.usage_payloads SET raw_text = 'x'`).pipe(Effect.exit)
        assert.strictEqual(reasonOf(rewrite), "AuthorizationError")
        const update = yield* db.withTenant(a, sql`UPDATE tally.usage_ledger SET input_text = 0`).pipe(Effect.exit)
        assert.strictEqual(reasonOf(update), "AuthorizationError")
        // A price may change only by a repricing, which records the price before and after (0016).
        const price = yield* db.withTenant(a, sql`UPDATE tally.usage_ledger SET total = 0 WHERE total IS NOT NULL`).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(price))
        assert.include(String(Cause.pretty(Exit.isFailure(price) ? price.cause : Cause.empty)), "repricing entry")
        const owner = yield* sql`UPDATE tally.usage_ledger SET total = 0 WHERE tenant_id = ${a} AND total IS NOT NULL`.pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(owner), "not even the owner may change a price without its entry")
        const remove = yield* db.withTenant(a, sql`DELETE FROM tally.usage_request_ids`).pipe(Effect.exit)
        assert.strictEqual(reasonOf(remove), "AuthorizationError")
      }))

    it.effect("built-in snapshots are shared, custom ones private, and none can change", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const snapshots = yield* PricingSnapshots
        const { a, b } = yield* twoTenants
        const [builtinId] = yield* snapshots.saveBuiltin([{ snapshot, definitionId: "openai/gpt-4o" }])
        const customA = PricingSnapshot.snapshotId(customSnapshot(a))
        assert.isTrue(Option.isSome(yield* snapshots.get(a, builtinId!)))
        assert.isTrue(Option.isSome(yield* snapshots.get(b, builtinId!)))
        const own = yield* snapshots.get(a, customA)
        assert.isTrue(Option.isSome(own))
        assert.deepStrictEqual(
          PricingSnapshot.encodeSnapshot(Option.getOrThrow(own).snapshot),
          PricingSnapshot.encodeSnapshot(customSnapshot(a))
        )
        assert.isTrue(Option.isNone(yield* snapshots.get(b, customA)))
        const forgedBuiltin = yield* db.withTenant(
          a,
          db.sql`INSERT INTO tally.pricing_snapshots (tenant_id, id, provider, model_key, currency, snapshot)
            VALUES (NULL, 'ps_forged', 'x', 'y', 'USD', '{}')`
        ).pipe(Effect.exit)
        assert.strictEqual(reasonOf(forgedBuiltin), "AuthorizationError")
        const ownerUpdate = yield* db.sql`UPDATE tally.pricing_snapshots SET currency = 'EUR' WHERE id = ${builtinId!}`
          .pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(ownerUpdate), "not even the owner may change a snapshot")
        const ownerDelete = yield* db.sql`DELETE FROM tally.pricing_snapshots WHERE id = ${builtinId!}`.pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(ownerDelete))
        // Saving the same prices again is a no-op with the same id.
        assert.deepStrictEqual(yield* snapshots.saveBuiltin([{ snapshot }]), [builtinId!])
      }))

    it.effect("a scope for another tenant cannot be opened inside a tenant's scope", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const nested = yield* db.withTenant("tenant-a", db.withTenant("tenant-b", Effect.void)).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(nested))
        if (Exit.isFailure(nested)) {
          const defect = Cause.findDefect(nested.cause)
          assert.isTrue(Result.isSuccess(defect) && defect.success instanceof TenantScopeViolation)
        }
        // The same tenant nests freely: it joins the open transaction.
        const same = yield* db.withTenant(
          "tenant-a",
          db.withTenant("tenant-a", db.sql<{ t: string }>`SELECT current_setting('tally.tenant_id') AS t`)
        )
        assert.deepStrictEqual(same, [{ t: "tenant-a" }])
      }))
  })
})
