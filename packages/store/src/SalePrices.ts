/**
 * A tenant's sale price book (rules and customer plans) and the sale price recorded for each call.
 *
 * The store keeps; `@tally/core` SalePrice decides. `record` is meant to run inside the ledger
 * transaction that inserts the calls (`UsageLedger.insertBatch`'s `afterInsert`), so a call and
 * its price commit together; it is keyed by (tenant, request id) and never overwrites, so a call
 * gets one price however often its event is replayed. Repricing moves a price with `reprice`.
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { Money, SalePrice, Tenant } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"

/** A call's sale price as recorded: the outcome, the cost it came from, and who the call was for. */
export interface StoredPrice {
  readonly requestId: string
  readonly occurredAt: DateTime.Utc
  readonly customer: string | null
  readonly plan: string | null
  readonly feature: string | null
  readonly provider: string
  readonly model: string
  readonly status: "priced" | "unpriced"
  readonly ruleId: string | null
  readonly kind: SalePrice.RuleKind | null
  /** Why there is no price (unpriced only). */
  readonly reason: string | null
  readonly currency: string | null
  readonly total: Money.Decimal | null
  readonly lines: ReadonlyArray<SalePrice.PriceLine>
  readonly costTotal: Money.Decimal | null
  readonly costCurrency: string | null
  readonly recordedAt: DateTime.Utc
  readonly repricedAt: DateTime.Utc | null
}

/** What `record` writes for one call. */
export interface PriceInput {
  readonly requestId: string
  readonly occurredAt: DateTime.Utc
  readonly customer: string | null
  readonly feature: string | null
  readonly provider: string
  readonly model: string
  readonly outcome: SalePrice.Outcome
  readonly costTotal: Money.Decimal | null
  readonly costCurrency: string | null
}

/** The rules in effect and the plan assignments: what pricing a tenant's calls needs. */
export interface SaleBook {
  readonly rules: ReadonlyArray<SalePrice.Rule>
  readonly plans: ReadonlyArray<SalePrice.PlanAssignment>
}

export interface StoredRule extends SalePrice.Rule {
  readonly archivedAt: number | null
}

interface RuleRow {
  readonly id: string
  readonly name: string
  readonly customer: string | null
  readonly plan: string | null
  readonly provider: string | null
  readonly model: string | null
  readonly kind: SalePrice.RuleKind
  readonly percent: string | null
  readonly per_unit: string | null
  readonly rates: Record<string, string> | null
  readonly currency: string | null
  readonly effective_from: Date
  readonly effective_to: Date | null
  readonly created_at: Date
  readonly archived_at: Date | null
}

interface PriceRow {
  readonly request_id: string
  readonly occurred_at: Date
  readonly customer: string | null
  readonly plan: string | null
  readonly feature: string | null
  readonly provider: string
  readonly model: string
  readonly status: "priced" | "unpriced"
  readonly rule_id: string | null
  readonly kind: SalePrice.RuleKind | null
  readonly reason: string | null
  readonly currency: string | null
  readonly total: string | null
  readonly lines: ReadonlyArray<EncodedLine>
  readonly cost_total: string | null
  readonly cost_currency: string | null
  readonly recorded_at: Date
  readonly repriced_at: Date | null
}

/** A price line as kept in jsonb: decimals as strings. */
export interface EncodedLine {
  readonly component: string
  readonly quantity: string
  readonly unit: SalePrice.PriceLine["unit"]
  readonly cost: string | null
  readonly unitPrice: string
  readonly amount: string
  readonly basis: string
}

export const encodeLine = (line: SalePrice.PriceLine): EncodedLine => ({
  component: line.component,
  quantity: Money.format(line.quantity),
  unit: line.unit,
  cost: line.cost === null ? null : Money.format(line.cost),
  unitPrice: Money.format(line.unitPrice),
  amount: Money.format(line.amount),
  basis: line.basis
})

