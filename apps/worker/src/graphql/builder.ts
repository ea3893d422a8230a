/**
 * The schema builder: plugins, scalars, the request context and the typed errors every field can
 * return as a member of its result union.
 *
 * Plugin order matters: the errors plugin wraps the others, so a failed scope check (scope auth)
 * and a failed load (dataloader) become typed results; complexity and depth are checked before
 * any root field resolves.
 */
import SchemaBuilder from "@pothos/core"
import ComplexityPlugin from "@pothos/plugin-complexity"
import DataloaderPlugin from "@pothos/plugin-dataloader"
import ErrorsPlugin from "@pothos/plugin-errors"
import RelayPlugin from "@pothos/plugin-relay"
import ScopeAuthPlugin, { AuthScopeFailureType, type AuthFailure } from "@pothos/plugin-scope-auth"
import { CalendarTime, Money } from "@tally/core"
import * as DateTime from "effect/DateTime"
import { GraphQLError, Kind, type ValueNode } from "./internal/Graphql.ts"
import type { GraphqlContext } from "./Context.ts"
import { Conflict, Forbidden, InvalidInput, NotFound } from "./Errors.ts"

/** Limits every operation is checked against before it runs. */
export const limits = {
  /** Deepest selection (fields inside fields). */
  depth: 12,
  /** Fields selected in total. */
  breadth: 400,
  /** Sum of field costs, lists multiplied by their page size (see each connection). */
  complexity: 20_000
} as const

export type Scalars = {
  Decimal: { Input: Money.Decimal; Output: Money.Decimal }
  DateTime: { Input: DateTime.Utc; Output: DateTime.Utc }
  Long: { Input: number; Output: number }
  JSON: { Input: unknown; Output: unknown }
}

export const builder = new SchemaBuilder<{
  Context: GraphqlContext
  Scalars: Scalars
  AuthScopes: { read: boolean; admin: boolean }
  DefaultFieldNullability: false
  DefaultInputFieldRequiredness: false
}>({
  plugins: [ErrorsPlugin, ScopeAuthPlugin, RelayPlugin, DataloaderPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  errors: { defaultTypes: [] },
  scopeAuth: {
    // `admin` includes `read`; an `ingest`-only key can do nothing here.
    authScopes: (context) => ({
      read: context.key.scopes.includes("read") || context.key.scopes.includes("admin"),
      admin: context.key.scopes.includes("admin")
    }),
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, context, _info, result) => {
      const scope = requiredScope(result.failure)
      return new Forbidden(
        `this needs an API key with the "${scope}" scope (this key has ${context.key.scopes.join(", ")})`,
        scope
      )
    }
  },
  relay: {
    // Objects are fetched through their own queries (`model(id:)`, `chargebackRun(id:)`), each
    // checked for scope; no generic `node` lookup by global id.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    cursorType: "String"
  },
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 10,
    limit: limits,
    complexityError: (kind, result) =>
      new GraphQLError(
        kind === "Depth"
          ? `the query is ${result.depth} levels deep; at most ${limits.depth} are allowed`
          : kind === "Breadth"
          ? `the query selects ${result.breadth} fields; at most ${limits.breadth} are allowed`
          : `the query costs ${result.complexity}; at most ${limits.complexity} is allowed (lists count once per item asked for)`,
        { extensions: { code: "QUERY_TOO_COMPLEX", kind: kind.toLowerCase() } }
      )
  }
})

const requiredScope = (failure: AuthFailure): string => {
  if (failure.kind === AuthScopeFailureType.AuthScope) return failure.scope
  if (failure.kind === AuthScopeFailureType.AnyAuthScopes || failure.kind === AuthScopeFailureType.AllAuthScopes) {
    for (const child of failure.failures) {
      const scope = requiredScope(child)
      if (scope !== "") return scope
    }
  }
  return "read"
}

// ---------------------------------------------------------------------------------------------
// Scalars

const decimalPattern = /^-?(?:0|[1-9]\d*)(?:\.\d+)?$/

const parseDecimal = (value: unknown): Money.Decimal => {
  if (typeof value !== "string" || !decimalPattern.test(value)) {
    throw new GraphQLError(`expected a decimal string such as "12.50" (not a number, no exponent), got ${JSON.stringify(value)}`)
  }
  const tooLong = Money.inputProblem(value)
  if (tooLong !== undefined) throw new GraphQLError(tooLong)
  return new Money.Decimal(value)
}

