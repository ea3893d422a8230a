/**
 * Proof from outside the repository: every package under packages/ is built (`pnpm build`),
 * packed (`pnpm -r pack`), linted as a tarball (`publint`, `@arethetypeswrong/cli`), and installed
 * with `npm install` into fresh projects in a temporary folder outside the workspace, where the
 * examples run as a user would run them:
 *
 * - examples/pricing: `node price.mjs` (plain JavaScript, no loader) prices a raw payload and a
 *   model-name call exactly; `tsc --noEmit` type-checks a strict `nodenext` consumer;
 * - examples/embedding: `node embed.ts` runs the full engine on PGlite;
 * - examples/clients: `node wrap.mjs` wraps the official OpenAI and Anthropic clients against a
 *   local fake provider server, recording into the engine on PGlite;
 * - every other example with a `test` script: `npm test` in its installed copy.
 *
 * Each example's `@tally/*` dependencies are replaced by the tarballs of the packages it needs
 * (and theirs), so a missing dependency in a published package.json fails here. Third-party
 * dependencies come from the npm registry.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const packagesDir = join(root, "packages")
const examplesDir = join(root, "examples")

interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly scripts?: Readonly<Record<string, string>>
  readonly dependencies?: Readonly<Record<string, string>>
  readonly devDependencies?: Readonly<Record<string, string>>
}

const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest

const packages = readdirSync(packagesDir).filter((name) => existsSync(join(packagesDir, name, "package.json")))
const manifests = new Map(packages.map((name) => [readManifest(join(packagesDir, name)).name, readManifest(join(packagesDir, name))]))

/** The pnpm catalog's versions (pnpm-workspace.yaml), for an example's `catalog:` dependencies. */
const catalogVersions = (): ReadonlyMap<string, string> => {
  const versions = new Map<string, string>()
  let inCatalog = false
  for (const line of readFileSync(join(root, "pnpm-workspace.yaml"), "utf8").split("\n")) {
    if (/^\S/.test(line)) inCatalog = line.trim() === "catalog:"
    const entry = inCatalog ? /^\s+"?([^":]+)"?:\s*(\S+)\s*$/.exec(line) : null
    if (entry !== null) versions.set(entry[1]!, entry[2]!)
  }
  return versions
}

