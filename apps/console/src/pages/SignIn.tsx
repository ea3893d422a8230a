/** Sign-in with an API key (read or admin scope); the key is kept for this tab's session only. */
import { useState } from "preact/hooks"
import { ApiFailure } from "../Api.ts"
import * as Session from "../Session.ts"
import type { Viewer } from "../Viewer.ts"
import * as ViewerLoad from "../Viewer.ts"

export const SignIn = (props: { readonly reason?: string; readonly onSignedIn: (viewer: Viewer) => void }) => {
  const [key, setKey] = useState("")
  const [error, setError] = useState<string | null>(props.reason ?? null)
  const [busy, setBusy] = useState(false)
  const submit = async (event: Event) => {
    event.preventDefault()
    const secret = key.trim()
    if (secret === "") return setError("Paste an API key first.")
    setBusy(true)
    setError(null)
    try {
      const viewer = await ViewerLoad.load(secret)
      Session.save(secret)
      props.onSignedIn(viewer)
    } catch (failure) {
      setError(
        failure instanceof ApiFailure && failure.code === "UNAUTHENTICATED"
          ? "This key was refused: it is unknown or revoked."
          : failure instanceof Error ? failure.message : String(failure)
      )
    } finally {
      setBusy(false)
    }
  }
  return (
    <main class="signin" id="main">
      <form class="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <div class="brand big">
          <svg viewBox="0 0 32 32" width="36" height="36" aria-hidden="true"><rect width="32" height="32" rx="7" fill="#1f4f8a" /><path d="M8 23V9m5 14V9m5 14V9m5 14V9M5 20L27 12" stroke="#fff" stroke-width="2.4" stroke-linecap="round" /></svg>
          <span>Tally</span>
        </div>
        <h1 id="signin-title">Sign in to the console</h1>
        <p>Spend, budgets, chargeback, anomalies and every priced call of your tenant.</p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          aria-describedby="key-help"
          {...(error === null ? {} : { "aria-invalid": "true" })}
          autoFocus
        />
        <p id="key-help" class="note">
          A key with the <code>read</code> scope shows everything; <code>admin</code> also lets you change budgets and finalize chargeback runs.
          Create one with <code>pnpm tally tenant create</code> or <code>pnpm tally apikey create</code>; <code>pnpm start</code> prints a link that signs the demo tenant in.
          The key is kept in this browser tab until it closes, and never put in a URL.
        </p>
        {error === null ? null : <p class="error-note" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>{busy ? "Checking…" : "Sign in"}</button>
      </form>
    </main>
  )
}
