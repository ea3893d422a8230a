/**
 * Canonical JSON text: object keys sorted (by UTF-16 code units) at every depth, `undefined`
 * members left out, primitives as `JSON.stringify` writes them. The text is exactly that of core's
 * `PricingSnapshot.canonicalJson`; it is computed differently because the ledger hashes every
 * event it receives: plain JSON data is copied with its keys in sorted order and handed to the
 * native `JSON.stringify` in one call. Anything else (class instances, functions, array-index
 * keys, which JavaScript always enumerates first) takes the reference algorithm.
 */

const fallback: unique symbol = Symbol("fallback")

/** Array-index keys are enumerated before all others whatever the insertion order. */
const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/

// The first character is tested before the pattern: almost no key starts with a digit.
const isIndexKey = (key: string): boolean => {
  const first = key.charCodeAt(0)
  return first >= 48 && first <= 57 && ARRAY_INDEX.test(key) && Number(key) < 4294967295
}

/**
 * Sets an own member. Copies are ordinary objects, which V8 keeps in its fast layout (a
 * null-prototype object starts as a dictionary, slower to fill and to stringify); only a
 * `__proto__` key needs defining, as plain assignment would set the prototype.
 */
const put = (out: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  else out[key] = value
}

const isPlain = (u: object): boolean => {
  const prototype = Object.getPrototypeOf(u)
  return prototype === Object.prototype || prototype === null
}

/** `value` with sorted keys (itself where it already is), or `fallback`. */
const prepare = (value: unknown): unknown => {
  if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return value
  }
  if (typeof value !== "object") return fallback
  if (Array.isArray(value)) {
    let copy: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      const element: unknown = value[i]
      const prepared = prepare(element)
      if (prepared === fallback) return fallback
      if (copy === undefined && prepared !== element) copy = value.slice(0, i)
      if (copy !== undefined) copy.push(prepared)
    }
    return copy ?? value
  }
  if (!isPlain(value)) return fallback
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  let sorted = true
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    if (isIndexKey(key)) return fallback
    if (i > 0 && keys[i - 1]! > key) sorted = false
  }
  if (sorted) {
    // Already in order: keep the object itself unless a member has to change.
    let copy: Record<string, unknown> | undefined
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const member = record[key]
      const p = member === undefined ? undefined : prepare(member)
      if (p === fallback) return fallback
      if (copy === undefined && (p !== member || member === undefined)) {
        copy = {}
        for (let j = 0; j < i; j++) put(copy, keys[j]!, record[keys[j]!])
      }
      if (copy !== undefined && p !== undefined) put(copy, key, p)
    }
    return copy ?? value
  }
  keys.sort()
  const prepared = new Array<unknown>(keys.length)
  for (let i = 0; i < keys.length; i++) {
    const member = record[keys[i]!]
    const p = member === undefined ? undefined : prepare(member)
    if (p === fallback) return fallback
    prepared[i] = p
  }
  return build(keys, prepared)
}

const build = (keys: ReadonlyArray<string>, values: ReadonlyArray<unknown>): object => {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < keys.length; i++) if (values[i] !== undefined) put(out, keys[i]!, values[i])
  return out
}

/** The reference algorithm, for values that are not plain JSON data. */
const reference = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>
    const entries = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${reference(record[key])}`)
    return `{${entries.join(",")}}`
  }
  return JSON.stringify(value)
}

export const canonicalJson = (value: unknown): string => {
  const prepared = prepare(value)
  return prepared === fallback ? reference(value) : JSON.stringify(prepared)
}

/**
 * The canonical text of an object some of whose members' canonical texts are already known
 * (`known(key)`; the others are computed here). It equals `canonicalJson(record)`, because the
 * canonical text of an object is its defined members' texts joined in sorted key order; so a
 * caller that also needs a member's text (a jsonb column) serializes it once. The members
 * between two known ones are serialized together, one `JSON.stringify` per run, not per member.
 */
export const canonicalObject = (
  record: Readonly<Record<string, unknown>>,
  known: (key: string) => string | undefined
): string => {
  const keys = Object.keys(record)
  // The records this serves come with their keys in order already.
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      keys.sort()
      break
    }
  }
  let text = ""
  let run: Record<string, unknown> | undefined
  const append = (members: string) => {
    text = text === "" ? members : `${text},${members}`
  }
  const flush = () => {
    if (run === undefined) return
    const members = JSON.stringify(run)
    append(members.slice(1, -1))
    run = undefined
  }
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const value = record[key]
    if (value === undefined) continue
    const given = known(key)
    // An index key would be enumerated first in a run; it and values outside plain JSON data
    // get their own text.
    const prepared = given === undefined && !isIndexKey(key) ? prepare(value) : fallback
    if (prepared === fallback) {
      flush()
      append(`${JSON.stringify(key)}:${given ?? canonicalJson(value)}`)
    } else {
      run ??= {}
      put(run, key, prepared)
    }
  }
  flush()
  return `{${text}}`
}
