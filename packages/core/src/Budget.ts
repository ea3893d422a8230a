/**
 * A budget: a spend limit of one scope (labels and model) per day, week or month, in the tenant's
 * currency, with the thresholds (percentages of the amount) whose crossing is announced, and
 * whether enforcement denies calls that would overspend it.
 *
 * This module holds the rules a budget obeys, as plain functions over values: how JSON input
 * decodes, what a new budget and a patch must satisfy, what a patch or archiving does to a stored
 * budget and what the change audit records of it, and which calls a scope covers. Storing and
 * reading budgets is the store's; evaluating and enforcing them is the engine's.
 */
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as FieldError from "./FieldError.ts"
import * as Money from "./Money.ts"
import type * as UsageRecord from "./UsageRecord.ts"

// Model -------------------------------------------------------------------------------------

/** A calendar period, cut in the tenant's time zone. */
export const Period = Schema.Literals(["day", "week", "month"])
export type Period = typeof Period.Type

/** A budget's period: a calendar period, or `rolling` (the last `windowSeconds` before each instant). */
export const PeriodKind = Schema.Literals(["day", "week", "month", "rolling"])
export type PeriodKind = typeof PeriodKind.Type

/** What a budget counts: spend in the tenant's currency, tokens, or requests (calls). */
export const Unit = Schema.Literals(["cost", "tokens", "requests"])
export type Unit = typeof Unit.Type

/**
 * Which tokens a `tokens` budget counts: `input` (prompt, cache reads and writes, embeddings, every
 * modality), `output` (completion and reasoning, every modality) or `total` (both).
 */
export const TokenKind = Schema.Literals(["total", "input", "output"])
export type TokenKind = typeof TokenKind.Type

/** The longest rolling window: 31 days. */
export const maxWindowSeconds = 2_678_400

/** `alert` only notifies; `block` also makes enforcement deny calls that would overspend. */
export const Action = Schema.Literals(["alert", "block"])
export type Action = typeof Action.Type

/** Dimensions a budget can be scoped by; all given ones must match (an empty scope is the tenant). */
export const scopeKeys = ["project", "environment", "feature", "team", "customer", "apiKeyId", "model"] as const
export type ScopeKey = typeof scopeKeys[number]

const ScopeValue = Schema.String.check(
  Schema.isMinLength(1, { message: "expected a non-empty value" }),
  Schema.isMaxLength(256, { message: "expected at most 256 characters" })
)

export const Scope = Schema.Struct({
  project: Schema.optionalKey(ScopeValue),
  environment: Schema.optionalKey(ScopeValue),
  feature: Schema.optionalKey(ScopeValue),
  team: Schema.optionalKey(ScopeValue),
  customer: Schema.optionalKey(ScopeValue),
  apiKeyId: Schema.optionalKey(ScopeValue),
  model: Schema.optionalKey(ScopeValue)
})
export type Scope = typeof Scope.Type

/** The dimensions of one call (or a set of labels) that budgets are matched against. */
export type CallScope = { readonly [K in ScopeKey]?: string | null | undefined }

/** A budget as it is about to be stored: checked, defaults applied, thresholds ascending. */
export interface NewBudget {
  readonly name: string
  readonly scope: Scope
  readonly period: PeriodKind
  /** Set exactly when `period` is `rolling`. */
  readonly windowSeconds: number | null
  /** What `amount` counts; `cost` is in `currency`. */
  readonly unit: Unit
  /** Set exactly when `unit` is `tokens`. */
  readonly tokenKind: TokenKind | null
  readonly amount: Money.Decimal
  readonly currency: string
  /** Percentages of `amount`, ascending. */
  readonly thresholds: ReadonlyArray<Money.Decimal>
  readonly action: Action
}

export interface Budget extends NewBudget {
  readonly id: string
  readonly tenantId: string
  readonly createdAt: DateTime.Utc
  readonly archivedAt: DateTime.Utc | null
}

