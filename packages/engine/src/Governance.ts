/**
 * Governance for gateways: one decision per call.
 *
 * `decide` answers allow or deny for a call (its labels, provider, model and estimate) with every
 * reason: each model policy rule that refuses it (`ModelPolicy` in `@tally/catalog`) and each
 * `block` budget, in any unit, that it would overspend, with what remains of every covering
 * budget. With `reserve: true` an allowed call's estimate is held on every covering budget in one
 * transaction, exactly as `Enforcement.reserve` does (it is that call), after the policies allowed it.
 *
 * Cache. Per tenant, the process keeps the tenant (currency, zone), its active budgets and its
 * active policies, with the tenant's governance version (a counter every write to its budgets or
 * policies bumps, in the writing transaction; migration 0021). Then:
 * - a call covered by no budget is judged from the cache alone, with no database round trip,
 *   while the cache was confirmed current within `maxStaleMillis` (default 1000); after that one
 *   round trip reads the version, and a changed version reloads everything;
 * - a call covered by budgets reads the version in the same tenant transaction as spend and
 *   holds, so a budget decision never uses a budget changed before the transaction began;
 * - `reserve` locks and re-reads the covering budgets in its transaction (the guarantee of
 *   `Enforcement`), so a reservation is always judged under the budgets as they are.
 * Policy changes made through this service invalidate the process's cache at once; other processes
 * see them within `maxStaleMillis`.
 */
import { type Catalog, Match, ModelPolicy } from "@tally/catalog"
import { type Admission, Budget, CostEngine, Money, type Tenant, UsageRecord } from "@tally/core"
import { BudgetRecords, Database, ModelPolicies, type PriceBooks, Tenants } from "@tally/store"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import * as Enforcement from "./Enforcement.ts"
import { GovernanceCache } from "./GovernanceCache.ts"
import * as TenantPricing from "./TenantPricing.ts"

export const defaultMaxStaleMillis = 1000

// Input --------------------------------------------------------------------------------------

export interface DecideInput {
  /** The call's labels (project, environment, feature, team, customer, apiKeyId). */
  readonly labels?: Budget.CallScope | undefined
  readonly provider?: string | undefined
  readonly model: string
  readonly estimate?: {
    /** In the tenant's currency; priced from the tokens with the tenant's price book when absent. */
    readonly cost?: Money.Decimal | undefined
    readonly inputTokens?: number | undefined
    readonly outputTokens?: number | undefined
  } | undefined
  /** Hold the estimate on every covering budget when allowed (settle or release it later). */
  readonly reserve?: boolean | undefined
  readonly requestId?: string | undefined
  readonly ttlSeconds?: number | undefined
  readonly currency?: string | undefined
}

const Count = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(0, { message: "expected a non-negative whole number" }),
  Schema.isLessThanOrEqualTo(1e12, { message: "expected at most 1000000000000" })
)

/** The body of `POST /api/v1/decide`. */
export const DecideBody = Schema.Struct({
  labels: Schema.optionalKey(Enforcement.RequestLabels),
  provider: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(100, { message: "expected at most 100 characters" }))),
  model: Schema.String.check(
    Schema.isMinLength(1, { message: "expected a non-empty model name" }),
    Schema.isMaxLength(256, { message: "expected at most 256 characters" })
  ),
  estimate: Schema.optionalKey(Schema.Struct({
    cost: Schema.optionalKey(Money.NonNegativeInputDecimal),
    inputTokens: Schema.optionalKey(Count),
    outputTokens: Schema.optionalKey(Count)
  })),
  reserve: Schema.optionalKey(Schema.Boolean),
  requestId: Schema.optionalKey(UsageRecord.RequestId),
  ttlSeconds: Schema.optionalKey(Schema.Int),
  currency: Schema.optionalKey(Money.CurrencyCode)
})

export const decodeDecide = Enforcement.decoder(DecideBody)

// Output -------------------------------------------------------------------------------------

/** Why a call is denied: a policy rule, or a budget it would overspend. */
export type Reason =
  | {
    readonly kind: "policy"
    readonly policyId: string
    readonly policyName: string
    readonly rule: ModelPolicy.RuleName
    readonly message: string
  }
  | {
    readonly kind: "budget"
    readonly budgetId: string
    readonly budgetName: string
    /** The budget's unit: the currency code, `total tokens`, `output tokens`, ..., or `requests`. */
    readonly unit: string
    readonly remaining: Money.Decimal
    readonly estimate: Money.Decimal
    readonly message: string
  }
  | {
    readonly kind: "credits"
    /** `customer:<id>` or `team:<id>`. */
    readonly account: string
    readonly unit: string
    readonly remaining: Money.Decimal
    readonly estimate: Money.Decimal
    readonly message: string
  }

