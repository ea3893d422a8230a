/**
 * Anomalies: a timeline of findings in the period (newest first), each with its evidence, and the
 * series around a chosen finding (hourly spend of its scope two days before to a day after, the
 * finding's window shaded, its expected value as a reference line).
 */
import { Fragment } from "preact"
import * as Api from "../Api.ts"
import * as Format from "../Format.ts"
import * as Period from "../Period.ts"
import { setQuery, useLocation } from "../Router.ts"
import { Chart } from "../ui/Chart.tsx"
import { Card, Empty, JsonBlock, Money, Show, useRemote } from "../ui/Parts.tsx"
import { PeriodPicker, usePeriod } from "../ui/PeriodPicker.tsx"
import { useViewer } from "../Viewer.ts"

export interface Finding {
  readonly id: string
  readonly kind: string
  readonly severity: "INFO" | "WARNING" | "CRITICAL"
  readonly scope: { readonly kind: string; readonly value: string | null }
  readonly windowStart: string
  readonly windowEnd: string
  readonly detectedAt: string
  readonly observed: string
  readonly expected: string
  readonly currency: string | null
  readonly score: string
  readonly statistic: string
  readonly summary: string
  readonly evidence: unknown
}

export const anomaliesQuery = `query Anomalies($from: DateTime!, $to: DateTime!) {
  anomalies(from: $from, to: $to, first: 100) { __typename ... on AnomalyConnection { pageInfo { hasNextPage } edges { node {
    id kind severity scope { kind value } windowStart windowEnd detectedAt observed expected currency score statistic summary evidence
  } } } ${Api.errorFields} }
}`

const seriesQuery = `query Around($from: DateTime!, $to: DateTime!, $filter: UsageFilter) {
  usage(from: $from, to: $to, granularity: HOUR, filter: $filter) { __typename ... on UsageReport { buckets { start requests spend { amount currency } tokens { total } } } ${Api.errorFields} }
}`

/** A finding's scope as a usage filter (the tenant's scope is every call). */
const filterOf = (scope: Finding["scope"]): Record<string, Array<string>> => {
  if (scope.value === null) return {}
  const key = scope.kind === "apiKey" ? "apiKeyId" : scope.kind
  return { [key]: [scope.value] }
}

const kindLabel = (kind: string) => kind.replace(/_/g, " ").toLowerCase()

export const AnomaliesPage = () => {
  const viewer = useViewer()
  const { period, span } = usePeriod()
  const location = useLocation()
  const zone = viewer.tenant.timeZone
  const selected = location.query.get("finding")
  const [remote, reload] = useRemote(async () => {
    if (period === undefined) return undefined
    const answer = await Api.request<{ anomalies: { __typename: "AnomalyConnection"; pageInfo: { hasNextPage: boolean }; edges: ReadonlyArray<{ node: Finding }> } | Api.ErrorResult }>(
      anomaliesQuery,
      { ...Period.toRange(period, zone) }
    )
    return Api.unwrap(answer.anomalies, "AnomalyConnection")
  }, [period?.from, period?.to])
  if (period === undefined) return <p class="loading" role="status">Finding the period your calls are in…</p>
  return (
    <>
      <PeriodPicker period={period} span={span} />
      <Show remote={remote} what="findings" retry={reload}>
        {(connection) => {
          if (connection === undefined) return null
          const findings = connection.edges.map((e) => e.node)
          if (findings.length === 0) {
            return (
              <Empty title="No anomalies in this period">
                <p>
                  Detection runs at five past each hour over the hours before (spend spikes, cost per request jumps, token rate spikes, model mix
                  shifts per tenant, project, team, customer, key and model); it needs a week of history to judge. Pick a longer period, or run it now
                  with <code>pnpm tally anomalies detect</code>.
                </p>
              </Empty>
            )
          }
          const chosen = findings.find((f) => f.id === selected) ?? findings[0]!
          let lastDay = ""
          return (
            <div class="split">
              <Card title={`Timeline (${findings.length}${connection.pageInfo.hasNextPage ? "+" : ""})`} class="timeline-card">
                <ol class="timeline">
                  {findings.map((f) => {
                    const dayLabel = Format.day(f.windowStart, zone)
                    const heading = dayLabel === lastDay ? null : <li class="timeline-day" aria-hidden="true">{dayLabel}</li>
                    lastDay = dayLabel
                    return (
                      <Fragment key={f.id}>
                        {heading}
                        <li class={`finding severity-${f.severity.toLowerCase()}`}>
                          <a href={`/anomalies?from=${period.from}&to=${period.to}&finding=${f.id}`} aria-current={f.id === chosen.id ? "true" : undefined} onClick={(e) => {
                            e.preventDefault()
                            setQuery({ finding: f.id })
                          }}>
                            <span class={`pill severity-${f.severity.toLowerCase()}`}>{f.severity.toLowerCase()}</span>{" "}
                            <strong>{kindLabel(f.kind)}</strong> · {f.scope.value === null ? "whole tenant" : `${f.scope.kind} ${f.scope.value}`}
                            <span class="muted"> {Format.hour(f.windowStart, zone)}</span>
                          </a>
                        </li>
                      </Fragment>
                    )
                  })}
                </ol>
              </Card>
              <FindingDetail finding={chosen} />
            </div>
          )
        }}
      </Show>
    </>
  )
}