export interface CreateBudget {
  readonly name: string
  readonly scope?: Scope | undefined
  readonly period: PeriodKind
  /** Required for (and only for) a `rolling` period: 1 to 2678400 (31 days). */
  readonly windowSeconds?: number | undefined
  /** Default `cost`. */
  readonly unit?: Unit | undefined
  /** For a `tokens` budget; default `total`. */
  readonly tokenKind?: TokenKind | undefined
  /** In the tenant's currency for `cost`; a whole number of tokens or requests otherwise. */
  readonly amount: Money.Decimal
  /** Must be the tenant's currency; defaults to it. */
  readonly currency?: string | undefined
  /** Percentages, each in (0, 1000]; default [80, 100]. */
  readonly thresholds?: ReadonlyArray<Money.Decimal> | undefined
  /** Default `alert`. */
  readonly action?: Action | undefined
}

export const defaultThresholds: ReadonlyArray<Money.Decimal> = [new Money.Decimal(80), Money.HUNDRED]

export class InvalidBudget extends Schema.TaggedError<InvalidBudget>()("InvalidBudget", {
  /** JSON path of the field at fault, e.g. `thresholds[1]`. */
  field: Schema.String,
  message: Schema.String
}) {}

export class BudgetNotFound extends Schema.TaggedError<BudgetNotFound>()("BudgetNotFound", {
  budgetId: Schema.String,
  message: Schema.String
}) {}

export const notFound = (budgetId: string) =>
  new BudgetNotFound({ budgetId, message: `budget ${JSON.stringify(budgetId)} does not exist` })

/** An archived budget is history: it cannot be changed (create a new one). */
export class BudgetArchived extends Schema.TaggedError<BudgetArchived>()("BudgetArchived", {
  budgetId: Schema.String,
  message: Schema.String
}) {}

const archived = (budgetId: string, archivedAt: DateTime.Utc) =>
  new BudgetArchived({
    budgetId,
    message: `budget ${JSON.stringify(budgetId)} was archived at ${DateTime.formatIso(archivedAt)} and cannot be changed; create a new budget instead`
  })

// Scopes -------------------------------------------------------------------------------------

/** The scope with only its given, non-empty dimensions, in a fixed key order. */
export const normalizeScope = (scope: CallScope | Scope | undefined): Scope => {
  const out: { -readonly [K in ScopeKey]?: string } = {}
  if (scope === undefined) return out
  for (const key of scopeKeys) {
    const value = scope[key]
    if (typeof value === "string" && value !== "") out[key] = value
  }
  return out
}

/** Whether a budget's scope covers a call: every dimension the scope names is equal. */
export const covers = (scope: Scope, call: CallScope): boolean => {
  for (const key of scopeKeys) {
    const wanted = scope[key]
    if (wanted !== undefined && call[key] !== wanted) return false
  }
  return true
}

/** What budgets see of a recorded call: its labels and its model. */
export const callScope = (labels: UsageRecord.Labels, model: string): CallScope => ({
  project: labels.project,
  environment: labels.environment,
  feature: labels.feature,
  team: labels.team,
  customer: labels.customer,
  apiKeyId: labels.apiKeyId,
  model
})

// Decoding input -----------------------------------------------------------------------------

const ThresholdInput = Schema.Union([Schema.Finite, Money.InputDecimal])

/** A budget as JSON (HTTP body, CLI file): amount as a decimal string, thresholds as numbers or strings. */
export const BudgetInput = Schema.Struct({
  name: Schema.String,
  scope: Schema.optionalKey(Scope),
  period: PeriodKind,
  windowSeconds: Schema.optionalKey(Schema.Int),
  unit: Schema.optionalKey(Unit),
  tokenKind: Schema.optionalKey(TokenKind),
  amount: Money.InputDecimal,
  currency: Schema.optionalKey(Money.CurrencyCode),
  thresholds: Schema.optionalKey(Schema.Array(ThresholdInput)),
  action: Schema.optionalKey(Action)
})

const decodeBudgetInputResult = Schema.decodeUnknownResult(BudgetInput, { onExcessProperty: "error", errors: "first" })

