/**
 * Builds the console when `dist/` is missing or older than its sources: `pnpm install` runs this
 * (postinstall), so a fresh clone's `pnpm install && pnpm start` serves the console, and an
 * install that changed nothing costs no build.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

const here = import.meta.dirname
const stamp = join(here, "dist", ".built")

const newest = (path: string): number => {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), stat.mtimeMs)
}

const sources = ["src", "index.html", "vite.config.ts", "package.json"].map((name) => join(here, name))
const stale = !existsSync(stamp) || Math.max(...sources.map(newest)) > statSync(stamp).mtimeMs

if (stale) {
  const vite = join(dirname(createRequire(import.meta.url).resolve("vite/package.json")), "bin", "vite.js")
  const result = spawnSync(process.execPath, [vite, "build", "--logLevel", "warn"], { cwd: here, stdio: "inherit" })
  if (result.status !== 0) {
    process.stderr.write("console: the build failed (see above); the worker answers its pages with a page saying so\n")
    process.exit(result.status ?? 1)
  }
  writeFileSync(stamp, `${new Date().toISOString()}\n`)
}
