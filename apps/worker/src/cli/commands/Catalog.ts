/**
 * `tally catalog <list|show|explain|coverage|audit|import>`: the model catalog from the command line.
 * Every subcommand reads the built-in catalog plus an optional custom catalog file (`--catalog`,
 * the format `tally cost --catalog` takes) and answers as a scope (`--tenant`, `--project`,
 * `--team`, `--api-key`) sees it. `import` turns a LiteLLM price map, a CSV or a JSON list of
 * custom models into such a custom catalog file, reporting every key it could not use.
 */
import { writeFileSync } from "node:fs"
import { Audit, BuiltInCatalog, Coverage, CustomModels, type ImportReport, Listing, LiteLlm, Match, ModelDefinition, PriceBook } from "@tally/catalog"
import { Usage } from "@tally/core"
import { FallbackUsage, Store } from "@tally/store"
import { DateTime, Effect, Result, Schema } from "effect"
import { requireTenant, withDatabase } from "../CommandDatabase.ts"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { type CliError, ExitCode, invalidInput, Printed, WithExitCode } from "../CliError.ts"
import { oneLine, parseJson, readText } from "../Input.ts"
import * as Table from "../Table.ts"
import { loadBook, parseAt } from "./Cost.ts"

interface BookValues {
  readonly catalog?: string | undefined
  readonly "no-builtin"?: boolean | undefined
  readonly tenant?: string | undefined
  readonly project?: string | undefined
  readonly team?: string | undefined
  readonly "api-key"?: string | undefined
}

const bookOf = (values: BookValues) => loadBook(values.catalog, values["no-builtin"] !== true)

/** The price-book scope the flags name; an empty value is a mistake, not "no scope". */
const scopeOf = (command: string, values: BookValues): Effect.Effect<PriceBook.Scope, CliError> => {
  const scope: Record<string, string> = {}
  for (const [flag, key] of [["tenant", "tenant"], ["project", "project"], ["team", "team"], ["api-key", "apiKey"]] as const) {
    const value = values[flag]
    if (value === undefined) continue
    if (value.trim() === "") return Effect.fail(invalidInput(`${command}: --${flag} must not be empty`))
    scope[key] = value
  }
  return Effect.succeed(scope as PriceBook.Scope)
}

const noPositionals = (command: string, positionals: ReadonlyArray<string>) =>
  positionals.length === 0 ? Effect.void : Effect.fail(invalidInput(`${command}: unexpected argument "${positionals[0]}"`))

// ---------------------------------------------------------------------------------------------
// list

const Maintainer = Schema.decodeUnknownResult(ModelDefinition.Maintainer)

export const list = ({ values, positionals }: Parsed<typeof Commands.catalogList.flags>) =>
  Effect.gen(function*() {
    const command = "catalog list"
    yield* noPositionals(command, positionals)
    const scope = yield* scopeOf(command, values)
    const at = values.at === undefined ? undefined : yield* parseAt(command, values.at)
    let maintainer: ModelDefinition.Maintainer | undefined
    if (values.maintainer !== undefined) {
      const decoded = Maintainer(values.maintainer)
      if (Result.isFailure(decoded)) return yield* invalidInput(`${command}: --maintainer must be built-in or custom, got "${values.maintainer}"`)
      maintainer = decoded.success
    }
    if (values.format !== undefined && values.format !== "json" && values.format !== "table") {
      return yield* invalidInput(`${command}: --format must be json or table, got "${values.format}"`)
    }
    const book = yield* bookOf(values)
    const definitions = Listing.list(book, { scope, provider: values.provider, search: values.search, maintainer, at })
    if (values.format === "table") return new Printed(listTable(book, scope, definitions, at ?? new Date()))
    return { at: at?.toISOString() ?? null, scope, count: definitions.length, definitions }
  })

/** A rate per 1M tokens as people read price sheets: `$2.50`, `$0.075`, `-` when there is none. */
const perMillion = (currency: string, rate: { toFixed: (dp?: number) => string; decimalPlaces: () => number } | undefined) =>
  rate === undefined ? "-" : `${currency === "USD" ? "$" : `${currency} `}${rate.decimalPlaces() <= 2 ? rate.toFixed(2) : rate.toFixed()}`