const fromSchemaError = (error: Schema.SchemaError): InvalidBudget => {
  const { field, message } = FieldError.fromSchemaError(error)
  return new InvalidBudget({ field, message: `${field}: ${message}` })
}

/** Decodes a budget from JSON; the error names the field. `checkCreate` checks the rest. */
export const decodeBudgetInput = (input: unknown): Result.Result<CreateBudget, InvalidBudget> => {
  const decoded = decodeBudgetInputResult(input)
  if (Result.isFailure(decoded)) return Result.fail(fromSchemaError(decoded.failure))
  const value = decoded.success
  return Result.succeed({
    name: value.name,
    scope: value.scope,
    period: value.period,
    windowSeconds: value.windowSeconds,
    unit: value.unit,
    tokenKind: value.tokenKind,
    amount: value.amount,
    currency: value.currency,
    thresholds: value.thresholds?.map((t) => (typeof t === "number" ? new Money.Decimal(t) : t)),
    action: value.action
  })
}

// Checking a new budget ----------------------------------------------------------------------

const invalid = (field: string, message: string) => new InvalidBudget({ field, message: `${field}: ${message}` })

const maxThreshold = new Money.Decimal(1000)

const checkName = (name: string): InvalidBudget | string =>
  name.trim().length === 0 || name.length > 200 ? invalid("name", "expected a name of 1 to 200 characters") : name.trim()

const checkAmount = (amount: Money.Decimal, unit: Unit): InvalidBudget | Money.Decimal =>
  !amount.isFinite() || amount.lte(0)
    ? invalid("amount", `expected a positive decimal, got ${Money.format(amount)}`)
    : unit !== "cost" && !amount.isInteger()
    ? invalid("amount", `a ${unit} budget counts whole ${unit}, got ${Money.format(amount)}`)
    : amount

/** Thresholds in range, without duplicates, ascending. */
const checkThresholds = (given: ReadonlyArray<Money.Decimal>): InvalidBudget | Array<Money.Decimal> => {
  const thresholds = [...given]
  if (thresholds.length === 0 || thresholds.length > 10) return invalid("thresholds", "expected 1 to 10 thresholds")
  for (const [i, t] of thresholds.entries()) {
    if (!t.isFinite() || t.lte(0) || t.gt(maxThreshold)) {
      return invalid(`thresholds[${i}]`, `expected a percentage greater than 0 and at most 1000, got ${Money.format(t)}`)
    }
  }
  thresholds.sort((a, b) => a.comparedTo(b))
  for (let i = 1; i < thresholds.length; i++) {
    if (thresholds[i]!.eq(thresholds[i - 1]!)) {
      return invalid("thresholds", `threshold ${Money.format(thresholds[i]!)} is given twice`)
    }
  }
  return thresholds
}

/**
 * The budget `input` makes for a tenant whose currency is `tenantCurrency`: what a schema cannot
 * check (name, amount and thresholds in range, the currency the tenant's), with the defaults
 * applied. The error names the first bad field.
 */
export const checkCreate = (input: CreateBudget, tenantCurrency: string): InvalidBudget | NewBudget => {
  const name = checkName(input.name)
  if (name instanceof InvalidBudget) return name
  const unit = input.unit ?? "cost"
  const amount = checkAmount(input.amount, unit)
  if (amount instanceof InvalidBudget) return amount
  if (input.currency !== undefined && input.currency !== tenantCurrency) {
    return invalid("currency", `budgets are kept in the tenant's currency ${tenantCurrency}, got ${input.currency}`)
  }
  if (input.tokenKind !== undefined && unit !== "tokens") {
    return invalid("tokenKind", `only a tokens budget counts a kind of tokens; this budget counts ${unit}`)
  }
  const windowSeconds = input.windowSeconds
  if (input.period === "rolling") {
    if (windowSeconds === undefined) return invalid("windowSeconds", "a rolling budget needs its window in seconds")
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > maxWindowSeconds) {
      return invalid("windowSeconds", `expected whole seconds from 1 to ${maxWindowSeconds}, got ${windowSeconds}`)
    }
  } else if (windowSeconds !== undefined) {
    return invalid("windowSeconds", `only a rolling budget has a window; this budget's period is ${input.period}`)
  }
  const thresholds = checkThresholds(input.thresholds ?? defaultThresholds)
  if (thresholds instanceof InvalidBudget) return thresholds
  return {
    name,
    scope: normalizeScope(input.scope),
    period: input.period,
    windowSeconds: windowSeconds ?? null,
    unit,
    tokenKind: unit === "tokens" ? input.tokenKind ?? "total" : null,
    amount,
    currency: tenantCurrency,
    thresholds,
    action: input.action ?? "alert"
  }
}

