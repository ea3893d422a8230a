/**
 * The console's only way to the server: the public GraphQL API at /graphql (and the documented
 * CSV exports), with the session's key as a Bearer token. Typed errors of the API are results
 * (`__typename` of a union) and are handled by each page; what is left here is transport: a key
 * the server refuses, a refused query, a server that is down.
 */
import * as Session from "./Session.ts"

export class ApiFailure extends Error {
  readonly code: string
  constructor(message: string, code: string) {
    super(message)
    this.code = code
  }
}

type Listener = () => void
const unauthenticated = new Set<Listener>()

/** Called when the server refuses the key (revoked, unknown): the app signs out. */
export const onUnauthenticated = (listener: Listener): (() => void) => {
  unauthenticated.add(listener)
  return () => unauthenticated.delete(listener)
}

interface GraphqlReply<T> {
  readonly data?: T
  readonly errors?: ReadonlyArray<{ readonly message: string; readonly extensions?: { readonly code?: string } }>
}

export const request = async <T>(query: string, variables: Record<string, unknown> = {}, key = Session.read()): Promise<T> => {
  if (key === null) throw new ApiFailure("not signed in", "UNAUTHENTICATED")
  let response: Response
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables })
    })
  } catch {
    throw new ApiFailure("the Tally worker does not answer; is it running?", "NETWORK")
  }
  let reply: GraphqlReply<T>
  try {
    reply = await response.json() as GraphqlReply<T>
  } catch {
    throw new ApiFailure(`the server answered ${response.status} without JSON`, "BAD_RESPONSE")
  }
  const first = reply.errors?.[0]
  if (first !== undefined) {
    const code = first.extensions?.code ?? "GRAPHQL_ERROR"
    if (code === "UNAUTHENTICATED") unauthenticated.forEach((listener) => listener())
    throw new ApiFailure(first.message, code)
  }
  if (reply.data === undefined) throw new ApiFailure(`the server answered ${response.status} without data`, "BAD_RESPONSE")
  return reply.data
}

/** A CSV export as a download: fetched with the key (never put in a URL), saved under its name. */
export const download = async (path: string, fallbackName: string): Promise<void> => {
  const key = Session.read()
  if (key === null) throw new ApiFailure("not signed in", "UNAUTHENTICATED")
  const response = await fetch(path, { headers: { authorization: `Bearer ${key}` } })
  if (!response.ok) {
    const body = await response.json().catch(() => undefined) as { error?: { message?: string } } | undefined
    throw new ApiFailure(body?.error?.message ?? `the export answered ${response.status}`, "EXPORT")
  }
  const disposition = response.headers.get("content-disposition") ?? ""
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName
  const url = URL.createObjectURL(await response.blob())
  const link = document.createElement("a")
  link.href = url
  link.download = name
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** A typed error result of the API (a member of a result union). */
export interface ErrorResult {
  readonly __typename: "InvalidInput" | "NotFound" | "Forbidden" | "Conflict"
  readonly message: string
  readonly field?: string
  readonly requiredScope?: string
}

export const errorFields = `... on Error { message } ... on InvalidInput { field } ... on Forbidden { requiredScope }`

/** The value of a result union, or a thrown failure with the typed error's message. */
export const unwrap = <T extends { readonly __typename: string }>(result: T | ErrorResult, expected: T["__typename"]): T => {
  if (result.__typename === expected) return result as T
  const error = result as ErrorResult
  throw new ApiFailure(
    error.field === undefined ? error.message : `${error.message} (${error.field})`,
    error.__typename
  )
}
