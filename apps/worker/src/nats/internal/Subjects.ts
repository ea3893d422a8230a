/** NATS subject matching, for checking that an existing stream captures the subjects we need. */

/**
 * Whether every subject `filter` matches is also matched by `pattern` (`*` one token, `>` one or
 * more trailing tokens).
 */
export const covers = (pattern: string, filter: string): boolean => {
  const p = pattern.split(".")
  const f = filter.split(".")
  for (let i = 0; i < p.length; i++) {
    const token = p[i]
    if (token === ">") return f.length > i
    if (i >= f.length) return false
    // `*` matches any single token of the filter, but not a filter's `>` (which spans several).
    if (token === "*") {
      if (f[i] === ">") return false
      continue
    }
    if (token !== f[i]) return false
  }
  return p.length === f.length
}
