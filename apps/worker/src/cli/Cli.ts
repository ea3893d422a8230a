/**
 * The `tally` command line: a contract for scripts. Results are JSON on stdout; a failure is one
 * line on stderr (`tally: <what is wrong>`) and a meaningful exit code (see CliError.ExitCode).
 */
import { Cause, Effect, Exit } from "effect"
import type { CliError } from "./CliError.ts"
import { ExitCode, invalidInput, WithExitCode } from "./CliError.ts"
import * as Anomalies from "./commands/Anomalies.ts"
import * as Budget from "./commands/Budget.ts"
import * as Catalog from "./commands/Catalog.ts"
import * as Chargeback from "./commands/Chargeback.ts"
import * as Cost from "./commands/Cost.ts"
import * as Normalize from "./commands/Normalize.ts"
import * as Price from "./commands/Price.ts"
import * as Publish from "./commands/Publish.ts"
import * as Reconcile from "./commands/Reconcile.ts"
import * as Rollups from "./commands/Rollups.ts"
import * as Demo from "./commands/Demo.ts"
import * as Tenant from "./commands/Tenant.ts"
import * as Serve from "./commands/Serve.ts"

interface Command {
  readonly usage: string
  readonly run: (args: ReadonlyArray<string>) => Effect.Effect<unknown, CliError>
}

const commands: Record<string, Command> = {
  price: Price,
  normalize: Normalize,
  cost: Cost,
  catalog: Catalog,
  budget: Budget,
  anomalies: Anomalies,
  rollups: Rollups,
  chargeback: Chargeback,
  reconcile: Reconcile,
  serve: Serve,
  publish: Publish,
  tenant: Tenant.tenant,
  apikey: Tenant.apikey,
  demo: Demo
}

const help = () => ({ usage: Object.values(commands).map((c) => c.usage) })

export interface Outcome {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

export const run = async (argv: ReadonlyArray<string>): Promise<Outcome> => {
  const [name, ...args] = argv
  const command = name === undefined ? undefined : commands[name]
  const program: Effect.Effect<unknown, CliError> = name === undefined || name === "help" || name === "--help"
    ? Effect.succeed(help())
    : command === undefined
    ? Effect.fail(invalidInput(`unknown command "${name}"; commands: ${Object.keys(commands).join(", ")}`))
    : command.run(args)
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit) && exit.value instanceof WithExitCode) {
    return { exitCode: exit.value.exitCode, stdout: `${JSON.stringify(exit.value.value, null, 2)}\n`, stderr: `tally: ${exit.value.stderr}\n` }
  }
  if (Exit.isSuccess(exit)) return { exitCode: ExitCode.ok, stdout: `${JSON.stringify(exit.value, null, 2)}\n`, stderr: "" }
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") return { exitCode: failure.value.exitCode, stdout: "", stderr: `tally: ${failure.value.message}\n` }
  return { exitCode: ExitCode.unexpected, stdout: "", stderr: `tally: unexpected error: ${Cause.pretty(exit.cause).split("\n")[0]}\n` }
}
