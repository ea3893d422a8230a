/**
 * Chargeback: stored runs; one run's allocation (chart and table: each owner's direct spend and
 * its share of the shared pools, the unallocated line, corrections for late usage of finalized
 * runs), its inputs and audit trail, CSV and FOCUS downloads. Admin keys run and finalize.
 */
import { useState } from "preact/hooks"
import * as Api from "../Api.ts"
import * as Format from "../Format.ts"
import { navigate, setQuery, useLocation } from "../Router.ts"
import { palette, ShareBars } from "../ui/Chart.tsx"
import { Card, Empty, JsonBlock, Money, Show, Stat, useRemote } from "../ui/Parts.tsx"
import { useViewer } from "../Viewer.ts"

interface RunSummary {
  readonly id: string
  readonly status: "DRAFT" | "FINAL"
  readonly dimension: string
  readonly from: string
  readonly to: string
  readonly currency: string
  readonly total: string
  readonly lineCount: number
  readonly createdAt: string
  readonly createdBy: string
  readonly finalizedAt: string | null
}

export interface Line {
  readonly lineNo: number
  readonly kind: "OWNER" | "UNALLOCATED" | "CORRECTION"
  readonly owner: string | null
  readonly direct: string
  readonly allocated: string
  readonly amount: string
  readonly currency: string
  readonly requests: number
  readonly correctsRunId: string | null
}

export interface Run extends Omit<RunSummary, "lineCount"> {
  readonly rule: unknown
  readonly ruleVersion: string
  readonly shared: ReadonlyArray<string>
  readonly asOf: string
  readonly finalizedBy: string | null
  readonly inputs: {
    readonly ledgerTotal: string
    readonly roundedTotal: string
    readonly requests: number
    readonly unpricedRequests: number
    readonly otherCurrencies: ReadonlyArray<{ readonly amount: string; readonly currency: string }>
    readonly snapshotIds: ReadonlyArray<string>
    readonly checkedRunIds: ReadonlyArray<string>
    readonly sha256: string
  }
  readonly lines: ReadonlyArray<Line>
  readonly audit: ReadonlyArray<{ readonly action: string; readonly actor: string; readonly at: string }>
}

export const runsQuery = `{ chargebackRuns(first: 50) { __typename ... on ChargebackRunConnection { edges { node { id status dimension from to currency total lineCount createdAt createdBy finalizedAt } } } ${Api.errorFields} } }`

const runFields = `id status dimension from to currency total createdAt createdBy finalizedAt finalizedBy rule ruleVersion shared asOf
  inputs { ledgerTotal roundedTotal requests unpricedRequests otherCurrencies { amount currency } snapshotIds checkedRunIds sha256 }
  lines { lineNo kind owner direct allocated amount currency requests correctsRunId }
  audit { action actor at }`

export const runQuery = `query Run($id: ID!) { chargebackRun(id: $id) { __typename ... on ChargebackRun { ${runFields} } ${Api.errorFields} ... on NotFound { resource } } }`

const finalizeMutation = `mutation Finalize($id: ID!) { finalizeChargebackRun(id: $id) { __typename ... on ChargebackRun { id status } ${Api.errorFields} } }`
const runMutation = `mutation RunChargeback($input: ChargebackInput!) { runChargeback(input: $input) { __typename ... on ChargebackRun { id } ${Api.errorFields} } }`

const dimensions = ["team", "project", "customer", "costCenter", "feature", "environment", "model", "provider"]

export const ChargebackPage = () => {
  const viewer = useViewer()
  const location = useLocation()
  const selected = location.query.get("run")
  const [runs, reload] = useRemote(
    () => Api.request<{ chargebackRuns: { __typename: "ChargebackRunConnection"; edges: ReadonlyArray<{ node: RunSummary }> } | Api.ErrorResult }>(runsQuery)
      .then((a) => Api.unwrap(a.chargebackRuns, "ChargebackRunConnection").edges.map((e) => e.node)),
    [location.query.get("v")]
  )
  const [creating, setCreating] = useState(false)
  const zone = viewer.tenant.timeZone
  return (
    <>
      <div class="toolbar">
        {viewer.isAdmin
          ? <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>New run</button>
          : <p class="note" data-note="read-only">You are signed in with a read key: running and finalizing chargeback needs an admin key.</p>}
      </div>
      {creating ? <NewRunForm onDone={(id) => {
        setCreating(false)
        if (id !== undefined) setQuery({ run: id, v: String(Date.now()) }, { replace: false })
        else reload()
      }} /> : null}
      <div class="split">
        <Card title="Runs" class="runs">
          <Show remote={runs} what="runs" retry={reload}>
            {(list) => list.length === 0
              ? (
                <Empty title="No chargeback runs yet">
                  <p>
                    A run freezes a period's spend into lines per owner (team, project, customer, …), splits shared and unowned cost by a rule,
                    and can be finalized and exported (CSV, FOCUS). {viewer.isAdmin ? "Start one with New run above" : "An admin starts one here"}, with{" "}
                    <code>pnpm tally chargeback run</code> or the <code>runChargeback</code> mutation.
                  </p>
                </Empty>
              )
              : (
                <ul class="run-list">
                  {list.map((r) => (
                    <li key={r.id}>
                      <a href={`/chargeback?run=${r.id}`} aria-current={r.id === selected ? "true" : undefined}>
                        <span class={`pill ${r.status === "FINAL" ? "ok" : "draft"}`}>{r.status.toLowerCase()}</span>{" "}
                        <strong>{r.dimension}</strong> · {Format.day(r.from, zone)} – {Format.day(Date.parse(r.to) - 1, zone)}
                        <span class="run-total"><Money amount={r.total} currency={r.currency} /></span>
                      </a>
                    </li>
                  ))}
                </ul>
              )}
          </Show>
        </Card>
        <div class="run-detail">
          {selected === null
            ? <p class="note">Pick a run to see its allocation.</p>
            : <RunDetail id={selected} onChanged={reload} />}
        </div>
      </div>
    </>
  )
}