const FindingDetail = (props: { readonly finding: Finding }) => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const f = props.finding
  const windowStart = Date.parse(f.windowStart)
  const windowEnd = Date.parse(f.windowEnd)
  const from = new Date(Math.floor((windowStart - 48 * 3_600_000) / 3_600_000) * 3_600_000)
  const to = new Date(Math.ceil((windowEnd + 24 * 3_600_000) / 3_600_000) * 3_600_000)
  const [remote] = useRemote(async () => {
    const answer = await Api.request<{ usage: { __typename: "UsageReport"; buckets: ReadonlyArray<{ start: string; requests: number; spend: ReadonlyArray<{ amount: string; currency: string }>; tokens: { total: number } }> } | Api.ErrorResult }>(
      seriesQuery,
      { from: from.toISOString(), to: to.toISOString(), filter: filterOf(f.scope) }
    )
    return Api.unwrap(answer.usage, "UsageReport").buckets
  }, [f.id])
  const tokens = f.kind === "TOKEN_RATE_SPIKE"
  const currency = f.currency ?? viewer.tenant.currency
  return (
    <Card title={kindLabel(f.kind)} id="finding" class="finding-detail">
      <p class="summary">{f.summary}</p>
      <dl class="facts">
        <dt>Scope</dt><dd>{f.scope.value === null ? "the whole tenant" : `${f.scope.kind} ${f.scope.value}`}</dd>
        <dt>Window</dt><dd>{Format.instant(f.windowStart, zone)} – {Format.instant(f.windowEnd, zone)}</dd>
        <dt>Observed</dt><dd>{f.currency === null ? f.observed : <Money amount={f.observed} currency={f.currency} />}</dd>
        <dt>Expected</dt><dd>{f.currency === null ? f.expected : <Money amount={f.expected} currency={f.currency} />}</dd>
        <dt>Statistic</dt><dd>{f.statistic} = {f.score}</dd>
        <dt>Detected</dt><dd>{Format.instant(f.detectedAt, zone)}</dd>
      </dl>
      <h3>The series around it</h3>
      <Show remote={remote} what="the series">
        {(buckets) => {
          const starts: Array<number> = []
          for (let t = from.getTime(); t < to.getTime(); t += 3_600_000) starts.push(t)
          const byStart = new Map(buckets.map((b) => [Date.parse(b.start), b]))
          const values = starts.map((t) => {
            const b = byStart.get(t)
            if (b === undefined) return 0
            return tokens ? b.tokens.total : Format.toNumber(b.spend.find((m) => m.currency === currency)?.amount)
          })
          const expected = f.kind === "SPEND_SPIKE" ? [{ label: "expected", value: Format.toNumber(f.expected), color: "#059669" }] : []
          return (
            <Chart
              kind="lines"
              x={starts.map((t) => t / 1000)}
              series={[{ label: tokens ? "tokens per hour" : `spend per hour (${currency})`, values, color: "#2563eb" }]}
              levels={expected}
              highlight={{ from: windowStart / 1000, to: windowEnd / 1000 }}
              formatX={(s) => Format.hour(s * 1000, zone)}
              timeZone={zone}
              caption="Rounded for display; the finding's figures above are exact. The shaded band is its window."
              height={220}
              summary={`Hourly ${tokens ? "tokens" : "spend"} of ${f.scope.value ?? "the tenant"} from two days before the finding to a day after; the finding's window is shaded.`}
            />
          )
        }}
      </Show>
      <h3>Evidence</h3>
      <JsonBlock label="The finding's evidence" value={f.evidence} />
    </Card>
  )
}
