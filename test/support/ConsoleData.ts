/**
 * A tenant with a month of traffic a console can show: calls every hour for 34 days across teams,
 * projects, customers and models (one model unknown to the catalog, so some calls are unpriced),
 * raw provider payloads, a spend spike for anomaly detection, budgets (one crossing its thresholds),
 * and chargeback runs (one finalized, then late usage, then a draft with corrections).
 *
 * Times are relative to now, so the console's default period (the last 30 days) holds the data.
 */
import { readFileSync } from "node:fs"
import { Anomalies } from "../../packages/engine/src/index.ts"
import { client, ingest, newTenant, type TestTenant, usageEvent } from "./Graphql.ts"
import { type InProcess, sample } from "./Worker.ts"
import * as DateTime from "../../apps/worker/node_modules/effect/dist/DateTime.js"
import { Effect } from "./Workspace.ts"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const HOUR = 3_600_000

/** A small deterministic generator (mulberry32): the same data on every run. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const teams = ["search", "support", "platform", "growth"]
const projects: Record<string, ReadonlyArray<string>> = {
  search: ["search-api", "ranking"],
  support: ["support-bot"],
  platform: ["gateway", "evals"],
  growth: ["onboarding"]
}
const customers = ["acme", "globex", "initech", "umbrella", "hooli"]
const models = [
  { provider: "openai", model: "gpt-4o", weight: 3 },
  { provider: "openai", model: "gpt-4o-mini", weight: 5 },
  { provider: "anthropic", model: "claude-sonnet-4-5", weight: 3 },
  { provider: "anthropic", model: "claude-haiku-4-5", weight: 2 },
  { provider: "google", model: "gemini-2.5-flash", weight: 2 },
  { provider: "openai", model: "acme-finetune-x", weight: 1 } // no price: unpriced calls, cost at risk
]

const pick = <A>(next: () => number, items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
const pickModel = (next: () => number) => {
  const total = models.reduce((s, m) => s + m.weight, 0)
  let x = next() * total
  for (const m of models) {
    x -= m.weight
    if (x < 0) return m
  }
  return models[0]!
}

export interface ConsoleData {
  readonly tenant: TestTenant
  /** A request id of a raw OpenAI payload (the demo sample's first call). */
  readonly rawCallId: string
  readonly budgetIds: ReadonlyArray<string>
  readonly finalRunId: string
  readonly draftRunId: string
  readonly findings: number
}

/** `YYYY-MM` of an instant in the tenant's zone. */
const monthOf = (millis: number) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Berlin", year: "numeric", month: "2-digit" }).format(new Date(millis)).slice(0, 7)

