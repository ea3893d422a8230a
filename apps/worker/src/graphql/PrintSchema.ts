/**
 * `pnpm graphql:print`: writes the schema as SDL to `apps/worker/schema.graphql`, the file clients
 * and reviewers read. `--check` writes nothing and exits 1 when the file is stale (CI runs the
 * same comparison as a test, test/graphqlSchema.test.ts).
 */
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { printed } from "./schema/index.ts"

export const schemaPath = fileURLToPath(new URL("../../schema.graphql", import.meta.url))

const committed = (): string | undefined => {
  try {
    return readFileSync(schemaPath, "utf8")
  } catch {
    return undefined
  }
}

/** Whether the committed file is the schema the code builds. */
export const isCurrent = (): boolean => committed() === printed()

if (import.meta.main) {
  if (process.argv.includes("--check")) {
    if (!isCurrent()) {
      process.stderr.write(`graphql: ${schemaPath} is stale; run pnpm graphql:print and commit it\n`)
      process.exit(1)
    }
  } else {
    writeFileSync(schemaPath, printed())
    process.stderr.write(`graphql: wrote ${schemaPath}\n`)
  }
}
