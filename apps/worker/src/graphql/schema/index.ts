/**
 * The schema: every type module registers itself on the builder; this imports them all and
 * builds it. `schema.graphql` at the worker's root is this schema printed (`pnpm graphql:print`).
 */
import { lexicographicSortSchema, printSchema } from "../internal/Graphql.ts"
import { builder } from "../builder.ts"
import "./Common.ts"
import "./Viewer.ts"
import "./Usage.ts"
import "./Model.ts"
import "./UsageRecord.ts"
import "./UnitCosts.ts"
import "./CostAtRisk.ts"
import "./Coverage.ts"
import "./Budget.ts"
import "./ApiKey.ts"
import "./Chargeback.ts"
import "./Currency.ts"
import "./Anomaly.ts"
import "./Reconciliation.ts"
import "./Reprice.ts"
import "./Commitment.ts"
import "./Credit.ts"
import "./Resale.ts"

export const schema = builder.toSchema()

/** The SDL committed as `apps/worker/schema.graphql`: sorted, so it changes only when the schema does. */
export const printed = (): string => `${printSchema(lexicographicSortSchema(schema))}\n`
