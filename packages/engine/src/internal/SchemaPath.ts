/** The first problem of a Schema decode failure as a JSON path (`labels.team`, `spans[3].spanId`) and a message. */
import { Predicate, type Schema, SchemaIssue } from "effect"

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

export const format = (path: ReadonlyArray<PropertyKey>, root: string): string => {
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