export const decodeLine = (line: EncodedLine): SalePrice.PriceLine => ({
  component: line.component,
  quantity: new Money.Decimal(line.quantity),
  unit: line.unit,
  cost: line.cost === null ? null : new Money.Decimal(line.cost),
  unitPrice: new Money.Decimal(line.unitPrice),
  amount: new Money.Decimal(line.amount),
  basis: line.basis
})

/** No sale price is recorded for the call (no such call, or its tenant had no sale rules then). */
export class CallPriceNotFound extends Schema.TaggedError<CallPriceNotFound>()("CallPriceNotFound", {
  requestId: Schema.String,
  message: Schema.String
}) {}

export const priceNotFound = (requestId: string) =>
  new CallPriceNotFound({
    requestId,
    message: `no sale price recorded for request ${JSON.stringify(requestId)} (no such call, or no sale rules when it was recorded)`
  })

const decimalOrNull = (text: string | null): Money.Decimal | null => (text === null ? null : new Money.Decimal(text))

const ruleOf = (row: RuleRow): StoredRule => ({
  id: row.id,
  name: row.name,
  customer: row.customer,
  plan: row.plan,
  provider: row.provider,
  model: row.model,
  kind: row.kind,
  percent: decimalOrNull(row.percent),
  perUnit: decimalOrNull(row.per_unit),
  rates: row.rates === null ? null : Object.fromEntries(Object.entries(row.rates).map(([k, v]) => [k, new Money.Decimal(v)])),
  currency: row.currency,
  effectiveFrom: row.effective_from.getTime(),
  effectiveTo: row.effective_to === null ? null : row.effective_to.getTime(),
  createdAt: row.created_at.getTime(),
  archivedAt: row.archived_at === null ? null : row.archived_at.getTime()
})

const priceOf = (row: PriceRow): StoredPrice => ({
  requestId: row.request_id,
  occurredAt: DateTime.fromDateUnsafe(row.occurred_at),
  customer: row.customer,
  plan: row.plan,
  feature: row.feature,
  provider: row.provider,
  model: row.model,
  status: row.status,
  ruleId: row.rule_id,
  kind: row.kind,
  reason: row.reason,
  currency: row.currency,
  total: decimalOrNull(row.total),
  lines: row.lines.map(decodeLine),
  costTotal: decimalOrNull(row.cost_total),
  costCurrency: row.cost_currency,
  recordedAt: DateTime.fromDateUnsafe(row.recorded_at),
  repricedAt: row.repriced_at === null ? null : DateTime.fromDateUnsafe(row.repriced_at)
})

const ruleColumns = `id, name, customer, plan, provider, model, kind, percent::text AS percent, per_unit::text AS per_unit,
  rates, currency, effective_from, effective_to, created_at, archived_at`
export const priceColumns = `request_id, occurred_at, customer, plan, feature, provider, model, status, rule_id, kind, reason,
  currency, total::text AS total, lines, cost_total::text AS cost_total, cost_currency, recorded_at, repriced_at`

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The jsonb row `record` and `reprice` write for one call. */
const rowJson = (input: PriceInput) => {
  const o = input.outcome
  return {
    request_id: input.requestId,
    occurred_at: DateTime.formatIso(input.occurredAt),
    customer: input.customer,
    plan: o.plan,
    feature: input.feature,
    provider: input.provider,
    model: input.model,
    status: o._tag === "Priced" ? "priced" : "unpriced",
    rule_id: o._tag === "Priced" ? o.price.ruleId : o.ruleId,
    kind: o._tag === "Priced" ? o.price.kind : null,
    reason: o._tag === "Priced" ? null : o.reason,
    currency: o._tag === "Priced" ? o.price.currency : null,
    total: o._tag === "Priced" ? Money.format(o.price.total) : null,
    lines: o._tag === "Priced" ? o.price.lines.map(encodeLine) : [],
    cost_total: input.costTotal === null ? null : Money.format(input.costTotal),
    cost_currency: input.costCurrency
  }
}