/** A prepaid credit account that would be overdrawn (when its grants enforce). */
const creditReason = (c: Admission.CreditDecision, estimate: Money.Decimal): Reason => ({
  kind: "credits",
  account: `${c.account.kind}:${c.account.id}`,
  unit: c.unit,
  remaining: c.remaining,
  estimate,
  message: `prepaid credits of ${c.account.kind} ${JSON.stringify(c.account.id)}: ${Money.format(c.remaining)} ${c.unit} remain, the call needs ${
    Money.format(estimate)
  }`
})

export interface Decision {
  readonly allowed: boolean
  /** Every reason the call is denied; empty when allowed. */
  readonly reasons: ReadonlyArray<Reason>
  readonly provider: string | null
  readonly model: string
  /** The estimated cost: as given, priced from the tokens, or null when it could not be. */
  readonly estimatedCost: Money.Decimal | null
  readonly costSource: "given" | "priced" | "unknown"
  /** Whether the tenant's price book prices the model (null when no rule or estimate needed it). */
  readonly priced: boolean | null
  /** Policies that apply to the call's labels (ids). */
  readonly policies: ReadonlyArray<string>
  /** The budgets covering the call with what remains of each; null when policies denied first. */
  readonly budget: Admission.Decision | null
}

export const decisionToJson = (d: Decision) => ({
  decision: d.allowed ? ("allow" as const) : ("deny" as const),
  allowed: d.allowed,
  reasons: d.reasons.map((r) =>
    r.kind === "policy" ? r : { ...r, remaining: Money.format(r.remaining), estimate: Money.format(r.estimate) }
  ),
  provider: d.provider,
  model: d.model,
  estimatedCost: d.estimatedCost === null ? null : Money.format(d.estimatedCost),
  costSource: d.costSource,
  priced: d.priced,
  policies: d.policies,
  budgets: d.budget === null ? [] : Enforcement.decisionToJson(d.budget).budgets,
  remaining: d.budget?.remaining == null ? null : Money.format(d.budget.remaining),
  ...(d.budget?.credits === undefined ? {} : { credits: Enforcement.decisionToJson(d.budget).credits }),
  ...(d.budget?.reservation === undefined ? {} : {
    reservation: { id: d.budget.reservation.id, expiresAt: DateTime.formatIso(d.budget.reservation.expiresAt) }
  })
})

// The service --------------------------------------------------------------------------------

