/**
 * Anomalies: spend spikes, token-rate spikes, model-mix shifts and jumps in cost per request that
 * detection recorded for the tenant, with the evidence behind each; and a subscription that sends
 * each new finding as detection records it.
 */
import type { Anomaly } from "@tally/core"
import { AnomalyFindings } from "@tally/store"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { builder, readErrors } from "../builder.ts"
import type { GraphqlContext } from "../Context.ts"
import { InvalidInput } from "../Errors.ts"
import * as Paging from "../Paging.ts"

const KindEnum = builder.enumType("AnomalyKind", {
  values: {
    SPEND_SPIKE: { value: "spend_spike" },
    TOKEN_RATE_SPIKE: { value: "token_rate_spike" },
    MODEL_MIX_SHIFT: { value: "model_mix_shift" },
    COST_PER_REQUEST_JUMP: { value: "cost_per_request_jump" }
  } as const
})

const SeverityEnum = builder.enumType("AnomalySeverity", {
  values: { INFO: { value: "info" }, WARNING: { value: "warning" }, CRITICAL: { value: "critical" } } as const
})

const AnomalyScopeRef = builder.objectRef<Anomaly.Scope>("AnomalyScope").implement({
  description: "What the finding is about: the whole tenant, or one project, feature, team, customer, API key or model.",
  fields: (t) => ({
    kind: t.exposeString("kind"),
    value: t.exposeString("value", { nullable: true })
  })
})

const AnomalyRef = builder.objectRef<Anomaly.Finding>("Anomaly").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    kind: t.field({ type: KindEnum, resolve: (f) => f.kind }),
    scope: t.field({ type: AnomalyScopeRef, resolve: (f) => f.scope }),
    windowStart: t.expose("windowStart", { type: "DateTime" }),
    windowEnd: t.expose("windowEnd", { type: "DateTime" }),
    severity: t.field({ type: SeverityEnum, resolve: (f) => f.severity }),
    currency: t.exposeString("currency", { nullable: true, description: "Of observed and expected when they are money." }),
    observed: t.expose("observed", { type: "Decimal" }),
    expected: t.expose("expected", { type: "Decimal", description: "What the baseline led to expect." }),
    statistic: t.exposeString("statistic"),
    score: t.expose("score", { type: "Decimal" }),
    summary: t.exposeString("summary"),
    evidence: t.field({ type: "JSON", resolve: (f) => f.evidence }),
    detectedAt: t.expose("detectedAt", { type: "DateTime" })
  })
})

builder.queryField("anomalies", (t) =>
  t.connection({
    type: AnomalyRef,
    description: "Findings whose window lies in `[from, to)`, newest window first.",
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(50),
    args: {
      from: t.arg({ type: "DateTime", required: true }),
      to: t.arg({ type: "DateTime", required: true }),
      kinds: t.arg({ type: [KindEnum] })
    },
    resolve: async (_root, args, context) => {
      if (DateTime.toEpochMillis(args.to) <= DateTime.toEpochMillis(args.from)) throw new InvalidInput("to: expected `to` after `from`", "to")
      return Paging.fromArray(args, { fallback: 50, max: 500 }, () =>
        context.run(AnomalyFindings.AnomalyFindings.use((stored) =>
          stored.list(context.tenantId, { from: args.from, to: args.to, limit: 10_000, ...(args.kinds == null ? {} : { kinds: args.kinds }) })
        )))
    }
  },
    { name: "AnomalyConnection" },
    { name: "AnomalyEdge" }
  ))

const sleep = (millis: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, millis)
    signal?.addEventListener("abort", () => {
      clearTimeout(timer)
      resolve()
    }, { once: true })
  })

/** Detection looks back a day or two; a month back is more than enough to see every new finding. */
const lookbackMillis = 31 * 86_400_000

async function* newFindings(context: GraphqlContext, kinds: ReadonlyArray<Anomaly.Kind> | undefined, everyMillis: number) {
  const list = () =>
    context.run(Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const stored = yield* AnomalyFindings.AnomalyFindings
      return yield* stored.list(context.tenantId, {
        from: DateTime.makeUnsafe(now - lookbackMillis),
        limit: 10_000,
        ...(kinds === undefined ? {} : { kinds })
      })
    }))
  // What exists when the subscription starts is history, not news.
  const seen = new Set((await list()).map((f) => f.id))
  while (context.signal?.aborted !== true) {
    await sleep(everyMillis, context.signal)
    const fresh = (await list()).filter((f) => !seen.has(f.id)).reverse()
    for (const finding of fresh) {
      seen.add(finding.id)
      yield finding
    }
  }
}

builder.subscriptionField("anomalyDetected", (t) =>
  t.field({
    type: AnomalyRef,
    description: "Each anomaly as detection records it (not those recorded before subscribing).",
    authScopes: { read: true },
    args: {
      kinds: t.arg({ type: [KindEnum] }),
      everySeconds: t.arg.int({ description: "How often to look for new findings (1 to 300; default a few seconds)." })
    },
    subscribe: (_root, args, context) => {
      if (args.everySeconds != null && !(args.everySeconds >= 1 && args.everySeconds <= 300)) {
        throw new InvalidInput(`everySeconds: expected 1 to 300, got ${args.everySeconds}`, "everySeconds")
      }
      const every = args.everySeconds == null ? context.pollMillis : args.everySeconds * 1000
      return newFindings(context, args.kinds ?? undefined, every)
    },
    resolve: (finding) => finding
  }))
