/**
 * Commitments from scripts, against the configured database. JSON on stdout.
 *
 *   tally commitment create --tenant T --name N --kind spend|provisioned --currency C --starts-at ISO
 *                           [--provider P] [--model M] [--deployment D] [--ends-at ISO]
 *                           [--discount-percent P --amount A] | [--fee F --fee-period hour|month]
 *   tally commitment list --tenant T [--all]
 *   tally commitment archive --tenant T --commitment ID
 *   tally commitment report --tenant T --commitment ID --from ISO --to ISO
 *   tally commitment focus --tenant T --from ISO --to ISO
 *   tally commitment break-even --tenant T --currency C --fee F --fee-period hour|month [--provider P] [--model M] [--deployment D] [--at ISO]
 */
import { Commitment, CostAllocation } from "@tally/core"
import { Commitments as CommitmentEngine, FocusCommitments } from "@tally/engine"
import { Commitments, Store } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { type DatabaseFlags, type Failure, invalid, requireTenant, withDatabase } from "../CommandDatabase.ts"
import { invalidInput } from "../CliError.ts"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { parseAt } from "./Cost.ts"

type Services = Store.Services

/** Runs `effect` over the store of the configured database. */
export const withStore = <A>(command: string, values: DatabaseFlags, effect: Effect.Effect<A, Failure, Services>) =>
  withDatabase(command, values, (database) => Store.layerWith(database), effect)

/** `discountPercent` → `--discount-percent`: a field error as the flag it came from. */
export const byFlag = (command: string) => (error: { readonly field: string; readonly message: string }) => {
  const flag = error.field.replace(/\[\d+]$/, "").replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
  const message = error.message.startsWith(`${error.field}: `) ? error.message.slice(error.field.length + 2) : error.message
  return Effect.fail(invalidInput(`${command}: --${flag}: ${message}`))
}

/** An optional ISO flag as the ISO text the decoders take. */
export const instant = (command: string, flag: string, value: string | undefined) =>
  value === undefined ? Effect.succeed(undefined) : Effect.map(parseAt(command, value, `--${flag}`), (date) => date.toISOString())

const defined = (entries: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined))

export const create = ({ values }: Parsed<typeof Commands.commitmentCreate.flags>) =>
  Effect.gen(function*() {
    const command = "commitment create"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const input = defined({
      name: values.name,
      kind: values.kind,
      provider: values.provider,
      model: values.model,
      deployment: values.deployment,
      currency: values.currency,
      discountPercent: values["discount-percent"],
      amount: values.amount,
      fee: values.fee,
      feePeriod: values["fee-period"],
      startsAt: yield* instant(command, "starts-at", values["starts-at"]),
      endsAt: yield* instant(command, "ends-at", values["ends-at"])
    })
    const created = yield* withStore(
      command,
      values,
      Effect.andThen(requireTenant(command, tenantId), CommitmentEngine.create(tenantId, input)).pipe(
        Effect.catchTag("InvalidCommitment", byFlag(command))
      )
    )
    return Commitment.toJson(created)
  })

export const list = ({ values }: Parsed<typeof Commands.commitmentList.flags>) =>
  Effect.gen(function*() {
    const command = "commitment list"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const found = yield* withStore(
      command,
      values,
      Effect.andThen(
        requireTenant(command, tenantId),
        Commitments.Commitments.use((store) => store.list(tenantId, { includeArchived: values.all === true }))
      )
    )
    return found.map(Commitment.toJson)
  })

export const archive = ({ values }: Parsed<typeof Commands.commitmentArchive.flags>) =>
  Effect.gen(function*() {
    const command = "commitment archive"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const id = yield* Spec.required(command, "commitment", values.commitment)
    const archived = yield* withStore(
      command,
      values,
      CommitmentEngine.archive(tenantId, id).pipe(Effect.catchTag("CommitmentNotFound", invalid(command)))
    )
    return Commitment.toJson(archived)
  })

export const report = ({ values }: Parsed<typeof Commands.commitmentReport.flags>) =>
  Effect.gen(function*() {
    const command = "commitment report"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const id = yield* Spec.required(command, "commitment", values.commitment)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const to = yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")
    const result = yield* withStore(
      command,
      values,
      CommitmentEngine.report(tenantId, id, DateTime.fromDateUnsafe(from), DateTime.fromDateUnsafe(to)).pipe(
        Effect.catchTag("CommitmentNotFound", invalid(command)),
        Effect.catchTag("InvalidCommitment", byFlag(command))
      )
    )
    return Commitment.reportToJson(result)
  })

/** The FOCUS 1.3 Contract Commitment dataset and Purchase rows of the period, as JSON records. */
export const focus = ({ values }: Parsed<typeof Commands.commitmentFocus.flags>) =>
  Effect.gen(function*() {
    const command = "commitment focus"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const to = yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")
    if (to.getTime() <= from.getTime()) return yield* invalidInput(`${command}: --to: expected an instant after --from`)
    const assembled = yield* withStore(
      command,
      values,
      Effect.andThen(requireTenant(command, tenantId), FocusCommitments.assemble(tenantId, DateTime.fromDateUnsafe(from), DateTime.fromDateUnsafe(to))).pipe(
        Effect.catchTag("TenantNotFound", invalid(command))
      )
    )
    return {
      contractCommitments: CostAllocation.Focus.contractCommitmentRows(assembled.commitments),
      purchases: CostAllocation.Focus.purchaseRows(assembled.tenant, assembled.purchases)
    }
  })

export const breakEven = ({ values }: Parsed<typeof Commands.commitmentBreakEven.flags>) =>
  Effect.gen(function*() {
    const command = "commitment break-even"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const input = defined({
      provider: values.provider,
      model: values.model,
      deployment: values.deployment,
      currency: values.currency,
      fee: values.fee,
      feePeriod: values["fee-period"],
      at: yield* instant(command, "at", values.at)
    })
    const result = yield* withStore(
      command,
      values,
      Effect.andThen(requireTenant(command, tenantId), CommitmentEngine.breakEven(tenantId, input)).pipe(
        Effect.catchTag("InvalidCommitment", byFlag(command))
      )
    )
    return { from: DateTime.formatIso(result.from), to: DateTime.formatIso(result.to), currency: values.currency, ...Commitment.breakEvenToJson(result) }
  })