/** The list for people: one line per definition with its list prices per 1M tokens in force at `at`. */
const listTable = (book: PriceBook.PriceBook, scope: PriceBook.Scope, definitions: ReadonlyArray<Listing.ListEntry>, at: Date): string => {
  const byId = PriceBook.view(book, scope).byId
  const rows = definitions.map((d) => {
    const history = byId.get(d.id)?.definition.history
    const snapshot = history === undefined ? undefined : ModelDefinition.entryAt(history, at.getTime())?.entry.snapshot
    const rates = snapshot?.rates
    const currency = snapshot?.currency ?? "USD"
    return [
      d.id,
      d.layer,
      perMillion(currency, rates?.inputText),
      perMillion(currency, rates?.cacheRead),
      perMillion(currency, rates?.outputText),
      d.deprecated ? "deprecated" : ""
    ]
  })
  return Table.render(
    [{ header: "definition" }, { header: "layer" }, { header: "input /1M", align: "right" }, { header: "cached /1M", align: "right" }, {
      header: "output /1M",
      align: "right"
    }, { header: "" }],
    rows
  ) + `${definitions.length} definition(s), prices in force at ${at.toISOString()}\n`
}

// ---------------------------------------------------------------------------------------------
// show

export const show = ({ values, positionals }: Parsed<typeof Commands.catalogShow.flags>) =>
  Effect.gen(function*() {
    const command = "catalog show"
    if (positionals.length !== 1) return yield* invalidInput(`${command}: expected one definition id, got ${positionals.length}`)
    const id = positionals[0]!
    const scope = yield* scopeOf(command, values)
    const at = values.at === undefined ? undefined : yield* parseAt(command, values.at)
    const book = yield* bookOf(values)
    const shown = Listing.show(book, id, scope)
    if (Result.isFailure(shown)) return yield* invalidInput(`${command}: ${shown.failure.message}`)
    const effective = PriceBook.view(book, scope).byId.get(id)!
    const inForce = at === undefined ? undefined : ModelDefinition.entryAt(effective.definition.history, at.getTime())
    return {
      id,
      scope,
      ...shown.success,
      at: at?.toISOString() ?? null,
      // The list snapshot in force at --at; layer multipliers are applied by `catalog explain` / `cost`.
      inForce: inForce === undefined
        ? null
        : { version: inForce.entry.version, historyIndex: inForce.index, snapshotId: shown.success.history[inForce.index]!.snapshotId, reason: inForce.reason }
    }
  })

// ---------------------------------------------------------------------------------------------
// explain

export const explain = ({ values, positionals }: Parsed<typeof Commands.catalogExplain.flags>) =>
  Effect.gen(function*() {
    const command = "catalog explain"
    yield* noPositionals(command, positionals)
    const model = yield* Spec.required(command, "model", values.model)
    const scope = yield* scopeOf(command, values)
    const at = yield* parseAt(command, values.at)
    const book = yield* bookOf(values)
    const explanation = Match.explainMatch(book, { provider: values.provider, model, at, scope })
    if (!explanation.matched) {
      return new WithExitCode({
        value: explanation,
        exitCode: ExitCode.unpriced,
        stderr: `not matched (${explanation.reason ?? "unknown"}): ${explanation.summary}`
      })
    }
    return explanation
  })

// ---------------------------------------------------------------------------------------------
// coverage

/** One observed model: a bare name, or a name with its provider, call count, summed usage and time. */
const ObservationInput = Schema.Union([
  Schema.String,
  Schema.Struct({
    provider: Schema.optionalKey(Schema.String),
    model: Schema.String,
    count: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1, { message: "expected a positive integer" }))),
    usage: Schema.optionalKey(Usage.Usage),
    at: Schema.optionalKey(Schema.String)
  })
])
const CoverageInput = Schema.Union([
  Schema.Array(ObservationInput),
  Schema.Struct({ models: Schema.Array(ObservationInput) })
])
const decodeCoverageInput = Schema.decodeUnknownEffect(CoverageInput)

