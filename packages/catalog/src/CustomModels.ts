/**
 * A plain CSV (or JSON array) of custom models, one row per price version. Columns:
 *
 *   id                 definition id (default "custom:<provider>/<model>"); rows with one id form its history
 *   provider           required, e.g. "openai" or your own ("vllm-internal")
 *   model              required: the canonical model name (model key)
 *   match              match rule: "kind:value" (equals, startsWith, endsWith, contains, regex) or JSON;
 *                      default equals the model
 *   display_name, tokenizer, cloned_from, context_window, deprecated ("true"/"false")
 *   version            price version (default: row order by effective_from, from 1)
 *   effective_from, effective_to   ISO dates or date-times (UTC); empty = open; a row without
 *                      effective_to runs until the next row of its id starts
 *   currency           ISO 4217 code (default USD)
 *   input, cache_read, cache_write_5m, cache_write_1h, input_image, input_audio, input_video,
 *   output, reasoning, output_image, output_audio, output_video, embedding, training
 *                      token rates per 1M tokens (decimal, no exponent); empty = no price
 *   cached_input_discount_percent, batch_discount_percent      percentages 0-100
 *   per_request, per_image, per_audio_second, per_video_second, per_1k_web_searches   unit prices
 *   notes              snapshot notes;  note   why this price version exists
 *
 * Unknown columns and bad values are reported as issues, never ignored silently.
 */
import type { PricingSnapshot, Usage } from "@tally/core"
import { Csv, Money } from "@tally/core"
import { Result } from "effect"
import { type ImportReport, type Issue, issue } from "./ImportReport.ts"
import { fromNumber } from "./internal/exact.ts"
import * as MatchRule from "./MatchRule.ts"
import * as ModelDefinition from "./ModelDefinition.ts"

export const RATE_COLUMNS: ReadonlyArray<readonly [string, Usage.TokenBucket]> = [
  ["input", "inputText"],
  ["cache_read", "cacheRead"],
  ["cache_write_5m", "cacheWrite5m"],
  ["cache_write_1h", "cacheWrite1h"],
  ["input_image", "inputImage"],
  ["input_audio", "inputAudio"],
  ["input_video", "inputVideo"],
  ["output", "outputText"],
  ["reasoning", "reasoning"],
  ["output_image", "outputImage"],
  ["output_audio", "outputAudio"],
  ["output_video", "outputVideo"],
  ["embedding", "embedding"],
  ["training", "training"]
]

const UNIT_COLUMNS = ["per_request", "per_image", "per_audio_second", "per_video_second", "per_1k_web_searches"] as const

export const COLUMNS: ReadonlyArray<string> = [
  "id",
  "provider",
  "model",
  "match",
  "display_name",
  "tokenizer",
  "cloned_from",
  "context_window",
  "deprecated",
  "version",
  "effective_from",
  "effective_to",
  "currency",
  ...RATE_COLUMNS.map(([column]) => column),
  "cached_input_discount_percent",
  "batch_discount_percent",
  ...UNIT_COLUMNS,
  "notes",
  "note"
]

const KNOWN = new Set(COLUMNS)

// ---------------------------------------------------------------------------------------------
// Import

type Cell = string | undefined

/** A cell as text: strings trimmed, numbers from their shortest decimal form. */
const cellText = (value: unknown): Cell | { readonly invalid: string } => {
  if (value === undefined || value === null) return undefined
  if (typeof value === "string") return value.trim() === "" ? undefined : value.trim()
  if (typeof value === "number") {
    const d = fromNumber(value)
    return d === undefined ? { invalid: `${value} is not a finite non-negative number` } : Money.format(d)
  }
  if (typeof value === "boolean") return String(value)
  return { invalid: `expected a string or number, got ${Array.isArray(value) ? "an array" : typeof value}` }
}

interface Group {
  readonly id: string
  readonly rows: Array<{ readonly cells: ReadonlyMap<string, string>; readonly label: string }>
}

