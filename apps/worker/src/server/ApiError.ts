/**
 * A request the worker answers with an error status. The body is an RFC 9457 problem detail
 * (`Content-Type: application/problem+json`): `type` (`urn:tally:problem:<code>`), `title` (the
 * status's phrase), `status`, `detail` (what is wrong, in words a person can act on), and, for
 * clients written before, `error: { code, message }` with the same stable code and text.
 */
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Schema from "effect/Schema"

export const Code = Schema.Literals([
  "malformed_body",
  "unauthorized",
  "forbidden",
  "not_found",
  "body_too_large",
  "unsupported_media_type",
  "invalid_batch",
  "batch_too_large",
  "unavailable",
  "internal"
])
export type Code = typeof Code.Type

const statusOf: Record<Code, number> = {
  malformed_body: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  body_too_large: 413,
  unsupported_media_type: 415,
  invalid_batch: 422,
  batch_too_large: 422,
  unavailable: 503,
  internal: 500
}

export class ApiError extends Schema.TaggedError<ApiError>()("ApiError", {
  code: Code,
  message: Schema.String
}) {
  get status(): number {
    return statusOf[this.code]
  }
}

export const make = (code: Code, message: string) => new ApiError({ code, message })

/** The title of a problem: the status's reason phrase. */
const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable"
}

/** The reason phrase of a status. */
export const title = (status: number): string => titles[status] ?? (status >= 500 ? "Server Error" : "Client Error")

/** The RFC 9457 problem detail of an error answer. */
export const problem = (status: number, code: string, message: string) => ({
  type: `urn:tally:problem:${code}`,
  title: title(status),
  status,
  detail: message,
  error: { code, message }
})

export const problemContentType = "application/problem+json"

/**
 * The standard error body with any status and code (the codes above, and those the service
 * errors are answered with, see `ServiceErrors`); `WWW-Authenticate` on 401 as RFC 6750 asks,
 * `Retry-After` when the database is unavailable.
 */
export const respond = (status: number, code: string, message: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(
    problem(status, code, message),
    {
      status,
      contentType: problemContentType,
      ...(code === "unauthorized" ? { headers: { "www-authenticate": "Bearer" } } : {}),
      ...(code === "unavailable" ? { headers: { "retry-after": "1" } } : {})
    }
  )

/** The standard error body of an `ApiError`. */
export const toResponse = (error: ApiError): HttpServerResponse.HttpServerResponse => respond(error.status, error.code, error.message)
