/**
 * Paths of the console (`/overview`, `/calls?id=…`): real URLs a person can bookmark and share
 * (the worker answers every such path with the console's page). Filters live in the query string;
 * the API key never does.
 */
import { useEffect, useState } from "preact/hooks"

export interface Location {
  readonly path: string
  readonly query: URLSearchParams
}

const current = (): Location => ({ path: window.location.pathname, query: new URLSearchParams(window.location.search) })

const listeners = new Set<() => void>()

export const navigate = (to: string, options: { readonly replace?: boolean } = {}): void => {
  if (options.replace === true) window.history.replaceState(null, "", to)
  else window.history.pushState(null, "", to)
  listeners.forEach((listener) => listener())
}

/** Replaces the query string of the current path (filters), keeping history clean. */
export const setQuery = (values: Record<string, string | undefined>, options: { readonly replace?: boolean } = { replace: true }): void => {
  const query = new URLSearchParams(window.location.search)
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || value === "") query.delete(name)
    else query.set(name, value)
  }
  const text = query.toString()
  navigate(`${window.location.pathname}${text === "" ? "" : `?${text}`}`, options)
}

export const useLocation = (): Location => {
  const [location, setLocation] = useState(current)
  useEffect(() => {
    const update = () => setLocation(current())
    listeners.add(update)
    window.addEventListener("popstate", update)
    return () => {
      listeners.delete(update)
      window.removeEventListener("popstate", update)
    }
  }, [])
  return location
}

/** An in-app link: plain `<a href>` for the browser and screen readers, routed without a reload. */
export const onLinkClick = (event: MouseEvent): void => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
  const anchor = (event.target as Element | null)?.closest?.("a")
  if (anchor === null || anchor === undefined || anchor.target === "_blank" || anchor.hasAttribute("download")) return
  const href = anchor.getAttribute("href")
  if (href === null || !href.startsWith("/") || href.startsWith("/graphql") || href.startsWith("/api/")) return
  event.preventDefault()
  navigate(href)
}