// Changing a budget ----------------------------------------------------------------------------

/**
 * What an update may change. Period, scope and currency are fixed: the crossings already recorded
 * were counted over that period, scope and currency, and would mean something else after a change.
 * A patch may repeat their stored values (a client may send back the budget it read); a different
 * value fails naming the field.
 */
export interface UpdateBudget {
  readonly name?: string | undefined
  readonly amount?: Money.Decimal | undefined
  /** Replaces the whole list; the rules of `checkCreate` apply. */
  readonly thresholds?: ReadonlyArray<Money.Decimal> | undefined
  readonly action?: Action | undefined
  /** Fixed: accepted only when equal to the stored value. */
  readonly period?: PeriodKind | undefined
  /** Fixed: accepted only when equal to the stored value (compared without empty dimensions). */
  readonly scope?: Scope | undefined
  /** Fixed: accepted only when equal to the stored value. */
  readonly currency?: string | undefined
}

/** The fields an update can change, in the order changes are reported. */
export const updatableFields = ["name", "amount", "thresholds", "action"] as const
export type UpdatableField = typeof updatableFields[number]

/** The fields an update cannot change. */
export const fixedFields = ["period", "scope", "currency"] as const

/** A patch as JSON (HTTP body, CLI flags): like `BudgetInput` with every field optional. */
export const BudgetPatchInput = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  amount: Schema.optionalKey(Money.InputDecimal),
  thresholds: Schema.optionalKey(Schema.Array(ThresholdInput)),
  action: Schema.optionalKey(Action),
  period: Schema.optionalKey(PeriodKind),
  scope: Schema.optionalKey(Scope),
  currency: Schema.optionalKey(Money.CurrencyCode)
})

const decodeBudgetPatchResult = Schema.decodeUnknownResult(BudgetPatchInput, { onExcessProperty: "error", errors: "first" })

/** Decodes a patch from JSON; the error names the field. `checkPatch` and `applyPatch` check the rest. */
export const decodeBudgetPatch = (input: unknown): Result.Result<UpdateBudget, InvalidBudget> => {
  const decoded = decodeBudgetPatchResult(input)
  if (Result.isFailure(decoded)) return Result.fail(fromSchemaError(decoded.failure))
  const value = decoded.success
  return Result.succeed({
    ...value,
    thresholds: value.thresholds?.map((t) => (typeof t === "number" ? new Money.Decimal(t) : t))
  })
}

const emptyPatch = () =>
  invalid("(input)", `expected at least one of ${updatableFields.join(", ")} to change (${fixedFields.join(", ")} cannot change)`)

const fixedField = (field: typeof fixedFields[number], stored: string, given: string) =>
  invalid(
    field,
    `a budget's ${field} cannot be changed (the crossings recorded so far were counted under ${stored}, not ${given}); create a new budget instead`
  )

/** A patch whose new values are checked; the fixed fields as given, for `applyPatch` to judge. */
export interface CheckedPatch {
  readonly set: {
    readonly name?: string
    readonly amount?: Money.Decimal
    readonly thresholds?: ReadonlyArray<Money.Decimal>
    readonly action?: Action
  }
  readonly fixed: Pick<UpdateBudget, typeof fixedFields[number]>
}

