/**
 * Compact, diff-friendly JSON for catalog files: the top level pretty-printed, every element of
 * the large arrays (definitions, skipped, partial) on one line.
 */
export const writeCatalogJson = (document: Readonly<Record<string, unknown>>): string => {
  const lines: Array<string> = ["{"]
  const entries = Object.entries(document)
  for (const [i, [key, value]] of entries.entries()) {
    const comma = i < entries.length - 1 ? "," : ""
    if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "object" && v !== null)) {
      lines.push(`  ${JSON.stringify(key)}: [`)
      for (const [j, item] of value.entries()) lines.push(`    ${JSON.stringify(item)}${j < value.length - 1 ? "," : ""}`)
      lines.push(`  ]${comma}`)
    } else {
      lines.push(`  ${JSON.stringify(key)}: ${JSON.stringify(value)}${comma}`)
    }
  }
  lines.push("}")
  return `${lines.join("\n")}\n`
}