const RunDetail = (props: { readonly id: string; readonly onChanged: () => void }) => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const [remote, reload] = useRemote(
    () => Api.request<{ chargebackRun: ({ __typename: "ChargebackRun" } & Run) | Api.ErrorResult }>(runQuery, { id: props.id })
      .then((a) => Api.unwrap(a.chargebackRun, "ChargebackRun")),
    [props.id]
  )
  const [error, setError] = useState<string | null>(null)
  const finalize = async () => {
    if (!window.confirm("Finalize this run? From then on neither it nor its lines change; late usage becomes corrections in later runs.")) return
    setError(null)
    try {
      const answer = await Api.request<{ finalizeChargebackRun: { __typename: "ChargebackRun" } | Api.ErrorResult }>(finalizeMutation, { id: props.id })
      Api.unwrap(answer.finalizeChargebackRun, "ChargebackRun")
      reload()
      props.onChanged()
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure))
    }
  }
  const download = (format: "csv" | "focus") =>
    Api.download(`/api/v1/exports/chargeback/${encodeURIComponent(props.id)}?format=${format}`, `chargeback-${props.id}${format === "focus" ? "-focus" : ""}.csv`)
      .catch((failure: unknown) => setError(failure instanceof Error ? failure.message : String(failure)))
  return (
    <Show remote={remote} what="the run" retry={reload}>
      {(run) => {
        const owners = run.lines.filter((l) => l.kind === "OWNER")
        const corrections = run.lines.filter((l) => l.kind === "CORRECTION")
        const unallocated = run.lines.filter((l) => l.kind === "UNALLOCATED")
        return (
          <Card
            title={`Chargeback by ${run.dimension}, ${Format.day(run.from, zone)} – ${Format.day(Date.parse(run.to) - 1, zone)}`}
            id="run"
            actions={
              <div class="actions">
                <button type="button" onClick={() => download("csv")}>Download CSV</button>
                <button type="button" onClick={() => download("focus")}>Download FOCUS</button>
                {viewer.isAdmin && run.status === "DRAFT" ? <button type="button" class="primary" onClick={finalize}>Finalize</button> : null}
              </div>
            }
          >
            {error === null ? null : <p class="error-note" role="alert">{error}</p>}
            <dl class="stats">
              <Stat label="Status" testId="status">{run.status === "FINAL" ? `final since ${Format.instant(run.finalizedAt, zone)}` : "draft"}</Stat>
              <Stat label="Charged total" testId="total" hint="lines rounded to the currency's minor unit, summing exactly to this"><Money amount={run.total} currency={run.currency} /></Stat>
              <Stat label="Ledger spend (exact)" testId="ledger-total"><Money amount={run.inputs.ledgerTotal} currency={run.currency} /></Stat>
              <Stat label="Calls" testId="requests" {...(run.inputs.unpricedRequests > 0 ? { hint: `${Format.count(run.inputs.unpricedRequests)} unpriced, not charged` } : {})}>{Format.count(run.inputs.requests)}</Stat>
            </dl>
            <h3>Allocation</h3>
            <ShareBars
              label="Each owner's charge: direct spend and share of shared cost"
              rows={[...owners, ...unallocated].map((l) => ({
                label: l.owner ?? "(unallocated)",
                value: Format.toNumber(l.amount),
                text: Format.money(l.amount, l.currency),
                parts: [
                  { value: Format.toNumber(l.direct), color: palette[0]!, label: `direct ${l.direct}` },
                  { value: Format.toNumber(l.allocated), color: palette[1]!, label: `shared ${l.allocated}` }
                ]
              }))}
            />
            <p class="legend note"><span class="swatch" style={{ background: palette[0] }} /> direct spend <span class="swatch" style={{ background: palette[1] }} /> share of shared and unowned cost (bars rounded for display)</p>
            <LinesTable lines={[...owners, ...unallocated]} label="allocation" />
            <p class="note">
              Shared pool: {run.shared.length === 0 ? "unowned cost only" : `${run.shared.join(", ")} and unowned cost`}, split by <code>{JSON.stringify(run.rule)}</code> (rule {run.ruleVersion}).
              Direct and shared are exact; the charged amount is rounded once, here, so the lines sum to the total.
            </p>
            <h3>Corrections for late usage</h3>
            {corrections.length === 0
              ? <p class="note">None: no usage arrived late for finalized runs of this period{run.inputs.checkedRunIds.length > 0 ? ` (checked ${run.inputs.checkedRunIds.length} run(s))` : ""}.</p>
              : <LinesTable lines={corrections} label="corrections" />}
            {run.inputs.otherCurrencies.length > 0 ? <p class="note">Spend in other currencies, not in this run: {run.inputs.otherCurrencies.map((m) => Format.money(m.amount, m.currency)).join(", ")}.</p> : null}
            <details>
              <summary>Inputs and audit trail</summary>
              <ul class="changes">
                {run.audit.map((a) => <li key={`${a.at}-${a.action}`}>{Format.instant(a.at, zone)}: {a.action} by <code>{a.actor}</code></li>)}
              </ul>
              <p class="note">Ledger as of {Format.instant(run.asOf, zone)}; inputs hash <code>{run.inputs.sha256}</code>.</p>
              <JsonBlock label="Run inputs" value={run.inputs} />
            </details>
          </Card>
        )
      }}
    </Show>
  )
}

