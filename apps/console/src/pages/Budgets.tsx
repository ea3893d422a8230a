/**
 * Budgets: each budget's burn-down in its current period against its amount and thresholds, with
 * the forecast to the period's end, what reservations of calls in flight hold, the alert history
 * (every threshold crossing) and the change history. Admin keys create, edit and archive budgets.
 */
import { useState } from "preact/hooks"
import * as Api from "../Api.ts"
import * as Format from "../Format.ts"
import { addDays, localDate } from "../Format.ts"
import { setQuery, useLocation } from "../Router.ts"
import { Chart } from "../ui/Chart.tsx"
import { Card, Empty, Money, Show, Stat, useRemote } from "../ui/Parts.tsx"
import { bucketStarts } from "../ui/PeriodPicker.tsx"
import { useViewer } from "../Viewer.ts"

const scopeKeys = ["project", "environment", "feature", "team", "customer", "apiKeyId", "model"] as const
type ScopeKey = typeof scopeKeys[number]
type Scope = { readonly [K in ScopeKey]: string | null }

export interface Budget {
  readonly id: string
  readonly name: string
  readonly amount: string
  readonly currency: string
  readonly period: "DAY" | "WEEK" | "MONTH"
  readonly action: "ALERT" | "BLOCK"
  readonly thresholds: ReadonlyArray<string>
  readonly createdAt: string
  readonly archivedAt: string | null
  readonly scope: Scope
  readonly status: {
    readonly periodStart: string
    readonly periodEnd: string
    readonly periodLabel: string
    readonly spent: string
    readonly reserved: string
    readonly remaining: string
    readonly percent: string
    readonly calls: number
    readonly unpricedCalls: number
    readonly otherCurrencies: ReadonlyArray<{ readonly amount: string; readonly currency: string }>
    readonly forecast: { readonly method: string; readonly trailingDays: number; readonly dailyRate: string; readonly projectedSpend: string; readonly projectedPercent: string; readonly exceeds: boolean }
  } | null
  readonly alerts?: ReadonlyArray<{ readonly periodStart: string; readonly periodEnd: string; readonly threshold: string; readonly spent: string; readonly budgetAmount: string; readonly currency: string; readonly crossedAt: string }>
  readonly changes?: ReadonlyArray<{ readonly action: string; readonly actor: string; readonly at: string; readonly fields: ReadonlyArray<{ readonly field: string; readonly from: unknown; readonly to: unknown }> }>
}

const budgetFields = `id name amount currency period action thresholds createdAt archivedAt
  scope { ${scopeKeys.join(" ")} }
  status { periodStart periodEnd periodLabel spent reserved remaining percent calls unpricedCalls otherCurrencies { amount currency }
    forecast { method trailingDays dailyRate projectedSpend projectedPercent exceeds } }`

// A page of 20 stays within the API's query cost limit; each budget's history is read on its own.
export const budgetsQuery = `query Budgets($archived: Boolean) {
  budgets(first: 20, includeArchived: $archived) { __typename ... on BudgetConnection { pageInfo { hasNextPage } edges { node { ${budgetFields} } } } ${Api.errorFields} }
}`

export const historyQuery = `query BudgetHistory($id: ID!) {
  budget(id: $id) { __typename ... on Budget {
    alerts { periodStart periodEnd threshold spent budgetAmount currency crossedAt }
    changes { action actor at fields { field from to } }
  } ${Api.errorFields} ... on NotFound { resource } }
}`

type History = Required<Pick<Budget, "alerts" | "changes">>

export const burnQuery = `query Burn($from: DateTime!, $to: DateTime!, $granularity: Granularity!, $filter: UsageFilter) {
  usage(from: $from, to: $to, granularity: $granularity, filter: $filter) { __typename ... on UsageReport { buckets { start spend { amount currency } } } ${Api.errorFields} }
}`

