/**
 * One decision and model policies from scripts, against the configured database (as `tally
 * budget`). JSON on stdout; a denial is an answer (`"allowed": false`, exit 0), not an error.
 *
 *   tally decide --tenant T --model M [--provider P] [--cost 0.01] [--input-tokens N] [--output-tokens N]
 *                [--reserve [--request-id R] [--ttl-seconds S]]
 *                [--project P] [--environment E] [--feature F] [--team T] [--customer C] [--api-key K]
 *   tally policy create  --tenant T --name N [--allow-provider P]... [--deny-provider P]...
 *                        [--allow-model RULE]... [--deny-model RULE]... [--priced-only]
 *                        [--max-output-tokens N] [--max-cost-per-call D] [scope flags]
 *   tally policy list    --tenant T [--all]
 *   tally policy archive --tenant T --policy ID
 *
 * A model RULE is the catalog's one-line form (`startsWith:gpt-4o`, `regex:^o\d`) or an exact name.
 * The argument parsing is apart from what each command does (`decideInput`, `policyInput`,
 * `runDecide`, ...), so another argument parser can call the same functions.
 */
import { Catalog, ModelPolicy } from "@tally/catalog"
import { Enforcement, Governance } from "@tally/engine"
import { Store } from "@tally/store"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type DatabaseFlags, type Failure, invalid, requireTenant, withDatabase } from "../CommandDatabase.ts"
import { invalidInput } from "../CliError.ts"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { scopeOf } from "./Budget.ts"

type Services = Store.Services | Governance.Governance

/** Runs `effect` over the decision services of the configured database. */
const withGovernance = <A>(command: string, values: DatabaseFlags, effect: Effect.Effect<A, Failure, Services>) =>
  withDatabase(
    command,
    values,
    (database) =>
      Governance.Governance.layer.pipe(
        Layer.provideMerge(Enforcement.Enforcement.layer),
        Layer.provideMerge(Layer.merge(
          Store.layerWith(database),
          // The shipped catalog failing to load is a defect: exit 1, "unexpected error".
          Layer.orDie(Catalog.Catalog.layer)
        ))
      ),
    effect
  )

// tally decide ----------------------------------------------------------------------------------

export interface DecideValues {
  readonly [key: string]: string | boolean | ReadonlyArray<string> | undefined
}

/** The body of a decision from the flags' values (the HTTP body's shape), decoded; errors name the flag. */
export const decideInput = (command: string, values: DecideValues) =>
  Effect.gen(function*() {
    const text = (name: string) => (typeof values[name] === "string" ? values[name] as string : undefined)
    const inputTokens = yield* Spec.nonNegativeInt(command, "input-tokens", text("input-tokens"))
    const outputTokens = yield* Spec.nonNegativeInt(command, "output-tokens", text("output-tokens"))
    const ttlSeconds = yield* Spec.nonNegativeInt(command, "ttl-seconds", text("ttl-seconds"))
    const cost = text("cost")
    const labels = scopeOf(values as never)
    const body = {
      ...(Object.keys(labels).length === 0 ? {} : { labels }),
      model: yield* Spec.required(command, "model", text("model")),
      ...(text("provider") === undefined ? {} : { provider: text("provider") }),
      estimate: {
        ...(cost === undefined ? {} : { cost }),
        ...(inputTokens === undefined ? {} : { inputTokens }),
        ...(outputTokens === undefined ? {} : { outputTokens })
      },
      ...(values.reserve === true ? { reserve: true } : {}),
      ...(text("request-id") === undefined ? {} : { requestId: text("request-id") }),
      ...(ttlSeconds === undefined ? {} : { ttlSeconds })
    }
    const decoded = Governance.decodeDecide(body)
    if (decoded._tag === "Failure") return yield* invalidInput(`${command}: --${flagOfField(decoded.failure.field)}: ${messageOf(decoded.failure)}`)
    return decoded.success
  })

