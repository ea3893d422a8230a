/**
 * Prepaid credits: a grant (credit pack) gives a customer or a team an amount in a currency or in
 * tokens, effective from an instant, optionally expiring, with a priority. Recorded calls draw
 * the grants down:
 *
 * - a call draws from the grants of its `customer` and of its `team` label that are effective at
 *   the call's time (effective <= occurredAt < expires) and not voided, lowest `priority` first,
 *   then in grant order; each grant gives what it has left until the call is paid;
 * - a currency grant is drawn by the call's sale price in that currency, or by its cost when no
 *   sale price applies; a tokens grant by the call's total tokens;
 * - what no grant can pay stays unpaid (`uncovered`): a grant never goes below zero.
 *
 * `allocate` is that rule as a pure function over grants and calls; the store runs it under a
 * lock of the grants, in the ingest transaction, for the calls really inserted (exactly once).
 */
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as FieldError from "./FieldError.ts"
import * as Money from "./Money.ts"

export const AccountKind = Schema.Literals(["customer", "team"])
export type AccountKind = typeof AccountKind.Type

export interface Account {
  readonly kind: AccountKind
  readonly id: string
}

export const TOKENS = "tokens"

export interface Grant {
  readonly id: string
  /** Grant order within the tenant. */
  readonly seq: number
  readonly account: Account
  /** A currency code, or `tokens`. */
  readonly unit: string
  readonly amount: Money.Decimal
  readonly remaining: Money.Decimal
  /** Lower is drawn first. */
  readonly priority: number
  readonly effectiveAt: DateTime.Utc
  readonly expiresAt: DateTime.Utc | null
  /** Balances (in the grant's unit) whose crossing downwards is announced. */
  readonly alertThresholds: ReadonlyArray<Money.Decimal>
  /** Reservations for the account are refused when they would overdraw its balance. */
  readonly enforce: boolean
  readonly note: string | null
  readonly createdAt: DateTime.Utc
  readonly voidedAt: DateTime.Utc | null
}

export class InvalidCredit extends Schema.TaggedError<InvalidCredit>()("InvalidCredit", {
  field: Schema.String,
  message: Schema.String
}) {}

export class GrantNotFound extends Schema.TaggedError<GrantNotFound>()("GrantNotFound", {
  grantId: Schema.String,
  field: Schema.String,
  message: Schema.String
}) {}

export const notFound = (grantId: string) =>
  new GrantNotFound({ grantId, field: "id", message: `id: credit grant ${JSON.stringify(grantId)} does not exist` })

const invalid = (field: string, message: string) => new InvalidCredit({ field, message: `${field}: ${message}` })

// Input ---------------------------------------------------------------------------------------

const Unit = Schema.String.check(
  Schema.isPattern(/^(?:[A-Z]{3}|tokens)$/, { message: "expected an ISO 4217 currency code such as \"USD\", or \"tokens\"" })
)
const Positive = Money.InputDecimal.check(
  Schema.makeFilter<Money.Decimal>((d) => (d.isPositive() && !d.isZero() ? undefined : `expected an amount above 0, got ${Money.format(d)}`))
)

export const GrantInput = Schema.Struct({
  customer: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(512))),
  team: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(512))),
  unit: Unit,
  amount: Positive,
  priority: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: -1000, maximum: 1000 }))),
  effectiveAt: Schema.optionalKey(Schema.DateTimeUtcFromString),
  expiresAt: Schema.optionalKey(Schema.DateTimeUtcFromString),
  alertThresholds: Schema.optionalKey(Schema.Array(Money.NonNegativeInputDecimal)),
  enforce: Schema.optionalKey(Schema.Boolean),
  note: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(1000)))
})

export type NewGrant = Omit<Grant, "id" | "seq" | "remaining" | "createdAt" | "voidedAt">

const decodeGrantResult = Schema.decodeUnknownResult(GrantInput, { onExcessProperty: "error", errors: "first" })

