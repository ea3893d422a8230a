/**
 * Prepaid credits from scripts, against the configured database. JSON on stdout.
 *
 *   tally credits grant --tenant T (--customer C | --team T) --unit USD|tokens --amount A [--priority N]
 *                       [--effective-at ISO] [--expires-at ISO] [--alert-at X]... [--enforce] [--note TEXT]
 *   tally credits list --tenant T [--customer C | --team T] [--all]
 *   tally credits balance --tenant T (--customer C | --team T) [--at ISO]
 *   tally credits void --tenant T --grant ID
 */
import { Credit, Money } from "@tally/core"
import { Credits as CreditEngine } from "@tally/engine"
import { Credits } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { invalid, requireTenant } from "../CommandDatabase.ts"
import { invalidInput } from "../CliError.ts"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { byFlag, instant, withStore } from "./Commitments.ts"
import { parseAt } from "./Cost.ts"

const accountOf = (command: string, values: { readonly customer?: string | undefined; readonly team?: string | undefined }) =>
  (values.customer === undefined) === (values.team === undefined)
    ? Effect.fail(invalidInput(`${command}: give exactly one of --customer and --team`))
    : Effect.succeed<Credit.Account>(values.customer !== undefined ? { kind: "customer", id: values.customer } : { kind: "team", id: values.team! })

export const grant = ({ values }: Parsed<typeof Commands.creditsGrant.flags>) =>
  Effect.gen(function*() {
    const command = "credits grant"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const priority = values.priority === undefined ? undefined : Number(values.priority)
    if (priority !== undefined && !Number.isInteger(priority)) {
      return yield* invalidInput(`${command}: --priority: expected a whole number, got "${values.priority}"`)
    }
    const input = Object.fromEntries(
      Object.entries({
        customer: values.customer,
        team: values.team,
        unit: values.unit,
        amount: values.amount,
        priority,
        effectiveAt: yield* instant(command, "effective-at", values["effective-at"]),
        expiresAt: yield* instant(command, "expires-at", values["expires-at"]),
        alertThresholds: values["alert-at"],
        enforce: values.enforce === true ? true : undefined,
        note: values.note
      }).filter(([, v]) => v !== undefined)
    )
    const created = yield* withStore(
      command,
      values,
      Effect.andThen(requireTenant(command, tenantId), CreditEngine.grant(tenantId, input)).pipe(
        Effect.catchTag("InvalidCredit", (error) => byFlag(command)(error.field === "alertThresholds" ? { ...error, field: "alertAt" } : error))
      )
    )
    return Credit.toJson(created)
  })

export const list = ({ values }: Parsed<typeof Commands.creditsList.flags>) =>
  Effect.gen(function*() {
    const command = "credits list"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const account = values.customer === undefined && values.team === undefined ? undefined : yield* accountOf(command, values)
    const grants = yield* withStore(
      command,
      values,
      Effect.andThen(
        requireTenant(command, tenantId),
        Credits.Credits.use((store) => store.list(tenantId, { account, includeVoided: values.all === true }))
      )
    )
    return grants.map(Credit.toJson)
  })

export const balance = ({ values }: Parsed<typeof Commands.creditsBalance.flags>) =>
  Effect.gen(function*() {
    const command = "credits balance"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const account = yield* accountOf(command, values)
    const at = values.at === undefined ? undefined : DateTime.fromDateUnsafe(yield* parseAt(command, values.at))
    const balances = yield* withStore(
      command,
      values,
      Effect.andThen(requireTenant(command, tenantId), CreditEngine.balance(tenantId, account, at))
    )
    return balances.map((b) => ({
      [b.account.kind]: b.account.id,
      unit: b.unit,
      balance: Money.format(b.balance),
      granted: Money.format(b.granted),
      grants: b.grants.map(Credit.toJson)
    }))
  })

export const voidGrant = ({ values }: Parsed<typeof Commands.creditsVoid.flags>) =>
  Effect.gen(function*() {
    const command = "credits void"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const id = yield* Spec.required(command, "grant", values.grant)
    const voided = yield* withStore(command, values, CreditEngine.voidGrant(tenantId, id).pipe(Effect.catchTag("GrantNotFound", invalid(command))))
    return Credit.toJson(voided)
  })
