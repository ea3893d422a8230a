/**
 * `pnpm bench`: runs every benchmark in the workspace (packages/* /bench/*.bench.ts and
 * apps/* /bench/*.bench.ts) one after another, so they never compete for the two cores.
 * Each prints JSON lines with its own baseline measured in the same run.
 *   pnpm bench            all benchmarks
 *   pnpm bench pricing    only those whose file name contains "pricing"
 */
import { spawnSync } from "node:child_process"
import { readdirSync, existsSync } from "node:fs"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const filter = process.argv[2]
const files: Array<string> = []
for (const group of ["packages", "apps"]) {
  for (const name of readdirSync(join(root, group)).sort()) {
    const dir = join(root, group, name, "bench")
    if (!existsSync(dir)) continue
    for (const file of readdirSync(dir).sort()) {
      if (file.endsWith(".bench.ts") && (filter === undefined || file.includes(filter))) files.push(join(dir, file))
    }
  }
}
let failed = 0
for (const file of files) {
  console.error(`bench: ${file.slice(root.length + 1)}`)
  const result = spawnSync(process.execPath, ["--expose-gc", "--conditions=source", file], { stdio: "inherit", cwd: root })
  if (result.status !== 0) failed++
}
process.exitCode = failed === 0 ? 0 : 1
