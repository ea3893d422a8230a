/**
 * Provider reports against the ledger, per day × model × project.
 *
 * A report is read into rows (day, model, project, tokens by kind, cost) from an OpenAI Costs or
 * Usage page, an Anthropic cost or usage report (through `@tally/providers` Reports), or a generic
 * CSV. The ledger rows of the report's provider and period are grouped the same way, at the grain
 * the report has: a report without a model (or project) column is compared per day (and model)
 * over all models (projects). Model names match with their date suffix dropped
 * (`gpt-4o-mini-2024-07-18` = `gpt-4o-mini`); projects match by the ledger's `project` label.
 */
import { Csv, Money, Reconciliation, StorableText, Usage, type UsageRecord } from "@tally/core"
import { Reports } from "@tally/providers"
import { DateTime, Result, Schema } from "effect"
import * as Findings from "./Findings.ts"
import * as ReDerive from "./ReDerive.ts"

export class ReportInvalid extends Schema.TaggedError<ReportInvalid>()("ReportInvalid", {
  format: Schema.String,
  message: Schema.String
}) {}

export interface ReportRow {
  readonly day: string
  /** When the row's bucket starts (a CSV row's day at 00:00 UTC): it is in a period when this is. */
  readonly start: Date
  readonly model: string | null
  readonly project: string | null
  /** Input (all kinds, cached included) and output tokens; null when the report has no usage. */
  readonly inputTokens: number | null
  readonly outputTokens: number | null
  readonly cost: Money.Decimal | null
  readonly currency: string | null
}

export interface ParsedReport {
  readonly format: Reconciliation.ReportFormat
  /** The provider whose ledger rows it is compared with; null for a CSV without a provider column (all). */
  readonly provider: string | null
  readonly period: Reconciliation.Period
  readonly rows: ReadonlyArray<ReportRow>
}

const invalid = (format: string, message: string) => Result.fail(new ReportInvalid({ format, message: `${format} report: ${message}` }))

const dayOf = (iso: string): string => iso.slice(0, 10)

const inputOf = (usage: Usage.Usage): number => Usage.InputBuckets.reduce((n, b) => n + Usage.tokens(usage, b), 0)
const outputOf = (usage: Usage.Usage): number => Usage.totalTokens(usage) - inputOf(usage)

const pagesOf = (json: unknown): ReadonlyArray<unknown> => {
  // A page, a list of pages, or a saved fixture that wraps the page in `payload`.
  if (Array.isArray(json)) return json.flatMap(pagesOf)
  if (typeof json === "object" && json !== null && "payload" in json && !("data" in json)) return pagesOf((json as { payload: unknown }).payload)
  return [json]
}

const projectOf = (labels: Readonly<Record<string, string>>): string | null => labels["project_id"] ?? labels["workspace_id"] ?? null

/** OpenAI cost line items read "<model>, input" when grouped by line_item. */
const modelOf = (labels: Readonly<Record<string, string>>): string | null => {
  if (labels["model"] !== undefined) return labels["model"]
  const item = labels["line_item"]
  if (item === undefined) return null
  const comma = item.indexOf(",")
  return comma > 0 ? item.slice(0, comma).trim() : item.trim()
}

