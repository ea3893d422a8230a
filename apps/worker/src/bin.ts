#!/usr/bin/env node
import * as Cli from "./cli/Cli.ts"

const outcome = await Cli.run(process.argv.slice(2))
process.stdout.write(outcome.stdout)
process.stderr.write(outcome.stderr)
process.exitCode = outcome.exitCode