/** `labels.apiKeyId` → `api-key`, `estimate.outputTokens` → `output-tokens`, `maxCostPerCall` → `max-cost-per-call`. */
const flagOfField = (field: string): string => {
  const last = field.split(/[.[]/).filter((part) => part !== "" && !/^\d+]?$/.test(part)).at(-1) ?? field
  if (last === "apiKeyId") return "api-key"
  if (last === "cost") return "cost"
  const singular: Record<string, string> = {
    allowProviders: "allow-provider",
    denyProviders: "deny-provider",
    allowModels: "allow-model",
    denyModels: "deny-model"
  }
  return singular[last] ?? last.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

const messageOf = (error: { readonly field: string; readonly message: string }): string =>
  error.message.startsWith(`${error.field}: `) ? error.message.slice(error.field.length + 2) : error.message

/** Decides for `tenantId`; the JSON answer of `POST /api/v1/decide`. */
export const runDecide = (command: string, values: DatabaseFlags, tenantId: string, input: Governance.DecideInput) =>
  withGovernance(
    command,
    values,
    Governance.Governance.use((g) => g.decide(tenantId, input)).pipe(
      Effect.catchTag(["InvalidEnforcementRequest", "TenantNotFound"], invalid(command)),
      Effect.map(Governance.decisionToJson)
    )
  )

export const decideCommand = ({ values }: Parsed<typeof Commands.decide.flags>) =>
  Effect.gen(function*() {
    const command = "decide"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const input = yield* decideInput(command, values)
    return yield* runDecide(command, values, tenantId, input)
  })

// tally policy -----------------------------------------------------------------------------------

/** A policy's JSON (as `POST /api/v1/policies` takes it) from the flags' values. */
export const policyInput = (command: string, values: DecideValues) =>
  Effect.gen(function*() {
    const list = (name: string) => (Array.isArray(values[name]) ? values[name] as ReadonlyArray<string> : undefined)
    const text = (name: string) => (typeof values[name] === "string" ? values[name] as string : undefined)
    const maxOutputTokens = yield* Spec.nonNegativeInt(command, "max-output-tokens", text("max-output-tokens"))
    const scope = scopeOf(values as never)
    return {
      name: yield* Spec.required(command, "name", text("name")),
      ...(Object.keys(scope).length === 0 ? {} : { scope }),
      ...(list("allow-provider") === undefined ? {} : { allowProviders: list("allow-provider") }),
      ...(list("deny-provider") === undefined ? {} : { denyProviders: list("deny-provider") }),
      ...(list("allow-model") === undefined ? {} : { allowModels: list("allow-model") }),
      ...(list("deny-model") === undefined ? {} : { denyModels: list("deny-model") }),
      ...(values["priced-only"] === true ? { pricedOnly: true } : {}),
      ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
      ...(text("max-cost-per-call") === undefined ? {} : { maxCostPerCall: text("max-cost-per-call") })
    }
  })

/** Creates a policy; bad input is one line naming the flag. */
export const runCreatePolicy = (command: string, values: DatabaseFlags, tenantId: string, input: unknown) =>
  withGovernance(
    command,
    values,
    Governance.Governance.use((g) => g.createPolicy(tenantId, input)).pipe(
      Effect.catchTag("InvalidPolicy", (error) => Effect.fail(invalidInput(`${command}: --${flagOfField(error.field)}: ${messageOf(error)}`))),
      Effect.catchTag("TenantNotFound", invalid(command)),
      Effect.map(ModelPolicy.toJson)
    )
  )

export const createPolicy = ({ values }: Parsed<typeof Commands.policyCreate.flags>) =>
  Effect.gen(function*() {
    const command = "policy create"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    return yield* runCreatePolicy(command, values, tenantId, yield* policyInput(command, values))
  })

export const listPolicies = ({ values }: Parsed<typeof Commands.policyList.flags>) =>
  Effect.gen(function*() {
    const command = "policy list"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const policies = yield* withGovernance(
      command,
      values,
      Effect.andThen(requireTenant(command, tenantId), Governance.Governance.use((g) => g.listPolicies(tenantId, { includeArchived: values.all === true })))
    )
    return policies.map(ModelPolicy.toJson)
  })

export const archivePolicy = ({ values }: Parsed<typeof Commands.policyArchive.flags>) =>
  Effect.gen(function*() {
    const command = "policy archive"
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const policyId = yield* Spec.required(command, "policy", values.policy)
    const policy = yield* withGovernance(
      command,
      values,
      Governance.Governance.use((g) => g.archivePolicy(tenantId, policyId)).pipe(Effect.catchTag("PolicyNotFound", invalid(command)))
    )
    return ModelPolicy.toJson(policy)
  })
