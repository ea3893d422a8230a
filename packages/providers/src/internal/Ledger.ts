/**
 * Inclusive totals to disjoint leaves, checked. A provider reports a parent count (prompt tokens)
 * and children inside it (cached, audio); the leaf is the parent minus its children. A child larger
 * than its parent, or a reported total that disagrees with its parts, is a `NormalizeError`.
 */
import { Result } from "effect"
import * as NormalizeError from "../NormalizeError.ts"
import * as Path from "./Path.ts"

/**
 * A reported count and where it came from. Absent fields count as zero but are never "reported".
 * A field from `at` computes its path in a getter: make a changed field with `field` or `derived`,
 * never by spreading one (a spread drops the getter).
 */
export interface Field {
  readonly path: Path.Path
  readonly value: number
  readonly present: boolean
}

export const field = (path: Path.Path, value: number | null | undefined): Field =>
  value === null || value === undefined ? { path, value: 0, present: false } : { path, value, present: true }

/**
 * A field whose path is built only when something reads it (an error message, a correction):
 * normalizers read a dozen fields per call and almost never need their paths.
 */
class At implements Field {
  readonly base: Path.Path
  readonly dotted: string
  readonly value: number
  readonly present: boolean
  constructor(base: Path.Path, dotted: string, value: number, present: boolean) {
    this.base = base
    this.dotted = dotted
    this.value = value
    this.present = present
  }
  get path(): Path.Path {
    return Path.dotted(this.base, this.dotted)
  }
}

/** A field at `base` + a dotted relative path, e.g. `at(base, "usage.prompt_tokens", n)`. */
export const at = (base: Path.Path, dotted: string, value: number | null | undefined): Field =>
  value === null || value === undefined ? new At(base, dotted, 0, false) : new At(base, dotted, value, true)

/** A value computed from other fields (named by an expression for messages). */
export const derived = (path: Path.Path, value: number): Field => ({ path, value, present: true })

const name = (f: Field): string => Path.format(f.path)

const sumOf = (fields: ReadonlyArray<Field>): number => {
  let total = 0
  for (let i = 0; i < fields.length; i++) total += fields[i]!.value
  return total
}

/** `parent − Σ children`, failing when the children do not fit inside the parent. */
export const remainder = (
  provider: string,
  parent: Field,
  children: ReadonlyArray<Field>
): Result.Result<number, NormalizeError.NormalizeError> => {
  for (const child of children) {
    if (child.value > parent.value) {
      return Result.fail(NormalizeError.make(
        provider,
        child.path,
        "exceeds-parent",
        `${name(child)} = ${child.value} exceeds ${name(parent)} = ${parent.value}, which includes it`
      ))
    }
  }
  let total = 0
  for (let i = 0; i < children.length; i++) if (children[i]!.value > 0) total += children[i]!.value
  if (total > parent.value) {
    const present = children.filter((c) => c.value > 0)
    const last = present[present.length - 1]!
    return Result.fail(NormalizeError.make(
      provider,
      last.path,
      "exceeds-parent",
      `${present.map(name).join(" + ")} = ${total} exceeds ${name(parent)} = ${parent.value}, which includes them`
    ))
  }
  return Result.succeed(parent.value - total)
}

/** When `total` was reported, it must equal the sum of `parts`. */
export const checkTotal = (
  provider: string,
  total: Field,
  parts: ReadonlyArray<Field>
): Result.Result<void, NormalizeError.NormalizeError> => {
  if (!total.present) return Result.void
  const sum = sumOf(parts)
  if (sum === total.value) return Result.void
  return Result.fail(NormalizeError.make(
    provider,
    total.path,
    "total-mismatch",
    `${name(total)} = ${total.value}, but ${parts.map(name).join(" + ") || "its parts"} = ${sum}`
  ))
}

/** Two reports of the same quantity (duplicate fields, headers and body) must agree. */
export const agree = (
  provider: string,
  a: Field,
  b: Field
): Result.Result<Field, NormalizeError.NormalizeError> => {
  if (!a.present) return Result.succeed(b)
  if (!b.present || a.value === b.value) return Result.succeed(a)
  return Result.fail(NormalizeError.make(
    provider,
    b.path,
    "inconsistent",
    `${name(b)} = ${b.value} disagrees with ${name(a)} = ${a.value}, which reports the same count`
  ))
}
