/**
 * Match rules are data: which model names a definition prices. A rule is a leaf (equals,
 * startsWith, endsWith, contains, regex) or a combination (and, or). Every comparison is
 * case-insensitive; regexes are plain JavaScript `RegExp` sources evaluated with the `i` flag.
 *
 * Specificity orders the rules that match one name, so that resolution never depends on the
 * order definitions were written in:
 *
 *   kind      equals (4) > startsWith = endsWith (3) > contains (2) > regex (1)
 *   then      the length of the matched literal (a longer prefix is more specific)
 *   then      the number of conditions that held (`and` of two leaves beats either leaf)
 *
 * An `or` is as specific as its most specific alternative that matched the name; an `and` is as
 * specific as its most specific member, with the conditions of all members counted.
 */
import { Schema } from "effect"

export type Leaf =
  | { readonly equals: string }
  | { readonly startsWith: string }
  | { readonly endsWith: string }
  | { readonly contains: string }
  | { readonly regex: string }

export type MatchRule =
  | Leaf
  | { readonly and: ReadonlyArray<MatchRule> }
  | { readonly or: ReadonlyArray<MatchRule> }

export type LeafKind = "equals" | "startsWith" | "endsWith" | "contains" | "regex"
export const LeafKinds: ReadonlyArray<LeafKind> = ["equals", "startsWith", "endsWith", "contains", "regex"]

const MAX_REGEX_LENGTH = 1000

/** Why a regex source is not acceptable, or undefined when it compiles as a portable JS regex. */
export const regexProblem = (source: string): string | undefined => {
  if (source.length > MAX_REGEX_LENGTH) return `regex longer than ${MAX_REGEX_LENGTH} characters`
  try {
    new RegExp(source, "i")
    return undefined
  } catch (error) {
    return `regex does not compile: ${error instanceof Error ? error.message : String(error)}`
  }
}

const Pattern = Schema.String.check(Schema.isMinLength(1, { message: "expected a non-empty pattern" }))

const RegexSource = Schema.String.check(
  Schema.makeFilter<string>((source) => regexProblem(source), { identifier: "RegexSource" })
)

const Equals = Schema.Struct({ equals: Pattern })
const StartsWith = Schema.Struct({ startsWith: Pattern })
const EndsWith = Schema.Struct({ endsWith: Pattern })
const Contains = Schema.Struct({ contains: Pattern })
const Regex = Schema.Struct({ regex: RegexSource })

const Members = Schema.Array(Schema.suspend((): Schema.Codec<MatchRule> => MatchRule)).check(
  Schema.isMinLength(1, { message: "expected at least one rule" })
)

/** A match rule, decoded from JSON such as `{ "or": [{ "equals": "gpt-4o" }, { "startsWith": "gpt-4o-2024" }] }`. */
export const MatchRule: Schema.Codec<MatchRule> = Schema.Union([
  Equals,
  StartsWith,
  EndsWith,
  Contains,
  Regex,
  Schema.Struct({ and: Members }),
  Schema.Struct({ or: Members })
]).annotate({ identifier: "MatchRule" })

export const equals = (value: string): MatchRule => ({ equals: value })
export const startsWith = (value: string): MatchRule => ({ startsWith: value })
export const endsWith = (value: string): MatchRule => ({ endsWith: value })
export const contains = (value: string): MatchRule => ({ contains: value })
export const regex = (source: string): MatchRule => ({ regex: source })
export const and = (...rules: ReadonlyArray<MatchRule>): MatchRule => ({ and: rules })
export const or = (...rules: ReadonlyArray<MatchRule>): MatchRule => ({ or: rules })

export const leafKind = (leaf: Leaf): LeafKind =>
  "equals" in leaf ? "equals" :
  "startsWith" in leaf ? "startsWith" :
  "endsWith" in leaf ? "endsWith" :
  "contains" in leaf ? "contains" :
  "regex"

export const leafValue = (leaf: Leaf): string =>
  "equals" in leaf ? leaf.equals :
  "startsWith" in leaf ? leaf.startsWith :
  "endsWith" in leaf ? leaf.endsWith :
  "contains" in leaf ? leaf.contains :
  leaf.regex

const isLeaf = (rule: MatchRule): rule is Leaf => !("and" in rule) && !("or" in rule)

// ---------------------------------------------------------------------------------------------
// Specificity

export interface Specificity {
  /** 4 equals, 3 startsWith/endsWith, 2 contains, 1 regex. */
  readonly kind: number
  /** Length of the literal (or regex source) of the deciding leaf. */
  readonly length: number
  /** Number of leaf conditions that held. */
  readonly conditions: number
}