const decimalCell = (cells: ReadonlyMap<string, string>, column: string, model: string, issues: Array<Issue>): string | undefined => {
  const text = cells.get(column)
  if (text === undefined) return undefined
  if (Money.parse(text) === undefined) {
    issues.push(issue(model, column, "invalid-value", `${JSON.stringify(text)} is not a decimal like "2.50" (no exponent)`))
    return undefined
  }
  const tooLong = Money.inputProblem(text)
  if (tooLong !== undefined) {
    issues.push(issue(model, column, "invalid-value", tooLong))
    return undefined
  }
  return text
}

const buildDefinition = (group: Group, issues: Array<Issue>): ModelDefinition.ModelDefinition | undefined => {
  const first = group.rows[0]!.cells
  const provider = first.get("provider")
  const model = first.get("model")
  const label = model ?? group.id
  if (provider === undefined || model === undefined) {
    issues.push(issue(label, provider === undefined ? "provider" : "model", "skipped-model", `row ${group.rows[0]!.label}: provider and model are required`))
    return undefined
  }
  for (const column of ["provider", "model", "match", "display_name", "tokenizer", "cloned_from", "context_window", "deprecated"]) {
    const values = new Set(group.rows.map((r) => r.cells.get(column) ?? ""))
    if (values.size > 1) issues.push(issue(model, column, "invalid-value", `rows of ${group.id} disagree on ${column}; the first row's value is used`))
  }
  let match: unknown = { equals: model }
  const matchText = first.get("match")
  if (matchText !== undefined) {
    match = MatchRule.parseShorthand(matchText)
    if (match === undefined) {
      issues.push(issue(model, "match", "skipped-model", `${JSON.stringify(matchText)} is not "kind:value" (equals, startsWith, endsWith, contains, regex) or a JSON rule`))
      return undefined
    }
  }
  const ordered = [...group.rows].sort((a, b) => (a.cells.get("effective_from") ?? "").localeCompare(b.cells.get("effective_from") ?? ""))
  const history = ordered.map(({ cells }, i) => {
    // A price list: a row without an end runs until the next row of the same id starts.
    const nextFrom = ordered[i + 1]?.cells.get("effective_from")
    const effectiveTo = cells.get("effective_to") ?? (nextFrom !== undefined && nextFrom !== cells.get("effective_from") ? nextFrom : undefined)
    const rates: Record<string, string> = {}
    for (const [column, bucket] of RATE_COLUMNS) {
      const value = decimalCell(cells, column, model, issues)
      if (value !== undefined) rates[bucket] = value
    }
    const units: Record<string, unknown> = {}
    const perRequest = decimalCell(cells, "per_request", model, issues)
    const perImage = decimalCell(cells, "per_image", model, issues)
    const perAudioSecond = decimalCell(cells, "per_audio_second", model, issues)
    const perVideoSecond = decimalCell(cells, "per_video_second", model, issues)
    const perThousandWebSearches = decimalCell(cells, "per_1k_web_searches", model, issues)
    if (perRequest !== undefined) units.perRequest = perRequest
    if (perImage !== undefined) units.perImage = { "*": perImage }
    if (perAudioSecond !== undefined) units.perAudioSecond = perAudioSecond
    if (perVideoSecond !== undefined) units.perVideoSecond = perVideoSecond
    if (perThousandWebSearches !== undefined) units.perThousandWebSearches = perThousandWebSearches
    const cachedDiscount = decimalCell(cells, "cached_input_discount_percent", model, issues)
    const batchDiscount = decimalCell(cells, "batch_discount_percent", model, issues)
    const versionText = cells.get("version")
    const version = versionText === undefined ? i + 1 : Number(versionText)
    const optional = (key: string, value: string | undefined) => value === undefined ? {} : { [key]: value }
    return {
      version,
      snapshot: {
        provider,
        modelKey: model,
        ...optional("currency", cells.get("currency")),
        ...optional("effectiveFrom", cells.get("effective_from")),
        ...optional("effectiveTo", effectiveTo),
        ...optional("notes", cells.get("notes")),
        rates,
        ...optional("cachedInputDiscountPercent", cachedDiscount),
        ...(Object.keys(units).length === 0 ? {} : { units }),
        ...optional("batchDiscountPercent", batchDiscount)
      },
      ...optional("note", cells.get("note"))
    }
  })
  const contextWindow = first.get("context_window")
  const deprecated = first.get("deprecated")
  const clonedFrom = first.get("cloned_from")
  const encoded = {
    id: group.id,
    provider,
    modelKey: model,
    ...(first.get("display_name") === undefined ? {} : { displayName: first.get("display_name") }),
    match,
    ...(first.get("tokenizer") === undefined ? {} : { tokenizer: first.get("tokenizer") }),
    maintainer: "custom",
    ...(clonedFrom === undefined ? {} : { clonedFrom: { definitionId: clonedFrom } }),
    ...(deprecated === undefined ? {} : { deprecated: deprecated === "true" ? true : deprecated === "false" ? false : deprecated }),
    ...(contextWindow === undefined ? {} : { contextWindow: Number(contextWindow) }),
    history
  }
  const decoded = ModelDefinition.decodeResult(encoded)
  if (Result.isFailure(decoded)) {
    issues.push(issue(model, null, "skipped-model", `${group.id}: ${decoded.failure.message}`))
    return undefined
  }
  return decoded.success
}

