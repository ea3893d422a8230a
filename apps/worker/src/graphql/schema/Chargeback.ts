/**
 * Showback and chargeback: what each owner (team, cost center, any label) spent in a period and
 * what it is charged, with shared and unowned cost split by a rule. A run stores its lines with
 * the inputs it used and, once finalized, never changes; late usage becomes correction lines of
 * the next run. The computation is the chargeback engine's; these resolvers only call it.
 */
import { CostAllocation, Money } from "@tally/core"
import { Chargeback } from "@tally/engine"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { builder, changeErrors, lookupErrors, readErrors } from "../builder.ts"
import type { GraphqlContext } from "../Context.ts"
import { InvalidInput } from "../Errors.ts"
import * as Paging from "../Paging.ts"
import { MoneyRef } from "./Common.ts"
import { AtRiskComponentRef } from "./CostAtRisk.ts"

const RuleKindEnum = builder.enumType("ChargebackRuleKind", {
  description: "How shared and unowned cost is split among owners.",
  values: {
    PROPORTIONAL: { value: "proportional", description: "In proportion to each owner's attributed spend." },
    EVEN: { value: "even", description: "Evenly among owners (those with spend, or those listed in `among`)." },
    FIXED: { value: "fixed", description: "By fixed percentages that sum to exactly 100." },
    NONE: { value: "none", description: "Not split: it stays on the unallocated line." }
  } as const
})

const ShareInput = builder.inputType("ChargebackShareInput", {
  fields: (t) => ({
    owner: t.string({ required: true }),
    percent: t.field({ type: "Decimal", required: true })
  })
})

const RuleInput = builder.inputType("ChargebackRuleInput", {
  fields: (t) => ({
    kind: t.field({ type: RuleKindEnum, required: true }),
    among: t.stringList({ description: "EVEN: the owners to split among." }),
    shares: t.field({ type: [ShareInput], description: "FIXED: percent per owner, summing to 100." })
  })
})

const ChargebackInput = builder.inputType("ChargebackInput", {
  description: "A period (`from` and `to`, or a calendar `month` of the tenant's zone) and who owns cost.",
  fields: (t) => ({
    from: t.field({ type: "DateTime" }),
    to: t.field({ type: "DateTime" }),
    month: t.string({ description: "YYYY-MM in the tenant's time zone." }),
    dimension: t.string({ required: true, description: "`team`, `costCenter`, any other label, `model`, `provider` or `tag:<key>`." }),
    rule: t.field({ type: RuleInput, description: "PROPORTIONAL by default." }),
    shared: t.stringList({ description: "Owners whose cost is shared: pooled with the unowned cost and split by the rule." }),
    currency: t.string({ description: "The tenant's currency by default." })
  })
})

type InputShape = typeof ChargebackInput.$inferInput

/** The GraphQL input as the engine's JSON form, decoded (and named field by field) by the engine. */
const runInput = (input: InputShape): CostAllocation.Input.RunInput => {
  const rule = input.rule == null
    ? undefined
    : input.rule.kind === "fixed"
    ? { kind: "fixed", shares: Object.fromEntries((input.rule.shares ?? []).map((s) => [s.owner, Money.format(s.percent)])) }
    : input.rule.kind === "even"
    ? { kind: "even", ...(input.rule.among == null ? {} : { among: input.rule.among }) }
    : { kind: input.rule.kind }
  const json = {
    ...(input.from == null ? {} : { from: DateTime.formatIso(input.from) }),
    ...(input.to == null ? {} : { to: DateTime.formatIso(input.to) }),
    ...(input.month == null ? {} : { month: input.month }),
    dimension: input.dimension,
    ...(rule === undefined ? {} : { rule }),
    ...(input.shared == null ? {} : { shared: input.shared }),
    ...(input.currency == null ? {} : { currency: input.currency })
  }
  const decoded = CostAllocation.Input.decodeRunInput(json)
  if (Result.isFailure(decoded)) throw new InvalidInput(decoded.failure.message, `input.${decoded.failure.field}`)
  return decoded.success
}

const encodeRule = Schema.encodeSync(CostAllocation.Rules.RuleInput)

const LineKindEnum = builder.enumType("ChargebackLineKind", {
  values: {
    OWNER: { value: "owner", description: "An owner's attributed spend plus its share of shared cost." },
    UNALLOCATED: { value: "unallocated", description: "Cost no rule could place." },
    CORRECTION: { value: "correction", description: "Late usage of a finalized run's period." }
  } as const
})

