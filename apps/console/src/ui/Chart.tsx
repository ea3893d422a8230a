/**
 * Charts with uPlot (a ~50 kB canvas chart library): stacked bars over time and lines with
 * reference levels. Values are floats here, only to draw; every chart says its figures are
 * rounded, and a table beside it holds the exact amounts.
 *
 * Each chart has a text summary for screen readers (`aria-label` on its figure) and a legend.
 */
import { useEffect, useRef } from "preact/hooks"
import uPlot from "uplot"
import "uplot/dist/uPlot.min.css"
import { rounded } from "../Format.ts"

export const palette = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626", "#475569", "#ca8a04", "#9333ea", "#0d9488"]

export interface Series {
  readonly label: string
  /** null: no value there (a gap in a line). */
  readonly values: ReadonlyArray<number | null>
  readonly color?: string
  readonly dash?: ReadonlyArray<number>
}

interface Props {
  /** x values: seconds since the epoch. */
  readonly x: ReadonlyArray<number>
  readonly series: ReadonlyArray<Series>
  /** Steps: a value holds until the next x (prices by effective date). */
  readonly kind: "stacked-bars" | "lines" | "steps"
  /** What the chart shows, in words, for screen readers. */
  readonly summary: string
  readonly height?: number
  readonly yLabel?: string
  /** How an x value reads (`2 Nov`), in the tenant's zone. */
  readonly formatX: (seconds: number) => string
  /** Horizontal lines: thresholds, a budget's amount. */
  readonly levels?: ReadonlyArray<{ readonly label: string; readonly value: number; readonly color: string }>
  /** What the caption says about rounding (default: the table beside it has the exact amounts). */
  readonly caption?: string
  /** The IANA zone x values are shown in (time axes). */
  readonly timeZone?: string
  /** A shaded x range (an anomaly's window). */
  readonly highlight?: { readonly from: number; readonly to: number }
}

/** Cumulative sums, bottom series first, for stacking bars. */
const stack = (series: ReadonlyArray<Series>, length: number): Array<Array<number | null>> => {
  const sums = new Array<number>(length).fill(0)
  return series.map((s) =>
    s.values.map((value, i) => {
      sums[i]! += value ?? 0
      return sums[i]!
    })
  )
}

