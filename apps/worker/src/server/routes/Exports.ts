/**
 * Exports, with a key that has the `read` scope:
 *
 *   GET /api/v1/exports/chargeback/<run>?format=csv     the run's lines (one record per line)
 *   GET /api/v1/exports/chargeback/<run>?format=focus   FinOps FOCUS rows of the run (&version=1.3|1.2)
 *   GET /api/v1/exports/usage?from=<ISO>&to=<ISO>&format=focus
 *       [&asOf=<ISO>][&dimension=<d>&owner=<v>...&unowned=true][&version=1.3|1.2][&convert=true]
 *                                                       FOCUS rows of every priced call, one per cost
 *                                                       line, each with its request id (x_RequestId)
 *   GET /api/v1/exports/usage?from=<ISO>&to=<ISO>&format=focus&side=sold[&customer=<c>...][&version=1.3|1.2][&convert=true]
 *                                                       the resale side: FOCUS rows of what the tenant
 *                                                       charges its customers (each priced call's sale
 *                                                       price, credit-pack drawdowns in ContractApplied)
 *                                                       after the Purchase rows of the packs (engine FocusSold)
 *   GET /api/v1/exports/commitments?from=<ISO>&to=<ISO>[&format=dataset|purchases][&version=1.3|1.2]
 *       dataset (default): the FOCUS 1.3 Contract Commitment dataset of the tenant's commitments and
 *       customers' credit grants active in the period; purchases: their FOCUS Purchase rows
 *       (provisioned-throughput fees, credit packs granted in the period). See engine FocusCommitments.
 *
 * All are CSV (`text/csv`, RFC 4180) sent as attachments. The usage export streams page by page, so
 * a month of calls never sits in memory; with `convert=true` calls priced in another currency are
 * converted into the tenant's at the rate of their day (a day without a rate: 400 before streaming); `x-tally-unpriced-calls` tells how many calls of the period
 * have no price (no cost row; with side=sold, no sale price). A chargeback FOCUS row's `x_Lineage` is the usage export
 * query that lists the calls behind it.
 *
 * Errors are the worker's problem details (`ApiError.problem`), with `error.code`: `invalid_request` (400, names
 * the parameter), `not_found` (404, no such run for the key's tenant).
 */
import { CalendarTime, CostAllocation } from "@tally/core"
import { Chargeback, FocusCommitments, FocusSold } from "@tally/engine"
import type { Database } from "@tally/store"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as ServiceErrors from "../../ServiceErrors.ts"
import * as Auth from "../Auth.ts"

export const paths = {
  chargeback: "/api/v1/exports/chargeback/:run",
  usage: "/api/v1/exports/usage",
  commitments: "/api/v1/exports/commitments"
} as const

export type Services = Chargeback.Chargeback

export const layer: Layer.Layer<Chargeback.Chargeback, never, Database.Database> = Chargeback.Chargeback.layer

const invalid = (message: string) => new ServiceErrors.InvalidRequest({ message })

const respond = ServiceErrors.respond("export")

const csvHeaders = (filename: string) => ({
  "content-disposition": `attachment; filename="${filename}"`,
  "cache-control": "no-store"
})

/** One value of a query parameter; a repeated parameter is an error. */
const single = (params: Readonly<Record<string, string | Array<string>>>, name: string): Effect.Effect<string | undefined, ServiceErrors.InvalidRequest> => {
  const value = params[name]
  if (Array.isArray(value)) return Effect.fail(invalid(`${name}: given more than once`))
  return Effect.succeed(value)
}

const instant = (name: string, text: string | undefined): Effect.Effect<DateTime.Utc | undefined, ServiceErrors.InvalidRequest> => {
  if (text === undefined) return Effect.succeed(undefined)
  const problem = CalendarTime.problemOf(text)
  if (problem !== undefined) return Effect.fail(invalid(`${name}: ${JSON.stringify(text)} is not a real date-time: ${problem}`))
  const parsed = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text) ? DateTime.make(text) : Option.none()
  return Option.isSome(parsed)
    ? Effect.succeed(DateTime.toUtc(parsed.value))
    : Effect.fail(invalid(`${name}: expected an ISO 8601 date-time such as 2026-03-01T00:00:00Z, got ${JSON.stringify(text)}`))
}

const format = (text: string | undefined, allowed: ReadonlyArray<string>, fallback: string) =>
  text === undefined
    ? Effect.succeed(fallback)
    : allowed.includes(text)
    ? Effect.succeed(text)
    : Effect.fail(invalid(`format: expected ${allowed.join(" or ")}, got ${JSON.stringify(text)}`))

/** The FOCUS version asked for (`version=1.3`, the default, or `1.2`). */
const focusVersion = (text: string | undefined) =>
  text === undefined
    ? Effect.succeed(CostAllocation.Focus.defaultVersion)
    : CostAllocation.Focus.isVersion(text)
    ? Effect.succeed(text)
    : Effect.fail(invalid(`version: expected ${CostAllocation.Focus.versions.join(" or ")}, got ${JSON.stringify(text)}`))

export const chargeback = respond(Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const key = yield* Auth.authenticate(request, "read")
  const params = yield* HttpServerRequest.ParsedSearchParams
  const runId = (yield* HttpRouter.params).run ?? ""
  const kind = yield* format(yield* single(params, "format"), ["csv", "focus"], "csv")
  const version = yield* focusVersion(yield* single(params, "version"))
  const service = yield* Chargeback.Chargeback
  if (kind === "csv") {
    const run = yield* service.get(key.tenantId, runId)
    return HttpServerResponse.text(CostAllocation.Csv.lines(run), {
      contentType: "text/csv; charset=utf-8",
      headers: csvHeaders(`chargeback-${run.id}.csv`)
    })
  }
  const { rows, run } = yield* service.focus(key.tenantId, runId, { version })
  return HttpServerResponse.text(CostAllocation.Csv.focus(rows, version), {
    contentType: "text/csv; charset=utf-8",
    headers: csvHeaders(`chargeback-${run.id}-focus.csv`)
  })
}))

