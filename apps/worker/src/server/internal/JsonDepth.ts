/**
 * How deep a JSON text nests, found by scanning the text before it is parsed: code that walks a
 * parsed value recursively (decoders, normalizers, canonical hashing) would overflow the stack on
 * a few kilobytes of `[[[[...`, so bodies deeper than the limit are refused up front.
 */

/** Arrays and objects nested deeper than this are refused (a provider payload nests about 10). */
export const maxDepth = 64

/**
 * True when the JSON text opens more than `max` arrays or objects inside each other. Inside a
 * string only the closing quote matters: it is found with `indexOf` (native, fast over the long
 * strings raw payloads carry) and is escaped when an odd run of backslashes precedes it.
 */
export const exceeds = (text: string, max: number = maxDepth): boolean => {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x22) {
      const end = closingQuote(text, i + 1)
      if (end === -1) return false
      i = end
    } else if (code === 0x5b || code === 0x7b) {
      if (++depth > max) return true
    } else if (code === 0x5d || code === 0x7d) depth--
  }
  return false
}

/** The index of the quote that ends the string whose content starts at `from`, or -1. */
const closingQuote = (text: string, from: number): number => {
  let at = text.indexOf("\"", from)
  while (at !== -1) {
    let backslashes = 0
    for (let j = at - 1; j >= from && text.charCodeAt(j) === 0x5c; j--) backslashes++
    if (backslashes % 2 === 0) return at
    at = text.indexOf("\"", at + 1)
  }
  return -1
}

export const message = (max: number = maxDepth) => `the JSON is nested deeper than ${max} levels`