export const coverage = ({ values, positionals }: Parsed<typeof Commands.catalogCoverage.flags>) =>
  Effect.gen(function*() {
    const command = "catalog coverage"
    if (positionals.length !== 1) return yield* invalidInput(`${command}: expected one models file (or - for stdin), got ${positionals.length}`)
    const path = positionals[0]!
    const scope = yield* scopeOf(command, values)
    const at = yield* parseAt(command, values.at)
    const json = yield* readText(path).pipe(Effect.flatMap((text) => parseJson(path, text)))
    const input = yield* decodeCoverageInput(json, { onExcessProperty: "error", errors: "all" }).pipe(
      Effect.mapError((error) => invalidInput(`${path}: ${oneLine(error.message)}`))
    )
    const items = Array.isArray(input) ? input : (input as { readonly models: ReadonlyArray<typeof ObservationInput.Type> }).models
    const observations: Array<Coverage.Observation> = []
    for (const [i, item] of items.entries()) {
      const o = typeof item === "string" ? { model: item } : item
      if (o.model.trim() === "") return yield* invalidInput(`${path}: an empty model name at [${i}]`)
      const itemAt = o.at === undefined ? at : yield* parseAt(path, o.at, `[${i}].at`)
      observations.push({
        provider: o.provider === undefined || o.provider.trim() === "" ? undefined : o.provider,
        model: o.model,
        count: o.count ?? 1,
        usage: o.usage,
        at: itemAt,
        scope
      })
    }
    const book = yield* bookOf(values)
    let reference: Coverage.CoverageOptions["reference"]
    if (values.reference !== undefined) {
      const effective = PriceBook.view(book, scope).byId.get(values.reference)
      if (effective === undefined) return yield* invalidInput(`${command}: --reference: no definition with id ${JSON.stringify(values.reference)} in this scope`)
      const inForce = ModelDefinition.entryAt(effective.definition.history, at.getTime())
      if (inForce === undefined) return yield* invalidInput(`${command}: --reference ${values.reference} has no snapshot in force at ${at.toISOString()}`)
      reference = inForce.entry.snapshot
    }
    const report = Coverage.coverage(book, observations, { reference })
    const value = { at: at.toISOString(), scope, reference: values.reference ?? null, ...report }
    const gaps = report.unmatched.names + report.unpricedBucket.names
    if (values.strict === true && gaps > 0) {
      return new WithExitCode({
        value,
        exitCode: ExitCode.unpriced,
        stderr: `coverage gaps: ${report.unmatched.names} unmatched name(s) (${report.unmatched.calls} calls), ${report.unpricedBucket.names} with unpriced buckets (${report.unpricedBucket.calls} calls)`
      })
    }
    return value
  })

// ---------------------------------------------------------------------------------------------
// audit

export const audit = ({ values, positionals }: Parsed<typeof Commands.catalogAudit.flags>) =>
  Effect.gen(function*() {
    const command = "catalog audit"
    yield* noPositionals(command, positionals)
    const scope = yield* scopeOf(command, values)
    const at = yield* parseAt(command, values.at)
    const kinds: Array<Audit.Kind> = []
    for (const kind of values.kind ?? []) {
      if (!(Audit.Kinds as ReadonlyArray<string>).includes(kind)) return yield* invalidInput(`${command}: --kind must be one of ${Audit.Kinds.join(", ")}, got "${kind}"`)
      kinds.push(kind as Audit.Kind)
    }
    const book = yield* bookOf(values)
    const report = Audit.audit(book, { at, scope, provider: values.provider, kinds: kinds.length === 0 ? undefined : kinds })
    const catalog = { at: at.toISOString(), scope, ...report }
    if (values.tenant === undefined) {
      if (values.from !== undefined || values.to !== undefined) return yield* invalidInput(`${command}: --from and --to read the ledger and need --tenant`)
      return catalog
    }
    // With a tenant: which of its recorded calls were priced by a fallback, from the ledger.
    const tenant = values.tenant
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const to = yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")
    if (!(from.getTime() < to.getTime())) return yield* invalidInput(`${command}: --from must be before --to`)
    const groups = yield* withDatabase(
      command,
      values,
      (database) => Store.layerWith(database),
      Effect.gen(function*() {
        yield* requireTenant(command, tenant)
        return yield* FallbackUsage.FallbackUsage.use((f) => f.byCondition(tenant, { from: DateTime.fromDateUnsafe(from), to: DateTime.fromDateUnsafe(to) }))
      })
    )
    const calls = groups.reduce((n, g) => n + g.calls, 0)
    return {
      ...catalog,
      ledger: { tenant, from: from.toISOString(), to: to.toISOString(), groups: groups.length, lines: calls, byCondition: groups }
    }
  })