/** Values of a parameter that may be repeated (`owner=a&owner=b`); undefined when absent. */
const repeated = (params: Readonly<Record<string, string | Array<string>>>, name: string): ReadonlyArray<string> | undefined => {
  const value = params[name]
  return value === undefined ? undefined : Array.isArray(value) ? value : [value]
}

const flag = (name: string, text: string | undefined) =>
  text === undefined || text === "true" || text === "false"
    ? Effect.succeed(text === "true")
    : Effect.fail(invalid(`${name}: expected true or false, got ${JSON.stringify(text)}`))

/**
 * A usage export as the response: the CSV streamed as it is read. Headers are sent by then: a
 * failure mid-stream makes the server abort the connection without the final chunk (so the
 * client sees an error, not a short file); say why in the log. A defect (a driver error thrown
 * rather than failed) aborts it too; a client going away is an interruption, not a failure, and
 * is not logged as one.
 */
const streamed = (csv: Stream.Stream<string, unknown>, filename: string, unpriced: number) =>
  HttpServerResponse.stream(
    csv.pipe(
      Stream.tapCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError(`usage export failed mid-stream: ${causeMessage(cause)}`)),
      Stream.encodeText
    ),
    {
      contentType: "text/csv; charset=utf-8",
      headers: { ...csvHeaders(filename), "x-tally-unpriced-calls": String(unpriced) }
    }
  )

export const usage = respond(Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const key = yield* Auth.authenticate(request, "read")
  const params = yield* HttpServerRequest.ParsedSearchParams
  yield* format(yield* single(params, "format"), ["focus"], "focus")
  const side = yield* single(params, "side")
  if (side !== undefined && side !== "cost" && side !== "sold") return yield* invalid(`side: expected cost or sold, got ${JSON.stringify(side)}`)
  const version = yield* focusVersion(yield* single(params, "version"))
  const from = yield* instant("from", yield* single(params, "from"))
  const to = yield* instant("to", yield* single(params, "to"))
  if (from === undefined) return yield* invalid("from: required, an ISO 8601 date-time")
  if (to === undefined) return yield* invalid("to: required, an ISO 8601 date-time")
  const convert = yield* flag("convert", yield* single(params, "convert"))
  const period = `${DateTime.formatIso(from)}-${DateTime.formatIso(to)}`
  if (side === "sold") {
    // Sale prices are kept per call, not per ledger instant, and belong to customers, not owners.
    for (const name of ["asOf", "dimension", "owner", "unowned"]) {
      if (params[name] !== undefined) return yield* invalid(`${name}: not with side=sold (filter the customers' calls with customer=)`)
    }
    const sold = yield* FocusSold.stream(key.tenantId, { from, to, customers: repeated(params, "customer"), version, convert })
    return streamed(sold.csv, `sold-usage-${period}-focus.csv`, sold.unpriced)
  }
  if (params["customer"] !== undefined) return yield* invalid("customer: only with side=sold (for the cost side use dimension=customer&owner=...)")
  const asOf = yield* instant("asOf", yield* single(params, "asOf"))
  const dimension = yield* single(params, "dimension")
  const unowned = yield* flag("unowned", yield* single(params, "unowned"))
  const service = yield* Chargeback.Chargeback
  const { csv, unpriced } = yield* service.usage(key.tenantId, {
    from,
    to,
    asOf,
    dimension,
    owners: repeated(params, "owner"),
    unowned,
    version,
    convert
  })
  return streamed(csv, `usage-${period}-focus.csv`, unpriced)
}))

export const commitments = respond(Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const key = yield* Auth.authenticate(request, "read")
  const params = yield* HttpServerRequest.ParsedSearchParams
  const kind = yield* format(yield* single(params, "format"), ["dataset", "purchases"], "dataset")
  const version = yield* focusVersion(yield* single(params, "version"))
  if (kind === "dataset" && version !== "1.3") return yield* invalid("version: the Contract Commitment dataset exists in FOCUS 1.3 only")
  const from = yield* instant("from", yield* single(params, "from"))
  const to = yield* instant("to", yield* single(params, "to"))
  if (from === undefined) return yield* invalid("from: required, an ISO 8601 date-time")
  if (to === undefined) return yield* invalid("to: required, an ISO 8601 date-time")
  if (DateTime.toEpochMillis(to) <= DateTime.toEpochMillis(from)) return yield* invalid("to: expected an instant after from")
  const assembled = yield* FocusCommitments.assemble(key.tenantId, from, to)
  const body = kind === "dataset" ? FocusCommitments.contractCommitmentsCsv(assembled) : FocusCommitments.purchasesCsv(assembled, version)
  return HttpServerResponse.text(body, {
    contentType: "text/csv; charset=utf-8",
    headers: csvHeaders(`${kind === "dataset" ? "contract-commitments" : "purchases"}-${DateTime.formatIso(from)}-${DateTime.formatIso(to)}.csv`)
  })
}))

const causeMessage = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

export const routes = [
  HttpRouter.route("GET", paths.chargeback, chargeback),
  HttpRouter.route("GET", paths.usage, usage),
  HttpRouter.route("GET", paths.commitments, commitments)
]
