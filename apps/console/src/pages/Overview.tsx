/**
 * Overview: spend over time (stacked by provider, model, team or project, in the tenant's zone),
 * the top teams, projects, models and customers with their share, the cost at risk (calls without
 * a full price, with the reasons) and unit costs, for one period.
 */
import * as Api from "../Api.ts"
import * as Format from "../Format.ts"
import * as Period from "../Period.ts"
import { setQuery, useLocation } from "../Router.ts"
import { Chart, ShareBars } from "../ui/Chart.tsx"
import { Card, Empty, Money, MoneyList, Show, Stat, useRemote } from "../ui/Parts.tsx"
import { bucketStarts, PeriodPicker, usePeriod } from "../ui/PeriodPicker.tsx"
import { atRiskSources, useViewer, type Viewer } from "../Viewer.ts"

interface MoneyValue {
  readonly amount: string
  readonly currency: string
}

interface Group {
  readonly provider: string | null
  readonly model: string | null
  readonly team: string | null
  readonly project: string | null
  readonly customer: string | null
}

interface Bucket {
  readonly start: string
  readonly group: Group
  readonly requests: number
  readonly spend: ReadonlyArray<MoneyValue>
}

interface Report {
  readonly __typename: "UsageReport"
  readonly buckets: ReadonlyArray<Bucket>
}

interface UnitCost {
  readonly kind: string
  readonly units: number
  readonly requests: number
  readonly spend: ReadonlyArray<MoneyValue>
  readonly average: ReadonlyArray<MoneyValue>
  readonly unattributedRequests: number
  readonly unattributedSpend: ReadonlyArray<MoneyValue>
}

interface CoverageEntry {
  readonly model: string
  readonly provider: string | null
  readonly status: string
  readonly calls: number
  readonly tokensAtRisk: number
  readonly costAtRisk: MoneyValue | null
  readonly costAtRiskBasis: string | null
  readonly missingComponents: ReadonlyArray<string>
  readonly reason: string | null
}

interface AtRiskCall {
  readonly requestId: string
  readonly occurredAt: string
  readonly provider: string
  readonly model: string
  readonly costSource: string
  readonly unpricedReason: string | null
}

export interface OverviewAnswer {
  readonly series: Report | Api.ErrorResult
  readonly totals: ({ readonly __typename: "UsageReport"; readonly totals: { readonly requests: number; readonly unpricedRequests: number; readonly estimatedRequests: number; readonly spend: ReadonlyArray<MoneyValue>; readonly tokens: { readonly total: number } } }) | Api.ErrorResult
  readonly teams: Report | Api.ErrorResult
  readonly projects: Report | Api.ErrorResult
  readonly models: Report | Api.ErrorResult
  readonly customers: Report | Api.ErrorResult
  readonly unitCosts: ({ readonly __typename: "UnitCosts"; readonly units: ReadonlyArray<UnitCost> }) | Api.ErrorResult
  readonly coverage: ({ readonly __typename: "CoverageReport"; readonly costAtRisk: ReadonlyArray<MoneyValue>; readonly unmatchedCalls: number; readonly unpricedBucketCalls: number; readonly entries: ReadonlyArray<CoverageEntry> }) | Api.ErrorResult
  readonly atRisk: ({ readonly __typename: "UsageRecordConnection"; readonly pageInfo: { readonly hasNextPage: boolean }; readonly edges: ReadonlyArray<{ readonly node: AtRiskCall }> }) | Api.ErrorResult
}

const groupFields = "group { provider model team project customer } requests spend { amount currency }"

const report = (name: string, args: string) =>
  `${name}: usage(from: $from, to: $to, ${args}) { __typename ... on UsageReport { buckets { start ${groupFields} } } ${Api.errorFields} }`

// Three requests, each well within the API's query cost limit, asked at once.
export const seriesQuery = `query OverviewSeries($from: DateTime!, $to: DateTime!, $granularity: Granularity!, $by: [UsageDimension!]!) {
  ${report("series", "granularity: $granularity, groupBy: $by")}
  totals: usage(from: $from, to: $to, granularity: TOTAL) { __typename ... on UsageReport { totals { requests unpricedRequests estimatedRequests spend { amount currency } tokens { total } } } ${Api.errorFields} }
}`

