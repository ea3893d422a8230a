/**
 * JSON paths into a provider payload, as error messages and corrections name them:
 * `usage.prompt_tokens_details.cached_tokens`, `chunks[3].usage`, `headers["x-amzn-requestid"]`.
 */
import { FieldError } from "@tally/core"

export type Segment = string | number
export type Path = ReadonlyArray<Segment>

export const root: Path = []

export const format = (path: Path): string => FieldError.formatPath(path, "(payload)")

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