const parseJsonReport = (format: Reconciliation.ReportFormat, content: string): Result.Result<ParsedReport, ReportInvalid> => {
  let json: unknown
  try {
    json = JSON.parse(content)
  } catch (error) {
    return invalid(format, `not JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  const provider = format.startsWith("openai") ? "openai" : "anthropic"
  const wantKind = format === "openai-costs" || format === "anthropic-cost" ? "costs" : "usage"
  const rows: Array<ReportRow> = []
  let from: string | undefined
  let to: string | undefined
  for (const [index, page] of pagesOf(json).entries()) {
    const report = Reports.normalize({ provider, payload: page })
    if (Result.isFailure(report)) return invalid(format, `page ${index}: ${report.failure.message}`)
    if (report.success.kind !== wantKind) return invalid(format, `page ${index} is a ${report.success.kind} report, expected ${wantKind}`)
    for (const row of report.success.rows) {
      if (from === undefined || row.start < from) from = row.start
      if (to === undefined || row.end > to) to = row.end
      const base = { day: dayOf(row.start), start: new Date(row.start), model: modelOf(row.labels), project: projectOf(row.labels) }
      if ("amount" in row) rows.push({ ...base, inputTokens: null, outputTokens: null, cost: row.amount, currency: row.currency })
      else rows.push({ ...base, inputTokens: inputOf(row.usage), outputTokens: outputOf(row.usage), cost: null, currency: null })
    }
  }
  if (from === undefined || to === undefined) return invalid(format, "no rows")
  return Result.succeed({ format, provider, period: { from: new Date(from), to: new Date(to) }, rows })
}

// --- CSV ------------------------------------------------------------------------------------

const inputColumns = ["input_tokens", "cached_input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_creation_tokens"]
const outputColumns = ["output_tokens", "reasoning_tokens"]
const knownColumns = new Set(["date", "model", "project", "provider", "cost", "currency", ...inputColumns, ...outputColumns])

/**
 * The generic CSV: a header row naming `date` (YYYY-MM-DD or ISO time, UTC), `model`, `project`,
 * token columns (`input_tokens` — uncached input — plus `cached_input_tokens`, `cache_write_tokens`,
 * `output_tokens`, `reasoning_tokens`), `cost` (major units, exact) and `currency`; `provider`
 * optional. Only `date` is required, with at least one token column or `cost`.
 */
const parseCsv = (content: string): Result.Result<ParsedReport, ReportInvalid> => {
  const parsed = Csv.parse(content)
  if (Result.isFailure(parsed)) return invalid("csv", parsed.failure.message)
  const records = parsed.success.filter((record) => record.some((f) => f.trim() !== ""))
  const header = records[0]?.map((h) => h.trim().toLowerCase())
  if (header === undefined) return invalid("csv", "empty file")
  const unknown = header.filter((h) => !knownColumns.has(h))
  if (unknown.length > 0) return invalid("csv", `unknown column ${JSON.stringify(unknown[0])}; known: ${[...knownColumns].join(", ")}`)
  const col = (name: string) => header.indexOf(name)
  if (col("date") < 0) return invalid("csv", "the header has no date column")
  const hasTokens = [...inputColumns, ...outputColumns].some((c) => col(c) >= 0)
  if (!hasTokens && col("cost") < 0) return invalid("csv", "the header needs a cost column or token columns")
  const rows: Array<ReportRow> = []
  const providers = new Set<string>()
  let from: string | undefined
  let to: string | undefined
  for (let r = 1; r < records.length; r++) {
    const record = records[r]!
    const line = r + 1
    const get = (name: string): string | undefined => {
      const i = col(name)
      const v = i < 0 ? undefined : record[i]?.trim()
      return v === "" ? undefined : v
    }
    const date = get("date")
    if (date === undefined || !/^\d{4}-\d{2}-\d{2}/.test(date) || Number.isNaN(Date.parse(date.length === 10 ? `${date}T00:00:00Z` : date))) {
      return invalid("csv", `line ${line}: date ${JSON.stringify(date ?? "")} is not YYYY-MM-DD`)
    }
    const day = date.slice(0, 10)
    const count = (names: ReadonlyArray<string>): Result.Result<number | null, ReportInvalid> => {
      let total: number | null = null
      for (const name of names) {
        const v = get(name)
        if (v === undefined) continue
        if (!/^\d+$/.test(v)) return invalid("csv", `line ${line}: ${name} ${JSON.stringify(v)} is not a non-negative integer`)
        total = (total ?? 0) + Number(v)
      }
      return Result.succeed(total)
    }
    const input = count(inputColumns)
    if (Result.isFailure(input)) return Result.fail(input.failure)
    const output = count(outputColumns)
    if (Result.isFailure(output)) return Result.fail(output.failure)
    const costText = get("cost")
    const cost = costText === undefined ? null : Money.parse(costText.replace(/^\$/, ""))
    if (costText !== undefined && (cost === undefined || cost === null)) return invalid("csv", `line ${line}: cost ${JSON.stringify(costText)} is not a decimal`)
    const currency = get("currency")?.toUpperCase() ?? (cost === null ? null : "USD")
    if (currency !== null && !/^[A-Z]{3}$/.test(currency)) return invalid("csv", `line ${line}: currency ${JSON.stringify(currency)} is not ISO 4217`)
    const provider = get("provider")
    if (provider !== undefined) providers.add(provider.toLowerCase())
    if (from === undefined || day < from) from = day
    if (to === undefined || day > to) to = day
    rows.push({ day, start: new Date(`${day}T00:00:00Z`), model: get("model") ?? null, project: get("project") ?? null, inputTokens: input.success, outputTokens: output.success, cost: cost ?? null, currency })
  }
  if (from === undefined || to === undefined) return invalid("csv", "no rows")
  if (providers.size > 1) return invalid("csv", `rows name ${providers.size} providers (${[...providers].join(", ")}); upload one file per provider`)
  const end = new Date(`${to}T00:00:00Z`)
  end.setUTCDate(end.getUTCDate() + 1)
  return Result.succeed({ format: "csv", provider: [...providers][0] ?? null, period: { from: new Date(`${from}T00:00:00Z`), to: end }, rows })
}

/** Reads a report of the given format; a malformed one is a `ReportInvalid` naming the problem. */
export const parse = (format: string, content: string): Result.Result<ParsedReport, ReportInvalid> => {
  if (!(Reconciliation.reportFormats as ReadonlyArray<string>).includes(format)) {
    return invalid(format, `unknown format; expected one of ${Reconciliation.reportFormats.join(", ")}`)
  }
  // The report is stored as text: a NUL or a lone surrogate could not be, so say where it is.
  const problem = StorableText.problemOf(content)
  if (problem !== undefined) {
    const position = Number(/at position (\d+)/.exec(problem)?.[1] ?? 0)
    const line = content.slice(0, position).split("\n").length
    return invalid(format, `line ${line}: ${problem.replace(/ at position \d+/, "")}`)
  }
  return format === "csv" ? parseCsv(content) : parseJsonReport(format as Reconciliation.ReportFormat, content)
}

// --- Comparison -----------------------------------------------------------------------------

/** Model names compared without a trailing date (`-2024-07-18`, `-20250514`) and case. */
export const modelKey = (model: string): string => model.trim().toLowerCase().replace(/-(\d{4}-\d{2}-\d{2}|\d{8})$/, "")

export type Status = "matched" | "missing-on-our-side" | "missing-on-their-side" | "cost-variance" | "token-variance"

export interface Line {
  readonly day: string
  readonly model: string | null
  readonly project: string | null
  readonly status: Status
  readonly ledger: { readonly requests: number; readonly inputTokens: number; readonly outputTokens: number; readonly cost: string; readonly requestIds: ReadonlyArray<string> }
  readonly report: { readonly inputTokens: number | null; readonly outputTokens: number | null; readonly cost: string | null; readonly currency: string | null } | null
}

export interface Comparison {
  readonly format: Reconciliation.ReportFormat
  readonly provider: string | null
  /** The report's own period. */
  readonly period: { readonly from: string; readonly to: string }
  readonly counts: Readonly<Record<Status, number>>
  /** Report rows outside the run's period: left out of the comparison. */
  readonly rowsOutsidePeriod: number
  readonly lines: ReadonlyArray<Line>
  readonly findings: ReadonlyArray<Reconciliation.FindingInput>
}

interface Side {
  model: string | null
  project: string | null
  requests: number
  input: number
  output: number
  cost: Money.Decimal
  requestIds: Array<string>
}

/**
 * Compares one report with the ledger rows over the run's `period` (default: the report's own).
 * Only what lies in both the run's period and the report's takes part: report rows whose bucket
 * starts outside the run's period are left out (the run's ledger has nothing there to compare
 * with) and counted in `rowsOutsidePeriod`; ledger rows outside the report's period are left out.
 * The grain (by model, by project) and the currency are the whole report's.
 */
export const compare = (
  report: ParsedReport,
  ledger: ReadonlyArray<UsageRecord.UsageRecord>,
  tolerance: Findings.Tolerance = Findings.defaultTolerance,
  period: Reconciliation.Period = report.period
): Comparison => {
  const byModel = report.rows.some((r) => r.model !== null)
  const byProject = report.rows.some((r) => r.project !== null)
  const hasCost = report.rows.some((r) => r.cost !== null)
  const hasTokens = report.rows.some((r) => r.inputTokens !== null || r.outputTokens !== null)
  const currency = report.rows.find((r) => r.currency !== null)?.currency ?? "USD"
  const from = Math.max(report.period.from.getTime(), period.from.getTime())
  const to = Math.min(report.period.to.getTime(), period.to.getTime())
  const inPeriod = (row: ReportRow) => row.start.getTime() >= period.from.getTime() && row.start.getTime() < period.to.getTime()
  const rows = report.rows.filter(inPeriod)
  const key = (day: string, model: string | null, project: string | null) =>
    JSON.stringify([day, byModel ? modelKey(model ?? "") : null, byProject ? project ?? "" : null])

  const theirs = new Map<string, { model: string | null; project: string | null; input: number | null; output: number | null; cost: Money.Decimal | null; currency: string | null }>()
  for (const row of rows) {
    const k = key(row.day, row.model, row.project)
    const entry = theirs.get(k) ?? { model: row.model, project: row.project, input: null, output: null, cost: null, currency: row.currency }
    if (row.inputTokens !== null) entry.input = (entry.input ?? 0) + row.inputTokens
    if (row.outputTokens !== null) entry.output = (entry.output ?? 0) + row.outputTokens
    if (row.cost !== null) entry.cost = (entry.cost ?? Money.ZERO).plus(row.cost)
    theirs.set(k, entry)
  }

  const ours = new Map<string, Side>()
  for (const row of ledger) {
    const at = DateTime.toEpochMillis(row.occurredAt)
    if (at < from || at >= to) continue
    if (report.provider !== null && row.provider.toLowerCase() !== report.provider) continue
    const day = DateTime.formatIso(row.occurredAt).slice(0, 10)
    const project = row.labels.project ?? null
    const k = key(day, row.model, project)
    const side = ours.get(k) ?? { model: row.model, project, requests: 0, input: 0, output: 0, cost: Money.ZERO, requestIds: [] }
    side.requests += 1
    side.input += inputOf(row.usage)
    side.output += outputOf(row.usage)
    if (row.total !== null && (ReDerive.currencyOf(row) ?? currency) === currency) side.cost = side.cost.plus(row.total)
    side.requestIds.push(row.requestId)
    ours.set(k, side)
  }

  const lines: Array<Line> = []
  const findings: Array<Reconciliation.FindingInput> = []
  const counts: Record<Status, number> = { matched: 0, "missing-on-our-side": 0, "missing-on-their-side": 0, "cost-variance": 0, "token-variance": 0 }
  const keys = [...new Set([...theirs.keys(), ...ours.keys()])].sort()
  for (const k of keys) {
    const [day] = JSON.parse(k) as [string]
    const t = theirs.get(k)
    const o = ours.get(k)
    const model = t?.model ?? o?.model ?? null
    const project = byProject ? (t?.project ?? o?.project ?? null) : null
    const theirAmount = t?.cost ?? null
    const theirsEmpty = t === undefined || ((t.cost === null || t.cost.isZero()) && (t.input ?? 0) === 0 && (t.output ?? 0) === 0)
    const oursEmpty = o === undefined || (o.requests === 0)
    let status: Status = "matched"
    if (oursEmpty && !theirsEmpty) status = "missing-on-our-side"
    else if (theirsEmpty && !oursEmpty) status = "missing-on-their-side"
    else if (!oursEmpty && !theirsEmpty) {
      if (hasCost && theirAmount !== null && Findings.beyond(tolerance, theirAmount, o!.cost)) status = "cost-variance"
      else if (
        hasTokens && t!.input !== null && t!.output !== null &&
        (Findings.beyond(tolerance, new Money.Decimal(t!.input), new Money.Decimal(o!.input)) ||
          Findings.beyond(tolerance, new Money.Decimal(t!.output), new Money.Decimal(o!.output)))
      ) status = "token-variance"
    }
    counts[status] += 1
    const ledgerSide = {
      requests: o?.requests ?? 0,
      inputTokens: o?.input ?? 0,
      outputTokens: o?.output ?? 0,
      cost: Money.format(o?.cost ?? Money.ZERO),
      requestIds: o?.requestIds ?? []
    }
    const reportSide = t === undefined ? null : { inputTokens: t.input, outputTokens: t.output, cost: t.cost === null ? null : Money.format(t.cost), currency: t.currency }
    lines.push({ day, model: byModel ? model : null, project, status, ledger: ledgerSide, report: reportSide })
    if (status === "matched") continue
    const where = `${day}${byModel ? ` ${model ?? "(no model)"}` : ""}${byProject ? ` project ${project ?? "(none)"}` : ""}`
    const evidence = { day, project, format: report.format, ledger: ledgerSide, report: reportSide }
    const common = { provider: report.provider, model: byModel ? model : null, occurredAt: `${day}T00:00:00.000Z`, currency, evidence }
    const ourCost = o?.cost ?? Money.ZERO
    if (status === "missing-on-our-side") {
      findings.push(Findings.make({ ...common, kind: Findings.Kinds.missingOnOurSide, severity: "error", reportedCost: theirAmount, computedCost: ourCost,
        difference: theirAmount?.minus(ourCost), message: `${where}: the provider reports usage the ledger never saw (an instrumentation leak)` }))
    } else if (status === "missing-on-their-side") {
      findings.push(Findings.make({ ...common, kind: Findings.Kinds.missingOnTheirSide, severity: "warning", computedCost: ourCost,
        message: `${where}: the ledger has ${o!.requests} calls the provider report does not show` }))
    } else if (status === "cost-variance") {
      findings.push(Findings.make({ ...common, kind: Findings.Kinds.reportCostVariance, severity: "warning", reportedCost: theirAmount, computedCost: ourCost,
        difference: theirAmount!.minus(ourCost), message: `${where}: the provider bills ${Money.format(theirAmount!)}, the ledger ${Money.format(ourCost)}` }))
    } else {
      findings.push(Findings.make({ ...common, kind: Findings.Kinds.reportTokenVariance, severity: "warning",
        message: `${where}: the provider counts ${t!.input} input / ${t!.output} output tokens, the ledger ${o!.input} / ${o!.output}` }))
    }
  }
  return {
    format: report.format,
    provider: report.provider,
    period: { from: report.period.from.toISOString(), to: report.period.to.toISOString() },
    counts,
    rowsOutsidePeriod: report.rows.length - rows.length,
    lines,
    findings
  }
}