export const seed = async (server: InProcess, now = Date.now()): Promise<ConsoleData> => {
  const tenant = await newTenant(server, { name: "Acme Corp", timeZone: "Europe/Berlin" })
  const next = random(20)
  const lastHour = Math.floor(now / HOUR) * HOUR - 2 * HOUR
  const firstHour = lastHour - 34 * 24 * HOUR
  // The month before the current one is charged back, finalized, and then receives late usage,
  // which the current month's run carries as corrections.
  const thisMonth = monthOf(now)
  const thisMonthStart = Date.parse(`${thisMonth}-01T00:00:00Z`)
  const lastMonth = monthOf(thisMonthStart - 3 * 24 * HOUR)
  const lateAt = thisMonthStart - 5 * 24 * HOUR
  const events: Array<unknown> = []
  const spikeHour = lastHour - 3 * 24 * HOUR
  let n = 0
  for (let hour = firstHour; hour <= lastHour; hour += HOUR) {
    const local = new Date(hour).getUTCHours()
    const busy = local >= 7 && local <= 18 ? 3 : 1
    for (let i = 0; i < busy; i++) {
      const team = pick(next, teams)
      const m = pickModel(next)
      events.push(usageEvent(`c-${n++}`, new Date(hour + Math.floor(next() * HOUR)).toISOString(), {
        provider: m.provider,
        model: m.model,
        labels: {
          team,
          project: pick(next, projects[team]!),
          customer: pick(next, customers),
          feature: pick(next, ["answer", "summarize", "classify"]),
          environment: "prod",
          workflow: `wf-${Math.floor(next() * 400)}`,
          user: `user-${Math.floor(next() * 60)}`
        },
        inputText: 2_000 + Math.floor(next() * 20_000),
        outputText: 200 + Math.floor(next() * 2_000)
      }))
    }
  }
  // A few large calls of the last minutes: every current budget period has spend whatever today's
  // date, and the support bot's daily cap is crossed (alerts).
  for (let i = 0; i < 6; i++) {
    events.push(usageEvent(`now-${i}`, new Date(now - (i + 1) * 60_000).toISOString(), {
      model: "gpt-4o",
      labels: { team: "search", project: i % 2 === 0 ? "search-api" : "support-bot", customer: "acme", environment: "prod" },
      inputText: 1_000_000,
      outputText: 20_000
    }))
  }
  // A runaway loop of one project for an hour: the spend spike anomaly detection finds.
  for (let i = 0; i < 12; i++) {
    events.push(usageEvent(`spike-${i}`, new Date(spikeHour + i * 4 * 60_000).toISOString(), {
      provider: "openai",
      model: "gpt-4o",
      labels: { team: "search", project: "ranking", customer: "acme", feature: "classify", environment: "prod" },
      inputText: 300_000,
      outputText: 40_000
    }))
  }
  // Budgets first: ingest records their threshold crossings as the usage lands.
  const admin = client(server, tenant.admin)
  const budgets: Json = await admin.request(`mutation {
    search: createBudget(input: { name: "Search team, monthly", period: MONTH, amount: "25", thresholds: ["50", "80", "100"], scope: { team: "search" } }) { ... on Budget { id } }
    all: createBudget(input: { name: "All LLM spend, monthly", period: MONTH, amount: "400", thresholds: ["80", "100"] }) { ... on Budget { id } }
    daily: createBudget(input: { name: "Support bot, daily cap", period: DAY, amount: "5", action: BLOCK, scope: { project: "support-bot" } }) { ... on Budget { id } }
  }`)
  // A change, kept in the budget's history.
  await admin.request(`mutation($id: ID!) { updateBudget(id: $id, input: { thresholds: ["50", "80", "100"] }) { __typename } }`, { id: budgets.all.id })

  // A contract price for gpt-4o from two weeks ago: the model's history has a second version.
  const override: Json = await admin.request(`mutation($from: String!) {
    setPriceOverride(definitionId: "openai/gpt-4o", reason: "2026 contract",
      price: { rates: { inputText: "2.25", cacheRead: "1.125", outputText: "9" }, effectiveFrom: $from, note: "2026 contract: 10% off" }) { __typename ... on Error { message } }
  }`, { from: new Date(lastHour - 14 * 24 * HOUR).toISOString().slice(0, 10) })
  if (override.setPriceOverride.__typename !== "PriceOverride") throw new Error(`price override failed: ${JSON.stringify(override)}`)
  await ingest(server, tenant, events)
  // Raw provider payloads (the demo's sample), as of two days ago.
  const raw = (JSON.parse(readFileSync(sample, "utf8")) as Array<Json>).map((e, i) => ({
    ...e,
    requestId: `raw-${e.requestId}`,
    occurredAt: new Date(lastHour - 2 * 24 * HOUR + i * 60_000).toISOString()
  }))
  await ingest(server, tenant, raw)

  const first: Json = await admin.request(`mutation($month: String!) {
    runChargeback(input: { month: $month, dimension: "team", shared: ["platform"], rule: { kind: PROPORTIONAL } }) { ... on ChargebackRun { id } ... on Error { message } }
  }`, { month: lastMonth })
  const finalRunId = first.runChargeback.id
  if (finalRunId === undefined) throw new Error(`chargeback run failed: ${JSON.stringify(first)}`)
  await admin.request(`mutation($id: ID!) { finalizeChargebackRun(id: $id) { __typename } }`, { id: finalRunId })
  // Late usage of the finalized month: the next run of that month carries corrections.
  await ingest(server, tenant, [
    usageEvent("late-1", new Date(lateAt).toISOString(), { model: "gpt-4o", labels: { team: "support", project: "support-bot" }, inputText: 400_000, outputText: 30_000 }),
    usageEvent("late-2", new Date(lateAt + HOUR).toISOString(), { model: "gpt-4o", labels: { team: "growth", project: "onboarding" }, inputText: 200_000, outputText: 10_000 })
  ])
  const second: Json = await admin.request(`mutation($month: String!) {
    runChargeback(input: { month: $month, dimension: "team", shared: ["platform"], rule: { kind: PROPORTIONAL } }) { ... on ChargebackRun { id } ... on Error { message } }
  }`, { month: thisMonth })
  const draftRunId = second.runChargeback.id
  if (draftRunId === undefined) throw new Error(`chargeback run failed: ${JSON.stringify(second)}`)

  const detection = await server.run(Anomalies.Anomalies.use((a) =>
    a.detectRange({ tenantId: tenant.id, from: DateTime.makeUnsafe(firstHour + 8 * 24 * HOUR), to: DateTime.makeUnsafe(lastHour + HOUR) })
  ).pipe(Effect.provide(Anomalies.Anomalies.layer), Effect.orDie))
  return {
    tenant,
    rawCallId: (raw[0] as Json).requestId,
    budgetIds: [budgets.search.id, budgets.all.id, budgets.daily.id],
    finalRunId,
    draftRunId,
    findings: detection.recorded.length
  }
}
