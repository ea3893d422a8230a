/**
 * Uploading a provider report for reconciliation, with a key that has the `admin` scope:
 *
 *   POST /api/v1/reconcile/reports?format=openai-costs|openai-usage|anthropic-cost|anthropic-usage|csv[&name=<label>]
 *     body: the report file as exported (JSON page(s) or CSV), at most 16 MiB
 *     -> 201 { id, format, provider, name, period: { from, to }, rowCount, uploadedAt }
 *
 * The report is parsed before it is stored, so only a report a run can read is kept; a run over an
 * overlapping period (`runReconciliation` in GraphQL) compares against it by id.
 *
 * Errors are the worker's problem details (`ApiError.problem`), with `error.code`: `invalid_request` (400, a bad
 * or missing query parameter), `malformed_body` (400, JSON nested deeper than 64 levels),
 * `invalid_report` (422, the report does not parse; the message names the line, page or field),
 * `body_too_large` (413).
 */
import { Reconciliation } from "@tally/core"
import { Reconcile } from "@tally/engine"
import { ProviderReports } from "@tally/store"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Result from "effect/Result"
import * as ServiceErrors from "../../ServiceErrors.ts"
import * as ApiError from "../ApiError.ts"
import * as Auth from "../Auth.ts"
import * as JsonDepth from "../internal/JsonDepth.ts"
import * as RequestBody from "../RequestBody.ts"

export const paths = { reports: "/api/v1/reconcile/reports" } as const

/** A month of a provider's daily cost pages is far below this; ingest's smaller limit would refuse big CSVs. */
export const maxReportBytes = 16 * 1024 * 1024

const respond = ServiceErrors.respond("report upload")

const badParameter = (message: string) => Effect.fail(new ServiceErrors.InvalidRequest({ message }))

const single = (params: Readonly<Record<string, string | Array<string>>>, name: string) => {
  const value = params[name]
  return Array.isArray(value) ? badParameter(`${name}: given more than once`) : Effect.succeed(value)
}

export const upload = respond(Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const key = yield* Auth.authenticate(request, "admin")
  const params = yield* HttpServerRequest.ParsedSearchParams
  const format = yield* single(params, "format")
  if (format === undefined) {
    return yield* badParameter(`format: required, one of ${Reconciliation.reportFormats.join(", ")}`)
  }
  if (!(Reconciliation.reportFormats as ReadonlyArray<string>).includes(format)) {
    return yield* badParameter(`format: expected one of ${Reconciliation.reportFormats.join(", ")}, got ${JSON.stringify(format)}`)
  }
  const name = yield* single(params, "name")
  if (name !== undefined && name.length > 500) return yield* badParameter("name: at most 500 characters")
  const content = yield* RequestBody.readText(request, maxReportBytes)
  if (format !== "csv" && JsonDepth.exceeds(content)) return yield* ApiError.make("malformed_body", JsonDepth.message())
  const parsed = Reconcile.Compare.parse(format, content)
  if (Result.isFailure(parsed)) return yield* parsed.failure
  const report = parsed.success
  const stored = yield* ProviderReports.ProviderReports.use((reports) =>
    reports.save(key.tenantId, {
      format: report.format,
      name,
      period: report.period,
      rowCount: report.rows.length,
      content
    })
  )
  return HttpServerResponse.jsonUnsafe({
    id: stored.id,
    format: stored.format,
    provider: report.provider,
    name: name ?? null,
    period: { from: report.period.from.toISOString(), to: report.period.to.toISOString() },
    rowCount: stored.rowCount,
    uploadedAt: stored.uploadedAt
  }, { status: 201 })
}))

export const routes = [HttpRouter.route("POST", paths.reports, upload)]
