/**
 * `tally sale-price-book ...`, `tally margin`, `tally statement ...` and `tally sold-usage`: a
 * tenant's sale price rules and customer plans, a call's recorded sale price, margin, customer
 * statements, and the resale side's FOCUS rows (streamed to a file page by page), in the
 * configured database (`TALLY_DATABASE_URL` / `TALLY_DATA_DIR`, or `--database-url` / `--data-dir`).
 * JSON on stdout (a statement's CSV or HTML with `--format`, or the document alone on `--out -`);
 * exit 2 for bad input, an unknown tenant, rule or statement; 1 for a database failure.
 * See docs/resale.md.
 */
import { CostAllocation, Money, SalePrice, Statement } from "@tally/core"
import { FocusSold, SalePricing } from "@tally/engine"
import { CustomerStatements, SalePrices, Store } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { open, writeFile } from "node:fs/promises"
import { type CliError, invalidInput, Printed } from "../CliError.ts"
import type * as Commands from "../Commands.ts"
import { type DatabaseFlags, type Failure, invalid, requireTenant, withDatabase } from "../CommandDatabase.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { parseAt } from "./Cost.ts"

type Services = Store.Services | SalePricing.SalePricing

const withResale = <A>(command: string, tenantId: string, values: DatabaseFlags, effect: Effect.Effect<A, Failure, Services>) =>
  withDatabase(
    command,
    values,
    (database) => SalePricing.SalePricing.layer.pipe(Layer.provideMerge(Store.layerWith(database))),
    Effect.andThen(requireTenant(command, tenantId), effect)
  )

const noArguments = (command: string, positionals: ReadonlyArray<string>) =>
  positionals.length > 0 ? Effect.fail(invalidInput(`${command}: unexpected argument "${positionals[0]}"`)) : Effect.void

/** `component=decimal` pairs as a JSON object; the decimals are checked by the rule's schema. */
const ratesOf = (command: string, values: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const rates: Record<string, string> = {}
    for (const pair of values) {
      const at = pair.indexOf("=")
      if (at <= 0) return yield* invalidInput(`${command}: --rate must be component=decimal such as inputText=2.5, got "${pair}"`)
      rates[pair.slice(0, at)] = pair.slice(at + 1)
    }
    return rates
  })

