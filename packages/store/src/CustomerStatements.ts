/**
 * Customer statements as kept, and the margin report: both read the sale prices recorded for
 * calls (`usage_prices`, see SalePrices).
 *
 * `finalize` is one transaction in the tenant's scope, serialized per customer and currency: it
 * sums the customer's priced calls of the period by group and component in SQL, subtracts what
 * final statements of the same period already stated, rounds (`@tally/core` Statement) and keeps
 * the result final. The first statement of a period is a `statement`; later ones carry only the
 * difference (late usage, repriced calls) as a `correction`; nothing is written when nothing
 * changed. A final statement never changes: the database rejects an update or delete (0024).
 * A final period may not overlap another final period of the same customer, currency and grouping.
 *
 * Credits: the statement also keeps what its calls drew from the customer's credit packs in its
 * currency (drawdowns by price), per pack. They are kept as elements `{ "kind": "credit", ... }`
 * of the `lines` jsonb, after the lines, so no column (and no migration) was needed; a statement
 * finalized before that has none and keeps showing none.
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { Money, Statement } from "@tally/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { Database } from "./Database.ts"

export interface StatementInput {
  readonly customer: string
  readonly from: DateTime.Utc
  /** Exclusive. */
  readonly to: DateTime.Utc
  readonly currency: string
  readonly groupBy: Statement.GroupBy
}

export class InvalidStatement extends Schema.TaggedError<InvalidStatement>()("InvalidStatement", {
  field: Schema.String,
  message: Schema.String
}) {}

/** Another final statement of the customer covers part of the period. */
export class StatementOverlap extends Schema.TaggedError<StatementOverlap>()("StatementOverlap", {
  statementId: Schema.String,
  message: Schema.String
}) {}

export class StatementNotFound extends Schema.TaggedError<StatementNotFound>()("StatementNotFound", {
  statementId: Schema.String,
  message: Schema.String
}) {}

export type MarginDimension = "customer" | "plan" | "model" | "provider" | "feature" | "day" | "month"
export const marginDimensions: ReadonlyArray<MarginDimension> = ["customer", "plan", "model", "provider", "feature", "day", "month"]

export interface MarginQuery {
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly groupBy: ReadonlyArray<MarginDimension>
  readonly customer?: string | undefined
}

/** One group of the margin report, per price currency and cost currency. */
export interface MarginRow {
  /** The group's value per dimension asked (null: calls without that label). */
  readonly keys: Readonly<Partial<Record<MarginDimension, string | null>>>
  /** The price currency; null for the calls without a price. */
  readonly currency: string | null
  readonly costCurrency: string | null
  readonly requests: number
  readonly unpriced: number
  /** Sum of the prices; null for the unpriced group. */
  readonly price: Money.Decimal | null
  /** Sum of the costs of the same calls. */
  readonly cost: Money.Decimal | null
  /** price - cost when both are in one currency, else null. */
  readonly margin: Money.Decimal | null
  /** margin / price x 100, 4 decimal places (half-even); null when the price is zero. */
  readonly marginPercent: Money.Decimal | null
}

interface StatementRow {
  readonly id: string
  readonly customer: string
  readonly period_from: Date
  readonly period_to: Date
  readonly currency: string
  readonly group_by: Statement.GroupBy
  readonly kind: Statement.Kind
  readonly corrects_id: string | null
  readonly status: "draft" | "final"
  readonly lines: ReadonlyArray<StoredLine | StoredCredit>
  readonly total: string
  readonly exact_total: string
  readonly request_count: string | number
  readonly unpriced_count: string | number
  readonly as_of: Date
  readonly finalized_at: Date | null
  readonly finalized_by: string | null
}

type StoredLine = Statement.StatementJson["lines"][number]

/** A pack's credit as kept among a statement's `lines` (see the module comment). */
type StoredCredit = ReturnType<typeof Statement.creditJson> & { readonly kind: "credit" }

const isCredit = (element: StoredLine | StoredCredit): element is StoredCredit => "kind" in element && element.kind === "credit"

