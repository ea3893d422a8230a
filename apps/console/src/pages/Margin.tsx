/**
 * Margin: what the tenant charged its customers (sale prices) against what the calls cost, per
 * customer or model in the period, and the customers' final statements. Everything comes from the
 * GraphQL `margin` and `customerStatements` fields (docs/resale.md).
 */
import * as Api from "../Api.ts"
import * as Format from "../Format.ts"
import * as Period from "../Period.ts"
import { setQuery, useLocation } from "../Router.ts"
import { Card, Empty, Money, Show, useRemote } from "../ui/Parts.tsx"
import { PeriodPicker, usePeriod } from "../ui/PeriodPicker.tsx"
import { useViewer } from "../Viewer.ts"

export interface MarginRow {
  readonly customer: string | null
  readonly model: string | null
  readonly currency: string | null
  readonly costCurrency: string | null
  readonly requests: number
  readonly unpriced: number
  readonly price: string | null
  readonly cost: string | null
  readonly margin: string | null
  readonly marginPercent: string | null
}

interface StatementSummary {
  readonly id: string
  readonly customer: string
  readonly periodFrom: string
  readonly periodTo: string
  readonly currency: string
  readonly kind: string
  readonly total: string
  readonly requestCount: number
  readonly finalizedAt: string | null
  readonly finalizedBy: string | null
}

export const marginQuery = `query Margin($input: MarginInput!) {
  margin(input: $input, first: 100) { __typename ... on MarginRowConnection { edges { node {
    customer model currency costCurrency requests unpriced price cost margin marginPercent
  } } } ${Api.errorFields} }
}`

const statementsQuery = `query Statements {
  customerStatements(first: 50) { __typename ... on CustomerStatementConnection { edges { node {
    id customer periodFrom periodTo currency kind total requestCount finalizedAt finalizedBy
  } } } ${Api.errorFields} }
}`

type By = "CUSTOMER" | "MODEL"

export const MarginPage = () => {
  const viewer = useViewer()
  const { period, span } = usePeriod()
  const location = useLocation()
  const zone = viewer.tenant.timeZone
  const by: By = location.query.get("by") === "model" ? "MODEL" : "CUSTOMER"
  const [remote, reload] = useRemote(async () => {
    if (period === undefined) return undefined
    const answer = await Api.request<{ margin: { __typename: "MarginRowConnection"; edges: ReadonlyArray<{ node: MarginRow }> } | Api.ErrorResult }>(
      marginQuery,
      { input: { ...Period.toRange(period, zone), groupBy: [by] } }
    )
    return Api.unwrap(answer.margin, "MarginRowConnection").edges.map((e) => e.node)
  }, [period?.from, period?.to, by])
  const [statements, reloadStatements] = useRemote(async () => {
    const answer = await Api.request<{ customerStatements: { __typename: "CustomerStatementConnection"; edges: ReadonlyArray<{ node: StatementSummary }> } | Api.ErrorResult }>(
      statementsQuery
    )
    return Api.unwrap(answer.customerStatements, "CustomerStatementConnection").edges.map((e) => e.node)
  }, [])
  if (period === undefined) return <p class="loading" role="status">Finding the period your calls are in…</p>
  return (
    <>
      <PeriodPicker period={period} span={span} />
      <p class="toolbar" role="group" aria-label="Group margin by">
        <button type="button" class="link-button" aria-pressed={by === "CUSTOMER"} onClick={() => setQuery({ by: undefined })}>By customer</button>{" "}
        <button type="button" class="link-button" aria-pressed={by === "MODEL"} onClick={() => setQuery({ by: "model" })}>By model</button>
      </p>
      <Show remote={remote} what="margin" retry={reload}>
        {(rows) => {
          if (rows === undefined) return null
          if (rows.length === 0) {
            return (
              <Empty title="No sale prices in this period">
                <p>
                  Calls get a sale price when the tenant has sale price rules (a markup or a list price per customer, plan, model or provider):
                  add one with <code>tally sale-price-book add</code> or the <code>addSalePriceRule</code> mutation.
                </p>
              </Empty>
            )
          }
          return (
            <Card title={by === "CUSTOMER" ? "Margin by customer" : "Margin by model"}>
              <table class="data" data-table="margin">
                <thead>
                  <tr>
                    <th scope="col">{by === "CUSTOMER" ? "Customer" : "Model"}</th>
                    <th scope="col" class="num">Calls</th>
                    <th scope="col" class="num">Price</th>
                    <th scope="col" class="num">Cost</th>
                    <th scope="col" class="num">Margin</th>
                    <th scope="col" class="num">Margin %</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r, i) => (
                    <tr key={i}>
                      <th scope="row">{(by === "CUSTOMER" ? r.customer : r.model) ?? <span class="muted">(none)</span>}</th>
                      <td class="num">{Format.count(r.requests)}{r.unpriced > 0 ? <span class="muted"> ({Format.count(r.unpriced)} without a price)</span> : null}</td>
                      <td class="num">{r.price === null ? <span class="muted">–</span> : <Money amount={r.price} currency={r.currency} />}</td>
                      <td class="num"><Money amount={r.cost} currency={r.costCurrency} /></td>
                      <td class="num">{r.margin === null ? <span class="muted">–</span> : <Money amount={r.margin} currency={r.currency} />}</td>
                      <td class="num">{r.marginPercent === null ? "–" : `${r.marginPercent}%`}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Card>
          )
        }}
      </Show>
      <Show remote={statements} what="statements" retry={reloadStatements}>
        {(list) => (
          <Card title="Customer statements">
            {list.length === 0
              ? <p class="muted">No final statements yet: <code>tally statement finalize</code> or the <code>finalizeCustomerStatement</code> mutation keeps one.</p>
              : (
                <table class="data" data-table="statements">
                  <thead>
                    <tr>
                      <th scope="col">Customer</th>
                      <th scope="col">Period</th>
                      <th scope="col">Kind</th>
                      <th scope="col" class="num">Calls</th>
                      <th scope="col" class="num">Total</th>
                      <th scope="col">Final</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((s) => (
                      <tr key={s.id}>
                        <th scope="row">{s.customer}</th>
                        <td>{Format.day(s.periodFrom, zone)} – {Format.day(Date.parse(s.periodTo) - 1, zone)}</td>
                        <td>{s.kind}</td>
                        <td class="num">{Format.count(s.requestCount)}</td>
                        <td class="num"><Money amount={s.total} currency={s.currency} /></td>
                        <td>{Format.instant(s.finalizedAt, zone)} <span class="muted">by {s.finalizedBy}</span></td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
          </Card>
        )}
      </Show>
    </>
  )
}