export const topsQuery = `query OverviewTops($from: DateTime!, $to: DateTime!) {
  ${report("teams", "granularity: TOTAL, groupBy: [TEAM]")}
  ${report("projects", "granularity: TOTAL, groupBy: [PROJECT]")}
  ${report("models", "granularity: TOTAL, groupBy: [PROVIDER, MODEL]")}
  ${report("customers", "granularity: TOTAL, groupBy: [CUSTOMER]")}
}`

export const riskQuery = `query OverviewRisk($from: DateTime!, $to: DateTime!, $atRisk: [CostSource!]!) {
  unitCosts(from: $from, to: $to) { __typename ... on UnitCosts { units { kind units requests spend { amount currency } average { amount currency } unattributedRequests unattributedSpend { amount currency } } } ${Api.errorFields} }
  coverage(from: $from, to: $to) { __typename ... on CoverageReport { costAtRisk { amount currency } unmatchedCalls unpricedBucketCalls entries { model provider status calls tokensAtRisk costAtRisk { amount currency } costAtRiskBasis missingComponents reason } } ${Api.errorFields} }
  atRisk: usageRecords(first: 100, filter: { from: $from, to: $to, costSource: $atRisk }) { __typename ... on UsageRecordConnection { pageInfo { hasNextPage } edges { node { requestId occurredAt provider model costSource unpricedReason } } } ${Api.errorFields} }
}`

export const stackDimensions = [
  { value: "PROVIDER", label: "Provider", key: "provider" },
  { value: "MODEL", label: "Model", key: "model" },
  { value: "TEAM", label: "Team", key: "team" },
  { value: "PROJECT", label: "Project", key: "project" }
] as const

type StackKey = typeof stackDimensions[number]["key"]

/** The currency charts and shares are in: the tenant's, unless all spend is in another. */
const chartCurrency = (viewer: Viewer, spend: ReadonlyArray<MoneyValue>): string =>
  spend.some((m) => m.currency === viewer.tenant.currency) || spend.length === 0 ? viewer.tenant.currency : spend[0]!.currency

const spendIn = (spend: ReadonlyArray<MoneyValue>, currency: string): MoneyValue | undefined => spend.find((m) => m.currency === currency)

export const OverviewPage = () => {
  const viewer = useViewer()
  const { period, span } = usePeriod()
  const location = useLocation()
  const by = stackDimensions.find((d) => d.value === location.query.get("by")) ?? stackDimensions[0]
  const zone = viewer.tenant.timeZone
  const granularity = period === undefined ? "DAY" : Period.granularityFor(period)
  const [remote, reload] = useRemote(async () => {
    if (period === undefined) return undefined
    const range = Period.toRange(period, zone)
    const [series, tops, risk] = await Promise.all([
      Api.request<Pick<OverviewAnswer, "series" | "totals">>(seriesQuery, { ...range, granularity, by: [by.value] }),
      Api.request<Pick<OverviewAnswer, "teams" | "projects" | "models" | "customers">>(topsQuery, { ...range }),
      Api.request<Pick<OverviewAnswer, "unitCosts" | "coverage" | "atRisk">>(riskQuery, { ...range, atRisk: atRiskSources(viewer) })
    ])
    return { ...series, ...tops, ...risk } satisfies OverviewAnswer
  }, [period?.from, period?.to, by.value])

  if (period === undefined) return <p class="loading" role="status">Finding the period your calls are in…</p>
  return (
    <>
      <PeriodPicker period={period} span={span} />
      {span === null
        ? (
          <Empty title="No calls recorded yet">
            <p>
              Send usage to <code>POST /api/v1/usage/ingest</code> with an ingest or admin key (the curl that <code>pnpm start</code> prints sends
              {" "}<code>examples/usage-events.json</code>), from OTLP traces or NATS (see <code>docs/worker.md</code>).
              Each call then appears here priced.
            </p>
          </Empty>
        )
        : null}
      <Show remote={remote} what="spend" retry={reload}>
        {(answer) => answer === undefined ? null : <Overview answer={answer} period={period} by={by.key} byValue={by.value} granularity={granularity} />}
      </Show>
    </>
  )
}

