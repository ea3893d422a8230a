/**
 * The `tally` CLI explains itself: `--help`/`-h` at every level with every flag described,
 * `--version`, shell completions, suggestions for mistyped commands and flags, and docs/cli.md's
 * reference is exactly what the commands print.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import * as Cli from "../src/cli/Cli.ts"
import * as PrintHelp from "../src/cli/PrintHelp.ts"

describe("tally --help", () => {
  it("docs/cli.md's reference is every command's --help, as printed", async () => {
    const docs = readFileSync(PrintHelp.docsPath, "utf8")
    const from = docs.indexOf(PrintHelp.begin)
    const to = docs.indexOf(PrintHelp.end)
    expect(from, "docs/cli.md has the reference markers").toBeGreaterThan(0)
    // `pnpm cli:docs` rewrites the block when this fails.
    expect(docs.slice(from, to + PrintHelp.end.length)).toBe(await PrintHelp.reference())
  })

  it("every command answers --help and -h on stdout with exit 0, every flag with a description", async () => {
    for (const path of [[], ...Cli.commandPaths]) {
      const long = await Cli.run([...path, "--help"], { env: {} })
      const short = await Cli.run([...path, "-h"], { env: {} })
      expect(long.exitCode, path.join(" ")).toBe(0)
      expect(long.stderr).toBe("")
      expect(short.stdout, path.join(" ")).toBe(long.stdout)
      expect(long.stdout).toMatch(/^DESCRIPTION\n {2}\S/)
      const flags = long.stdout.split("\nFLAGS\n")[1]?.split("\n\n")[0] ?? ""
      for (const line of flags.split("\n").filter((l) => l !== "")) {
        // `  --name <metavar>    what it means`
        expect(line, `${path.join(" ")}: ${line}`).toMatch(/^ {2}-{1,2}[a-z][\w-]*(?:, -\w)?(?: <[^>]+>)?\s{2,}\S.{5,}$/)
      }
    }
  })

  it("help <command> is <command> --help; a group alone prints its help", async () => {
    expect(await Cli.run(["help", "catalog", "list"], { env: {} })).toEqual(await Cli.run(["catalog", "list", "--help"], { env: {} }))
    const group = await Cli.run(["chargeback"], { env: {} })
    expect(group).toMatchObject({ exitCode: 0, stderr: "" })
    expect(group.stdout).toContain("SUBCOMMANDS")
    expect(group.stdout).toMatch(/^ {2}export +Writes a run's lines as CSV/m)
  })

  it("--version prints the version; --completions prints a script for the shell", async () => {
    expect(await Cli.run(["--version"], { env: {} })).toEqual({ exitCode: 0, stdout: `tally ${Cli.version}\n`, stderr: "" })
    for (const shell of ["bash", "zsh", "fish"]) {
      const script = await Cli.run(["--completions", shell], { env: {} })
      expect(script.exitCode, shell).toBe(0)
      for (const word of ["catalog", "litellm-spend-logs", "--group-by"]) expect(script.stdout, `${shell}: ${word}`).toContain(word)
    }
  })

  it("a mistyped command, subcommand or flag is one line on stderr, exit 2, with the closest names", async () => {
    expect(await Cli.run(["cots"], { env: {} })).toEqual({ exitCode: 2, stdout: "", stderr: `tally: unknown command "cots"; did you mean cost? (tally --help lists them)\n` })
    expect(await Cli.run(["budget", "stauts", "--tenant", "t"], { env: {} })).toMatchObject({
      exitCode: 2,
      stderr: `tally: budget: unknown subcommand "stauts"; did you mean status? (tally budget --help lists them)\n`
    })
    expect(await Cli.run(["usage", "--tenant", "t", "--from", "2026-01-01", "--to", "2026-02-01", "--group-bi", "model"], { env: {} })).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: "tally: usage: unknown flag --group-bi; did you mean --group-by?\n"
    })
    expect(await Cli.run(["price", "--usage", "u.json"], { env: {} })).toEqual({ exitCode: 2, stdout: "", stderr: "tally: price: --snapshot is required\n" })
  })
})
