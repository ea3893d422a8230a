/**
 * Enforcement for gateways: may this call run?
 *
 * `check` answers allow or deny, with what remains of every budget that covers the call's labels.
 * `reserve` answers the same and, when allowed, holds the estimate against every covering budget
 * until the call is `settle`d with its actual cost, `release`d, or its time-to-live runs out.
 *
 * Guarantee. `reserve` locks the covering budgets (in id order, one transaction), reads spend and
 * live holds after taking the locks, and admits only if, for every `block` budget,
 *   spent + held + estimate ≤ amount.
 * Admissions against one budget are therefore serialized: no two concurrent reservations both
 * see the same headroom. What is admitted can exceed a block budget only by the error of the
 * estimates of calls still in flight (actual above estimate), and by usage ingested without a
 * reservation. With one call in flight at a time that is at most one estimate's error; when every
 * actual cost is within its estimate, never.
 *
 * A settled reservation keeps holding its actual cost until the call's usage lands in the ledger
 * under the same request id (the ledger then counts it), or until `settleGraceSeconds` passed.
 * An expired or released reservation holds nothing.
 */
import { Admission, Budget, BudgetPeriod, FieldError, Money, Reservation, type Tenant, UsageRecord } from "@tally/core"
import { BudgetRecords, BudgetSpend, Credits, Database, Reservations, Tenants } from "@tally/store"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"

export const defaultTtlSeconds = 600
export const maxTtlSeconds = 86_400
export const defaultSettleGraceSeconds = 900

/** Token counts of a call: what it is expected to use, or what it used. */
export interface TokenCounts {
  readonly input?: number | undefined
  readonly output?: number | undefined
}

export interface CheckInput {
  /** The call's labels (and model); a budget covers the call when its scope is a subset. */
  readonly labels?: Budget.CallScope | undefined
  /** In the tenant's currency. */
  readonly estimatedCost: Money.Decimal
  /** What the call is expected to use, for budgets that count tokens (0 when absent). */
  readonly estimatedTokens?: TokenCounts | undefined
  /** When given, must be the tenant's currency. */
  readonly currency?: string | undefined
}

export interface ReserveInput extends CheckInput {
  /** The request id the call's usage will be ingested with: its hold ends when that lands. */
  readonly requestId?: string | undefined
  /** Default 600, at most 86400. */
  readonly ttlSeconds?: number | undefined
}

export interface SettleInput {
  readonly actualCost: Money.Decimal
  /** What the call used; a tokens budget's hold keeps its estimate when absent. */
  readonly actualTokens?: TokenCounts | undefined
  readonly requestId?: string | undefined
}

export class InvalidEnforcementRequest extends Schema.TaggedError<InvalidEnforcementRequest>()(
  "InvalidEnforcementRequest",
  {
    field: Schema.String,
    message: Schema.String
  }
) {}

// Request bodies ------------------------------------------------------------------------------

const NonNegativeCost = Money.NonNegativeInputDecimal

const TokenCount = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(0, { message: "expected a non-negative whole number" }),
  Schema.isLessThanOrEqualTo(1e12, { message: "expected at most 1000000000000" })
)

/** Tokens as JSON: `{ "input": 1200, "output": 400 }`. */
export const TokensBody = Schema.Struct({
  input: Schema.optionalKey(TokenCount),
  output: Schema.optionalKey(TokenCount)
})

/** Labels a gateway sends; the API key's id comes from the key itself. */
export const RequestLabels = Schema.Struct({
  project: Schema.optionalKey(Schema.String),
  environment: Schema.optionalKey(Schema.String),
  feature: Schema.optionalKey(Schema.String),
  team: Schema.optionalKey(Schema.String),
  customer: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(Schema.String)
})

export const CheckBody = Schema.Struct({
  labels: Schema.optionalKey(RequestLabels),
  estimatedCost: NonNegativeCost,
  estimatedTokens: Schema.optionalKey(TokensBody),
  currency: Schema.optionalKey(Money.CurrencyCode)
})

