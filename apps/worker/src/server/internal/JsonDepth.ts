/**
 * How deep a JSON text nests, found by scanning the text before it is parsed: code that walks a
 * parsed value recursively (decoders, normalizers, canonical hashing) would overflow the stack on
 * a few kilobytes of `[[[[...`, so bodies deeper than the limit are refused up front.
 */

/** Arrays and objects nested deeper than this are refused (a provider payload nests about 10). */
export const maxDepth = 64

/** True when the JSON text opens more than `max` arrays or objects inside each other. */
export const exceeds = (text: string, max: number = maxDepth): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (inString) {
      if (code === 0x5c) i++ // backslash: skip the escaped character
      else if (code === 0x22) inString = false
    } else if (code === 0x22) inString = true
    else if (code === 0x5b || code === 0x7b) {
      if (++depth > max) return true
    } else if (code === 0x5d || code === 0x7d) depth--
  }
  return false
}

export const message = (max: number = maxDepth) => `the JSON is nested deeper than ${max} levels`