const recordsetColumns = `request_id text, occurred_at timestamptz, customer text, plan text, feature text, provider text,
  model text, status text, rule_id uuid, kind text, reason text, currency text, total numeric, lines jsonb,
  cost_total numeric, cost_currency text`

/** A credit drawdown of a sold call from one of its customer's grants, in the call's price currency. */
export interface SoldDraw {
  readonly grantId: string
  readonly amount: Money.Decimal
}

/** A priced call of a period as sold, with what its customer's credit packs paid of it. */
export interface SoldPrice extends StoredPrice {
  readonly draws: ReadonlyArray<SoldDraw>
}

/** Which priced calls a sold-usage read covers: `[from, to)`, only these customers when given. */
export interface SoldFilter {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly customers?: ReadonlyArray<string> | undefined
}

export interface SalePricesService {
  /** Active rules and plan assignments: what pricing needs. */
  readonly book: (tenantId: string) => Effect.Effect<SaleBook, SqlError>
  /** Every rule, archived ones too when asked, newest first. */
  readonly listRules: (tenantId: string, options?: { readonly archived?: boolean }) => Effect.Effect<ReadonlyArray<StoredRule>, SqlError>
  readonly addRule: (
    tenantId: string,
    input: SalePrice.RuleInput
  ) => Effect.Effect<StoredRule, SalePrice.InvalidSaleRule | Tenant.TenantNotFound | SqlError>
  /** Archives a rule: it prices no new call; prices that name it keep it. */
  readonly archiveRule: (tenantId: string, ruleId: string) => Effect.Effect<StoredRule, SalePrice.SaleRuleNotFound | SqlError>
  /** Puts a customer on a plan from `effectiveFrom` (replacing an assignment at that same instant). */
  readonly assignPlan: (
    tenantId: string,
    assignment: SalePrice.PlanAssignment
  ) => Effect.Effect<SalePrice.PlanAssignment, SalePrice.InvalidSaleRule | Tenant.TenantNotFound | SqlError>
  readonly listPlans: (tenantId: string, customer?: string) => Effect.Effect<ReadonlyArray<SalePrice.PlanAssignment>, SqlError>
  /**
   * Records the prices of calls just inserted; a call that already has a price keeps it. Run it in
   * the calls' ledger transaction.
   */
  readonly record: (tenantId: string, prices: ReadonlyArray<PriceInput>) => Effect.Effect<void, SqlError>
  /** Replaces the prices of calls whose cost was repriced; marks them `repricedAt`. */
  readonly reprice: (tenantId: string, prices: ReadonlyArray<PriceInput>) => Effect.Effect<void, SqlError>
  /** A call's sale price, if one was recorded. */
  readonly get: (tenantId: string, requestId: string) => Effect.Effect<Option.Option<StoredPrice>, SqlError>
  /** The recorded prices of several calls (missing ids are left out). */
  readonly getMany: (tenantId: string, requestIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<StoredPrice>, SqlError>
  /**
   * One page of the priced calls of a period, in (occurredAt, requestId) order after `after`, each
   * with the drawdowns of its customer's grants in its price currency by price (what a credit
   * pack paid of it; team grants and token grants are not the customer's money and are left out).
   */
  readonly soldPage: (
    tenantId: string,
    filter: SoldFilter & {
      readonly after: { readonly occurredAt: DateTime.Utc; readonly requestId: string } | null
      readonly limit: number
    }
  ) => Effect.Effect<ReadonlyArray<SoldPrice>, SqlError>
  /** How many calls of the period have no sale price, and the UTC days and currencies the priced ones were sold in. */
  readonly soldSummary: (
    tenantId: string,
    filter: SoldFilter
  ) => Effect.Effect<{ readonly unpriced: number; readonly days: ReadonlyArray<{ readonly date: string; readonly currency: string }> }, SqlError>
}

export class SalePrices extends Context.Service<SalePrices, SalePricesService>()("@tally/store/SalePrices") {
  static readonly layer: Layer.Layer<SalePrices, never, Database> = Layer.effect(
    SalePrices,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      const tenantExists = (tenantId: string) =>
        Effect.gen(function*() {
          const rows = yield* sql`SELECT 1 FROM tally.tenants WHERE id = ${tenantId}`
          if (rows.length === 0) return yield* Tenant.notFound(tenantId)
        })

      const book = Effect.fn("SalePrices.book")(function*(tenantId: string) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const rules = yield* sql<RuleRow>`SELECT ${sql.literal(ruleColumns)} FROM tally.sale_price_rules
              WHERE tenant_id = ${tenantId} AND archived_at IS NULL ORDER BY created_at, id`
            const plans = yield* sql<{ customer: string; plan: string; effective_from: Date }>`SELECT customer, plan, effective_from
              FROM tally.customer_plans WHERE tenant_id = ${tenantId} ORDER BY customer, effective_from`
            return {
              rules: rules.map(ruleOf),
              plans: plans.map((p) => ({ customer: p.customer, plan: p.plan, effectiveFrom: p.effective_from.getTime() }))
            } satisfies SaleBook
          })
        )
      })

      const listRules = Effect.fn("SalePrices.listRules")(function*(tenantId: string, options?: { readonly archived?: boolean }) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<RuleRow>`SELECT ${sql.literal(ruleColumns)} FROM tally.sale_price_rules
            WHERE tenant_id = ${tenantId} ${options?.archived === true ? sql.literal("") : sql.literal("AND archived_at IS NULL")}
            ORDER BY created_at DESC, id DESC`
        )
        return rows.map(ruleOf)
      })

      const addRule = Effect.fn("SalePrices.addRule")(function*(tenantId: string, input: SalePrice.RuleInput) {
        const problem = SalePrice.checkInput(input)
        if (problem !== undefined) return yield* problem
        const rates = input.rates == null ? null : Object.fromEntries(Object.entries(input.rates).map(([k, v]) => [k, Money.format(v)]))
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* tenantExists(tenantId)
            const rows = yield* sql<RuleRow>`INSERT INTO tally.sale_price_rules
                (tenant_id, name, customer, plan, provider, model, kind, percent, per_unit, rates, currency, effective_from, effective_to)
              VALUES (${tenantId}, ${input.name}, ${input.customer ?? null}, ${input.plan ?? null}, ${input.provider ?? null},
                ${input.model ?? null}, ${input.kind},
                ${input.percent == null ? null : Money.format(input.percent)}::numeric,
                ${input.perUnit == null ? null : Money.format(input.perUnit)}::numeric,
                ${rates === null ? null : PgTypes.jsonb(rates)}, ${input.currency ?? null},
                ${DateTime.formatIso(input.effectiveFrom)}::timestamptz,
                ${input.effectiveTo == null ? null : DateTime.formatIso(input.effectiveTo)}::timestamptz)
              RETURNING ${sql.literal(ruleColumns)}`
            return ruleOf(rows[0]!)
          })
        )
      })

      const archiveRule = Effect.fn("SalePrices.archiveRule")(function*(tenantId: string, ruleId: string) {
        const missing = new SalePrice.SaleRuleNotFound({ ruleId, message: `no active sale price rule ${JSON.stringify(ruleId)} in this tenant` })
        if (!uuid.test(ruleId)) return yield* missing
        const rows = yield* db.withTenant(
          tenantId,
          sql<RuleRow>`UPDATE tally.sale_price_rules SET archived_at = clock_timestamp()
            WHERE tenant_id = ${tenantId} AND id = ${ruleId} AND archived_at IS NULL
            RETURNING ${sql.literal(ruleColumns)}`
        )
        return rows[0] === undefined ? yield* missing : ruleOf(rows[0])
      })

      const assignPlan = Effect.fn("SalePrices.assignPlan")(function*(tenantId: string, assignment: SalePrice.PlanAssignment) {
        const problem = SalePrice.checkPlan(assignment.customer, assignment.plan)
        if (problem !== undefined) return yield* problem
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            yield* tenantExists(tenantId)
            yield* sql`INSERT INTO tally.customer_plans (tenant_id, customer, effective_from, plan)
              VALUES (${tenantId}, ${assignment.customer}, ${new Date(assignment.effectiveFrom).toISOString()}::timestamptz, ${assignment.plan})
              ON CONFLICT (tenant_id, customer, effective_from) DO UPDATE SET plan = EXCLUDED.plan`
            return assignment
          })
        )
      })

      const listPlans = Effect.fn("SalePrices.listPlans")(function*(tenantId: string, customer?: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<{ customer: string; plan: string; effective_from: Date }>`SELECT customer, plan, effective_from
            FROM tally.customer_plans WHERE tenant_id = ${tenantId}
            ${customer === undefined ? sql.literal("") : sql`AND customer = ${customer}`}
            ORDER BY customer, effective_from`
        )
        return rows.map((p) => ({ customer: p.customer, plan: p.plan, effectiveFrom: p.effective_from.getTime() }))
      })

      const record = (tenantId: string, prices: ReadonlyArray<PriceInput>) =>
        prices.length === 0 ? Effect.void : db.withTenant(
          tenantId,
          sql`INSERT INTO tally.usage_prices (tenant_id, request_id, occurred_at, customer, plan, feature, provider, model,
              status, rule_id, kind, reason, currency, total, lines, cost_total, cost_currency)
            SELECT ${tenantId}, p.* FROM jsonb_to_recordset(${PgTypes.jsonb(prices.map(rowJson))}) AS p(${sql.literal(recordsetColumns)})
            ON CONFLICT (tenant_id, request_id) DO NOTHING`
        ).pipe(Effect.asVoid, Effect.withSpan("SalePrices.record"))

      const reprice = (tenantId: string, prices: ReadonlyArray<PriceInput>) =>
        prices.length === 0 ? Effect.void : db.withTenant(
          tenantId,
          sql`INSERT INTO tally.usage_prices AS u (tenant_id, request_id, occurred_at, customer, plan, feature, provider, model,
              status, rule_id, kind, reason, currency, total, lines, cost_total, cost_currency)
            SELECT ${tenantId}, p.* FROM jsonb_to_recordset(${PgTypes.jsonb(prices.map(rowJson))}) AS p(${sql.literal(recordsetColumns)})
            ON CONFLICT (tenant_id, request_id) DO UPDATE SET
              plan = EXCLUDED.plan, provider = EXCLUDED.provider, model = EXCLUDED.model, status = EXCLUDED.status,
              rule_id = EXCLUDED.rule_id, kind = EXCLUDED.kind, reason = EXCLUDED.reason, currency = EXCLUDED.currency,
              total = EXCLUDED.total, lines = EXCLUDED.lines, cost_total = EXCLUDED.cost_total,
              cost_currency = EXCLUDED.cost_currency, repriced_at = clock_timestamp()`
        ).pipe(Effect.asVoid, Effect.withSpan("SalePrices.reprice"))

      const get = Effect.fn("SalePrices.get")(function*(tenantId: string, requestId: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<PriceRow>`SELECT ${sql.literal(priceColumns)} FROM tally.usage_prices
            WHERE tenant_id = ${tenantId} AND request_id = ${requestId}`
        )
        return rows[0] === undefined ? Option.none() : Option.some(priceOf(rows[0]))
      })

      const getMany = Effect.fn("SalePrices.getMany")(function*(tenantId: string, requestIds: ReadonlyArray<string>) {
        if (requestIds.length === 0) return []
        const rows = yield* db.withTenant(
          tenantId,
          sql<PriceRow>`SELECT ${sql.literal(priceColumns)} FROM tally.usage_prices
            WHERE tenant_id = ${tenantId} AND request_id IN (SELECT jsonb_array_elements_text(${PgTypes.jsonb(requestIds)}))
            ORDER BY occurred_at, request_id`
        )
        return rows.map(priceOf)
      })

      const customersSql = (customers: ReadonlyArray<string> | undefined) =>
        customers === undefined ? sql.literal("") : sql`AND p.customer IN (SELECT jsonb_array_elements_text(${PgTypes.jsonb(customers)}))`

      const soldPage = Effect.fn("SalePrices.soldPage")(function*(
        tenantId: string,
        filter: SoldFilter & { readonly after: { readonly occurredAt: DateTime.Utc; readonly requestId: string } | null; readonly limit: number }
      ) {
        const after = filter.after
        const rows = yield* db.withTenant(
          tenantId,
          sql<PriceRow & { readonly draws: ReadonlyArray<{ readonly grantId: string; readonly amount: string }> | null }>`
            SELECT ${sql.literal(priceColumns.split(",").map((c) => `p.${c.trim()}`).join(", "))},
              (SELECT jsonb_agg(jsonb_build_object('grantId', d.grant_id, 'amount', d.amount::text) ORDER BY g.priority, g.seq)
                FROM tally.credit_drawdowns d JOIN tally.credit_grants g ON g.tenant_id = d.tenant_id AND g.id = d.grant_id
                WHERE d.tenant_id = p.tenant_id AND d.request_id = p.request_id AND d.basis = 'price' AND d.unit = p.currency
                  AND g.account_kind = 'customer' AND g.account = p.customer) AS draws
            FROM tally.usage_prices p
            WHERE p.tenant_id = ${tenantId} AND p.status = 'priced'
              AND p.occurred_at >= ${DateTime.formatIso(filter.from)}::timestamptz AND p.occurred_at < ${DateTime.formatIso(filter.to)}::timestamptz
              ${customersSql(filter.customers)}
              ${after === null ? sql.literal("") : sql`AND (p.occurred_at, p.request_id) > (${DateTime.formatIso(after.occurredAt)}::timestamptz, ${after.requestId})`}
            ORDER BY p.occurred_at, p.request_id
            LIMIT ${filter.limit}`
        )
        return rows.map((row): SoldPrice => ({
          ...priceOf(row),
          draws: (row.draws ?? []).map((d) => ({ grantId: d.grantId, amount: new Money.Decimal(d.amount) }))
        }))
      })

      const soldSummary = Effect.fn("SalePrices.soldSummary")(function*(tenantId: string, filter: SoldFilter) {
        return yield* db.withTenant(
          tenantId,
          Effect.gen(function*() {
            const period = sql`p.tenant_id = ${tenantId} AND p.occurred_at >= ${DateTime.formatIso(filter.from)}::timestamptz
              AND p.occurred_at < ${DateTime.formatIso(filter.to)}::timestamptz ${customersSql(filter.customers)}`
            const [count] = yield* sql<{ unpriced: string }>`SELECT count(*)::text AS unpriced FROM tally.usage_prices p
              WHERE ${period} AND p.status = 'unpriced'`
            const days = yield* sql<{ date: string; currency: string }>`SELECT DISTINCT
                to_char(p.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS date, p.currency
              FROM tally.usage_prices p WHERE ${period} AND p.status = 'priced' ORDER BY 1, 2`
            return { unpriced: Number(count!.unpriced), days: days.map((d) => ({ date: d.date, currency: d.currency })) }
          })
        )
      })

      return SalePrices.of({ book, listRules, addRule, archiveRule, assignPlan, listPlans, record, reprice, get, getMany, soldPage, soldSummary })
    })
  )
}
