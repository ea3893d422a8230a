/**
 * Models: search the tenant's price book (built-in catalog and its own definitions); one model's
 * price history by effective date (every version, with a chart of its token rates); coverage:
 * model names in the ledger that went unpriced, with their calls and the cost at risk.
 */
import * as Api from "../Api.ts"
import * as Format from "../Format.ts"
import { setQuery, useLocation } from "../Router.ts"
import { Chart } from "../ui/Chart.tsx"
import { Card, Empty, JsonBlock, Money, Show, useRemote } from "../ui/Parts.tsx"
import { useViewer } from "../Viewer.ts"

const rateNames = ["inputText", "cacheRead", "cacheWrite5m", "cacheWrite1h", "outputText", "reasoning", "inputAudio", "outputAudio", "inputImage", "outputImage", "embedding"] as const
type Rates = { readonly [K in typeof rateNames[number]]: string | null }

const rateLabels: Record<typeof rateNames[number], string> = {
  inputText: "Input",
  cacheRead: "Cached input",
  cacheWrite5m: "Cache write 5m",
  cacheWrite1h: "Cache write 1h",
  outputText: "Output",
  reasoning: "Reasoning",
  inputAudio: "Audio in",
  outputAudio: "Audio out",
  inputImage: "Image in",
  outputImage: "Image out",
  embedding: "Embedding"
}

interface ModelRow {
  readonly id: string
  readonly provider: string
  readonly modelKey: string
  readonly displayName: string | null
  readonly maintainer: string
  readonly layer: string
  readonly deprecated: boolean
  readonly priceAt: { readonly currency: string; readonly rates: Rates } | null
}

export const modelsQuery = `query Models($search: String, $provider: String) {
  models(first: 50, search: $search, provider: $provider) { __typename ... on ModelDefinitionConnection { pageInfo { hasNextPage } edges { node {
    id provider modelKey displayName maintainer layer deprecated priceAt { currency rates { ${rateNames.join(" ")} } }
  } } } ${Api.errorFields} }
}`

export const modelQuery = `query Model($id: ID!) {
  model(id: $id) { __typename ... on ModelDefinition {
    id provider modelKey displayName maintainer layer deprecated match matchRule contextWindow tokenizer overriddenBy clonedFrom
    history { version effectiveFrom effectiveTo currency note timeOfDay snapshotId rates { ${rateNames.join(" ")} } }
  } ${Api.errorFields} ... on NotFound { resource } }
}`

export const coverageQuery = `query Coverage($from: DateTime!, $to: DateTime!) {
  coverage(from: $from, to: $to) { __typename ... on CoverageReport { from to costAtRisk { amount currency } tokensAtRisk unmatchedCalls unmatchedModels unpricedBucketCalls unpricedBucketModels nowPricedModels
    entries { model provider status calls tokensAtRisk costAtRisk { amount currency } costAtRiskBasis missingComponents reason definitionId } } ${Api.errorFields} }
}`

export const ModelsPage = () => {
  const location = useLocation()
  const id = location.query.get("id")
  const tab = location.query.get("tab") === "coverage" ? "coverage" : "catalog"
  if (id !== null) return <ModelDetail id={id} />
  return (
    <>
      <div class="tabs" role="tablist" aria-label="Models">
        <button type="button" role="tab" class="chip" aria-selected={tab === "catalog"} onClick={() => setQuery({ tab: undefined })}>Catalog</button>
        <button type="button" role="tab" class="chip" aria-selected={tab === "coverage"} onClick={() => setQuery({ tab: "coverage" })}>Coverage of unmatched models</button>
      </div>
      {tab === "catalog" ? <Catalog /> : <Coverage />}
      <p class="note">A fallback audit (calls priced by a fallback rule) will appear here once the API reports it.</p>
    </>
  )
}

