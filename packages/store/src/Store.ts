/**
 * Every repository of the store in one layer. The worker picks the database layer (PostgreSQL,
 * PGlite, from config) and provides it; everything above depends on these services only.
 */
import * as Layer from "effect/Layer"
import { AnomalyFindings } from "./AnomalyFindings.ts"
import { ApiKeys } from "./ApiKeys.ts"
import { BudgetCrossings } from "./BudgetCrossings.ts"
import { BudgetRecords } from "./BudgetRecords.ts"
import { BudgetSpend } from "./BudgetSpend.ts"
import { Commitments } from "./Commitments.ts"
import { CostAtRisk } from "./CostAtRisk.ts"
import { Credits } from "./Credits.ts"
import { CustomerStatements } from "./CustomerStatements.ts"
import type { Database } from "./Database.ts"
import { DeadLetters } from "./DeadLetters.ts"
import { FallbackUsage } from "./FallbackUsage.ts"
import { LedgerRecords } from "./LedgerRecords.ts"
import { PriceBooks } from "./PriceBooks.ts"
import { PricingSnapshots } from "./PricingSnapshots.ts"
import { ProviderReports } from "./ProviderReports.ts"
import { ReconciliationRuns } from "./ReconciliationRuns.ts"
import { ExchangeRates } from "./ExchangeRates.ts"
import { ModelPolicies } from "./ModelPolicies.ts"
import { Repricings } from "./Repricings.ts"
import { Reservations } from "./Reservations.ts"
import { Rollups } from "./Rollups.ts"
import { SalePrices } from "./SalePrices.ts"
import { Tenants } from "./Tenants.ts"
import { UnitCosts } from "./UnitCosts.ts"
import { UsageLedger } from "./UsageLedger.ts"
import { UsageReport } from "./UsageReport.ts"

export type Services =
  | Tenants
  | ApiKeys
  | UsageLedger
  | Rollups
  | DeadLetters
  | FallbackUsage
  | CostAtRisk
  | PricingSnapshots
  | BudgetRecords
  | BudgetSpend
  | BudgetCrossings
  | Reservations
  | ModelPolicies
  | ExchangeRates
  | AnomalyFindings
  | ReconciliationRuns
  | ProviderReports
  | UsageReport
  | LedgerRecords
  | UnitCosts
  | PriceBooks
  | Repricings
  | Commitments
  | Credits
  | SalePrices
  | CustomerStatements

export const layer: Layer.Layer<Services, never, Database> = Layer.mergeAll(
  Tenants.layer,
  ApiKeys.layer,
  UsageLedger.layer,
  Rollups.layer,
  DeadLetters.layer,
  FallbackUsage.layer,
  CostAtRisk.layer,
  PricingSnapshots.layer,
  UsageReport.layer,
  LedgerRecords.layer,
  UnitCosts.layer,
  PriceBooks.layer,
  BudgetRecords.layer,
  BudgetSpend.layer,
  BudgetCrossings.layer,
  Reservations.layer,
  ModelPolicies.layer,
  ExchangeRates.layer,
  AnomalyFindings.layer,
  ReconciliationRuns.layer,
  ProviderReports.layer,
  Repricings.layer,
  Commitments.layer,
  Credits.layer,
  SalePrices.layer,
  CustomerStatements.layer
)

/** The repositories over the given database layer, with the `Database` itself kept in context. */
export const layerWith = <E, R>(database: Layer.Layer<Database, E, R>): Layer.Layer<Services | Database, E, R> =>
  layer.pipe(Layer.provideMerge(database))
