/** RFC 4180 CSV: comma separated, fields quoted with `"` when needed, `""` escapes a quote. */

export class CsvSyntaxError extends Error {
  readonly line: number
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`)
    this.line = line
  }
}

/** Rows of fields; a trailing newline does not add an empty row. Throws CsvSyntaxError. */
export const parse = (text: string): ReadonlyArray<ReadonlyArray<string>> => {
  const rows: Array<Array<string>> = []
  let row: Array<string> = []
  let field = ""
  let quoted = false
  let line = 1
  let i = 0
  const input = text.startsWith("\uFEFF") ? text.slice(1) : text
  const endField = () => {
    row.push(field)
    field = ""
  }
  const endRow = () => {
    endField()
    rows.push(row)
    row = []
  }
  while (i < input.length) {
    const c = input[i]!
    if (quoted) {
      if (c === "\"") {
        if (input[i + 1] === "\"") {
          field += "\""
          i += 2
          continue
        }
        quoted = false
        i++
        const next = input[i]
        if (next !== undefined && next !== "," && next !== "\n" && next !== "\r") {
          throw new CsvSyntaxError(line, "unexpected character after a closing quote")
        }
        continue
      }
      if (c === "\n") line++
      field += c
      i++
      continue
    }
    if (c === "\"") {
      if (field.length > 0) throw new CsvSyntaxError(line, "a quote inside an unquoted field")
      quoted = true
      i++
    } else if (c === ",") {
      endField()
      i++
    } else if (c === "\r" || c === "\n") {
      endRow()
      i += c === "\r" && input[i + 1] === "\n" ? 2 : 1
      line++
    } else {
      field += c
      i++
    }
  }
  if (quoted) throw new CsvSyntaxError(line, "unterminated quoted field")
  if (field.length > 0 || row.length > 0) endRow()
  return rows
}

const quote = (field: string): string => /[",\r\n]|^\s|\s$/.test(field) ? `"${field.replace(/"/g, "\"\"")}"` : field

export const stringify = (rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  rows.map((row) => row.map(quote).join(",")).join("\n") + "\n"
