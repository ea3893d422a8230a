/**
 * The worker's metrics, shared by every intake (HTTP, OTLP, the NATS consumer) and rendered in
 * Prometheus text format at `GET /metrics`.
 *
 * Built on Effect's `Metric` module, whose registry is a context reference with one process-wide
 * default, so every fiber of the worker updates the same series (the engine's webhook delivery
 * counts its attempts there too).
 *
 * Counted as events land (this process's share):
 * - `tally_events_total{status}`: events by outcome (inserted, duplicate, conflict, rejected).
 * - `tally_ingest_batch_seconds`: from handing a batch to the pipeline to its commit.
 * - `tally_calls_total{provider,model,cost_source}`: calls recorded, by how they were priced
 *   (`computed`, `provider`, `estimated`, `partial`, `unpriced`).
 * - `tally_spend_total{provider,model,currency}`: their billed amount (a float: for dashboards;
 *   the ledger keeps the exact decimals).
 * - `tally_tokens_total{provider,model,direction}`: their tokens, `input` or `output`.
 * - `tally_otlp_spans_skipped_total`: OTLP spans without GenAI usage, skipped.
 * - `tally_http_request_duration_seconds{method,route,status}`: every HTTP request, by route pattern.
 * - `tally_webhook_deliveries_total{outcome}`: webhook attempts, `delivered` or `failed`.
 *
 * Read from the database when scraped (the same for every worker of one database):
 * - `tally_outbox_messages{status}`: webhook messages `pending` delivery and `dead`.
 * - `tally_budgets_active`, `tally_budgets_exceeded`, `tally_budget_utilization_max_ratio`:
 *   active budgets of every tenant, how many spent their amount this period, and the highest
 *   spent/amount.
 * - `tally_consumer_lag`: messages the JetStream consumer has not yet been delivered (set by it).
 *
 * Labels are bounded: `provider` and `model` name the matched catalog definition (`unmatched`
 * when none matched), and after `maxModelSeries` distinct pairs further models count as `other`.
 */
import { Budgets, type Ingest, WebhookDelivery } from "@tally/engine"
import { Outbox, Tenants } from "@tally/store"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { PrometheusMetrics } from "effect/observability"

export type EventStatus = "inserted" | "duplicate" | "conflict" | "rejected"

export const statuses: ReadonlyArray<EventStatus> = ["inserted", "duplicate", "conflict", "rejected"]

/** Distinct (provider, model) label pairs before further models count as `other`. */
export const maxModelSeries = 500

export interface MetricsService {
  /** Counts a committed batch: its outcomes, what it cost, its tokens, and how long it took in seconds. */
  readonly recordBatch: (result: Ingest.IngestResult, seconds: number) => Effect.Effect<void>
  /** Sets the consumer lag gauge (pending messages). */
  readonly setConsumerLag: (pending: number) => Effect.Effect<void>
  readonly recordSkippedSpans: (count: number) => Effect.Effect<void>
  /** One HTTP request answered: its method, route pattern, status and seconds. */
  readonly recordRequest: (request: { readonly method: string; readonly route: string; readonly status: number; readonly seconds: number }) => Effect.Effect<void>
  /** Every metric of the process in Prometheus text exposition format, the database gauges read first. */
  readonly render: Effect.Effect<string>
}

const events = Metric.counter("tally_events_total", {
  description: "Usage events by outcome: inserted, duplicate, conflict, rejected",
  incremental: true
})
const eventsBy = Object.fromEntries(statuses.map((status) => [status, Metric.withAttributes(events, { status })])) as Record<
  EventStatus,
  Metric.Metric<number, Metric.CounterState<number>>
