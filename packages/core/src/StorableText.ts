/**
 * Text PostgreSQL can store, and the length limits of what the ledger indexes.
 *
 * PostgreSQL refuses a NUL character (U+0000) in `text` and in `jsonb`, and UTF-8 has no encoding
 * for a lone UTF-16 surrogate (a JavaScript string can hold one; the driver would store U+FFFD in
 * its place, silently changing the value). Model names and labels are columns of the rollups'
 * btree keys, which hold at most about 2,700 bytes per row. A value that breaks one of these rules
 * is refused for its own event, naming the field, instead of failing a whole batch.
 */

/** Characters, per value. */
export const limits = {
  requestId: 256,
  provider: 64,
  api: 64,
  model: 256,
  label: 256,
  tagKey: 128,
  tagValue: 1024,
  tags: 64,
  /** UTF-8 bytes of provider, model and every label together (one rollup key). */
  keyBytes: 2000
} as const

/** Why a string cannot be stored, or undefined when it can. */
export const problemOf = (text: string): string | undefined => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0) return `contains a NUL character (U+0000) at position ${i}, which cannot be stored`
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++
        continue
      }
      return `contains a lone UTF-16 surrogate (U+${code.toString(16).toUpperCase()}) at position ${i}, which is not valid Unicode`
    }
    if (code >= 0xdc00 && code <= 0xdfff) {
      return `contains a lone UTF-16 surrogate (U+${code.toString(16).toUpperCase()}) at position ${i}, which is not valid Unicode`
    }
  }
  return undefined
}

/** True when the text has neither a NUL nor a lone surrogate. */
export const isStorable = (text: string): boolean => problemOf(text) === undefined

/** A JSON path step: `.key` for identifiers, `["key"]` otherwise, `[i]` for indexes. */
const step = (path: string, key: string | number): string => {
  if (typeof key === "number") return `${path}[${key}]`
  const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)
  if (name !== key) return `${path}[${name}]`
  return path === "" ? key : `${path}.${key}`
}

export interface Found {
  /** JSON path from the root, e.g. `labels.team`, `payload.choices[0].text`; `""` for the root. */
  readonly path: string
  readonly problem: string
}

/** `isStorable` through the engine's own string scans (no per-character loop in JavaScript). */
const storable = (text: string): boolean => text.indexOf("\u0000") === -1 && text.isWellFormed()

/** True when every string (value or key) in a JSON-like value can be stored; no paths built. */
const allStorable = (value: unknown): boolean => {
  const stack: Array<unknown> = [value]
  while (stack.length > 0) {
    const current = stack.pop()
    if (typeof current === "string") {
      if (!storable(current)) return false
    } else if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) stack.push(current[i])
    } else if (typeof current === "object" && current !== null) {
      for (const key of Object.keys(current)) {
        if (!storable(key)) return false
        stack.push((current as Record<string, unknown>)[key])
      }
    }
  }
  return true
}

/**
 * The first string (value or object key) in a JSON-like value that cannot be stored, walking
 * without recursion so that any depth is safe. A value with none (the usual case) is checked
 * without building any path; the walk that names the path runs only when there is one.
 */
export const find = (value: unknown, root = ""): Found | undefined => {
  if (allStorable(value)) return undefined
  const stack: Array<readonly [unknown, string]> = [[value, root]]
  while (stack.length > 0) {
    const [current, path] = stack.pop()!
    if (typeof current === "string") {
      const problem = problemOf(current)
      if (problem !== undefined) return { path, problem }
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push([current[i], step(path, i)])
    } else if (typeof current === "object" && current !== null) {
      const keys = Object.keys(current)
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!
        const problem = problemOf(key)
        if (problem !== undefined) return { path: step(path, key), problem: `key ${problem}` }
        stack.push([(current as Record<string, unknown>)[key], step(path, key)])
      }
    }
  }
  return undefined
}

/** UTF-8 length of a string. */
export const utf8Bytes = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/**
 * A string made storable for quarantine (dead letters): each NUL and lone surrogate replaced by
 * its escape as text (`\u0000`), so what was refused can still be read and the reason understood.
 */
export const escape = (text: string): string => {
  if (problemOf(text) === undefined) return text
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    const next = text.charCodeAt(i + 1)
    if (code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      out += text[i]! + text[i + 1]!
      i++
    } else if (code === 0 || (code >= 0xd800 && code <= 0xdfff)) {
      out += `\\u${code.toString(16).padStart(4, "0")}`
    } else out += text[i]!
  }
  return out
}
