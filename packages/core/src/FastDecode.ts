/**
 * A fast path for `Schema` decoding on the ingest hot path: the schema's AST compiled once into a
 * plain function that accepts only what the schema surely accepts, and answers `undefined` for
 * anything else, so the caller decodes that input with the full `Schema` decoder (and its exact
 * error message).
 *
 * What it compiles: structs (property signatures, optional keys, string index signatures),
 * unions (first member that accepts, as `Schema` tries them), plain arrays, strings, numbers,
 * booleans, `null`, literals and `Unknown`/`Any`, with their checks (the schema's own filters are
 * run, never re-implemented). Whatever else the AST holds (a transformation, a declaration, a
 * tuple, a suspended schema) makes `compile` answer `undefined`: that schema always takes the
 * slow path. The fast path may refuse more than `Schema` does (a non-finite number, an unusual
 * key), never less, and what it returns is what `Schema` returns: a fresh object with the declared
 * keys in declared order, then the index keys in input order.
 */
import type { Schema, SchemaAST } from "effect"

/** Decodes `input`, or answers `undefined` when the full decoder must decide. */
export type Fast<A> = (input: unknown) => A | undefined

const FAIL: unique symbol = Symbol.for("@tally/core/FastDecode/fail")
type Step = (input: unknown) => unknown

const state = { enabled: true }

/**
 * Turns every compiled fast path on or off for the process (on by default). For benchmarks and
 * tests that compare the two paths; off, every input goes to the full decoder.
 */
export const setEnabled = (enabled: boolean): void => {
  state.enabled = enabled
}

const parseOptions: SchemaAST.ParseOptions = {}

const runChecks = (checks: ReadonlyArray<SchemaAST.Check<unknown>>, value: unknown, ast: SchemaAST.AST): boolean => {
  for (const check of checks) {
    if (check._tag === "Filter") {
      if (check.run(value, ast, parseOptions) !== undefined) return false
    } else if (!runChecks(check.checks, value, ast)) return false
  }
  return true
}

const withChecks = (ast: SchemaAST.AST, step: Step): Step => {
  const checks = ast.checks
  if (checks === undefined) return step
  return (input) => {
    if (!state.enabled) return undefined
    const out = step(input)
    return out === FAIL || !runChecks(checks, out, ast) ? FAIL : out
  }
}

const isRecord = (input: unknown): input is Record<string, unknown> =>
  typeof input === "object" && input !== null && !Array.isArray(input)

interface Options {
  /** Refuse keys the struct does not declare (`onExcessProperty: "error"`). */
  readonly exact: boolean
}

const compileAst = (ast: SchemaAST.AST, options: Options): Step | undefined => {
  if (ast.encoding !== undefined) return undefined
  switch (ast._tag) {
    case "Unknown":
    case "Any":
      return withChecks(ast, (input) => input)
    case "String":
      return withChecks(ast, (input) => (typeof input === "string" ? input : FAIL))
    case "Number":
      return withChecks(ast, (input) => (typeof input === "number" && Number.isFinite(input) ? input : FAIL))
    case "Boolean":
      return withChecks(ast, (input) => (typeof input === "boolean" ? input : FAIL))
    case "Null":
      return withChecks(ast, (input) => (input === null ? null : FAIL))
    case "Literal": {
      const literal = ast.literal
      return withChecks(ast, (input) => (input === literal ? input : FAIL))
    }
    case "Union": {
      const members: Array<Step> = []
      for (const type of ast.types) {
        const member = compileAst(type, options)
        if (member === undefined) return undefined
        members.push(member)
      }
      return withChecks(ast, (input) => {
        for (const member of members) {
          const out = member(input)
          if (out !== FAIL) return out
        }
        return FAIL
      })
    }
    case "Arrays": {
      if (ast.elements.length !== 0 || ast.rest.length !== 1) return undefined
      const item = compileAst(ast.rest[0]!, options)
      if (item === undefined) return undefined
      return withChecks(ast, (input) => {
        if (!Array.isArray(input)) return FAIL
        const out: Array<unknown> = new Array(input.length)
        for (let i = 0; i < input.length; i++) {
          const value = item(input[i])
          if (value === FAIL) return FAIL
          out[i] = value
        }
        return out
      })
    }
    case "Objects":
      return compileObjects(ast, options)
    default:
      return undefined
  }
}

const compileObjects = (ast: SchemaAST.Objects, options: Options): Step | undefined => {
  const properties: Array<{ readonly name: string; readonly optional: boolean; readonly step: Step }> = []
  for (const ps of ast.propertySignatures) {
    if (typeof ps.name !== "string" || ps.name === "__proto__") return undefined
    const step = compileAst(ps.type, options)
    if (step === undefined) return undefined
    properties.push({ name: ps.name, optional: ps.type.context?.isOptional === true, step })
  }
  if (ast.indexSignatures.length > 1) return undefined
  let index: { readonly key: Step; readonly value: Step } | undefined
  if (ast.indexSignatures.length === 1) {
    // A record: only a string-keyed one without declared properties.
    const signature = ast.indexSignatures[0]!
    if (properties.length > 0 || signature.parameter._tag !== "String") return undefined
    const key = compileAst(signature.parameter, options)
    const value = compileAst(signature.type, options)
    if (key === undefined || value === undefined) return undefined
    index = { key, value }
  }
  const declared = new Set(properties.map((p) => p.name))
  return withChecks(ast, (input) => {
    if (!isRecord(input)) return FAIL
    const out: Record<string, unknown> = {}
    if (index !== undefined) {
      for (const key of Object.keys(input)) {
        if (key === "__proto__" || index.key(key) === FAIL) return FAIL
        const value = index.value(input[key])
        if (value === FAIL) return FAIL
        out[key] = value
      }
      return out
    }
    if (options.exact) {
      for (const key of Object.keys(input)) if (!declared.has(key)) return FAIL
      if (Object.getOwnPropertySymbols(input).length > 0) return FAIL
    }
    for (const property of properties) {
      if (!(property.name in input)) {
        if (property.optional) continue
        return FAIL
      }
      const value = property.step(input[property.name])
      if (value === FAIL) return FAIL
      out[property.name] = value
    }
    return out
  })
}

/**
 * The fast path of `schema`, or `undefined` when its AST holds something this module does not
 * compile (then every input takes the full decoder). `exact` mirrors `onExcessProperty: "error"`.
 */
export const compile = <S extends Schema.Decoder<unknown>>(schema: S, options?: { readonly exact?: boolean }): Fast<S["Type"]> | undefined => {
  const step = compileAst(schema.ast, { exact: options?.exact === true })
  if (step === undefined) return undefined
  return (input) => {
    if (!state.enabled) return undefined
    const out = step(input)
    return out === FAIL ? undefined : out as S["Type"]
  }
}
