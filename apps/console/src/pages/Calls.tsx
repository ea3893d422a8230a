/**
 * Calls: the recorded calls of a period, filtered by provider, model, labels and cost source, a
 * page at a time (newest first); one call (`?id=<request id>`) shows its usage buckets, every cost
 * line with its rate, source and conditions, the pricing snapshot and how the model matched, the
 * provider's reported cost and the difference, and the raw payload as received.
 */
import { useState } from "preact/hooks"
import * as Api from "../Api.ts"
import * as Format from "../Format.ts"
import * as Period from "../Period.ts"
import { setQuery, useLocation } from "../Router.ts"
import { Card, Empty, JsonBlock, Money, Show, useRemote } from "../ui/Parts.tsx"
import { PeriodPicker, usePeriod } from "../ui/PeriodPicker.tsx"
import { useViewer } from "../Viewer.ts"

interface MoneyValue {
  readonly amount: string
  readonly currency: string
}

export interface CallRow {
  readonly requestId: string
  readonly occurredAt: string
  readonly provider: string
  readonly model: string
  readonly costSource: string
  readonly cost: MoneyValue | null
  readonly labels: { readonly team: string | null; readonly project: string | null; readonly customer: string | null; readonly feature: string | null }
  readonly usage: { readonly tokens: { readonly total: number } }
  readonly unpricedReason: string | null
}

const labelFilters = ["provider", "model", "team", "project", "customer", "feature", "environment"] as const

export const callsQuery = `query Calls($filter: UsageRecordFilter, $after: String) {
  usageRecords(first: 50, after: $after, filter: $filter) { __typename ... on UsageRecordConnection { pageInfo { hasNextPage endCursor } edges { node {
    requestId occurredAt provider model costSource cost { amount currency } unpricedReason
    labels { team project customer feature } usage { tokens { total } }
  } } } ${Api.errorFields} }
}`

const tokenBuckets = ["inputText", "cacheRead", "cacheWrite5m", "cacheWrite1h", "inputAudio", "inputImage", "inputVideo", "outputText", "reasoning", "outputAudio", "outputImage", "outputVideo", "embedding", "training"] as const

export const callQuery = `query Call($id: String!) {
  usageRecords(first: 1, filter: { requestId: [$id] }) { __typename ... on UsageRecordConnection { edges { node {
    requestId occurredAt ingestedAt provider model api costSource unpricedReason
    cost { amount currency } computedCost { amount currency } reportedCost { amount currency } costDifference
    labels { apiKeyId costCenter customer endUser environment feature project team workflow } tags { key value }
    usage { tokens { ${tokenBuckets.join(" ")} total } promptTokens requests webSearches toolCalls imagesGenerated audioSeconds videoSeconds batch serviceTier region fineTuned }
    lines { component quantity unit unitPrice amount listRate listRatePer rateSource conditions }
    snapshotId snapshot { id source provider modelKey definitionId currency effectiveFrom effectiveTo }
    definitionId definition { id provider modelKey displayName match layer maintainer overriddenBy clonedFrom }
    raw rawText
  } } } ${Api.errorFields} }
}`

export const CallsPage = () => {
  const location = useLocation()
  const id = location.query.get("id")
  return id === null ? <CallList /> : <CallDetail id={id} />
}

