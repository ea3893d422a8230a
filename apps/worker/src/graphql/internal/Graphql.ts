/**
 * `graphql` as one instance. The package ships CommonJS (`main`) and ES modules (`module`) without
 * an `exports` map: Node resolves it to the CommonJS build, which is what Pothos, yoga and
 * graphql-tools load, while a bundler-style resolver (vitest's) picks the ES build for our own
 * files. Two builds are two realms (`instanceof GraphQLError` fails, a schema "from another
 * realm" is refused), so our code takes the library through `require`, the way Node resolves it.
 */
import type * as GraphqlModule from "graphql"
import { createRequire } from "node:module"

const graphql: typeof GraphqlModule = createRequire(import.meta.url)("graphql")

export const { GraphQLError, getOperationAST, Kind, lexicographicSortSchema, print, printSchema } = graphql
export type { GraphQLError as GraphQLErrorType, ValueNode } from "graphql"