const repeated = (value: string | ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
  value === undefined ? [] : typeof value === "string" ? [value] : value

export const addRule = ({ positionals, values }: Parsed<typeof Commands.salePriceBookAdd.flags>) =>
  Effect.gen(function*() {
    const command = "sale-price-book add"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const until = values.until === undefined ? undefined : yield* parseAt(command, values.until, "--until")
    const rates = repeated(values.rate)
    const encoded = {
      name: yield* Spec.required(command, "name", values.name),
      kind: yield* Spec.required(command, "kind", values.kind),
      effectiveFrom: from.toISOString(),
      ...(until === undefined ? {} : { effectiveTo: until.toISOString() }),
      ...(values.percent === undefined ? {} : { percent: values.percent }),
      ...(values["per-unit"] === undefined ? {} : { perUnit: values["per-unit"] }),
      ...(rates.length === 0 ? {} : { rates: yield* ratesOf(command, rates) }),
      ...(values.currency === undefined ? {} : { currency: values.currency }),
      ...(values.customer === undefined ? {} : { customer: values.customer }),
      ...(values.plan === undefined ? {} : { plan: values.plan }),
      ...(values.provider === undefined ? {} : { provider: values.provider }),
      ...(values.model === undefined ? {} : { model: values.model })
    }
    const decoded = SalePrice.decodeRuleInput(encoded)
    if (Result.isFailure(decoded)) {
      // The schema's field names, as the flags spell them.
      const flag = decoded.failure.field.replace(/^perUnit/, "per-unit").replace(/^effectiveFrom/, "from").replace(/^effectiveTo/, "until")
        .replace(/^rates/, "rate")
      return yield* invalidInput(`${command}: --${flag}: ${decoded.failure.message.slice(decoded.failure.field.length + 2)}`)
    }
    const rule = yield* withResale(command, tenantId, values, SalePricing.SalePricing.use((s) => s.addRule(tenantId, decoded.success)).pipe(
      Effect.catchTag(["InvalidSaleRule", "TenantNotFound"], invalid(command))
    ))
    return SalePricing.ruleJson(rule)
  })

export const listRules = ({ positionals, values }: Parsed<typeof Commands.salePriceBookList.flags>) =>
  Effect.gen(function*() {
    const command = "sale-price-book list"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const rules = yield* withResale(command, tenantId, values, SalePrices.SalePrices.use((s) => s.listRules(tenantId, { archived: values.archived === true })))
    return { tenant: tenantId, rules: rules.map(SalePricing.ruleJson) }
  })

export const archiveRule = ({ positionals, values }: Parsed<typeof Commands.salePriceBookArchive.flags>) =>
  Effect.gen(function*() {
    const command = "sale-price-book archive"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const ruleId = yield* Spec.required(command, "rule", values.rule)
    const rule = yield* withResale(command, tenantId, values, SalePricing.SalePricing.use((s) => s.archiveRule(tenantId, ruleId)).pipe(
      Effect.catchTag("SaleRuleNotFound", invalid(command))
    ))
    return SalePricing.ruleJson(rule)
  })

export const assignPlan = ({ positionals, values }: Parsed<typeof Commands.salePriceBookAssignPlan.flags>) =>
  Effect.gen(function*() {
    const command = "sale-price-book assign-plan"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const customer = yield* Spec.required(command, "customer", values.customer)
    const plan = yield* Spec.required(command, "plan", values.plan)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const problem = SalePrice.checkPlan(customer, plan)
    if (problem !== undefined) return yield* invalidInput(`${command}: --${problem.message}`)
    const assigned = yield* withResale(command, tenantId, values, SalePricing.SalePricing.use((s) =>
      s.assignPlan(tenantId, { customer, plan, effectiveFrom: from.getTime() })
    ).pipe(Effect.catchTag(["InvalidSaleRule", "TenantNotFound"], invalid(command))))
    return { tenant: tenantId, customer: assigned.customer, plan: assigned.plan, effectiveFrom: from.toISOString() }
  })

export const callPrice = ({ positionals, values }: Parsed<typeof Commands.salePriceBookPrice.flags>) =>
  Effect.gen(function*() {
    const command = "sale-price-book price"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const requestId = yield* Spec.required(command, "request", values.request)
    const found = yield* withResale(command, tenantId, values, SalePricing.SalePricing.use((s) => s.priceOf(tenantId, requestId)))
    if (Option.isNone(found)) {
      return yield* invalidInput(`${command}: no sale price recorded for request "${requestId}" (no such call, or no sale rules when it was recorded)`)
    }
    return SalePricing.priceJson(found.value)
  })

const dimensionsOf = (command: string, value: string | undefined) =>
  Effect.gen(function*() {
    const dims = (value ?? "customer").split(",").map((d) => d.trim()).filter((d) => d !== "")
    for (const dim of dims) {
      if (!CustomerStatements.marginDimensions.includes(dim as CustomerStatements.MarginDimension)) {
        return yield* invalidInput(`${command}: --group-by: unknown dimension "${dim}"; expected ${CustomerStatements.marginDimensions.join(", ")}`)
      }
    }
    return dims as ReadonlyArray<CustomerStatements.MarginDimension>
  })

export const margin = ({ positionals, values }: Parsed<typeof Commands.margin.flags>) =>
  Effect.gen(function*() {
    const command = "margin"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const to = yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")
    const groupBy = yield* dimensionsOf(command, values["group-by"])
    const rows = yield* withResale(command, tenantId, values, CustomerStatements.CustomerStatements.use((s) =>
      s.margin(tenantId, {
        from: DateTime.fromDateUnsafe(from),
        to: DateTime.fromDateUnsafe(to),
        groupBy,
        ...(values.customer === undefined ? {} : { customer: values.customer })
      })
    ).pipe(Effect.catchTag("InvalidStatement", invalid(command))))
    return { tenant: tenantId, from: from.toISOString(), to: to.toISOString(), groupBy, rows: rows.map(CustomerStatements.marginJson) }
  })

const statementInput = (command: string, values: Parsed<typeof Commands.statementPreview.flags>["values"]) =>
  Effect.gen(function*() {
    const groupBy = values["group-by"] ?? "model"
    if (groupBy !== "model" && groupBy !== "feature") return yield* invalidInput(`${command}: --group-by must be model or feature, got "${groupBy}"`)
    return {
      customer: yield* Spec.required(command, "customer", values.customer),
      from: DateTime.fromDateUnsafe(yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")),
      to: DateTime.fromDateUnsafe(yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")),
      currency: yield* Spec.required(command, "currency", values.currency),
      groupBy
    } satisfies CustomerStatements.StatementInput
  })

const formatOf = (command: string, value: string | undefined): Effect.Effect<"json" | "csv" | "html", CliError> =>
  value === undefined || value === "json" || value === "csv" || value === "html"
    ? Effect.succeed(value ?? "json")
    : Effect.fail(invalidInput(`${command}: --format must be json, csv or html, got "${value}"`))

const render = (statement: Statement.Statement, format: "json" | "csv" | "html") =>
  format === "csv" ? new Printed(Statement.toCsv(statement)) : format === "html" ? new Printed(Statement.toHtml(statement)) : Statement.toJson(statement)

const statementErrors = ["InvalidStatement", "StatementOverlap"] as const

export const preview = ({ positionals, values }: Parsed<typeof Commands.statementPreview.flags>) =>
  Effect.gen(function*() {
    const command = "statement preview"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const format = yield* formatOf(command, values.format)
    const input = yield* statementInput(command, values)
    const statement = yield* withResale(command, tenantId, values, CustomerStatements.CustomerStatements.use((s) => s.preview(tenantId, input)).pipe(
      Effect.catchTag(statementErrors, invalid(command))
    ))
    return statement === null ? { changed: false, statement: null } : render(statement, format)
  })

export const finalize = ({ positionals, values }: Parsed<typeof Commands.statementFinalize.flags>) =>
  Effect.gen(function*() {
    const command = "statement finalize"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    if (values.by !== undefined && values.by.trim() === "") return yield* invalidInput(`${command}: --by must not be empty`)
    const input = yield* statementInput(command, values)
    const statement = yield* withResale(command, tenantId, values, CustomerStatements.CustomerStatements.use((s) => s.finalize(tenantId, input, values.by ?? "cli")).pipe(
      Effect.catchTag(statementErrors, invalid(command))
    ))
    return { changed: statement !== null, statement: statement === null ? null : Statement.toJson(statement) }
  })

export const list = ({ positionals, values }: Parsed<typeof Commands.statementList.flags>) =>
  Effect.gen(function*() {
    const command = "statement list"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const statements = yield* withResale(command, tenantId, values, CustomerStatements.CustomerStatements.use((s) => s.list(tenantId, values.customer)))
    return {
      tenant: tenantId,
      statements: statements.map((s) => {
        const { lines: _lines, ...rest } = Statement.toJson(s)
        return { ...rest, lineCount: s.lines.length }
      })
    }
  })

export const exportStatement = ({ positionals, values }: Parsed<typeof Commands.statementExport.flags>) =>
  Effect.gen(function*() {
    const command = "statement export"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const id = yield* Spec.required(command, "id", values.id)
    const out = yield* Spec.required(command, "out", values.out)
    const format = yield* formatOf(command, values.format)
    const statement = yield* withResale(command, tenantId, values, CustomerStatements.CustomerStatements.use((s) => s.get(tenantId, id)).pipe(
      Effect.catchTag("StatementNotFound", invalid(command))
    ))
    const text = format === "csv" ? Statement.toCsv(statement) : format === "html" ? Statement.toHtml(statement) : `${JSON.stringify(Statement.toJson(statement), null, 2)}\n`
    if (out === "-") return new Printed(text)
    yield* Effect.tryPromise({
      try: () => writeFile(out, text),
      catch: (cause) => invalidInput(`${command}: cannot write ${out}: ${(cause as Error).message}`)
    })
    return { id: statement.id, format, file: out, lines: statement.lines.length, total: statement.total.toFixed(Money.minorUnits(statement.currency)), currency: statement.currency }
  })

/** The resale side's FOCUS rows of a period (`FocusSold`), written to a file as they are read. */
export const soldUsage = ({ positionals, values }: Parsed<typeof Commands.soldUsage.flags>) =>
  Effect.gen(function*() {
    const command = "sold-usage"
    yield* noArguments(command, positionals)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const to = yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")
    const out = yield* Spec.required(command, "out", values.out)
    const version = values["focus-version"] ?? CostAllocation.Focus.defaultVersion
    if (!CostAllocation.Focus.isVersion(version)) {
      return yield* invalidInput(`${command}: --focus-version must be ${CostAllocation.Focus.versions.join(" or ")}, got "${version}"`)
    }
    const cannotWrite = (cause: unknown) => invalidInput(`${command}: cannot write ${out}: ${(cause as Error).message}`)
    const written = yield* withResale(
      command,
      tenantId,
      values,
      Effect.gen(function*() {
        const sold = yield* FocusSold.stream(tenantId, {
          from: DateTime.fromDateUnsafe(from),
          to: DateTime.fromDateUnsafe(to),
          customers: values.customer,
          version,
          convert: values.convert === true
        }).pipe(Effect.catchTag("InvalidChargeback", (error) => Effect.fail(invalidInput(`${command}: --${error.field}: ${error.message.replace(`${error.field}: `, "")}`))))
        if (out === "-") return { unpriced: sold.unpriced, text: (yield* Stream.runCollect(sold.csv)).join("") }
        yield* Effect.scoped(Effect.gen(function*() {
          const file = yield* Effect.acquireRelease(
            Effect.tryPromise({ try: () => open(out, "w"), catch: cannotWrite }),
            (handle) => Effect.promise(() => handle.close())
          )
          yield* Stream.runForEach(sold.csv, (chunk) => Effect.tryPromise({ try: () => file.write(chunk), catch: cannotWrite }))
        }))
        return { unpriced: sold.unpriced, text: undefined }
      }).pipe(Effect.catchTag("TenantNotFound", invalid(command)))
    )
    if (written.text !== undefined) return new Printed(written.text)
    return { tenant: tenantId, file: out, focusVersion: version, converted: values.convert === true, unpricedCalls: written.unpriced }
  })