>
const batchSeconds = Metric.histogram("tally_ingest_batch_seconds", {
  description: "Seconds from handing a batch to the ingest pipeline until it committed",
  // 1 ms .. ~16 s
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 15 })
})
const calls = Metric.counter("tally_calls_total", {
  description: "Calls recorded, by provider, model and cost source (computed, provider, estimated, partial, unpriced)",
  incremental: true
})
const spend = Metric.counter("tally_spend_total", {
  description: "Billed amount of the calls recorded, by provider, model and currency (float; the ledger is exact)",
  incremental: true
})
const tokens = Metric.counter("tally_tokens_total", {
  description: "Tokens of the calls recorded, by provider, model and direction (input, output)",
  incremental: true
})
const consumerLag = Metric.gauge("tally_consumer_lag", {
  description: "Messages of the JetStream consumer not yet delivered to this worker"
})
const skippedSpans = Metric.counter("tally_otlp_spans_skipped_total", {
  description: "OTLP spans without GenAI usage attributes, skipped",
  incremental: true
})
const requestSeconds = Metric.histogram("tally_http_request_duration_seconds", {
  description: "Seconds to answer an HTTP request, by method, route pattern and status",
  // 1 ms .. ~8 s
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 14 })
})
const outboxMessages = Metric.gauge("tally_outbox_messages", {
  description: "Webhook messages of every tenant by status: pending (backlog) and dead (given up)"
})
const budgetsActive = Metric.gauge("tally_budgets_active", { description: "Active budgets of every tenant" })
const budgetsExceeded = Metric.gauge("tally_budgets_exceeded", {
  description: "Active budgets whose spend this period reached their amount"
})
const budgetUtilizationMax = Metric.gauge("tally_budget_utilization_max_ratio", {
  description: "The highest spent/amount of any active budget this period (1 = the whole amount)"
})

/** How long a scrape waits for the database gauges before rendering what it has. */
const gaugeTimeout = Duration.seconds(2)

const providerOf = (item: Ingest.IngestItem): string => {
  const definition = item.definition ?? null
  if (definition !== null && definition.includes("/")) return definition.slice(0, definition.indexOf("/"))
  return item.provider ?? "unknown"
}

const modelOf = (item: Ingest.IngestItem): string => {
  const definition = item.definition ?? null
  if (definition === null) return "unmatched"
  return definition.includes("/") ? definition.slice(definition.indexOf("/") + 1) : definition
}