const LineRef = builder.objectRef<Chargeback.Line>("ChargebackLine").implement({
  fields: (t) => ({
    lineNo: t.exposeInt("lineNo"),
    kind: t.field({ type: LineKindEnum, resolve: (l) => l.kind }),
    owner: t.exposeString("owner", { nullable: true }),
    direct: t.expose("direct", { type: "Decimal", description: "Attributed spend, exact." }),
    allocated: t.expose("allocated", { type: "Decimal", description: "Share of shared and unowned cost, exact." }),
    amount: t.expose("amount", { type: "Decimal", description: "Charged: rounded to the currency's minor unit so lines sum exactly to the total." }),
    currency: t.exposeString("currency"),
    requests: t.field({ type: "Long", resolve: (l) => l.requestCount }),
    correctsRunId: t.exposeString("correctsRunId", { nullable: true })
  })
})

const InputsRef = builder.objectRef<Chargeback.Inputs>("ChargebackInputs").implement({
  description: "What a computation used, so it can be checked and reproduced.",
  fields: (t) => ({
    ledgerTotal: t.expose("ledgerTotal", { type: "Decimal", description: "Exact spend of the period in the run's currency." }),
    roundedTotal: t.expose("roundedTotal", { type: "Decimal" }),
    requests: t.field({ type: "Long", resolve: (i) => i.requestCount }),
    unpricedRequests: t.field({ type: "Long", description: "Calls of the period without a price: not in the spend.", resolve: (i) => i.unpricedCount }),
    partialRequests: t.field({ type: "Long", description: "Calls of the period priced in part: their priced lines are in the spend, the usage without a price is not.", resolve: (i) => i.partialCount }),
    atRisk: t.field({ type: [AtRiskComponentRef], description: "The period's usage without a price (partial and unpriced calls), most calls first: what the spend leaves out.", resolve: (i) => i.atRisk }),
    otherCurrencies: t.field({ type: [MoneyRef], description: "Spend in other currencies: not in this run.", resolve: (i) => i.otherCurrencies }),
    snapshotIds: t.exposeStringList("snapshotIds"),
    checkedRunIds: t.field({ type: ["String"], description: "Finalized runs re-checked for late usage.", resolve: (i) => i.checked }),
    sha256: t.exposeString("sha256", { description: "Hash of the canonical inputs." })
  })
})

const ComputationRef = builder.objectRef<Chargeback.Computation>("ChargebackComputation").implement({
  description: "Showback: the lines of a run for the period, computed now and not stored.",
  fields: (t) => ({
    from: t.expose("from", { type: "DateTime" }),
    to: t.expose("to", { type: "DateTime" }),
    dimension: t.exposeString("dimension"),
    currency: t.exposeString("currency"),
    rule: t.field({ type: "JSON", resolve: (c) => encodeRule(c.rule) }),
    ruleVersion: t.exposeString("ruleVersion"),
    shared: t.exposeStringList("shared"),
    total: t.expose("total", { type: "Decimal", description: "Sum of the lines, exactly." }),
    lines: t.field({ type: [LineRef], resolve: (c) => c.lines }),
    inputs: t.field({ type: InputsRef, resolve: (c) => c.inputs }),
    asOf: t.expose("asOf", { type: "DateTime", description: "The ledger as of this instant." })
  })
})

const StatusEnum = builder.enumType("ChargebackRunStatus", {
  values: { DRAFT: { value: "draft" }, FINAL: { value: "final", description: "Immutable." } } as const
})

const AuditRef = builder.objectRef<Chargeback.AuditEntry>("ChargebackAuditEntry").implement({
  fields: (t) => ({
    action: t.exposeString("action"),
    actor: t.exposeString("actor", { description: "The API key id that did it (or `system`)." }),
    at: t.expose("at", { type: "DateTime" })
  })
})

const FocusVersionEnum = builder.enumType("FocusVersion", {
  description: "FinOps FOCUS specification version of an export.",
  values: { V1_3: { value: "1.3", description: "FOCUS 1.3 (the default)." }, V1_2: { value: "1.2" } } as const
})

interface FocusExport {
  readonly version: CostAllocation.Focus.Version
  readonly rows: ReadonlyArray<CostAllocation.Focus.Row>
}

const FocusExportRef = builder.objectRef<FocusExport>("FocusExport").implement({
  description: "A run's FinOps FOCUS rows, as the CSV export writes them.",
  fields: (t) => ({
    version: t.field({ type: FocusVersionEnum, resolve: (e) => e.version }),
    columns: t.stringList({ resolve: (e) => [...CostAllocation.Focus.columnsOf(e.version)] }),
    rowCount: t.int({ resolve: (e) => e.rows.length }),
    csv: t.string({ description: "RFC 4180 CSV, header first (the same bytes as the HTTP export).", resolve: (e) => CostAllocation.Csv.focus(e.rows, e.version) })
  })
})