const createMutation = `mutation Create($input: CreateBudgetInput!) { createBudget(input: $input) { __typename ... on Budget { id } ${Api.errorFields} } }`
const updateMutation = `mutation Update($id: ID!, $input: UpdateBudgetInput!) { updateBudget(id: $id, input: $input) { __typename ... on Budget { id } ${Api.errorFields} } }`
const archiveMutation = `mutation Archive($id: ID!) { deleteBudget(id: $id) { __typename ... on Budget { id } ${Api.errorFields} } }`

const scopeText = (scope: Scope): string => {
  const parts = scopeKeys.filter((k) => scope[k] !== null).map((k) => `${k} = ${scope[k]}`)
  return parts.length === 0 ? "all calls" : parts.join(", ")
}

export const BudgetsPage = () => {
  const viewer = useViewer()
  const location = useLocation()
  const archived = location.query.get("archived") === "1"
  const [remote, reload] = useRemote(
    () => Api.request<{ budgets: { __typename: "BudgetConnection"; pageInfo: { hasNextPage: boolean }; edges: ReadonlyArray<{ node: Budget }> } | Api.ErrorResult }>(budgetsQuery, { archived })
      .then((a) => {
        const connection = Api.unwrap(a.budgets, "BudgetConnection")
        return { budgets: connection.edges.map((e) => e.node), more: connection.pageInfo.hasNextPage }
      }),
    [archived]
  )
  const [editing, setEditing] = useState<Budget | "new" | null>(null)
  return (
    <>
      <div class="toolbar">
        <label class="check"><input type="checkbox" checked={archived} onChange={(e) => setQuery({ archived: (e.target as HTMLInputElement).checked ? "1" : undefined })} /> Show archived budgets</label>
        {viewer.isAdmin
          ? <button type="button" class="primary" onClick={() => setEditing("new")}>New budget</button>
          : <p class="note" data-note="read-only">You are signed in with a read key: creating and changing budgets needs an admin key.</p>}
      </div>
      {editing === null ? null : (
        <BudgetForm
          budget={editing === "new" ? null : editing}
          onDone={() => {
            setEditing(null)
            reload()
          }}
        />
      )}
      <Show remote={remote} what="budgets" retry={reload}>
        {(page) => page.budgets.length === 0
          ? (
            <Empty title="No budgets yet">
              <p>
                A budget limits spend of all calls or of a scope (a team, project, customer, model…) per day, week or month, announces thresholds
                (webhooks) and can block calls that would overspend.{" "}
                {viewer.isAdmin ? "Create one with New budget above," : "Ask an admin to create one,"} or with <code>pnpm tally budget create</code> or the <code>createBudget</code> mutation.
              </p>
            </Empty>
          )
          : (
            <div class="stack">
              {page.budgets.map((b) => <BudgetCard key={b.id} budget={b} onEdit={() => setEditing(b)} onChanged={reload} />)}
              {page.more ? <p class="note">The first 20 budgets; archive old ones or use the API's paging for the rest.</p> : null}
            </div>
          )}
      </Show>
    </>
  )
}

const BudgetCard = (props: { readonly budget: Budget; readonly onEdit: () => void; readonly onChanged: () => void }) => {
  const viewer = useViewer()
  const b = props.budget
  const s = b.status
  const [error, setError] = useState<string | null>(null)
  const archive = async () => {
    if (!window.confirm(`Archive the budget "${b.name}"? It is no longer evaluated or enforced; its history stays.`)) return
    try {
      const answer = await Api.request<{ deleteBudget: { __typename: "Budget" } | Api.ErrorResult }>(archiveMutation, { id: b.id })
      Api.unwrap(answer.deleteBudget, "Budget")
      props.onChanged()
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure))
    }
  }
  const [history] = useRemote(
    () => Api.request<{ budget: ({ __typename: "Budget" } & History) | Api.ErrorResult }>(historyQuery, { id: b.id }).then((a) => Api.unwrap(a.budget, "Budget")),
    [b.id, s?.spent, b.amount, b.name, b.action, b.thresholds.join()]
  )
  const level = s === null ? "" : Number(s.percent) >= 100 ? "over" : s.forecast.exceeds ? "warn" : "ok"
  return (
    <Card
      title={b.name}
      id={`budget-${b.id}`}
      class={`budget budget-${level}`}
      actions={viewer.isAdmin && b.archivedAt === null
        ? (
          <div class="actions">
            <button type="button" onClick={props.onEdit} aria-label={`Edit budget ${b.name}`}>Edit</button>
            <button type="button" class="danger" onClick={archive} aria-label={`Archive budget ${b.name}`}>Archive</button>
          </div>
        )
        : undefined}
    >
      <p class="meta">
        <Money amount={b.amount} currency={b.currency} /> per {b.period.toLowerCase()} · {scopeText(b.scope)} · {b.action === "BLOCK" ? "blocks calls that would overspend" : "alerts only"} · thresholds {b.thresholds.map((t) => `${t}%`).join(", ")}
        {b.archivedAt === null ? null : <span class="pill"> archived {Format.day(b.archivedAt, viewer.tenant.timeZone)}</span>}
      </p>
      {error === null ? null : <p class="error-note" role="alert">{error}</p>}
      {s === null ? <p class="note">No current period: the budget is archived.</p> : (
        <>
          <div class="meter" role="meter" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.min(100, Number(s.percent))} aria-label={`${b.name}: ${s.percent}% of the amount spent`}>
            <span class="meter-fill" style={{ width: `${Math.min(100, Number(s.percent))}%` }} />
            {b.thresholds.map((t) => <span class="meter-mark" key={t} style={{ left: `${Math.min(100, Number(t))}%` }} title={`${t}%`} />)}
          </div>
          <dl class="stats">
            <Stat label={`Spent (${s.periodLabel})`} testId="spent"><Money amount={s.spent} currency={b.currency} /></Stat>
            <Stat label="Percent of amount" testId="percent">{s.percent}%</Stat>
            <Stat label="Held by calls in flight" testId="reserved" hint="reservations not yet settled"><Money amount={s.reserved} currency={b.currency} /></Stat>
            <Stat label="Remaining" testId="remaining"><Money amount={s.remaining} currency={b.currency} /></Stat>
            <Stat label="Forecast to period end" testId="forecast" hint={`${s.forecast.method}: ${s.forecast.dailyRate} ${b.currency}/day over ${s.forecast.trailingDays} days`}>
              <Money amount={s.forecast.projectedSpend} currency={b.currency} /> ({s.forecast.projectedPercent}%){s.forecast.exceeds ? <span class="pill warn"> exceeds</span> : null}
            </Stat>
            <Stat label="Calls" testId="calls" {...(s.unpricedCalls > 0 ? { hint: `${Format.count(s.unpricedCalls)} unpriced, not in spent` } : {})}>{Format.count(s.calls)}</Stat>
          </dl>
          <BurnDown budget={b} />
        </>
      )}
      <Show remote={history} what="alert history">
        {(h) => <HistoryDetails budget={b} history={h} />}
      </Show>
    </Card>
  )
}

