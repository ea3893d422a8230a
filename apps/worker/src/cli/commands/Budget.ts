/**
 * Budgets from scripts, against the configured database (`TALLY_DATABASE_URL` / `TALLY_DATA_DIR`,
 * or `--database-url` / `--data-dir`). JSON on stdout; amounts are decimal strings.
 *
 *   tally budget create --tenant T --name N --period day|week|month --amount 100.00
 *                       [--threshold 80]... [--action alert|block]
 *                       [--project P] [--environment E] [--feature F] [--team T] [--customer C]
 *                       [--api-key K] [--model M]
 *   tally budget list    --tenant T [--all]
 *   tally budget status  --tenant T [--budget ID] [--at ISO-8601]
 *   tally budget suggest --tenant T --period day|week|month [--lookback-days 30..60] [scope flags]
 *   tally budget update  --tenant T --budget ID [--name N] [--amount 50.00] [--threshold 80]...
 *                        [--action alert|block] [--by ACTOR]
 *   tally budget archive --tenant T --budget ID [--by ACTOR]
 *   tally budget webhook --tenant T (--url U --secret S | --remove)
 *
 * `status` also records any threshold the current spend has reached and no evaluation recorded yet
 * (the same sweep `tally serve` runs), so what it prints and what was alerted agree. `update` and
 * `archive` record the change in the budget's audit with `--by` (default `cli`) as its actor;
 * `--threshold` given to `update` replaces the whole list. Period, scope and currency cannot
 * change: `--period` and the scope flags are accepted by `update` only to say so.
 */
import { Budget } from "@tally/core"
import { Budgets } from "@tally/engine"
import { Outbox, Store } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { type DatabaseFlags, type Failure, invalid, requireTenant, withDatabase } from "../CommandDatabase.ts"
import { invalidInput, Printed } from "../CliError.ts"
import * as Table from "../Table.ts"
import { parseAt } from "./Cost.ts"

export type ScopeFlag = "project" | "environment" | "feature" | "team" | "customer" | "api-key" | "model"

type Services = Store.Services | Budgets.Budgets | Outbox.Outbox

/** Runs `effect` over the budget services of the configured database. */
const withBudgets = <A>(command: string, values: DatabaseFlags, effect: Effect.Effect<A, Failure, Services>) =>
  withDatabase(
    command,
    values,
    (database) => Layer.merge(Budgets.Budgets.layer, Outbox.Outbox.layer).pipe(Layer.provideMerge(Store.layerWith(database))),
    effect
  )

export const scopeOf = (values: { readonly [K in ScopeFlag]?: string | undefined }): Record<string, string> => {
  const scope: Record<string, string> = {}
  const names: Record<ScopeFlag, Budget.ScopeKey> = {
    project: "project",
    environment: "environment",
    feature: "feature",
    team: "team",
    customer: "customer",
    "api-key": "apiKeyId",
    model: "model"
  }
  for (const [flag, key] of Object.entries(names)) {
    const value = values[flag as ScopeFlag]
    if (value !== undefined) scope[key] = value
  }
  return scope
}

export const create = ({ values }: Parsed<typeof Commands.budgetCreate.flags>) =>
  Effect.gen(function*() {
    const command = "budget create"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const windowSeconds = yield* Spec.nonNegativeInt(command, "window-seconds", values["window-seconds"])
    const raw = {
      name: yield* Spec.required(command, "name", values.name),
      period: yield* Spec.required(command, "period", values.period),
      amount: yield* Spec.required(command, "amount", values.amount),
      scope: scopeOf(values),
      ...(values.unit === undefined ? {} : { unit: values.unit }),
      ...(values["token-kind"] === undefined ? {} : { tokenKind: values["token-kind"] }),
      ...(windowSeconds === undefined ? {} : { windowSeconds }),
      ...(values.threshold === undefined ? {} : { thresholds: values.threshold }),
      ...(values.action === undefined ? {} : { action: values.action })
    }
    const decoded = Budget.decodeBudgetInput(raw)
    if (Result.isFailure(decoded)) return yield* invalidInput(`${command}: --${flagOf(decoded.failure.field)}: ${messageOf(decoded.failure)}`)
    const budget = yield* withBudgets(
      command,
      values,
      Budgets.Budgets.use((b) => b.create(tenantId, decoded.success)).pipe(
        Effect.catchTag(["InvalidBudget", "TenantNotFound"], invalid(command))
      )
    )
    return Budgets.budgetToJson(budget)
  })

