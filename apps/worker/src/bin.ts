#!/usr/bin/env -S node --conditions=source --wasm-tiering-budget=1000000000
import { enableCompileCache } from "node:module"

// Every `tally` process compiles the same modules; Node keeps their compiled code (and stripped
// TypeScript) in its cache directory, which roughly halves the start of the next process.
enableCompileCache()
const Cli = await import("./cli/Cli.ts")

const outcome = await Cli.run(process.argv.slice(2))
process.stdout.write(outcome.stdout)
process.stderr.write(outcome.stderr)
process.exitCode = outcome.exitCode