export class Metrics extends Context.Service<Metrics, MetricsService>()("@tally/worker/server/Metrics") {
  /** Needs the budgets and the outbox, which it reads when scraped. */
  static readonly layerWith: Layer.Layer<Metrics, never, Outbox.Outbox | Tenants.Tenants | Budgets.Budgets> = Layer.effect(
    Metrics,
    Effect.gen(function*() {
      const outbox = yield* Outbox.Outbox
      const tenants = yield* Tenants.Tenants
      const budgets = yield* Budgets.Budgets
      // Every unlabelled series exists from the start, so a scrape shows zeros rather than nothing.
      yield* Effect.forEach(statuses, (status) => Metric.update(eventsBy[status], 0), { discard: true })
      yield* Metric.update(consumerLag, 0)
      yield* Metric.update(skippedSpans, 0)
      yield* Effect.forEach(["delivered", "failed"], (outcome) =>
        Metric.update(Metric.withAttributes(WebhookDelivery.deliveries, { outcome }), 0), { discard: true })

      const seen = new Set<string>()
      const labels = (item: Ingest.IngestItem) => {
        const provider = providerOf(item)
        const model = modelOf(item)
        const key = `${provider}\u0000${model}`
        if (seen.has(key) || seen.size < maxModelSeries) {
          seen.add(key)
          return { provider, model }
        }
        return { provider, model: "other" }
      }

      // A batch's inserted calls summed per series first, then one update per series: a metric
      // update builds its series key (attributes sorted and serialized), which per call was a
      // visible share of the worker's CPU at high ingest rates.
      interface ModelSums {
        readonly provider: string
        readonly model: string
        readonly calls: Map<string, number>
        readonly spend: Map<string, number>
        input: number
        output: number
      }
      const recordCalls = (items: ReadonlyArray<Ingest.IngestItem>) => {
        const byModel = new Map<string, ModelSums>()
        for (const item of items) {
          if (item.status !== "inserted") continue
          const { provider, model } = labels(item)
          const key = `${provider}\u0000${model}`
          let sums = byModel.get(key)
          if (sums === undefined) {
            sums = { provider, model, calls: new Map(), spend: new Map(), input: 0, output: 0 }
            byModel.set(key, sums)
          }
          const costSource = item.costSource ?? "unpriced"
          sums.calls.set(costSource, (sums.calls.get(costSource) ?? 0) + 1)
          sums.input += item.inputTokens ?? 0
          sums.output += item.outputTokens ?? 0
          if (item.total != null && item.currency != null) {
            sums.spend.set(item.currency, (sums.spend.get(item.currency) ?? 0) + Number(item.total))
          }
        }
        const updates: Array<Effect.Effect<void>> = []
        for (const { provider, model, calls: bySource, spend: byCurrency, input, output } of byModel.values()) {
          for (const [cost_source, count] of bySource) updates.push(Metric.update(Metric.withAttributes(calls, { provider, model, cost_source }), count))
          updates.push(Metric.update(Metric.withAttributes(tokens, { provider, model, direction: "input" }), input))
          updates.push(Metric.update(Metric.withAttributes(tokens, { provider, model, direction: "output" }), output))
          for (const [currency, amount] of byCurrency) updates.push(Metric.update(Metric.withAttributes(spend, { provider, model, currency }), amount))
        }
        return Effect.all(updates, { discard: true })
      }

      const recordBatch = (result: Ingest.IngestResult, seconds: number) =>
        Effect.all([
          Metric.update(eventsBy.inserted, result.inserted),
          Metric.update(eventsBy.duplicate, result.duplicates),
          Metric.update(eventsBy.conflict, result.conflicts),
          Metric.update(eventsBy.rejected, result.rejected),
          Metric.update(batchSeconds, seconds),
          // Only calls really recorded: a replay changes no totals, here either.
          recordCalls(result.items)
        ], { discard: true })

      const budgetGauges = Effect.gen(function*() {
        let active = 0
        let exceeded = 0
        let highest = 0
        for (const tenant of yield* tenants.list) {
          for (const status of yield* budgets.status(tenant.id)) {
            active++
            const ratio = status.budget.amount.isZero() ? 0 : status.spent.div(status.budget.amount).toNumber()
            if (ratio >= 1) exceeded++
            highest = Math.max(highest, ratio)
          }
        }
        yield* Metric.update(budgetsActive, active)
        yield* Metric.update(budgetsExceeded, exceeded)
        yield* Metric.update(budgetUtilizationMax, highest)
      })

      const outboxGauges = Effect.gen(function*() {
        const backlog = yield* outbox.backlog
        yield* Metric.update(Metric.withAttributes(outboxMessages, { status: "pending" }), backlog.pending)
        yield* Metric.update(Metric.withAttributes(outboxMessages, { status: "dead" }), backlog.dead)
      })

      // A database that does not answer leaves the gauges at their last values; the scrape still answers.
      const refreshGauges = Effect.all([outboxGauges, budgetGauges], { discard: true }).pipe(
        Effect.timeoutOrElse({ duration: gaugeTimeout, orElse: () => Effect.logWarning("metrics: the database gauges took over 2 seconds; not refreshed") }),
        Effect.catchCause((cause) => Effect.logWarning("metrics: the database gauges were not refreshed", cause))
      )

      return Metrics.of({
        recordBatch,
        setConsumerLag: (pending) => Metric.update(consumerLag, pending),
        recordSkippedSpans: (count) => Metric.update(skippedSpans, count),
        recordRequest: ({ method, route, status, seconds }) =>
          Metric.update(Metric.withAttributes(requestSeconds, { method, route, status: String(status) }), seconds),
        render: Effect.andThen(refreshGauges, PrometheusMetrics.format())
      })
    })
  )

  /** With its own budgets and outbox services over the store. */
  static readonly layer = Metrics.layerWith.pipe(Layer.provide(Budgets.Budgets.layer), Layer.provide(Outbox.Outbox.layer))
}