const Catalog = () => {
  const location = useLocation()
  const search = location.query.get("q") ?? ""
  const provider = location.query.get("provider") ?? ""
  const [remote, reload] = useRemote(async () => {
    const answer = await Api.request<{ models: { __typename: "ModelDefinitionConnection"; pageInfo: { hasNextPage: boolean }; edges: ReadonlyArray<{ node: ModelRow }> } | Api.ErrorResult }>(
      modelsQuery,
      { search: search === "" ? null : search, provider: provider === "" ? null : provider }
    )
    return Api.unwrap(answer.models, "ModelDefinitionConnection")
  }, [search, provider])
  return (
    <>
      <form class="card filters" role="search" aria-label="Search models" onSubmit={(e) => {
        e.preventDefault()
        const form = new FormData(e.target as HTMLFormElement)
        setQuery({ q: String(form.get("q") ?? "").trim(), provider: String(form.get("provider") ?? "").trim() })
      }}>
        <div class="fields">
          <label>Name contains <input name="q" type="search" value={search} placeholder="e.g. gpt-4o, claude, llama" /></label>
          <label>Provider <input name="provider" value={provider} placeholder="e.g. openai" /></label>
        </div>
        <div class="actions"><button type="submit" class="primary">Search</button></div>
      </form>
      <Show remote={remote} what="models" retry={reload}>
        {(connection) => connection.edges.length === 0
          ? <Empty title="No model matches"><p>Try part of the name (any case), or clear the provider. Admins add their own models with <code>createModel</code> or <code>pnpm tally catalog</code>.</p></Empty>
          : (
            <Card title={`Models${connection.pageInfo.hasNextPage ? " (first 50; narrow the search for more)" : ""}`}>
              <div class="table-scroll">
                <table class="data" data-table="models">
                  <thead><tr><th scope="col">Model</th><th scope="col">Provider</th><th scope="col">Maintainer</th><th scope="col" class="num">Input / 1M</th><th scope="col" class="num">Cached input / 1M</th><th scope="col" class="num">Output / 1M</th></tr></thead>
                  <tbody>
                    {connection.edges.map(({ node }) => (
                      <tr key={node.id} data-model={node.id}>
                        <th scope="row"><a href={`/models?id=${encodeURIComponent(node.id)}`}>{node.displayName ?? node.modelKey}</a> <span class="muted">{node.id}</span>{node.deprecated ? <span class="pill"> deprecated</span> : null}</th>
                        <td>{node.provider}</td>
                        <td>{node.maintainer === "CUSTOM" ? `custom (${node.layer})` : "built-in"}</td>
                        <td class="num"><Money amount={node.priceAt?.rates.inputText} currency={node.priceAt?.currency} /></td>
                        <td class="num"><Money amount={node.priceAt?.rates.cacheRead} currency={node.priceAt?.currency} /></td>
                        <td class="num"><Money amount={node.priceAt?.rates.outputText} currency={node.priceAt?.currency} /></td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <p class="note">Prices in force now, per million tokens, exact; – is no price (never zero).</p>
            </Card>
          )}
      </Show>
    </>
  )
}

interface ModelDetailNode {
  readonly id: string
  readonly provider: string
  readonly modelKey: string
  readonly displayName: string | null
  readonly maintainer: string
  readonly layer: string
  readonly deprecated: boolean
  readonly match: string
  readonly matchRule: unknown
  readonly contextWindow: number | null
  readonly tokenizer: string | null
  readonly overriddenBy: string | null
  readonly clonedFrom: string | null
  readonly history: ReadonlyArray<{ readonly version: number; readonly effectiveFrom: string | null; readonly effectiveTo: string | null; readonly currency: string; readonly note: string | null; readonly timeOfDay: string | null; readonly snapshotId: string; readonly rates: Rates }>
}

const ModelDetail = (props: { readonly id: string }) => {
  const [remote, reload] = useRemote(async () => {
    const answer = await Api.request<{ model: ({ __typename: "ModelDefinition" } & ModelDetailNode) | Api.ErrorResult }>(modelQuery, { id: props.id })
    return Api.unwrap(answer.model, "ModelDefinition")
  }, [props.id])
  return (
    <>
      <p><a href="/models">← All models</a></p>
      <Show remote={remote} what="the model" retry={reload}>
        {(model) => {
          const shown = rateNames.filter((r) => model.history.some((h) => h.rates[r] !== null))
          const charted = (["inputText", "cacheRead", "outputText"] as const).filter((r) => shown.includes(r))
          // A version in force "always" is drawn a month before the first dated one.
          const firstDated = Math.min(...model.history.filter((h) => h.effectiveFrom !== null).map((h) => Date.parse(h.effectiveFrom!)))
          const xOf = (h: ModelDetailNode["history"][number]) => h.effectiveFrom === null ? firstDated - 30 * 86_400_000 : Date.parse(h.effectiveFrom)
          const dated = Number.isFinite(firstDated) ? [...model.history].sort((a, b) => xOf(a) - xOf(b)) : []
          return (
            <div class="grid">
              <Card title={model.displayName ?? model.modelKey} id="model" class="span-all">
                <dl class="facts">
                  <dt>Definition</dt><dd><code>{model.id}</code> ({model.maintainer === "CUSTOM" ? `custom, layer ${model.layer}` : "built-in catalog"}){model.deprecated ? ", deprecated" : ""}</dd>
                  <dt>Prices</dt><dd>{model.match}</dd>
                  <dt>Context window</dt><dd>{model.contextWindow === null ? "–" : Format.count(model.contextWindow)}</dd>
                  <dt>Tokenizer</dt><dd>{model.tokenizer ?? "–"}</dd>
                  {model.overriddenBy === null ? null : <><dt>Overridden by</dt><dd>{model.overriddenBy}</dd></>}
                  {model.clonedFrom === null ? null : <><dt>Cloned from</dt><dd><a href={`/models?id=${encodeURIComponent(model.clonedFrom)}`}>{model.clonedFrom}</a></dd></>}
                </dl>
                <details><summary>Match rule</summary><JsonBlock label="Match rule" value={model.matchRule} /></details>
              </Card>
              <Card title="Price history" class="span-all">
                {dated.length > 1
                  ? (
                    <Chart
                      kind="steps"
                      x={[...dated.map((h) => xOf(h) / 1000), Math.max(Date.now(), xOf(dated[dated.length - 1]!) + 86_400_000) / 1000]}
                      series={charted.map((r) => {
                        const values = dated.map((h) => (h.rates[r] === null ? null : Format.toNumber(h.rates[r])))
                        return { label: `${rateLabels[r]} / 1M`, values: [...values, values[values.length - 1] ?? null] }
                      })}
                      formatX={(s) => Format.day(s * 1000, "UTC")}
                      timeZone="UTC"
                      caption="Each price holds from its effective date (UTC) until the next, drawn to today; a version in force from the start is drawn from a month before the next. Rounded for display; the table has the exact prices."
                      height={200}
                      summary={`Rates of ${model.id} per million tokens by effective date.`}
                    />
                  )
                  : null}
                <div class="table-scroll">
                  <table class="data" data-table="history">
                    <thead><tr><th scope="col">Version</th><th scope="col">Effective from</th><th scope="col">Until</th>{shown.map((r) => <th scope="col" class="num" key={r} title={r}>{rateLabels[r]} / 1M</th>)}<th scope="col">Note</th></tr></thead>
                    <tbody>
                      {[...model.history].reverse().map((h) => (
                        <tr key={h.version}>
                          <th scope="row">{h.version}</th>
                          <td>{h.effectiveFrom ?? "always"}</td>
                          <td>{h.effectiveTo ?? "open"}</td>
                          {shown.map((r) => <td class="num" key={r}><Money amount={h.rates[r]} currency={h.currency} /></td>)}
                          <td class="wrap">{[h.note, h.timeOfDay === null ? null : `off-peak ${h.timeOfDay} UTC`].filter((x) => x !== null).join("; ")}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                <p class="note">Newest first; effective dates are UTC. Each version's prices are a snapshot that calls record by id.</p>
              </Card>
            </div>
          )
        }}
      </Show>
    </>
  )
}

const Coverage = () => {
  const viewer = useViewer()
  const zone = viewer.tenant.timeZone
  const to = Date.now() + 86_400_000
  const from = to - 91 * 86_400_000
  const [remote, reload] = useRemote(async () => {
    const answer = await Api.request<{ coverage: ({ __typename: "CoverageReport" } & CoverageReport) | Api.ErrorResult }>(coverageQuery, {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString()
    })
    return Api.unwrap(answer.coverage, "CoverageReport")
  }, [])
  return (
    <Show remote={remote} what="coverage" retry={reload}>
      {(report) => (
        <Card title={`Coverage, ${Format.day(report.from, zone)} – ${Format.day(report.to, zone)}`}>
          {report.entries.length === 0 ? <Empty title="Every model name in the ledger is priced"><p>No call of the last 90 days went unpriced.</p></Empty> : (
            <>
              <p>
                {Format.count(report.unmatchedCalls)} calls of {report.unmatchedModels} model name(s) matched no definition; {Format.count(report.unpricedBucketCalls)} calls
                of {report.unpricedBucketModels} model(s) lacked a price for some usage; {report.nowPricedModels} name(s) are priced now. Cost at risk:{" "}
                {report.costAtRisk.length === 0 ? "not estimated" : report.costAtRisk.map((m) => Format.money(m.amount, m.currency)).join(", ")}.
              </p>
              <div class="table-scroll">
                <table class="data" data-table="coverage">
                  <thead><tr><th scope="col">Model name</th><th scope="col">Status</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Tokens at risk</th><th scope="col" class="num">Cost at risk</th><th scope="col">Why</th></tr></thead>
                  <tbody>
                    {report.entries.map((e) => (
                      <tr key={`${e.provider}/${e.model}/${e.status}`}>
                        <th scope="row">{e.provider ?? "?"} / {e.model}{e.definitionId === null ? null : <> (<a href={`/models?id=${encodeURIComponent(e.definitionId)}`}>{e.definitionId}</a>)</>}</th>
                        <td><span class={`pill status-${e.status.toLowerCase()}`}>{e.status.replace(/_/g, " ").toLowerCase()}</span></td>
                        <td class="num">{Format.count(e.calls)}</td>
                        <td class="num">{Format.count(e.tokensAtRisk)}</td>
                        <td class="num">{e.costAtRisk === null ? <span class="muted" title={e.costAtRiskBasis ?? undefined}>not estimated</span> : <Money amount={e.costAtRisk.amount} currency={e.costAtRisk.currency} />}</td>
                        <td class="wrap">{e.reason ?? (e.missingComponents.length > 0 ? `no price for ${e.missingComponents.join(", ")}` : "")}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <p class="note">Judged against today's price book. An admin prices a name with <code>createModel</code>, <code>cloneModel</code> or a price override; the calls can then be repriced.</p>
            </>
          )}
        </Card>
      )}
    </Show>
  )
}

interface CoverageReport {
  readonly from: string
  readonly to: string
  readonly costAtRisk: ReadonlyArray<{ readonly amount: string; readonly currency: string }>
  readonly tokensAtRisk: number
  readonly unmatchedCalls: number
  readonly unmatchedModels: number
  readonly unpricedBucketCalls: number
  readonly unpricedBucketModels: number
  readonly nowPricedModels: number
  readonly entries: ReadonlyArray<{ readonly model: string; readonly provider: string | null; readonly status: string; readonly calls: number; readonly tokensAtRisk: number; readonly costAtRisk: { readonly amount: string; readonly currency: string } | null; readonly costAtRiskBasis: string | null; readonly missingComponents: ReadonlyArray<string>; readonly reason: string | null; readonly definitionId: string | null }>
}