const LinesTable = (props: { readonly lines: ReadonlyArray<Line>; readonly label: string }) => (
  <table class="data" data-table={props.label}>
    <thead><tr><th scope="col">Owner</th><th scope="col" class="num">Direct</th><th scope="col" class="num">Shared</th><th scope="col" class="num">Charged</th><th scope="col" class="num">Calls</th></tr></thead>
    <tbody>
      {props.lines.map((l) => (
        <tr key={l.lineNo} data-line={l.lineNo}>
          <th scope="row">
            {l.owner ?? <span class="muted">{l.kind === "UNALLOCATED" ? "(unallocated)" : "(no owner)"}</span>}
            {l.correctsRunId === null ? null : <> <a class="note" href={`/chargeback?run=${l.correctsRunId}`}>corrects run {l.correctsRunId.slice(0, 8)}</a></>}
          </th>
          <td class="num"><Money amount={l.direct} currency={l.currency} /></td>
          <td class="num"><Money amount={l.allocated} currency={l.currency} /></td>
          <td class="num"><Money amount={l.amount} currency={l.currency} /></td>
          <td class="num">{Format.count(l.requests)}</td>
        </tr>
      ))}
    </tbody>
  </table>
)

const NewRunForm = (props: { readonly onDone: (id?: string) => void }) => {
  const viewer = useViewer()
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const thisMonth = Format.localDate(Date.now(), viewer.tenant.timeZone).slice(0, 7)
  const submit = async (event: Event) => {
    event.preventDefault()
    const form = new FormData(event.target as HTMLFormElement)
    const text = (name: string) => String(form.get(name) ?? "").trim()
    const shared = text("shared").split(/[,\s]+/).filter((s) => s !== "")
    setBusy(true)
    setError(null)
    try {
      const answer = await Api.request<{ runChargeback: { __typename: "ChargebackRun"; id: string } | Api.ErrorResult }>(runMutation, {
        input: { month: text("month"), dimension: text("dimension"), rule: { kind: text("rule") }, shared }
      })
      const run = Api.unwrap(answer.runChargeback, "ChargebackRun")
      props.onDone(run.id)
      navigate(`/chargeback?run=${run.id}`)
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure))
    } finally {
      setBusy(false)
    }
  }
  return (
    <form class="card form" onSubmit={submit} aria-labelledby="run-form-title">
      <h2 id="run-form-title">New chargeback run</h2>
      <div class="fields">
        <label>Month ({viewer.tenant.timeZone}) <input name="month" type="month" required value={thisMonth} /></label>
        <label>Owners are each
          <select name="dimension">{dimensions.map((d) => <option key={d} value={d}>{d}</option>)}</select>
        </label>
        <label>Split shared cost
          <select name="rule">
            <option value="PROPORTIONAL">in proportion to direct spend</option>
            <option value="EVEN">evenly</option>
            <option value="NONE">not (keep it unallocated)</option>
          </select>
        </label>
        <label>Shared owners (comma-separated) <input name="shared" placeholder="e.g. platform" /></label>
      </div>
      {error === null ? null : <p class="error-note" role="alert">{error}</p>}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>Run</button>
        <button type="button" onClick={() => props.onDone()}>Cancel</button>
      </div>
    </form>
  )
}