const KIND_RANK: Readonly<Record<LeafKind, number>> = { equals: 4, startsWith: 3, endsWith: 3, contains: 2, regex: 1 }

/** Negative when `a` is less specific than `b`, positive when more, zero when equal. */
export const compareSpecificity = (a: Specificity, b: Specificity): number =>
  a.kind !== b.kind ? a.kind - b.kind : a.length !== b.length ? a.length - b.length : a.conditions - b.conditions

export const formatSpecificity = (s: Specificity): string => {
  const kind = s.kind === 4 ? "equals" : s.kind === 3 ? "prefix/suffix" : s.kind === 2 ? "contains" : "regex"
  return `${kind}, ${s.length} chars${s.conditions > 1 ? `, ${s.conditions} conditions` : ""}`
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** The outcome of a rule that matched a name: how specific it was and which leaf decided. */
export interface RuleMatch {
  readonly specificity: Specificity
  readonly leaf: Leaf
}

const regexCache = new Map<string, RegExp>()

const compiled = (source: string): RegExp => {
  let re = regexCache.get(source)
  if (re === undefined) {
    re = new RegExp(source, "i")
    regexCache.set(source, re)
  }
  return re
}

const leafMatches = (leaf: Leaf, name: string): boolean => {
  if ("regex" in leaf) return compiled(leaf.regex).test(name)
  const value = leafValue(leaf).toLowerCase()
  if ("equals" in leaf) return name === value
  if ("startsWith" in leaf) return name.startsWith(value)
  if ("endsWith" in leaf) return name.endsWith(value)
  return name.includes(value)
}

/**
 * Evaluates `rule` against `name`, which the caller has already lower-cased. Returns how the rule
 * matched, or undefined when it does not match.
 */
export const evaluate = (rule: MatchRule, name: string): RuleMatch | undefined => {
  if (isLeaf(rule)) {
    if (!leafMatches(rule, name)) return undefined
    return { specificity: { kind: KIND_RANK[leafKind(rule)], length: leafValue(rule).length, conditions: 1 }, leaf: rule }
  }
  if ("or" in rule) {
    let best: RuleMatch | undefined
    for (const member of rule.or) {
      const m = evaluate(member, name)
      if (m !== undefined && (best === undefined || compareSpecificity(m.specificity, best.specificity) > 0)) best = m
    }
    return best
  }
  let best: RuleMatch | undefined
  let conditions = 0
  for (const member of rule.and) {
    const m = evaluate(member, name)
    if (m === undefined) return undefined
    conditions += m.specificity.conditions
    if (best === undefined || compareSpecificity(m.specificity, best.specificity) > 0) best = m
  }
  return best === undefined ? undefined : { specificity: { ...best.specificity, conditions }, leaf: best.leaf }
}

export const matches = (rule: MatchRule, name: string): boolean => evaluate(rule, name.trim().toLowerCase()) !== undefined

// ---------------------------------------------------------------------------------------------
// Text forms

export const describe = (rule: MatchRule): string => {
  if (isLeaf(rule)) return `${leafKind(rule)} ${JSON.stringify(leafValue(rule))}`
  if ("or" in rule) return rule.or.length === 1 ? describe(rule.or[0]!) : `(${rule.or.map(describe).join(" or ")})`
  return rule.and.length === 1 ? describe(rule.and[0]!) : `(${rule.and.map(describe).join(" and ")})`
}

/**
 * Parses the one-line form used in CSV files: `kind:value` for a leaf (`startsWith:gpt-4o`), or a
 * JSON rule when the text starts with `{`. Undefined when the text is neither.
 */
export const parseShorthand = (text: string): unknown => {
  const trimmed = text.trim()
  if (trimmed.startsWith("{")) {
    try {
      return JSON.parse(trimmed) as unknown
    } catch {
      return undefined
    }
  }
  const colon = trimmed.indexOf(":")
  if (colon <= 0) return undefined
  const kind = trimmed.slice(0, colon)
  const value = trimmed.slice(colon + 1)
  return (LeafKinds as ReadonlyArray<string>).includes(kind) ? { [kind]: value } : undefined
}

/** The one-line form of a rule: `kind:value` for a leaf, JSON otherwise. */
export const toShorthand = (rule: MatchRule): string =>
  isLeaf(rule) && !/^\s|\s$/.test(leafValue(rule)) ? `${leafKind(rule)}:${leafValue(rule)}` : JSON.stringify(rule)

/** Every leaf of a rule, depth first. */
export const leaves = (rule: MatchRule): ReadonlyArray<Leaf> =>
  isLeaf(rule) ? [rule] : ("or" in rule ? rule.or : rule.and).flatMap(leaves)