/** The flag a budget field came from. */
const flagOf = (field: string): string => {
  const top = field.split(/[.[]/)[0]!
  if (top === "thresholds") return "threshold"
  if (top === "scope") {
    const key = field.split(".")[1] ?? ""
    return key === "apiKeyId" ? "api-key" : key
  }
  return top
}

const messageOf = (error: Budget.InvalidBudget): string =>
  error.message.startsWith(`${error.field}: `) ? error.message.slice(error.field.length + 2) : error.message

export const list = ({ values }: Parsed<typeof Commands.budgetList.flags>) =>
  Effect.gen(function*() {
    const command = "budget list"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const budgets = yield* withBudgets(
      command,
      values,
      Effect.andThen(requireTenant(command, tenantId), Budgets.Budgets.use((b) => b.list(tenantId, { includeArchived: values.all === true })))
    )
    return budgets.map(Budgets.budgetToJson)
  })

export const status = ({ values }: Parsed<typeof Commands.budgetStatus.flags>) =>
  Effect.gen(function*() {
    const command = "budget status"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const at = values.at === undefined ? undefined : DateTime.fromDateUnsafe(yield* parseAt(command, values.at))
    if (values.format !== undefined && values.format !== "json" && values.format !== "table") {
      return yield* invalidInput(`${command}: --format must be json or table, got "${values.format}"`)
    }
    const statuses = yield* withBudgets(
      command,
      values,
      Effect.gen(function*() {
        const budgets = yield* Budgets.Budgets
        if (values.at === undefined) yield* budgets.evaluate(tenantId)
        return yield* budgets.status(tenantId, { budgetId: values.budget, at })
      }).pipe(Effect.catchTag(["BudgetNotFound", "TenantNotFound"], invalid(command)))
    )
    const json = statuses.map(Budgets.statusToJson)
    return values.format === "table" ? new Printed(statusTable(json)) : json
  })

/** A scope as people write it: `tenant`, or `team=search, model=gpt-4o`. */
const scopeText = (scope: unknown): string => {
  const entries = Object.entries(scope !== null && typeof scope === "object" ? scope : {}).filter(([, v]) => v !== undefined && v !== null)
  return entries.length === 0 ? "tenant" : entries.map(([k, v]) => `${k}=${String(v)}`).join(", ")
}

/** Budget status for people: spent against the amount as a bar, and where the forecast lands. */
const statusTable = (statuses: ReadonlyArray<ReturnType<typeof Budgets.statusToJson>>): string =>
  Table.render(
    [
      { header: "budget" },
      { header: "scope" },
      { header: "period" },
      { header: "spent", align: "right" },
      { header: "amount", align: "right" },
      { header: "used" },
      { header: "%", align: "right" },
      { header: "forecast", align: "right" },
      { header: "" }
    ],
    statuses.map((s) => {
      const percent = Number(s.percent)
      return [
        s.budget.name,
        scopeText(s.budget.scope),
        s.period.label,
        `${s.spent} ${s.budget.currency}`,
        s.budget.amount,
        Table.bar(percent / 100),
        `${percent.toFixed(1)}%`,
        `${Number(s.forecast.projectedPercent).toFixed(1)}%`,
        s.forecast.exceeds ? "over budget by period end" : ""
      ]
    })
  )

export const suggest = ({ values }: Parsed<typeof Commands.budgetSuggest.flags>) =>
  Effect.gen(function*() {
    const command = "budget suggest"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const period = yield* Spec.required(command, "period", values.period)
    if (period !== "day" && period !== "week" && period !== "month") {
      return yield* invalidInput(`${command}: --period must be day, week or month, got "${period}"`)
    }
    const lookbackDays = yield* Spec.nonNegativeInt(command, "lookback-days", values["lookback-days"])
    const suggestion = yield* withBudgets(
      command,
      values,
      Budgets.Budgets.use((b) => b.suggest(tenantId, { scope: scopeOf(values), period, lookbackDays })).pipe(
        Effect.catchTag(["InvalidBudget", "TenantNotFound"], invalid(command))
      )
    )
    return Budgets.suggestionToJson(suggestion)
  })

/** A budget error as the CLI's line: the flag at fault where there is one. */
const flagged = (command: string) => (error: Budget.InvalidBudget) =>
  Effect.fail(invalidInput(
    error.field === "scope" || error.field === "(input)"
      ? `${command}: ${error.message}`
      : `${command}: --${flagOf(error.field)}: ${messageOf(error)}`
  ))

export const update = ({ values }: Parsed<typeof Commands.budgetUpdate.flags>) =>
  Effect.gen(function*() {
    const command = "budget update"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const budgetId = yield* Spec.required(command, "budget", values.budget)
    if (values.name === undefined && values.amount === undefined && values.threshold === undefined && values.action === undefined) {
      return yield* invalidInput(`${command}: expected at least one of --name, --amount, --threshold, --action`)
    }
    const scope = scopeOf(values)
    const raw = {
      ...(values.name === undefined ? {} : { name: values.name }),
      ...(values.amount === undefined ? {} : { amount: values.amount }),
      ...(values.threshold === undefined ? {} : { thresholds: values.threshold }),
      ...(values.action === undefined ? {} : { action: values.action }),
      // Fixed: passed on so that a different value is refused with the reason, not ignored.
      ...(values.period === undefined ? {} : { period: values.period }),
      ...(Object.keys(scope).length === 0 ? {} : { scope })
    }
    const decoded = Budget.decodeBudgetPatch(raw)
    if (Result.isFailure(decoded)) return yield* flagged(command)(decoded.failure)
    const budget = yield* withBudgets(
      command,
      values,
      Budgets.Budgets.use((b) => b.update(tenantId, budgetId, decoded.success, { actor: values.by ?? "cli" })).pipe(
        Effect.catchTag("InvalidBudget", flagged(command)),
        Effect.catchTag(["BudgetNotFound", "BudgetArchived"], invalid(command))
      )
    )
    return Budgets.budgetToJson(budget)
  })

export const archive = ({ values }: Parsed<typeof Commands.budgetArchive.flags>) =>
  Effect.gen(function*() {
    const command = "budget archive"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const budgetId = yield* Spec.required(command, "budget", values.budget)
    const budget = yield* withBudgets(
      command,
      values,
      Budgets.Budgets.use((b) => b.archive(tenantId, budgetId, { actor: values.by ?? "cli" })).pipe(
        Effect.catchTag("BudgetNotFound", invalid(command))
      )
    )
    return Budgets.budgetToJson(budget)
  })

export const webhook = ({ values }: Parsed<typeof Commands.budgetWebhook.flags>) =>
  Effect.gen(function*() {
    const command = "budget webhook"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    if (values.remove === true) {
      const removed = yield* withBudgets(command, values, Effect.andThen(requireTenant(command, tenantId), Outbox.Outbox.use((o) => o.removeWebhook(tenantId))))
      return { tenantId, removed }
    }
    const url = yield* Spec.required(command, "url", values.url)
    const secret = yield* Spec.required(command, "secret", values.secret)
    const set = yield* withBudgets(
      command,
      values,
      Outbox.Outbox.use((o) => o.setWebhook(tenantId, { url, secret })).pipe(
        Effect.catchTag(["InvalidWebhook", "TenantNotFound"], invalid(command))
      )
    )
    // The secret stays where it was given; it is not echoed.
    return { tenantId, url: set.url, updatedAt: DateTime.formatIso(set.updatedAt) }
  })
