/**
 * The signed-in API key, kept for this browser tab's session only (sessionStorage: gone when the
 * tab closes, never in localStorage, a cookie or a URL's query string).
 *
 * A link may carry a key in its fragment (`/#key=…`, as `tally demo` prints): a fragment is never
 * sent to the server. It is moved into the session at once and removed from the address bar.
 */
export const storageKey = "tally.apiKey"

export const read = (): string | null => {
  try {
    return window.sessionStorage.getItem(storageKey)
  } catch {
    return null
  }
}

export const save = (key: string): void => window.sessionStorage.setItem(storageKey, key)

export const clear = (): void => window.sessionStorage.removeItem(storageKey)

/** Takes a key from the URL fragment into the session; true when there was one. */
export const takeFromFragment = (): boolean => {
  const hash = window.location.hash.replace(/^#/, "")
  if (hash === "") return false
  const params = new URLSearchParams(hash)
  const key = params.get("key")
  if (key === null || key.trim() === "") return false
  save(key.trim())
  params.delete("key")
  const rest = params.toString()
  window.history.replaceState(window.history.state, "", `${window.location.pathname}${window.location.search}${rest === "" ? "" : `#${rest}`}`)
  return true
}