/** Decodes and checks a grant; `now` is its effective instant unless it names one. */
export const decodeGrant = (input: unknown, now: DateTime.Utc): Result.Result<NewGrant, InvalidCredit> => {
  const decoded = decodeGrantResult(input)
  if (Result.isFailure(decoded)) {
    const { field, message } = FieldError.fromSchemaError(decoded.failure)
    return Result.fail(invalid(field, message))
  }
  const g = decoded.success
  if ((g.customer === undefined) === (g.team === undefined)) {
    return Result.fail(invalid("customer", "a grant is for exactly one customer or one team"))
  }
  const effectiveAt = g.effectiveAt ?? now
  if (g.expiresAt !== undefined && DateTime.toEpochMillis(g.expiresAt) <= DateTime.toEpochMillis(effectiveAt)) {
    return Result.fail(invalid("expiresAt", "expected an instant after the grant is effective"))
  }
  if (g.unit === TOKENS && !g.amount.isInteger()) return Result.fail(invalid("amount", "expected a whole number of tokens"))
  return Result.succeed({
    account: g.customer !== undefined ? { kind: "customer", id: g.customer } : { kind: "team", id: g.team! },
    unit: g.unit,
    amount: g.amount,
    priority: g.priority ?? 0,
    effectiveAt,
    expiresAt: g.expiresAt ?? null,
    alertThresholds: [...(g.alertThresholds ?? [])].sort((a, b) => b.comparedTo(a)),
    enforce: g.enforce ?? false,
    note: g.note ?? null
  })
}

// Drawing down --------------------------------------------------------------------------------

/** What a recorded call asks of credits. */
export interface Demand {
  readonly requestId: string
  readonly occurredAt: number
  /** The call's customer and team, where it has them. */
  readonly accounts: ReadonlyArray<Account>
  /** The call's sale price (or its cost) in its currency; absent when it has none (unpriced). */
  readonly money?: { readonly amount: Money.Decimal; readonly currency: string; readonly basis: "price" | "cost" } | undefined
  readonly tokens: number
}

export interface Draw {
  readonly requestId: string
  readonly grantId: string
  readonly amount: Money.Decimal
  readonly unit: string
  readonly basis: "price" | "cost" | "tokens"
  readonly occurredAt: number
}

export interface Allocation {
  readonly draws: ReadonlyArray<Draw>
  /** What each drawn grant has left. */
  readonly remaining: ReadonlyMap<string, Money.Decimal>
  /** What calls asked of an account with grants in that unit and no grant could pay. */
  readonly uncovered: ReadonlyArray<{ readonly requestId: string; readonly unit: string; readonly amount: Money.Decimal }>
}

/** Draw order: lower priority first, then grant order. */
export const order = (a: Grant, b: Grant): number => a.priority - b.priority || a.seq - b.seq

/** Whether the grant can pay for a call at this instant. */
export const activeAt = (grant: Grant, at: number): boolean =>
  grant.voidedAt === null &&
  DateTime.toEpochMillis(grant.effectiveAt) <= at &&
  (grant.expiresAt === null || at < DateTime.toEpochMillis(grant.expiresAt))

const accountKey = (account: Account) => `${account.kind}\u0000${account.id}`

/** Draws the demands, in their order, from the grants (see the module comment). */
export const allocate = (grants: ReadonlyArray<Grant>, demands: ReadonlyArray<Demand>): Allocation => {
  const sorted = [...grants].sort(order)
  const remaining = new Map<string, Money.Decimal>(sorted.map((g) => [g.id, g.remaining]))
  const draws: Array<Draw> = []
  const uncovered: Array<{ requestId: string; unit: string; amount: Money.Decimal }> = []
  for (const demand of demands) {
    const keys = new Set(demand.accounts.map(accountKey))
    if (keys.size === 0) continue
    const asks: Array<{ unit: string; amount: Money.Decimal; basis: Draw["basis"] }> = []
    if (demand.money !== undefined && demand.money.amount.isPositive() && !demand.money.amount.isZero()) {
      asks.push({ unit: demand.money.currency, amount: demand.money.amount, basis: demand.money.basis })
    }
    if (demand.tokens > 0) asks.push({ unit: TOKENS, amount: new Money.Decimal(demand.tokens), basis: "tokens" })
    for (const ask of asks) {
      const eligible = sorted.filter((g) => g.unit === ask.unit && keys.has(accountKey(g.account)))
      if (eligible.length === 0) continue
      let left = ask.amount
      for (const grant of eligible) {
        if (left.isZero()) break
        if (!activeAt(grant, demand.occurredAt)) continue
        const has = remaining.get(grant.id)!
        if (has.isZero()) continue
        const take = Money.Decimal.min(has, left)
        remaining.set(grant.id, has.minus(take))
        left = left.minus(take)
        draws.push({ requestId: demand.requestId, grantId: grant.id, amount: take, unit: ask.unit, basis: ask.basis, occurredAt: demand.occurredAt })
      }
      if (!left.isZero()) uncovered.push({ requestId: demand.requestId, unit: ask.unit, amount: left })
    }
  }
  return { draws, remaining, uncovered }
}