export interface GovernanceService {
  readonly decide: (
    tenantId: string,
    input: DecideInput
  ) => Effect.Effect<
    Decision,
    Enforcement.InvalidEnforcementRequest | Tenant.TenantNotFound | SqlError
  >
  readonly createPolicy: (
    tenantId: string,
    input: unknown
  ) => Effect.Effect<ModelPolicy.ModelPolicy, ModelPolicy.InvalidPolicy | Tenant.TenantNotFound | SqlError>
  readonly listPolicies: (
    tenantId: string,
    options?: { readonly includeArchived?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<ModelPolicy.ModelPolicy>, SqlError>
  readonly archivePolicy: (
    tenantId: string,
    policyId: string
  ) => Effect.Effect<ModelPolicy.ModelPolicy, ModelPolicy.PolicyNotFound | SqlError>
  /** Forgets what the cache holds of a tenant (after a change made around this service). */
  readonly invalidate: (tenantId: string) => void
}

export interface GovernanceConfig {
  /** How long a cached tenant is used without confirming its version; default 1000. */
  readonly maxStaleMillis?: number | undefined
}

interface Cached {
  readonly version: number
  readonly tenant: Tenant.Tenant
  readonly budgets: ReadonlyArray<Budget.Budget>
  readonly policies: ReadonlyArray<ModelPolicy.ModelPolicy>
  checkedAt: number
}

const toPolicy = (stored: ModelPolicies.StoredPolicy): ModelPolicy.ModelPolicy => ({
  id: stored.id,
  tenantId: stored.tenantId,
  name: stored.name,
  scope: stored.scope,
  rules: ModelPolicy.rulesFromJson(stored.rules),
  createdAt: DateTime.formatIso(stored.createdAt),
  archivedAt: stored.archivedAt === null ? null : DateTime.formatIso(stored.archivedAt)
})

const budgetReason = (line: Admission.BudgetDecision): Reason => ({
  kind: "budget",
  budgetId: line.budget.id,
  budgetName: line.budget.name,
  unit: Budget.unitLabel(line.budget),
  remaining: line.remaining,
  estimate: line.estimate,
  message: `budget ${JSON.stringify(line.budget.name)} (${line.window.label}): ${Money.format(line.remaining)} ${
    Budget.unitLabel(line.budget)
  } remain, the call needs ${Money.format(line.estimate)}`
})

export class Governance extends Context.Service<Governance, GovernanceService>()("@tally/engine/Governance") {
  /** The service with the process's cache (`GovernanceCache`, also provided, so `Budgets` can invalidate it). */
  static readonly layerConfig = (config: GovernanceConfig = {}): Layer.Layer<
    Governance | GovernanceCache,
    never,
    | Database.Database
    | Tenants.Tenants
    | BudgetRecords.BudgetRecords
    | ModelPolicies.ModelPolicies
    | PriceBooks.PriceBooks
    | Catalog.Catalog
    | Enforcement.Enforcement
  > =>
    Layer.effect(
      Governance,
      Effect.gen(function*() {
        const shared = yield* GovernanceCache
        const db = yield* Database.Database
        const tenants = yield* Tenants.Tenants
        const records = yield* BudgetRecords.BudgetRecords
        const policyStore = yield* ModelPolicies.ModelPolicies
        const enforcement = yield* Enforcement.Enforcement
        const books = yield* TenantPricing.makeBookLoader
        const maxStale = config.maxStaleMillis ?? defaultMaxStaleMillis
        const cache = shared.entries as Map<string, Cached>

        const load = (tenantId: string, now: number) =>
          db.withTenant(
            tenantId,
            Effect.gen(function*() {
              const version = yield* policyStore.version(tenantId)
              const tenant = yield* tenants.get(tenantId)
              const budgets = yield* records.active(tenantId)
              const policies = (yield* policyStore.list(tenantId)).map(toPolicy)
              const entry: Cached = { version, tenant, budgets, policies, checkedAt: now }
              cache.set(tenantId, entry)
              return entry
            })
          )

        /** The cached tenant, confirmed current within `maxStale` (one version read when older). */
        const current = (tenantId: string, now: number) =>
          Effect.gen(function*() {
            const entry = cache.get(tenantId)
            if (entry === undefined) return yield* load(tenantId, now)
            if (now - entry.checkedAt < maxStale) return entry
            const version = yield* policyStore.version(tenantId)
            if (version !== entry.version) return yield* load(tenantId, now)
            entry.checkedAt = now
            return entry
          })

        const decide = Effect.fn("Governance.decide")(function*(tenantId: string, input: DecideInput) {
          if (input.model.trim() === "") {
            return yield* new Enforcement.InvalidEnforcementRequest({ field: "model", message: "model: expected a non-empty model name" })
          }
          const now = yield* DateTime.now
          const nowMillis = DateTime.toEpochMillis(now)
          let entry = yield* current(tenantId, nowMillis)
          const labels: Budget.CallScope = { ...Budget.normalizeScope(input.labels), model: input.model }
          const applicable = ModelPolicy.applicable(entry.policies, labels)
          const inputTokens = input.estimate?.inputTokens ?? 0
          const outputTokens = input.estimate?.outputTokens ?? 0

          // Pricing: the tenant's book (cached by the loader), only when a rule or the estimate needs it.
          const needsBook = applicable.some((p) => p.rules.pricedOnly === true || p.rules.maxCostPerCall !== undefined) ||
            (input.estimate?.cost === undefined && (inputTokens > 0 || outputTokens > 0))
          let match: Match.Match | null = null
          let priced: boolean | null = null
          if (needsBook) {
            // A tenant's price book that does not build is a defect here, as in ingest's pricing.
            const book = yield* books.get(tenantId).pipe(Effect.catchTag("CatalogInvalid", (error) => Effect.die(error)))
            const matched = Match.match(book, { provider: input.provider, model: input.model, at: nowMillis })
            match = Result.isSuccess(matched) ? matched.success : null
            priced = match !== null
          }
          let estimatedCost: Money.Decimal | null = input.estimate?.cost ?? null
          let costSource: Decision["costSource"] = estimatedCost === null ? "unknown" : "given"
          if (estimatedCost === null && match !== null) {
            const costed = CostEngine.pricePartial({ tokens: { inputText: inputTokens, outputText: outputTokens } }, match.snapshot)
            if (costed.error === undefined && costed.breakdown.currency === entry.tenant.currency) {
              estimatedCost = costed.breakdown.total
              costSource = "priced"
            }
          }

          const refusals = ModelPolicy.judge(applicable, {
            labels,
            provider: input.provider,
            model: input.model,
            priced: () => priced === true,
            estimatedCost,
            outputTokens
          })
          const base = {
            provider: input.provider ?? null,
            model: input.model,
            estimatedCost,
            costSource,
            priced,
            policies: applicable.map((p) => p.id)
          }
          if (refusals.length > 0) {
            return {
              ...base,
              allowed: false,
              reasons: refusals.map((r): Reason => ({ kind: "policy", ...r })),
              budget: null
            } satisfies Decision
          }

          const check: Enforcement.ReserveInput = {
            labels,
            estimatedCost: estimatedCost ?? Money.ZERO,
            estimatedTokens: { input: inputTokens, output: outputTokens },
            currency: input.currency,
            requestId: input.requestId,
            ttlSeconds: input.ttlSeconds
          }
          let budget: Admission.Decision
          if (input.reserve === true) {
            budget = yield* enforcement.reserve(tenantId, check)
          } else {
            const covering = entry.budgets.filter((b) => Budget.covers(b.scope, labels))
            if (covering.length === 0) {
              budget = yield* enforcement.check(tenantId, check, { tenant: entry.tenant, budgets: [] })
            } else {
              // The version is read in the statement that reads spend and holds: a changed one reloads and decides again.
              let seen = entry.version
              const first = yield* enforcement.check(tenantId, check, {
                tenant: entry.tenant,
                budgets: covering,
                onVersion: (version) => {
                  seen = version
                }
              })
              if (seen !== entry.version) {
                entry = yield* load(tenantId, nowMillis)
                budget = yield* enforcement.check(tenantId, check, {
                  tenant: entry.tenant,
                  budgets: entry.budgets.filter((b) => Budget.covers(b.scope, labels))
                })
              } else {
                entry.checkedAt = nowMillis
                budget = first
              }
            }
          }
          return {
            ...base,
            allowed: budget.allowed,
            reasons: [
              ...budget.budgets.filter((b) => !b.allowed).map(budgetReason),
              ...(budget.credits ?? []).filter((c) => !c.allowed).map((c) => creditReason(c, budget.estimatedCost))
            ],
            budget
          } satisfies Decision
        })

        const createPolicy = Effect.fn("Governance.createPolicy")(function*(tenantId: string, input: unknown) {
          const decoded = ModelPolicy.decodePolicy(input)
          if (Result.isFailure(decoded)) return yield* decoded.failure
          const policy = decoded.success
          const stored = yield* db.withTenant(
            tenantId,
            Effect.andThen(
              tenants.get(tenantId),
              policyStore.insert(tenantId, { name: policy.name, scope: policy.scope, rules: ModelPolicy.rulesToJson(policy.rules) })
            )
          )
          cache.delete(tenantId)
          return toPolicy(stored)
        })

        const listPolicies = Effect.fn("Governance.listPolicies")(function*(
          tenantId: string,
          options: { readonly includeArchived?: boolean | undefined } = {}
        ) {
          return (yield* policyStore.list(tenantId, options)).map(toPolicy)
        })

        const archivePolicy = Effect.fn("Governance.archivePolicy")(function*(tenantId: string, policyId: string) {
          const now = yield* DateTime.now
          const stored = yield* policyStore.archive(tenantId, policyId, now)
          if (stored === undefined) return yield* ModelPolicy.notFound(policyId)
          cache.delete(tenantId)
          return toPolicy(stored)
        })

        return Governance.of({
          decide,
          createPolicy,
          listPolicies,
          archivePolicy,
          invalidate: (tenantId) => {
            cache.delete(tenantId)
          }
        })
      })
    ).pipe(Layer.provideMerge(GovernanceCache.layer))

  static readonly layer = Governance.layerConfig()
}