/** Builds definitions from rows keyed by column name (CSV records or JSON objects). */
export const fromRows = (rows: ReadonlyArray<Readonly<Record<string, unknown>>>): ImportReport => {
  const issues: Array<Issue> = []
  const groups = new Map<string, Group>()
  const unknownReported = new Set<string>()
  for (const [index, row] of rows.entries()) {
    const label = String(index + 1)
    const cells = new Map<string, string>()
    for (const [column, value] of Object.entries(row)) {
      const text = cellText(value)
      if (!KNOWN.has(column)) {
        if (!unknownReported.has(column)) {
          unknownReported.add(column)
          issues.push(issue(null, column, "unknown-key", `unknown column "${column}" (see CustomModels.COLUMNS); its values were not imported`))
        }
        continue
      }
      if (text !== undefined && typeof text === "object") {
        issues.push(issue(typeof row.model === "string" ? row.model : null, column, "invalid-value", `row ${label}: ${text.invalid}`))
        continue
      }
      if (text !== undefined) cells.set(column, text)
    }
    if (cells.size === 0) continue
    const id = cells.get("id") ?? `custom:${cells.get("provider") ?? ""}/${cells.get("model") ?? ""}`
    const group = groups.get(id)
    if (group === undefined) groups.set(id, { id, rows: [{ cells, label }] })
    else group.rows.push({ cells, label })
  }
  const definitions: Array<ModelDefinition.ModelDefinition> = []
  for (const group of groups.values()) {
    const definition = buildDefinition(group, issues)
    if (definition !== undefined) definitions.push(definition)
  }
  return { definitions, issues }
}

/** Imports a CSV with a header row of column names. */
export const fromCsv = (text: string): ImportReport => {
  const parsed = Csv.parse(text)
  if (Result.isFailure(parsed)) return { definitions: [], issues: [issue(null, null, "invalid-value", parsed.failure.message)] }
  const [header, ...body] = parsed.success
  if (header === undefined) return { definitions: [], issues: [] }
  const columns = header.map((c) => c.trim())
  const issues: Array<Issue> = []
  const rows = body.flatMap((fields, i) => {
    if (fields.length === 1 && fields[0]!.trim() === "") return []
    if (fields.length !== columns.length) {
      issues.push(issue(null, null, "invalid-value", `line ${i + 2}: ${fields.length} fields, the header has ${columns.length}; row skipped`))
      return []
    }
    return [Object.fromEntries(columns.map((column, j) => [column, fields[j]!]))]
  })
  const report = fromRows(rows)
  return { definitions: report.definitions, issues: [...issues, ...report.issues] }
}

/** Imports a JSON array of row objects (or `{ "models": [...] }`). */
export const fromJson = (json: unknown): ImportReport => {
  const list = Array.isArray(json) ? json : typeof json === "object" && json !== null && Array.isArray((json as { models?: unknown }).models) ? (json as { models: Array<unknown> }).models : undefined
  if (list === undefined) return { definitions: [], issues: [issue(null, null, "invalid-value", "expected an array of models or { \"models\": [...] }")] }
  const issues: Array<Issue> = []
  const rows = list.flatMap((row, i) => {
    if (typeof row === "object" && row !== null && !Array.isArray(row)) return [row as Record<string, unknown>]
    issues.push(issue(null, null, "invalid-value", `models[${i}] is not an object; skipped`))
    return []
  })
  const report = fromRows(rows)
  return { definitions: report.definitions, issues: [...issues, ...report.issues] }
}