// Balances and alerts -------------------------------------------------------------------------

/** An account's balance in one unit: what its grants active at `at` have left. */
export const balanceOf = (grants: ReadonlyArray<Grant>, account: Account, unit: string, at: number, remaining?: ReadonlyMap<string, Money.Decimal>): Money.Decimal =>
  Money.sum(
    grants
      .filter((g) => g.unit === unit && accountKey(g.account) === accountKey(account) && activeAt(g, at))
      .map((g) => remaining?.get(g.id) ?? g.remaining)
  )

export interface Alert {
  readonly kind: "credit.balance_low" | "credit.balance_exhausted"
  readonly account: Account
  readonly unit: string
  readonly threshold: Money.Decimal
  readonly before: Money.Decimal
  readonly after: Money.Decimal
  /** The newest grant of the account in that unit: a top-up arms the alerts again. */
  readonly lastGrantSeq: number
}

/**
 * The alerts a drawdown raises: for each account and unit drawn, every threshold of its active
 * grants that the balance fell to or below (from above), and `credit.balance_exhausted` when it
 * reached zero.
 */
export const alerts = (grants: ReadonlyArray<Grant>, allocation: Allocation, at: number): ReadonlyArray<Alert> => {
  const byId = new Map(grants.map((g) => [g.id, g]))
  const touched = new Map<string, { account: Account; unit: string }>()
  for (const draw of allocation.draws) {
    const grant = byId.get(draw.grantId)!
    touched.set(`${accountKey(grant.account)}\u0000${draw.unit}`, { account: grant.account, unit: draw.unit })
  }
  const out: Array<Alert> = []
  for (const { account, unit } of touched.values()) {
    const own = grants.filter((g) => g.unit === unit && accountKey(g.account) === accountKey(account))
    const before = balanceOf(grants, account, unit, at)
    const after = balanceOf(grants, account, unit, at, allocation.remaining)
    const lastGrantSeq = Math.max(...own.map((g) => g.seq))
    const thresholds = new Map<string, Money.Decimal>()
    for (const g of own) if (activeAt(g, at)) for (const t of g.alertThresholds) thresholds.set(Money.format(t), t)
    for (const threshold of thresholds.values()) {
      if (before.greaterThan(threshold) && after.lessThanOrEqualTo(threshold)) {
        out.push({ kind: "credit.balance_low", account, unit, threshold, before, after, lastGrantSeq })
      }
    }
    if (before.isPositive() && !before.isZero() && after.isZero()) {
      out.push({ kind: "credit.balance_exhausted", account, unit, threshold: Money.ZERO, before, after, lastGrantSeq })
    }
  }
  return out
}

// JSON ----------------------------------------------------------------------------------------

const iso = (dt: DateTime.Utc | null) => (dt === null ? null : DateTime.formatIso(dt))

export const toJson = (g: Grant) => ({
  id: g.id,
  [g.account.kind]: g.account.id,
  accountKind: g.account.kind,
  account: g.account.id,
  unit: g.unit,
  amount: Money.format(g.amount),
  remaining: Money.format(g.remaining),
  priority: g.priority,
  effectiveAt: iso(g.effectiveAt),
  expiresAt: iso(g.expiresAt),
  alertThresholds: g.alertThresholds.map(Money.format),
  enforce: g.enforce,
  note: g.note,
  createdAt: iso(g.createdAt),
  voidedAt: iso(g.voidedAt)
})
