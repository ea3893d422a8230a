/** `pnpm tally`, `pnpm start`, the bin's shebang and the tests start `tally` the same way. */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { bin, nodeFlags } from "../src/cli/Launch.ts"
import { root } from "./support/Tally.ts"

describe("launching tally", () => {
  const scripts = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts as Record<string, string>

  it("pnpm tally and pnpm start pass the node flags the tests use", () => {
    expect(scripts.tally).toBe(["node", ...nodeFlags, "apps/worker/src/bin.ts"].join(" "))
    expect(scripts.start).toBe(["node", ...nodeFlags, "apps/worker/src/bin.ts", "demo"].join(" "))
  })

  it("the bin's shebang passes them too", () => {
    expect(readFileSync(bin, "utf8").split("\n")[0]).toBe(`#!/usr/bin/env -S node ${nodeFlags.join(" ")}`)
  })
})
