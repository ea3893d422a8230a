/**
 * Exports, with a key that has the `read` scope:
 *
 *   GET /api/v1/exports/chargeback/<run>?format=csv     the run's lines (one record per line)
 *   GET /api/v1/exports/chargeback/<run>?format=focus   FinOps FOCUS rows of the run (&version=1.3|1.2)
 *   GET /api/v1/exports/usage?from=<ISO>&to=<ISO>&format=focus
 *       [&asOf=<ISO>][&dimension=<d>&owner=<v>...&unowned=true][&version=1.3|1.2][&convert=true]
 *                                                       FOCUS rows of every priced call, one per cost
 *                                                       line, each with its request id (x_RequestId)
 *   GET /api/v1/exports/commitments?from=<ISO>&to=<ISO>[&format=dataset|purchases][&version=1.3|1.2]
 *       dataset (default): the FOCUS 1.3 Contract Commitment dataset of the tenant's commitments and
 *       customers' credit grants active in the period; purchases: their FOCUS Purchase rows
 *       (provisioned-throughput fees, credit packs granted in the period). See engine FocusCommitments.
 *
 * All are CSV (`text/csv`, RFC 4180) sent as attachments. The usage export streams page by page, so
 * a month of calls never sits in memory; with `convert=true` calls priced in another currency are
 * converted into the tenant's at the rate of their day (a day without a rate: 400 before streaming); `x-tally-unpriced-calls` tells how many calls of the period
 * have no price (they have no cost row). A chargeback FOCUS row's `x_Lineage` is the usage export
 * query that lists the calls behind it.
 *
 * Errors are the worker's problem details (`ApiError.problem`), with `error.code`: `invalid_request` (400, names
 * the parameter), `not_found` (404, no such run for the key's tenant).
 */
import { CalendarTime, CostAllocation } from "@tally/core"
import { Chargeback, FocusCommitments } from "@tally/engine"
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

export const usage = respond(Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const key = yield* Auth.authenticate(request, "read")
  const params = yield* HttpServerRequest.ParsedSearchParams
  yield* format(yield* single(params, "format"), ["focus"], "focus")
  const version = yield* focusVersion(yield* single(params, "version"))
  const from = yield* instant("from", yield* single(params, "from"))
  const to = yield* instant("to", yield* single(params, "to"))
  if (from === undefined) return yield* invalid("from: required, an ISO 8601 date-time")
  if (to === undefined) return yield* invalid("to: required, an ISO 8601 date-time")
  const asOf = yield* instant("asOf", yield* single(params, "asOf"))
  const dimension = yield* single(params, "dimension")
  const ownerParam = params["owner"]
  const owners = ownerParam === undefined ? undefined : Array.isArray(ownerParam) ? ownerParam : [ownerParam]
  const unownedText = yield* single(params, "unowned")
  if (unownedText !== undefined && unownedText !== "true" && unownedText !== "false") {
    return yield* invalid(`unowned: expected true or false, got ${JSON.stringify(unownedText)}`)
  }
  const convertText = yield* single(params, "convert")
  if (convertText !== undefined && convertText !== "true" && convertText !== "false") {
    return yield* invalid(`convert: expected true or false, got ${JSON.stringify(convertText)}`)
  }
  const service = yield* Chargeback.Chargeback
  const { csv, unpriced } = yield* service.usage(key.tenantId, {
    from,
    to,
    asOf,
    dimension,
    owners,
    unowned: unownedText === "true",
    version,
    convert: convertText === "true"
  })
  const body = csv.pipe(
    // Headers are sent by now: a failure mid-stream makes the server abort the connection without
    // the final chunk (so the client sees an error, not a short file); say why in the log.
    // A defect (a driver error thrown rather than failed) aborts it too; a client going away is
    // an interruption, not a failure, and is not logged as one.
    Stream.tapCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError(`usage export failed mid-stream: ${causeMessage(cause)}`)),
    Stream.encodeText
  )
  return HttpServerResponse.stream(body, {
    contentType: "text/csv; charset=utf-8",
    headers: {
      ...csvHeaders(`usage-${DateTime.formatIso(from)}-${DateTime.formatIso(to)}-focus.csv`),
      "x-tally-unpriced-calls": String(unpriced)
    }
  })
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
