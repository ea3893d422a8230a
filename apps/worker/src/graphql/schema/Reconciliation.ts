/**
 * Reconciliation: the stored run over a period with its findings (ledger rows whose raw payload no
 * longer derives the billed cost, named failures, provider reports that disagree with the ledger),
 * and a mutation that runs it. The work is the engine's (`Reconcile.Run`); these resolvers only
 * load the tenant's book and the uploaded reports (`POST /api/v1/reconcile/reports`) and call it.
 */
import { Money, type Reconciliation } from "@tally/core"
import { Reconcile, TenantPricing } from "@tally/engine"
import { ProviderReports, ReconciliationRuns } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { builder, changeErrors, readErrors } from "../builder.ts"
import { InvalidInput, NotFound } from "../Errors.ts"

const SeverityEnum = builder.enumType("ReconciliationSeverity", {
  values: { ERROR: { value: "error" }, WARNING: { value: "warning" }, INFO: { value: "info" } } as const
})

const decimal = (text: string | null): Money.Decimal | null => (text === null ? null : new Money.Decimal(text))
const instant = (text: string | null): DateTime.Utc | null => (text === null ? null : DateTime.fromDateUnsafe(new Date(text)))

const FindingRef = builder.objectRef<Reconciliation.Finding>("ReconciliationFinding").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    kind: t.exposeString("kind", { description: "e.g. `missing-on-our-side`, `price-drift`, `tokens-but-zero-cost`; see docs/reconciliation.md." }),
    severity: t.field({ type: SeverityEnum, resolve: (f) => f.severity }),
    requestId: t.exposeString("requestId", { nullable: true, description: "The ledger row it concerns, when it concerns one." }),
    occurredAt: t.field({ type: "DateTime", nullable: true, resolve: (f) => instant(f.occurredAt) }),
    provider: t.exposeString("provider", { nullable: true }),
    model: t.exposeString("model", { nullable: true }),
    reportedCost: t.field({ type: "Decimal", nullable: true, description: "The provider's (or the stored) figure, exact.", resolve: (f) => decimal(f.reportedCost) }),
    computedCost: t.field({ type: "Decimal", nullable: true, description: "Ours: re-derived or from the ledger, exact.", resolve: (f) => decimal(f.computedCost) }),
    difference: t.field({ type: "Decimal", nullable: true, resolve: (f) => decimal(f.difference) }),
    currency: t.exposeString("currency", { nullable: true }),
    evidence: t.field({ type: "JSON", description: "Message, token counts on both sides, snapshot ids, report and ledger figures.", resolve: (f) => f.evidence })
  })
})

const RunRef = builder.objectRef<Reconciliation.Run>("ReconciliationRun").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    from: t.field({ type: "DateTime", resolve: (r) => DateTime.fromDateUnsafe(r.period.from) }),
    to: t.field({ type: "DateTime", resolve: (r) => DateTime.fromDateUnsafe(r.period.to) }),
    createdAt: t.field({ type: "DateTime", resolve: (r) => DateTime.fromDateUnsafe(new Date(r.createdAt)) }),
    summary: t.field({
      type: "JSON",
      description: "Rows, re-derived rows matching, findings by severity and kind, billed and re-derived sums per currency (decimal strings), report counts per status.",
      resolve: (r) => r.summary
    }),
    comparisons: t.field({
      type: "JSON",
      description: "Every provider report's lines per day × model × project with their status.",
      resolve: (r) => r.report["comparisons"] ?? []
    }),
    findings: t.field({
      type: [FindingRef],
      description: "Errors first.",
      complexity: 20,
      resolve: (r, _args, context) => context.run(ReconciliationRuns.ReconciliationRuns.use((runs) => runs.findings(context.tenantId, r.id)))
    })
  })
})

/** `[from, to)` as a reconciliation period; `to` must be after `from`. */
const periodOf = (from: DateTime.Utc, to: DateTime.Utc): Reconciliation.Period => {
  if (DateTime.toEpochMillis(to) <= DateTime.toEpochMillis(from)) {
    throw new InvalidInput(`to (${DateTime.formatIso(to)}) must be after from (${DateTime.formatIso(from)})`, "to")
  }
  return { from: DateTime.toDate(from), to: DateTime.toDate(to) }
}

builder.queryField("reconciliation", (t) =>
  t.field({
    type: RunRef,
    nullable: true,
    description: "The newest stored run over exactly `[from, to)`, with its findings; null when none ran.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    args: {
      from: t.arg({ type: "DateTime", required: true }),
      to: t.arg({ type: "DateTime", required: true })
    },
    resolve: (_root, args, context) =>
      context.run(ReconciliationRuns.ReconciliationRuns.use((runs) => runs.latest(context.tenantId, periodOf(args.from, args.to))))
  }))

builder.mutationField("runReconciliation", (t) =>
  t.field({
    type: RunRef,
    description:
      "Re-derives every ledger row of `[from, to)`, compares the given uploaded provider reports (ids from `POST /api/v1/reconcile/reports`; none when omitted), and stores the run with its findings.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: {
      from: t.arg({ type: "DateTime", required: true }),
      to: t.arg({ type: "DateTime", required: true }),
      reportIds: t.arg.idList({ description: "Uploaded reports overlapping the period." })
    },
    resolve: (_root, args, context) => {
      const period = periodOf(args.from, args.to)
      const wanted = (args.reportIds ?? []).map(String)
      const tenantId = context.tenantId
      return context.run(Effect.gen(function*() {
        const uploaded = yield* ProviderReports.ProviderReports.use((reports) => reports.list(tenantId, period))
        const reports: Array<Reconcile.Compare.ParsedReport> = []
        for (const [index, id] of wanted.entries()) {
          const stored = uploaded.find((r) => r.id === id)
          if (stored === undefined) {
            return yield* Effect.fail(new NotFound(`no uploaded provider report ${id} overlaps the period`, "providerReport", id))
          }
          const parsed = Reconcile.Compare.parse(stored.format, stored.content)
          // Stored reports parsed on upload; this only fails if the parser grew stricter since.
          if (Result.isFailure(parsed)) return yield* Effect.fail(new InvalidInput(parsed.failure.message, `reportIds.${index}`))
          reports.push(parsed.success)
        }
        const book = yield* TenantPricing.TenantPricing.use((pricing) => pricing.book(tenantId))
        const report = yield* Reconcile.Run.run({ tenantId, period, book, reports })
        const run = yield* ReconciliationRuns.ReconciliationRuns.use((runs) => runs.get(tenantId, report.runId ?? ""))
        if (run === undefined) return yield* Effect.die(new Error("the reconciliation run was not stored"))
        return run
      }).pipe(Effect.withSpan("graphql.runReconciliation")))
    }
  }))