export const ReserveBody = Schema.Struct({
  labels: Schema.optionalKey(RequestLabels),
  estimatedCost: NonNegativeCost,
  estimatedTokens: Schema.optionalKey(TokensBody),
  currency: Schema.optionalKey(Money.CurrencyCode),
  requestId: Schema.optionalKey(UsageRecord.RequestId),
  ttlSeconds: Schema.optionalKey(Schema.Int)
})

export const SettleBody = Schema.Struct({
  reservationId: Schema.String,
  actualCost: NonNegativeCost,
  actualTokens: Schema.optionalKey(TokensBody),
  requestId: Schema.optionalKey(UsageRecord.RequestId)
})

export const ReleaseBody = Schema.Struct({
  reservationId: Schema.String
})

/** A decoder of a request body whose errors name the field. */
export const decoder = <S extends Schema.Codec<unknown, unknown, never, never>>(schema: S) => {
  const decode = Schema.decodeUnknownResult(schema as never, { onExcessProperty: "error", errors: "first" }) as (
    input: unknown
  ) => Result.Result<S["Type"], Schema.SchemaError>
  return (input: unknown): Result.Result<S["Type"], InvalidEnforcementRequest> => {
    const decoded = decode(input)
    if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
    const { field, message } = FieldError.fromSchemaError(decoded.failure, { root: "(body)" })
    return Result.fail(new InvalidEnforcementRequest({ field, message: `${field}: ${message}` }))
  }
}

export const decodeCheck = decoder(CheckBody)
export const decodeReserve = decoder(ReserveBody)
export const decodeSettle = decoder(SettleBody)
export const decodeRelease = decoder(ReleaseBody)

// JSON ---------------------------------------------------------------------------------------

export const decisionToJson = (decision: Admission.Decision) => ({
  decision: decision.allowed ? ("allow" as const) : ("deny" as const),
  allowed: decision.allowed,
  currency: decision.currency,
  estimatedCost: Money.format(decision.estimatedCost),
  remaining: decision.remaining === null ? null : Money.format(decision.remaining),
  deniedBy: decision.deniedBy,
  budgets: decision.budgets.map((b) => ({
    budgetId: b.budget.id,
    name: b.budget.name,
    action: b.budget.action,
    unit: Budget.unitLabel(b.budget),
    scope: b.budget.scope,
    period: BudgetPeriod.toJson(b.window),
    amount: Money.format(b.budget.amount),
    estimate: Money.format(b.estimate),
    spent: Money.format(b.spent),
    reserved: Money.format(b.reserved),
    remaining: Money.format(b.remaining),
    remainingAfter: Money.format(b.remainingAfter),
    allowed: b.allowed
  })),
  ...(decision.reservation === undefined ? {} : {
    reservation: { id: decision.reservation.id, expiresAt: DateTime.formatIso(decision.reservation.expiresAt) }
  }),
  ...(decision.credits === undefined ? {} : {
    credits: decision.credits.map((c) => ({
      [c.account.kind]: c.account.id,
      unit: c.unit,
      balance: Money.format(c.balance),
      held: Money.format(c.held),
      remaining: Money.format(c.remaining),
      allowed: c.allowed
    }))
  })
})

export const reservationToJson = (r: Reservation.Reservation) => ({
  id: r.id,
  status: r.status,
  requestId: r.requestId,
  labels: r.labels,
  estimate: Money.format(r.estimate),
  actual: r.actual === null ? null : Money.format(r.actual),
  currency: r.currency,
  createdAt: DateTime.formatIso(r.createdAt),
  expiresAt: DateTime.formatIso(r.expiresAt),
  settledAt: r.settledAt === null ? null : DateTime.formatIso(r.settledAt),
  releasedAt: r.releasedAt === null ? null : DateTime.formatIso(r.releasedAt),
  budgetIds: r.holds.map((h) => h.budgetId)
})

// The service ----------------------------------------------------------------------------------

