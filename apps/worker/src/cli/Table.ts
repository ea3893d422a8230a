/**
 * Plain-text tables for `--format table`: what people read in a terminal. Numbers are aligned
 * right, text left; widths count what a terminal shows (`CliOutput.displayWidth`).
 */
import { displayWidth } from "effect/cli/CliOutput"

export interface Column {
  readonly header: string
  readonly align?: "left" | "right"
}

const pad = (text: string, width: number, align: "left" | "right") => {
  const fill = " ".repeat(Math.max(0, width - displayWidth(text)))
  return align === "right" ? fill + text : text + fill
}

export const render = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = columns.map((column, i) => Math.max(displayWidth(column.header), ...rows.map((row) => displayWidth(row[i] ?? ""))))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => pad(cell, widths[i]!, columns[i]!.align ?? "left")).join("  ").trimEnd()
  return [line(columns.map((c) => c.header)), line(widths.map((w) => "─".repeat(w))), ...rows.map(line)].join("\n") + "\n"
}

/** A bar of `width` cells filled to `ratio` (0..1, capped), e.g. `██████░░░░`. */
export const bar = (ratio: number, width = 20): string => {
  const filled = Math.max(0, Math.min(width, Math.round(ratio * width)))
  return "█".repeat(filled) + "░".repeat(width - filled)
}