const statementColumns = `id, customer, period_from, period_to, currency, group_by, kind, corrects_id, status, lines,
  total::text AS total, exact_total::text AS exact_total, request_count, unpriced_count, as_of, finalized_at, finalized_by`

const iso = (date: Date) => date.toISOString()

const statementOf = (row: StatementRow): Statement.Statement => {
  const lines: Array<Statement.StatementLine> = []
  const credits: Array<Statement.StatementCredit> = []
  for (const element of row.lines) {
    if (isCredit(element)) {
      credits.push({ grantId: element.grantId, name: element.name, exactAmount: new Money.Decimal(element.exactAmount), amount: new Money.Decimal(element.amount) })
      continue
    }
    lines.push({
      group: element.group,
      component: element.component,
      unit: element.unit,
      quantity: new Money.Decimal(element.quantity),
      unitPrice: element.unitPrice === null ? null : new Money.Decimal(element.unitPrice),
      unitPricePer: element.unitPricePer,
      averaged: element.averaged,
      exactAmount: new Money.Decimal(element.exactAmount),
      amount: new Money.Decimal(element.amount)
    })
  }
  const total = new Money.Decimal(row.total)
  const creditTotal = Money.sum(credits.map((c) => c.amount))
  return {
    id: row.id,
    customer: row.customer,
    periodFrom: iso(row.period_from),
    periodTo: iso(row.period_to),
    currency: row.currency,
    groupBy: row.group_by,
    kind: row.kind,
    correctsId: row.corrects_id,
    status: row.status === "final" ? "final" : "preview",
    lines,
    total,
    exactTotal: new Money.Decimal(row.exact_total),
    credits,
    creditTotal,
    amountDue: total.minus(creditTotal),
    requestCount: Number(row.request_count),
    unpricedCount: Number(row.unpriced_count),
    asOf: iso(row.as_of),
    finalizedAt: row.finalized_at === null ? null : iso(row.finalized_at),
    finalizedBy: row.finalized_by
  }
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const check = (input: StatementInput): InvalidStatement | undefined => {
  if (input.customer.length === 0 || input.customer.length > 200) {
    return new InvalidStatement({ field: "customer", message: "customer: expected 1 to 200 characters" })
  }
  if (DateTime.toEpochMillis(input.to) <= DateTime.toEpochMillis(input.from)) {
    return new InvalidStatement({ field: "to", message: "to: expected an instant after from" })
  }
  if (!/^[A-Z]{3}$/.test(input.currency)) {
    return new InvalidStatement({ field: "currency", message: "currency: expected an ISO 4217 code such as \"USD\"" })
  }
  if (!Statement.groupByValues.includes(input.groupBy)) {
    return new InvalidStatement({ field: "groupBy", message: "groupBy: expected \"model\" or \"feature\"" })
  }
  return undefined
}

export interface CustomerStatementsService {
  /** What `finalize` would keep now (a statement or a correction), without keeping it; null when nothing changed. */
  readonly preview: (
    tenantId: string,
    input: StatementInput
  ) => Effect.Effect<Statement.Statement | null, InvalidStatement | StatementOverlap | SqlError>
  /** Keeps the period's statement, or the correction since the last; null when nothing changed. */
  readonly finalize: (
    tenantId: string,
    input: StatementInput,
    actor: string
  ) => Effect.Effect<Statement.Statement | null, InvalidStatement | StatementOverlap | SqlError>
  readonly get: (tenantId: string, id: string) => Effect.Effect<Statement.Statement, StatementNotFound | SqlError>
  /** Final statements, newest period first (a customer's only when given). */
  readonly list: (tenantId: string, customer?: string) => Effect.Effect<ReadonlyArray<Statement.Statement>, SqlError>
  readonly margin: (tenantId: string, query: MarginQuery) => Effect.Effect<ReadonlyArray<MarginRow>, InvalidStatement | SqlError>
}

const dimensionSql: Record<MarginDimension, string> = {
  customer: "customer",
  plan: "plan",
  model: "model",
  provider: "provider",
  feature: "feature",
  day: "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
  month: "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM')"
}

export class CustomerStatements extends Context.Service<CustomerStatements, CustomerStatementsService>()("@tally/store/CustomerStatements") {
  static readonly layer: Layer.Layer<CustomerStatements, never, Database> = Layer.effect(
    CustomerStatements,
    Effect.gen(function*() {
      const db = yield* Database
      const sql = db.sql

      /** Computes (and keeps, unless `keep` is false) in the caller's transaction. */
      const compute = (tenantId: string, input: StatementInput, actor: string | null) =>
        Effect.gen(function*() {
          const from = DateTime.formatIso(input.from)
          const to = DateTime.formatIso(input.to)
          yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${`tally.statement:${tenantId}:${input.customer}:${input.currency}`}, 0))`
          const finals = yield* sql<StatementRow>`SELECT ${sql.literal(statementColumns)} FROM tally.customer_statements
            WHERE tenant_id = ${tenantId} AND customer = ${input.customer} AND currency = ${input.currency}
              AND group_by = ${input.groupBy} AND status = 'final'
              AND period_from < ${to}::timestamptz AND period_to > ${from}::timestamptz
            ORDER BY created_at, id`
          const other = finals.find((f) => iso(f.period_from) !== new Date(from).toISOString() || iso(f.period_to) !== new Date(to).toISOString())
          if (other !== undefined) {
            return yield* new StatementOverlap({
              statementId: other.id,
              message: `final statement ${other.id} covers ${iso(other.period_from)} to ${iso(other.period_to)}, which overlaps this period; state the same period (a correction) or one that does not overlap`
            })
          }
          const rows = yield* sql<{ grp: string; component: string; unit: Statement.ExactLine["unit"]; quantity: string; amount: string; unit_price: string | null }>`
            SELECT CASE WHEN ${input.groupBy} = 'model' THEN p.model ELSE coalesce(p.feature, ${Statement.noFeature}) END AS grp,
              l->>'component' AS component, l->>'unit' AS unit,
              sum((l->>'quantity')::numeric)::text AS quantity, sum((l->>'amount')::numeric)::text AS amount,
              CASE WHEN count(DISTINCT (l->>'unitPrice')::numeric) = 1 THEN min((l->>'unitPrice')::numeric)::text END AS unit_price
            FROM tally.usage_prices p CROSS JOIN LATERAL jsonb_array_elements(p.lines) AS l
            WHERE p.tenant_id = ${tenantId} AND p.customer = ${input.customer} AND p.status = 'priced' AND p.currency = ${input.currency}
              AND p.occurred_at >= ${from}::timestamptz AND p.occurred_at < ${to}::timestamptz
            GROUP BY 1, 2, 3`
          const [counts] = yield* sql<{ priced: string; unpriced: string; as_of: Date }>`SELECT
              count(*) FILTER (WHERE status = 'priced' AND currency = ${input.currency})::text AS priced,
              count(*) FILTER (WHERE status = 'unpriced')::text AS unpriced, now() AS as_of
            FROM tally.usage_prices
            WHERE tenant_id = ${tenantId} AND customer = ${input.customer}
              AND occurred_at >= ${from}::timestamptz AND occurred_at < ${to}::timestamptz`
          const current = Statement.sortLines(rows.map((r) => ({
            group: r.grp,
            component: r.component,
            unit: r.unit,
            quantity: new Money.Decimal(r.quantity),
            amount: new Money.Decimal(r.amount),
            unitPrice: r.unit_price === null ? null : new Money.Decimal(r.unit_price)
          })))
          // What was stated, exact, with the unit price per unit where it was one price.
          const stated = finals.flatMap((f) =>
            statementOf(f).lines.map((l): Statement.ExactLine => ({
              group: l.group,
              component: l.component,
              unit: l.unit,
              quantity: l.quantity,
              amount: l.exactAmount,
              unitPrice: l.averaged || l.unitPrice === null ? null : l.unitPrice.div(l.unit === "token" ? Money.MILLION : Money.ONE)
            }))
          )
          // What the customer's credit packs in this currency paid of these calls, per pack.
          const drawn = yield* sql<{ grant_id: string; note: string | null; amount: string }>`
            SELECT d.grant_id::text AS grant_id, g.note, sum(d.amount)::text AS amount
            FROM tally.credit_drawdowns d
              JOIN tally.credit_grants g ON g.tenant_id = d.tenant_id AND g.id = d.grant_id
              JOIN tally.usage_prices p ON p.tenant_id = d.tenant_id AND p.request_id = d.request_id
            WHERE d.tenant_id = ${tenantId} AND d.basis = 'price' AND d.unit = ${input.currency}
              AND g.account_kind = 'customer' AND g.account = ${input.customer}
              AND p.customer = ${input.customer} AND p.status = 'priced' AND p.currency = ${input.currency}
              AND p.occurred_at >= ${from}::timestamptz AND p.occurred_at < ${to}::timestamptz
            GROUP BY d.grant_id, g.note
            ORDER BY d.grant_id`
          const currentCredits = drawn.map((d): Statement.ExactCredit => ({ grantId: d.grant_id, name: d.note, amount: new Money.Decimal(d.amount) }))
          const statedCredits = finals.flatMap((f) => statementOf(f).credits.map((c): Statement.ExactCredit => ({ grantId: c.grantId, name: c.name, amount: c.exactAmount })))
          const first = finals[0]
          const lines = first === undefined ? current : Statement.difference(current, stated)
          const creditLines = Statement.creditDifference(currentCredits, statedCredits)
          if (first !== undefined && lines.length === 0 && creditLines.length === 0) return null
          const rounded = Statement.round(lines, input.currency)
          const credits = Statement.roundCredits(creditLines, input.currency)
          const statement: Statement.Statement = {
            id: null,
            customer: input.customer,
            periodFrom: new Date(from).toISOString(),
            periodTo: new Date(to).toISOString(),
            currency: input.currency,
            groupBy: input.groupBy,
            kind: first === undefined ? "statement" : "correction",
            correctsId: first?.id ?? null,
            status: "preview",
            lines: rounded.lines,
            total: rounded.total,
            exactTotal: rounded.exactTotal,
            credits: credits.credits,
            creditTotal: credits.total,
            amountDue: rounded.total.minus(credits.total),
            requestCount: Number(counts!.priced),
            unpricedCount: Number(counts!.unpriced),
            asOf: iso(counts!.as_of),
            finalizedAt: null,
            finalizedBy: null
          }
          if (actor === null) return statement
          const json = Statement.toJson(statement)
          const [row] = yield* sql<StatementRow>`INSERT INTO tally.customer_statements
              (tenant_id, customer, period_from, period_to, currency, group_by, kind, corrects_id, status, lines, total,
               exact_total, request_count, unpriced_count, as_of, finalized_at, finalized_by)
            VALUES (${tenantId}, ${input.customer}, ${from}::timestamptz, ${to}::timestamptz, ${input.currency}, ${input.groupBy},
              ${statement.kind}, ${statement.correctsId}, 'final', ${PgTypes.jsonb([...json.lines, ...json.credits.map((c) => ({ kind: "credit", ...c }))])}, ${Money.format(rounded.total)}::numeric,
              ${Money.format(rounded.exactTotal)}::numeric, ${statement.requestCount}, ${statement.unpricedCount},
              ${counts!.as_of}, clock_timestamp(), ${actor})
            RETURNING ${sql.literal(statementColumns)}`
          return statementOf(row!)
        })

      const preview = Effect.fn("CustomerStatements.preview")(function*(tenantId: string, input: StatementInput) {
        const problem = check(input)
        if (problem !== undefined) return yield* problem
        return yield* db.withTenant(tenantId, compute(tenantId, input, null))
      })

      const finalize = Effect.fn("CustomerStatements.finalize")(function*(tenantId: string, input: StatementInput, actor: string) {
        const problem = check(input)
        if (problem !== undefined) return yield* problem
        return yield* db.withTenant(tenantId, compute(tenantId, input, actor.trim() === "" ? "system" : actor.slice(0, 200)))
      })

      const get = Effect.fn("CustomerStatements.get")(function*(tenantId: string, id: string) {
        const missing = new StatementNotFound({ statementId: id, message: `no customer statement ${JSON.stringify(id)} in this tenant` })
        if (!uuid.test(id)) return yield* missing
        const rows = yield* db.withTenant(
          tenantId,
          sql<StatementRow>`SELECT ${sql.literal(statementColumns)} FROM tally.customer_statements WHERE tenant_id = ${tenantId} AND id = ${id}`
        )
        return rows[0] === undefined ? yield* missing : statementOf(rows[0])
      })

      const list = Effect.fn("CustomerStatements.list")(function*(tenantId: string, customer?: string) {
        const rows = yield* db.withTenant(
          tenantId,
          sql<StatementRow>`SELECT ${sql.literal(statementColumns)} FROM tally.customer_statements WHERE tenant_id = ${tenantId}
            ${customer === undefined ? sql.literal("") : sql`AND customer = ${customer}`}
            ORDER BY period_from DESC, customer, created_at, id`
        )
        return rows.map(statementOf)
      })

      const margin = Effect.fn("CustomerStatements.margin")(function*(tenantId: string, query: MarginQuery) {
        if (DateTime.toEpochMillis(query.to) <= DateTime.toEpochMillis(query.from)) {
          return yield* new InvalidStatement({ field: "to", message: "to: expected an instant after from" })
        }
        const dims = [...new Set(query.groupBy)]
        for (const dim of dims) {
          if (!marginDimensions.includes(dim)) {
            return yield* new InvalidStatement({ field: "groupBy", message: `groupBy: unknown dimension ${JSON.stringify(dim)}; expected one of ${marginDimensions.join(", ")}` })
          }
        }
        const select = dims.map((dim, i) => `${dimensionSql[dim]} AS k${i}`)
        const groupCount = dims.length + 2
        const rows = yield* db.withTenant(
          tenantId,
          sql<Record<string, string | null> & { currency: string | null; cost_currency: string | null; requests: string; unpriced: string; price: string | null; cost: string | null }>`
            SELECT ${sql.literal(select.map((s) => `${s}, `).join(""))} currency, cost_currency,
              count(*)::text AS requests, count(*) FILTER (WHERE status = 'unpriced')::text AS unpriced,
              sum(total)::text AS price, sum(cost_total)::text AS cost
            FROM tally.usage_prices
            WHERE tenant_id = ${tenantId} AND occurred_at >= ${DateTime.formatIso(query.from)}::timestamptz
              AND occurred_at < ${DateTime.formatIso(query.to)}::timestamptz
              ${query.customer === undefined ? sql.literal("") : sql`AND customer = ${query.customer}`}
            GROUP BY ${sql.literal(Array.from({ length: groupCount }, (_, i) => String(i + 1)).join(", "))}
            ORDER BY ${sql.literal(Array.from({ length: groupCount }, (_, i) => `${i + 1} NULLS LAST`).join(", "))}`
        )
        return rows.map((row): MarginRow => {
          const price = row.price === null ? null : new Money.Decimal(row.price)
          const cost = row.cost === null ? null : new Money.Decimal(row.cost)
          const margin = price !== null && cost !== null && row.currency === row.cost_currency ? price.minus(cost) : null
          return {
            keys: Object.fromEntries(dims.map((dim, i) => [dim, row[`k${i}`] ?? null])),
            currency: row.currency,
            costCurrency: row.cost_currency,
            requests: Number(row.requests),
            unpriced: Number(row.unpriced),
            price,
            cost,
            margin,
            marginPercent: margin === null || price === null || price.isZero()
              ? null
              : margin.div(price).times(Money.HUNDRED).toDecimalPlaces(4, Money.Decimal.ROUND_HALF_EVEN)
          }
        })
      })

      return CustomerStatements.of({ preview, finalize, get, list, margin })
    })
  )
}

/** A margin row as JSON: decimals as exact strings. */
export const marginJson = (row: MarginRow) => ({
  ...row.keys,
  currency: row.currency,
  costCurrency: row.costCurrency,
  requests: row.requests,
  unpriced: row.unpriced,
  price: row.price === null ? null : Money.format(row.price),
  cost: row.cost === null ? null : Money.format(row.cost),
  margin: row.margin === null ? null : Money.format(row.margin),
  marginPercent: row.marginPercent === null ? null : Money.format(row.marginPercent)
})
