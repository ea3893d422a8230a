/**
 * CSV (RFC 4180) for every file Tally reads or writes (custom catalogs, provider reports,
 * chargeback and usage exports), on Effect's streaming CSV codec (`effect/encoding/Csv`): one
 * implementation of quoting, line breaks and a byte-order mark, and one syntax error.
 *
 * Reading is strict: an unterminated quote, a quote inside an unquoted field, or text after a
 * closing quote is a `CsvSyntaxError` naming the line. Blank lines are skipped.
 *
 * Writing protects against formula injection (OWASP, "CSV Injection"): a text cell that starts
 * with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`, so a spreadsheet shows
 * it as text instead of running it. Numbers (`-1.25`, `+3`) are left as they are.
 */
import * as Csv from "effect/encoding/Csv"
import * as Effect from "effect/Effect"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

export type Row = ReadonlyArray<string>

export class CsvSyntaxError extends Schema.TaggedError<CsvSyntaxError>()("CsvSyntaxError", {
  line: Schema.Number,
  message: Schema.String
}) {}

/** The rows of a CSV text, header included; blank lines are skipped. */
export const parse = (text: string): Result.Result<ReadonlyArray<Row>, CsvSyntaxError> =>
  Stream.make(text).pipe(
    Stream.pipeThroughChannel(Csv.decodeString({ ignoreEmptyLines: true })),
    Stream.runCollect,
    Effect.mapError((error) => new CsvSyntaxError({ line: error.line, message: `line ${error.line}: ${error.message.toLowerCase()}` })),
    Effect.result,
    Effect.runSync
  )

const formulaStart = /^[=+\-@\t\r]/
const number = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/

/** A cell safe to open in a spreadsheet: text starting like a formula gets a leading `'`. */
export const protectFormula = (value: string): string =>
  formulaStart.test(value) && !number.test(value) ? `'${value}` : value

export interface WriteOptions {
  /** `\r\n` (RFC 4180, the default) or `\n`. */
  readonly newline?: "\r\n" | "\n" | undefined
  /**
   * Prefix formula-like text with `'` (the default). Off only for files Tally reads back verbatim
   * (a custom catalog, whose model names may start with `@` or `-`).
   */
  readonly protectFormulas?: boolean | undefined
}

/** Rows as CSV text, each ending with the newline; `null` is an empty cell. */
export const stringify = (rows: ReadonlyArray<ReadonlyArray<string | null>>, options: WriteOptions = {}): string => {
  if (rows.length === 0) return ""
  const protect = options.protectFormulas ?? true
  const cells = rows.map((row) => row.map((value) => (value === null ? "" : protect ? protectFormula(value) : value)))
  return Stream.fromIterable(cells).pipe(
    Stream.pipeThroughChannel(Csv.encodeString({ newline: options.newline ?? "\r\n" })),
    Stream.runCollect,
    Effect.map((chunks) => chunks.join("")),
    Effect.runSync
  )
}

/** One record, with its newline. */
export const record = (values: ReadonlyArray<string | null>, options: WriteOptions = {}): string => stringify([values], options)