builder.scalarType("Decimal", {
  description: "An exact decimal number as a string, e.g. \"0.000125\". Money is never a float.",
  serialize: (value) => Money.format(value),
  parseValue: parseDecimal,
  parseLiteral: (ast: ValueNode) => parseDecimal(ast.kind === Kind.STRING ? ast.value : undefined)
})

const parseInstant = (value: unknown): DateTime.Utc => {
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/.test(value)) {
    const problem = CalendarTime.problemOf(value)
    if (problem !== undefined) throw new GraphQLError(`${JSON.stringify(value)} is not a real date-time: ${problem}`)
    const millis = Date.parse(value)
    if (!Number.isNaN(millis)) return DateTime.makeUnsafe(millis)
  }
  throw new GraphQLError(`expected an ISO 8601 date-time with a zone such as "2025-03-01T00:00:00Z", got ${JSON.stringify(value)}`)
}

builder.scalarType("DateTime", {
  description: "An instant, as ISO 8601 with a zone (\"2025-03-01T00:00:00Z\"); returned in UTC.",
  serialize: (value) => DateTime.formatIso(value),
  parseValue: parseInstant,
  parseLiteral: (ast: ValueNode) => parseInstant(ast.kind === Kind.STRING ? ast.value : undefined)
})

const parseLong = (value: unknown): number => {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value
  throw new GraphQLError(`expected a whole number, got ${JSON.stringify(value)}`)
}

builder.scalarType("Long", {
  description: "A count that may exceed 32 bits (tokens, requests), as a JSON number; exact up to 2^53.",
  serialize: (value) => value,
  parseValue: parseLong,
  parseLiteral: (ast: ValueNode) => parseLong(ast.kind === Kind.INT ? Number(ast.value) : undefined)
})

const literalValue = (ast: ValueNode): unknown => {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.ENUM:
      return ast.value
    case Kind.BOOLEAN:
      return ast.value
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value)
    case Kind.NULL:
      return null
    case Kind.LIST:
      return ast.values.map(literalValue)
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((field) => [field.name.value, literalValue(field.value)]))
    case Kind.VARIABLE:
      throw new GraphQLError("variables inside JSON literals are not supported; pass the whole value as a variable")
  }
}

builder.scalarType("JSON", {
  description: "Any JSON value: raw provider payloads, match rules, evidence.",
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: literalValue
})

// ---------------------------------------------------------------------------------------------
// Errors: every expected failure is a member of the field's result union.

export const ErrorInterface = builder.interfaceRef<Error>("Error").implement({
  description: "What every typed error has: a message a person can act on.",
  fields: (t) => ({ message: t.exposeString("message") })
})

builder.objectType(InvalidInput, {
  name: "InvalidInput",
  description: "An argument is wrong; `field` names it (a path such as `filter.team` or `price.rates.inputText`).",
  interfaces: [ErrorInterface],
  fields: (t) => ({ field: t.exposeString("field") })
})

builder.objectType(NotFound, {
  name: "NotFound",
  description: "Nothing with this id exists for the tenant of the API key (another tenant's ids read the same).",
  interfaces: [ErrorInterface],
  fields: (t) => ({ resource: t.exposeString("resource"), id: t.exposeString("id") })
})

builder.objectType(Forbidden, {
  name: "Forbidden",
  description: "The API key lacks the scope this field needs (`read` for queries, `admin` for changes).",
  interfaces: [ErrorInterface],
  fields: (t) => ({ requiredScope: t.exposeString("requiredScope") })
})

builder.objectType(Conflict, {
  name: "Conflict",
  description: "The change contradicts what is stored (an id already taken, a period already finalized).",
  interfaces: [ErrorInterface],
  fields: () => ({})
})

/** The errors of a field that reads. */
export const readErrors = [Forbidden, InvalidInput] as const
/** The errors of a field that reads one thing by id. */
export const lookupErrors = [Forbidden, InvalidInput, NotFound] as const
/** The errors of a field that changes something. */
export const changeErrors = [Forbidden, InvalidInput, NotFound, Conflict] as const

builder.queryType({ description: "Reads need an API key with the `read` (or `admin`) scope." })
builder.mutationType({ description: "Changes need an API key with the `admin` scope." })
builder.subscriptionType({ description: "Live views over server-sent events (`Accept: text/event-stream`); `read` scope." })
