/**
 * CSV (RFC 4180) for chargeback exports: the lines of a run, and FOCUS rows, written with the one
 * CSV codec (`../Csv.ts`): quoted when needed, null an empty field, records ending with CRLF, and
 * owner names and labels that start like a spreadsheet formula prefixed with `'`.
 */
import * as DateTime from "effect/DateTime"
import * as Csv from "../Csv.ts"
import * as Money from "../Money.ts"
import * as Focus from "./Focus.ts"

export const record = (values: ReadonlyArray<string | null>): string => Csv.record(values)

/** Header and rows of FOCUS rows, columns in `Focus.columns` order. */
export const focusHeader = (): string => record(Focus.columns)
export const focusRecord = (row: Focus.Row): string => record(Focus.columns.map((c) => row[c]))
export const focus = (rows: ReadonlyArray<Focus.Row>): string => Csv.stringify([Focus.columns, ...rows.map((row) => Focus.columns.map((c) => row[c]))])

export const lineColumns = [
  "run_id",
  "status",
  "period_start",
  "period_end",
  "dimension",
  "line_no",
  "kind",
  "owner",
  "direct",
  "allocated",
  "amount",
  "currency",
  "request_count",
  "corrects_run_id",
  "rule_version",
  "inputs_sha256"
] as const

export interface LinesView extends Focus.RunView {
  readonly ruleVersion: string
  readonly lines: ReadonlyArray<Focus.RunView["lines"][number] & { readonly direct: Money.Decimal; readonly currency: string }>
}

/** A run's lines, one record each: what each owner is charged, with the exact parts behind it. */
export const lines = (run: LinesView): string =>
  Csv.stringify([
    lineColumns,
    ...run.lines.map((line) => [
      run.id,
      run.status,
      DateTime.formatIso(run.from),
      DateTime.formatIso(run.to),
      run.dimension,
      String(line.lineNo),
      line.kind,
      line.owner,
      Money.format(line.direct),
      Money.format(line.allocated),
      Money.format(line.amount),
      line.currency,
      String(line.requestCount),
      line.correctsRunId,
      run.ruleVersion,
      run.inputs.sha256
    ])
  ])
