/**
 * The console's frame: sign-in until a key is accepted, then the navigation and the page for the
 * current path. The key lives in this tab's session only; signing out forgets it.
 */
import type { ComponentChildren } from "preact"
import { useEffect, useState } from "preact/hooks"
import * as Api from "./Api.ts"
import { AnomaliesPage } from "./pages/Anomalies.tsx"
import { BudgetsPage } from "./pages/Budgets.tsx"
import { CallsPage } from "./pages/Calls.tsx"
import { ChargebackPage } from "./pages/Chargeback.tsx"
import { MarginPage } from "./pages/Margin.tsx"
import { ModelsPage } from "./pages/Models.tsx"
import { OverviewPage } from "./pages/Overview.tsx"
import { SignIn } from "./pages/SignIn.tsx"
import { navigate, onLinkClick, useLocation } from "./Router.ts"
import * as Session from "./Session.ts"
import { ErrorNote, Loading } from "./ui/Parts.tsx"
import { type Viewer, ViewerContext } from "./Viewer.ts"
import * as ViewerLoad from "./Viewer.ts"

const pages: ReadonlyArray<{ readonly path: string; readonly title: string; readonly render: () => ComponentChildren }> = [
  { path: "/overview", title: "Overview", render: () => <OverviewPage /> },
  { path: "/budgets", title: "Budgets", render: () => <BudgetsPage /> },
  { path: "/chargeback", title: "Chargeback", render: () => <ChargebackPage /> },
  { path: "/margin", title: "Margin", render: () => <MarginPage /> },
  { path: "/anomalies", title: "Anomalies", render: () => <AnomaliesPage /> },
  { path: "/calls", title: "Calls", render: () => <CallsPage /> },
  { path: "/models", title: "Models", render: () => <ModelsPage /> }
]

type State =
  | { readonly kind: "signed-out"; readonly reason?: string }
  | { readonly kind: "checking" }
  | { readonly kind: "failed"; readonly error: unknown }
  | { readonly kind: "signed-in"; readonly viewer: Viewer }

export const App = () => {
  const [state, setState] = useState<State>(() => (Session.read() === null ? { kind: "signed-out" } : { kind: "checking" }))
  const location = useLocation()

  const check = () => {
    setState({ kind: "checking" })
    ViewerLoad.load().then(
      (viewer) => setState({ kind: "signed-in", viewer }),
      (error: unknown) => {
        if (error instanceof Api.ApiFailure && (error.code === "UNAUTHENTICATED" || error.code === "Forbidden")) {
          Session.clear()
          setState({ kind: "signed-out", reason: error.code === "Forbidden" ? error.message : "The saved key was refused (revoked or unknown); sign in again." })
        } else setState({ kind: "failed", error })
      }
    )
  }

  useEffect(() => {
    if (state.kind === "checking") check()
    return Api.onUnauthenticated(() => {
      Session.clear()
      setState({ kind: "signed-out", reason: "The server refused the key (revoked or unknown); sign in again." })
    })
  }, [])

  useEffect(() => {
    const page = pages.find((p) => location.path === p.path)
    document.title = `${page?.title ?? "Sign in"} · Tally`
  }, [location.path])

  if (state.kind === "signed-out") {
    return (
      <SignIn
        {...(state.reason === undefined ? {} : { reason: state.reason })}
        onSignedIn={(viewer) => {
          setState({ kind: "signed-in", viewer })
          if (!pages.some((p) => p.path === window.location.pathname)) navigate("/overview", { replace: true })
        }}
      />
    )
  }
  if (state.kind === "checking") return <main class="centered"><Loading what="your tenant" /></main>
  if (state.kind === "failed") return <main class="centered"><ErrorNote error={state.error} retry={check} /></main>

  const viewer = state.viewer
  const page = pages.find((p) => location.path === p.path)
  if (page === undefined) {
    navigate("/overview", { replace: true })
    return null
  }
  const signOut = () => {
    Session.clear()
    setState({ kind: "signed-out" })
    navigate("/", { replace: true })
  }
  return (
    <ViewerContext.Provider value={viewer}>
      <a class="skip-link" href="#main">Skip to content</a>
      <div class="frame" onClick={(e) => onLinkClick(e as unknown as MouseEvent)}>
        <header class="topbar">
          <a class="brand" href="/overview" aria-label="Tally console, overview">
            <svg viewBox="0 0 32 32" width="26" height="26" aria-hidden="true"><rect width="32" height="32" rx="7" fill="#1f4f8a" /><path d="M8 23V9m5 14V9m5 14V9m5 14V9M5 20L27 12" stroke="#fff" stroke-width="2.4" stroke-linecap="round" /></svg>
            <span>Tally</span>
          </a>
          <nav aria-label="Console pages">
            <ul>
              {pages.map((p) => (
                <li key={p.path}>
                  <a href={p.path} aria-current={p.path === page.path ? "page" : undefined}>{p.title}</a>
                </li>
              ))}
              <li><a href="/graphql">GraphiQL</a></li>
            </ul>
          </nav>
          <div class="who">
            <span class="tenant" title={`Tenant ${viewer.tenant.id}`}>{viewer.tenant.name}</span>
            <span class="badge" title={`API key ${viewer.apiKeyId}`}>{viewer.isAdmin ? "admin key" : "read key"}</span>
            <span class="muted zone">{viewer.tenant.timeZone} · {viewer.tenant.currency}</span>
            <button type="button" class="link-button" onClick={signOut}>Sign out</button>
          </div>
        </header>
        <main id="main" tabIndex={-1}>
          <h1 class="page-title">{page.title}</h1>
          {page.render()}
        </main>
      </div>
    </ViewerContext.Provider>
  )
}