/** A package and every `@tally/*` package it depends on, transitively. */
const closure = (names: ReadonlyArray<string>): ReadonlyArray<string> => {
  const seen = new Set<string>()
  const visit = (name: string) => {
    if (seen.has(name)) return
    const manifest = manifests.get(name)
    if (manifest === undefined) throw new Error(`${name} is not a package under packages/`)
    seen.add(name)
    for (const dep of Object.keys(manifest.dependencies ?? {})) if (dep.startsWith("@tally/")) visit(dep)
  }
  names.forEach(visit)
  return [...seen]
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}): string => {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 })
  } catch (error) {
    const e = error as { status?: number; stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(" ")} (in ${cwd}) exited ${e.status}:\n${e.stdout ?? ""}\n${e.stderr ?? ""}`, { cause: error })
  }
}

const npm = process.platform === "win32" ? "npm.cmd" : "npm"
const pnpm = process.platform === "win32" ? "pnpm.cmd" : "pnpm"
const bin = (name: string) => join(root, "node_modules", ".bin", name)

let work: string
let tarballs: Map<string, string>

const tarballOf = (name: string): string => {
  const file = tarballs.get(name)
  if (file === undefined) throw new Error(`no tarball for ${name}`)
  return file
}

/** Copies an example outside the workspace and installs it from the tarballs and the registry. */
const installExample = (example: string): string => {
  const source = join(examplesDir, example)
  const target = join(work, "projects", example)
  cpSync(source, target, { recursive: true, filter: (path) => !relative(source, path).split(/[\\/]/).includes("node_modules") })
  const manifest = readManifest(target)
  const catalog = catalogVersions()
  const tally: Array<string> = []
  const rewrite = (deps: Readonly<Record<string, string>> | undefined) => {
    const out: Record<string, string> = {}
    for (const [name, version] of Object.entries(deps ?? {})) {
      if (name.startsWith("@tally/")) tally.push(name)
      else out[name] = version === "catalog:" ? catalog.get(name) ?? "*" : version
    }
    return out
  }
  writeFileSync(join(target, "package.json"), JSON.stringify({ ...manifest, dependencies: rewrite(manifest.dependencies), devDependencies: rewrite(manifest.devDependencies) }, null, 2))
  run(npm, ["install", "--no-audit", "--no-fund", "--loglevel=error", ...closure(tally).map(tarballOf)], target)
  return target
}

describe("the packages, installed from their tarballs outside the workspace", () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "tally-pack-"))
    run(pnpm, ["build"], root)
    const packed = join(work, "tarballs")
    run(pnpm, ["-r", "--filter", "./packages/*", "pack", "--pack-destination", packed], root)
    tarballs = new Map()
    for (const [name, manifest] of manifests) {
      const file = join(packed, `${name.replace(/^@/, "").replace("/", "-")}-${manifest.version}.tgz`)
      if (!existsSync(file)) throw new Error(`pnpm pack made no ${file}`)
      tarballs.set(name, file)
    }
  }, 600_000)

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true })
  })

  it("every package is publishable: public, described, versioned 0.x, with dist and types", () => {
    for (const [name, manifest] of manifests) {
      const full = manifest as Manifest & Record<string, unknown>
      expect(full.private, name).toBeUndefined()
      expect(manifest.version, name).toMatch(/^0\.\d+\.\d+$/)
      expect(full.description, name).toEqual(expect.stringMatching(/\w{3,}.*\w{3,}/))
      expect(full.license, name).toBe("MIT")
      expect(full.sideEffects, name).toBe(false)
      expect(full.engines, name).toEqual({ node: expect.stringMatching(/^>=\d+/) })
      expect(full.repository, name).toMatchObject({ type: "git", directory: `packages/${name.slice("@tally/".length)}` })
      expect(full.exports, name).toMatchObject({ ".": { types: "./dist/index.d.ts", import: "./dist/index.js" } })
    }
  })

  it("publint and arethetypeswrong find no error in any tarball", () => {
    for (const [name, file] of tarballs) {
      const publint = run(bin("publint"), [file, "--level", "error"], work)
      expect(publint, name).toContain("All good")
      // ESM only: CommonJS `require` (node16-cjs) and pre-exports resolution (node10) are not offered.
      run(bin("attw"), [file, "--profile", "esm-only", "--format", "ascii"], work)
    }
  }, 300_000)

  describe("examples/pricing", () => {
    let project: string
    beforeAll(() => {
      project = installExample("pricing")
    }, 600_000)

    it("installs without the store, the engine or a database driver", () => {
      const installed = readdirSync(join(project, "node_modules", "@tally")).sort()
      expect(installed).toEqual(["catalog", "core", "pricing", "providers"])
      expect(existsSync(join(project, "node_modules", "@electric-sql"))).toBe(false)
      expect(existsSync(join(project, "node_modules", "pg"))).toBe(false)
    })

    it("node price.mjs prices a raw payload and a model-name call exactly", () => {
      const lines = run(process.execPath, ["price.mjs"], project).trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
      expect(lines).toEqual([
        // 800 × $2.50/M + 200 cached × $1.25/M + 300 × $10/M
        { cost: { model: "gpt-4o-2024-08-06", total: "0.00525", currency: "USD", costSource: "computed" } },
        // 7000 × $3/M + 2000 × $0.30/M + 1000 × $3.75/M + 500 × $15/M
        { price: { definition: "anthropic/claude-sonnet-4-5", total: "0.03285", lines: ["inputText 0.021", "cacheRead 0.0006", "cacheWrite5m 0.00375", "outputText 0.0075"] } },
        { same: { total: "0.03285" } },
        { refused: { tag: "PricerError", reason: "ambiguous-usage", path: "usage" } }
      ])
    })

    it("node options.mjs prices with a custom catalog file and a scope; node effect.ts through the Effect layer", () => {
      // house-model (acme's layer): 1M × $0.40/M + 100k × $1.60/M; gpt-4o-mini: 1M × $0.15/M + 100k × $0.60/M
      expect(JSON.parse(run(process.execPath, ["options.mjs"], project))).toEqual({ options: { house: "0.56", builtIn: "0.21" } })
      // gpt-4o: 1000 × $2.50/M + 200 × $10/M
      expect(JSON.parse(run(process.execPath, ["effect.ts"], project))).toEqual({ effect: { total: "0.0045", currency: "USD" } })
    })

    it("a strict nodenext TypeScript consumer type-checks", () => {
      run(join(project, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", "."], project)
    }, 120_000)
  })

  describe("examples/embedding", () => {
    let project: string
    beforeAll(() => {
      project = installExample("embedding")
    }, 600_000)

    it("node embed.ts runs the full engine on PGlite", () => {
      const out = JSON.parse(run(process.execPath, ["embed.ts"], project, { TALLY_DATABASE_URL: "", TALLY_DATA_DIR: "" })) as {
        readonly ingest: { readonly items: ReadonlyArray<{ readonly requestId: string; readonly status: string; readonly total?: string | null }> }
        readonly quote: { readonly total: string }
        readonly price: { readonly total: string }
      }
      expect(out.ingest.items.map((i) => [i.requestId, i.status])).toEqual([
        ["chatcmpl-embed-0001", "inserted"],
        ["local-embed-0002", "inserted"],
        ["chatcmpl-embed-0003", "rejected"]
      ])
      // gpt-4.1-nano: 16 input tokens at $0.10/M + 363 output at $0.40/M.
      expect(out.ingest.items[0]!.total).toBe("0.0001468")
      expect(out.quote.total).toBe("0.0001468")
      expect(out.price.total).toBe("0.0075")
    }, 300_000)
  })

  describe("examples/clients", () => {
    let project: string
    beforeAll(() => {
      project = installExample("clients")
    }, 600_000)

    it("node wrap.mjs prices and records every wrapped call against the fake provider server", () => {
      const out = JSON.parse(run(process.execPath, ["wrap.mjs"], project, { TALLY_DATABASE_URL: "" })) as {
        readonly completion: string
        readonly refused: { readonly tag: string } | null
        readonly calls: ReadonlyArray<{ readonly api: string; readonly outcome: string; readonly total: string | null; readonly reservation: string | null }>
      }
      expect(out.completion).toBe("Tally prices every call.")
      expect(out.refused?.tag).toBe("BudgetExceeded")
      expect(out.calls.map((c) => [c.api, c.outcome, c.reservation])).toEqual([
        ["chat.completions", "completed", null],
        ["chat.completions", "completed", null],
        ["responses", "completed", null],
        ["embeddings", "completed", null],
        ["messages", "completed", null],
        ["chat.completions", "error", "released"],
        ["chat.completions", "abandoned", "settled"]
      ])
      // gpt-4o-mini: 800 input × $0.15/M + 200 cache reads × $0.075/M + 500 output × $0.60/M;
      // claude-haiku-4-5: 1200 input × $1/M + 400 output × $5/M.
      expect([out.calls[0]!.total, out.calls[4]!.total]).toEqual(["0.000435", "0.0032"])
    }, 300_000)
  })

  // The hook for further examples (a client wrapper against a fake provider server, ...): an
  // example with a `test` script is installed the same way and its `npm test` must pass.
  const others = readdirSync(examplesDir).filter((name) =>
    !["pricing", "embedding", "clients"].includes(name) && existsSync(join(examplesDir, name, "package.json")) &&
    readManifest(join(examplesDir, name)).scripts?.["test"] !== undefined
  )
  for (const example of others) {
    it(`examples/${example}: npm test passes in its installed copy`, () => {
      const project = installExample(example)
      run(npm, ["test"], project)
    }, 600_000)
  }
})

describe("docs/embedding.md", () => {
  it("every snippet docs/embedding.md marks is, line for line, in the example it names", () => {
    const doc = readFileSync(join(root, "docs", "embedding.md"), "utf8")
    const snippets = [...doc.matchAll(/<!-- snippet: (\S+) -->\n```\w*\n([\s\S]*?)```/g)]
    expect(snippets.length).toBeGreaterThanOrEqual(6)
    for (const [, file, code] of snippets) {
      const source = readFileSync(join(root, file!), "utf8").split("\n").map((line) => line.trim()).filter((line) => line !== "")
      const lines = code!.split("\n").map((line) => line.trim()).filter((line) => line !== "")
      const start = source.indexOf(lines[0]!)
      expect(start, `${file}: ${lines[0]}`).toBeGreaterThanOrEqual(0)
      expect(source.slice(start, start + lines.length), file).toEqual(lines)
    }
  })
})
