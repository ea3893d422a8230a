/** Small pieces every page uses: exact money, loading and error states, empty states, cards. */
import type { ComponentChildren } from "preact"
import { useCallback, useEffect, useRef, useState } from "preact/hooks"
import { ApiFailure } from "../Api.ts"
import * as Format from "../Format.ts"

/** An exact amount as the API returned it; `data-amount` keeps the raw string for tests and copying. */
export const Money = (props: { readonly amount: string | null | undefined; readonly currency: string | null | undefined }) =>
  props.amount == null ? <span class="muted">–</span> : (
    <span class="money" data-amount={props.amount} data-currency={props.currency ?? ""}>{Format.money(props.amount, props.currency)}</span>
  )

/** Several currencies: one amount each, never added together. */
export const MoneyList = (props: { readonly spend: ReadonlyArray<{ readonly amount: string; readonly currency: string }> }) =>
  props.spend.length === 0 ? <span class="muted">none</span> : (
    <span class="money-list">
      {props.spend.map((m) => <Money key={m.currency} amount={m.amount} currency={m.currency} />)}
    </span>
  )

export const Loading = (props: { readonly what?: string }) => (
  <p class="loading" role="status" aria-live="polite">Loading {props.what ?? ""}…</p>
)

export const ErrorNote = (props: { readonly error: unknown; readonly retry?: () => void }) => {
  const message = props.error instanceof ApiFailure ? props.error.message : props.error instanceof Error ? props.error.message : String(props.error)
  return (
    <div class="error-note" role="alert">
      <strong>Could not load this.</strong> {message}
      {props.retry === undefined ? null : <button type="button" class="link-button" onClick={props.retry}>Try again</button>}
    </div>
  )
}

/** What to do when there is nothing to show. */
export const Empty = (props: { readonly title: string; readonly children: ComponentChildren }) => (
  <div class="empty">
    <p class="empty-title">{props.title}</p>
    <div class="empty-body">{props.children}</div>
  </div>
)

export const Card = (props: { readonly title: string; readonly children: ComponentChildren; readonly id?: string; readonly actions?: ComponentChildren; readonly class?: string }) => {
  const heading = `${props.id ?? `card-${props.title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`}-title`
  return (
    <section class={`card ${props.class ?? ""}`} aria-labelledby={heading} {...(props.id === undefined ? {} : { id: props.id })}>
      <header class="card-header">
        <h2 id={heading}>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  )
}

export const Stat = (props: { readonly label: string; readonly children: ComponentChildren; readonly hint?: string; readonly testId?: string }) => (
  <div class="stat" data-stat={props.testId}>
    <dt>{props.label}</dt>
    <dd>{props.children}</dd>
    {props.hint === undefined ? null : <p class="note">{props.hint}</p>}
  </div>
)

export type Remote<T> =
  | { readonly state: "loading" }
  | { readonly state: "failed"; readonly error: unknown }
  | { readonly state: "ready"; readonly value: T }

/** Runs a load whenever its dependencies change; the last answer wins. */
export const useRemote = <T,>(load: () => Promise<T>, deps: ReadonlyArray<unknown>): [Remote<T>, () => void] => {
  const [remote, setRemote] = useState<Remote<T>>({ state: "loading" })
  const [tick, setTick] = useState(0)
  const latest = useRef(0)
  useEffect(() => {
    const id = ++latest.current
    setRemote({ state: "loading" })
    load().then(
      (value) => id === latest.current && setRemote({ state: "ready", value }),
      (error: unknown) => id === latest.current && setRemote({ state: "failed", error })
    )
  }, [...deps, tick])
  const reload = useCallback(() => setTick((n) => n + 1), [])
  return [remote, reload]
}

/** Shows a remote value, its loading state or its error. */
export const Show = <T,>(props: { readonly remote: Remote<T>; readonly what?: string; readonly retry?: () => void; readonly children: (value: T) => ComponentChildren }) => {
  if (props.remote.state === "loading") return <Loading {...(props.what === undefined ? {} : { what: props.what })} />
  if (props.remote.state === "failed") return <ErrorNote error={props.remote.error} {...(props.retry === undefined ? {} : { retry: props.retry })} />
  return <>{props.children(props.remote.value)}</>
}

/** A JSON value shown as indented text (raw payloads, evidence, match rules). */
export const JsonBlock = (props: { readonly value: unknown; readonly label: string }) => (
  <pre class="json" tabIndex={0} aria-label={props.label}>{typeof props.value === "string" ? props.value : JSON.stringify(props.value, null, 2)}</pre>
)
