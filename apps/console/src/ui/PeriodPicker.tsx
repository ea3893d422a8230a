/**
 * The period of a page, kept in its query string (`?from=…&to=…`, days of the tenant's zone). With
 * none given, the page opens on the last 30 days when they hold calls, else on the days the
 * tenant's calls span (`usageSpan`).
 */
import { useEffect, useState } from "preact/hooks"
import * as Api from "../Api.ts"
import { addDays, day } from "../Format.ts"
import * as Period from "../Period.ts"
import { setQuery, useLocation } from "../Router.ts"
import { useViewer } from "../Viewer.ts"

type Span = { readonly first: string; readonly last: string } | null

const spanQuery = `{ usageSpan { __typename ... on UsageSpan { first last } ${Api.errorFields} } }`

let spanCache: Promise<Span> | undefined

/** When the tenant's calls occurred (asked once per page load). */
export const loadSpan = (): Promise<Span> =>
  (spanCache ??= Api.request<{ usageSpan: ({ __typename: "UsageSpan"; first: string; last: string }) | Api.ErrorResult | null }>(spanQuery).then((a) =>
    a.usageSpan === null ? null : Api.unwrap(a.usageSpan, "UsageSpan")
  ).catch((error: unknown) => {
    spanCache = undefined
    throw error
  }))

/** Forget the span after new data may have arrived (a sign-in, a reload). */
export const forgetSpan = () => {
  spanCache = undefined
}

/** The page's period: from the query string, else the default (written to the query string). */
export const usePeriod = (): { readonly period: Period.Period | undefined; readonly span: Span | undefined } => {
  const viewer = useViewer()
  const location = useLocation()
  const chosen = Period.fromQuery(location.query)
  const [span, setSpan] = useState<Span | undefined>(undefined)
  useEffect(() => {
    let live = true
    loadSpan().then((s) => {
      if (!live) return
      setSpan(s)
      if (Period.fromQuery(new URLSearchParams(window.location.search)) === undefined) {
        const initial = Period.initial(Date.now(), viewer.tenant.timeZone, s)
        setQuery({ from: initial.from, to: initial.to })
      }
    }, () => live && setSpan(null))
    return () => {
      live = false
    }
  }, [])
  return { period: chosen, span }
}

export const PeriodPicker = (props: { readonly period: Period.Period; readonly span: Span | undefined }) => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const now = Date.now()
  const presets: Array<{ label: string; period: Period.Period }> = [
    { label: "Last 7 days", period: Period.lastDays(7, now, zone) },
    { label: "Last 30 days", period: Period.lastDays(30, now, zone) },
    { label: "Last 90 days", period: Period.lastDays(90, now, zone) }
  ]
  if (props.span != null) {
    presets.push({ label: "All data", period: Period.ofSpan(props.span, zone) })
  }
  const apply = (period: Period.Period) => setQuery({ from: period.from, to: period.to })
  return (
    <form class="period" aria-label="Period" onSubmit={(e) => e.preventDefault()}>
      <div class="presets" role="group" aria-label="Quick periods">
        {presets.map((p) => (
          <button
            type="button"
            key={p.label}
            class="chip"
            aria-pressed={p.period.from === props.period.from && p.period.to === props.period.to}
            onClick={() => apply(p.period)}
          >
            {p.label}
          </button>
        ))}
      </div>
      <label>
        From <input type="date" value={props.period.from} max={props.period.to} onChange={(e) => {
          const from = (e.target as HTMLInputElement).value
          if (from !== "" && from <= props.period.to) apply({ from, to: props.period.to })
        }} />
      </label>
      <label>
        To <input type="date" value={props.period.to} min={props.period.from} onChange={(e) => {
          const to = (e.target as HTMLInputElement).value
          if (to !== "" && to >= props.period.from) apply({ from: props.period.from, to })
        }} />
      </label>
      <span class="note">
        {day(Date.parse(`${props.period.from}T12:00:00Z`), "UTC")} to {day(Date.parse(`${props.period.to}T12:00:00Z`), "UTC")} ({Period.days(props.period) === 1 ? "1 day" : `${Period.days(props.period)} days`}, {zone})
        {props.span === null ? "" : props.span === undefined ? "" : ` · calls recorded ${day(props.span.first, zone)} to ${day(props.span.last, zone)}`}
      </span>
    </form>
  )
}

/** The x values of a chart: every bucket start of the period, so empty hours or days show as gaps. */
export const bucketStarts = (period: Period.Period, granularity: Period.Granularity, zone: string): Array<number> => {
  const range = Period.toRange(period, zone)
  const from = Date.parse(range.from)
  const to = Date.parse(range.to)
  const starts: Array<number> = []
  if (granularity === "HOUR") {
    for (let t = from; t < to; t += 3_600_000) starts.push(t)
  } else if (granularity === "DAY") {
    for (let d = period.from; d <= period.to; d = addDays(d, 1)) starts.push(Date.parse(Period.toRange({ from: d, to: d }, zone).from))
  } else {
    let month = period.from.slice(0, 7)
    while (`${month}-01` <= period.to) {
      const start = Math.max(from, Date.parse(Period.toRange({ from: `${month}-01`, to: `${month}-01` }, zone).from))
      starts.push(start)
      const [y, m] = month.split("-").map(Number) as [number, number]
      month = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, "0")}`
    }
  }
  return starts
}