export interface EnforcementService {
  /**
   * With `known`, the tenant and the budgets covering the call as a cache holds them: spend and
   * holds are then read in one tenant transaction and nothing else.
   */
  readonly check: (
    tenantId: string,
    input: CheckInput,
    known?: KnownBudgets | undefined
  ) => Effect.Effect<Admission.Decision, InvalidEnforcementRequest | Tenant.TenantNotFound | SqlError>
  /** `check`, and when allowed a hold on every covering budget, in one transaction. */
  readonly reserve: (
    tenantId: string,
    input: ReserveInput
  ) => Effect.Effect<Admission.Decision, InvalidEnforcementRequest | Tenant.TenantNotFound | SqlError>
  /** Records the call's actual cost; settling again with the same cost is a no-op. */
  readonly settle: (
    tenantId: string,
    reservationId: string,
    input: SettleInput
  ) => Effect.Effect<
    Reservation.Reservation,
    Reservation.ReservationNotFound | Reservation.ReservationClosed | InvalidEnforcementRequest | SqlError
  >
  /** Frees the hold of a call that did not run; releasing twice is a no-op. */
  readonly release: (
    tenantId: string,
    reservationId: string
  ) => Effect.Effect<Reservation.Reservation, Reservation.ReservationNotFound | Reservation.ReservationClosed | SqlError>
  readonly get: (
    tenantId: string,
    reservationId: string
  ) => Effect.Effect<Reservation.Reservation, Reservation.ReservationNotFound | SqlError>
  /** Deletes reservations that stopped counting before `before` (housekeeping). */
  readonly purge: (tenantId: string, before: DateTime.Utc) => Effect.Effect<number, SqlError>
}

/** What a cache knows of a tenant for a call: its currency and zone, and the budgets covering the call. */
export interface KnownBudgets {
  readonly tenant: Tenant.Tenant
  readonly budgets: ReadonlyArray<Budget.Budget>
  /** Told the tenant's governance version read with spend (the same statement), to judge the cache by. */
  readonly onVersion?: ((version: number) => void) | undefined
}

/** A call's whole estimate: the cost and its tokens (0 where not given). */
export const estimateOf = (input: CheckInput): Budget.Estimate => ({
  cost: input.estimatedCost,
  inputTokens: input.estimatedTokens?.input ?? 0,
  outputTokens: input.estimatedTokens?.output ?? 0
})

const tokensProblem = (field: string, tokens: TokenCounts | undefined): InvalidEnforcementRequest | undefined => {
  for (const key of ["input", "output"] as const) {
    const n = tokens?.[key]
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) {
      return invalid(`${field}.${key}`, `expected a non-negative whole number, got ${n}`)
    }
  }
  return undefined
}

export interface EnforcementConfig {
  readonly settleGraceSeconds?: number | undefined
}

const isRetryable = (error: { readonly _tag: string }): boolean =>
  error._tag === "SqlError" &&
  ((error as SqlError).reason._tag === "DeadlockError" || (error as SqlError).reason._tag === "SerializationError")

const invalid = (field: string, message: string) =>
  new InvalidEnforcementRequest({ field, message: `${field}: ${message}` })