/**
 * The new values of the given fields, checked; an error names the first bad one. A patch with
 * nothing to change and no fixed field is an error here, before any budget is read.
 */
export const checkPatch = (patch: UpdateBudget): InvalidBudget | CheckedPatch => {
  const set: { name?: string; amount?: Money.Decimal; thresholds?: ReadonlyArray<Money.Decimal>; action?: Action } = {}
  if (patch.name !== undefined) {
    const name = checkName(patch.name)
    if (name instanceof InvalidBudget) return name
    set.name = name
  }
  if (patch.amount !== undefined) {
    const amount = checkAmount(patch.amount, "cost")
    if (amount instanceof InvalidBudget) return amount
    set.amount = amount
  }
  if (patch.thresholds !== undefined) {
    const thresholds = checkThresholds(patch.thresholds)
    if (thresholds instanceof InvalidBudget) return thresholds
    set.thresholds = thresholds
  }
  if (patch.action !== undefined) {
    if (patch.action !== "alert" && patch.action !== "block") return invalid("action", `expected alert or block, got ${String(patch.action)}`)
    set.action = patch.action
  }
  const fixedGiven = fixedFields.some((field) => patch[field] !== undefined)
  if (Object.keys(set).length === 0 && !fixedGiven) return emptyPatch()
  return { set, fixed: { period: patch.period, scope: patch.scope, currency: patch.currency } }
}

/** One field of a recorded change: its value before and after, as JSON (decimals as strings). */
export interface FieldChange {
  readonly field: string
  readonly from: unknown
  readonly to: unknown
}

/** A change about to be recorded in the budget's audit. */
export interface NewBudgetChange {
  readonly action: "updated" | "archived"
  /** The API key id, CLI user or embedding caller that made it; `system` when none was given. */
  readonly actor: string
  readonly at: DateTime.Utc
  /** In a fixed order (name, amount, thresholds, action, archivedAt). */
  readonly fields: ReadonlyArray<FieldChange>
}

/** One recorded change of a budget: who, when, and each field's old and new value. */
export interface BudgetChange extends NewBudgetChange {
  readonly id: string
  readonly budgetId: string
}

/** The order of a recorded change's fields. */
export const changeFieldOrder: ReadonlyArray<string> = [...updatableFields, "archivedAt"]

/** Who made a change: the given actor, trimmed, or `system`. */
export const actorOf = (actor: string | undefined): string => {
  const trimmed = actor?.trim() ?? ""
  return trimmed === "" ? "system" : trimmed.slice(0, 200)
}

/** A field's value as the audit keeps it: JSON, decimals as strings. */
const auditValue = (budget: Budget, field: UpdatableField): unknown => {
  switch (field) {
    case "name":
      return budget.name
    case "amount":
      return Money.format(budget.amount)
    case "thresholds":
      return budget.thresholds.map(Money.format)
    case "action":
      return budget.action
  }
}

const sameThresholds = (a: ReadonlyArray<Money.Decimal>, b: ReadonlyArray<Money.Decimal>): boolean =>
  a.length === b.length && a.every((t, i) => t.eq(b[i]!))

/** Who changes a budget, and when. */
export interface ChangedBy {
  readonly actor?: string | undefined
  readonly at: DateTime.Utc
}

/** A budget after a change, and the change to record; `change` is null when nothing changed. */
export interface Changed {
  readonly budget: Budget
  readonly change: NewBudgetChange | null
}

/**
 * What a checked patch does to the stored budget `current`, asked for as `budgetId` (errors name
 * the id as it was asked for: uuids compare case-insensitively). Refused when the budget is
 * archived, when a fixed field is given with a value other than the stored one, or when nothing
 * is left to change. Fields given with their stored value change nothing; a patch that changes
 * nothing has no change to record.
 */
