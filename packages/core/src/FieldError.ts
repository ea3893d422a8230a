/**
 * The one way a Schema decode failure becomes "which field, what is wrong": a JSON path such as
 * `labels.team`, `thresholds[1]` or `tags["x-team"]`, and the message of the first problem.
 */
import * as Predicate from "effect/Predicate"
import type * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

/** `a.b[0]["x-y"]` from a path; `root` when the path is empty (the value as a whole). */
export const formatPath = (path: ReadonlyArray<PropertyKey>, root: string): string => {
  let out = ""
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else {
      const name = String(key)
      out += IDENTIFIER.test(name) ? (out === "" ? name : `.${name}`) : `[${JSON.stringify(name)}]`
    }
  }
  return out === "" ? root : out
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The first problem of a decode failure: its path below the decoded value, and what is wrong. */
export interface Problem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

export const firstProblem = (error: Schema.SchemaError): Problem => {
  const issue = formatter(error.issue).issues[0]
  const path = (issue?.path ?? []).map((key) => (Predicate.isObject(key) && "key" in key ? key.key : key) as PropertyKey)
  const message = issue?.message ?? error.message
  return { path, message: message === "Expected no excess property" ? "unknown key" : message }
}

/** The field at fault (its path under `root`) and the message, ready for a typed error. */
export interface FieldProblem {
  readonly field: string
  readonly message: string
}

/**
 * The first problem of a decode failure as `{ field, message }`. `root` names the value as a whole
 * (`(input)`, `(body)`); with `prefix`, the field is written below it (`snapshot.tiers[0]`).
 */
export const fromSchemaError = (
  error: Schema.SchemaError,
  options: { readonly root?: string | undefined; readonly prefix?: string | undefined } = {}
): FieldProblem => {
  const problem = firstProblem(error)
  const root = options.root ?? "(input)"
  const prefix = options.prefix ?? ""
  if (prefix === "") return { field: formatPath(problem.path, root), message: problem.message }
  const below = formatPath(problem.path, "")
  return { field: below === "" ? prefix : below.startsWith("[") ? `${prefix}${below}` : `${prefix}.${below}`, message: problem.message }
}
