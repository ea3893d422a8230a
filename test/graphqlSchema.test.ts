/**
 * The committed `apps/worker/schema.graphql` is the schema the code builds: CI fails when someone
 * changes a type and forgets `pnpm graphql:print`.
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { isCurrent, schemaPath } from "../apps/worker/src/graphql/PrintSchema.ts"
import { printed } from "../apps/worker/src/graphql/schema/index.ts"
import { root } from "./support/Worker.ts"

describe("schema.graphql", () => {
  it("is the printed schema of the code, byte for byte (run pnpm graphql:print when this fails)", () => {
    expect(readFileSync(schemaPath, "utf8")).toBe(printed())
    expect(isCurrent()).toBe(true)
  })

  it("pnpm graphql:print --check agrees", () => {
    const run = spawnSync(process.execPath, ["--conditions=source", "apps/worker/src/graphql/PrintSchema.ts", "--check"], { cwd: root, encoding: "utf8" })
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
  })

  it("money is never a Float anywhere in the schema", () => {
    expect(printed()).not.toMatch(/\bFloat\b/)
  })
})
