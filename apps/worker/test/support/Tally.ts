/**
 * Runs the real `tally` CLI in a child process, as a script would (`tally`, `tallyAsync`), or in
 * this process through `Cli.run`, the function bin.ts prints (`tallyHere`): the same stdout, stderr
 * and exit code without starting Node and loading the modules again (seconds per command).
 */
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as Cli from "../../src/cli/Cli.ts"
import { tallyArgs } from "../../src/cli/Launch.ts"

export const root = resolve(import.meta.dirname, "../../../..")

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface Options {
  readonly input?: string | undefined
  /** Added to (or, when undefined, removed from) the parent's environment. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/** The parent's environment without the database settings, so a test names the database it means. */
const baseEnv = (extra: Options["env"]): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.TALLY_DATABASE_URL
  delete env.TALLY_DATA_DIR
  for (const [key, value] of Object.entries(extra ?? {})) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  return env
}

export const tally = (args: ReadonlyArray<string>, options: Options = {}): Run => {
  const result = spawnSync(process.execPath, tallyArgs(args), { cwd: root, input: options.input, encoding: "utf8", env: baseEnv(options.env) })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** The same, without blocking: several processes can run at once. */
export const tallyAsync = (args: ReadonlyArray<string>, options: Options = {}): Promise<Run> =>
  new Promise((done, fail) => {
    const child = spawn(process.execPath, tallyArgs(args), { cwd: root, env: baseEnv(options.env), stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", fail)
    child.on("close", (code) => done({ code, stdout, stderr }))
    child.stdin.end(options.input ?? "")
  })

/**
 * A command run in this process. `env` is all the settings it reads (as `--data-dir` or
 * `TALLY_DATABASE_URL` would name the database); commands that read stdin need `tally`.
 */
export const tallyHere = async (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): Promise<Run> => {
  const outcome = await Cli.run(args, { env })
  return { code: outcome.exitCode, stdout: outcome.stdout, stderr: outcome.stderr }
}

/** Runs `tasks` with at most `limit` at a time, results in input order. */
export const pool = async <A>(tasks: ReadonlyArray<() => Promise<A>>, limit: number): Promise<Array<A>> => {
  const results: Array<A> = new Array(tasks.length)
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++
      results[i] = await tasks[i]!()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
  return results
}

/** A scratch directory and a writer of JSON (or text) files in it. */
export const scratch = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const file = (name: string, content: unknown) => {
    const path = join(dir, name)
    writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content))
    return path
  }
  return { dir, file }
}

/** stderr is exactly one `tally: …` line. */
export const oneStderrLine = (run: Run): string => {
  const lines = run.stderr.split("\n").filter((l) => l !== "")
  if (lines.length !== 1 || !lines[0]!.startsWith("tally: ")) throw new Error(`expected one "tally: " line on stderr, got ${JSON.stringify(run.stderr)}`)
  return lines[0]!
}