const RunRef = builder.objectRef<Chargeback.Run>("ChargebackRun").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    status: t.field({ type: StatusEnum, resolve: (r) => r.status }),
    from: t.expose("from", { type: "DateTime" }),
    to: t.expose("to", { type: "DateTime" }),
    dimension: t.exposeString("dimension"),
    currency: t.exposeString("currency"),
    rule: t.field({ type: "JSON", resolve: (r) => encodeRule(r.rule) }),
    ruleVersion: t.exposeString("ruleVersion"),
    shared: t.exposeStringList("shared"),
    total: t.expose("total", { type: "Decimal" }),
    lines: t.field({ type: [LineRef], resolve: (r) => r.lines }),
    inputs: t.field({ type: InputsRef, resolve: (r) => r.inputs }),
    asOf: t.expose("asOf", { type: "DateTime" }),
    createdBy: t.exposeString("createdBy"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    finalizedBy: t.exposeString("finalizedBy", { nullable: true }),
    finalizedAt: t.expose("finalizedAt", { type: "DateTime", nullable: true }),
    audit: t.field({ type: [AuditRef], resolve: (r) => r.audit }),
    focus: t.field({
      type: FocusExportRef,
      description: "The run's FOCUS rows (1.3 unless `version` says 1.2).",
      complexity: 20,
      args: { version: t.arg({ type: FocusVersionEnum }) },
      resolve: async (r, args, context) => {
        const version = args.version ?? CostAllocation.Focus.defaultVersion
        const { rows } = await context.run(Chargeback.Chargeback.use((chargeback) => chargeback.focus(context.tenantId, r.id, { version })))
        return { version, rows }
      }
    })
  })
})

const RunSummaryRef = builder.objectRef<Chargeback.RunSummary>("ChargebackRunSummary").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    status: t.field({ type: StatusEnum, resolve: (r) => r.status }),
    from: t.expose("from", { type: "DateTime" }),
    to: t.expose("to", { type: "DateTime" }),
    dimension: t.exposeString("dimension"),
    currency: t.exposeString("currency"),
    total: t.expose("total", { type: "Decimal" }),
    ruleVersion: t.exposeString("ruleVersion"),
    inputsSha256: t.exposeString("inputsSha256"),
    lineCount: t.exposeInt("lineCount"),
    createdBy: t.exposeString("createdBy"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    finalizedAt: t.expose("finalizedAt", { type: "DateTime", nullable: true }),
    run: t.field({
      type: RunRef,
      description: "The run with its lines and audit trail.",
      resolve: (r, _args, context) => context.run(Chargeback.Chargeback.use((chargeback) => chargeback.get(context.tenantId, r.id)))
    })
  })
})

builder.queryField("showback", (t) =>
  t.field({
    type: ComputationRef,
    description: "What each owner spent and would be charged in the period; nothing is stored.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: 50,
    args: { input: t.arg({ type: ChargebackInput, required: true }) },
    resolve: (_root, { input }, context) =>
      context.run(Chargeback.Chargeback.use((chargeback) => chargeback.showback(context.tenantId, runInput(input))))
  }))

builder.queryField("chargebackRuns", (t) =>
  t.connection({
    type: RunSummaryRef,
    description: "Stored runs, newest first.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(20),
    args: { status: t.arg({ type: StatusEnum }) },
    resolve: async (_root, args, context) => {
      const limit = Paging.forwardSize(args, "runs", { fallback: 20, max: 100 })
      const page = await context.run(Chargeback.Chargeback.use((chargeback) =>
        chargeback.list(context.tenantId, {
          limit: Math.max(1, limit),
          ...(args.after == null ? {} : { after: args.after }),
          ...(args.status == null ? {} : { status: args.status })
        })
      ))
      // The engine pages by run id: a run's id is the cursor of the page after it.
      return Paging.connection(page.runs.slice(0, limit), (run) => run.id, {
        hasNextPage: page.hasMore || page.runs.length > limit,
        hasPreviousPage: args.after != null
      })
    }
  },
    { name: "ChargebackRunConnection" },
    { name: "ChargebackRunEdge" }
  ))

builder.queryField("chargebackRun", (t) =>
  t.field({
    type: RunRef,
    authScopes: { read: true },
    errors: { types: [...lookupErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.run(Chargeback.Chargeback.use((chargeback) => chargeback.get(context.tenantId, String(args.id))))
  }))

builder.mutationField("runChargeback", (t) =>
  t.field({
    type: RunRef,
    description: "Computes and stores a draft run for the period.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: ChargebackInput, required: true }) },
    resolve: (_root, { input }, context: GraphqlContext) =>
      context.run(Chargeback.Chargeback.use((chargeback) =>
        chargeback.run(context.tenantId, { ...runInput(input), createdBy: context.key.keyId })
      ))
  }))

builder.mutationField("finalizeChargebackRun", (t) =>
  t.field({
    type: RunRef,
    description: "Makes a draft final: from then on neither it nor its lines change.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) =>
      context.run(Chargeback.Chargeback.use((chargeback) =>
        chargeback.finalize(context.tenantId, String(args.id), { finalizedBy: context.key.keyId })
      ).pipe(Effect.withSpan("graphql.finalizeChargebackRun")))
  }))
