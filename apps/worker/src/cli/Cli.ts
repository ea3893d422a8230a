/**
 * The `tally` command line: a contract for scripts. Results are JSON on stdout; a failure is one
 * line on stderr (`tally: <what is wrong>`) and a meaningful exit code (see CliError.ExitCode).
 */
import { Cause, ConfigProvider, Effect, Exit } from "effect"
import type { CliError } from "./CliError.ts"
import { ExitCode, invalidInput, WithExitCode } from "./CliError.ts"

interface Command {
  readonly usage: string
  readonly run: (args: ReadonlyArray<string>) => Effect.Effect<unknown, CliError>
}

/**
 * Each command is imported only when it runs: a process pays for the modules of its own command
 * (the database, the server, the catalog...) and not for all of them.
 */
const commands: Record<string, () => Promise<Command>> = {
  price: () => import("./commands/Price.ts"),
  normalize: () => import("./commands/Normalize.ts"),
  cost: () => import("./commands/Cost.ts"),
  catalog: () => import("./commands/Catalog.ts"),
  budget: () => import("./commands/Budget.ts"),
  decide: () => import("./commands/Governance.ts").then((module) => module.decideCommand),
  policy: () => import("./commands/Governance.ts").then((module) => module.policyCommand),
  anomalies: () => import("./commands/Anomalies.ts"),
  rollups: () => import("./commands/Rollups.ts"),
  chargeback: () => import("./commands/Chargeback.ts"),
  reconcile: () => import("./commands/Reconcile.ts"),
  reprice: () => import("./commands/Reprice.ts"),
  serve: () => import("./commands/Serve.ts"),
  publish: () => import("./commands/Publish.ts"),
  tenant: () => import("./commands/Tenant.ts").then((module) => module.tenant),
  apikey: () => import("./commands/Tenant.ts").then((module) => module.apikey),
  demo: () => import("./commands/Demo.ts")
}

const help = async () => ({ usage: (await Promise.all(Object.values(commands).map((load) => load()))).map((c) => c.usage) })

export interface Outcome {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

/** The contract allows one line on stderr: a message that spans several is joined into one. */
const oneLine = (message: string): string =>
  message.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "").join(" ")

export interface Options {
  /** The environment the command reads its settings from (`TALLY_*`); the process' by default. */
  readonly env?: Readonly<Record<string, string>> | undefined
}

export const run = async (argv: ReadonlyArray<string>, options: Options = {}): Promise<Outcome> => {
  const [name, ...args] = argv
  const load = name === undefined ? undefined : Object.hasOwn(commands, name) ? commands[name] : undefined
  const program: Effect.Effect<unknown, CliError> = name === undefined || name === "help" || name === "--help"
    ? Effect.succeed(await help())
    : load === undefined
    ? Effect.fail(invalidInput(`unknown command "${name}"; commands: ${Object.keys(commands).join(", ")}`))
    : (await load()).run(args)
  const exit = await Effect.runPromiseExit(
    options.env === undefined ? program : Effect.provideService(program, ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: options.env }))
  )
  if (Exit.isSuccess(exit) && exit.value instanceof WithExitCode) {
    return { exitCode: exit.value.exitCode, stdout: `${JSON.stringify(exit.value.value, null, 2)}\n`, stderr: `tally: ${oneLine(exit.value.stderr)}\n` }
  }
  if (Exit.isSuccess(exit)) return { exitCode: ExitCode.ok, stdout: `${JSON.stringify(exit.value, null, 2)}\n`, stderr: "" }
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") return { exitCode: failure.value.exitCode, stdout: "", stderr: `tally: ${oneLine(failure.value.message)}\n` }
  return { exitCode: ExitCode.unexpected, stdout: "", stderr: `tally: unexpected error: ${Cause.pretty(exit.cause).split("\n")[0]}\n` }
}