// ---------------------------------------------------------------------------------------------
// import

const Formats = ["litellm", "csv", "json"] as const
type Format = typeof Formats[number]

const countIssues = (issues: ReadonlyArray<ImportReport.Issue>): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const issue of issues) counts[issue.kind] = (counts[issue.kind] ?? 0) + 1
  return counts
}

export const importCatalog = ({ values, positionals }: Parsed<typeof Commands.catalogImport.flags>) =>
  Effect.gen(function*() {
    const command = "catalog import"
    const formatText = yield* Spec.required(command, "format", values.format)
    if (!(Formats as ReadonlyArray<string>).includes(formatText)) return yield* invalidInput(`${command}: --format must be one of ${Formats.join(", ")}, got "${formatText}"`)
    const format = formatText as Format
    if (positionals.length !== 1) return yield* invalidInput(`${command}: expected one input file (or - for stdin), got ${positionals.length}`)
    if (format !== "litellm" && (values["id-prefix"] !== undefined || values["effective-from"] !== undefined)) {
      return yield* invalidInput(`${command}: --id-prefix and --effective-from apply to --format litellm only (CSV and JSON rows carry id and effective_from)`)
    }
    // Checked for its form here; the importer stores it as given.
    if (values["effective-from"] !== undefined) yield* parseAt(command, values["effective-from"], "--effective-from")
    const path = positionals[0]!
    const text = yield* readText(path)
    const report: ImportReport.ImportReport = format === "csv"
      ? CustomModels.fromCsv(text)
      : format === "json"
      ? CustomModels.fromJson(yield* parseJson(path, text))
      : LiteLlm.importPrices(yield* parseJson(path, text), { idPrefix: values["id-prefix"], effectiveFrom: values["effective-from"] })

    const catalog = PriceBook.customCatalogFileOf(report.definitions)
    const summary = {
      format,
      input: path,
      definitions: report.definitions.length,
      definitionIds: report.definitions.map((d) => d.id),
      issueCounts: countIssues(report.issues),
      issues: report.issues,
      out: values.out ?? null
    }
    if (report.definitions.length === 0) {
      const first = report.issues[0]
      const where = first === undefined ? "" : [first.model, first.key].filter((part) => part !== null).join(" ")
      return new WithExitCode({
        value: summary,
        exitCode: ExitCode.invalidInput,
        stderr: `${command}: ${path}: no definitions imported${
          first === undefined ? " (the input has no models)" : ` (${report.issues.length} issue(s); first: ${where === "" ? "" : `${where}: `}${first.kind}: ${first.detail})`
        }`
      })
    }

    // The written file must load where it is meant to be used: next to the built-in catalog.
    const layers = PriceBook.decodeCustomCatalog(catalog)
    if (Result.isFailure(layers)) return yield* invalidInput(`${command}: the imported catalog does not decode: ${layers.failure.message}`)
    let builtIn: BuiltInCatalog.BuiltInCatalog | undefined
    if (values["no-builtin"] !== true) {
      const loaded = BuiltInCatalog.loadSync()
      if (Result.isFailure(loaded)) return yield* invalidInput(loaded.failure.message)
      builtIn = loaded.success
    }
    const book = PriceBook.make({ builtIn, layers: layers.success })
    if (Result.isFailure(book)) return yield* invalidInput(`${command}: the imported catalog cannot be used: ${book.failure.message}`)

    if (values.out === undefined) return { ...summary, catalog }
    // `--out -`: the catalog file alone on stdout, to redirect or pipe.
    if (values.out === "-") return new Printed(`${JSON.stringify(catalog, null, 2)}\n`)
    const out = values.out
    yield* Effect.try({
      try: () => writeFileSync(out, `${JSON.stringify(catalog, null, 2)}\n`),
      catch: (cause) => invalidInput(`${command}: cannot write ${out}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`)
    })
    return summary
  })