export const Chart = (props: Props) => {
  const host = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const element = host.current
    if (element === null) return
    const stacked = props.kind === "stacked-bars"
    const data = stacked ? stack(props.series, props.x.length) : props.series.map((s) => [...s.values])
    const bars = uPlot.paths.bars!({ size: [0.7, 48], gap: 1 })
    const steps = uPlot.paths.stepped!({ align: 1 })
    const levels = props.levels ?? []
    const seriesOptions: Array<uPlot.Series> = [
      { label: "When", value: (_u, v) => (v == null ? "" : props.formatX(v)) },
      ...props.series.map((s, i): uPlot.Series => {
        const color = s.color ?? palette[i % palette.length]!
        return {
          label: s.label,
          stroke: color,
          width: stacked ? 0 : 2,
          ...(s.dash === undefined ? {} : { dash: [...s.dash] }),
          ...(stacked ? { fill: color, paths: bars, points: { show: false } } : { points: { show: props.x.length < 40 }, spanGaps: false, ...(props.kind === "steps" ? { paths: steps } : {}) }),
          // The legend shows the series' own value, not the stacked sum.
          value: (_u, _v, _s, index) => (index == null ? "" : rounded(s.values[index] ?? 0))
        }
      })
    ]
    // Draw the top of the stack first so each lower band paints over it.
    const order = stacked ? [...props.series.keys()].reverse() : [...props.series.keys()]
    const options: uPlot.Options = {
      width: Math.max(280, element.clientWidth),
      height: props.height ?? 260,
      series: [seriesOptions[0]!, ...order.map((i) => seriesOptions[i + 1]!)],
      ...(props.timeZone === undefined ? {} : { tzDate: (seconds: number) => uPlot.tzDate(new Date(seconds * 1000), props.timeZone!) }),
      scales: { x: { time: props.timeZone !== undefined }, y: { range: (_u, min, max) => [Math.min(0, min), Math.max(max * 1.08, ...levels.map((l) => l.value * 1.08), 1e-9)] } },
      axes: [
        {
          ...(props.timeZone === undefined ? { values: (_u: uPlot, splits: Array<number>) => splits.map((v) => props.formatX(v)) } : {}),
          space: 70,
          stroke: "#334155",
          grid: { stroke: "#e2e8f0" },
          ticks: { stroke: "#cbd5e1" }
        },
        { values: (_u, splits) => splits.map(rounded), stroke: "#334155", grid: { stroke: "#e2e8f0" }, ticks: { stroke: "#cbd5e1" }, size: 64, ...(props.yLabel === undefined ? {} : { label: props.yLabel }) }
      ],
      legend: { live: true },
      cursor: { points: { show: !stacked } },
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx
            ctx.save()
            if (props.highlight !== undefined) {
              const left = u.valToPos(props.highlight.from, "x", true)
              const right = u.valToPos(props.highlight.to, "x", true)
              ctx.fillStyle = "rgba(220, 38, 38, 0.12)"
              ctx.fillRect(left, u.bbox.top, Math.max(2, right - left), u.bbox.height)
            }
            for (const level of levels) {
              const y = u.valToPos(level.value, "y", true)
              ctx.strokeStyle = level.color
              ctx.setLineDash([6, 4])
              ctx.lineWidth = 1.5 * devicePixelRatio
              ctx.beginPath()
              ctx.moveTo(u.bbox.left, y)
              ctx.lineTo(u.bbox.left + u.bbox.width, y)
              ctx.stroke()
              ctx.setLineDash([])
              ctx.fillStyle = level.color
              ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`
              ctx.textAlign = "right"
              ctx.fillText(level.label, u.bbox.left + u.bbox.width - 4 * devicePixelRatio, y - 4 * devicePixelRatio)
            }
            ctx.restore()
          }
        ]
      }
    }
    const plotData: uPlot.AlignedData = [[...props.x], ...order.map((i) => data[i]!)]
    const plot = new uPlot(options, plotData, element)
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(280, element.clientWidth), height: props.height ?? 260 }))
    resize.observe(element)
    return () => {
      resize.disconnect()
      plot.destroy()
    }
  }, [props.x, props.series, props.kind, props.levels, props.highlight])
  return (
    <figure class="chart" role="img" aria-label={props.summary}>
      <div ref={host} class="chart-host" data-chart={props.kind} />
      <figcaption class="note">{props.caption ?? "Chart figures are rounded for display; the table has the exact amounts."}</figcaption>
    </figure>
  )
}

/** Horizontal share bars (HTML, not canvas): readable by screen readers as a list. */
export const ShareBars = (props: {
  readonly rows: ReadonlyArray<{ readonly label: string; readonly value: number; readonly text: string; readonly parts?: ReadonlyArray<{ readonly value: number; readonly color: string; readonly label: string }> }>
  readonly label: string
}) => {
  const max = Math.max(...props.rows.map((r) => r.value), 0)
  return (
    <ul class="share-bars" aria-label={props.label}>
      {props.rows.map((row, i) => (
        <li key={row.label}>
          <span class="share-label">{row.label}</span>
          <span class="share-track" aria-hidden="true">
            {(row.parts ?? [{ value: row.value, color: palette[i % palette.length]!, label: row.label }]).map((part) => (
              <span class="share-fill" title={part.label} style={{ width: `${max === 0 ? 0 : (Math.max(0, part.value) / max) * 100}%`, background: part.color }} />
            ))}
          </span>
          <span class="share-text">{row.text}</span>
        </li>
      ))}
    </ul>
  )
}
