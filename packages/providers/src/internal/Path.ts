/**
 * JSON paths into a provider payload, as error messages and corrections name them:
 * `usage.prompt_tokens_details.cached_tokens`, `chunks[3].usage`, `headers["x-amzn-requestid"]`.
 */
export type Segment = string | number
export type Path = ReadonlyArray<Segment>

export const root: Path = []

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

export const format = (path: Path): string => {
  let out = ""
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`
    else if (IDENTIFIER.test(segment)) out += out === "" ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out === "" ? "(payload)" : out
}

export const append = (path: Path, ...segments: ReadonlyArray<Segment>): Path => [...path, ...segments]

/** Splits a dotted literal such as `usage.prompt_tokens` into segments (no brackets). */
export const dotted = (path: Path, text: string): Path => [...path, ...text.split(".")]

/** The value at `path` inside `value`, or undefined when the path leaves the structure. */
export const get = (value: unknown, path: Path): unknown => {
  let current = value
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined
    current = (current as Record<string | number, unknown>)[segment]
  }
  return current
}