export class Enforcement extends Context.Service<Enforcement, EnforcementService>()("@tally/engine/Enforcement") {
  static readonly layerConfig = (config: EnforcementConfig = {}): Layer.Layer<
    Enforcement,
    never,
    | Database.Database
    | Tenants.Tenants
    | BudgetRecords.BudgetRecords
    | BudgetSpend.BudgetSpend
    | Reservations.Reservations
    | Credits.Credits
  > =>
    Layer.effect(
      Enforcement,
      Effect.gen(function*() {
        const db = yield* Database.Database
        const tenants = yield* Tenants.Tenants
        const records = yield* BudgetRecords.BudgetRecords
        const spending = yield* BudgetSpend.BudgetSpend
        const reservations = yield* Reservations.Reservations
        const credits = yield* Credits.Credits
        const graceMillis = (config.settleGraceSeconds ?? defaultSettleGraceSeconds) * 1000

        const validate = (input: ReserveInput): InvalidEnforcementRequest | undefined => {
          if (!input.estimatedCost.isFinite() || input.estimatedCost.isNegative()) {
            return invalid("estimatedCost", `expected a non-negative amount, got ${Money.format(input.estimatedCost)}`)
          }
          const tokens = tokensProblem("estimatedTokens", input.estimatedTokens)
          if (tokens !== undefined) return tokens
          const ttl = input.ttlSeconds
          if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > maxTtlSeconds)) {
            return invalid("ttlSeconds", `expected whole seconds from 1 to ${maxTtlSeconds}, got ${ttl}`)
          }
          return undefined
        }

        /** The decision with the call's enforcing credit accounts (customer, team) judged under their lock. */
        const withCredits = (
          tenantId: string,
          decision: Admission.Decision,
          labels: Budget.Scope,
          estimate: Money.Decimal,
          now: DateTime.Utc
        ) =>
          Effect.gen(function*() {
            const accounts: Array<{ readonly kind: "customer" | "team"; readonly id: string }> = []
            if (labels.customer !== undefined) accounts.push({ kind: "customer", id: labels.customer })
            if (labels.team !== undefined) accounts.push({ kind: "team", id: labels.team })
            if (accounts.length === 0) return decision
            const headroom = yield* credits.admit(tenantId, accounts, decision.currency, estimate, now)
            if (headroom.length === 0) return decision
            const judged = headroom.map((h): Admission.CreditDecision => ({
              account: h.account,
              unit: h.unit,
              balance: h.balance,
              held: h.held,
              remaining: h.balance.minus(h.held),
              allowed: h.allowed
            }))
            return { ...decision, allowed: judged.every((c) => c.allowed), credits: judged } satisfies Admission.Decision
          })

        /** The decision for a call, read inside the caller's transaction (after any locks). */
        const decide = (tenantId: string, input: ReserveInput, now: DateTime.Utc, lock: boolean, known?: KnownBudgets) =>
          Effect.gen(function*() {
            const tenant = known?.tenant ?? (yield* tenants.get(tenantId))
            if (input.currency !== undefined && input.currency !== tenant.currency) {
              return yield* invalid("currency", `budgets of this tenant are in ${tenant.currency}, got ${input.currency}`)
            }
            const labels = Budget.normalizeScope(input.labels)
            const budgets = known?.budgets ?? (yield* records.covering(tenantId, labels, { lock }))
            if (budgets.length === 0) {
              return { decision: Admission.decide([], estimateOf(input), tenant.currency), labels, currency: tenant.currency }
            }
            const windows = budgets.map((b) => BudgetPeriod.ofBudget(b, now, tenant.timeZone))
            const spendWindows = budgets.map((b, i) => ({ key: b.id, scope: b.scope, from: windows[i]!.start, to: windows[i]!.end }))
            const holdKeys = budgets.map((b, i) => ({ budgetId: b.id, periodStart: windows[i]!.holdStart }))
            let spend: ReadonlyMap<string, BudgetSpend.Spend>
            let holds: ReadonlyMap<string, Money.Decimal>
            if (known !== undefined) {
              // Spend, holds and the governance version in one statement.
              const standing = yield* spending.standing(tenantId, tenant.currency, spendWindows, holdKeys, now)
              known.onVersion?.(standing.version)
              spend = standing.spend
              holds = standing.held
            } else {
              spend = yield* spending.spend(tenantId, tenant.currency, spendWindows)
              holds = yield* reservations.held(tenantId, holdKeys, now)
            }
            const decision = Admission.decide(
              budgets.map((budget, i) => ({
                budget,
                window: windows[i]!,
                spent: Budget.measure(budget, spend.get(budget.id)!),
                reserved: holds.get(budget.id) ?? Money.ZERO
              })),
              estimateOf(input),
              tenant.currency
            )
            return { decision, labels, currency: tenant.currency }
          })

        const check = Effect.fn("Enforcement.check")(function*(tenantId: string, input: CheckInput, known?: KnownBudgets) {
          const bad = validate(input)
          if (bad !== undefined) return yield* bad
          const now = yield* DateTime.now
          // Known and uncovered: nothing to read.
          if (known !== undefined && known.budgets.length === 0) {
            const { decision } = yield* decide(tenantId, input, now, false, known)
            return decision
          }
          const { decision } = yield* db.withTenant(tenantId, decide(tenantId, input, now, false, known))
          return decision
        })

        const reserve = Effect.fn("Enforcement.reserve")(function*(tenantId: string, input: ReserveInput) {
          const bad = validate(input)
          if (bad !== undefined) return yield* bad
          const now = yield* DateTime.now
          const expiresAt = DateTime.makeUnsafe(
            DateTime.toEpochMillis(now) + (input.ttlSeconds ?? defaultTtlSeconds) * 1000
          )
          return yield* db.withTenant(
            tenantId,
            Effect.gen(function*() {
              const decided = yield* decide(tenantId, input, now, true)
              const { currency, labels } = decided
              if (!decided.decision.allowed) return decided.decision
              // Prepaid credits that enforce: locked like budgets, so admissions of one account are serialized.
              const decision = yield* withCredits(tenantId, decided.decision, labels, input.estimatedCost, now)
              if (!decision.allowed) return decision
              const id = yield* reservations.insert(tenantId, {
                requestId: input.requestId ?? null,
                labels,
                estimate: input.estimatedCost,
                currency,
                createdAt: now,
                expiresAt,
                holds: decision.budgets.map((b) => ({ budgetId: b.budget.id, periodStart: b.window.holdStart, amount: b.estimate }))
              })
              return { ...decision, reservation: { id, expiresAt } } satisfies Admission.Decision
            })
          ).pipe(
            Effect.retry({ times: 5, schedule: Schedule.exponential("10 millis"), while: isRetryable })
          )
        })

        const settle = Effect.fn("Enforcement.settle")(function*(
          tenantId: string,
          reservationId: string,
          input: SettleInput
        ) {
          if (!input.actualCost.isFinite() || input.actualCost.isNegative()) {
            return yield* invalid("actualCost", `expected a non-negative amount, got ${Money.format(input.actualCost)}`)
          }
          const badTokens = tokensProblem("actualTokens", input.actualTokens)
          if (badTokens !== undefined) return yield* badTokens
          const now = yield* DateTime.now
          return yield* db.withTenant(
            tenantId,
            Effect.gen(function*() {
              const current = yield* reservations.get(tenantId, reservationId, { forUpdate: true })
              const move = Reservation.settling(reservationId, current, input.actualCost, input.requestId)
              if (move instanceof Reservation.ReservationClosed) return yield* move
              if (move === "unchanged") return current
              yield* reservations.settle(tenantId, reservationId, {
                actual: input.actualCost,
                actualTokens: input.actualTokens === undefined
                  ? undefined
                  : { input: input.actualTokens.input ?? 0, output: input.actualTokens.output ?? 0 },
                requestId: input.requestId ?? null,
                now,
                expiresAt: DateTime.makeUnsafe(DateTime.toEpochMillis(now) + graceMillis)
              })
              return yield* reservations.get(tenantId, reservationId)
            })
          )
        })

        const release = Effect.fn("Enforcement.release")(function*(tenantId: string, reservationId: string) {
          const now = yield* DateTime.now
          return yield* db.withTenant(
            tenantId,
            Effect.gen(function*() {
              const current = yield* reservations.get(tenantId, reservationId, { forUpdate: true })
              const move = Reservation.releasing(reservationId, current)
              if (move instanceof Reservation.ReservationClosed) return yield* move
              if (move === "unchanged") return current
              yield* reservations.release(tenantId, reservationId, now)
              return yield* reservations.get(tenantId, reservationId)
            })
          )
        })

        return Enforcement.of({
          check,
          reserve,
          settle,
          release,
          get: (tenantId, reservationId) => reservations.get(tenantId, reservationId),
          purge: reservations.purge
        })
      })
    )

  static readonly layer = Enforcement.layerConfig()
}