const HistoryDetails = (props: { readonly budget: Budget; readonly history: History }) => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const { alerts, changes } = props.history
  return (
    <>
      <details>
        <summary>Alert history ({alerts.length})</summary>
        {alerts.length === 0 ? <p class="note">No threshold reached yet.</p> : (
          <table class="data" data-table="alerts">
            <thead><tr><th scope="col">Crossed</th><th scope="col">Period</th><th scope="col" class="num">Threshold</th><th scope="col" class="num">Spent then</th><th scope="col" class="num">Amount then</th></tr></thead>
            <tbody>
              {[...alerts].reverse().map((a) => (
                <tr key={`${a.periodStart}-${a.threshold}`}>
                  <td>{Format.instant(a.crossedAt, zone)}</td>
                  <td>{Format.day(a.periodStart, zone)}</td>
                  <td class="num">{a.threshold}%</td>
                  <td class="num"><Money amount={a.spent} currency={a.currency} /></td>
                  <td class="num"><Money amount={a.budgetAmount} currency={a.currency} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </details>
      <details>
        <summary>Changes ({changes.length})</summary>
        {changes.length === 0 ? <p class="note">Unchanged since it was created {Format.instant(props.budget.createdAt, zone)}.</p> : (
          <ul class="changes">
            {changes.map((c) => (
              <li key={c.at}>
                {Format.instant(c.at, zone)}: {c.action.toLowerCase()} by <code>{c.actor}</code>
                {c.fields.length === 0 ? null : ": " + c.fields.map((f) => `${f.field} ${JSON.stringify(f.from)} → ${JSON.stringify(f.to)}`).join("; ")}
              </li>
            ))}
          </ul>
        )}
      </details>
    </>
  )
}

/** Spend so far in the period (cumulative), the forecast line to its end, the amount and thresholds. */
const BurnDown = (props: { readonly budget: Budget }) => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const b = props.budget
  const s = b.status!
  const granularity = b.period === "DAY" ? "HOUR" : "DAY"
  const [remote] = useRemote(async () => {
    const filter: Record<string, Array<string>> = { currency: [b.currency] }
    for (const key of scopeKeys) if (b.scope[key] !== null) filter[key] = [b.scope[key]!]
    const to = new Date(Math.min(Date.now() + 3_600_000, Date.parse(s.periodEnd))).toISOString()
    const answer = await Api.request<{ usage: { __typename: "UsageReport"; buckets: ReadonlyArray<{ start: string; spend: ReadonlyArray<{ amount: string; currency: string }> }> } | Api.ErrorResult }>(
      burnQuery,
      { from: s.periodStart, to, granularity, filter }
    )
    return Api.unwrap(answer.usage, "UsageReport").buckets
  }, [b.id, s.periodStart, s.spent])
  return (
    <Show remote={remote} what="burn-down">
      {(buckets) => {
        const period = { from: localDate(Date.parse(s.periodStart), zone), to: addDays(localDate(Date.parse(s.periodEnd), zone), -1) }
        const starts = bucketStarts(period, granularity, zone)
        const now = Date.now()
        const perBucket = new Map(buckets.map((bk) => [Date.parse(bk.start), Format.toNumber(bk.spend.find((m) => m.currency === b.currency)?.amount)]))
        let sum = 0
        const spent: Array<number | null> = starts.map((t) => {
          if (t > now) return null
          sum += perBucket.get(t) ?? 0
          return sum
        })
        const current = spent.reduce<number>((last, v, i) => (v === null ? last : i), 0)
        const projected = Format.toNumber(s.forecast.projectedSpend)
        const here = spent[current] ?? 0
        // A straight line from spend now to the projected spend at the period's last bucket.
        const last = starts.length - 1
        const forecast: Array<number | null> = starts.map((_t, i) =>
          i < current ? null : last === current ? projected : here + ((projected - here) * (i - current)) / (last - current)
        )
        const amount = Format.toNumber(b.amount)
        const levels = [
          ...b.thresholds.filter((t) => Number(t) !== 100).map((t) => ({ label: `${t}%`, value: (amount * Number(t)) / 100, color: "#b45309" })),
          { label: `amount ${Format.rounded(amount)}`, value: amount, color: "#b91c1c" }
        ]
        const formatX = (seconds: number) => granularity === "HOUR" ? Format.hour(seconds * 1000, zone) : Format.day(seconds * 1000, zone).replace(/ \d{4}$/, "")
        return (
          <Chart
            kind="lines"
            x={starts.map((t) => t / 1000)}
            series={[
              { label: "Spent (cumulative)", values: spent, color: "#2563eb" },
              { label: "Forecast", values: forecast, color: "#7c3aed", dash: [6, 4] }
            ]}
            levels={levels}
            formatX={formatX}
            timeZone={zone}
            caption="Rounded for display; the figures above are exact."
            yLabel={b.currency}
            height={220}
            summary={`Burn-down of ${b.name} in ${s.periodLabel}: ${s.spent} ${b.currency} spent of ${b.amount}, forecast ${s.forecast.projectedSpend} by the period's end.`}
          />
        )
      }}
    </Show>
  )
}

/** Create (admin) or edit a budget; the API's typed errors are shown next to the form, naming the field. */
const BudgetForm = (props: { readonly budget: Budget | null; readonly onDone: () => void }) => {
  const viewer = useViewer()
  const b = props.budget
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (event: Event) => {
    event.preventDefault()
    const form = new FormData(event.target as HTMLFormElement)
    const text = (name: string) => String(form.get(name) ?? "").trim()
    const thresholds = text("thresholds").split(/[,\s]+/).filter((t) => t !== "")
    setBusy(true)
    setError(null)
    try {
      if (b === null) {
        const scope: Record<string, string> = {}
        for (const key of scopeKeys) if (text(`scope-${key}`) !== "") scope[key] = text(`scope-${key}`)
        const answer = await Api.request<{ createBudget: { __typename: "Budget" } | Api.ErrorResult }>(createMutation, {
          input: { name: text("name"), amount: text("amount"), period: text("period"), action: text("action"), thresholds, scope }
        })
        Api.unwrap(answer.createBudget, "Budget")
      } else {
        const answer = await Api.request<{ updateBudget: { __typename: "Budget" } | Api.ErrorResult }>(updateMutation, {
          id: b.id,
          input: { name: text("name"), amount: text("amount"), action: text("action"), thresholds }
        })
        Api.unwrap(answer.updateBudget, "Budget")
      }
      props.onDone()
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure))
    } finally {
      setBusy(false)
    }
  }
  return (
    <form class="card form" onSubmit={submit} aria-labelledby="budget-form-title">
      <h2 id="budget-form-title">{b === null ? "New budget" : `Edit ${b.name}`}</h2>
      <div class="fields">
        <label>Name <input name="name" required value={b?.name ?? ""} /></label>
        <label>Amount ({b?.currency ?? viewer.tenant.currency}) <input name="amount" required inputMode="decimal" pattern="[0-9]+(\.[0-9]+)?" value={b?.amount ?? ""} aria-describedby="amount-help" /></label>
        <label>Period
          <select name="period" disabled={b !== null}>
            {["DAY", "WEEK", "MONTH"].map((p) => <option key={p} value={p} selected={(b?.period ?? "MONTH") === p}>{p.toLowerCase()}</option>)}
          </select>
        </label>
        <label>When over
          <select name="action">
            <option value="ALERT" selected={(b?.action ?? "ALERT") === "ALERT"}>alert only</option>
            <option value="BLOCK" selected={b?.action === "BLOCK"}>block calls</option>
          </select>
        </label>
        <label>Thresholds (% of amount) <input name="thresholds" value={(b?.thresholds ?? ["80", "100"]).join(", ")} /></label>
      </div>
      <p id="amount-help" class="note">An exact decimal, e.g. 250 or 99.95. {b === null ? "Leave scope fields empty to count every call." : "Period, scope and currency cannot change: create a new budget instead."}</p>
      {b !== null ? null : (
        <fieldset>
          <legend>Scope (calls whose labels equal every value given)</legend>
          <div class="fields">
            {scopeKeys.map((key) => <label key={key}>{key} <input name={`scope-${key}`} /></label>)}
          </div>
        </fieldset>
      )}
      {error === null ? null : <p class="error-note" role="alert">{error}</p>}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>{b === null ? "Create budget" : "Save changes"}</button>
        <button type="button" onClick={props.onDone}>Cancel</button>
      </div>
    </form>
  )
}