const Overview = (props: { readonly answer: OverviewAnswer; readonly period: Period.Period; readonly by: StackKey; readonly byValue: string; readonly granularity: Period.Granularity }) => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const totals = Api.unwrap(props.answer.totals, "UsageReport").totals
  const currency = chartCurrency(viewer, totals.spend)
  const total = Format.toNumber(spendIn(totals.spend, currency)?.amount)
  const range = Period.toRange(props.period, zone)
  const otherCurrencies = totals.spend.filter((m) => m.currency !== currency)
  return (
    <div class="grid">
      <Card title="Summary" class="span-all">
        <dl class="stats">
          <Stat label="Spend" testId="spend"><MoneyList spend={totals.spend} /></Stat>
          <Stat label="Calls" testId="requests">{Format.count(totals.requests)}</Stat>
          <Stat label="Unpriced calls" testId="unpriced" {...(totals.unpricedRequests > 0 ? { hint: "not in spend; see cost at risk" } : {})}>{Format.count(totals.unpricedRequests)}</Stat>
          <Stat label="Estimated usage" testId="estimated" hint="calls whose tokens were partly counted by Tally">{Format.count(totals.estimatedRequests)}</Stat>
          <Stat label="Tokens" testId="tokens">{Format.count(totals.tokens.total)}</Stat>
        </dl>
        <p class="note">Amounts are exact, as recorded; <a href={`/calls?from=${props.period.from}&to=${props.period.to}`}>see every call</a>.</p>
      </Card>
      <SpendOverTime {...props} currency={currency} otherCurrencies={otherCurrencies} />
      <TopCard title="Top teams" report={props.answer.teams} pick={(g) => g.team} none="(no team)" currency={currency} total={total} filterKey="team" range={range} />
      <TopCard title="Top projects" report={props.answer.projects} pick={(g) => g.project} none="(no project)" currency={currency} total={total} filterKey="project" range={range} />
      <TopCard title="Top models" report={props.answer.models} pick={(g) => g.model === null ? null : `${g.provider ?? "?"} / ${g.model}`} none="(unknown)" currency={currency} total={total} filterKey="model" range={range} />
      <TopCard title="Top customers" report={props.answer.customers} pick={(g) => g.customer} none="(no customer)" currency={currency} total={total} filterKey="customer" range={range} />
      <CostAtRisk answer={props.answer} period={props.period} />
      <UnitCosts answer={props.answer} />
    </div>
  )
}

const SpendOverTime = (props: {
  readonly answer: OverviewAnswer
  readonly period: Period.Period
  readonly by: StackKey
  readonly byValue: string
  readonly granularity: Period.Granularity
  readonly currency: string
  readonly otherCurrencies: ReadonlyArray<MoneyValue>
}) => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const report = Api.unwrap(props.answer.series, "UsageReport")
  const starts = bucketStarts(props.period, props.granularity, zone)
  const index = new Map(starts.map((t, i) => [t, i]))
  const byGroup = new Map<string, Array<number>>()
  const totalOf = new Map<string, number>()
  for (const bucket of report.buckets) {
    const name = bucket.group[props.by] ?? `(no ${props.by})`
    const amount = Format.toNumber(spendIn(bucket.spend, props.currency)?.amount)
    const i = index.get(Date.parse(bucket.start))
    if (i === undefined) continue
    const values = byGroup.get(name) ?? new Array<number>(starts.length).fill(0)
    values[i]! += amount
    byGroup.set(name, values)
    totalOf.set(name, (totalOf.get(name) ?? 0) + amount)
  }
  // The 7 largest groups, the rest together.
  const ranked = [...byGroup.keys()].sort((a, b) => (totalOf.get(b) ?? 0) - (totalOf.get(a) ?? 0))
  const shown = ranked.slice(0, 7)
  const rest = ranked.slice(7)
  const series = shown.map((name) => ({ label: name, values: byGroup.get(name)! }))
  if (rest.length > 0) {
    series.push({ label: `${rest.length} more`, values: starts.map((_, i) => rest.reduce((sum, name) => sum + byGroup.get(name)![i]!, 0)) })
  }
  const formatX = (seconds: number) => props.granularity === "HOUR" ? Format.hour(seconds * 1000, zone) : props.granularity === "MONTH" ? Format.day(seconds * 1000, zone).replace(/^\d+ /, "") : Format.day(seconds * 1000, zone).replace(/ \d{4}$/, "")
  const unit = props.granularity === "HOUR" ? "hour" : props.granularity === "DAY" ? "day" : "month"
  return (
    <Card
      title="Spend over time"
      class="span-all"
      actions={
        <div class="segmented" role="group" aria-label="Stack spend by">
          {stackDimensions.map((d) => (
            <button type="button" key={d.value} class="chip" aria-pressed={d.value === props.byValue} onClick={() => setQuery({ by: d.value })}>{d.label}</button>
          ))}
        </div>
      }
    >
      {report.buckets.length === 0
        ? <Empty title="No spend in this period">
            <p>Pick a period with calls above (<em>All data</em> shows every day with calls), or send usage: see the curl <code>pnpm start</code> prints.</p>
          </Empty>
        : (
          <Chart
            kind="stacked-bars"
            x={starts.map((t) => t / 1000)}
            series={series}
            formatX={formatX}
            timeZone={zone}
            yLabel={props.currency}
            summary={`Spend per ${unit} in ${props.currency}, stacked by ${props.by}: ${series.map((s) => `${s.label} ${Format.rounded(s.values.reduce((a, b) => a + b, 0))}`).join(", ")}.`}
          />
        )}
      <p class="note">
        Per {unit} of {zone}, in {props.currency}.
        {props.otherCurrencies.length > 0 ? ` Spend in ${props.otherCurrencies.map((m) => m.currency).join(", ")} is not in this chart (currencies are never added together).` : ""}
      </p>
    </Card>
  )
}

