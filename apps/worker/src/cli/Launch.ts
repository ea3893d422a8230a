/**
 * How a `tally` process is started: `pnpm tally`, the bin's shebang, the tests and the benches all
 * run `node <nodeFlags> <bin>`, so what they measure is what users run.
 */
import { fileURLToPath } from "node:url"

/**
 * PGlite is PostgreSQL compiled to WebAssembly. By default V8 re-optimizes its hot functions
 * within the first second, and a process that exits then waits for those compilations to finish:
 * about 2 CPU-seconds of every short command on the embedded database. A higher tiering budget
 * leaves short commands on the baseline code; a long-running `tally serve` still optimizes what
 * stays hot.
 *
 * `--conditions=source` makes `@tally/*` imports resolve to the packages' TypeScript sources (their
 * `source` export condition) rather than their built `dist/`, so nothing has to be built first.
 */
export const nodeFlags: ReadonlyArray<string> = ["--conditions=source", "--wasm-tiering-budget=1000000000"]

/** The CLI entry point. */
export const bin: string = fileURLToPath(new URL("../bin.ts", import.meta.url))

/** Arguments for `spawn(process.execPath, ...)` that run `tally <args>`. */
export const tallyArgs = (args: ReadonlyArray<string>): Array<string> => [...nodeFlags, bin, ...args]
