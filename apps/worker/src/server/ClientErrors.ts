/**
 * Requests Node's HTTP parser refuses before any route sees them: headers (the URL included) over
 * Node's 16 KiB limit, a request that is not HTTP, headers that arrive too slowly. Node answers
 * those with a bare status line and no body; here they get the same problem detail as every other
 * error (`ApiError.problem`), so a client always has a code and a message to act on.
 */
import type { Server } from "node:http"
import type { Duplex } from "node:stream"
import * as ApiError from "./ApiError.ts"

interface Refusal {
  readonly status: number
  readonly code: string
  readonly message: string
}

const refusalOf = (error: NodeJS.ErrnoException): Refusal => {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return {
        status: 431,
        code: "headers_too_large",
        message: "the request's headers, its URL included, are over 16 KiB; send long values in the body, or fewer parameters"
      }
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, code: "request_timeout", message: "the request did not arrive in time; send it again" }
    default:
      return { status: 400, code: "malformed_request", message: `the request is not valid HTTP/1.1 (${error.code ?? "parse error"})` }
  }
}

const answer = (refusal: Refusal): string => {
  const body = JSON.stringify(ApiError.problem(refusal.status, refusal.code, refusal.message))
  return [
    `HTTP/1.1 ${refusal.status} ${ApiError.title(refusal.status)}`,
    `Content-Type: ${ApiError.problemContentType}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    "Connection: close",
    "",
    body
  ].join("\r\n")
}

const onClientError = (error: NodeJS.ErrnoException, socket: Duplex): void => {
  // A client that went away, or a socket a response is already being written to, gets nothing more.
  const responding = "_httpMessage" in socket && socket._httpMessage !== null && socket._httpMessage !== undefined
  if (error.code === "ECONNRESET" || !socket.writable || responding) {
    socket.destroy()
    return
  }
  socket.end(answer(refusalOf(error)))
}

/** The server, answering the parser's refusals with problem details. */
export const answerWithProblems = <S extends Server>(server: S): S => server.on("clientError", onClientError)
