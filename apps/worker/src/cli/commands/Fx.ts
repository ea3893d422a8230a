/**
 * Exchange rates and conversions from scripts, against the configured database:
 *
 *   tally fx add --tenant T --base EUR --quote USD --date 2025-03-02 --rate 1.08 --source ECB [--observed-at ISO] [--by actor]
 *   tally fx import --tenant T --file rates.csv [--format csv|json] [--source ECB] [--by actor]
 *   tally fx list --tenant T [--base EUR] [--quote USD] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
 *   tally fx convert --tenant T --from ISO --to ISO [--dimension team] [--as-of ISO] [--by actor]
 *
 * Rates are only added: a corrected rate for a day is a new rate, and a conversion made before it
 * keeps the rate it used. `convert` records the conversion (its rate ids) and prints it. Results
 * are JSON on stdout, money and rates as exact decimal strings.
 */
import { Fx as CoreFx, Money } from "@tally/core"
import { Currencies } from "@tally/engine"
import type { ExchangeRates } from "@tally/store"
import { Tenants } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { readFile } from "node:fs/promises"
import type * as Commands from "../Commands.ts"
import { invalidInput } from "../CliError.ts"
import { type DatabaseFlags, type Failure, invalid, requireTenant, withDatabase } from "../CommandDatabase.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { parseAt } from "./Cost.ts"

const withCurrencies = <A>(command: string, tenantId: string, values: DatabaseFlags, effect: Effect.Effect<A, Failure, Currencies.Currencies>) =>
  withDatabase(
    command,
    values,
    (database) => Layer.merge(Currencies.Currencies.layer, Tenants.Tenants.layer).pipe(Layer.provide(database)),
    Effect.andThen(requireTenant(command, tenantId), effect)
  )

const rateJson = (r: CoreFx.Rate) => ({
  id: r.id,
  base: r.base,
  quote: r.quote,
  date: r.date,
  rate: Money.format(r.rate),
  source: r.source,
  observedAt: r.observedAt,
  recordedAt: r.recordedAt,
  recordedBy: r.recordedBy
})

const conversionJson = (c: ExchangeRates.Conversion) => ({
  id: c.id,
  subject: c.subject,
  reportingCurrency: c.reportingCurrency,
  asOf: c.asOf,
  total: Money.format(c.total),
  rateIds: c.rateIds,
  days: c.days,
  createdAt: c.createdAt,
  createdBy: c.createdBy
})

const noArguments = (command: string, positionals: ReadonlyArray<string>) =>
  positionals.length > 0 ? Effect.fail(invalidInput(`${command}: unexpected argument "${positionals[0]}"`)) : Effect.void

export const add = ({ positionals, values }: Parsed<typeof Commands.fxAdd.flags>) =>
  Effect.gen(function*() {
    const command = "fx add"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const rate = {
      base: values.base,
      quote: values.quote,
      date: values.date,
      rate: values.rate,
      source: values.source,
      ...(values["observed-at"] === undefined ? {} : { observedAt: values["observed-at"] })
    }
    const checked = CoreFx.validate(rate)
    if (checked instanceof CoreFx.InvalidRate) return yield* invalidInput(`${command}: ${checked.message}`)
    const [stored] = yield* withCurrencies(
      command,
      tenantId,
      values,
      Currencies.Currencies.use((fx) => fx.add(tenantId, [rate], values.by ?? "cli")).pipe(Effect.catchTag(["InvalidRate", "TenantNotFound"], invalid(command)))
    )
    return rateJson(stored!)
  })

export const importRates = ({ positionals, values }: Parsed<typeof Commands.fxImport.flags>) =>
  Effect.gen(function*() {
    const command = "fx import"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const file = yield* Spec.required(command, "file", values.file)
    const format = values.format ?? (file.toLowerCase().endsWith(".json") ? "json" : "csv")
    if (format !== "csv" && format !== "json") return yield* invalidInput(`${command}: --format must be csv or json, got "${format}"`)
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (cause) => invalidInput(`${command}: cannot read ${file}: ${(cause as Error).message}`)
    })
    const stored = yield* withCurrencies(
      command,
      tenantId,
      values,
      Currencies.Currencies.use((fx) => fx.import(tenantId, text, format, { source: values.source, by: values.by ?? "cli" })).pipe(
        Effect.catchTag(["InvalidRate", "TenantNotFound"], invalid(command))
      )
    )
    return { imported: stored.length, rates: stored.map(rateJson) }
  })

export const list = ({ positionals, values }: Parsed<typeof Commands.fxList.flags>) =>
  Effect.gen(function*() {
    const command = "fx list"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const rates = yield* withCurrencies(
      command,
      tenantId,
      values,
      Currencies.Currencies.use((fx) => fx.rates(tenantId, { base: values.base, quote: values.quote, from: values.from, to: values.to }))
    )
    return { rates: rates.map(rateJson) }
  })

export const convert = ({ positionals, values }: Parsed<typeof Commands.fxConvert.flags>) =>
  Effect.gen(function*() {
    const command = "fx convert"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const to = yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")
    const asOf = values["as-of"] === undefined ? undefined : yield* parseAt(command, values["as-of"], "--as-of")
    const result = yield* withCurrencies(
      command,
      tenantId,
      values,
      Currencies.Currencies.use((fx) =>
        fx.convert(tenantId, {
          from: DateTime.fromDateUnsafe(from),
          to: DateTime.fromDateUnsafe(to),
          asOf: asOf === undefined ? undefined : DateTime.fromDateUnsafe(asOf),
          dimension: values.dimension,
          by: values.by ?? "cli"
        })
      ).pipe(Effect.catchTag(["InvalidRate", "RateMissing", "TenantNotFound"], invalid(command)))
    )
    return {
      ...conversionJson(result.conversion),
      owners: result.owners.map((o) => ({
        owner: o.owner,
        original: o.original.map((a) => ({ currency: a.currency, amount: Money.format(a.amount) })),
        converted: Money.format(o.converted)
      }))
    }
  })
