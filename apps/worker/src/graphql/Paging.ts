/**
 * How every list of the API pages, in one place: the page size a connection allows, what a page
 * costs, and the connection's shape. Lists held whole in memory page both ways through Relay's
 * array connection (`fromArray`); lists the services page themselves go forward only, by the
 * services' own cursors (`forwardSize`, then `connection`).
 */
import { resolveArrayConnection } from "@pothos/plugin-relay"
import { InvalidInput } from "./Errors.ts"

/** The connection arguments every list takes. */
export interface ConnectionArgs {
  readonly first?: number | null | undefined
  readonly after?: string | null | undefined
  readonly last?: number | null | undefined
  readonly before?: string | null | undefined
}

/** How many items a page holds unless asked, and at most. */
export interface Size {
  readonly fallback: number
  readonly max: number
}

/** The page size of a connection: `first`, at most `max`, `fallback` when absent. */
export const pageSize = (first: number | null | undefined, fallback: number, max: number): number => {
  if (first === null || first === undefined) return fallback
  if (!Number.isInteger(first) || first < 0 || first > max) throw new InvalidInput(`first: expected 0 to ${max}, got ${first}`, "first")
  return first
}

/** What a connection costs: its items times what each selects. */
export const complexity = (fallback: number) => (args: { readonly first?: number | null | undefined }) => ({
  field: 2,
  multiplier: Math.max(1, args.first ?? fallback)
})

/**
 * A list loaded whole and paged in memory. `first` is checked before anything is loaded; a cursor
 * that is not one of this list's is invalid input naming `after`.
 */
export const fromArray = async <A>(args: ConnectionArgs, size: Size, load: () => Promise<ReadonlyArray<A>>) => {
  pageSize(args.first, size.fallback, size.max)
  const items = await load()
  try {
    return resolveArrayConnection({ args, defaultSize: size.fallback, maxSize: size.max }, items)
  } catch (error) {
    throw new InvalidInput(`after: ${error instanceof Error ? error.message : String(error)}`, "after")
  }
}

/** The page size of a list the services page forward only; `last` and `before` are refused. */
export const forwardSize = (args: ConnectionArgs, what: string, size: Size): number => {
  if (args.last != null || args.before != null) throw new InvalidInput(`last/before: ${what} page forward only; use first/after`, "last")
  return pageSize(args.first, size.fallback, size.max)
}

/** One page as a connection: each node with its cursor, and where the page sits. */
export const connection = <A>(
  nodes: ReadonlyArray<A>,
  cursorOf: (node: A) => string,
  page: { readonly hasNextPage: boolean; readonly hasPreviousPage: boolean }
) => {
  const edges = nodes.map((node) => ({ cursor: cursorOf(node), node }))
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null
    }
  }
}
