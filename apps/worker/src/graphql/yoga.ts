/**
 * The GraphQL server as a fetch handler (`yoga.fetch(request)`), apart from the HTTP server that
 * listens, so tests can call it directly.
 *
 * A request needs `Authorization: Bearer <API key>`: a missing, malformed, unknown or revoked key
 * is answered 401 before anything runs. What the key may do is decided per field by its scopes
 * (`Forbidden` results). Subscriptions are served as server-sent events (`Accept:
 * text/event-stream`). GraphiQL is served at GET /graphql to browsers when enabled, from this
 * process (`Graphiql.ts`).
 */
import { type ApiKey, StorableText } from "@tally/core"
import type { ASTVisitor, ValidationContext } from "graphql"
import { ApiKeys } from "@tally/store"
import { createGraphQLError, createYoga, type YogaServerInstance } from "graphql-yoga"
import * as AnswerCache from "./AnswerCache.ts"
import { type GraphqlContext, type Runner } from "./Context.ts"
import * as Graphiql from "./Graphiql.ts"
import { schema } from "./schema/index.ts"

export const endpoint = "/graphql"

export interface YogaOptions {
  /** Runs service calls in the worker's services. */
  readonly runner: (signal: AbortSignal | undefined) => Runner
  readonly graphiql: boolean
  /** Default interval of subscriptions' checks for changes, in milliseconds. */
  readonly pollMillis: number
  /** Keeps serialized `usage` answers (`AnswerCache.ts`); none when unset. */
  readonly answerCache?: AnswerCache.AnswerCache | undefined
}

/** What GraphiQL opens with: who the key is, a query that works for any read key. */
const defaultQuery = `# Tally's GraphQL API: see docs/graphql.md. Run with the play button (Ctrl-Enter).
{
  viewer {
    ... on Viewer { tenant { id name currency timeZone } scopes }
    ... on Error { message }
  }
}
`

const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i

const unauthenticated = (message: string) =>
  createGraphQLError(message, {
    extensions: { code: "UNAUTHENTICATED", http: { status: 401, headers: { "www-authenticate": "Bearer" } } }
  })

/**
 * Text the database cannot store (a NUL, a lone surrogate) in a variable or a string literal is
 * invalid input, refused before anything runs: 400 with `INVALID_INPUT` naming where it is.
 * Otherwise a filter such as `requestId: "a\u0000"` would reach PostgreSQL and fail as if the
 * database were down.
 */
const unstorable = (message: string, field: string) =>
  createGraphQLError(message, { extensions: { code: "INVALID_INPUT", field, http: { status: 400 } } })

const storableLiterals = (context: ValidationContext): ASTVisitor => ({
  StringValue: (node) => {
    const problem = StorableText.problemOf(node.value)
    if (problem !== undefined) {
      context.reportError(unstorable(`a string literal ${problem}`, "query"))
    }
  }
})

const storableInput = {
  onParams: ({ params, setResult }: {
    readonly params: { readonly variables?: Record<string, unknown> | undefined }
    readonly setResult: (result: { errors: ReadonlyArray<Error> }) => void
  }) => {
    const found = StorableText.find(params.variables ?? {}, "variables")
    if (found !== undefined) setResult({ errors: [unstorable(`${found.path}: ${found.problem}`, found.path)] })
  },
  onValidate: ({ addValidationRule }: { readonly addValidationRule: (rule: (context: ValidationContext) => ASTVisitor) => void }) => {
    addValidationRule(storableLiterals)
  }
}

export const makeYoga = (options: YogaOptions): YogaServerInstance<Record<string, unknown>, GraphqlContext> =>
  createYoga<Record<string, unknown>, GraphqlContext>({
    schema,
    plugins: options.answerCache === undefined ? [storableInput] : [storableInput, AnswerCache.plugin(options.answerCache)],
    graphqlEndpoint: endpoint,
    landingPage: false,
    logging: false,
    // Served from this process: yoga's default page loads GraphiQL from a CDN.
    renderGraphiQL: Graphiql.page,
    graphiql: options.graphiql ? { title: "Tally GraphQL", defaultQuery } : false,
    context: async ({ request }): Promise<GraphqlContext> => {
      const header = request.headers.get("authorization")
      if (header === null || header === "") throw unauthenticated("missing API key: send the header Authorization: Bearer <key>")
      const secret = bearer.exec(header)?.[1]
      if (secret === undefined) throw unauthenticated("the Authorization header must read Bearer <key>")
      const run = options.runner(request.signal)
      let key: ApiKey.VerifiedKey
      try {
        key = await run(ApiKeys.ApiKeys.use((keys) => keys.verify(secret)))
      } catch (error) {
        if ((error as { readonly _tag?: unknown })._tag === "ApiKeyRejected") throw unauthenticated("the API key is not valid (unknown or revoked)")
        throw createGraphQLError("the database is unavailable; retry later", {
          extensions: { code: "UNAVAILABLE", http: { status: 503, headers: { "retry-after": "1" } } }
        })
      }
      return { tenantId: key.tenantId, key, run, pollMillis: options.pollMillis, signal: request.signal }
    }
  })