const CallList = () => {
  const viewer = useViewer()
  const { period, span } = usePeriod()
  const location = useLocation()
  const zone = viewer.tenant.timeZone
  const q = location.query
  const sources = (q.get("source") ?? "").split(",").filter((s) => s !== "")
  const [pages, setPages] = useState<Array<string | null>>([null])
  const page = pages[pages.length - 1] ?? null
  const filterKey = `${period?.from}|${period?.to}|${q.get("source")}|${labelFilters.map((k) => q.get(k)).join("|")}`
  const [remote, reload] = useRemote(async () => {
    if (period === undefined) return undefined
    const usage: Record<string, Array<string>> = {}
    for (const key of labelFilters) {
      const value = q.get(key)
      if (value !== null && value !== "") usage[key] = [value]
    }
    const filter = { ...Period.toRange(period, zone), usage, ...(sources.length === 0 ? {} : { costSource: sources }) }
    const answer = await Api.request<{ usageRecords: { __typename: "UsageRecordConnection"; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: ReadonlyArray<{ node: CallRow }> } | Api.ErrorResult }>(
      callsQuery,
      { filter, after: page }
    )
    return Api.unwrap(answer.usageRecords, "UsageRecordConnection")
  }, [filterKey, page])
  if (period === undefined) return <p class="loading" role="status">Finding the period your calls are in…</p>
  const apply = (event: Event) => {
    event.preventDefault()
    const form = new FormData(event.target as HTMLFormElement)
    const values: Record<string, string | undefined> = {}
    for (const key of labelFilters) values[key] = String(form.get(key) ?? "").trim()
    values["source"] = String(form.get("source") ?? "")
    setPages([null])
    setQuery(values)
  }
  return (
    <>
      <PeriodPicker period={period} span={span} />
      <form class="card filters" onSubmit={apply} aria-label="Filter calls" key={filterKey}>
        <div class="fields">
          {labelFilters.map((key) => <label key={key}>{key} <input name={key} value={q.get(key) ?? ""} /></label>)}
          <label>cost source
            <select name="source">
              <option value="">any</option>
              {viewer.costSources.map((s) => <option key={s.name} value={s.name} selected={sources.length === 1 && sources[0] === s.name}>{s.name.toLowerCase()}</option>)}
            </select>
          </label>
        </div>
        <div class="actions">
          <button type="submit" class="primary">Filter</button>
          <button type="button" onClick={() => {
            setPages([null])
            setQuery(Object.fromEntries([...labelFilters, "source"].map((k) => [k, undefined])))
          }}>Clear filters</button>
        </div>
        <p class="note">Each field keeps calls whose value equals it exactly; a request id opens with <code>?id=</code>.</p>
      </form>
      <Show remote={remote} what="calls" retry={reload}>
        {(connection) => {
          if (connection === undefined) return null
          if (connection.edges.length === 0) {
            return (
              <Empty title="No calls match">
                <p>Widen the period (<em>All data</em>) or clear the filters. Calls arrive through <code>POST /api/v1/usage/ingest</code>, OTLP or NATS.</p>
              </Empty>
            )
          }
          return (
            <Card title="Calls, newest first">
              <div class="table-scroll">
                <table class="data" data-table="calls">
                  <thead><tr><th scope="col">When</th><th scope="col">Request id</th><th scope="col">Model</th><th scope="col">Team / project</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Cost</th><th scope="col">Source</th></tr></thead>
                  <tbody>
                    {connection.edges.map(({ node }) => (
                      <tr key={node.requestId} data-request={node.requestId}>
                        <td class="nowrap">{Format.instant(node.occurredAt, zone)}</td>
                        <th scope="row"><a href={`/calls?id=${encodeURIComponent(node.requestId)}`}>{node.requestId}</a></th>
                        <td>{node.provider} / {node.model}</td>
                        <td>{node.labels.team ?? <span class="muted">–</span>} / {node.labels.project ?? <span class="muted">–</span>}</td>
                        <td class="num">{Format.count(node.usage.tokens.total)}</td>
                        <td class="num">{node.cost === null ? <span class="muted" title={node.unpricedReason ?? undefined}>unpriced</span> : <Money amount={node.cost.amount} currency={node.cost.currency} />}</td>
                        <td><span class={`pill source-${node.costSource.toLowerCase()}`}>{node.costSource.toLowerCase()}</span></td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <div class="actions pager">
                <button type="button" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>Newer</button>
                <span class="note">Page {pages.length}</span>
                <button type="button" disabled={!connection.pageInfo.hasNextPage} onClick={() => setPages([...pages, connection.pageInfo.endCursor])}>Older</button>
              </div>
            </Card>
          )
        }}
      </Show>
    </>
  )
}

interface CallDetailNode {
  readonly requestId: string
  readonly occurredAt: string
  readonly ingestedAt: string
  readonly provider: string
  readonly model: string
  readonly api: string | null
  readonly costSource: string
  readonly unpricedReason: string | null
  readonly cost: MoneyValue | null
  readonly computedCost: MoneyValue | null
  readonly reportedCost: MoneyValue | null
  readonly costDifference: string | null
  readonly labels: Record<string, string | null>
  readonly tags: ReadonlyArray<{ readonly key: string; readonly value: string | null }>
  readonly usage: { readonly tokens: Record<string, number> } & Record<string, unknown>
  readonly lines: ReadonlyArray<{ readonly component: string; readonly quantity: string; readonly unit: string; readonly unitPrice: string; readonly amount: string; readonly listRate: string; readonly listRatePer: string; readonly rateSource: string; readonly conditions: ReadonlyArray<string> }>
  readonly snapshotId: string | null
  readonly snapshot: { readonly id: string; readonly source: string; readonly provider: string; readonly modelKey: string; readonly definitionId: string | null; readonly currency: string; readonly effectiveFrom: string | null; readonly effectiveTo: string | null } | null
  readonly definitionId: string | null
  readonly definition: { readonly id: string; readonly provider: string; readonly modelKey: string; readonly displayName: string | null; readonly match: string; readonly layer: string; readonly maintainer: string; readonly overriddenBy: string | null; readonly clonedFrom: string | null } | null
  readonly raw: unknown
  readonly rawText: string | null
}

const CallDetail = (props: { readonly id: string }) => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const [remote, reload] = useRemote(async () => {
    const answer = await Api.request<{ usageRecords: { __typename: "UsageRecordConnection"; edges: ReadonlyArray<{ node: CallDetailNode }> } | Api.ErrorResult }>(callQuery, { id: props.id })
    return Api.unwrap(answer.usageRecords, "UsageRecordConnection").edges[0]?.node
  }, [props.id])
  return (
    <>
      <p><a href="/calls" onClick={(e) => {
        if (window.history.length > 1) {
          e.preventDefault()
          window.history.back()
        }
      }}>← All calls</a></p>
      <Show remote={remote} what="the call" retry={reload}>
        {(call) => call === undefined
          ? <Empty title={`No call ${props.id}`}><p>No recorded call of this tenant has this request id. Check the id, or list the calls.</p></Empty>
          : (
            <div class="grid">
              <Card title={`Call ${call.requestId}`} id="call" class="span-all">
                <dl class="facts">
                  <dt>Occurred</dt><dd>{Format.instant(call.occurredAt, zone)}</dd>
                  <dt>Recorded</dt><dd>{Format.instant(call.ingestedAt, zone)}</dd>
                  <dt>Model</dt><dd>{call.provider} / {call.model}{call.api === null ? "" : ` (${call.api})`}</dd>
                  <dt>Billed cost</dt><dd data-field="cost">{call.cost === null ? <span class="warn-text">unpriced: {call.unpricedReason}</span> : <Money amount={call.cost.amount} currency={call.cost.currency} />}</dd>
                  <dt>Cost source</dt><dd><span class={`pill source-${call.costSource.toLowerCase()}`}>{call.costSource.toLowerCase()}</span> {viewer.costSources.find((s) => s.name === call.costSource)?.description ?? ""}</dd>
                  <dt>Tally's price</dt><dd data-field="computed">{call.computedCost === null ? <span class="muted">–</span> : <Money amount={call.computedCost.amount} currency={call.computedCost.currency} />}</dd>
                  <dt>Provider's reported cost</dt><dd data-field="reported">{call.reportedCost === null ? <span class="muted">not reported</span> : <Money amount={call.reportedCost.amount} currency={call.reportedCost.currency} />}</dd>
                  <dt>Difference (reported − Tally's)</dt><dd data-field="difference">{call.costDifference === null ? <span class="muted">–</span> : <Money amount={call.costDifference} currency={call.reportedCost?.currency} />}</dd>
                  <dt>Labels</dt><dd>{Object.entries(call.labels).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`).join(", ") || <span class="muted">none</span>}</dd>
                  <dt>Tags</dt><dd>{call.tags.length === 0 ? <span class="muted">none</span> : call.tags.map((t) => `${t.key}=${t.value ?? ""}`).join(", ")}</dd>
                </dl>
              </Card>
              <Card title="Cost lines" class="span-all">
                {call.lines.length === 0 ? <p class="note">No cost lines: {call.unpricedReason ?? "the call was not priced by Tally"}.</p> : (
                  <div class="table-scroll">
                    <table class="data" data-table="lines">
                      <thead><tr><th scope="col">Component</th><th scope="col" class="num">Quantity</th><th scope="col" class="num">Unit price</th><th scope="col" class="num">Amount</th><th scope="col">Rate</th><th scope="col">Rate source</th><th scope="col">Conditions</th></tr></thead>
                      <tbody>
                        {call.lines.map((l) => (
                          <tr key={l.component}>
                            <th scope="row"><code>{l.component}</code></th>
                            <td class="num">{Format.groupDigits(l.quantity)} {l.unit}</td>
                            <td class="num"><Money amount={l.unitPrice} currency={call.snapshot?.currency ?? call.cost?.currency} /></td>
                            <td class="num"><Money amount={l.amount} currency={call.snapshot?.currency ?? call.cost?.currency} /></td>
                            <td class="nowrap">{Format.groupDigits(l.listRate)} per {l.listRatePer}</td>
                            <td>{l.rateSource}</td>
                            <td class="wrap">{l.conditions.length === 0 ? <span class="muted">none</span> : l.conditions.join(", ")}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                )}
                <p class="note">quantity × unit price = amount, exactly; lines sum to Tally's price.</p>
              </Card>
              <Card title="Usage">
                <table class="data" data-table="usage">
                  <thead><tr><th scope="col">Bucket</th><th scope="col" class="num">Tokens</th></tr></thead>
                  <tbody>
                    {tokenBuckets.filter((b) => (call.usage.tokens[b] ?? 0) !== 0).map((b) => (
                      <tr key={b}><th scope="row"><code>{b}</code></th><td class="num">{Format.count(call.usage.tokens[b])}</td></tr>
                    ))}
                    <tr class="total"><th scope="row">total</th><td class="num">{Format.count(call.usage.tokens["total"])}</td></tr>
                  </tbody>
                </table>
                <p class="note">Buckets are disjoint: no token is counted twice.</p>
                <ul class="plain">
                  {Object.entries(call.usage).filter(([k, v]) => k !== "tokens" && v !== null && v !== 0 && v !== false).map(([k, v]) => <li key={k}><code>{k}</code>: {typeof v === "object" ? JSON.stringify(v) : String(v)}</li>)}
                </ul>
              </Card>
              <Card title="Prices used">
                {call.snapshot === null ? <p class="note">No pricing snapshot: {call.unpricedReason ?? "the provider's own cost was billed"}.</p> : (
                  <dl class="facts">
                    <dt>Snapshot</dt><dd><code class="break">{call.snapshot.id}</code> ({call.snapshot.source})</dd>
                    <dt>Prices of</dt><dd>{call.snapshot.provider} / {call.snapshot.modelKey}</dd>
                    <dt>In force</dt><dd>{call.snapshot.effectiveFrom ?? "always"} – {call.snapshot.effectiveTo ?? "open"}</dd>
                  </dl>
                )}
                {call.definition === null ? <p class="note">No model definition matched <code>{call.model}</code>{call.unpricedReason === null ? "." : `: ${call.unpricedReason}`}</p> : (
                  <>
                    <h3>How the model matched</h3>
                    <p>
                      <code>{call.model}</code> matched <a href={`/models?id=${encodeURIComponent(call.definition.id)}`}>{call.definition.displayName ?? call.definition.id}</a>{" "}
                      ({call.definition.maintainer === "CUSTOM" ? "the tenant's own definition" : "built-in catalog"}, layer {call.definition.layer}), which prices {call.definition.match}.
                      {call.definition.overriddenBy === null ? "" : ` Its prices are overridden by ${call.definition.overriddenBy}.`}
                      {call.definition.clonedFrom === null ? "" : ` Cloned from ${call.definition.clonedFrom}.`}
                    </p>
                  </>
                )}
              </Card>
              <Card title="Raw payload" class="span-all">
                <p class="note">As the provider sent it{call.rawText === null ? " (JSON)" : " (original text, byte for byte)"}.</p>
                <JsonBlock label="Raw provider payload" value={call.rawText ?? call.raw} />
              </Card>
            </div>
          )}
      </Show>
    </>
  )
}
