/**
 * The one set of migrations, run by effect's SQL migrator on real PostgreSQL and on PGlite alike.
 * Each migration is frozen once released: a change to the schema is a new migration.
 */
import * as Effect from "effect/Effect"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import Tenancy from "./internal/migrations/0001_tenancy.ts"
import Catalog from "./internal/migrations/0002_catalog.ts"
import Usage from "./internal/migrations/0003_usage.ts"
import BudgetsChargebackReconciliation from "./internal/migrations/0004_budgets_chargeback_reconciliation.ts"
import Budgets from "./internal/migrations/0005_budgets.ts"
import Anomalies from "./internal/migrations/0006_anomalies.ts"
import Chargeback from "./internal/migrations/0007_chargeback.ts"
import UsageDaily from "./internal/migrations/0008_usage_daily.ts"
import PriceBooks from "./internal/migrations/0009_price_books.ts"
import Reconciliation from "./internal/migrations/0010_reconciliation.ts"
import UsageDailyTeams from "./internal/migrations/0011_usage_daily_teams.ts"
import BudgetChanges from "./internal/migrations/0012_budget_changes.ts"
import SummaryLockOrder from "./internal/migrations/0013_summary_lock_order.ts"
import PartialCost from "./internal/migrations/0014_partial_cost.ts"
import CacheReadModalities from "./internal/migrations/0015_cache_read_modalities.ts"
import Repricing from "./internal/migrations/0016_repricing.ts"
import CostAtRisk from "./internal/migrations/0018_cost_at_risk.ts"
import BudgetUnits from "./internal/migrations/0020_budget_units.ts"
import ModelPolicies from "./internal/migrations/0021_model_policies.ts"
import UsagePayloads from "./internal/migrations/0022_usage_payloads.ts"
import UsageCostDaily from "./internal/migrations/0023_usage_cost_daily.ts"
import SalePrices from "./internal/migrations/0024_sale_prices.ts"
import Credits from "./internal/migrations/0025_credits.ts"
import Commitments from "./internal/migrations/0026_commitments.ts"
import ExchangeRates from "./internal/migrations/0027_exchange_rates.ts"
import AtRiskDaily from "./internal/migrations/0028_at_risk_daily.ts"

export const loader: Migrator.Loader = Migrator.fromRecord({
  "0001_tenancy": Tenancy,
  "0002_catalog": Catalog,
  "0003_usage": Usage,
  "0004_budgets_chargeback_reconciliation": BudgetsChargebackReconciliation,
  "0005_budgets": Budgets,
  "0006_anomalies": Anomalies,
  "0007_chargeback": Chargeback,
  "0008_usage_daily": UsageDaily,
  "0009_price_books": PriceBooks,
  "0010_reconciliation": Reconciliation,
  "0011_usage_daily_teams": UsageDailyTeams,
  "0012_budget_changes": BudgetChanges,
  "0013_summary_lock_order": SummaryLockOrder,
  "0014_partial_cost": PartialCost,
  "0015_cache_read_modalities": CacheReadModalities,
  "0016_repricing": Repricing,
  "0018_cost_at_risk": CostAtRisk,
  "0020_budget_units": BudgetUnits,
  "0021_model_policies": ModelPolicies,
  "0022_usage_payloads": UsagePayloads,
  "0023_usage_cost_daily": UsageCostDaily,
  "0024_sale_prices": SalePrices,
  "0025_credits": Credits,
  "0026_commitments": Commitments,
  "0027_exchange_rates": ExchangeRates,
  "0028_at_risk_daily": AtRiskDaily
})

/** Where the migrator records what ran, inside Tally's own schema. */
export const table = "tally.schema_migrations"

/**
 * Applies pending migrations and returns the ones it ran. Concurrent runs against one database are
 * serialized by the migrator's table lock; the loser finds nothing left to do.
 *
 * This is `PgMigrator.run` without its `pg_dump` schema-dump hook, which would require child
 * process and file system services that an embedded store has no use for.
 */
export const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // The migrator's own table lives in the schema, so the schema comes first. Two sessions creating
  // it at once can collide on the catalog's unique index even with IF NOT EXISTS; the loser's
  // retry then finds it.
  yield* sql`CREATE SCHEMA IF NOT EXISTS tally`.unprepared.pipe(
    Effect.retry({ times: 3, while: (error) => error.reason._tag === "UniqueViolation" })
  )
  return yield* Migrator.make({})({ loader, table })
})