// ---------------------------------------------------------------------------------------------
// Export

const fmt = (d: Money.Decimal | undefined): string => d === undefined ? "" : Money.format(d)

/** Rows for definitions; what the flat format cannot carry is reported per definition. */
export const toRows = (definitions: ReadonlyArray<ModelDefinition.ModelDefinition>): { readonly rows: ReadonlyArray<Record<string, string>>; readonly issues: ReadonlyArray<Issue> } => {
  const rows: Array<Record<string, string>> = []
  const issues: Array<Issue> = []
  for (const d of definitions) {
    for (const entry of d.history) {
      const s: PricingSnapshot.PricingSnapshot = entry.snapshot
      const lost: Array<string> = []
      if (s.provider !== d.provider || s.modelKey !== d.modelKey) lost.push("snapshot provider/modelKey differing from the definition's")
      if (s.tiers !== undefined) lost.push("tiers")
      if (s.tierMode !== undefined) lost.push("tierMode")
      if (s.fineTunedRates !== undefined) lost.push("fineTunedRates")
      if (s.serviceTierMultipliers !== undefined) lost.push("serviceTierMultipliers")
      if (s.regionMultipliers !== undefined) lost.push("regionMultipliers")
      if (s.toolMetadata !== undefined) lost.push("toolMetadata")
      if (s.units?.perToolCall !== undefined) lost.push("units.perToolCall")
      if (s.units?.perImage !== undefined && Object.keys(s.units.perImage).some((k) => k !== "*")) lost.push("units.perImage by size")
      if (entry.timeOfDay !== undefined) lost.push("timeOfDay")
      if (d.clonedFrom?.version !== undefined) lost.push("clonedFrom.version")
      if (lost.length > 0) issues.push(issue(d.modelKey, null, "unsupported-price", `${d.id} version ${entry.version}: the CSV format cannot carry ${lost.join(", ")}`))
      const row: Record<string, string> = {
        id: d.id,
        provider: d.provider,
        model: d.modelKey,
        match: MatchRule.toShorthand(d.match),
        display_name: d.displayName ?? "",
        tokenizer: d.tokenizer ?? "",
        cloned_from: d.clonedFrom?.definitionId ?? "",
        context_window: d.contextWindow === undefined ? "" : String(d.contextWindow),
        deprecated: d.deprecated === undefined ? "" : String(d.deprecated),
        version: String(entry.version),
        effective_from: s.effectiveFrom ?? "",
        effective_to: s.effectiveTo ?? "",
        currency: s.currency ?? "",
        ...Object.fromEntries(RATE_COLUMNS.map(([column, bucket]) => [column, fmt(s.rates[bucket])])),
        cached_input_discount_percent: fmt(s.cachedInputDiscountPercent),
        batch_discount_percent: fmt(s.batchDiscountPercent),
        per_request: fmt(s.units?.perRequest),
        per_image: fmt(s.units?.perImage?.["*"]),
        per_audio_second: fmt(s.units?.perAudioSecond),
        per_video_second: fmt(s.units?.perVideoSecond),
        per_1k_web_searches: fmt(s.units?.perThousandWebSearches),
        notes: s.notes ?? "",
        note: entry.note ?? ""
      }
      rows.push(row)
    }
  }
  return { rows, issues }
}

export const toCsv = (definitions: ReadonlyArray<ModelDefinition.ModelDefinition>): { readonly csv: string; readonly issues: ReadonlyArray<Issue> } => {
  const { rows, issues } = toRows(definitions)
  return { csv: Csv.stringify([COLUMNS, ...rows.map((row) => COLUMNS.map((c) => row[c] ?? ""))], { newline: "\n", protectFormulas: false }), issues }
}