export const applyPatch = (
  budgetId: string,
  current: Budget,
  patch: CheckedPatch,
  by: ChangedBy
): InvalidBudget | BudgetArchived | Changed => {
  if (current.archivedAt !== null) return archived(budgetId, current.archivedAt)
  const { fixed, set } = patch
  if (fixed.period !== undefined && fixed.period !== current.period) {
    return fixedField("period", current.period, fixed.period)
  }
  if (fixed.scope !== undefined) {
    const stored = JSON.stringify(normalizeScope(current.scope))
    const given = JSON.stringify(normalizeScope(fixed.scope))
    if (stored !== given) return fixedField("scope", stored, given)
  }
  if (fixed.currency !== undefined && fixed.currency !== current.currency) {
    return fixedField("currency", current.currency, fixed.currency)
  }
  if (Object.keys(set).length === 0) return emptyPatch()
  if (set.amount !== undefined && current.unit !== "cost" && !set.amount.isInteger()) {
    return invalid("amount", `a ${current.unit} budget counts whole ${current.unit}, got ${Money.format(set.amount)}`)
  }
  const next: Budget = {
    ...current,
    name: set.name ?? current.name,
    amount: set.amount ?? current.amount,
    thresholds: set.thresholds ?? current.thresholds,
    action: set.action ?? current.action
  }
  const changed = updatableFields.filter((field) =>
    field === "amount"
      ? !next.amount.eq(current.amount)
      : field === "thresholds"
      ? !sameThresholds(next.thresholds, current.thresholds)
      : next[field] !== current[field]
  )
  if (changed.length === 0) return { budget: current, change: null }
  return {
    budget: next,
    change: {
      action: "updated",
      actor: actorOf(by.actor),
      at: by.at,
      fields: changed.map((field) => ({ field, from: auditValue(current, field), to: auditValue(next, field) }))
    }
  }
}

/** Archiving `current`: it stops being evaluated or enforced. Archiving twice changes nothing. */
export const archive = (current: Budget, by: ChangedBy): Changed =>
  current.archivedAt !== null ? { budget: current, change: null } : {
    budget: { ...current, archivedAt: by.at },
    change: {
      action: "archived",
      actor: actorOf(by.actor),
      at: by.at,
      fields: [{ field: "archivedAt", from: null, to: DateTime.formatIso(by.at) }]
    }
  }

// Units ----------------------------------------------------------------------------------------

/** What one call is expected to use, in every unit a budget can count. */
export interface Estimate {
  /** In the tenant's currency. */
  readonly cost: Money.Decimal
  readonly inputTokens: number
  readonly outputTokens: number
}

/** What a budget counts of a measured window (see `BudgetSpend`): spend, tokens and requests. */
export interface Measured {
  readonly amount: Money.Decimal
  readonly inputTokens: number
  readonly outputTokens: number
  readonly requests: number
}

/** `tokens` of `kind`. */
const tokensOf = (kind: TokenKind | null, input: number, output: number): number =>
  kind === "input" ? input : kind === "output" ? output : input + output

/** What `budget` counts of a window's measured usage, in its unit. */
export const measure = (budget: Pick<Budget, "unit" | "tokenKind">, measured: Measured): Money.Decimal =>
  budget.unit === "cost"
    ? measured.amount
    : budget.unit === "requests"
    ? new Money.Decimal(measured.requests)
    : new Money.Decimal(tokensOf(budget.tokenKind, measured.inputTokens, measured.outputTokens))

/** What one call estimated at `estimate` takes of `budget`, in its unit (a request is 1). */
export const estimateIn = (budget: Pick<Budget, "unit" | "tokenKind">, estimate: Estimate): Money.Decimal =>
  budget.unit === "cost"
    ? estimate.cost
    : budget.unit === "requests"
    ? Money.ONE
    : new Money.Decimal(tokensOf(budget.tokenKind, estimate.inputTokens, estimate.outputTokens))

/** The unit as a reader sees it: the currency code, `tokens` (with their kind) or `requests`. */
export const unitLabel = (budget: Pick<Budget, "unit" | "tokenKind" | "currency">): string =>
  budget.unit === "cost" ? budget.currency : budget.unit === "tokens" ? `${budget.tokenKind ?? "total"} tokens` : "requests"
