/**
 * `tally reconcile --tenant <id> --from <ISO> --to <ISO> [--report <file> --format <format>]...
 * [--what-if-at <ISO>] [--catalog <custom catalog file>] [--tolerance <amount>] [--out report.json]`:
 * re-derives every ledger row of the period from its raw payload, compares the given provider
 * reports per day × model × project, stores the run and its findings, prints a summary (JSON) and
 * writes the full report. Database as for `tally rollups` (`--database-url` / `--data-dir`).
 * Reports and formats pair up in order; formats: openai-costs, openai-usage, anthropic-cost,
 * anthropic-usage, csv.
 */
import { Money } from "@tally/core"
import type { Reconcile as ReconcileTypes } from "@tally/engine"
import { Effect, Redacted, Result } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { CliError, ExitCode, invalidInput, Printed } from "../CliError.ts"
import { parseAt } from "./Cost.ts"

const command = "reconcile"

const failed = (what: string) => (error: { readonly message: string }) =>
  Effect.fail(new CliError({ message: `${command}: ${what}: ${error.message}`, exitCode: ExitCode.unexpected }))

export const run = ({ values, positionals }: Parsed<typeof Commands.reconcile.flags>) =>
  Effect.gen(function*() {
    if (positionals.length > 0) return yield* invalidInput(`${command}: unexpected argument "${positionals[0]}"`)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const to = yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")
    if (to.getTime() <= from.getTime()) return yield* invalidInput(`${command}: --to (${to.toISOString()}) must be after --from (${from.toISOString()})`)
    const whatIfAt = values["what-if-at"] === undefined ? undefined : yield* parseAt(command, values["what-if-at"], "--what-if-at")
    const files = values.report ?? []
    const formats = values.format ?? []
    if (files.length !== formats.length) {
      return yield* invalidInput(`${command}: give one --format per --report (${files.length} reports, ${formats.length} formats)`)
    }
    let tolerance: { absolute: Money.Decimal; relative: Money.Decimal } | undefined
    if (values.tolerance !== undefined) {
      const absolute = Money.parse(values.tolerance)
      if (absolute === undefined || absolute.isNegative()) return yield* invalidInput(`${command}: --tolerance ${JSON.stringify(values.tolerance)} is not a non-negative amount`)
      tolerance = { absolute, relative: new Money.Decimal("0.005") }
    }

    const { Reconcile, TenantPricing } = yield* Effect.promise(() => import("@tally/engine"))
    const reports: Array<ReconcileTypes.Compare.ParsedReport> = []
    for (const [i, file] of files.entries()) {
      const content = yield* Effect.try({
        try: () => readFileSync(file, "utf8"),
        catch: (error) => invalidInput(`${command}: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`)
      })
      const parsed = Reconcile.Compare.parse(formats[i]!, content)
      if (Result.isFailure(parsed)) return yield* invalidInput(`${command}: ${file}: ${parsed.failure.message}`)
      reports.push(parsed.success)
    }

    const { Catalog } = yield* Effect.promise(() => import("@tally/catalog"))
    const whatIfBook = values.catalog === undefined
      ? undefined
      : yield* Catalog.loadBook({ customCatalogPath: values.catalog }).pipe(Effect.mapError((error) => invalidInput(`${command}: --catalog: ${error.message}`)))

    const { Database, Store } = yield* Effect.promise(() => import("@tally/store"))
    const url = values["database-url"]
    const dataDir = values["data-dir"]
    if (url !== undefined && dataDir !== undefined) return yield* invalidInput(`${command}: give --database-url or --data-dir, not both`)
    const database = url !== undefined && url !== ""
      ? Database.layerPostgres({ url: Redacted.make(url) })
      : dataDir !== undefined && dataDir !== ""
      ? Database.layerPglite({ dataDir })
      : Database.layerFromConfig
    const { Layer } = yield* Effect.promise(() => import("effect"))
    const store = Store.layerWith(database)
    const pricing = TenantPricing.TenantPricing.layer.pipe(Layer.provideMerge(Layer.merge(store, Catalog.Catalog.layer)))

    const report = yield* Effect.gen(function*() {
      const book = yield* TenantPricing.TenantPricing.use((p) => p.book(tenantId))
      return yield* Reconcile.Run.run({
        tenantId,
        period: { from, to },
        book,
        reports,
        whatIf: whatIfAt === undefined && whatIfBook === undefined ? undefined : { book: whatIfBook, at: whatIfAt },
        tolerance
      })
    }).pipe(
      Effect.provide(pricing),
      Effect.catchTags({
        TenantNotFound: () => Effect.fail(invalidInput(`${command}: no tenant with id ${JSON.stringify(tenantId)}`)),
        CatalogInvalid: failed("price book"),
        CatalogLoadError: failed("catalog"),
        SqlError: failed("database"),
        MigrationError: failed("database"),
        ConfigError: (error) => Effect.fail(invalidInput(`${command}: configuration: ${error.message}`))
      })
    )
    // `--out -`: the full report on stdout instead of the summary.
    if (values.out === "-") return new Printed(`${JSON.stringify(report, null, 2)}\n`)
    if (values.out !== undefined) {
      const out = values.out
      yield* Effect.try({
        try: () => writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`),
        catch: (error) => new CliError({ message: `${command}: cannot write ${out}: ${error instanceof Error ? error.message : String(error)}`, exitCode: ExitCode.unexpected })
      })
    }
    return { runId: report.runId, tenant: tenantId, period: report.period, summary: report.summary, out: values.out ?? null }
  })