const TopCard = (props: {
  readonly title: string
  readonly report: Report | Api.ErrorResult
  readonly pick: (group: Group) => string | null
  readonly none: string
  readonly currency: string
  readonly total: number
  readonly filterKey: string
  readonly range: Period.Range
}) => {
  const report = Api.unwrap(props.report, "UsageReport")
  const rows = report.buckets
    .map((b) => ({ name: props.pick(b.group), requests: b.requests, spend: b.spend, value: Format.toNumber(spendIn(b.spend, props.currency)?.amount) }))
    .sort((a, b) => b.value - a.value || b.requests - a.requests)
  const top = rows.slice(0, 8)
  const slug = props.title.toLowerCase().replace(/\s+/g, "-")
  return (
    <Card title={props.title}>
      {rows.length === 0 ? <Empty title="Nothing here yet"><p>No calls in this period.</p></Empty> : (
        <>
          <ShareBars label={`${props.title} by share of spend`} rows={top.map((r) => ({ label: r.name ?? props.none, value: r.value, text: Format.percent(r.value, props.total) }))} />
          <table class="data" data-table={slug}>
            <caption class="visually-hidden">{props.title}: spend, calls and share of the period's spend in {props.currency}</caption>
            <thead><tr><th scope="col">Name</th><th scope="col" class="num">Spend</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Share</th></tr></thead>
            <tbody>
              {top.map((r) => (
                <tr key={r.name ?? ""} data-name={r.name ?? ""}>
                  <th scope="row">{r.name ?? <span class="muted">{props.none}</span>}</th>
                  <td class="num"><MoneyList spend={r.spend} /></td>
                  <td class="num">{Format.count(r.requests)}</td>
                  <td class="num">{Format.percent(r.value, props.total)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {rows.length > top.length ? <p class="note">{rows.length - top.length} more not shown.</p> : null}
          <p class="note">Shares of {props.currency} spend, rounded to 0.1%.</p>
        </>
      )}
    </Card>
  )
}

const CostAtRisk = (props: { readonly answer: OverviewAnswer; readonly period: Period.Period }) => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const coverage = Api.unwrap(props.answer.coverage, "CoverageReport")
  const atRisk = Api.unwrap(props.answer.atRisk, "UsageRecordConnection")
  const totals = Api.unwrap(props.answer.totals, "UsageReport").totals
  const sources = atRiskSources(viewer)
  const reasons = new Map<string, { count: number; source: string; example: AtRiskCall }>()
  for (const { node } of atRisk.edges) {
    const reason = node.unpricedReason ?? `cost source ${node.costSource}`
    const entry = reasons.get(reason)
    if (entry === undefined) reasons.set(reason, { count: 1, source: node.costSource, example: node })
    else entry.count++
  }
  const described = (name: string) => viewer.costSources.find((s) => s.name === name)?.description ?? name
  return (
    <Card title="Cost at risk" class="span-all">
      {totals.unpricedRequests === 0 && atRisk.edges.length === 0 && coverage.entries.length === 0
        ? <Empty title="Every call in this period is priced"><p>Nothing at risk: no call lacks a price.</p></Empty>
        : (
          <>
            <dl class="stats">
              <Stat label="Unpriced calls" testId="risk-unpriced">{Format.count(totals.unpricedRequests)}</Stat>
              <Stat label="Estimated cost at risk" testId="risk-cost" hint="by the coverage report, with today's prices"><MoneyList spend={coverage.costAtRisk} /></Stat>
              <Stat label="Unmatched model calls" testId="risk-unmatched">{Format.count(coverage.unmatchedCalls)}</Stat>
              <Stat label="Calls missing a bucket's price" testId="risk-buckets">{Format.count(coverage.unpricedBucketCalls)}</Stat>
            </dl>
            <p class="note">Sources counted as at risk: {sources.map((s) => `${s} (${described(s)})`).join("; ")}.</p>
            <h3>Reasons</h3>
            <table class="data" data-table="risk-reasons">
              <thead><tr><th scope="col">Reason</th><th scope="col">Source</th><th scope="col" class="num">Calls</th><th scope="col">Example</th></tr></thead>
              <tbody>
                {[...reasons.entries()].map(([reason, r]) => (
                  <tr key={reason}>
                    <th scope="row" class="wrap">{reason}</th>
                    <td><span class={`pill source-${r.source.toLowerCase()}`}>{r.source}</span></td>
                    <td class="num">{Format.count(r.count)}</td>
                    <td><a href={`/calls?id=${encodeURIComponent(r.example.requestId)}`}>{r.example.requestId}</a> <span class="muted">{Format.instant(r.example.occurredAt, zone)}</span></td>
                  </tr>
                ))}
              </tbody>
            </table>
            {atRisk.pageInfo.hasNextPage ? <p class="note">Reasons of the latest 100 calls at risk; <a href={`/calls?from=${props.period.from}&to=${props.period.to}&source=${sources.join(",")}`}>list them all</a>.</p> : null}
            {coverage.entries.length === 0 ? null : (
              <>
                <h3>Models without a full price</h3>
                <table class="data" data-table="coverage">
                  <thead><tr><th scope="col">Model</th><th scope="col">Status</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Tokens at risk</th><th scope="col" class="num">Cost at risk</th><th scope="col">What is missing</th></tr></thead>
                  <tbody>
                    {coverage.entries.map((e) => (
                      <tr key={`${e.provider}/${e.model}/${e.status}`}>
                        <th scope="row">{e.provider ?? "?"} / {e.model}</th>
                        <td><span class={`pill status-${e.status.toLowerCase()}`}>{e.status.replace(/_/g, " ").toLowerCase()}</span></td>
                        <td class="num">{Format.count(e.calls)}</td>
                        <td class="num">{Format.count(e.tokensAtRisk)}</td>
                        <td class="num">{e.costAtRisk === null ? <span class="muted" title={e.costAtRiskBasis ?? undefined}>not estimated</span> : <Money amount={e.costAtRisk.amount} currency={e.costAtRisk.currency} />}</td>
                        <td class="wrap">{e.reason ?? (e.missingComponents.length > 0 ? `no price for ${e.missingComponents.join(", ")}` : "")}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                <p class="note">Add a price for these models on the <a href="/models">Models</a> page (admin), or see <a href="/models?tab=coverage">coverage</a>.</p>
              </>
            )}
          </>
        )}
    </Card>
  )
}

const unitLabels: Record<string, string> = { REQUEST: "Per request", WORKFLOW: "Per workflow", END_USER: "Per end user", CUSTOMER: "Per customer", FEATURE: "Per feature" }

const UnitCosts = (props: { readonly answer: OverviewAnswer }) => {
  const units = Api.unwrap(props.answer.unitCosts, "UnitCosts").units
  return (
    <Card title="Unit costs" class="span-all">
      <table class="data" data-table="unit-costs">
        <thead>
          <tr><th scope="col">Unit</th><th scope="col" class="num">Average per unit</th><th scope="col" class="num">Units</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Spend</th><th scope="col" class="num">Unattributed calls</th><th scope="col" class="num">Unattributed spend</th></tr>
        </thead>
        <tbody>
          {units.map((u) => (
            <tr key={u.kind} data-kind={u.kind}>
              <th scope="row">{unitLabels[u.kind] ?? u.kind}</th>
              <td class="num"><MoneyList spend={u.average} /></td>
              <td class="num">{Format.count(u.units)}</td>
              <td class="num">{Format.count(u.requests)}</td>
              <td class="num"><MoneyList spend={u.spend} /></td>
              <td class="num">{Format.count(u.unattributedRequests)}</td>
              <td class="num"><MoneyList spend={u.unattributedSpend} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="note">Averages are the API's, rounded half-even to 10 decimals; calls without the label are unattributed and not in the average.</p>
    </Card>
  )
}
