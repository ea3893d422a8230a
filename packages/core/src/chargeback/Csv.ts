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

/** Header and rows of FOCUS rows, columns of the version (`Focus.columnsOf`), 1.3 by default. */
export const focusHeader = (version: Focus.Version = Focus.defaultVersion): string => record(Focus.columnsOf(version))
export const focusRecord = (row: Focus.Row, version: Focus.Version = Focus.defaultVersion): string =>
  record(Focus.columnsOf(version).map((c) => row[c]))
export const focus = (rows: ReadonlyArray<Focus.Row>, version: Focus.Version = Focus.defaultVersion): string => {
  const columns = Focus.columnsOf(version)
  return Csv.stringify([columns, ...rows.map((row) => columns.map((c) => row[c]))])
}

/** The Contract Commitment dataset (FOCUS 1.3) as CSV. */
export const contractCommitments = (rows: ReadonlyArray<Focus.ContractCommitmentRow>): string =>
  Csv.stringify([Focus.contractCommitmentColumns, ...rows.map((row) => Focus.contractCommitmentColumns.map((c) => row[c]))])

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
