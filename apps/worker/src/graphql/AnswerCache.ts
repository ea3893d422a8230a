/**
 * The GraphQL answer cache: the serialized response of a `usage` query, kept so that asking the
 * same question again costs the tenant's write-version probe and writing the bytes, not
 * graphql-js completing thousands of list items and JSON (docs/graphql.md, "Caching").
 *
 * What is kept: the body of an operation whose every root field is `usage` (or `__typename`),
 * keyed on the tenant, the API key (its id and scopes: whatever restricts what a key may see, now
 * or later, an answer never crosses to another key), the tenant's write version (the store's
 * `UsageReport.writeVersion`, probed per request in the database the answers are read from), the
 * normalized document, the operation name and the variables. Only answers without errors whose
 * every `usage` field resolved to a report are kept (a typed error such as `InvalidInput` or
 * `Forbidden` is data, not an error, so the resolver counts its reports: `GraphqlContext.answered`).
 * Within the settle window after a write the probe gives no version: nothing is read or kept.
 *
 * The body is handed to yoga as the result's `stringify` (yoga's serializer hook), so headers,
 * status and media type are yoga's own, and a hit's bytes are the miss's bytes.
 *
 * Memory: least recently used first out, under a budget of bytes (each entry counts its body's
 * and its key's UTF-8 bytes); a body larger than the budget is not kept.
 */
import { UsageReport } from "@tally/store"
import type { ApiKey } from "@tally/core"
import type { DocumentNode, ExecutionResult } from "graphql"
import { isAsyncIterable, type Plugin } from "graphql-yoga"
import { Buffer } from "node:buffer"
import type { GraphqlContext } from "./Context.ts"
import { getOperationAST, Kind, print } from "./internal/Graphql.ts"

/** The default budget: 64 MiB, a few dozen month-by-team-and-model answers. */
export const defaultBytes = 64 * 1024 * 1024

export interface Stats {
  readonly entries: number
  readonly bytes: number
  /** Lookups that found the answer. */
  readonly hits: number
  /** Lookups that did not (the answer was then computed, and kept when it had no error). */
  readonly misses: number
}

export interface AnswerCache {
  /** Bytes the cache may hold. */
  readonly budget: number
  readonly get: (key: string) => string | undefined
  readonly set: (key: string, body: string) => void
  readonly stats: () => Stats
}

/** A least-recently-used map of bodies, bounded by their bytes. */
export const make = (budget: number): AnswerCache => {
  const entries = new Map<string, { readonly body: string; readonly bytes: number }>()
  let bytes = 0
  let hits = 0
  let misses = 0
  return {
    budget,
    get: (key) => {
      const found = entries.get(key)
      if (found === undefined) {
        misses++
        return undefined
      }
      hits++
      entries.delete(key)
      entries.set(key, found)
      return found.body
    },
    set: (key, body) => {
      const size = Buffer.byteLength(key) + Buffer.byteLength(body)
      if (size > budget) return
      const old = entries.get(key)
      if (old !== undefined) {
        entries.delete(key)
        bytes -= old.bytes
      }
      entries.set(key, { body, bytes: size })
      bytes += size
      for (const [oldest, entry] of entries) {
        if (bytes <= budget) break
        entries.delete(oldest)
        bytes -= entry.bytes
      }
    },
    stats: () => ({ entries: entries.size, bytes, hits, misses })
  }
}

/** Root fields whose answers are read only from what the write version covers (the ledger, its summaries, the tenant's zone). */
const versioned: ReadonlySet<string> = new Set(["usage"])

/**
 * How many `usage` fields the operation asks, when it is a query whose every root selection is a
 * versioned field or `__typename`, with no directive (a skipped field would not resolve); else
 * undefined: not cached.
 */
const versionedFields = (document: DocumentNode, operationName: string | null | undefined): number | undefined => {
  const operation = getOperationAST(document, operationName)
  if (operation?.operation !== "query") return undefined
  let count = 0
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind !== Kind.FIELD || (selection.directives?.length ?? 0) > 0) return undefined
    if (versioned.has(selection.name.value)) count++
    else if (selection.name.value !== "__typename") return undefined
  }
  return count === 0 ? undefined : count
}

/** The document as `print` normalizes it (spacing, comments), once per parsed document (yoga caches those by text). */
const printed = new WeakMap<DocumentNode, string>()
const normalized = (document: DocumentNode): string => {
  let text = printed.get(document)
  if (text === undefined) {
    text = print(document)
    printed.set(document, text)
  }
  return text
}

/** JSON with object keys sorted: the same variables in another order are the same question. */
const canonical = (value: unknown): string =>
  JSON.stringify(value ?? {}, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v)

const mayRead = (key: ApiKey.VerifiedKey) => key.scopes.includes("read") || key.scopes.includes("admin")

/** A result yoga serializes with its own `stringify` (its `ExecutionResultWithSerializer`). */
type Serialized = ExecutionResult & { readonly stringify: (result: ExecutionResult) => string }

/** The yoga plugin serving and keeping answers in `cache`. */
export const plugin = (cache: AnswerCache): Plugin<GraphqlContext> => ({
  onExecute: async ({ args, extendContext, setResultAndStopExecution }) => {
    const context = args.contextValue
    const fields = versionedFields(args.document, args.operationName)
    // A key that may not read gets `Forbidden`, never a kept answer: no probe.
    if (fields === undefined || !mayRead(context.key)) return undefined
    const version = await context.run(UsageReport.UsageReport.use((report) => report.writeVersion(context.tenantId))).catch(() => null)
    // A write within the settle window, or the probe failed (the query itself will say why).
    if (version === null) return undefined
    const key = JSON.stringify([
      context.tenantId,
      context.key.keyId,
      context.key.scopes,
      version,
      normalized(args.document),
      args.operationName ?? null,
      canonical(args.variableValues)
    ])
    const body = cache.get(key)
    if (body !== undefined) {
      const hit: Serialized = { stringify: () => body }
      setResultAndStopExecution(hit)
      return undefined
    }
    const answered = { count: 0 }
    extendContext({ answered })
    return {
      onExecuteDone: ({ result, setResult }) => {
        if (isAsyncIterable(result) || (result.errors?.length ?? 0) > 0 || answered.count !== fields) return
        const keep: Serialized = {
          ...result,
          stringify: (serializable) => {
            const json = JSON.stringify(serializable)
            cache.set(key, json)
            return json
          }
        }
        setResult(keep)
      }
    }
  }
})
