/** Flag parsing for CLI commands, on node:util's parseArgs, with errors in the CLI's one-line form. */
import { parseArgs, type ParseArgsConfig } from "node:util"
import { Effect } from "effect"
import { invalidInput, type CliError } from "./CliError.ts"

type Options = NonNullable<ParseArgsConfig["options"]>

export const parse = <const O extends Options>(command: string, args: ReadonlyArray<string>, options: O) =>
  Effect.try({
    try: () => parseArgs({ args: [...args], options, allowPositionals: true, strict: true }),
    catch: (cause) => invalidInput(`${command}: ${(cause as Error).message}`)
  })

export const required = (command: string, name: string, value: string | undefined): Effect.Effect<string, CliError> =>
  value === undefined || value === "" ? Effect.fail(invalidInput(`${command}: --${name} is required`)) : Effect.succeed(value)

export const nonNegativeInt = (command: string, name: string, value: string | undefined): Effect.Effect<number | undefined, CliError> => {
  if (value === undefined) return Effect.succeed(undefined)
  const n = Number(value)
  return /^\d+$/.test(value) && Number.isSafeInteger(n)
    ? Effect.succeed(n)
    : Effect.fail(invalidInput(`${command}: --${name} must be a non-negative integer, got "${value}"`))
}
